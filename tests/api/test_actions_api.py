"""`/api/v1/actions` and `/api/v1/incidents/{id}/actions`: who may do what, dry runs, approvals, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from missionctl.auth.roles import Role
from missionctl.context import AppContext
from missionctl.incidents import service as incidents
from missionctl.runbooks.schemas import Severity
from tests.conftest import as_role
from tests.support.receivers import WebhookReceiver

SECRET = "api-secret-5e6f7a8b"

ACTIONS = """\
secrets:
  cache_token: {{env: MC_TEST_CACHE_TOKEN}}
actions:
  - name: cache.safe_mode
    params:
      ttl: {{type: integer, default: 60}}
    http:
      url: "{url}"
      headers: {{Authorization: "Bearer ${{secret:cache_token}}"}}
      json: {{ttl: "${{params.ttl}}"}}
  - name: db.replica_routing
    mode: approval
    http: {{url: "{url}"}}
"""


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def incident_id(ctx: AppContext, hooks: WebhookReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("MC_TEST_CACHE_TOKEN", SECRET)
    path = tmp_path / "actions.yaml"
    path.write_text(ACTIONS.format(url=hooks.url("/cache/${service}")))
    ctx.settings = ctx.settings.model_copy(update={"actions_file": path})
    with ctx.write() as session:
        incident = incidents.declare(
            session,
            runbook=ctx.runbooks.get("RB-002"),
            service="checkout",
            title="slow",
            severity=Severity.SEV3,
            commander="alice",
            actor="alice",
            now=ctx.clock.now(),
        )
        return incident.id


def test_callers_need_a_token_and_the_right_role(
    app_client: TestClient, tokens: dict[Role, str], incident_id: int
) -> None:
    assert app_client.get("/api/v1/actions").status_code == 401
    assert app_client.post(f"/api/v1/incidents/{incident_id}/actions", json={"action": "x"}).status_code == 401
    viewer = as_role(app_client, tokens, Role.VIEWER)
    assert app_client.get("/api/v1/actions", headers=viewer).status_code == 200
    body = {"action": "cache.safe_mode", "dry_run": True}
    for path, payload in [
        (f"/api/v1/incidents/{incident_id}/actions", body),
        ("/api/v1/actions/executions/1/approve", None),
        ("/api/v1/actions/executions/1/decline", None),
        ("/api/v1/actions/breakers/cache.safe_mode/reset", None),
    ]:
        answer = app_client.post(path, json=payload, headers=viewer)
        assert answer.status_code == 403, path
    responder = as_role(app_client, tokens, Role.RESPONDER)
    assert app_client.post("/api/v1/actions/breakers/cache.safe_mode/reset", headers=responder).status_code == 403
    admin = as_role(app_client, tokens, Role.ADMIN)
    reset = app_client.post("/api/v1/actions/breakers/cache.safe_mode/reset", headers=admin)
    assert reset.status_code == 200 and reset.json()["failures"] == 0


def test_the_catalogue_lists_configured_actions_with_their_parameters(client: TestClient, incident_id: int) -> None:
    entries = {entry["name"]: entry for entry in client.get("/api/v1/actions").json()}
    safe_mode = entries["cache.safe_mode"]
    assert safe_mode["kind"] == "http" and safe_mode["params_schema"]["properties"]["ttl"]["default"] == 60
    assert entries["db.replica_routing"]["mode"] == "approval"


def test_a_dry_run_answers_with_exactly_what_would_be_sent(
    client: TestClient, hooks: WebhookReceiver, incident_id: int
) -> None:
    answer = client.post(
        f"/api/v1/incidents/{incident_id}/actions",
        json={"action": "cache.safe_mode", "params": {"ttl": 5}, "dry_run": True, "step_position": 3},
    )
    assert answer.status_code == 201, answer.text
    execution = answer.json()
    assert execution["status"] == "dry_run" and execution["dry_run"] is True
    assert execution["output"]["would"] == {
        "method": "POST",
        "url": hooks.url("/cache/checkout"),
        "headers": {"Authorization": "Bearer ***"},
        "json": {"ttl": 5},
        "expect_status": [200, 201, 202, 204],
    }
    assert hooks.requests == [] and SECRET not in answer.text
    listed = client.get(f"/api/v1/incidents/{incident_id}/actions").json()
    assert [item["id"] for item in listed] == [execution["id"]]
    timeline = client.get(f"/api/v1/incidents/{incident_id}").text
    assert "action_dry_run" in timeline and SECRET not in timeline


def test_approval_by_another_responder(
    app_client: TestClient, tokens: dict[Role, str], hooks: WebhookReceiver, incident_id: int
) -> None:
    responder = as_role(app_client, tokens, Role.RESPONDER)
    admin = as_role(app_client, tokens, Role.ADMIN)
    asked = app_client.post(
        f"/api/v1/incidents/{incident_id}/actions", json={"action": "db.replica_routing"}, headers=responder
    )
    assert asked.status_code == 201 and asked.json()["status"] == "pending_approval"
    execution_id = asked.json()["id"]
    self_approval = app_client.post(f"/api/v1/actions/executions/{execution_id}/approve", headers=responder)
    assert self_approval.status_code == 409 and self_approval.json()["error"]["code"] == "self_approval"
    approved = app_client.post(f"/api/v1/actions/executions/{execution_id}/approve", headers=admin)
    assert approved.status_code == 200 and approved.json()["approved_by"] == "admin-user"
    again = app_client.post(f"/api/v1/actions/executions/{execution_id}/decline", headers=admin)
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_pending_approval"
    shown = app_client.get(f"/api/v1/actions/executions/{execution_id}", headers=responder).json()
    assert shown["status"] == "approved"


def test_unknown_actions_and_wrong_parameters_are_refused(client: TestClient, incident_id: int) -> None:
    unknown = client.post(f"/api/v1/incidents/{incident_id}/actions", json={"action": "no.such_action"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "action_not_found"
    wrong = client.post(
        f"/api/v1/incidents/{incident_id}/actions", json={"action": "cache.safe_mode", "params": {"ttl": "soon"}}
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "invalid_params"
    missing = client.post("/api/v1/incidents/999/actions", json={"action": "cache.safe_mode"})
    assert missing.status_code == 404
    assert client.get("/api/v1/actions/executions/999").status_code == 404
