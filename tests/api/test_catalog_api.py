"""The catalog and on-call API on a real database: CRUD with roles, reference checks, iCal feeds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from missionctl.auth.roles import Role
from missionctl.catalog import service
from missionctl.catalog.loader import read_paths
from missionctl.clock import FrozenClock
from missionctl.context import AppContext
from tests.conftest import START, as_role

EXAMPLES = Path(__file__).parents[2] / "examples/catalog"

TEAM = {"id": "search", "name": "Search", "members": ["alice", "dave"], "escalation_policy": "backend-default"}


@pytest.fixture
def catalog(ctx: AppContext) -> None:
    with ctx.write() as session:
        service.load_catalog(session, documents=read_paths([EXAMPLES]), now=ctx.clock.now())


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


@pytest.mark.usefixtures("catalog")
def test_viewers_read_every_kind(app_client: TestClient, tokens: dict[Role, str]) -> None:
    viewer = as_role(app_client, tokens, Role.VIEWER)
    expected = {
        "/api/v1/services": ["checkout", "payments-db", "webhooks"],
        "/api/v1/teams": ["backend", "integrations", "platform"],
        "/api/v1/people": ["alice", "bob", "carol", "dave", "erin", "frank"],
        "/api/v1/schedules": ["backend-weekly", "platform-primary"],
        "/api/v1/escalation-policies": ["backend-default", "integrations-default", "platform-default"],
    }
    for path, ids in expected.items():
        response = app_client.get(path, headers=viewer)
        assert response.status_code == 200, response.text
        assert [item["id"] for item in response.json()] == ids
    checkout = app_client.get("/api/v1/services/checkout", headers=viewer).json()
    assert checkout["tier"] == 1 and checkout["team"] == "backend"
    assert checkout["escalation_policy"] is None and checkout["effective_escalation_policy"] == "backend-default"
    assert checkout["roles"] == {
        "release_owner": {"person": "bob", "team": None, "schedule": None},
        "platform_lead": {"person": "dave", "team": None, "schedule": None},
    }
    assert checkout["created_at"].startswith("2026-03-02T09:00:00")
    schedule = app_client.get("/api/v1/schedules/backend-weekly", headers=viewer).json()
    assert schedule["layers"][1]["restrict"]["from"] == "09:00:00"
    subscribers = app_client.get("/api/v1/subscribers", headers=viewer).json()
    assert [(s["service"], s["address"]) for s in subscribers] == [("checkout", "support-leads@example.com")]


@pytest.mark.usefixtures("catalog")
def test_reads_need_a_token_and_unknown_ids_are_404(app_client: TestClient, tokens: dict[Role, str]) -> None:
    assert app_client.get("/api/v1/services").status_code == 401
    missing = app_client.get("/api/v1/teams/security", headers=as_role(app_client, tokens, Role.VIEWER))
    assert missing.status_code == 404 and error_code(missing) == "team_not_found"
    policy = app_client.get("/api/v1/escalation-policies/x", headers=as_role(app_client, tokens, Role.VIEWER))
    assert error_code(policy) == "escalation_policy_not_found"


@pytest.mark.usefixtures("catalog")
def test_writes_need_an_admin(app_client: TestClient, tokens: dict[Role, str]) -> None:
    for role in (Role.VIEWER, Role.RESPONDER):
        headers = as_role(app_client, tokens, role)
        put = app_client.put("/api/v1/teams/search", json=TEAM, headers=headers)
        assert put.status_code == 403 and error_code(put) == "permission_denied"
        assert app_client.delete("/api/v1/services/webhooks", headers=headers).status_code == 403
        body = {"service": "*", "kind": "email", "address": "x@example.com"}
        assert app_client.post("/api/v1/subscribers", json=body, headers=headers).status_code == 403
    assert app_client.put("/api/v1/teams/search", json=TEAM).status_code == 401


@pytest.mark.usefixtures("catalog")
def test_admin_creates_replaces_and_deletes(
    app_client: TestClient, tokens: dict[Role, str], clock: FrozenClock
) -> None:
    admin = as_role(app_client, tokens, Role.ADMIN)
    created = app_client.put("/api/v1/teams/search", json=TEAM, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["members"] == ["alice", "dave"]
    same = app_client.put("/api/v1/teams/search", json=TEAM, headers=admin)
    assert same.status_code == 200 and same.json()["updated_at"] == created.json()["updated_at"]
    clock.advance(timedelta(minutes=1))
    changed = app_client.put("/api/v1/teams/search", json=TEAM | {"members": ["dave"]}, headers=admin)
    assert changed.status_code == 200 and changed.json()["members"] == ["dave"]
    assert changed.json()["updated_at"] != created.json()["updated_at"]
    assert changed.json()["created_at"] == created.json()["created_at"]
    deleted = app_client.delete("/api/v1/teams/search", headers=admin)
    assert deleted.status_code == 204
    assert app_client.get("/api/v1/teams/search", headers=admin).status_code == 404


@pytest.mark.usefixtures("catalog")
def test_put_checks_references_and_ids(app_client: TestClient, tokens: dict[Role, str]) -> None:
    admin = as_role(app_client, tokens, Role.ADMIN)
    bad_refs = app_client.put(
        "/api/v1/teams/search", json=TEAM | {"members": ["alice", "zoe"], "schedule": "nightly"}, headers=admin
    )
    assert bad_refs.status_code == 422 and error_code(bad_refs) == "unknown_reference"
    assert bad_refs.json()["error"]["details"] == [
        {"field": "members.1", "message": "unknown person 'zoe' (not in the catalog)"},
        {"field": "schedule", "message": "unknown schedule 'nightly' (not in the catalog)"},
    ]
    service_body = {"id": "search", "name": "Search", "team": "backend", "runbooks": ["RB-404"]}
    runbook = app_client.put("/api/v1/services/search", json=service_body, headers=admin)
    assert runbook.status_code == 422 and error_code(runbook) == "unknown_reference"
    mismatch = app_client.put("/api/v1/teams/other", json=TEAM, headers=admin)
    assert mismatch.status_code == 422 and error_code(mismatch) == "id_mismatch"
    invalid = app_client.put("/api/v1/teams/search", json=TEAM | {"lead": "alice"}, headers=admin)
    assert invalid.status_code == 422 and error_code(invalid) == "invalid_input"
    assert app_client.get("/api/v1/teams/search", headers=admin).status_code == 404


@pytest.mark.usefixtures("catalog")
def test_deleting_something_in_use_is_a_conflict(app_client: TestClient, tokens: dict[Role, str]) -> None:
    admin = as_role(app_client, tokens, Role.ADMIN)
    person = app_client.delete("/api/v1/people/bob", headers=admin)
    assert person.status_code == 409 and error_code(person) == "catalog_in_use"
    assert person.json()["error"]["details"] == [
        "schedule backend-weekly (layers.0.participants.1)",
        "team backend (members.1)",
        "service checkout (roles.release_owner.person)",
    ]
    assert error_code(app_client.delete("/api/v1/services/checkout", headers=admin)) == "catalog_in_use"
    assert app_client.delete("/api/v1/services/payments-db", headers=admin).status_code == 204


@pytest.mark.usefixtures("catalog")
def test_every_kind_round_trips_through_put(app_client: TestClient, tokens: dict[Role, str]) -> None:
    admin = as_role(app_client, tokens, Role.ADMIN)
    for path in ("people/alice", "schedules/backend-weekly", "escalation-policies/backend-default", "teams/backend"):
        read = app_client.get(f"/api/v1/{path}", headers=admin).json()
        body = {k: v for k, v in read.items() if k not in ("created_at", "updated_at")}
        again = app_client.put(f"/api/v1/{path}", json=body, headers=admin)
        assert again.status_code == 200, (path, again.text)
        assert again.json() == read, path


@pytest.mark.usefixtures("catalog")
def test_subscribers_create_list_delete(app_client: TestClient, tokens: dict[Role, str]) -> None:
    admin = as_role(app_client, tokens, Role.ADMIN)
    body = {"service": "*", "kind": "webhook", "address": "https://status.example.com/hooks/T0/secret"}
    created = app_client.post("/api/v1/subscribers", json=body, headers=admin)
    assert created.status_code == 201, created.text
    again = app_client.post("/api/v1/subscribers", json=body | {"name": "Status page"}, headers=admin)
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    assert again.json()["name"] == "Status page"
    unknown = app_client.post("/api/v1/subscribers", json=body | {"service": "legacy"}, headers=admin)
    assert unknown.status_code == 422 and error_code(unknown) == "unknown_reference"
    listed = app_client.get("/api/v1/subscribers", headers=as_role(app_client, tokens, Role.VIEWER)).json()
    assert [s["address"] for s in listed] == ["support-leads@example.com", "https://status.example.com/…"]
    assert app_client.delete(f"/api/v1/subscribers/{created.json()['id']}", headers=admin).status_code == 204
    gone = app_client.delete(f"/api/v1/subscribers/{created.json()['id']}", headers=admin)
    assert gone.status_code == 404 and error_code(gone) == "subscriber_not_found"


@pytest.mark.usefixtures("catalog")
def test_contact_addresses_that_may_hold_secrets_are_shown_to_admins_only(
    app_client: TestClient, tokens: dict[Role, str]
) -> None:
    admin = as_role(app_client, tokens, Role.ADMIN)
    person = app_client.get("/api/v1/people/erin", headers=admin).json()
    person["contact_methods"].append(
        {"id": "push", "kind": "apprise", "address": "ntfy://user:pass@ntfy.example.com/e"}
    )
    body = {k: v for k, v in person.items() if k not in ("created_at", "updated_at")}
    assert app_client.put("/api/v1/people/erin", json=body, headers=admin).status_code == 200
    seen_by_admin = app_client.get("/api/v1/people/erin", headers=admin).json()["contact_methods"]
    assert seen_by_admin[-1]["address"] == "ntfy://user:pass@ntfy.example.com/e"
    viewer = as_role(app_client, tokens, Role.VIEWER)
    seen_by_viewer = app_client.get("/api/v1/people/erin", headers=viewer).json()["contact_methods"]
    assert [m["address"] for m in seen_by_viewer] == ["mission-control", "erin@example.com", "ntfy://…"]


@pytest.mark.usefixtures("catalog")
def test_who_is_on_call(app_client: TestClient, tokens: dict[Role, str], clock: FrozenClock) -> None:
    viewer = as_role(app_client, tokens, Role.VIEWER)
    now = app_client.get("/api/v1/oncall", headers=viewer)
    assert now.status_code == 200, now.text
    entries = {e["schedule"]: e for e in now.json()["entries"]}
    backend = entries["backend-weekly"]
    assert (backend["person"], backend["person_name"], backend["teams"]) == ("carol", "Carol Nguyen", ["backend"])
    assert backend["next_handoff"]["at"].startswith("2026-03-02T16:00:00")  # 17:00 Berlin: business hours end
    assert backend["next_handoff"]["person"] == "alice"
    assert entries["platform-primary"]["person"] == "erin"
    clock.set(START.replace(hour=20))
    team = app_client.get("/api/v1/oncall", params={"team": "backend"}, headers=viewer).json()
    assert [(e["schedule"], e["person"]) for e in team["entries"]] == [("backend-weekly", "alice")]
    no_schedule = app_client.get("/api/v1/oncall", params={"team": "integrations"}, headers=viewer).json()
    assert no_schedule["entries"] == []
    assert no_schedule["notes"] == [
        "team integrations has no schedule: a page to it goes to every member (Frank Ito, Erin Rossi)"
    ]
    missing = app_client.get("/api/v1/oncall", params={"team": "security"}, headers=viewer)
    assert missing.status_code == 404 and error_code(missing) == "team_not_found"


@pytest.mark.usefixtures("catalog")
def test_ical_feeds_accept_a_viewer_token_in_the_url(app_client: TestClient, tokens: dict[Role, str]) -> None:
    feed = app_client.get("/api/v1/schedules/backend-weekly/ical", params={"token": tokens[Role.VIEWER]})
    assert feed.status_code == 200, feed.text
    assert feed.headers["content-type"] == "text/calendar; charset=utf-8"
    text = feed.text
    assert text.startswith("BEGIN:VCALENDAR") and "X-WR-CALNAME:On call: Backend on-call" in text
    assert "SUMMARY:On call: carol (Backend on-call)" in text
    # The range is now - 7 days to now + 60 days: the shift that began on 23 February is there.
    assert "DTSTART:20260223" in text and "DTSTART:20260501" in text and "DTSTART:20260502" not in text
    person = app_client.get("/api/v1/people/alice/ical", params={"token": tokens[Role.VIEWER]})
    assert person.status_code == 200
    assert "SUMMARY:On call: alice (Backend on-call)" in person.text and "carol" not in person.text
    by_header = app_client.get("/api/v1/people/alice/ical", headers=as_role(app_client, tokens, Role.ADMIN))
    assert by_header.status_code == 200


@pytest.mark.usefixtures("catalog")
def test_ical_token_rules(app_client: TestClient, tokens: dict[Role, str]) -> None:
    assert app_client.get("/api/v1/schedules/backend-weekly/ical").status_code == 401
    wrong = app_client.get("/api/v1/schedules/backend-weekly/ical", params={"token": "mc_nope"})
    assert wrong.status_code == 401 and error_code(wrong) == "invalid_token"
    admin_in_url = app_client.get("/api/v1/people/alice/ical", params={"token": tokens[Role.ADMIN]})
    assert admin_in_url.status_code == 403 and error_code(admin_in_url) == "viewer_token_required"
    # Only the two feeds take a token from the URL.
    assert app_client.get("/api/v1/schedules", params={"token": tokens[Role.VIEWER]}).status_code == 401
    missing = app_client.get("/api/v1/schedules/nightly/ical", params={"token": tokens[Role.VIEWER]})
    assert missing.status_code == 404 and error_code(missing) == "schedule_not_found"
