"""The incident API end to end on a real database: declare, work the checklist, update, resolve, close."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from missionctl.clock import FrozenClock
from tests.conftest import START


def declare(client: TestClient, **overrides: Any) -> dict[str, Any]:
    body = {
        "runbook": "RB-001",
        "severity": "SEV1",
        "service": "checkout",
        "title": "Checkout 500s after 2.3.1",
    }
    response = client.post("/api/v1/incidents", json=body | overrides)
    assert response.status_code == 201, response.text
    return dict(response.json())


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def test_declare_copies_the_runbook_and_starts_the_clocks(client: TestClient) -> None:
    incident = declare(client)
    assert incident["status"] == "declared"
    assert incident["runbook_id"] == "RB-001"
    assert len(incident["runbook_hash"]) == 64
    assert [s["title"] for s in incident["steps"]] == [
        "Freeze further deployments and mark incident channel active.",
        "Confirm blast radius with dashboards and synthetic checks.",
        "Rollback to last known healthy release artifact.",
    ]
    assert all(s["status"] == "pending" for s in incident["steps"])
    first = incident["first_response"]
    assert first["within_minutes"] == 5 and first["seconds_left"] == 300 and first["state"] == "running"
    slo = incident["recovery_slo"]
    assert slo["minutes"] == 20 and slo["seconds_left"] == 1200
    assert slo["deadline"].startswith((START + timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%S"))
    assert incident["commander"] == "responder-user"
    assert incident["stakeholder_updates"]["every_minutes"] == 15
    # RB-001 freezes deploys and requests its synthetic checks (an action execution, audited)
    kinds = ["declared", "channel_opened", "escalation_missing", "deploy_frozen", "action_requested"]
    assert [e["kind"] for e in incident["timeline"]] == kinds


def test_declare_location_and_read_back(client: TestClient) -> None:
    response = client.post("/api/v1/incidents", json={"runbook": "RB-002", "service": "db", "title": "slow"})
    assert response.status_code == 201
    assert response.headers["location"] == f"/api/v1/incidents/{response.json()['id']}"
    read = client.get(response.headers["location"]).json()
    assert read["severity"] == "SEV3"  # the runbook's default
    assert read["recovery_slo"]["minutes"] == 45


def test_declare_rejects_bad_input_with_named_fields(client: TestClient) -> None:
    response = client.post("/api/v1/incidents", json={"runbook": "RB-001", "severity": "SEV9", "service": "x"})
    assert response.status_code == 422
    fields = {p["field"] for p in response.json()["error"]["details"]}
    assert {"body.severity", "body.title"} <= fields
    unknown = client.post("/api/v1/incidents", json={"runbook": "RB-999", "service": "x", "title": "t"})
    assert unknown.status_code == 404 and error_code(unknown) == "runbook_not_found"
    not_json = client.post("/api/v1/incidents", content=b"{not json", headers={"content-type": "application/json"})
    assert not_json.status_code == 422 and error_code(not_json) == "invalid_input"


def test_clocks_move_with_time(client: TestClient, clock: FrozenClock) -> None:
    incident = declare(client)
    clock.advance(timedelta(minutes=21))
    read = client.get(f"/api/v1/incidents/{incident['id']}").json()
    assert read["recovery_slo"]["state"] == "breached" and read["recovery_slo"]["seconds_left"] == -60
    assert read["first_response"]["state"] == "breached"
    assert read["stakeholder_updates"]["overdue"] is True


def test_checklist_met_within_deadline(client: TestClient, clock: FrozenClock) -> None:
    incident = declare(client)
    url = f"/api/v1/incidents/{incident['id']}/steps"
    for position in (1, 2):
        clock.advance(timedelta(minutes=1))
        assert client.post(f"{url}/{position}", json={"status": "done", "note": "ok"}).status_code == 200
    read = client.post(f"{url}/3", json={"status": "skipped", "note": "no rollback needed"}).json()
    step = read["steps"][2]
    assert (step["status"], step["completed_by"], step["note"]) == (
        "skipped",
        "responder-user",
        "no rollback needed",
    )
    assert read["first_response"]["state"] == "met"
    assert "first_response_completed" in [e["kind"] for e in read["timeline"]]


def test_checklist_completed_late_is_missed(client: TestClient, clock: FrozenClock) -> None:
    incident = declare(client)
    clock.advance(timedelta(minutes=6))
    for position in (1, 2, 3):
        read = client.post(f"/api/v1/incidents/{incident['id']}/steps/{position}", json={"status": "done"}).json()
    assert read["first_response"]["state"] == "missed"
    missing = client.post(f"/api/v1/incidents/{incident['id']}/steps/4", json={"status": "done"})
    assert missing.status_code == 404 and error_code(missing) == "step_not_found"


def test_acknowledge_is_recorded_once(client: TestClient, clock: FrozenClock) -> None:
    incident = declare(client)
    clock.advance(timedelta(seconds=90))
    first = client.post(f"/api/v1/incidents/{incident['id']}/acknowledge").json()
    clock.advance(timedelta(seconds=30))
    second = client.post(f"/api/v1/incidents/{incident['id']}/acknowledge").json()
    assert first["acknowledged_at"] == second["acknowledged_at"]
    assert [e["kind"] for e in second["timeline"]].count("acknowledged") == 1
    assert second["status"] == "declared"


def test_invalid_transition_is_409_with_stable_code(client: TestClient) -> None:
    incident = declare(client)
    response = client.post(f"/api/v1/incidents/{incident['id']}/transitions", json={"to": "closed"})
    assert response.status_code == 409
    assert error_code(response) == "invalid_transition"
    assert "declared" in response.json()["error"]["message"]
    via_transition = client.post(f"/api/v1/incidents/{incident['id']}/transitions", json={"to": "resolved"})
    assert via_transition.status_code == 409 and error_code(via_transition) == "recovery_confirmation_required"


def test_updates_restart_the_cadence(client: TestClient, clock: FrozenClock) -> None:
    incident = declare(client)
    clock.advance(timedelta(minutes=10))
    response = client.post(f"/api/v1/incidents/{incident['id']}/updates", json={"message": "Rolling back 2.3.1."})
    assert response.status_code == 201
    assert response.json()["author"] == "responder-user"
    read = client.get(f"/api/v1/incidents/{incident['id']}").json()
    due = read["stakeholder_updates"]["next_update_due_at"]
    assert due.startswith((START + timedelta(minutes=25)).strftime("%Y-%m-%dT%H:%M"))
    assert read["updates"][0]["message"] == "Rolling back 2.3.1."


def test_severity_change_shortens_cadence(client: TestClient) -> None:
    incident = declare(client, runbook="RB-002", severity="SEV3")
    assert incident["stakeholder_updates"]["every_minutes"] == 30
    read = client.patch(f"/api/v1/incidents/{incident['id']}", json={"severity": "SEV1"}).json()
    assert read["severity"] == "SEV1" and read["stakeholder_updates"]["every_minutes"] == 15
    assert read["timeline"][-1]["kind"] == "severity_changed"


def test_role_hand_over_is_recorded(client: TestClient) -> None:
    incident = declare(client, commander="alice")
    url = f"/api/v1/incidents/{incident['id']}/roles"
    client.put(f"{url}/scribe", json={"assignee": "carol"})
    read = client.put(f"{url}/commander", json={"assignee": "bob"}).json()
    assert {r["role"]: r["assignee"] for r in read["roles"]} == {"commander": "bob", "scribe": "carol"}
    assert read["timeline"][-1]["summary"] == "commander handed over from alice to bob"
    assert client.put(f"{url}/chef", json={"assignee": "x"}).status_code == 422


def test_full_lifecycle_to_closed(client: TestClient, clock: FrozenClock) -> None:
    incident = declare(client)
    iid = incident["id"]
    base = f"/api/v1/incidents/{iid}"
    assert client.post(f"{base}/transitions", json={"to": "investigating"}).status_code == 200
    assert client.post(f"{base}/transitions", json={"to": "mitigated", "note": "rolled back"}).status_code == 200
    clock.advance(timedelta(minutes=12))
    refused = client.post(f"{base}/resolve", json={"evidence": "error rate 0.1% for 10 min"})
    assert refused.status_code == 409 and error_code(refused) == "action_items_required"
    assert "SEV1" in refused.json()["error"]["message"]
    due = (START + timedelta(days=7)).isoformat()
    item = client.post(f"{base}/action-items", json={"title": "Canary for checkout", "assignee": "bob", "due_at": due})
    assert item.status_code == 201
    resolved = client.post(f"{base}/resolve", json={"evidence": "error rate 0.1% for 10 min", "confirmed_by": "dana"})
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert body["status"] == "resolved"
    assert body["recovery_slo"]["state"] == "met"
    assert body["recovery_confirmation"]["confirmed_by"] == "dana"
    assert body["stakeholder_updates"]["next_update_due_at"] is None
    not_yet = client.post(f"{base}/transitions", json={"to": "closed"})
    assert not_yet.status_code == 409 and error_code(not_yet) == "postmortem_incomplete"
    draft = client.get(f"{base}/postmortem").json()
    assert draft["draft"] is True and "Canary for checkout" in draft["markdown"]
    assert client.post(f"{base}/postmortem/complete").status_code == 200
    closed = client.post(f"{base}/transitions", json={"to": "closed"})
    assert closed.status_code == 200 and closed.json()["closed_at"] is not None
    assert client.post(f"{base}/messages", json={"body": "late note"}).status_code == 409


def test_resolve_after_deadline_records_breach(client: TestClient, clock: FrozenClock) -> None:
    incident = declare(client, severity="SEV3")
    clock.advance(timedelta(minutes=25))
    body = client.post(f"/api/v1/incidents/{incident['id']}/resolve", json={"evidence": "green"}).json()
    assert body["recovery_slo"]["state"] == "missed"
    resolved = [e for e in body["timeline"] if e["kind"] == "status_changed"][-1]  # then RB-001 lifts its freeze
    assert resolved["data"]["recovery_slo_met"] is False


def test_reopen_after_resolve(client: TestClient) -> None:
    incident = declare(client, severity="SEV4")
    base = f"/api/v1/incidents/{incident['id']}"
    client.post(f"{base}/resolve", json={"evidence": "green"})
    reopened = client.post(f"{base}/transitions", json={"to": "investigating"}).json()
    assert reopened["status"] == "investigating" and reopened["resolved_at"] is None
    assert reopened["timeline"][-1]["summary"] == "Reopened"


def test_channel_messages(client: TestClient, clock: FrozenClock) -> None:
    incident = declare(client)
    base = f"/api/v1/incidents/{incident['id']}/messages"
    client.post(base, json={"body": "Looking at the deploy dashboard"})
    clock.advance(timedelta(seconds=5))
    client.post(base, json={"body": "2.3.1 ships a new DB driver"})
    assert [m["body"] for m in client.get(base).json()] == [
        "Looking at the deploy dashboard",
        "2.3.1 ships a new DB driver",
    ]


def test_postmortem_edit_and_export(client: TestClient) -> None:
    incident = declare(client, severity="SEV4")
    base = f"/api/v1/incidents/{incident['id']}"
    client.post(f"{base}/messages", json={"body": "pipe | in text"})
    draft = client.get(f"{base}/postmortem/export")
    assert draft.headers["content-type"].startswith("text/markdown")
    assert f"INC-{incident['id']}" in draft.headers["content-disposition"]
    assert "pipe \\| in text" in draft.text
    early = client.post(f"{base}/postmortem/complete")
    assert early.status_code == 409 and error_code(early) == "incident_not_resolved"
    saved = client.put(f"{base}/postmortem", json={"markdown": "# Our words"}).json()
    assert saved["draft"] is False
    assert client.get(f"{base}/postmortem/export").text == "# Our words"


def test_list_filters_and_pages(client: TestClient) -> None:
    ids = [declare(client, service=f"svc-{i % 2}", severity="SEV3" if i % 3 else "SEV2")["id"] for i in range(7)]
    assert client.post(f"/api/v1/incidents/{ids[1]}/resolve", json={"evidence": "ok"}).status_code == 200
    everything = client.get("/api/v1/incidents").json()
    assert [i["id"] for i in everything] == sorted(ids, reverse=True)
    open_ones = client.get("/api/v1/incidents", params={"open": "true"}).json()
    assert ids[1] not in [i["id"] for i in open_ones] and len(open_ones) == 6
    svc = client.get("/api/v1/incidents", params={"service": "svc-1"}).json()
    assert {i["service"] for i in svc} == {"svc-1"}
    page1 = client.get("/api/v1/incidents", params={"limit": 3}).json()
    page2 = client.get("/api/v1/incidents", params={"limit": 3, "before_id": page1[-1]["id"]}).json()
    assert [i["id"] for i in page1 + page2] == sorted(ids, reverse=True)[:6]
    assert client.get("/api/v1/incidents", params={"status": "bogus"}).status_code == 422


def test_unknown_incident_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/incidents/424242")
    assert response.status_code == 404 and error_code(response) == "incident_not_found"
