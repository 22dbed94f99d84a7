"""Release use cases on the database: the ledger and its verdicts, and deploy freezes.

Functions take the caller's `Session` and `now`; the entry point owns the transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from missionctl.catalog import models as catalog_models
from missionctl.deployments.models import Deployment
from missionctl.errors import Conflict, InvalidInput, NotFound
from missionctl.incidents.models import Incident
from missionctl.incidents.timeline import note
from missionctl.releases import rules
from missionctl.releases.models import DeployFreeze, ReleaseVerdict
from missionctl.releases.rules import Verdict

RUNBOOK = "RB-001"
SYSTEM_LIFTER = "missionctl"
MAX_LEDGER = 500


# --- the ledger ------------------------------------------------------------------------------------------------------


def start_verdict(session: Session, *, deployment: Deployment, settle_seconds: int) -> ReleaseVerdict:
    """A new release starts pending; it settles `settle_seconds` after it went out."""
    row = ReleaseVerdict(
        deployment_id=deployment.id,
        service_id=deployment.service_id,
        environment=deployment.environment,
        verdict=Verdict.PENDING,
        settles_at=deployment.deployed_at + timedelta(seconds=settle_seconds),
    )
    session.add(row)
    session.flush()
    return row


def observe_probe(session: Session, *, service_id: str, healthy: bool, now: datetime) -> list[ReleaseVerdict]:
    """One of the service's probes ran: decide its pending releases that are due. Returns those decided."""
    pending = list(
        session.scalars(
            select(ReleaseVerdict).where(
                ReleaseVerdict.service_id == service_id,
                ReleaseVerdict.verdict == Verdict.PENDING,
                ReleaseVerdict.settles_at <= now,
            )
        )
    )
    decided = []
    for row in pending:
        deployment = session.get_one(Deployment, row.deployment_id)
        facts = rules.SettleFacts(
            verdict=Verdict(row.verdict),
            settles_at=row.settles_at,
            probe_healthy=healthy,
            incident_since_deploy=_incident_since(session, service_id, deployment.deployed_at),
            superseded_by=_superseded_by(session, deployment),
        )
        decision = rules.settle(facts, now)
        if decision is not None:
            _decide(row, decision.verdict, decision.reason, now)
            decided.append(row)
    return decided


def _incident_since(session: Session, service_id: str, since: datetime) -> int | None:
    return session.scalar(
        select(Incident.id)
        .where(Incident.service == service_id, Incident.runbook_id == RUNBOOK, Incident.declared_at >= since)
        .order_by(Incident.id)
        .limit(1)
    )


def _superseded_by(session: Session, deployment: Deployment) -> str | None:
    return session.scalar(
        select(Deployment.version)
        .where(
            Deployment.service_id == deployment.service_id,
            Deployment.environment == deployment.environment,
            or_(
                Deployment.deployed_at > deployment.deployed_at,
                and_(Deployment.deployed_at == deployment.deployed_at, Deployment.id > deployment.id),
            ),
        )
        .limit(1)
    )


def _decide(row: ReleaseVerdict, verdict: Verdict, reason: str, now: datetime) -> None:
    row.verdict, row.reason, row.decided_at = verdict, reason, now


def mark(session: Session, *, deployment_id: int, verdict: Verdict, reason: str, now: datetime) -> None:
    """Set a release's verdict (failed when its probe fires, rolled_back when a rollback replaces it)."""
    row = session.get(ReleaseVerdict, deployment_id)
    if row is not None and row.verdict != verdict:
        _decide(row, verdict, reason, now)


def verdict_of(session: Session, deployment_id: int) -> ReleaseVerdict | None:
    return session.get(ReleaseVerdict, deployment_id)


def current(session: Session, *, service_id: str, environment: str, at: datetime) -> Deployment | None:
    """The release of the service that is running in `environment` at `at` (the last one to go out)."""
    query = select(Deployment).where(
        Deployment.service_id == service_id, Deployment.environment == environment, Deployment.deployed_at <= at
    )
    return session.scalars(query.order_by(Deployment.deployed_at.desc(), Deployment.id.desc()).limit(1)).first()


def last_known_healthy(
    session: Session,
    *,
    service_id: str,
    environment: str,
    before: datetime | None = None,
    exclude_digest: str | None = None,
) -> Deployment | None:
    """The latest release with a healthy verdict (that went out before `before`, of another artifact)."""
    query = (
        select(Deployment)
        .join(ReleaseVerdict, ReleaseVerdict.deployment_id == Deployment.id)
        .where(
            Deployment.service_id == service_id,
            Deployment.environment == environment,
            ReleaseVerdict.verdict == Verdict.HEALTHY,
        )
    )
    if before is not None:
        query = query.where(Deployment.deployed_at < before)
    if exclude_digest is not None:
        query = query.where(Deployment.artifact_digest != exclude_digest)
    return session.scalars(query.order_by(Deployment.deployed_at.desc(), Deployment.id.desc()).limit(1)).first()


def ledger(
    session: Session, *, service_id: str, environment: str | None, limit: int = 50
) -> list[tuple[Deployment, ReleaseVerdict | None]]:
    """Releases of a service, newest first, each with its verdict (None: an environment its probes do not watch)."""
    query = (
        select(Deployment, ReleaseVerdict)
        .outerjoin(ReleaseVerdict, ReleaseVerdict.deployment_id == Deployment.id)
        .where(Deployment.service_id == service_id)
    )
    if environment is not None:
        query = query.where(Deployment.environment == environment)
    query = query.order_by(Deployment.deployed_at.desc(), Deployment.id.desc()).limit(min(limit, MAX_LEDGER))
    return [(row[0], row[1]) for row in session.execute(query)]


# --- freezes ---------------------------------------------------------------------------------------------------------


def require_service(session: Session, service_id: str) -> None:
    if session.get(catalog_models.Service, service_id) is None:
        raise NotFound(
            f"service: no service with id {service_id!r} in the catalog",
            code="service_not_found",
            details={"field": "service", "service": service_id},
        )


def freeze(
    session: Session,
    *,
    service_id: str,
    reason: str,
    starts_at: datetime,
    ends_at: datetime | None,
    incident_id: int | None,
    actor: str,
    now: datetime,
) -> DeployFreeze:
    """Freeze deployments of a service from `starts_at` until `ends_at` (None: until lifted)."""
    if ends_at is not None and ends_at <= starts_at:
        raise InvalidInput("ends_at: a freeze must end after it starts", details={"field": "ends_at"})
    row = DeployFreeze(
        service_id=service_id,
        reason=reason,
        starts_at=starts_at,
        ends_at=ends_at,
        incident_id=incident_id,
        created_by=actor,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def freeze_of_incident(session: Session, *, incident_id: int) -> DeployFreeze | None:
    query = select(DeployFreeze).where(DeployFreeze.incident_id == incident_id, DeployFreeze.lifted_at.is_(None))
    return session.scalars(query.order_by(DeployFreeze.id).limit(1)).first()


def lift(session: Session, *, freeze_id: int, actor: str, now: datetime) -> DeployFreeze:
    """Lift a freeze now; lifting one already lifted changes nothing."""
    row = session.get(DeployFreeze, freeze_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no deploy freeze with id {freeze_id}", code="freeze_not_found")
    if row.lifted_at is None:
        row.lifted_at, row.lifted_by = now, actor
    return row


def in_force(session: Session, *, service_id: str, now: datetime) -> list[DeployFreeze]:
    """The freezes refusing deployments of the service at `now`, oldest first."""
    query = select(DeployFreeze).where(DeployFreeze.service_id == service_id, DeployFreeze.lifted_at.is_(None))
    rows = session.scalars(query.order_by(DeployFreeze.starts_at, DeployFreeze.id))
    return [
        row
        for row in rows
        if rules.freeze_in_force(starts_at=row.starts_at, ends_at=row.ends_at, lifted_at=row.lifted_at, now=now)
    ]


def listing_freezes(
    session: Session, *, service_id: str | None, include_lifted: bool, limit: int
) -> list[DeployFreeze]:
    query = select(DeployFreeze)
    if service_id is not None:
        query = query.where(DeployFreeze.service_id == service_id)
    if not include_lifted:
        query = query.where(DeployFreeze.lifted_at.is_(None))
    return list(session.scalars(query.order_by(DeployFreeze.id.desc()).limit(min(limit, MAX_LEDGER))))


def check_deploy(
    session: Session, *, deployment: Deployment, override_reason: str | None, actor: str, now: datetime
) -> None:
    """Refuse a deployment of a frozen service (409 `deploy_frozen`) unless overridden with a reason.

    An override is recorded on the timeline of each freezing incident.
    """
    frozen = in_force(session, service_id=deployment.service_id, now=now)
    if not frozen:
        return
    if override_reason is None:
        first = frozen[0]
        raise Conflict(
            f"deployments of {deployment.service_id} are frozen: {first.reason} (freeze {first.id}"
            + (f", INC-{first.incident_id})" if first.incident_id else ")"),
            code="deploy_frozen",
            details={"service": deployment.service_id, "freezes": [freeze_dict(row) for row in frozen]},
        )
    for row in frozen:
        incident = session.get(Incident, row.incident_id) if row.incident_id is not None else None
        if incident is not None:
            note(
                session,
                incident,
                now,
                "deploy_during_freeze",
                f"{actor} deployed {deployment.service_id} {deployment.version} during the freeze: {override_reason}",
                actor=actor,
                deployment_id=deployment.id,
                freeze_id=row.id,
            )


def freeze_dict(row: DeployFreeze) -> dict[str, Any]:
    return {
        "id": row.id,
        "reason": row.reason,
        "incident_id": row.incident_id,
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat() if row.ends_at else None,
        "created_by": row.created_by,
    }
