"""`missionctl dead-letter`: list, show and replay refused events from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from missionctl import migrate
from missionctl.app import create_app
from missionctl.catalog import loader as catalog_loader
from missionctl.catalog import service as catalog
from missionctl.cli import app
from missionctl.context import build_context
from missionctl.settings import Settings
from missionctl.signals import integrations
from missionctl.signals.integrations import IntegrationKind

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "signals"


def test_route_test_with_a_service_routes_as_ingest_does(tmp_path: Path) -> None:
    env = {"COLUMNS": "200", "MISSIONCTL_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    payload = str(FIXTURES / "pagerduty_trigger.json")
    result = CliRunner().invoke(app, ["route", "test", payload, "--service", "payments-db"], env=env)
    assert result.exit_code == 0, result.output
    assert "→ service payments-db, runbook RB-002" in result.output  # by its summary, "p95 query latency"


def test_list_show_and_replay_after_a_routing_fix(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/mc.db"
    settings = Settings(database_url=url)
    ctx = build_context(settings)
    migrate.upgrade(ctx.engine)
    with ctx.write() as session:
        documents = catalog_loader.read_paths([ROOT / "examples" / "catalog"])
        catalog.load_catalog(session, documents=documents, now=ctx.clock.now())
        key = integrations.create(
            session, kind=IntegrationKind.ALERTMANAGER, service_id="payments-db", name=None, now=ctx.clock.now()
        ).key
    body = json.loads((FIXTURES / "alertmanager_firing.json").read_text())
    for alert in body["alerts"]:
        alert["labels"]["alertname"] = "DiskAlmostFull"
    with TestClient(create_app(settings, context=ctx)) as client:
        refused = client.post(
            "/api/v1/integrations/alertmanager", json=body, headers={"Authorization": f"Bearer {key}"}
        )
    letter = refused.json()["error"]["details"]["dead_letter"]
    ctx.dispose()

    routes = tmp_path / "routes.yaml"
    env = {"COLUMNS": "200", "MISSIONCTL_DATABASE_URL": url, "MISSIONCTL_ROUTES_FILE": str(routes)}
    routes.write_text("routes: []\n")
    runner = CliRunner()
    listed = runner.invoke(app, ["dead-letter", "list"], env=env)
    assert listed.exit_code == 0 and f"#{letter}" in listed.output and "unroutable" in listed.output
    shown = runner.invoke(app, ["dead-letter", "show", str(letter)], env=env)
    assert json.loads(shown.stdout) == body
    failing = runner.invoke(app, ["dead-letter", "replay", str(letter)], env=env)
    assert failing.exit_code == 1 and "still cannot be accepted" in failing.output
    routes.write_text("routes:\n  - name: disks\n    match: {alertname: Disk.*}\n    runbook: RB-002\n")
    replayed = runner.invoke(app, ["dead-letter", "replay", str(letter), "--actor", "alice"], env=env)
    assert replayed.exit_code == 0, replayed.output
    assert "2 alert(s), incidents [1]" in replayed.output
    assert runner.invoke(app, ["dead-letter", "list"], env=env).output.strip() == ""  # nothing pending
