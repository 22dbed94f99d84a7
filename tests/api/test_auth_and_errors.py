"""Who may call what: anonymous callers get 401, viewers cannot change anything, errors keep one shape."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from missionctl.auth import service as auth
from missionctl.auth.roles import Role
from missionctl.context import AppContext

WRITES = [
    ("post", "/api/v1/incidents", {"runbook": "RB-001", "service": "s", "title": "t"}),
    ("post", "/api/v1/incidents/1/acknowledge", None),
    ("post", "/api/v1/incidents/1/transitions", {"to": "investigating"}),
    ("post", "/api/v1/incidents/1/steps/1", {"status": "done"}),
    ("post", "/api/v1/incidents/1/updates", {"message": "m"}),
    ("put", "/api/v1/incidents/1/roles/scribe", {"assignee": "x"}),
    (
        "post",
        "/api/v1/incidents/1/action-items",
        {"title": "t", "assignee": "a", "due_at": "2026-04-01T00:00:00Z"},
    ),
    ("post", "/api/v1/incidents/1/resolve", {"evidence": "e"}),
    ("post", "/api/v1/incidents/1/messages", {"body": "b"}),
    ("put", "/api/v1/incidents/1/postmortem", {"markdown": "m"}),
    ("post", "/api/v1/incidents/1/postmortem/complete", None),
    ("patch", "/api/v1/incidents/1", {"severity": "SEV1"}),
]
READS = [
    "/api/v1/runbooks",
    "/api/v1/runbooks/RB-001",
    "/api/v1/incidents",
    "/api/v1/incidents/1",
    "/api/v1/incidents/1/messages",
    "/api/v1/incidents/1/postmortem",
    "/metrics",
]


@pytest.mark.parametrize(("method", "path"), [("get", p) for p in READS] + [(m, p) for m, p, _ in WRITES])
def test_anonymous_callers_are_refused(app_client: TestClient, method: str, path: str) -> None:
    response = app_client.request(method, path, json={})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response.headers["www-authenticate"] == "Bearer"


def test_health_and_openapi_are_public(app_client: TestClient) -> None:
    assert app_client.get("/healthz").json() == {"status": "ok"}
    assert app_client.get("/readyz").json()["status"] == "ok"
    paths = app_client.get("/openapi.json").json()["paths"]
    assert "/api/v1/incidents/{incident_id}/resolve" in paths


def test_a_wrong_or_revoked_token_is_refused(app_client: TestClient, ctx: AppContext) -> None:
    bad = app_client.get("/api/v1/runbooks", headers={"Authorization": "Bearer mc_nope"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_token"
    with ctx.write() as session:
        issued = auth.create_token(session, name="temp", role=Role.ADMIN, now=ctx.clock.now())
    headers = {"Authorization": f"Bearer {issued.token}"}
    assert app_client.get("/api/v1/runbooks", headers=headers).status_code == 200
    with ctx.write() as session:
        auth.revoke(session, token_id=issued.record.id, now=ctx.clock.now())
    assert app_client.get("/api/v1/runbooks", headers=headers).status_code == 401


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_viewers_cannot_change_anything(
    app_client: TestClient, tokens: dict[Role, str], method: str, path: str, body: object
) -> None:
    headers = {"Authorization": f"Bearer {tokens[Role.VIEWER]}"}
    response = app_client.request(method, path, json=body, headers=headers)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "permission_denied" and error["details"] == {
        "needed": "responder",
        "held": "viewer",
    }


def test_viewer_reads_and_metrics_count(app_client: TestClient, tokens: dict[Role, str]) -> None:
    responder = {"Authorization": f"Bearer {tokens[Role.RESPONDER]}"}
    body = {"runbook": "RB-003", "service": "hooks", "title": "retry storm"}
    assert app_client.post("/api/v1/incidents", json=body, headers=responder).status_code == 201
    headers = {"Authorization": f"Bearer {tokens[Role.VIEWER]}"}
    assert app_client.get("/api/v1/incidents", headers=headers).status_code == 200
    metrics = app_client.get("/metrics", headers=headers)
    assert metrics.status_code == 200
    assert 'missionctl_http_requests_total{handler="list_incidents",method="GET",status="200"} 1.0' in metrics.text
    assert 'missionctl_incidents_declared_total{runbook="RB-003",severity="SEV2"} 1.0' in metrics.text


def test_tokens_are_stored_hashed(ctx: AppContext) -> None:
    with ctx.write() as session:
        issued = auth.create_token(session, name="n", role=Role.VIEWER, now=ctx.clock.now())
    assert issued.token.startswith("mc_")
    assert issued.record.token_hash != issued.token and issued.token not in issued.record.token_hash


def test_unknown_route_and_method_have_the_error_shape(client: TestClient) -> None:
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = client.delete("/api/v1/runbooks")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


def test_runbooks_api(client: TestClient) -> None:
    listed = client.get("/api/v1/runbooks").json()
    assert [r["id"] for r in listed] == ["RB-001", "RB-002", "RB-003"]
    one = client.get("/api/v1/runbooks/RB-003").json()
    assert one["recovery_slo"] == {"summary": "Stabilize queue depth within 30 minutes.", "minutes": 30}
    assert one["source"] == "builtin" and len(one["content_hash"]) == 64
    assert client.get("/api/v1/runbooks/RB-404").json()["error"]["code"] == "runbook_not_found"
