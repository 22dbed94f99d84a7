"""Incident use cases on a real database: runbook versions, concurrency, rollback on refusal."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from missionctl.clock import FrozenClock
from missionctl.context import AppContext, build_context
from missionctl.errors import Conflict
from missionctl.incidents import service
from missionctl.incidents.lifecycle import StepStatus
from missionctl.incidents.models import Incident, RunbookVersion, TimelineEvent
from missionctl.notifications import service as outbox
from missionctl.notifications.models import ServerSecret
from missionctl.runbooks.loader import load_registry
from missionctl.settings import Settings

BUILTIN_RB001 = Path(__file__).parents[2] / "src/missionctl/runbooks/builtin/RB-001.yaml"


def declare(ctx: AppContext, runbook_id: str = "RB-001", **kw: object) -> int:
    with ctx.write() as session:
        return declare_in(session, ctx, runbook_id, **kw)


def declare_in(session: Session, ctx: AppContext, runbook_id: str = "RB-001", **kw: object) -> int:
    incident = service.declare(
        session,
        runbook=ctx.runbooks.get(runbook_id),
        service=str(kw.get("service", "checkout")),
        title="t",
        severity=None,
        commander="alice",
        actor="alice",
        now=ctx.clock.now(),
    )
    return incident.id


def test_editing_a_runbook_never_rewrites_a_running_incident(
    settings: Settings, tmp_path: Path, clock: FrozenClock
) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    user_file = folder / "RB-001.yaml"
    user_file.write_text(BUILTIN_RB001.read_text())
    ctx = build_context(settings.model_copy(update={"runbook_dirs": [folder]}), clock=clock)
    try:
        first = declare(ctx)
        user_file.write_text(
            BUILTIN_RB001.read_text()
            .replace("minutes: 20", "minutes: 25")
            .replace("Rollback to last known healthy release artifact.", "Roll back now.")
        )
        ctx.runbooks = load_registry([folder])
        second = declare(ctx)
        with ctx.read() as session:
            old = service.get(session, incident_id=first)
            new = service.get(session, incident_id=second)
            assert old.recovery_slo_minutes == 20 and new.recovery_slo_minutes == 25
            assert old.steps[2].title == "Rollback to last known healthy release artifact."
            assert new.steps[2].title == "Roll back now."
            assert old.runbook_hash != new.runbook_hash
            versions = session.scalars(select(RunbookVersion).order_by(RunbookVersion.first_seen_at)).all()
            by_hash = {v.content_hash: v for v in versions}
            assert by_hash[old.runbook_hash].content["recovery_slo"]["minutes"] == 20
            assert by_hash[new.runbook_hash].content["recovery_slo"]["minutes"] == 25
    finally:
        ctx.dispose()


def test_same_runbook_version_is_stored_once(ctx: AppContext) -> None:
    declare(ctx)
    declare(ctx)
    with ctx.read() as session:
        assert session.scalar(select(func.count()).select_from(RunbookVersion)) == 1


class _RolledBack(Exception):
    pass


def test_a_version_stored_by_a_transaction_that_rolled_back_is_stored_again(ctx: AppContext) -> None:
    """The process remembers which runbook versions its database holds, but only once they are committed."""
    with pytest.raises(_RolledBack), ctx.write() as session:
        for _ in range(2):  # the second finds the version the first stored, uncommitted
            declare_in(session, ctx)
        raise _RolledBack
    first, second = declare(ctx), declare(ctx)  # on whichever pooled connections: each must find or store it
    with ctx.read() as session:
        hashes = {session.get_one(Incident, i).runbook_hash for i in (first, second)}
        stored = session.scalars(select(RunbookVersion.content_hash)).all()
    assert list(hashes) == stored  # one version, stored once, the one both incidents name


def test_a_server_secret_made_by_a_transaction_that_rolled_back_is_not_remembered(ctx: AppContext) -> None:
    now = ctx.clock.now()
    with pytest.raises(_RolledBack), ctx.write() as session:
        lost = outbox.server_secret(session, name="test", now=now)
        assert outbox.server_secret(session, name="test", now=now) == lost  # the same within its transaction
        raise _RolledBack
    with ctx.write() as session:
        kept = outbox.server_secret(session, name="test", now=now)
    for _ in range(3):  # later transactions (the first to read it back remembers it) all see the committed one
        with ctx.write() as session:
            assert outbox.server_secret(session, name="test", now=now) == kept
    with ctx.read() as session:
        assert session.get_one(ServerSecret, "test").value == kept != lost


def test_a_refused_operation_leaves_nothing_behind(ctx: AppContext) -> None:
    incident_id = declare(ctx)
    with pytest.raises(Conflict), ctx.write() as session:
        service.set_step(
            session,
            incident_id=incident_id,
            position=1,
            status=StepStatus.DONE,
            note=None,
            actor="bob",
            now=ctx.clock.now(),
        )
        service.resolve(
            session,
            incident_id=incident_id,
            confirmed_by="bob",
            evidence="ok",
            actor="bob",
            now=ctx.clock.now(),
        )
    with ctx.read() as session:
        incident = service.get(session, incident_id=incident_id)
        assert incident.steps[0].status == StepStatus.PENDING
        # RB-001 freezes deploys and requests its synthetic checks (an action execution, audited)
        kinds = ["declared", "channel_opened", "escalation_missing", "deploy_frozen", "action_requested"]
        assert [e.kind for e in incident.timeline] == kinds


def test_concurrent_changes_to_one_incident_all_land(ctx: AppContext) -> None:
    """Eight threads post updates and acknowledge at once; every write lands exactly once."""
    incident_id = declare(ctx)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(5):
                with ctx.write() as session:
                    service.post_update(
                        session,
                        incident_id=incident_id,
                        message=f"{n}-{i}",
                        actor=f"u{n}",
                        now=ctx.clock.now(),
                    )
                with ctx.write() as session:
                    service.acknowledge(session, incident_id=incident_id, actor=f"u{n}", now=ctx.clock.now())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with ctx.read() as session:
        incident = service.get(session, incident_id=incident_id)
        assert len(incident.updates) == 40
        acks = session.scalar(
            select(func.count())
            .select_from(TimelineEvent)
            .where(TimelineEvent.incident_id == incident_id, TimelineEvent.kind == "acknowledged")
        )
        assert acks == 1


def test_runbook_that_does_not_cover_the_service_is_refused(ctx: AppContext, tmp_path: Path) -> None:
    folder = tmp_path / "rb"
    folder.mkdir()
    (folder / "RB-900.yaml").write_text(
        BUILTIN_RB001.read_text().replace("id: RB-001", "id: RB-900").replace('services: ["*"]', "services: [payments]")
    )
    ctx.runbooks = load_registry([folder])
    assert declare(ctx, "RB-900", service="payments") > 0
    with pytest.raises(Conflict) as caught:
        declare(ctx, "RB-900", service="search")
    assert caught.value.code == "runbook_not_for_service"
    with ctx.read() as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == 1
