"""Deployment use cases: record a release reported by CI, list releases, find the one a window starts from."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from missionctl.catalog import models as catalog_models
from missionctl.deployments.models import Deployment
from missionctl.errors import InvalidInput, NotFound

# CI clocks drift; a release reported a little in the future is taken as given, far in the future is refused.
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_LIST_LIMIT = 500


def record(
    session: Session,
    *,
    service_id: str,
    version: str,
    artifact_digest: str,
    environment: str,
    deployed_by: str,
    deployed_at: datetime | None,
    url: str | None,
    now: datetime,
) -> Deployment:
    """Store one release of a catalog service (404 naming `service` if the catalog has no such service)."""
    if session.get(catalog_models.Service, service_id) is None:
        raise NotFound(
            f"service: no service with id {service_id!r} in the catalog",
            code="service_not_found",
            details={"field": "service", "service": service_id},
        )
    if deployed_at is not None and deployed_at > now + MAX_CLOCK_SKEW:
        raise InvalidInput(
            f"deployed_at: {deployed_at.isoformat()} is in the future (server time {now.isoformat()})",
            details={"field": "deployed_at"},
        )
    deployment = Deployment(
        service_id=service_id,
        version=version,
        artifact_digest=artifact_digest,
        environment=environment,
        deployed_by=deployed_by,
        deployed_at=deployed_at or now,
        created_at=now,
        url=url,
    )
    session.add(deployment)
    session.flush()
    return deployment


def listing(
    session: Session, *, service_id: str | None = None, environment: str | None = None, limit: int = 50
) -> list[Deployment]:
    """Releases, newest first, optionally for one service and/or environment."""
    query = select(Deployment)
    if service_id is not None:
        query = query.where(Deployment.service_id == service_id)
    if environment is not None:
        query = query.where(Deployment.environment == environment)
    order = query.order_by(Deployment.deployed_at.desc(), Deployment.id.desc())
    return list(session.scalars(order.limit(min(limit, MAX_LIST_LIMIT))))


def latest(session: Session, *, service_id: str, environment: str | None, at: datetime) -> Deployment | None:
    """The last release of a service (to one environment, or any) that had gone out by `at`."""
    query = select(Deployment).where(Deployment.service_id == service_id, Deployment.deployed_at <= at)
    if environment is not None:
        query = query.where(Deployment.environment == environment)
    return session.scalars(query.order_by(Deployment.deployed_at.desc(), Deployment.id.desc()).limit(1)).first()
