"""Runbook automation: request automatic actions when their `when:` holds, and run scheduled ones periodically.

Both work from the runbook version the incident was declared with, inside the caller's transaction, and
only queue executions (no configuration is read here): the action workers resolve and run them.
Scheduled entries start when the incident is declared (`incidents.service.declare`) and run every
`schedule_minutes` while it is open, except built-ins whose package schedules them itself
(`own_schedule`, e.g. the analyzer's `pg.plan_diff`): those run once per period, never twice.

Facts passed to `on_signal` are whatever the caller knows, flat or nested, for example::

    {"readiness_probe_consecutive_failures": 3, "detector": "checkout.readiness", "signal": {"source": "detector"}}

See `rules.holds` for how `when:` is matched.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from missionctl.actions import service
from missionctl.actions.builtin import scheduled_by_its_package
from missionctl.actions.models import ActionExecution
from missionctl.actions.rules import Mode, holds
from missionctl.engine import jobs
from missionctl.incidents import versions
from missionctl.incidents.lifecycle import OPEN_STATUSES
from missionctl.incidents.models import Incident
from missionctl.runbooks.schemas import Automation, AutomationMode, Runbook

SCHEDULED = "actions.scheduled"


def _runbook(session: Session, incident: Incident) -> Runbook:
    return versions.parsed(session, incident.runbook_hash)


def rule_name(runbook_id: str, index: int) -> str:
    """How an automation entry is named as a requester: `rule:RB-001/automation/0`."""
    return f"rule:{runbook_id}/automation/{index}"


def on_signal(
    session: Session, *, incident: Incident, facts: Mapping[str, Any], triggered_by: str, now: datetime
) -> list[ActionExecution]:
    """Request every automatic (or approval) automation of the incident's runbook whose `when:` the facts meet.

    `triggered_by` names the signal, e.g. `signal:detector:checkout.readiness/<dedup key>`. Automatic requests
    run once per incident until it is resolved (a flapping signal is `blocked`, on the record). Also starts
    the runbook's scheduled automation for the incident if it is not running yet.
    """
    if incident.status not in OPEN_STATUSES:
        return []
    runbook = _runbook(session, incident)
    start_schedules(session, incident=incident, now=now)
    requested: list[ActionExecution] = []
    for index, entry in enumerate(runbook.automation):
        if entry.mode is AutomationMode.MANUAL or entry.schedule_minutes is not None or not holds(entry.when, facts):
            continue
        requested.append(_request(session, incident, runbook.id, index, entry, triggered_by, now, once=None))
    return requested


def _request(
    session: Session,
    incident: Incident,
    runbook_id: str,
    index: int,
    entry: Automation,
    triggered_by: str,
    now: datetime,
    *,
    once: bool | None,
) -> ActionExecution:
    return service.request(
        session,
        action=entry.action,
        incident_id=incident.id,
        service=incident.service,
        params=entry.params,
        requested_by=rule_name(runbook_id, index),
        triggered_by=triggered_by,
        now=now,
        mode=Mode(entry.mode),
        once=once,
        runbook_id=runbook_id,
    )


def start_schedules(session: Session, *, incident: Incident, now: datetime) -> None:
    """Start the incident's scheduled automation (`schedule_minutes`); a chain already running is left alone."""
    for index, entry in enumerate(_runbook(session, incident).automation):
        if _chained(entry):
            _enqueue(session, incident.id, index, now, now)


def _chained(entry: Automation) -> bool:
    """A scheduled automatic entry the framework runs (not one its built-in's package schedules itself)."""
    if entry.schedule_minutes is None or entry.mode is AutomationMode.MANUAL:
        return False
    return not scheduled_by_its_package(entry.action)


def _enqueue(session: Session, incident_id: int, index: int, run_at: datetime, now: datetime) -> None:
    # One dedup key per chain: the running job was deleted in this same transaction, so its successor fits.
    jobs.enqueue(
        session,
        kind=SCHEDULED,
        run_at=run_at,
        payload={"incident_id": incident_id, "index": index},
        dedup_key=f"{SCHEDULED}:{incident_id}:{index}",
        now=now,
    )


def scheduled(session: Session, *, payload: dict[str, Any], now: datetime) -> None:
    """Engine job: request a scheduled automation for an open incident, and set the next run."""
    incident = session.get(Incident, int(payload["incident_id"]))
    if incident is None or incident.status not in OPEN_STATUSES:
        return  # the chain ends with the incident
    runbook = _runbook(session, incident)
    index = int(payload["index"])
    if index >= len(runbook.automation) or not _chained(runbook.automation[index]):
        return
    entry = runbook.automation[index]
    _request(session, incident, runbook.id, index, entry, "schedule", now, once=False)
    every = timedelta(minutes=entry.schedule_minutes or 60)
    _enqueue(session, incident.id, index, now + every, now)


HANDLERS = {SCHEDULED: scheduled}
