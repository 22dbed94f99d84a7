"""`missionctl route test`: a dry run against recorded payloads."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from missionctl.cli import app

FIXTURES = Path(__file__).parents[1] / "fixtures" / "signals"


def test_alertmanager_payload_routes_by_runbook_default(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["route", "test", str(FIXTURES / "alertmanager_firing.json")],
        env={"COLUMNS": "200", "MISSIONCTL_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"},
    )
    assert result.exit_code == 0, result.output
    assert "→ service payments-db, runbook RB-002, SEV3 (runbook RB-002 default match)" in result.output
    assert "runbook RB-001 skipped: alertname='PostgresP95LatencyHigh' does not match" in result.output


def test_pagerduty_event_needs_a_route_and_says_why(tmp_path: Path) -> None:
    env = {"COLUMNS": "200", "MISSIONCTL_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    payload = str(FIXTURES / "pagerduty_trigger.json")
    refused = CliRunner().invoke(app, ["route", "test", payload], env=env)
    assert refused.exit_code == 1 and "unroutable" in refused.output and "no service" in refused.output
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "routes:\n  - name: pg latency\n    match: {component: '.*'}\n    service: payments-db\n    runbook: RB-002\n"
    )
    routed = CliRunner().invoke(app, ["route", "test", payload, "--rules", str(routes)], env=env)
    assert routed.exit_code == 0, routed.output
    assert "runbook RB-002" in routed.output and "(pg latency)" in routed.output
