"""Apply routed alerts to the database: deduplicate, group into incidents, open them, record recoveries.

One call handles a whole batch (the ingest group commit hands in every request that arrived while the
previous batch was being written). Events for the same alert are merged in memory first, so a storm of
repeats costs one row update per alert per batch, not one per delivery; state changes are written
with one statement per kind; the incident work (open, join, acknowledge, recover) happens once per
incident per batch.

An alert's life: the first TRIGGER *fires* it (joins the open incident of its service and runbook, or
opens one); later TRIGGERs are repeats (counted, latest labels kept, nothing else). ACKNOWLEDGE (sources
that have it, like PagerDuty) acknowledges its incident. RESOLVE marks it recovered on the incident's
timeline; when the last firing alert of an incident recovers the timeline says so, and the incident
stays open: resolving is the commander's decision. A TRIGGER after a RESOLVE fires the alert again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Dialect, Table, bindparam, select
from sqlalchemy.orm import Session

from missionctl.actions import automation
from missionctl.actions.models import ActionExecution
from missionctl.catalog import ownership
from missionctl.errors import Conflict, MissionControlError
from missionctl.incidents import lifecycle
from missionctl.incidents import service as incidents
from missionctl.incidents.lifecycle import OPEN_STATUSES
from missionctl.incidents.models import Incident, RunbookVersion
from missionctl.incidents.timeline import SYSTEM_ACTOR, note
from missionctl.releases import hooks as releases
from missionctl.runbooks.loader import RunbookRegistry
from missionctl.runbooks.schemas import Severity
from missionctl.signals.events import SignalAction, SignalEvent
from missionctl.signals.models import SignalAlert
from missionctl.signals.routing import Decision

log = logging.getLogger(__name__)

FIRING = "firing"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"

UNASSIGNED = "unassigned"
TIMELINE_ALERTS = 20  # alerts listed by name in one timeline entry; the rest are counted
_KEY_CHUNK = 400  # (origin, dedup_key) pairs per lookup statement
_SEVERITY_ORDER = {s: i for i, s in enumerate(Severity)}  # SEV1 first

_alerts = cast(Table, SignalAlert.__table__)


@dataclass(frozen=True)
class RoutedEvent:
    """One inbound event with the routing decision made for it.

    `origin` names who may speak for the alert: `integration:<id>` or `detector:<name>`.
    """

    origin: str
    event: SignalEvent
    decision: Decision | None  # acknowledge and resolve events need none: they act on a known alert
    actor: str = "signal"


@dataclass
class _Alert:
    """An alert's row as this batch changes it."""

    id: int | None
    origin: str
    dedup_key: str
    status: str | None  # None: not stored yet
    incident_id: int | None
    received_count: int
    values: dict[str, Any] = field(default_factory=dict)
    fired: RoutedEvent | None = None  # the event that fired it in this batch
    acknowledged: RoutedEvent | None = None
    recovered: RoutedEvent | None = None
    dirty: bool = False


@dataclass
class Applied:
    """What a batch did, for answers and metrics."""

    fired: int = 0
    repeats: int = 0
    recovered: int = 0
    acknowledged: int = 0
    ignored: int = 0
    opened: list[int] = field(default_factory=list)
    incidents: dict[tuple[str, str], int] = field(default_factory=dict)  # (origin, dedup_key) → incident


def apply(session: Session, items: Sequence[RoutedEvent], *, runbooks: RunbookRegistry, now: datetime) -> Applied:
    """Record `items` (in arrival order) in the caller's transaction."""
    result = Applied()
    if not items:
        return result
    alerts = _load(session, {(i.origin, i.event.dedup_key) for i in items})
    for item in items:
        key = (item.origin, item.event.dedup_key)
        alert = alerts.get(key)
        if alert is None:
            alert = alerts[key] = _Alert(None, item.origin, item.event.dedup_key, None, None, 0)
        _step(alert, item, now, result)
    _attach_fired(session, [a for a in alerts.values() if a.fired], runbooks, now, result)
    _write(session, alerts.values(), now)
    _acknowledge(session, [a for a in alerts.values() if a.acknowledged and a.incident_id], now, result)
    _recover(session, [a for a in alerts.values() if a.recovered and a.incident_id], now)
    result.incidents = {(a.origin, a.dedup_key): a.incident_id for a in alerts.values() if a.incident_id}
    return result


def _load(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], _Alert]:
    """The stored alerts among `keys`: `origin = ? AND dedup_key IN (...)`, which the unique index answers.

    Straight to the driver: SQLAlchemy's statement building and result rows cost more than the lookup itself
    (measured: 0.55 ms of a 32-alert batch through Core, for a query SQLite answers in tens of microseconds).
    """
    by_origin: dict[str, list[str]] = {}
    for origin, dedup_key in keys:
        by_origin.setdefault(origin, []).append(dedup_key)
    found: dict[tuple[str, str], _Alert] = {}
    if session.get_bind().dialect.name == "postgresql":
        _load_postgresql(session, by_origin, found)
        return found
    driver = session.connection().connection.driver_connection
    assert driver is not None
    for origin, dedup_keys in sorted(by_origin.items()):
        dedup_keys.sort()
        for start in range(0, len(dedup_keys), _KEY_CHUNK):
            chunk = dedup_keys[start : start + _KEY_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            sql = f"{_LOOKUP} WHERE origin = ? AND dedup_key IN ({marks})"
            for row in driver.execute(sql, (origin, *chunk)).fetchall():
                found[(row[1], row[2])] = _Alert(row[0], row[1], row[2], row[3], row[4], row[5])
    return found


_LOOKUP = "SELECT id, origin, dedup_key, status, incident_id, received_count FROM signal_alerts"
_PG_LOOKUP = f"{_LOOKUP} WHERE origin = %s AND dedup_key = ANY(%s)"


def _load_postgresql(session: Session, by_origin: dict[str, list[str]], found: dict[tuple[str, str], _Alert]) -> None:
    """One `= ANY(array)` lookup per origin, never server-prepared.

    psycopg prepares a statement after a few runs, and PostgreSQL's generic plan for a long key list is a
    sequential scan: measured, 100-alert batches spent 70% of their write in this lookup until it was planned
    with its actual keys each time (then an index scan on (origin, dedup_key): 7x less).
    """
    driver = session.connection().connection.driver_connection
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        for origin, dedup_keys in sorted(by_origin.items()):
            cursor.execute(_PG_LOOKUP, (origin, dedup_keys), prepare=False)
            for row in cursor.fetchall():
                found[(row[1], row[2])] = _Alert(row[0], row[1], row[2], row[3], row[4], row[5])


def _step(alert: _Alert, item: RoutedEvent, now: datetime, result: Applied) -> None:
    """Advance one alert by one event, in memory."""
    event = item.event
    action = event.action
    if action is SignalAction.TRIGGER:
        if alert.status in (None, RESOLVED):
            alert.status, alert.fired, alert.recovered = FIRING, item, None
            alert.values.update(fired_at=now, resolved_at=None, **_routing(item))
            if alert.id is not None:
                alert.incident_id = None  # fired again: it joins whatever incident is open now
            result.fired += 1
        else:
            result.repeats += 1
        alert.values.update(_content(event, now))
        alert.received_count += 1
        alert.dirty = True
    elif alert.status is None or alert.status == RESOLVED:
        result.ignored += 1  # acknowledging or resolving an alert we never saw firing (or already resolved)
    elif action is SignalAction.ACKNOWLEDGE:
        if alert.status == FIRING:
            alert.status, alert.acknowledged = ACKNOWLEDGED, item
            result.acknowledged += 1
        alert.received_count += 1
        alert.values["last_seen_at"] = now
        alert.dirty = True
    else:  # RESOLVE
        alert.status, alert.recovered, alert.acknowledged = RESOLVED, item, None
        alert.received_count += 1
        alert.values.update(resolved_at=event.ended_at or now, last_seen_at=now)
        alert.dirty = True
        result.recovered += 1


def _routing(item: RoutedEvent) -> dict[str, Any]:
    d = item.decision
    assert d is not None, "a trigger is routed before it is applied"
    return {
        "source": item.event.source,
        "service_id": d.service,
        "runbook_id": d.runbook_id,
        "severity": d.severity,
        "rule": d.rule[:200],
    }


def _content(event: SignalEvent, now: datetime) -> dict[str, Any]:
    return {
        "summary": event.summary[:1024],
        "labels": event.labels,
        "annotations": event.annotations,
        "links": event.links,
        "starts_at": event.started_at,
        "last_seen_at": now,
    }


# ---------------------------------------------------------------------------------------------------------------------
# Incidents
# ---------------------------------------------------------------------------------------------------------------------


def _attach_fired(
    session: Session, fired: list[_Alert], runbooks: RunbookRegistry, now: datetime, result: Applied
) -> None:
    """Join each newly firing alert to its group's open incident, opening one where there is none."""
    groups: dict[tuple[str, str], list[_Alert]] = {}
    for alert in fired:
        assert alert.fired is not None and alert.fired.decision is not None
        decision = alert.fired.decision
        groups.setdefault((decision.service, decision.runbook_id), []).append(alert)
    for (service_id, runbook_id), members in sorted(groups.items()):
        incident: Incident | None = None
        incident_id = _group_incident(session, service_id, runbook_id)
        opened = False
        if incident_id is None:
            incident_id = _open_incident(session, service_id, runbook_id)
            if incident_id is None:
                incident = _declare(session, members, runbooks, now)
                incident_id = incident.id
                result.opened.append(incident_id)
                opened = True
            _bind_group(session, service_id, runbook_id, incident_id)
        _note_fired(session, incident or incident_id, members, now, opened=opened)
        for alert in members:
            alert.incident_id = incident_id
            alert.values["incident_id"] = incident_id
        events = [a.fired for a in members if a.fired]
        if releases.cares_about(events):
            incident = incident or session.get_one(Incident, incident_id)
            releases.on_signal_fired(session, incident=incident, fired=events, now=now)


_OPEN = tuple(str(s) for s in sorted(OPEN_STATUSES))
assert len(_OPEN) == 3, "one placeholder per open status"
# Straight to the driver (placeholders `?`, `%s` on PostgreSQL): these run once per group per batch, and building
# and compiling SQLAlchemy statements for them cost several times the queries themselves.
_GROUP_INCIDENT = (
    "SELECT g.incident_id FROM signal_groups g JOIN incidents i ON i.id = g.incident_id "
    "WHERE g.service_id = ? AND g.runbook_id = ? AND i.status IN (?, ?, ?)"
)
_OPEN_INCIDENT = (
    "SELECT id FROM incidents WHERE service = ? AND runbook_id = ? AND status IN (?, ?, ?) "
    "ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END, declared_at DESC, id DESC LIMIT 1"
)
_CREATE_GROUP = "INSERT INTO signal_groups (service_id, runbook_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
_LOCK_GROUP = "SELECT incident_id FROM signal_groups WHERE service_id = ? AND runbook_id = ? FOR UPDATE"
_BIND_GROUP = (
    "INSERT INTO signal_groups (service_id, runbook_id, incident_id) VALUES (?, ?, ?) "
    "ON CONFLICT (service_id, runbook_id) DO UPDATE SET incident_id = excluded.incident_id"
)


def _query(session: Session, sql: str, params: tuple[Any, ...], *, rows: bool = True) -> tuple[Any, ...] | None:
    """The first row (or None) of `sql`, run by the driver in the session's transaction.

    No autoflush happens first: callers only touch rows this module writes itself, and incidents already flushed.
    """
    driver = session.connection().connection.driver_connection
    assert driver is not None
    if session.get_bind().dialect.name == "postgresql":
        sql = sql.replace("?", "%s")
    cursor = driver.execute(sql, params)
    return cursor.fetchone() if rows else None


def _group_incident(session: Session, service_id: str, runbook_id: str) -> int | None:
    """The group's incident if it is still open: what nearly every batch of a storm joins, in one driver query.

    Joining needs no lock (nothing is opened); when this finds nothing, `_open_incident` decides under the lock.
    """
    row = _query(session, _GROUP_INCIDENT, (service_id, runbook_id, *_OPEN))
    return int(row[0]) if row is not None else None


def _open_incident(session: Session, service_id: str, runbook_id: str) -> int | None:
    """The open incident alerts for this service and runbook join when the group has none: one a person declared.

    On PostgreSQL the group row is locked first, so two engines never both open an incident for one group (on
    SQLite the whole batch holds the write lock, and `_group_incident` has already seen the group's own incident
    is not open). The group's own incident comes first if it is open by now.
    """
    preferred = None
    if session.get_bind().dialect.name == "postgresql":
        _query(session, _CREATE_GROUP, (service_id, runbook_id), rows=False)
        locked = _query(session, _LOCK_GROUP, (service_id, runbook_id))
        preferred = locked[0] if locked is not None else None
    row = _query(session, _OPEN_INCIDENT, (service_id, runbook_id, *_OPEN, preferred))
    return int(row[0]) if row is not None else None


def _bind_group(session: Session, service_id: str, runbook_id: str, incident_id: int) -> None:
    """Point the group at the incident its alerts now join (an upsert: on SQLite the row may not exist yet)."""
    _query(session, _BIND_GROUP, (service_id, runbook_id, incident_id), rows=False)


def _declare(session: Session, members: list[_Alert], runbooks: RunbookRegistry, now: datetime) -> Incident:
    first = members[0].fired
    assert first is not None and first.decision is not None
    decision = first.decision
    severity = min(
        (Severity(a.fired.decision.severity) for a in members if a.fired and a.fired.decision),
        key=lambda s: _SEVERITY_ORDER[s],
    )
    title = first.event.summary if len(members) == 1 else f"{first.event.summary} (+{len(members) - 1} more alerts)"
    return incidents.declare(
        session,
        runbook=runbooks.get(decision.runbook_id),
        service=decision.service,
        title=title[:300],
        severity=severity,
        commander=_commander(session, decision.service, now),
        actor=first.actor,
        now=now,
    )


def _commander(session: Session, service_id: str, now: datetime) -> str:
    """Who commands an incident no person declared: the first person the service's policy pages first."""
    policy = ownership.policy_for_service(session, service_id)
    if policy is None:
        return UNASSIGNED
    for target in policy.levels[0].targets:
        people = ownership.resolve_target(
            session, target=target.model_dump(), service_id=service_id, incident_roles={}, at=now
        ).people
        if people:
            return people[0]
    return UNASSIGNED


def _describe(alerts: Iterable[_Alert], pick: str) -> list[dict[str, Any]]:
    described = []
    for alert in alerts:
        item: RoutedEvent | None = getattr(alert, pick)
        assert item is not None
        described.append(
            {
                "dedup_key": alert.dedup_key,
                "source": item.event.source,
                "summary": item.event.summary[:300],
                "labels": item.event.labels,
                "rule": item.decision.rule if item.decision else None,
            }
        )
    return described


def _summary(verb: str, alerts: list[_Alert], pick: str) -> str:
    item: RoutedEvent | None = getattr(alerts[0], pick)
    assert item is not None
    if len(alerts) == 1:
        return f"{verb} ({item.event.source}): {item.event.summary}"
    return f"{len(alerts)} alerts {verb.lower()}, first: {item.event.summary}"


def _note_fired(
    session: Session, incident: Incident | int, members: list[_Alert], now: datetime, *, opened: bool
) -> None:
    shown = members[:TIMELINE_ALERTS]
    note(
        session,
        incident,
        now,
        "signal_fired",
        _summary("Alert firing", members, "fired") + (" — opened this incident" if opened else ""),
        actor=members[0].fired.actor if members[0].fired else SYSTEM_ACTOR,
        count=len(members),
        alerts=_describe(shown, "fired"),
        opened=opened,
    )


DEAD_LETTER_TRIGGER = "signal:dead_letter"


def malformed_events(session: Session, letters: dict[str, list[int]], *, now: datetime) -> None:
    """Malformed events from integrations of these services were just dead-lettered (service → dead letter ids).

    That is the `malformed_events: dead_letter` fact runbook automation can name (RB-003: adaptive backoff and
    dead-letter routing). Each open incident of the service is asked once: after that the dead letters are
    on their list, and asking again per batch during a storm of bad events would only record refusals.
    """
    for service_id, ids in sorted(letters.items()):
        query = select(Incident).where(Incident.service == service_id, Incident.status.in_(_OPEN))
        for incident in session.scalars(query.order_by(Incident.id)).all():
            asked = select(ActionExecution.id).where(
                ActionExecution.incident_id == incident.id,
                ActionExecution.triggered_by.startswith(DEAD_LETTER_TRIGGER),
            )
            if session.scalar(asked.limit(1)) is not None:
                continue
            facts = {
                "malformed_events": "dead_letter",
                "dead_letters": len(ids),
                "signal": {"source": "dead_letter", "service": service_id},
            }
            triggered_by = f"{DEAD_LETTER_TRIGGER}:{ids[0]}"
            try:  # a refused request must never cost the dead letters themselves (the sender would retry forever)
                with session.begin_nested():
                    automation.on_signal(session, incident=incident, facts=facts, triggered_by=triggered_by, now=now)
            except MissionControlError as exc:
                log.warning("incident %s: malformed events did not start its automation: %s", incident.id, exc)


def _acknowledge(session: Session, acked: list[_Alert], now: datetime, result: Applied) -> None:
    by_incident: dict[int, list[_Alert]] = {}
    for alert in acked:
        assert alert.incident_id is not None
        by_incident.setdefault(alert.incident_id, []).append(alert)
    for incident_id, members in sorted(by_incident.items()):
        incident = session.get(Incident, incident_id)
        if incident is None or not lifecycle.is_open(lifecycle.Status(incident.status)):
            continue
        item = members[0].acknowledged
        assert item is not None
        note(
            session,
            incident,
            now,
            "signal_acknowledged",
            _summary("Alert acknowledged at the source", members, "acknowledged"),
            actor=item.actor,
            count=len(members),
            alerts=_describe(members[:TIMELINE_ALERTS], "acknowledged"),
        )
        if incident.acknowledged_at is None:
            incidents.acknowledge(session, incident_id=incident_id, actor=item.actor, now=now)


def _recover(session: Session, recovered: list[_Alert], now: datetime) -> None:
    by_incident: dict[int, list[_Alert]] = {}
    for alert in recovered:
        assert alert.incident_id is not None
        by_incident.setdefault(alert.incident_id, []).append(alert)
    c = _alerts.c
    for incident_id, members in sorted(by_incident.items()):
        incident = session.get(Incident, incident_id)
        if incident is None:
            continue
        still_firing = session.scalar(
            select(c.id).where(c.incident_id == incident_id, c.status.in_((FIRING, ACKNOWLEDGED))).limit(1)
        )
        note(
            session,
            incident,
            now,
            "signal_recovered",
            _summary("Signal recovered", members, "recovered")
            + ("" if still_firing else " — no alerts are firing for this incident now"),
            actor=members[0].recovered.actor if members[0].recovered else SYSTEM_ACTOR,
            count=len(members),
            alerts=_describe(members[:TIMELINE_ALERTS], "recovered"),
            all_recovered=still_firing is None,
        )
        if still_firing is None and _resolves_on_recovery(session, incident):
            _resolve_on_recovery(session, incident, members, now)


def _resolves_on_recovery(session: Session, incident: Incident) -> bool:
    """What the runbook version the incident was opened with says (editing the runbook later changes nothing)."""
    if not lifecycle.is_open(lifecycle.Status(incident.status)):
        return False
    version = session.get(RunbookVersion, incident.runbook_hash)
    trigger = version.content.get("trigger", {}) if version is not None else {}
    return bool(trigger.get("resolve_on_recovery", False))


def _resolve_on_recovery(session: Session, incident: Incident, members: list[_Alert], now: datetime) -> None:
    item = members[0].recovered
    assert item is not None
    evidence = f"Every alert of this incident recovered ({item.event.source}: {item.event.summary})"
    try:
        incidents.resolve(
            session, incident_id=incident.id, confirmed_by=item.actor, evidence=evidence, actor=item.actor, now=now
        )
    except Conflict as refused:
        note(
            session,
            incident,
            now,
            "auto_resolve_refused",
            f"Not resolved automatically: {refused.message}",
            code=refused.code,
        )


# ---------------------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------------------


def _write(session: Session, alerts: Iterable[_Alert], now: datetime) -> None:
    """One executemany INSERT for new alerts and one executemany UPDATE per set of changed columns.

    Statements go to the driver directly with values converted once by each column's own SQLAlchemy type:
    the ORM's per-row statement machinery costs more than the row itself in an alert storm.
    """
    inserts: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for alert in alerts:
        if not alert.dirty:
            continue
        values = {**alert.values, "status": alert.status, "received_count": alert.received_count}
        if alert.id is None:
            values.update(origin=alert.origin, dedup_key=alert.dedup_key, first_seen_at=now)
            inserts.setdefault(tuple(sorted(values)), []).append(values)
        else:
            values["id"] = alert.id
            updates.setdefault(tuple(sorted(values)), []).append(values)
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        _write_core(session, inserts, updates)
        return
    convert = _converters(connection.dialect)
    seen: dict[datetime, Any] = {}
    mark = "?"
    for columns, rows in inserts.items():
        # Column names come from this module's own dicts, never from input.
        sql = f"INSERT INTO {_alerts.name} ({', '.join(columns)}) VALUES ({', '.join(mark for _ in columns)})"  # noqa: S608
        connection.exec_driver_sql(sql, [_params(columns, row, convert, seen) for row in rows])
    for columns, rows in updates.items():
        changed = [c for c in columns if c != "id"]
        sql = f"UPDATE {_alerts.name} SET {', '.join(f'{c} = {mark}' for c in changed)} WHERE id = {mark}"  # noqa: S608
        connection.exec_driver_sql(sql, [_params((*changed, "id"), row, convert, seen) for row in rows])


def _write_core(
    session: Session,
    inserts: dict[tuple[str, ...], list[dict[str, Any]]],
    updates: dict[tuple[str, ...], list[dict[str, Any]]],
) -> None:
    """The same writes through SQLAlchemy Core (PostgreSQL: the driver needs SQLAlchemy's JSON adaptation)."""
    for rows in inserts.values():
        session.execute(_alerts.insert(), rows)
    c = _alerts.c
    for columns, rows in updates.items():
        changed = [name for name in columns if name != "id"]
        statement = _alerts.update().where(c.id == bindparam("b_id")).values({k: bindparam(f"b_{k}") for k in changed})
        session.execute(statement, [{f"b_{k}": v for k, v in row.items()} for row in rows])


_CONVERTERS: dict[str, dict[str, Callable[[Any], Any] | None]] = {}


def _converters(dialect: Dialect) -> dict[str, Callable[[Any], Any] | None]:
    """Each column's bind processor for this dialect (JSON encoding, UTC timestamps), looked up once."""
    found = _CONVERTERS.get(dialect.name)
    if found is None:
        found = _CONVERTERS[dialect.name] = {
            c.name: c.type.dialect_impl(dialect).bind_processor(dialect) for c in _alerts.columns
        }
    return found


def _params(
    columns: Sequence[str],
    row: dict[str, Any],
    convert: dict[str, Callable[[Any], Any] | None],
    seen: dict[datetime, Any],
) -> tuple[Any, ...]:
    params = []
    for column in columns:
        value = row[column]
        processor = convert[column]
        if processor is None or value is None:
            params.append(value)
        elif type(value) is datetime:  # a batch's timestamps repeat (`now`, a group's startsAt): convert once
            converted = seen.get(value)
            if converted is None:
                converted = seen[value] = processor(value)
            params.append(converted)
        else:
            params.append(processor(value))
    return tuple(params)
