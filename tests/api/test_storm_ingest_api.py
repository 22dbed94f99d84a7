"""RB-003 on the way in: repeats are applied once, `webhook-id` idempotency, sampled dead-letter replay."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from missionctl.actions import automation
from missionctl.actions.builtin import ActionCall, load_builtins
from missionctl.actions.models import ActionExecution
from missionctl.auth.roles import Role
from missionctl.catalog import loader as catalog_loader
from missionctl.catalog import service as catalog
from missionctl.clock import FrozenClock
from missionctl.context import AppContext
from missionctl.engine.models import Job
from missionctl.errors import InvalidInput
from missionctl.incidents.models import Incident
from missionctl.notifications.models import Notification
from missionctl.signals import requestids
from missionctl.signals.integrations import IntegrationKind
from missionctl.signals.models import DeadLetter, InboundRequestId, SignalAlert
from missionctl.webhooks import replay
from missionctl.webhooks.actions import ReplaySampleParams
from tests.api.test_ingest_api import AM, EXAMPLES, PD, bearer, fixture, new_key


@pytest.fixture
def with_catalog(ctx: AppContext) -> AppContext:
    with ctx.write() as session:
        catalog.load_catalog(session, documents=catalog_loader.read_paths([EXAMPLES]), now=ctx.clock.now())
    return ctx


def count(ctx: AppContext, model: Any) -> int:
    with ctx.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def pd_event(key: str, dedup: str = "disk-full-1") -> dict[str, Any]:
    return {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {"summary": "webhook retry queue depth 40k", "source": "gw-1", "severity": "critical"},
    }


def test_repeated_deliveries_are_applied_once_one_incident_and_one_set_of_pages(
    with_catalog: AppContext, app_client: TestClient
) -> None:
    am = new_key(with_catalog, IntegrationKind.ALERTMANAGER, "payments-db")
    pd = new_key(with_catalog, IntegrationKind.PAGERDUTY, "payments-db")
    for _ in range(5):
        assert app_client.post(AM, json=fixture("alertmanager_firing"), headers=bearer(am)).status_code == 202
        assert app_client.post(PD, json=pd_event(pd)).status_code == 202
    with with_catalog.read() as session:
        counts = sorted(a.received_count for a in session.scalars(select(SignalAlert)))
    assert counts == [5, 5, 5]  # two Alertmanager fingerprints and one PagerDuty dedup_key, five times each
    incidents = count(with_catalog, Incident)
    assert incidents == 2  # RB-002 for the latency alerts, RB-003 for the retry queue
    pages = count(with_catalog, Notification)
    assert app_client.post(AM, json=fixture("alertmanager_firing"), headers=bearer(am)).status_code == 202
    assert (count(with_catalog, Incident), count(with_catalog, Notification)) == (incidents, pages)


def test_a_webhook_id_seen_before_is_answered_202_without_applying_it_again(
    with_catalog: AppContext, app_client: TestClient, clock: FrozenClock
) -> None:
    am = new_key(with_catalog, IntegrationKind.ALERTMANAGER, "payments-db")
    pd = new_key(with_catalog, IntegrationKind.PAGERDUTY, "payments-db")
    first = app_client.post(AM, json=fixture("alertmanager_firing"), headers=bearer(am) | {"webhook-id": "msg_1"})
    assert first.status_code == 202 and first.json()["status"] == "accepted"
    again = app_client.post(AM, json=fixture("alertmanager_firing"), headers=bearer(am) | {"webhook-id": "msg_1"})
    assert again.status_code == 202 and again.json() == {"status": "duplicate", "alerts": 0, "incidents": []}
    for _ in range(2):
        answer = app_client.post(PD, json=pd_event(pd), headers={"webhook-id": "msg_1"})  # another integration
        assert answer.status_code == 202 and answer.json()["status"] == "success"
    with with_catalog.read() as session:
        counts = sorted(a.received_count for a in session.scalars(select(SignalAlert)))
    assert counts == [1, 1, 1]
    other = app_client.post(AM, json=fixture("alertmanager_firing"), headers=bearer(am) | {"webhook-id": "msg_2"})
    assert other.json()["status"] == "accepted"
    assert count(with_catalog, InboundRequestId) == 3

    # Kept at least 24 hours: the hourly job forgets them after that.
    with with_catalog.read() as session:
        [prune] = session.scalars(select(Job).where(Job.kind == requestids.PRUNE)).all()
    clock.advance(timedelta(hours=24, minutes=30))
    with with_catalog.write() as session:
        requestids.prune(session, payload={}, now=clock.now())
    assert count(with_catalog, InboundRequestId) == 0
    assert prune.run_at > clock.now() - timedelta(hours=25)
    late = app_client.post(AM, json=fixture("alertmanager_firing"), headers=bearer(am) | {"webhook-id": "msg_1"})
    assert late.json()["status"] == "accepted"


def test_malformed_deliveries_are_dead_letters_even_with_a_repeated_webhook_id(
    with_catalog: AppContext, app_client: TestClient
) -> None:
    am = new_key(with_catalog, IntegrationKind.ALERTMANAGER, "payments-db")
    for _ in range(3):
        answer = app_client.post(AM, content=b"{not json", headers=bearer(am) | {"webhook-id": "msg_bad"})
        assert answer.status_code == 422
    assert count(with_catalog, DeadLetter) == 3  # refusals are not remembered: a fixed retry gets in
    assert count(with_catalog, InboundRequestId) == 0


def test_malformed_events_ask_the_open_rb003_incident_for_its_automation_once(
    with_catalog: AppContext, app_client: TestClient
) -> None:
    """RB-003 automates "adaptive backoff + dead letter queue routing" `when: {malformed_events: dead_letter}`."""
    am = new_key(with_catalog, IntegrationKind.ALERTMANAGER, "payments-db")
    pd = new_key(with_catalog, IntegrationKind.PAGERDUTY, "payments-db")
    assert app_client.post(AM, content=b"{not json", headers=bearer(am)).status_code == 422
    assert count(with_catalog, ActionExecution) == 0  # no incident open yet: nothing to ask
    assert app_client.post(PD, json=pd_event(pd)).status_code == 202  # the retry storm opens RB-003
    assert app_client.post(AM, json=fixture("alertmanager_firing"), headers=bearer(am)).status_code == 202  # RB-002
    for _ in range(3):
        assert app_client.post(AM, content=b"{not json", headers=bearer(am)).status_code == 422
    with with_catalog.read() as session:
        letters = session.scalars(select(DeadLetter.id).order_by(DeadLetter.id)).all()
        runs = session.scalars(select(ActionExecution)).all()
        storm = session.scalars(select(Incident).where(Incident.runbook_id == "RB-003")).one()
    assert [(r.incident_id, r.action, r.requested_by) for r in runs] == [
        (storm.id, "webhooks.adaptive_backoff", "rule:RB-003/automation/0")
    ]  # asked once, for RB-003 only (RB-002 names no such fact), not once per dead letter
    assert runs[0].triggered_by == f"signal:dead_letter:{letters[1]}"  # the first bad event after it opened


def test_a_refused_automation_request_does_not_cost_the_dead_letter(
    with_catalog: AppContext, app_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    am = new_key(with_catalog, IntegrationKind.ALERTMANAGER, "payments-db")
    pd = new_key(with_catalog, IntegrationKind.PAGERDUTY, "payments-db")
    assert app_client.post(PD, json=pd_event(pd)).status_code == 202  # RB-003 open

    def refuse(session: Session, **_: object) -> list[ActionExecution]:
        session.add(ActionExecution(action="half-written", requested_by="x", triggered_by="x"))  # undone with it
        raise InvalidInput("automation params no longer validate", code="invalid_params")

    monkeypatch.setattr(automation, "on_signal", refuse)
    assert app_client.post(AM, content=b"{not json", headers=bearer(am)).status_code == 422
    assert count(with_catalog, DeadLetter) == 1  # kept, and answered as a refusal, not a 503 to retry forever
    assert count(with_catalog, ActionExecution) == 0


def test_bulk_dead_letter_replay_takes_a_seeded_sample(
    with_catalog: AppContext, app_client: TestClient, tokens: dict[Role, str]
) -> None:
    am = new_key(with_catalog, IntegrationKind.ALERTMANAGER, "payments-db")
    for i in range(6):
        app_client.post(AM, content=f"broken {i}".encode(), headers=bearer(am))
    headers = bearer(tokens[Role.RESPONDER])
    answer = app_client.post("/api/v1/dead-letters/replay", params={"sample": 2, "seed": 3}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["replayed"] == [] and len(body["still_failing"]) == 2  # still broken, but only two were tried
    viewer = bearer(tokens[Role.VIEWER])
    assert app_client.post("/api/v1/dead-letters/replay", params={"sample": 2}, headers=viewer).status_code == 403


def test_replay_sample_action_dry_run_lists_and_the_real_run_summarises(
    with_catalog: AppContext, app_client: TestClient, clock: FrozenClock
) -> None:
    am = new_key(with_catalog, IntegrationKind.ALERTMANAGER, "payments-db")
    for i in range(5):
        app_client.post(AM, content=json.dumps({"broken": i}).encode(), headers=bearer(am))
    action = load_builtins()["webhooks.replay_sample"]
    params = ReplaySampleParams(source="missionctl-inbound", sample=3, seed=1, target_url="https://staging.example/in")

    def call(dry_run: bool) -> ActionCall[ReplaySampleParams]:
        return ActionCall(with_catalog, params, "payments-db", None, dry_run, "person:alice", clock.now())

    preview = action.run(call(True))
    assert preview.result == "dry_run" and len(preview.output["would_send"]) == 3
    assert all(item["to"] == "https://staging.example/in" for item in preview.output["would_send"])

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response([200, 500, 422][len(seen) - 1])

    events = replay.choose(
        replay.read_events(with_catalog, "missionctl-inbound", since=None, until=None, timeout=5), 3, 1
    )
    assert [e.id for e in events] == [w["id"] for w in preview.output["would_send"]]
    results = replay.send_all(
        events, params.target_url, timeout=5, source=params.source, transport=httpx.MockTransport(answer)
    )
    figures = replay.summarise(results)
    assert (figures["sent"], figures["2xx"], figures["4xx"], figures["5xx"], figures["errors"]) == (3, 1, 1, 1, 0)
    assert json.loads(seen[0].content) in ({"broken": i} for i in range(5))
    assert seen[0].headers["x-missionctl-replay"].startswith("missionctl-inbound/dead-letter:")


@pytest.mark.parametrize("bad", [{"source": "ftp://x"}, {"target_url": "not a url"}, {"sample": 0}, {"surprise": 1}])
def test_replay_sample_params_are_checked(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ReplaySampleParams.model_validate({"target_url": "https://staging.example/in"} | bad)


def test_adaptive_backoff_action_reports_the_protections_at_work(
    with_catalog: AppContext, app_client: TestClient, clock: FrozenClock
) -> None:
    from missionctl.webhooks.actions import BackoffStatusParams

    am = new_key(with_catalog, IntegrationKind.ALERTMANAGER, "payments-db")
    for i in range(4):
        app_client.post(AM, content=json.dumps({"broken": i}).encode(), headers=bearer(am))
    action = load_builtins()["webhooks.adaptive_backoff"]

    def call(dry_run: bool) -> ActionCall[BackoffStatusParams]:
        return ActionCall(with_catalog, BackoffStatusParams(), "payments-db", None, dry_run, "rule:RB-003", clock.now())

    preview = action.run(call(True))
    assert preview.result == "dry_run" and "Would count" in preview.summary
    report = action.run(call(False))
    assert report.result == "succeeded"
    assert report.output["inbound_refused_pending"] == {"invalid_payload": 4}
    assert "4 refused inbound events" in report.summary
