"""RB-003 on the engine: the per-destination circuit breaker, and replaying dead notifications (API and CLI shapes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from missionctl.auth.roles import Role
from missionctl.clock import FrozenClock
from missionctl.context import AppContext
from missionctl.engine.runner import Engine
from missionctl.notifications.models import Notification
from tests.support.receivers import WebhookReceiver

DEAD = "/api/v1/notifications/dead"


def declare(api: TestClient) -> dict[str, Any]:
    body = {"runbook": "RB-002", "severity": "SEV2", "service": "checkout", "title": "p95 latency 900 ms"}
    response = api.post("/api/v1/incidents", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def timeline(api: TestClient, incident_id: int, kind: str) -> list[dict[str, Any]]:
    entries = api.get(f"/api/v1/incidents/{incident_id}").json()["timeline"]
    return [e for e in entries if e["kind"] == kind]


def to(hooks: WebhookReceiver, path: str) -> list[Any]:
    return [r for r in hooks.requests if r.path == path]


@pytest.fixture
def breaker_engine(engine: Engine, paging_ctx: AppContext) -> Engine:
    """The engine with a breaker that opens after 2 failures for 30 s."""
    from missionctl.engine.breakers import DeliveryBreakers

    paging_ctx.settings = paging_ctx.settings.model_copy(
        update={"delivery_breaker_failures": 2, "delivery_breaker_cooldown_seconds": 30.0}
    )
    engine.deliveries.breakers = DeliveryBreakers(paging_ctx.settings, engine.rng)
    return engine


def test_the_breaker_opens_postpones_without_spending_attempts_says_so_once_and_closes(
    api: TestClient, breaker_engine: Engine, hooks: WebhookReceiver, clock: FrozenClock, paging_ctx: AppContext
) -> None:
    engine = breaker_engine
    hooks.respond_with([503, 503], retry_after=1)
    incident = declare(api)
    engine.run_until_idle()
    clock.advance(timedelta(seconds=10))
    engine.run_until_idle()
    assert len(to(hooks, "/alice")) == 2  # two failures in a row: the breaker of /alice is open now
    for _ in range(3):  # due again while open: postponed, nothing sent, no attempt spent
        clock.advance(timedelta(seconds=8))
        engine.run_until_idle()
    assert len(to(hooks, "/alice")) == 2
    with paging_ctx.read() as session:
        [page] = session.scalars(
            select(Notification).where(Notification.person_id == "alice", Notification.channel == "webhook")
        ).all()
        assert (page.status, page.attempts) == ("failed_temp", 2)
    [opened] = timeline(api, incident["id"], "delivery_breaker_open")
    assert "/alice" in opened["summary"] and "postponed" in opened["summary"]
    clock.advance(timedelta(seconds=30))  # past the cool-down: one trial, which succeeds and closes it
    engine.run_until_idle()
    assert [r.answered for r in to(hooks, "/alice")] == [503, 503, 200]
    assert len({r.webhook_id for r in to(hooks, "/alice")}) == 1
    [closed] = timeline(api, incident["id"], "delivery_breaker_closed")
    assert "resumed" in closed["summary"]
    assert len(timeline(api, incident["id"], "delivery_breaker_open")) == 1


def test_dead_notifications_replay_to_their_destination_with_the_same_webhook_id_or_to_staging_as_marked_copies(
    api: TestClient, engine: Engine, hooks: WebhookReceiver, clock: FrozenClock
) -> None:
    hooks.respond_with([404])
    incident = declare(api)
    engine.run_until_idle()
    [failed] = to(hooks, "/alice")
    [dead] = api.get(DEAD).json()
    assert dead["person_id"] == "alice" and dead["destination"] == hooks.url("/alice")
    assert dead["webhook_id"] == failed.webhook_id

    preview = api.post(f"{DEAD}/replay", json={"dry_run": True}).json()
    assert preview["dry_run"] and preview["matched"] == 1 and preview["queued"][0]["notification_id"] is None
    engine.run_until_idle()
    assert len(to(hooks, "/alice")) == 1  # a dry run queues nothing

    again = api.post(f"{DEAD}/replay", json={"ids": [dead["id"]]}).json()
    assert again["queued"][0]["webhook_id"] == failed.webhook_id and not again["queued"][0]["target_override"]
    engine.run_until_idle()
    [_, replayed] = to(hooks, "/alice")
    assert replayed.webhook_id == failed.webhook_id and replayed.signature_valid  # the receiver can dedupe
    assert replayed.json() == failed.json()  # the same payload, nothing added

    staging = api.post(f"{DEAD}/replay", json={"target": hooks.url("/staging")}).json()
    [item] = staging["queued"]
    assert item["target_override"] and item["webhook_id"] != failed.webhook_id
    engine.run_until_idle()
    [copy] = to(hooks, "/staging")
    assert copy.webhook_id == item["webhook_id"] and copy.signature_valid
    assert (
        copy.json()["replay"]["of"] == dead["id"] and copy.json()["replay"]["original_webhook_id"] == failed.webhook_id
    )
    assert len(timeline(api, incident["id"], "notifications_replayed")) == 2
    assert [d["id"] for d in api.get(DEAD).json()] == [dead["id"]]  # the copies were delivered; the original stays


def test_a_seeded_sample_is_reproducible_and_filters_apply(
    api: TestClient, engine: Engine, hooks: WebhookReceiver, clock: FrozenClock
) -> None:
    hooks.respond_with([404] * 20)
    for _ in range(3):
        declare(api)
        clock.advance(timedelta(seconds=1))
    engine.run_until_idle()
    dead = api.get(DEAD).json()
    assert len(dead) >= 3
    body = {"sample": 2, "seed": 7, "dry_run": True}
    first = [i["original_id"] for i in api.post(f"{DEAD}/replay", json=body).json()["queued"]]
    second = [i["original_id"] for i in api.post(f"{DEAD}/replay", json=body).json()["queued"]]
    assert first == second and len(first) == 2
    later = api.post(f"{DEAD}/replay", json={"since": dead[0]["created_at"], "dry_run": True}).json()
    assert [i["original_id"] for i in later["queued"]] == [
        d["id"] for d in dead if d["created_at"] >= dead[0]["created_at"]
    ][::-1]
    assert api.get(DEAD, params={"channel": "email"}).json() == []


def test_dead_notification_endpoints_check_the_caller(api: TestClient, tokens: dict[Role, str], engine: Engine) -> None:
    viewer = {"Authorization": f"Bearer {tokens[Role.VIEWER]}"}
    assert api.get(DEAD, headers={"Authorization": ""}).status_code == 401
    assert api.post(f"{DEAD}/replay", json={}, headers={"Authorization": ""}).status_code == 401
    assert api.get(DEAD, headers=viewer).status_code == 200
    assert api.post(f"{DEAD}/replay", json={}, headers=viewer).status_code == 403
    bad = api.post(f"{DEAD}/replay", json={"target": "ftp://staging.example"})
    assert bad.status_code == 422 and "http(s)" in bad.text
