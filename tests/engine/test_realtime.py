"""The engine on the wall clock: a committed decision wakes it, in-process and (PostgreSQL) across processes."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from missionctl import processes
from missionctl.context import AppContext, build_context
from missionctl.engine import jobs
from missionctl.engine.jobs import Claimed
from missionctl.engine.models import Job
from missionctl.engine.runner import Engine
from missionctl.engine.runtime import start_engine
from missionctl.engine.signal import Relay
from missionctl.incidents import service as incidents
from missionctl.notifications.models import Notification
from missionctl.notifications.service import DELIVER, Snapshot
from missionctl.settings import Settings
from tests.engine.conftest import CATALOG, SECRET, load_catalog
from tests.support.receivers import WebhookReceiver
from tests.support.waiting import wait_until


@pytest.fixture
def live_hooks() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as receiver:
        yield receiver


def _settings(settings: Settings, **extra: object) -> Settings:
    return settings.model_copy(update={"webhook_secret": SecretStr(SECRET), **extra})


def _declare(ctx: AppContext) -> int:
    with ctx.write() as session:
        incident = incidents.declare(
            session,
            runbook=ctx.runbooks.get("RB-002"),
            service="checkout",
            title="p95 900 ms",
            severity=None,
            commander="alice",
            actor="alice",
            now=ctx.clock.now(),
        )
        return incident.id


def test_a_commit_wakes_the_engine_in_the_same_process(
    settings: Settings, live_hooks: WebhookReceiver, tmp_path: Path
) -> None:
    # A long poll period: only the wake-up on commit can deliver within the wait below.
    ctx = build_context(_settings(settings, engine_poll_seconds=60.0))
    load_catalog(ctx, CATALOG.format(hooks=live_hooks.base_url), tmp_path)
    running = start_engine(ctx, worker_id="live")
    try:
        incident_id = _declare(ctx)
        [page] = live_hooks.wait_for(1, timeout=10)
        assert page.signature_valid and page.json()["incident"]["id"] == incident_id
    finally:
        running.stop()
        ctx.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_notify_wakes_an_engine_in_another_context(
    settings: Settings, live_hooks: WebhookReceiver, tmp_path: Path
) -> None:
    api_ctx = build_context(_settings(settings))
    engine_ctx = build_context(_settings(settings, engine_poll_seconds=60.0))  # its own doorbell: NOTIFY only
    load_catalog(api_ctx, CATALOG.format(hooks=live_hooks.base_url), tmp_path)
    running = start_engine(engine_ctx, worker_id="listener")
    try:
        _declare(api_ctx)
        live_hooks.wait_for(1, timeout=10)
    finally:
        running.stop()
        api_ctx.dispose()
        engine_ctx.dispose()


def test_a_commit_queueing_only_later_timers_wakes_the_engine_when_they_are_due_not_before(
    settings: Settings, live_hooks: WebhookReceiver, tmp_path: Path
) -> None:
    # A declaration queues its page (handed over) and timers minutes away. A pass at the commit would find
    # nothing due, only compete with the page being sent: the ring may bring the next pass forward, no more.
    ctx = build_context(_settings(settings, engine_poll_seconds=60.0))
    load_catalog(ctx, CATALOG.format(hooks=live_hooks.base_url), tmp_path)
    running = start_engine(ctx, worker_id="timers")
    engine = running.engine
    marked: list[datetime] = []
    engine.handlers["test.marker"] = lambda session, *, payload, now: marked.append(now)
    try:
        wait_until("the engine's first pass", lambda: engine._passes)  # then it sleeps for a minute unless rung
        incident_id = _declare(ctx)
        [page] = live_hooks.wait_for(1, timeout=10)
        assert page.json()["incident"]["id"] == incident_id
        # A job due in a moment: the ring carrying its due time must bring the next pass forward to it.
        with ctx.write() as session:
            due = ctx.clock.now() + timedelta(seconds=0.3)
            jobs.enqueue(session, kind="test.marker", run_at=due, payload={}, now=ctx.clock.now())
        [ran_at] = wait_until("the marker job", lambda: marked, timeout=30)
        assert ran_at >= due
        # One pass since the first: the one that ran the marker. None for the declaration, none too early.
        assert engine._passes == 2
    finally:
        running.stop()
        ctx.dispose()


def test_a_page_queued_next_to_a_running_engine_is_handed_to_it_without_a_claim(
    settings: Settings, live_hooks: WebhookReceiver, tmp_path: Path
) -> None:
    ctx = build_context(_settings(settings, engine_poll_seconds=60.0))
    load_catalog(ctx, CATALOG.format(hooks=live_hooks.base_url), tmp_path)
    running = start_engine(ctx, worker_id="handoff")
    engine = running.engine
    claimed_by_a_pass: list[int] = []
    claim = engine._claim

    def recording_claim(now: datetime, *, deliveries: bool, limit: int) -> list[Claimed]:
        taken = claim(now, deliveries=deliveries, limit=limit)
        claimed_by_a_pass.extend(job.id for job in taken if deliveries)
        return taken

    handed: list[Claimed] = []
    take = engine.take
    engine.take = lambda leased: (handed.extend(leased), take(leased))[1]  # type: ignore[method-assign]
    read_back: list[int] = []
    read = engine.deliveries._read
    engine.deliveries._read = lambda notification_id: (read_back.append(notification_id), read(notification_id))[1]  # type: ignore[method-assign]
    engine._claim = recording_claim  # type: ignore[method-assign]
    try:
        incident_id = _declare(ctx)
        [page] = live_hooks.wait_for(1, timeout=10)
        assert page.json()["incident"]["id"] == incident_id
        engine.drain()
        with ctx.read() as session:
            queued = session.scalars(select(Notification).where(Notification.incident_id == incident_id)).all()
            jobs = session.scalars(select(Job).where(Job.kind == DELIVER)).all()
        [sent] = [n for n in queued if n.channel == "webhook"]
        assert (sent.status, sent.attempts) == ("sent", 1)
        # Its job is gone: finished under the lease it was written with (later rules' jobs wait, unleased).
        assert [job.payload["notification_id"] for job in jobs if job.payload["notification_id"] == sent.id] == []
        assert all(job.locked_by is None for job in jobs)
        assert claimed_by_a_pass == []  # no pass claimed it: the committing transaction handed it over
        # ...with the row as it committed, so delivery sent it without reading it back.
        [job] = handed
        assert isinstance(job.carried, Snapshot)
        assert (job.carried.id, job.carried.address, job.carried.body) == (sent.id, sent.address, sent.body)
        assert job.carried.status == "pending" and not job.carried.cancelled_by_ack
        assert read_back == []
    finally:
        running.stop()
        ctx.dispose()


@pytest.fixture
def relayed(settings: Settings, live_hooks: WebhookReceiver, tmp_path: Path) -> Iterator[Relayed]:
    """Two contexts on one database, as two workers of `serve --workers 2`: the engine runs in one only."""
    api_ctx = build_context(_settings(settings))
    engine_ctx = build_context(_settings(settings, engine_poll_seconds=60.0))
    load_catalog(api_ctx, CATALOG.format(hooks=live_hooks.base_url), tmp_path)
    running = start_engine(engine_ctx, worker_id="engine")
    engine = running.engine
    spy = Relayed(api_ctx, engine)
    claim, read = engine._claim, engine.deliveries._read

    def recording_claim(now: datetime, *, deliveries: bool, limit: int) -> list[Claimed]:
        taken = claim(now, deliveries=deliveries, limit=limit)
        spy.claimed_by_a_pass.extend(job.id for job in taken if deliveries)
        return taken

    engine._claim = recording_claim  # type: ignore[method-assign]
    engine.deliveries._read = lambda notification_id: (spy.read_back.append(notification_id), read(notification_id))[1]  # type: ignore[method-assign]
    near, far = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    worker, engine_worker = processes.Doorbell(near), processes.Doorbell(far)
    api_ctx.job_signal.forward = worker.ring_jobs
    engine_worker.answer(engine_ctx.job_signal.ring, lambda: None, engine.take)
    spy.doorbell = worker
    try:
        yield spy
    finally:
        far.shutdown(socket.SHUT_RDWR)  # ends the answering thread
        running.stop()
        near.close()
        far.close()
        api_ctx.dispose()
        engine_ctx.dispose()


@dataclass
class Relayed:
    api_ctx: AppContext
    engine: Engine
    claimed_by_a_pass: list[int] = field(default_factory=list)
    read_back: list[int] = field(default_factory=list)
    doorbell: processes.Doorbell | None = None

    def relay(self, send: Callable[[Claimed], bool]) -> Relay:
        kinds = frozenset({DELIVER})
        return Relay(self.api_ctx, me=self.engine.me, kinds=kinds, lease_seconds=30.0, send=send)

    def sent_page(self, incident_id: int) -> Notification:
        self.engine.drain()
        with self.api_ctx.read() as session:
            queued = session.scalars(select(Notification).where(Notification.incident_id == incident_id)).all()
        [sent] = [n for n in queued if n.channel == "webhook"]
        assert (sent.status, sent.attempts) == ("sent", 1)
        return sent


def test_a_page_queued_in_a_worker_without_the_engine_is_relayed_to_it_already_leased(
    relayed: Relayed, live_hooks: WebhookReceiver
) -> None:
    assert relayed.doorbell is not None
    relayed.api_ctx.job_signal.handoff = relayed.relay(relayed.doorbell.relay)
    incident_id = _declare(relayed.api_ctx)
    [page] = live_hooks.wait_for(1, timeout=10)
    assert page.json()["incident"]["id"] == incident_id
    sent = relayed.sent_page(incident_id)
    # No pass found it (the engine sleeps for a minute) and delivery used the row as it committed.
    assert relayed.claimed_by_a_pass == []
    assert relayed.read_back == []
    with relayed.api_ctx.read() as session:
        mine = [job for job in session.scalars(select(Job)) if job.payload.get("notification_id") == sent.id]
    assert mine == []  # finished under the lease it was written with


def test_a_page_that_cannot_be_relayed_rings_and_the_engine_s_pass_sends_it(
    relayed: Relayed, live_hooks: WebhookReceiver
) -> None:
    # The doorbell's buffer full, or a page too large to travel: its lease is undone, so a pass takes it.
    refused: list[int] = []
    relayed.api_ctx.job_signal.handoff = relayed.relay(lambda job: refused.append(job.id) is not None)
    incident_id = _declare(relayed.api_ctx)
    [page] = live_hooks.wait_for(1, timeout=10)
    assert page.json()["incident"]["id"] == incident_id
    relayed.sent_page(incident_id)
    assert len(refused) == 1
    assert relayed.claimed_by_a_pass == refused
    assert len(relayed.read_back) == 1  # a claimed job carries nothing: delivery reads its notification
