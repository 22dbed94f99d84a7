"""Whole escalations with a fast-forwarded clock: pages reach real receivers, acks stop them, clocks fire."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from missionctl.clock import FrozenClock
from missionctl.engine.runner import Engine
from tests.support.receivers import SmtpReceiver, WebhookReceiver


def declare(api: TestClient, **overrides: Any) -> dict[str, Any]:
    body = {"runbook": "RB-002", "severity": "SEV2", "service": "checkout", "title": "p95 latency 900 ms"}
    response = api.post("/api/v1/incidents", json=body | overrides)
    assert response.status_code == 201, response.text
    return dict(response.json())


def paths(hooks: WebhookReceiver) -> list[str]:
    return [r.path for r in hooks.requests if r.path != "/status"]


def kinds(api: TestClient, incident_id: int) -> list[str]:
    return [e["kind"] for e in api.get(f"/api/v1/incidents/{incident_id}").json()["timeline"]]


def test_unacknowledged_page_climbs_the_ladder_and_repeats(
    api: TestClient, engine: Engine, hooks: WebhookReceiver, clock: FrozenClock
) -> None:
    incident = declare(api)
    engine.run_until_idle()
    assert paths(hooks) == ["/alice"]  # alice is on the weekly schedule this week (level 1)
    first = hooks.requests[0]
    assert first.signature_valid and first.json()["type"] == "incident.page"
    assert first.json()["incident"]["id"] == incident["id"]
    assert first.json()["ack_url"].startswith("http://mc.example/ack/")
    for minutes, expected in [(5, "/carol"), (5, "/alice"), (5, "/carol")]:
        clock.advance(timedelta(minutes=minutes))
        engine.run_until_idle()
        assert paths(hooks)[-1] == expected
    clock.advance(timedelta(minutes=5))
    engine.run_until_idle()
    assert len(paths(hooks)) == 4
    read = api.get(f"/api/v1/incidents/{incident['id']}").json()
    assert read["escalation"]["status"] == "exhausted"
    assert "escalation_exhausted" in [e["kind"] for e in read["timeline"]]
    assert [p["person"] for p in read["pages"] if p["channel"] == "webhook"] == ["alice", "carol", "alice", "carol"]


def test_acknowledging_stops_escalation_for_everyone(
    api: TestClient, engine: Engine, hooks: WebhookReceiver, smtp: SmtpReceiver, clock: FrozenClock
) -> None:
    incident = declare(api)
    engine.run_until_idle()
    clock.advance(timedelta(minutes=1))
    acked = api.post(f"/api/v1/incidents/{incident['id']}/acknowledge").json()
    assert acked["escalation"]["status"] == "acknowledged"
    clock.advance(timedelta(minutes=25))  # (at 30 the runbook's own "platform lead" escalation is due)
    engine.run_until_idle()
    assert paths(hooks) == ["/alice"]
    assert smtp.messages == []  # alice's "email after 2 minutes" rule was cancelled by the ack
    read = api.get(f"/api/v1/incidents/{incident['id']}").json()
    statuses = {p["channel"]: p["status"] for p in read["pages"]}
    assert statuses == {"webhook": "sent", "email": "cancelled"}
    assert read["pages"][0]["acknowledged_at"] is not None
    assert read["engagement"]["seconds_to_first_page"] == 0
    assert read["engagement"]["seconds_to_acknowledge"] == 60


def test_delayed_rule_sends_email_when_nobody_acknowledges(
    api: TestClient, engine: Engine, smtp: SmtpReceiver, clock: FrozenClock
) -> None:
    incident = declare(api)
    engine.run_until_idle()
    assert smtp.messages == []
    clock.advance(timedelta(minutes=2))
    engine.run_until_idle()
    [mail] = smtp.wait_for(1)
    assert mail.rcpt_tos == ("alice@example.com",)
    assert f"INC-{incident['id']}" in mail.message["Subject"]
    body = mail.message.get_content()
    assert "Freeze" not in body and "Identify top slow queries from monitoring view." in body
    assert "Acknowledge: http://mc.example/ack/" in body


def test_ack_link_acknowledges_without_logging_in(
    api: TestClient, app_client: TestClient, engine: Engine, hooks: WebhookReceiver, clock: FrozenClock
) -> None:
    incident = declare(api)
    engine.run_until_idle()
    ack_path = hooks.requests[0].json()["ack_url"].removeprefix("http://mc.example")
    anonymous = TestClient(app_client.app)
    page = anonymous.get(ack_path)
    assert page.status_code == 200 and "Acknowledge as alice" in page.text
    assert api.get(f"/api/v1/incidents/{incident['id']}").json()["acknowledged_at"] is None  # GET changes nothing
    done = anonymous.post(ack_path)
    assert done.status_code == 200 and "acknowledged by alice" in done.text
    assert api.get(f"/api/v1/incidents/{incident['id']}").json()["acknowledged_by"] == "alice"
    tampered = anonymous.post(ack_path[:-3] + ("abd" if ack_path.endswith("abc") else "abc"))
    assert tampered.status_code == 401 and tampered.json()["error"]["code"] == "invalid_ack_link"
    clock.advance(timedelta(hours=25))
    assert anonymous.post(ack_path).status_code == 401  # expired


def test_runbook_escalation_targets_resolve_through_the_ownership_map(
    api: TestClient, engine: Engine, hooks: WebhookReceiver, clock: FrozenClock
) -> None:
    incident = declare(api, runbook="RB-001", severity="SEV1", title="5xx after 2.3.1")
    engine.run_until_idle()
    # RB-001: "Escalate to release owner + on-call backend engineer." at once: erin (release_owner) + alice
    assert sorted(paths(hooks)) == ["/alice", "/erin"]
    summary = next(
        e
        for e in api.get(f"/api/v1/incidents/{incident['id']}").json()["timeline"]
        if e["kind"] == "runbook_escalation"
    )["summary"]
    assert summary.startswith("Escalate to release owner + on-call backend engineer.")


def test_rb002_escalates_to_platform_lead_only_if_sustained_30_minutes(
    api: TestClient, engine: Engine, hooks: WebhookReceiver, clock: FrozenClock
) -> None:
    incident = declare(api)
    engine.run_until_idle()
    api.post(f"/api/v1/incidents/{incident['id']}/acknowledge")
    clock.advance(timedelta(minutes=29))
    engine.run_until_idle()
    assert "/carol" not in paths(hooks)
    clock.advance(timedelta(minutes=1))
    engine.run_until_idle()
    assert paths(hooks)[-1] == "/carol"  # platform_lead


def test_recovery_slo_warnings_and_breach(
    api: TestClient, engine: Engine, hooks: WebhookReceiver, clock: FrozenClock
) -> None:
    incident = declare(api)  # RB-002: 45-minute budget
    engine.run_until_idle()
    api.post(f"/api/v1/incidents/{incident['id']}/acknowledge")
    clock.advance(timedelta(minutes=22))
    engine.run_until_idle()
    assert kinds(api, incident["id"]).count("slo_warning") == 0
    clock.advance(timedelta(minutes=1))  # 23 min > 22.5 = 50%
    engine.run_until_idle()
    assert kinds(api, incident["id"]).count("slo_warning") == 1
    clock.advance(timedelta(minutes=13))  # 36 min = 80%
    engine.run_until_idle()
    assert kinds(api, incident["id"]).count("slo_warning") == 2
    before = len(paths(hooks))
    clock.advance(timedelta(minutes=9))  # 45 min: breached
    engine.run_until_idle()
    assert "slo_breached" in kinds(api, incident["id"])
    assert paths(hooks)[before:].count("/carol") >= 1  # the next level is paged at breach


def test_resolved_incident_fires_no_clocks(
    api: TestClient, engine: Engine, hooks: WebhookReceiver, clock: FrozenClock
) -> None:
    incident = declare(api, severity="SEV3")
    engine.run_until_idle()
    api.post(f"/api/v1/incidents/{incident['id']}/resolve", json={"evidence": "p95 back to 80 ms"})
    clock.advance(timedelta(hours=2))
    engine.run_until_idle()
    assert paths(hooks) == ["/alice"]
    assert not {"slo_warning", "slo_breached", "update_overdue", "escalation_paged"} & set(
        kinds(api, incident["id"])[3:]
    )


def test_update_cadence_reminds_the_commander_and_subscribers_get_updates(
    api: TestClient, engine: Engine, hooks: WebhookReceiver, clock: FrozenClock
) -> None:
    incident = declare(api, commander="bob")  # RB-002: every 30 min
    engine.run_until_idle()
    api.post(f"/api/v1/incidents/{incident['id']}/acknowledge")
    clock.advance(timedelta(minutes=30))
    engine.run_until_idle()
    read = api.get(f"/api/v1/incidents/{incident['id']}").json()
    assert read["stakeholder_updates"]["overdue"] is True
    assert "update_overdue" in [e["kind"] for e in read["timeline"]]
    reminder = [r for r in hooks.requests if r.path == "/bob"][-1].json()
    assert reminder["type"] == "incident.update_reminder"
    api.post(f"/api/v1/incidents/{incident['id']}/updates", json={"message": "Index rebuilt; p95 falling."})
    engine.run_until_idle()
    [update] = [r for r in hooks.requests if r.path == "/status"]
    assert update.signature_valid and update.json()["update"]["message"] == "Index rebuilt; p95 falling."
    clock.advance(timedelta(minutes=29))
    engine.run_until_idle()
    assert kinds(api, incident["id"]).count("update_overdue") == 1  # next due at +30 from the update


def test_action_item_reminders_before_and_after_due(
    api: TestClient, engine: Engine, hooks: WebhookReceiver, clock: FrozenClock
) -> None:
    incident = declare(api)
    engine.run_until_idle()
    due = clock.now() + timedelta(days=3)
    api.post(
        f"/api/v1/incidents/{incident['id']}/action-items",
        json={"title": "Add index on orders.created_at", "assignee": "bob", "due_at": due.isoformat()},
    )
    api.post(f"/api/v1/incidents/{incident['id']}/resolve", json={"evidence": "fine"})
    clock.advance(timedelta(days=2, minutes=1))
    engine.run_until_idle()
    bob = [r.json() for r in hooks.requests if r.path == "/bob"]
    assert [b["type"] for b in bob] == ["incident.action_item_reminder"]
    clock.advance(timedelta(days=2))
    engine.run_until_idle()
    assert len([r for r in hooks.requests if r.path == "/bob"]) == 2


def test_temporary_failures_retry_and_permanent_ones_are_dead_lettered(
    api: TestClient, engine: Engine, hooks: WebhookReceiver, clock: FrozenClock
) -> None:
    hooks.respond_with([503, 200], retry_after=7)
    incident = declare(api)
    engine.run_until_idle()
    assert [r.path for r in hooks.requests] == ["/alice"]
    clock.advance(timedelta(seconds=10))  # Retry-After 7 s is the floor of the jittered backoff
    engine.run_until_idle()
    assert [r.path for r in hooks.requests] == ["/alice", "/alice"]
    assert len(hooks.unique_ids()) == 1  # the retry carries the same webhook-id
    read = api.get(f"/api/v1/incidents/{incident['id']}").json()
    assert read["pages"][0]["status"] == "sent"
    hooks.respond_with([404])
    clock.advance(timedelta(minutes=5))
    engine.run_until_idle()
    read = api.get(f"/api/v1/incidents/{incident['id']}").json()
    carol = next(p for p in read["pages"] if p["person"] == "carol")
    assert carol["status"] == "failed_perm" and "404" in carol["last_error"]
    assert "notification_failed" in [e["kind"] for e in read["timeline"]]
    dead = api.get("/api/v1/notifications", params={"status": "failed_perm"}).json()
    assert [d["person_id"] for d in dead] == ["carol"]


def test_no_policy_means_a_visible_breach_at_five_minutes(
    api: TestClient, engine: Engine, hooks: WebhookReceiver, clock: FrozenClock
) -> None:
    incident = declare(api, service="unknown-service")
    engine.run_until_idle()
    assert "escalation_missing" in kinds(api, incident["id"])
    clock.advance(timedelta(minutes=5))
    engine.run_until_idle()
    read = api.get(f"/api/v1/incidents/{incident['id']}").json()
    assert "engage_breach" in [e["kind"] for e in read["timeline"]]
    assert read["engagement"]["page_deadline_state"] == "breached"
