"""Action use cases: request an execution, claim it to run, record how it ended; guard rails and breakers.

Every function takes the caller's `Session` and `now`. Nothing here talks to the network or spawns a
process: `workers.py` runs the plan between a `claim` transaction and a `finish` transaction.

A request made with the action catalog (`actions=`) is resolved at once: unknown actions are 404, wrong
parameters 422, and approval-mode actions wait for approval. A request made without it (automation called
from the signals pipeline or an engine job, which have no configuration at hand) is queued as asked, and
the worker resolves it when it claims it, turning it into a pending approval if the actions file says so.
A built-in declared approval-only (`@builtin(..., mode=Mode.APPROVAL)`) waits for approval from the request
on, and `claim` re-checks it: no real run of an approval-mode action starts without an approver.

A request that queues work marks its session (`WAKE_KEY`); the action workers of this process are woken
when that transaction commits (`workers.py`), so an automatic rollback starts within milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from missionctl.actions import approvals, templates
from missionctl.actions.approvals import audit, end
from missionctl.actions.builtin import VARIABLES, requires_approval
from missionctl.actions.catalog import ActionCatalog, ActionSpec
from missionctl.actions.models import ActionBreaker, ActionExecution
from missionctl.actions.rules import RUNNABLE, BreakerState, Kind, Mode, Status, after_result, breaker_open
from missionctl.actions.rules import concurrency_key as default_concurrency_key
from missionctl.actions.rules import once_key as make_once_key
from missionctl.errors import Conflict, MissionControlError, NotFound
from missionctl.incidents.lifecycle import Status as IncidentStatus
from missionctl.incidents.models import Incident, TimelineEvent

UNRESOLVED = "unresolved"
STALE_GRACE = timedelta(minutes=5)
BUILTIN_MAX_RUNTIME = timedelta(hours=1)
WAKE_KEY = "missionctl.actions.wake"  # session.info: an execution was queued; wake the workers after commit


@dataclass(frozen=True)
class Claim:
    """An execution taken to run: what to run, with which parameters and template variables."""

    execution_id: int
    spec: ActionSpec
    params: BaseModel
    variables: dict[str, Any]
    service: str | None
    incident_id: int | None
    dry_run: bool
    triggered_by: str


def request(
    session: Session,
    *,
    action: str,
    incident_id: int | None,
    service: str | None,
    params: Mapping[str, Any],
    requested_by: str,
    triggered_by: str,
    now: datetime,
    actions: ActionCatalog | None = None,
    mode: Mode = Mode.MANUAL,
    dry_run: bool = False,
    once: bool | None = None,
    step_position: int | None = None,
    runbook_id: str | None = None,
) -> ActionExecution:
    """Record a request to run an action; guard rails may answer it at once with status `blocked`."""
    incident = _incident(session, incident_id) if incident_id is not None else None
    if incident is not None:
        service = service or incident.service
        runbook_id = runbook_id or incident.runbook_id
        if incident.status == IncidentStatus.CLOSED and not dry_run:
            raise Conflict(f"incident {incident.id} is closed", code="incident_closed")
    spec = actions.get(action, service) if actions is not None else None
    clean = dict(spec.validate_params(params).model_dump(mode="json")) if spec is not None else dict(params)
    row = ActionExecution(
        incident_id=incident_id,
        service=service,
        runbook_id=runbook_id,
        step_position=step_position,
        action=action,
        kind=spec.kind if spec is not None else UNRESOLVED,
        mode=_mode(mode, spec, action),
        status=Status.QUEUED,
        dry_run=dry_run,
        requested_by=requested_by,
        triggered_by=triggered_by,
        params=clean,
        inputs={"params": clean},
        output={},
        requested_at=now,
        concurrency_key=default_concurrency_key(service, action),
    )
    session.add(row)
    session.flush()
    if not dry_run:
        _guard_request(session, row, spec, actions, once=once, now=now)
    if row.status == Status.QUEUED:
        session.info[WAKE_KEY] = True
    return row


def _mode(asked: Mode, spec: ActionSpec | None, action: str) -> Mode:
    if spec is not None and spec.mode is Mode.APPROVAL:
        return Mode.APPROVAL
    if spec is None and requires_approval(action):  # no catalog at hand: the built-in's own declaration
        return Mode.APPROVAL
    return asked


def _incident(session: Session, incident_id: int) -> Incident:
    # Locked on PostgreSQL: requests for one incident serialise, so "once" is decided one at a time.
    found = session.scalars(select(Incident).where(Incident.id == incident_id).with_for_update()).one_or_none()
    if found is None:
        raise NotFound(f"no incident {incident_id}", code="incident_not_found")
    return found


def _guard_request(
    session: Session,
    row: ActionExecution,
    spec: ActionSpec | None,
    actions: ActionCatalog | None,
    *,
    once: bool | None,
    now: datetime,
) -> None:
    state = breaker_state(session, action=row.action)
    if breaker_open(state, now):
        return block(session, row, now, "circuit_open", _breaker_message(row.action, state))
    wanted = once if once is not None else (spec.once if spec is not None and spec.once is not None else None)
    if (wanted if wanted is not None else row.mode == Mode.AUTOMATIC) and not _take_once(session, row, now):
        return None
    if row.mode == Mode.APPROVAL:
        return _await_approval(session, row, spec, now)
    audit(session, row, now, "action_requested", f"{row.action} requested by {row.requested_by} ({row.mode})")
    return None


def _take_once(session: Session, row: ActionExecution, now: datetime) -> bool:
    if row.incident_id is None:
        return True
    key = make_once_key(row.incident_id, _reopened(session, row.incident_id), row.action)
    holder = session.scalars(select(ActionExecution).where(ActionExecution.once_key == key)).first()
    if holder is not None:
        message = (
            f"{row.action} already ran for incident {row.incident_id} (execution {holder.id}, {holder.status}); "
            "it runs once until the incident is resolved"
        )
        block(session, row, now, "once_per_incident", message)
        return False
    row.once_key = key
    return True


def _reopened(session: Session, incident_id: int) -> int:
    """How often the incident was reopened: each life of an incident gets its own "once"."""
    query = select(func.count(TimelineEvent.id)).where(
        TimelineEvent.incident_id == incident_id,
        TimelineEvent.kind == "status_changed",
        TimelineEvent.summary.like("Reopened%"),
    )
    return int(session.scalar(query) or 0)


def _await_approval(session: Session, row: ActionExecution, spec: ActionSpec | None, now: datetime) -> None:
    minutes = spec.approval_minutes if spec is not None else 15
    row.status = Status.PENDING_APPROVAL
    row.expires_at = now + timedelta(minutes=minutes)
    session.flush()
    approvals.schedule_expiry(session, execution=row, now=now)
    summary = f"{row.action} requested by {row.requested_by}: waiting for another responder's approval"
    audit(session, row, now, "action_requested", f"{summary} until {row.expires_at:%H:%M} UTC")


def block(session: Session, row: ActionExecution, now: datetime, reason: str, message: str) -> None:
    """Refuse an execution on a guard rail, on the record: status `blocked`, the reason, a timeline entry."""
    row.error = message
    row.output = {"reason": reason}
    end(row, Status.BLOCKED, now)
    audit(session, row, now, "action_blocked", f"{row.action} not run: {message}")


def runnable_ids(session: Session, *, limit: int = 100) -> list[int]:
    """Executions waiting for a worker, oldest first."""
    query = (
        select(ActionExecution.id)
        .where(ActionExecution.status.in_([s.value for s in RUNNABLE]))
        .order_by(ActionExecution.requested_at, ActionExecution.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def claim(session: Session, *, execution_id: int, actions: ActionCatalog, now: datetime) -> Claim | None:
    """Take a runnable execution to run (status `running`, holding its concurrency key); None if not runnable."""
    row = session.get(ActionExecution, execution_id, with_for_update=True)
    if row is None or row.status not in RUNNABLE:
        return None
    spec = actions.resolve(row.action, row.service)
    if spec is None:
        block(session, row, now, "action_not_found", f"no action {row.action!r}: not built in, not configured")
        return None
    try:
        params = spec.validate_params(row.params)
    except MissionControlError as exc:
        block(session, row, now, "invalid_params", exc.message)
        return None
    if row.kind == UNRESOLVED:
        row.kind = spec.kind
        if spec.once is False:
            row.once_key = None
    if _late_approval(session, row, spec, now):
        return None
    # A built-in fills no templates: registered roots (database reads) only for a concurrency-key template.
    roots = spec.kind is not Kind.BUILTIN or spec.concurrency_key is not None
    variables = template_variables(session, row, params, roots=roots)
    if not row.dry_run and not _guard_run(session, row, spec, actions, variables, now):
        return None
    row.status = Status.RUNNING
    row.started_at = now
    return Claim(row.id, spec, params, variables, row.service, row.incident_id, row.dry_run, row.triggered_by)


def _late_approval(session: Session, row: ActionExecution, spec: ActionSpec, now: datetime) -> bool:
    """A queued request of an action now under approval (actions file, built-in) waits for it (True: not running)."""
    if spec.mode is not Mode.APPROVAL or row.dry_run:
        return False
    if row.status == Status.APPROVED and row.approved_by not in (None, row.requested_by):
        return False
    row.mode = Mode.APPROVAL
    _await_approval(session, row, spec, now)
    return True


def _guard_run(
    session: Session,
    row: ActionExecution,
    spec: ActionSpec,
    actions: ActionCatalog,
    variables: Mapping[str, Any],
    now: datetime,
) -> bool:
    state = breaker_state(session, action=row.action)
    if breaker_open(state, now):
        block(session, row, now, "circuit_open", _breaker_message(row.action, state))
        return False
    key = _concurrency_key(spec, row, variables)
    row.concurrency_key = key
    holder = session.scalars(select(ActionExecution).where(ActionExecution.lock_key == key)).first()
    if holder is not None and holder.id != row.id:
        if _stale(holder, spec, now):
            holder.error = "abandoned: its worker stopped before recording a result"
            end(holder, Status.FAILED, now)
            session.flush()
        else:
            message = f"execution {holder.id} ({holder.action}) holds concurrency key {key!r} and is still running"
            block(session, row, now, "concurrency", message)
            return False
    row.lock_key = key
    session.flush()
    return True


def _concurrency_key(spec: ActionSpec, row: ActionExecution, variables: Mapping[str, Any]) -> str:
    if spec.concurrency_key is None:
        return default_concurrency_key(row.service, row.action)
    try:
        rendered = templates.render(spec.concurrency_key, variables, _no_secrets)
    except templates.TemplateError:
        return default_concurrency_key(row.service, row.action)
    return templates.as_text(rendered.value)


def _no_secrets(name: str) -> str:
    raise KeyError(name)


def _stale(holder: ActionExecution, spec: ActionSpec, now: datetime) -> bool:
    if holder.started_at is None:
        return True
    limit = BUILTIN_MAX_RUNTIME
    for block_ in (spec.http, spec.command):
        if block_ is not None:
            limit = timedelta(seconds=block_.timeout_seconds)
    return now > holder.started_at + limit + STALE_GRACE


def template_variables(
    session: Session, row: ActionExecution, params: BaseModel, *, roots: bool = True
) -> dict[str, Any]:
    """What `${...}` placeholders can name: service, action, trigger, incident, params, and registered roots."""
    values: dict[str, Any] = {
        "service": row.service or "",
        "action": row.action,
        "triggered_by": row.triggered_by,
        "params": params.model_dump(mode="json"),
    }
    if row.incident_id is not None:
        incident = session.get_one(Incident, row.incident_id)
        values["incident"] = {
            "id": incident.id,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status,
            "runbook_id": incident.runbook_id,
        }
    for root, provider in VARIABLES.items() if roots else ():
        values[root] = dict(provider(session, row.service, row.incident_id))
    return values


def finish(
    session: Session,
    *,
    execution_id: int,
    status: Status,
    summary: str,
    inputs: Mapping[str, Any],
    output: Mapping[str, Any],
    error: str | None,
    duration_ms: int,
    actions: ActionCatalog,
    now: datetime,
) -> ActionExecution:
    """Record how an execution ended (masked inputs and output), update the breaker, write the timeline entry."""
    row = approvals.get_execution(session, execution_id=execution_id, for_update=True)
    row.inputs = dict(inputs)
    row.output = dict(output)
    row.summary = summary
    row.error = error
    row.duration_ms = duration_ms
    end(row, status, now)
    if not row.dry_run and status in (Status.SUCCEEDED, Status.FAILED):
        _record_breaker(session, row, actions, now)
    kind = "action_dry_run" if row.dry_run else "action_executed"
    prefix = "Dry run of " if row.dry_run else ""
    audit(session, row, now, kind, f"{prefix}{row.action} {status}: {summary}")
    return row


def breaker_state(session: Session, *, action: str) -> BreakerState:
    row = session.get(ActionBreaker, action)
    return BreakerState(row.failures, row.open_until) if row is not None else BreakerState()


def _record_breaker(session: Session, row: ActionExecution, actions: ActionCatalog, now: datetime) -> None:
    breaker = session.get(ActionBreaker, row.action, with_for_update=True)
    if breaker is None:
        breaker = ActionBreaker(action=row.action, failures=0, updated_at=now)
        session.add(breaker)
    before = BreakerState(breaker.failures, breaker.open_until)
    state = after_result(
        before,
        succeeded=row.status == Status.SUCCEEDED,
        now=now,
        threshold=actions.breaker_threshold,
        cooldown=actions.breaker_cooldown,
    )
    breaker.failures, breaker.open_until, breaker.updated_at = state.failures, state.open_until, now
    if row.status == Status.FAILED:
        breaker.last_error = row.error
    if breaker_open(state, now) and not breaker_open(before, now):
        audit(session, row, now, "action_circuit_open", _breaker_message(row.action, state))


def _breaker_message(action: str, state: BreakerState) -> str:
    until = f"{state.open_until:%Y-%m-%d %H:%M} UTC" if state.open_until else "an admin resets it"
    return f"circuit open for {action} after {state.failures} failures in a row; refused until {until}"


def reset_breaker(session: Session, *, action: str, now: datetime) -> ActionBreaker:
    """Close an action's circuit breaker (admin)."""
    breaker = session.get(ActionBreaker, action, with_for_update=True)
    if breaker is None:
        breaker = ActionBreaker(action=action, failures=0, updated_at=now)
        session.add(breaker)
    breaker.failures, breaker.open_until, breaker.updated_at = 0, None, now
    session.flush()
    return breaker


def list_breakers(session: Session) -> Sequence[ActionBreaker]:
    return session.scalars(select(ActionBreaker).order_by(ActionBreaker.action)).all()


def for_incident(session: Session, *, incident_id: int) -> Sequence[ActionExecution]:
    """An incident's executions, oldest first."""
    _incident_exists(session, incident_id)
    query = select(ActionExecution).where(ActionExecution.incident_id == incident_id).order_by(ActionExecution.id)
    return session.scalars(query).all()


def _incident_exists(session: Session, incident_id: int) -> None:
    if session.get(Incident, incident_id) is None:
        raise NotFound(f"no incident {incident_id}", code="incident_not_found")
