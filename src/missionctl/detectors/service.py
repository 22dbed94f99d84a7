"""Detector use cases on the database: what is due, what each detector remembers, and storing an evaluation.

Storing turns transitions into signal events for the pipeline in the same transaction: a series that starts
firing is a TRIGGER, one that stops is a RESOLVE, so the incident and its pages are committed with the state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from missionctl.deployments import service as deployments
from missionctl.detectors.config import ConfiguredDetector
from missionctl.detectors.evaluation import Evaluation, SeriesUpdate, Stored
from missionctl.detectors.models import DetectorSchedule, DetectorState
from missionctl.detectors.schemas import DeployWindowDetector, ProbeDetector
from missionctl.releases import hooks as releases
from missionctl.runbooks.loader import RunbookRegistry
from missionctl.signals.events import SignalAction, SignalEvent
from missionctl.signals.pipeline import Applied, RoutedEvent, apply
from missionctl.signals.routing import Decision

ACTOR = "detector"


@dataclass(frozen=True)
class ReleaseInfo:
    version: str
    deployed_at: datetime


@dataclass(frozen=True)
class DueDetector:
    """A detector to evaluate now, with what it remembers (plain data: usable after the transaction)."""

    detector: ConfiguredDetector
    previous: Mapping[str, Stored]
    last_run_at: datetime | None
    release: ReleaseInfo | None = None


@dataclass(frozen=True)
class Retired:
    """A detector that is gone from the file, or whose definition changed: its firing series recover."""

    name: str
    firing: Mapping[str, Stored]


@dataclass(frozen=True)
class Plan:
    due: list[DueDetector] = field(default_factory=list)
    retired: list[Retired] = field(default_factory=list)


def plan(session: Session, *, detectors: Sequence[ConfiguredDetector], now: datetime) -> Plan:
    """Which detectors are due at `now`, and which stored ones no longer match the configuration."""
    schedules = {row.name: row for row in session.scalars(select(DetectorSchedule))}
    configured = {detector.name: detector for detector in detectors}
    stale = sorted(
        name
        for name, row in schedules.items()
        if name not in configured or row.fingerprint != configured[name].fingerprint
    )
    retired = [Retired(name, _states(session, name, firing_only=True)) for name in stale]
    due = []
    for detector in detectors:
        row = None if detector.name in stale else schedules.get(detector.name)
        if row is None:  # new, or redefined: starts afresh
            due.append(DueDetector(detector, {}, None, _release(session, detector, now)))
        elif row.next_due_at <= now:
            previous = _states(session, detector.name, firing_only=False)
            due.append(DueDetector(detector, previous, row.last_run_at, _release(session, detector, now)))
    return Plan(due, retired)


def _states(session: Session, name: str, *, firing_only: bool) -> dict[str, Stored]:
    query = select(DetectorState).where(DetectorState.detector == name)
    if firing_only:
        query = query.where(DetectorState.firing.is_(True))
    return {row.series_key: Stored(dict(row.labels), dict(row.state), row.firing) for row in session.scalars(query)}


def _release(session: Session, detector: ConfiguredDetector, now: datetime) -> ReleaseInfo | None:
    spec = detector.detector
    if not isinstance(spec, DeployWindowDetector):
        return None
    found = deployments.latest(session, service_id=detector.service, environment=spec.environment, at=now)
    return ReleaseInfo(found.version, found.deployed_at) if found is not None else None


@dataclass(frozen=True)
class Outcome:
    """One due detector after evaluation."""

    due: DueDetector
    evaluation: Evaluation


def store(
    session: Session,
    *,
    outcomes: Sequence[Outcome],
    retired: Sequence[Retired],
    runbooks: RunbookRegistry,
    now: datetime,
) -> Applied:
    """Save every evaluation and retirement, and hand the transitions to the signals pipeline."""
    events: list[RoutedEvent] = []
    for gone in retired:
        events += [_resolve_retired(gone.name, key, stored, now) for key, stored in sorted(gone.firing.items())]
        session.execute(delete(DetectorState).where(DetectorState.detector == gone.name))
        session.execute(delete(DetectorSchedule).where(DetectorSchedule.name == gone.name))
    session.flush()
    stored = [outcome for outcome in outcomes if _claim(session, outcome, now)]
    for outcome in stored:
        _save_states(session, outcome.due.detector.name, outcome.evaluation.updates, now)
        events += [_event(outcome.due.detector, u, now) for u in outcome.evaluation.updates if u.transition]
    releases.observe_probes(session, outcomes=stored, now=now)  # pending releases may now be healthy
    return apply(session, events, runbooks=runbooks, now=now)


def _claim(session: Session, outcome: Outcome, now: datetime) -> bool:
    """Advance the detector's schedule, unless another runner evaluated it since we read it (then drop ours)."""
    detector = outcome.due.detector
    query = select(DetectorSchedule).where(DetectorSchedule.name == detector.name)
    row = session.scalars(query.with_for_update()).one_or_none()
    if row is not None and row.last_run_at != outcome.due.last_run_at:
        return False
    interval = timedelta(seconds=detector.detector.interval_seconds)
    if row is None:
        row = DetectorSchedule(name=detector.name, fingerprint=detector.fingerprint, next_due_at=now)
        session.add(row)
    # Keep to the evaluation grid (as Prometheus does); after a pause, start a new grid from now.
    next_due = row.next_due_at + interval
    row.next_due_at = next_due if next_due > now else now + interval
    row.fingerprint = detector.fingerprint
    row.last_run_at = now
    row.last_error = outcome.evaluation.error
    return True


def _save_states(session: Session, name: str, updates: Iterable[SeriesUpdate], now: datetime) -> None:
    rows = {row.series_key: row for row in session.scalars(select(DetectorState).where(DetectorState.detector == name))}
    for update in updates:
        row = rows.get(update.key)
        if not update.keep:
            if row is not None:
                session.delete(row)
            continue
        if row is None:
            row = DetectorState(detector=name, series_key=update.key)
            session.add(row)
        row.labels, row.state, row.firing, row.updated_at = update.labels, update.state, update.firing, now


def _event(detector: ConfiguredDetector, update: SeriesUpdate, now: datetime) -> RoutedEvent:
    firing = update.transition == "fired"
    spec = detector.detector
    target = str(spec.url) if isinstance(spec, ProbeDetector) else spec.expr
    event = SignalEvent(
        source="detector",
        action=SignalAction.TRIGGER if firing else SignalAction.RESOLVE,
        dedup_key=dedup_key(detector.name, update.key),
        summary=f"{detector.name}: {update.reason}" if firing else f"{detector.name} recovered: {update.reason}",
        labels={
            **update.labels,
            **getattr(spec, "labels", {}),
            "detector": detector.name,
            "service": detector.service,
            "runbook": detector.runbook_id,
        },
        annotations={"kind": spec.kind, "target": target, "reason": update.reason},
        severity=detector.severity,
        started_at=update.started_at or now,
        ended_at=None if firing else now,
    )
    decision = Decision(detector.service, detector.runbook_id, detector.severity, f"detector {detector.name}")
    return RoutedEvent(origin(detector.name), event, decision, actor=ACTOR)


def _resolve_retired(name: str, key: str, stored: Stored, now: datetime) -> RoutedEvent:
    event = SignalEvent(
        source="detector",
        action=SignalAction.RESOLVE,
        dedup_key=dedup_key(name, key),
        summary=f"{name} recovered: the detector was removed or redefined",
        labels={**stored.labels, "detector": name},
        ended_at=now,
    )
    return RoutedEvent(origin(name), event, None, actor=ACTOR)


def origin(name: str) -> str:
    return f"detector:{name}"


def dedup_key(name: str, series_key: str) -> str:
    """Stable for one detector and one series (label set), so repeats join the same alert."""
    return f"{name}:{series_key}"
