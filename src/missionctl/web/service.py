"""Console accounts and sessions: create and disable users, log in with lockout, sessions with CSRF tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from missionctl.auth.roles import Role
from missionctl.errors import Conflict, InvalidInput, NotFound
from missionctl.settings import Settings
from missionctl.web import passwords
from missionctl.web.models import ConsoleSession, ConsoleUser

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$")
BOOTSTRAP_USERNAME = "admin"
# Writing on every page view would turn reads into writes; a minute's precision is enough for idle expiry.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionPolicy:
    """How long sessions live and how wrong passwords are throttled."""

    lifetime: timedelta = timedelta(hours=12)
    idle: timedelta = timedelta(hours=1)
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionPolicy:
        return cls(
            lifetime=timedelta(hours=settings.console_session_hours),
            idle=timedelta(minutes=settings.console_idle_minutes),
            max_failures=settings.console_login_max_failures,
            lockout=timedelta(minutes=settings.console_lockout_minutes),
        )


@dataclass(frozen=True)
class IssuedSession:
    session_id: str  # goes into the cookie, never stored
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class CurrentUser:
    """A logged-in person as the pages see them."""

    user_id: int
    username: str
    role: Role
    csrf_token: str
    session_row_id: int
    last_seen_at: datetime


def digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def create_user(session: Session, *, username: str, password: str, role: Role, now: datetime) -> ConsoleUser:
    """Add a console user; the password must be long enough and is stored only as a hash."""
    if not USERNAME_PATTERN.match(username):
        raise InvalidInput(
            "a username starts with a letter or digit and holds only letters, digits and . _ @ -",
            code="invalid_username",
        )
    problem = passwords.problem(password)
    if problem:
        raise InvalidInput(problem, code="weak_password")
    user = ConsoleUser(
        username=username, password_hash=passwords.hash_password(password), role=role, created_at=now, failed_logins=0
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:  # the caller's transaction rolls back with the error
        raise Conflict(f"there is already a console user named {username!r}", code="username_taken") from None
    return user


def list_users(session: Session) -> list[ConsoleUser]:
    return list(session.scalars(select(ConsoleUser).order_by(ConsoleUser.username)))


def _user(session: Session, username: str) -> ConsoleUser:
    user = session.scalars(select(ConsoleUser).where(ConsoleUser.username == username)).one_or_none()
    if user is None:
        raise NotFound(f"no console user named {username!r}", code="user_not_found")
    return user


def disable_user(session: Session, *, username: str, now: datetime) -> ConsoleUser:
    """Stop a user logging in and end every session they have."""
    user = _user(session, username)
    user.disabled_at = user.disabled_at or now
    session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user.id))
    return user


def set_password(session: Session, *, username: str, password: str) -> ConsoleUser:
    """Replace a user's password, end their sessions and lift any lockout."""
    problem = passwords.problem(password)
    if problem:
        raise InvalidInput(problem, code="weak_password")
    user = _user(session, username)
    user.password_hash = passwords.hash_password(password)
    user.failed_logins, user.locked_until = 0, None
    session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user.id))
    return user


def bootstrap_admin(session: Session, *, now: datetime) -> tuple[ConsoleUser, str] | None:
    """On first start (no console user at all), create `admin` with a generated password to show once."""
    if session.scalar(select(func.count()).select_from(ConsoleUser)):
        return None
    password = secrets.token_urlsafe(18)
    return create_user(session, username=BOOTSTRAP_USERNAME, password=password, role=Role.ADMIN, now=now), password


def log_in(
    session: Session, *, username: str, password: str, now: datetime, policy: SessionPolicy
) -> IssuedSession | None:
    """A new session for the right password; None otherwise (and wrong passwords count towards a lockout).

    The caller commits either way: a failure's count must stick. A locked or disabled account answers
    like a wrong password, after the same hashing work, so the answer tells an attacker nothing.
    """
    user = session.scalars(select(ConsoleUser).where(ConsoleUser.username == username)).one_or_none()
    if user is None:
        passwords.burn_time()
        return None
    locked = user.locked_until is not None and now < user.locked_until
    if not passwords.verify(user.password_hash, password) or locked or user.disabled_at is not None:
        if not locked:
            _count_failure(user, now, policy)
        return None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    _purge_expired(session, now=now, policy=policy)
    return _open_session(session, user, now, policy)


def _count_failure(user: ConsoleUser, now: datetime, policy: SessionPolicy) -> None:
    user.failed_logins = (user.failed_logins or 0) + 1
    if user.failed_logins >= policy.max_failures:
        user.locked_until = now + policy.lockout
        user.failed_logins = 0


def _open_session(session: Session, user: ConsoleUser, now: datetime, policy: SessionPolicy) -> IssuedSession:
    session_id = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    issued = IssuedSession(session_id=session_id, csrf_token=csrf_token, expires_at=now + policy.lifetime)
    session.add(
        ConsoleSession(
            session_hash=digest(session_id),
            user_id=user.id,
            csrf_token=issued.csrf_token,
            created_at=now,
            expires_at=issued.expires_at,
            last_seen_at=now,
        )
    )
    return issued


def _purge_expired(session: Session, *, now: datetime, policy: SessionPolicy) -> None:
    session.execute(
        delete(ConsoleSession).where(
            (ConsoleSession.expires_at <= now) | (ConsoleSession.last_seen_at <= now - policy.idle)
        )
    )


def authenticate(session: Session, *, session_id: str, now: datetime, policy: SessionPolicy) -> CurrentUser | None:
    """The user behind a session cookie, or None when it is unknown, expired, idle too long or disabled."""
    row = session.execute(
        select(ConsoleSession, ConsoleUser)
        .join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id)
        .where(ConsoleSession.session_hash == digest(session_id))
    ).one_or_none()
    if row is None:
        return None
    record, user = row[0], row[1]
    if now >= record.expires_at or now - record.last_seen_at >= policy.idle or user.disabled_at is not None:
        return None
    return CurrentUser(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        csrf_token=record.csrf_token,
        session_row_id=record.id,
        last_seen_at=record.last_seen_at,
    )


def needs_touch(user: CurrentUser, now: datetime) -> bool:
    return now - user.last_seen_at >= LAST_SEEN_RESOLUTION


def touch(session: Session, *, session_row_id: int, now: datetime) -> None:
    session.execute(update(ConsoleSession).where(ConsoleSession.id == session_row_id).values(last_seen_at=now))


def log_out(session: Session, *, session_id: str) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.session_hash == digest(session_id)))
