"""Integration keys: one per alert source and service, admin-only to create, shown once, stored hashed."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from missionctl.auth.roles import Role
from missionctl.catalog import loader as catalog_loader
from missionctl.catalog import service as catalog
from missionctl.cli import app
from missionctl.context import AppContext
from missionctl.errors import NotAuthenticated
from missionctl.settings import Settings
from missionctl.signals import integrations
from missionctl.signals.integrations import IntegrationKind
from missionctl.signals.models import Integration

EXAMPLES = Path(__file__).parents[2] / "examples" / "catalog"


@pytest.fixture
def with_catalog(ctx: AppContext) -> AppContext:
    with ctx.write() as session:
        catalog.load_catalog(session, documents=catalog_loader.read_paths([EXAMPLES]), now=ctx.clock.now())
    return ctx


def headers(tokens: dict[Role, str], role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def test_admin_creates_keys_that_are_shown_once_and_stored_hashed(
    with_catalog: AppContext, app_client: TestClient, tokens: dict[Role, str]
) -> None:
    body = {"kind": "pagerduty", "service": "checkout", "name": "CI pipeline"}
    created = app_client.post("/api/v1/integrations", json=body, headers=headers(tokens, Role.ADMIN))
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert len(key) == 32  # a PagerDuty routing key's length, so PagerDuty clients accept it
    listed = app_client.get("/api/v1/integrations", headers=headers(tokens, Role.VIEWER)).json()
    assert [(i["kind"], i["service_id"], i["name"]) for i in listed] == [("pagerduty", "checkout", "CI pipeline")]
    assert "key" not in listed[0]
    with with_catalog.read() as session:
        stored = session.get_one(Integration, created.json()["id"])
        assert key not in (stored.key_hash, stored.key_prefix + "x")
        assert integrations.authenticate(session, key=key, kind=IntegrationKind.PAGERDUTY).service_id == "checkout"
        with pytest.raises(NotAuthenticated):
            integrations.authenticate(session, key=key, kind=IntegrationKind.ALERTMANAGER)  # wrong source
        with pytest.raises(NotAuthenticated):
            altered = key[:-1] + ("1" if key[-1] == "0" else "0")  # always a different key, whatever it ended in
            integrations.authenticate(session, key=altered, kind=IntegrationKind.PAGERDUTY)


def test_only_admins_create_and_unknown_services_are_refused(
    with_catalog: AppContext, app_client: TestClient, tokens: dict[Role, str]
) -> None:
    body = {"kind": "alertmanager", "service": "checkout"}
    assert app_client.post("/api/v1/integrations", json=body).status_code == 401
    refused = app_client.post("/api/v1/integrations", json=body, headers=headers(tokens, Role.RESPONDER))
    assert refused.status_code == 403
    missing = app_client.post(
        "/api/v1/integrations", json=body | {"service": "nope"}, headers=headers(tokens, Role.ADMIN)
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "service_not_found"
    bad_kind = app_client.post(
        "/api/v1/integrations", json=body | {"kind": "nagios"}, headers=headers(tokens, Role.ADMIN)
    )
    assert bad_kind.status_code == 422


def test_revoked_keys_are_refused(with_catalog: AppContext, app_client: TestClient, tokens: dict[Role, str]) -> None:
    admin = headers(tokens, Role.ADMIN)
    created = app_client.post(
        "/api/v1/integrations", json={"kind": "grafana", "service": "checkout"}, headers=admin
    ).json()
    assert app_client.delete(f"/api/v1/integrations/{created['id']}", headers=admin).status_code == 204
    with with_catalog.read() as session, pytest.raises(NotAuthenticated):
        integrations.authenticate(session, key=created["key"], kind=IntegrationKind.GRAFANA)
    assert app_client.delete("/api/v1/integrations/9999", headers=admin).status_code == 404


def test_cli_prints_only_the_key_on_stdout(with_catalog: AppContext, settings: Settings) -> None:
    env = {"MISSIONCTL_DATABASE_URL": settings.database_url, "COLUMNS": "200"}
    result = CliRunner().invoke(
        app, ["integration", "create", "--service", "checkout", "--kind", "alertmanager"], env=env
    )
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("mci_")
    listed = CliRunner().invoke(app, ["integration", "list"], env=env)
    assert "alertmanager" in listed.stdout and key not in listed.stdout
