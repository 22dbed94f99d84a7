"""Token use cases: create, authenticate, revoke, and the first-start admin credential."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from missionctl.auth.models import ApiToken
from missionctl.auth.roles import Role
from missionctl.errors import NotAuthenticated, NotFound

TOKEN_PREFIX = "mc_"  # noqa: S105 (a prefix, not a secret)
# Recording every use would turn each read into a write; once a minute is enough to spot stale tokens.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    name: str
    role: Role
    token_id: int | None = None


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once, never stored
    record: ApiToken


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, *, name: str, role: Role, now: datetime) -> IssuedToken:
    """Mint a token; only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(name=name, role=role, token_hash=_digest(token), prefix=token[:10], created_at=now)
    session.add(record)
    session.flush()
    return IssuedToken(token=token, record=record)


def authenticate(session: Session, *, token: str) -> tuple[Principal, datetime | None]:
    """The principal behind a bearer token and when it was last used, or `NotAuthenticated`."""
    digest = _digest(token)
    record = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).one_or_none()
    # compare_digest keeps the check constant-time even though the lookup is by hash.
    if record is None or record.revoked_at is not None or not hmac.compare_digest(record.token_hash, digest):
        raise NotAuthenticated("the API token is not valid", code="invalid_token")
    return Principal(name=record.name, role=Role(record.role), token_id=record.id), record.last_used_at


def needs_touch(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION


def touch(session: Session, *, token_id: int, now: datetime) -> None:
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))


def revoke(session: Session, *, token_id: int, now: datetime) -> ApiToken:
    record = session.get(ApiToken, token_id)
    if record is None:
        raise NotFound(f"no token with id {token_id}", code="token_not_found")
    record.revoked_at = record.revoked_at or now
    return record


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def bootstrap_admin(session: Session, *, now: datetime) -> IssuedToken | None:
    """On first start (no token at all), create an admin token; later starts create nothing."""
    if session.scalar(select(func.count()).select_from(ApiToken)):
        return None
    return create_token(session, name="admin", role=Role.ADMIN, now=now)
