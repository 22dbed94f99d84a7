"""Console accounts on a real database: Argon2id hashes, lockout, session expiry and idle timeout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from missionctl.auth.roles import Role
from missionctl.clock import FrozenClock
from missionctl.context import AppContext
from missionctl.errors import Conflict, InvalidInput
from missionctl.web import passwords
from missionctl.web import service as accounts
from missionctl.web.models import ConsoleSession, ConsoleUser
from missionctl.web.service import SessionPolicy

PASSWORD = "correct horse battery staple"
POLICY = SessionPolicy(
    lifetime=timedelta(hours=12), idle=timedelta(hours=1), max_failures=3, lockout=timedelta(minutes=15)
)


def _create(ctx: AppContext, username: str = "alice", role: Role = Role.RESPONDER) -> None:
    with ctx.write() as session:
        accounts.create_user(session, username=username, password=PASSWORD, role=role, now=ctx.clock.now())


def _log_in(ctx: AppContext, password: str = PASSWORD, username: str = "alice") -> accounts.IssuedSession | None:
    with ctx.write() as session:
        return accounts.log_in(session, username=username, password=password, now=ctx.clock.now(), policy=POLICY)


def _who(ctx: AppContext, session_id: str) -> accounts.CurrentUser | None:
    with ctx.read() as session:
        return accounts.authenticate(session, session_id=session_id, now=ctx.clock.now(), policy=POLICY)


def test_passwords_are_stored_as_argon2id_hashes_only(ctx: AppContext) -> None:
    _create(ctx)
    with ctx.read() as session:
        user = session.query(ConsoleUser).one()
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
    assert passwords.verify(user.password_hash, PASSWORD)
    assert not passwords.verify(user.password_hash, PASSWORD + "!")
    assert not passwords.verify("not a hash", PASSWORD)


def test_weak_passwords_bad_usernames_and_duplicates_are_refused(ctx: AppContext) -> None:
    with pytest.raises(InvalidInput) as weak, ctx.write() as session:
        accounts.create_user(session, username="bob", password="short", role=Role.VIEWER, now=ctx.clock.now())
    assert weak.value.code == "weak_password"
    with pytest.raises(InvalidInput) as bad, ctx.write() as session:
        accounts.create_user(session, username="<bob>", password=PASSWORD, role=Role.VIEWER, now=ctx.clock.now())
    assert bad.value.code == "invalid_username"
    _create(ctx)
    with pytest.raises(Conflict) as taken:
        _create(ctx)
    assert taken.value.code == "username_taken"


def test_a_session_stores_only_a_digest_and_knows_its_user(ctx: AppContext) -> None:
    _create(ctx, role=Role.ADMIN)
    issued = _log_in(ctx)
    assert issued is not None
    with ctx.read() as session:
        row = session.query(ConsoleSession).one()
        assert row.session_hash == accounts.digest(issued.session_id) != issued.session_id
    user = _who(ctx, issued.session_id)
    assert user is not None and user.username == "alice" and user.role is Role.ADMIN
    assert user.csrf_token == issued.csrf_token
    assert _who(ctx, issued.session_id + "x") is None


def test_sessions_end_when_idle_too_long_and_at_their_lifetime(ctx: AppContext, clock: FrozenClock) -> None:
    _create(ctx)
    idle = _log_in(ctx)
    assert idle is not None
    clock.advance(timedelta(minutes=59))
    assert _who(ctx, idle.session_id) is not None
    clock.advance(timedelta(minutes=2))
    assert _who(ctx, idle.session_id) is None  # 61 minutes without a request

    busy = _log_in(ctx)
    assert busy is not None
    for _ in range(12):  # used every 59 minutes: never idle, but the 12-hour lifetime still ends it
        clock.advance(timedelta(minutes=59))
        user = _who(ctx, busy.session_id)
        assert user is not None and accounts.needs_touch(user, clock.now())
        with ctx.write() as session:
            accounts.touch(session, session_row_id=user.session_row_id, now=clock.now())
    clock.advance(timedelta(minutes=59))
    assert _who(ctx, busy.session_id) is None


def test_wrong_passwords_lock_the_account_for_a_while(ctx: AppContext, clock: FrozenClock) -> None:
    _create(ctx)
    assert _log_in(ctx, "wrong") is None
    assert _log_in(ctx, "wrong") is None
    assert _log_in(ctx, "wrong") is None  # the third failure locks
    assert _log_in(ctx) is None  # even the right password, while locked
    clock.advance(timedelta(minutes=16))
    assert _log_in(ctx) is not None
    with ctx.read() as session:
        user = session.query(ConsoleUser).one()
        assert user.failed_logins == 0 and user.last_login_at == clock.now()


def test_a_success_resets_the_failure_count(ctx: AppContext) -> None:
    _create(ctx)
    assert _log_in(ctx, "wrong") is None
    assert _log_in(ctx, "wrong") is None
    assert _log_in(ctx) is not None
    assert _log_in(ctx, "wrong") is None
    assert _log_in(ctx) is not None  # two failures again would not have locked it


def test_unknown_users_and_disabled_users_cannot_log_in(ctx: AppContext) -> None:
    assert _log_in(ctx, username="nobody") is None
    _create(ctx)
    issued = _log_in(ctx)
    assert issued is not None
    with ctx.write() as session:
        accounts.disable_user(session, username="alice", now=ctx.clock.now())
    assert _who(ctx, issued.session_id) is None
    assert _log_in(ctx) is None


def test_logging_out_and_a_new_password_end_sessions(ctx: AppContext) -> None:
    _create(ctx)
    first, second = _log_in(ctx), _log_in(ctx)
    assert first is not None and second is not None
    with ctx.write() as session:
        accounts.log_out(session, session_id=first.session_id)
    assert _who(ctx, first.session_id) is None
    assert _who(ctx, second.session_id) is not None
    with ctx.write() as session:
        accounts.set_password(session, username="alice", password="another long password")
    assert _who(ctx, second.session_id) is None
    assert _log_in(ctx, "another long password") is not None


def test_the_first_start_creates_one_admin_with_a_password_shown_once(ctx: AppContext) -> None:
    with ctx.write() as session:
        created = accounts.bootstrap_admin(session, now=ctx.clock.now())
    assert created is not None
    user, password = created
    assert user.username == "admin" and user.role == Role.ADMIN and len(password) >= 20
    with ctx.write() as session:
        assert accounts.bootstrap_admin(session, now=ctx.clock.now()) is None
    assert _log_in(ctx, password, username="admin") is not None
