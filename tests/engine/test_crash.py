"""Crash safety: SIGKILL the engine process at random moments while escalations run; no page is lost,
and once `webhook-id` is honoured, none is received twice. Then two engines on one PostgreSQL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from missionctl.clock import ScaledClock
from missionctl.context import AppContext, build_context
from missionctl.engine.models import Job
from missionctl.incidents import service as incidents
from missionctl.notifications.models import Notification
from missionctl.settings import Settings
from tests.engine.conftest import SECRET, load_catalog
from tests.support.receivers import WebhookReceiver

SPEED = 60.0  # one escalation minute per wall-clock second
KILLS = 30
RUNBOOK = """
id: RB-900
title: Crash drill
summary: Escalations for the crash test.
default_severity: SEV4
trigger: {summary: A test declares it.}
first_response: {within_minutes: 5, steps: [{title: Hold on.}]}
escalation: {summary: Page the commander., after_minutes: 0, targets: [{role: commander}]}
recovery_slo: {summary: Recover within ten hours., minutes: 600}
stakeholder_updates: {every_minutes: 600}
"""
CATALOG = """
people:
{people}
teams:
  - {{id: crew, name: Crew, members: [p0, p1, p2]}}
escalation_policies:
  - id: drill
    name: Drill
    repeat: 1
    levels:
      - {{escalate_after_minutes: 1, targets: [{{person: p0}}]}}
      - {{escalate_after_minutes: 1, targets: [{{person: p1}}]}}
  - id: single
    name: Single
    levels:
      - {{escalate_after_minutes: 1, targets: [{{person: p0}}]}}
services:
  - {{id: drill, name: Drill, tier: 2, team: crew, escalation_policy: drill}}
  - {{id: single, name: Single, tier: 2, team: crew, escalation_policy: single}}
"""
PERSON = '  - {{id: {id}, name: {id}, contact_methods: [{{id: hook, kind: webhook, address: "{hooks}/{id}"}}]}}'


LADDER = [("g1-l0-0", "p0"), ("g1-l0-1", "p1"), ("g1-l1-0", "p0"), ("g1-l1-1", "p1"), ("runbook", "p2")]
SINGLE = [("g1-l0-0", "p0"), ("runbook", "p2")]


def expected_ids(incident_id: int, pages: list[tuple[str, str]] = LADDER) -> set[str]:
    """What the policy and the runbook owe one incident (by default the ladder twice over, and the
    commander), as the `webhook-id`s the receiver must see."""
    return {f"page-{incident_id}-{stage}-{person}-hook" for stage, person in pages}


@pytest.fixture
def drill(settings: Settings, tmp_path: Path) -> Iterator[tuple[AppContext, dict[str, str], WebhookReceiver]]:
    anchor = datetime.now(UTC)
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "RB-900.yaml").write_text(RUNBOOK)
    env = {
        "MISSIONCTL_DATABASE_URL": settings.database_url,
        "MISSIONCTL_CLOCK_SPEED": str(SPEED),
        "MISSIONCTL_CLOCK_ANCHOR": anchor.isoformat(),
        "MISSIONCTL_WEBHOOK_SECRET": SECRET,
        "MISSIONCTL_ENGINE_LEASE_SECONDS": "60",  # one wall-clock second at SPEED
        "MISSIONCTL_ENGINE_POLL_SECONDS": "0.1",
        "MISSIONCTL_DELIVERY_RATE_PER_DESTINATION": "10000",
        "MISSIONCTL_DELIVERY_BURST_PER_DESTINATION": "10000",
        "MISSIONCTL_LOG_LEVEL": "warning",
    }
    ctx = build_context(settings.model_copy(update={"runbook_dirs": [folder]}), clock=ScaledClock(anchor, SPEED))
    # Signatures are checked against the same sped-up clock; the freshness window scales with it.
    with WebhookReceiver(SECRET, clock=ctx.clock.now, tolerance_seconds=300 * SPEED) as hooks:
        people = "\n".join(PERSON.format(id=f"p{i}", hooks=hooks.base_url) for i in range(3))
        load_catalog(ctx, CATALOG.format(people=people), tmp_path)
        yield ctx, env, hooks
    ctx.dispose()


@contextmanager
def engine_process(env: dict[str, str], name: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "missionctl", "engine", "--worker-id", name],
        env=os.environ | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.communicate(timeout=15)


def declare(ctx: AppContext, n: int, service: str = "drill") -> int:
    with ctx.write() as session:
        incident = incidents.declare(
            session,
            runbook=ctx.runbooks.get("RB-900"),
            service=service,
            title=f"drill {n}",
            severity=None,
            commander="p2",
            actor="test",
            now=ctx.clock.now(),
        )
        return incident.id


def settle(ctx: AppContext, hooks: WebhookReceiver, expected: set[str], timeout: float) -> None:
    """Wait (bounded) until every expected page has arrived and no job is due (later clocks may wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with ctx.read() as session:
            due = session.scalar(select(func.count()).select_from(Job).where(Job.run_at <= ctx.clock.now()))
        if expected <= {r.webhook_id for r in hooks.requests if r.signature_valid} and due == 0:
            return
        time.sleep(0.2)
    missing = sorted(expected - {r.webhook_id for r in hooks.requests if r.signature_valid})
    raise AssertionError(f"{len(missing)} pages never arrived, e.g. {missing[:5]}; {due} jobs due")


def test_sigkill_at_random_moments_loses_no_page(
    drill: tuple[AppContext, dict[str, str], WebhookReceiver],
) -> None:
    ctx, env, hooks = drill
    rng = random.Random(20261127)
    declared: list[int] = []
    kills = 0
    stop_declaring = threading.Event()

    def keep_declaring() -> None:
        n = 0
        while not stop_declaring.is_set() and n < 200:
            declared.append(declare(ctx, n))
            n += 1
            stop_declaring.wait(0.25)

    producer = threading.Thread(target=keep_declaring)
    producer.start()
    try:
        while kills < KILLS:
            with engine_process(env, f"victim-{kills}") as proc:
                time.sleep(rng.uniform(0.5, 1.8))  # start-up takes most of a second: kill before and after
                proc.kill()
                proc.wait(timeout=10)
                kills += 1
    finally:
        stop_declaring.set()
        producer.join(timeout=30)
    assert kills >= KILLS and len(declared) >= 30
    expected = set().union(*(expected_ids(i) for i in declared))
    with engine_process(env, "survivor"):
        settle(ctx, hooks, expected, timeout=120)
    # A receiver honours only correctly signed requests. A sender killed mid-request can leave a
    # truncated body behind, which fails the signature check and is dropped; its page must still arrive
    # whole, from the engine that takes the lease over.
    received = {r.webhook_id for r in hooks.requests if r.signature_valid}
    assert received == expected  # nothing lost, nothing extra
    broken = [r for r in hooks.requests if not r.signature_valid]
    assert all(r.signature_error == "no v1 signature matches the body" for r in broken)
    with ctx.read() as session:
        statuses = set(session.scalars(select(Notification.status).distinct()))
    assert statuses == {"sent"}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_engines_never_send_one_page_twice(drill: tuple[AppContext, dict[str, str], WebhookReceiver]) -> None:
    ctx, env, hooks = drill
    env = env | {"MISSIONCTL_ENGINE_LEASE_SECONDS": "6000"}  # both engines live: no lease may expire here
    with engine_process(env, "left"), engine_process(env, "right"):
        declared = [declare(ctx, n, "single") for n in range(1000)]
        expected = set().union(*(expected_ids(i, SINGLE) for i in declared))
        settle(ctx, hooks, expected, timeout=240)
    assert hooks.unique_ids() == expected
    assert len(hooks.requests) == len(expected)  # not one duplicate delivery
