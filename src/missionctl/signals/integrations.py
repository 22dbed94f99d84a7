"""Integration use cases: create a key for a service and an alert source, check it, list, revoke."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from missionctl.catalog import models as catalog_models
from missionctl.catalog import service as catalog
from missionctl.errors import NotAuthenticated, NotFound
from missionctl.signals.models import Integration


class IntegrationKind(StrEnum):
    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"
    PAGERDUTY = "pagerduty"


@dataclass(frozen=True)
class IssuedKey:
    key: str  # shown once, never stored
    record: Integration


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key(kind: IntegrationKind) -> str:
    # PagerDuty routing keys are exactly 32 characters; tools that page PagerDuty validate that.
    if kind is IntegrationKind.PAGERDUTY:
        return secrets.token_hex(16)
    return "mci_" + secrets.token_urlsafe(32)


def create(session: Session, *, kind: IntegrationKind, service_id: str, name: str | None, now: datetime) -> IssuedKey:
    """A new key for `kind` events about `service_id` (which must be in the catalog)."""
    catalog.get(session, model=catalog_models.Service, entity_id=service_id)
    key = _new_key(kind)
    record = Integration(
        kind=kind,
        service_id=service_id,
        name=name or f"{service_id} {kind}",
        key_hash=_digest(key),
        key_prefix=key[:8],
        created_at=now,
    )
    session.add(record)
    session.flush()
    return IssuedKey(key, record)


def authenticate(session: Session, *, key: str, kind: IntegrationKind) -> Integration:
    """The live integration of `kind` behind `key`, or `NotAuthenticated` (the same answer for every miss)."""
    record = session.scalars(select(Integration).where(Integration.key_hash == _digest(key))).one_or_none()
    if record is None or record.revoked_at is not None or record.kind != kind:
        raise NotAuthenticated(f"this is not a valid {kind} integration key", code="invalid_integration_key")
    return record


def listing(session: Session) -> list[Integration]:
    return list(session.scalars(select(Integration).order_by(Integration.id)))


def revoke(session: Session, *, integration_id: int, now: datetime) -> Integration:
    """Stop accepting events with this key; revoking twice is harmless."""
    record = session.get(Integration, integration_id)
    if record is None:
        raise NotFound(f"no integration with id {integration_id}", code="integration_not_found")
    record.revoked_at = record.revoked_at or now
    return record
