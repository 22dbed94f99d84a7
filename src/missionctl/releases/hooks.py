"""Where other domains call into releases, each from one line: deployments recorded, incidents declared and
resolved, probes stored, signals fired. Every hook runs in the caller's transaction and only writes rows; work
that talks to the outside world is queued as a release run for the release workers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from missionctl.deployments.models import Deployment
from missionctl.detectors.models import DetectorState
from missionctl.errors import InvalidInput
from missionctl.incidents.models import Incident, RunbookVersion
from missionctl.incidents.timeline import note
from missionctl.releases import config, rules, service
from missionctl.releases.models import ReleaseRun, ReleaseVerdict
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
    """A runbook whose first response freezes deploys does so at once; its synthetic checks are queued."""
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
        request = service.RunRequest(SYNTHETIC, incident.service, incident.id, "rule:declared", {})
        service.request_run(session, request, now=now)


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


def on_signal_fired(session: Session, *, incident: Incident, fired: Sequence[RoutedEvent], now: datetime) -> None:
    """Probe alerts joined or opened an incident: the release running fails, and may be rolled back at once."""
    probes = [
        item
        for item in fired
        if item.origin.startswith("detector:") and item.event.annotations.get("kind") == "http_probe"
    ]
    if not probes:
        return
    current = current_verdict(session, incident.service)
    if current is not None and current.verdict == Verdict.PENDING:
        reason = f"its readiness probe failed (INC-{incident.id})"
        service.mark(session, deployment_id=current.deployment_id, verdict=Verdict.FAILED, reason=reason, now=now)
    automation = _automatic_rollback(session, incident)
    if automation is None:
        return
    _maybe_roll_back(session, incident, probes[0], automation, current, now)


def current_verdict(session: Session, service_id: str) -> ReleaseVerdict | None:
    query = (
        select(ReleaseVerdict)
        .join(Deployment, Deployment.id == ReleaseVerdict.deployment_id)
        .where(ReleaseVerdict.service_id == service_id)
        .order_by(Deployment.deployed_at.desc(), Deployment.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def _automatic_rollback(session: Session, incident: Incident) -> dict[str, Any] | None:
    """The `deploy.rollback` automation in automatic mode of the runbook version the incident was opened with."""
    version = session.get(RunbookVersion, incident.runbook_hash)
    for automation in version.content.get("automation", []) if version else []:
        if automation.get("action") == ROLLBACK and automation.get("mode") == "automatic":
            return dict(automation)
    return None


def _maybe_roll_back(
    session: Session,
    incident: Incident,
    probe: RoutedEvent,
    automation: dict[str, Any],
    current: ReleaseVerdict | None,
    now: datetime,
) -> None:
    when = dict(automation.get("when") or {})
    unknown = sorted(set(when) - {PROBE_FACT})
    detector = probe.event.labels.get("detector", "")
    state = session.scalars(select(DetectorState).where(DetectorState.detector == detector).limit(1)).first()
    probe_state = dict(state.state) if state is not None else {}
    once_key = f"{ROLLBACK}:auto:{incident.id}"
    facts = rules.AutoRollbackFacts(
        probe_failing=probe_state.get("status") == "failing",
        consecutive_failures=int(probe_state.get("consecutive_failures", 0)),
        required_failures=int(when.get(PROBE_FACT, 1)),
        current_verdict=Verdict(current.verdict) if current is not None else None,
        already_requested=session.scalar(select(ReleaseRun.id).where(ReleaseRun.once_key == once_key)) is not None,
    )
    why_not = (
        f"its condition uses facts Mission Control does not know: {', '.join(unknown)}"
        if unknown
        else rules.auto_rollback(facts)
    )
    if why_not is not None:
        note(session, incident, now, "auto_rollback_skipped", f"No automatic rollback: {why_not}", detector=detector)
        return
    request = service.RunRequest(
        ROLLBACK,
        incident.service,
        incident.id,
        f"signal:{probe.origin}",
        dict(automation.get("params") or {}),
        once_key=once_key,
    )
    if service.request_run(session, request, now=now) is not None:
        note(
            session,
            incident,
            now,
            "auto_rollback_requested",
            f"Automatic rollback requested: {detector} failed {facts.consecutive_failures} consecutive readiness "
            "checks after a release",
            detector=detector,
        )
