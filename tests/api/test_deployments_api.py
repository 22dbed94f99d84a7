"""Deployments: CI posts releases with a responder token, viewers list them newest first."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from missionctl.auth.roles import Role
from missionctl.catalog import loader as catalog_loader
from missionctl.catalog import service as catalog
from missionctl.clock import FrozenClock
from missionctl.context import AppContext
from missionctl.deployments import service as deployments

EXAMPLES = Path(__file__).parents[2] / "examples" / "catalog"
DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.fixture
def with_catalog(ctx: AppContext) -> AppContext:
    with ctx.write() as session:
        catalog.load_catalog(session, documents=catalog_loader.read_paths([EXAMPLES]), now=ctx.clock.now())
    return ctx


def headers(tokens: dict[Role, str], role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def release(**changes: Any) -> dict[str, Any]:
    body = {
        "service": "checkout",
        "version": "2.3.1",
        "artifact_digest": DIGEST,
        "environment": "production",
        "deployed_by": "github-actions",
    }
    return {**body, **changes}


def test_ci_records_a_release_with_a_responder_token(
    with_catalog: AppContext, app_client: TestClient, tokens: dict[Role, str], clock: FrozenClock
) -> None:
    body = release(url="https://ci.example.com/runs/42")
    created = app_client.post("/api/v1/deployments", json=body, headers=headers(tokens, Role.RESPONDER))
    assert created.status_code == 201, created.text
    answer = created.json()
    assert answer == {
        "id": answer["id"],
        "service_id": "checkout",
        "version": "2.3.1",
        "artifact_digest": DIGEST,
        "environment": "production",
        "deployed_by": "github-actions",
        "deployed_at": answer["deployed_at"],
        "created_at": answer["created_at"],
        "url": "https://ci.example.com/runs/42",
    }
    assert answer["deployed_at"] == answer["created_at"] == clock.now().isoformat().replace("+00:00", "Z")


def test_anonymous_callers_get_401_and_viewers_cannot_post(
    with_catalog: AppContext, app_client: TestClient, tokens: dict[Role, str]
) -> None:
    assert app_client.post("/api/v1/deployments", json=release()).status_code == 401
    assert app_client.get("/api/v1/deployments").status_code == 401
    refused = app_client.post("/api/v1/deployments", json=release(), headers=headers(tokens, Role.VIEWER))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert app_client.get("/api/v1/deployments", headers=headers(tokens, Role.VIEWER)).json() == []


@pytest.mark.parametrize(
    ("changes", "status", "code", "message"),
    [
        ({"service": "nope"}, 404, "service_not_found", "service: no service with id 'nope' in the catalog"),
        ({"artifact_digest": "latest"}, 422, "invalid_input", "body.artifact_digest: Value error, expected an"),
        ({"artifact_digest": "sha256:abc"}, 422, "invalid_input", "body.artifact_digest: Value error, a sha256 digest"),
        ({"version": ""}, 422, "invalid_input", "body.version: String should have at least 1 character"),
        ({"deployed_at": "2026-03-02T09:00:00"}, 422, "invalid_input", "body.deployed_at: Input should have timezone"),
        ({"deployed_at": "2026-03-02T10:00:00Z"}, 422, "invalid_input", "deployed_at: 2026-03-02T10:00:00+00:00 is in"),
        ({"who": "alice"}, 422, "invalid_input", "body.who: Extra inputs are not permitted"),
    ],
)
def test_invalid_releases_are_refused_naming_the_field(
    with_catalog: AppContext,
    client: TestClient,
    changes: dict[str, Any],
    status: int,
    code: str,
    message: str,
) -> None:
    answer = client.post("/api/v1/deployments", json=release(**changes))
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    assert error["message"].startswith(message), error["message"]


def test_missing_fields_are_all_named(with_catalog: AppContext, client: TestClient) -> None:
    answer = client.post("/api/v1/deployments", json={"service": "checkout"})
    assert answer.status_code == 422
    fields = [problem["field"] for problem in answer.json()["error"]["details"]]
    assert fields == ["body.version", "body.artifact_digest", "body.environment", "body.deployed_by"]


def test_listing_is_newest_first_and_filters(
    with_catalog: AppContext, client: TestClient, tokens: dict[Role, str], clock: FrozenClock
) -> None:
    now = clock.now()
    for minutes, service, environment, version in [
        (30, "checkout", "production", "2.3.0"),
        (10, "checkout", "staging", "2.3.1"),
        (5, "checkout", "production", "2.3.1"),
        (20, "webhooks", "production", "7.0.0"),
    ]:
        at = (now - timedelta(minutes=minutes)).isoformat()
        body = release(service=service, environment=environment, version=version, deployed_at=at)
        assert client.post("/api/v1/deployments", json=body).status_code == 201
    viewer = headers(tokens, Role.VIEWER)

    def listed(query: str) -> list[tuple[str, str, str]]:
        answer = client.get(f"/api/v1/deployments{query}", headers=viewer)
        assert answer.status_code == 200, answer.text
        return [(d["service_id"], d["environment"], d["version"]) for d in answer.json()]

    assert listed("") == [
        ("checkout", "production", "2.3.1"),
        ("checkout", "staging", "2.3.1"),
        ("webhooks", "production", "7.0.0"),
        ("checkout", "production", "2.3.0"),
    ]
    assert listed("?service=checkout&environment=production") == [
        ("checkout", "production", "2.3.1"),
        ("checkout", "production", "2.3.0"),
    ]
    assert listed("?limit=1") == [("checkout", "production", "2.3.1")]
    assert client.get("/api/v1/deployments?limit=0", headers=viewer).status_code == 422
    with with_catalog.read() as session:
        latest = deployments.latest(session, service_id="checkout", environment="production", at=now)
        assert latest is not None and latest.version == "2.3.1"
        earlier = deployments.latest(session, service_id="checkout", environment=None, at=now - timedelta(minutes=8))
        assert earlier is not None and earlier.environment == "staging"
