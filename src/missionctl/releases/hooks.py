"""Where other domains call into releases, each from one line: deployments recorded, incidents declared and
resolved, probes stored, signals fired. Every hook runs in the caller's transaction and only writes rows; work
that talks to the outside world (a rollback, synthetic checks) is requested through the action framework,
whose workers run it with no transaction open once the caller has committed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from missionctl.actions import automation
from missionctl.actions import service as actions
from missionctl.actions.rules import Mode
from missionctl.deployments.models import Deployment
from missionctl.detectors.models import DetectorState
from missionctl.errors import InvalidInput
from missionctl.incidents.models import Incident, RunbookVersion
from missionctl.incidents.timeline import note
from missionctl.releases import config, rules, service
from missionctl.releases.models import ReleaseVerdict
from missionctl.releases.rules import Verdict

if TYPE_CHECKING:
    from missionctl.detectors.service import Outcome
    from missionctl.runbooks.schemas import Runbook
    from missionctl.settings import Settings
    from missionctl.signals.pipeline import RoutedEvent

log = logging.getLogger(__name__)

FREEZE = "deploy.freeze"
ROLLBACK = "deploy.rollback"
SYNTHETIC = "synthetic.check"
PROBE_FACT = "readiness_probe_consecutive_failures"


def on_deployment(
    session: Session,
    *,
    deployment: Deployment,
    settings: Settings,
    override_reason: str | None,
    actor: str,
    now: datetime,
) -> None:
    """A release was reported: refuse it while the service is frozen (409 `deploy_frozen`), else start its verdict."""
    service.check_deploy(session, deployment=deployment, override_reason=override_reason, actor=actor, now=now)
    try:
        watched = config.load(settings.releases_file).for_service(deployment.service_id)
    except InvalidInput as exc:  # a broken releases file must not stop CI from reporting releases
        log.warning("releases file ignored: %s", exc.message)
        watched = config.ServiceReleases()
    if deployment.environment != watched.environment:
        return  # only the environment the service's probes watch gets verdicts
    settle = watched.settle_seconds if watched.settle_seconds is not None else settings.release_settle_seconds
    service.start_verdict(session, deployment=deployment, settle_seconds=settle)


def on_declared(session: Session, *, incident: Incident, runbook: Runbook, now: datetime) -> None:
    """A runbook whose first response freezes deploys does so at once; its synthetic checks are requested."""
    steps = [step.action for step in runbook.first_response.steps]
    if FREEZE in steps and service.freeze_of_incident(session, incident_id=incident.id) is None:
        row = service.freeze(
            session,
            service_id=incident.service,
            reason=f"INC-{incident.id}: {incident.title}"[:500],
            starts_at=now,
            ends_at=None,
            incident_id=incident.id,
            actor=incident.declared_by,
            now=now,
        )
        position = steps.index(FREEZE) + 1
        note(
            session,
            incident,
            now,
            "deploy_frozen",
            f"Deployments of {incident.service} frozen until this incident resolves (freeze {row.id}, step {position})",
            freeze_id=row.id,
        )
    if SYNTHETIC in steps:
        position = steps.index(SYNTHETIC) + 1
        actions.request(
            session,
            action=SYNTHETIC,
            incident_id=incident.id,
            service=incident.service,
            params={},
            requested_by=f"rule:{runbook.id}/first_response/{position}",
            triggered_by="declaration",
            now=now,
            mode=Mode.AUTOMATIC,
            once=False,
            step_position=position,
        )


def on_resolved(session: Session, *, incident: Incident, now: datetime) -> None:
    """Resolving lifts the freezes the incident set."""
    while (row := service.freeze_of_incident(session, incident_id=incident.id)) is not None:
        service.lift(session, freeze_id=row.id, actor=service.SYSTEM_LIFTER, now=now)
        note(
            session,
            incident,
            now,
            "deploy_freeze_lifted",
            f"Deploy freeze {row.id} of {row.service_id} lifted: the incident resolved",
            freeze_id=row.id,
        )


def observe_probes(session: Session, *, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Probe evaluations were stored: pending releases of their services may now be healthy."""
    from missionctl.detectors.schemas import ProbeDetector

    for outcome in outcomes:
        detector = outcome.due.detector
        if not isinstance(detector.detector, ProbeDetector) or outcome.evaluation.error is not None:
            continue
        # Healthy, and the latest probe passed: the status stays "healthy" until failures reach the threshold.
        healthy = all(
            u.state.get("status") == "healthy" and not u.state.get("consecutive_failures")
            for u in outcome.evaluation.updates
        )
        service.observe_probe(session, service_id=detector.service, healthy=healthy, now=now)


def _probe_events(fired: Sequence[RoutedEvent]) -> list[RoutedEvent]:
    return [
        item
        for item in fired
        if item.origin.startswith("detector:") and item.event.annotations.get("kind") == "http_probe"
    ]


def cares_about(fired: Sequence[RoutedEvent]) -> bool:
    """Whether `on_signal_fired` has anything to do with these events (readiness probes); alert storms skip it."""
    return bool(_probe_events(fired))


def on_signal_fired(session: Session, *, incident: Incident, fired: Sequence[RoutedEvent], now: datetime) -> None:
    """Probe alerts joined or opened an incident: the release running fails, and the runbook's automation is asked.

    RB-001's `deploy.rollback` automation (`when: {readiness_probe_consecutive_failures: 3}`) is requested
    through the action framework: audited, once per incident until resolved, behind its circuit breaker.
    """
    probes = _probe_events(fired)
    if not probes:
        return
    current = current_verdict(session, incident.service)
    if current is not None and current.verdict == Verdict.PENDING:
        reason = f"its readiness probe failed (INC-{incident.id})"
        service.mark(session, deployment_id=current.deployment_id, verdict=Verdict.FAILED, reason=reason, now=now)
    probe = probes[0]
    facts = probe_facts(session, probe, current)
    triggered_by = f"signal:{probe.origin}/{probe.event.dedup_key}"
    requested = automation.on_signal(session, incident=incident, facts=facts, triggered_by=triggered_by, now=now)
    if not any(row.action == ROLLBACK for row in requested):
        _note_no_rollback(session, incident, facts, now)


def probe_facts(session: Session, probe: RoutedEvent, current: ReleaseVerdict | None) -> dict[str, Any]:
    """What runbook automation `when:` conditions can name about a readiness probe that fired."""
    detector = probe.event.labels.get("detector", "")
    state = session.scalars(select(DetectorState).where(DetectorState.detector == detector).limit(1)).first()
    probe_state = dict(state.state) if state is not None else {}
    failures = rules.probe_failures(
        status=probe_state.get("status"), consecutive_failures=int(probe_state.get("consecutive_failures", 0))
    )
    return {
        PROBE_FACT: failures,
        "detector": detector,
        "signal": {"source": probe.event.source, "origin": probe.origin, "kind": "http_probe"},
        "release": {"verdict": current.verdict if current is not None else None},
    }


def current_verdict(session: Session, service_id: str) -> ReleaseVerdict | None:
    query = (
        select(ReleaseVerdict)
        .join(Deployment, Deployment.id == ReleaseVerdict.deployment_id)
        .where(ReleaseVerdict.service_id == service_id)
        .order_by(Deployment.deployed_at.desc(), Deployment.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def _note_no_rollback(session: Session, incident: Incident, facts: dict[str, Any], now: datetime) -> None:
    """The runbook automates a rollback but its condition does not hold: say why on the timeline."""
    version = session.get(RunbookVersion, incident.runbook_hash)
    entries = version.content.get("automation", []) if version is not None else []
    for entry in entries:
        if entry.get("action") == ROLLBACK and entry.get("mode") != "manual" and not entry.get("schedule_minutes"):
            summary = (
                f"No automatic rollback: {facts['detector']} failed {facts[PROBE_FACT]} consecutive readiness "
                f"checks; the automation needs {entry.get('when') or 'a condition'}"
            )
            note(session, incident, now, "auto_rollback_skipped", summary, detector=facts["detector"])
            return
