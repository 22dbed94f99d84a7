"""Releases through the API: freezes (by hand, from RB-001, lifted on resolve), the ledger and rollback runs."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from missionctl.actions import workers
from missionctl.actions.models import ActionExecution
from missionctl.actions.rules import Mode, Status
from missionctl.auth.roles import Role
from missionctl.catalog import loader as catalog_loader
from missionctl.catalog import service as catalog
from missionctl.clock import FrozenClock
from missionctl.context import AppContext
from missionctl.detectors.models import DetectorState
from missionctl.incidents.models import Incident
from missionctl.releases import hooks, service
from missionctl.settings import Settings
from missionctl.signals.events import SignalAction, SignalEvent
from missionctl.signals.pipeline import RoutedEvent

EXAMPLES = Path(__file__).parents[2] / "examples" / "catalog"
V1, V2 = "sha256:" + "11" * 32, "sha256:" + "22" * 32


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    stamp = tmp_path / "rolled-back.txt"
    argv = [sys.executable, "-c", "import sys; open(sys.argv[1], 'w').write(sys.argv[2])", str(stamp)]
    releases = {"services": {"checkout": {"rollback": {"kind": "command", "argv": [*argv, "${last_healthy.version}"]}}}}
    (tmp_path / "releases.yaml").write_text(yaml.safe_dump(releases))
    (tmp_path / "actions.yaml").write_text(yaml.safe_dump({"commands": [sys.executable]}))  # the allowlist
    return Settings(
        database_url=database_url,
        runbook_dirs=[],
        releases_file=tmp_path / "releases.yaml",
        actions_file=tmp_path / "actions.yaml",
        release_settle_seconds=60,
    )


@pytest.fixture(autouse=True)
def with_catalog(ctx: AppContext) -> AppContext:
    with ctx.write() as session:
        catalog.load_catalog(session, documents=catalog_loader.read_paths([EXAMPLES]), now=ctx.clock.now())
    return ctx


def auth(tokens: dict[Role, str], role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def deploy(client: TestClient, version: str, digest: str, **extra: Any) -> Any:
    body = {"service": "checkout", "version": version, "artifact_digest": digest, "environment": "production"}
    return client.post("/api/v1/deployments", json={**body, "deployed_by": "ci", **extra})


def frozen(client: TestClient) -> bool:
    answer = client.get("/api/v1/freeze", params={"service": "checkout"})
    assert answer.status_code == 200, answer.text
    value: bool = answer.json()["frozen"]
    return value


def declare_rb001(client: TestClient) -> dict[str, Any]:
    body = {"runbook": "RB-001", "service": "checkout", "title": "Checkout 500s after 2.0.0", "severity": "SEV3"}
    answer = client.post("/api/v1/incidents", json=body)
    assert answer.status_code == 201, answer.text
    incident: dict[str, Any] = answer.json()
    return incident


def settle_healthy(ctx: AppContext, clock: FrozenClock) -> None:
    clock.advance(timedelta(seconds=61))
    with ctx.write() as session:
        service.observe_probe(session, service_id="checkout", healthy=True, now=clock.now())


def test_a_freeze_set_by_hand_refuses_deploys_for_its_window(client: TestClient, clock: FrozenClock) -> None:
    created = client.post("/api/v1/freezes", json={"service": "checkout", "reason": "Black Friday", "minutes": 30})
    assert created.status_code == 201, created.text
    assert created.json()["created_by"] == "responder-user"
    assert frozen(client)
    refused = deploy(client, "2.0.0", V2)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "deploy_frozen"
    assert "Black Friday" in refused.json()["error"]["message"]
    clock.advance(timedelta(minutes=30))
    assert not frozen(client)
    assert deploy(client, "2.0.0", V2).status_code == 201


def test_lifting_a_freeze_allows_deploys_again(client: TestClient) -> None:
    freeze = client.post("/api/v1/freezes", json={"service": "checkout", "reason": "migration"}).json()
    assert client.get("/api/v1/freezes", params={"service": "checkout"}).json()[0]["id"] == freeze["id"]
    lifted = client.post(f"/api/v1/freezes/{freeze['id']}/lift")
    assert lifted.status_code == 200 and lifted.json()["lifted_by"] == "responder-user"
    assert not frozen(client)
    assert client.post("/api/v1/freezes/999/lift").json()["error"]["code"] == "freeze_not_found"


def test_reading_freezes_needs_a_token_and_changing_them_a_responder(
    app_client: TestClient, tokens: dict[Role, str]
) -> None:
    assert app_client.get("/api/v1/freeze", params={"service": "checkout"}).status_code == 401
    viewer = auth(tokens, Role.VIEWER)
    assert app_client.get("/api/v1/freeze", params={"service": "checkout"}, headers=viewer).status_code == 200
    body = {"service": "checkout", "reason": "x"}
    assert app_client.post("/api/v1/freezes", json=body, headers=viewer).status_code == 403
    missing = app_client.get("/api/v1/freeze", params={"service": "nope"}, headers=viewer)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "service_not_found"


def test_declaring_rb001_freezes_deploys_until_it_resolves(client: TestClient) -> None:
    incident = declare_rb001(client)
    assert "deploy_frozen" in [e["kind"] for e in incident["timeline"]]
    assert frozen(client)
    overridden = deploy(client, "2.0.1", V2, freeze_override_reason="the hotfix for this incident")
    assert overridden.status_code == 201, overridden.text
    timeline = client.get(f"/api/v1/incidents/{incident['id']}").json()["timeline"]
    assert any(e["kind"] == "deploy_during_freeze" and "hotfix" in e["summary"] for e in timeline)
    resolved = client.post(f"/api/v1/incidents/{incident['id']}/resolve", json={"evidence": "green"})
    assert resolved.status_code == 200, resolved.text
    assert "deploy_freeze_lifted" in [e["kind"] for e in resolved.json()["timeline"]]
    assert not frozen(client)


def test_the_ledger_names_the_last_known_healthy_release(
    client: TestClient, ctx: AppContext, clock: FrozenClock
) -> None:
    assert deploy(client, "1.0.0", V1).status_code == 201
    assert client.get("/api/v1/releases", params={"service": "checkout"}).json()["last_known_healthy"] is None
    settle_healthy(ctx, clock)
    assert deploy(client, "2.0.0", V2).status_code == 201
    assert deploy(client, "2.0.0", V2, environment="staging").status_code == 201
    view = client.get("/api/v1/releases", params={"service": "checkout"}).json()
    assert (view["current"]["version"], view["current"]["verdict"]) == ("2.0.0", "pending")
    assert (view["last_known_healthy"]["version"], view["last_known_healthy"]["verdict"]) == ("1.0.0", "healthy")
    assert [(r["environment"], r["verdict"]) for r in view["releases"]] == [
        ("staging", None),  # only the environment the probes watch gets verdicts
        ("production", "pending"),
        ("production", "healthy"),
    ]
    with ctx.read() as session:
        before = service.last_known_healthy(
            session, service_id="checkout", environment="production", before=clock.now() - timedelta(seconds=62)
        )
        assert before is None


def test_an_incident_opened_before_a_release_settles_fails_it(
    client: TestClient, ctx: AppContext, clock: FrozenClock
) -> None:
    assert deploy(client, "2.0.0", V2).status_code == 201
    declare_rb001(client)
    settle_healthy(ctx, clock)
    [release] = client.get("/api/v1/releases", params={"service": "checkout"}).json()["releases"]
    assert release["verdict"] == "failed" and "INC-" in release["verdict_reason"]


def test_a_rollback_dry_run_shows_the_command_and_a_real_one_records_the_ledger(
    client: TestClient, ctx: AppContext, clock: FrozenClock, tmp_path: Path
) -> None:
    deploy(client, "1.0.0", V1)
    settle_healthy(ctx, clock)
    deploy(client, "2.0.0", V2)
    incident = declare_rb001(client)
    body = {"service": "checkout", "incident_id": incident["id"], "dry_run": True}
    dry = client.post("/api/v1/releases/rollbacks", json=body)
    assert dry.status_code == 202, dry.text
    assert dry.json()["status"] == "dry_run", dry.json()  # a dry run is answered at once, with what it would do
    assert dry.json()["output"]["request"]["argv"][-1] == "1.0.0"
    assert "from 2.0.0 to 1.0.0" in dry.json()["summary"]
    assert not (tmp_path / "rolled-back.txt").exists()

    real = client.post("/api/v1/releases/rollbacks", json={**body, "dry_run": False})
    assert real.status_code == 202 and real.json()["status"] == "queued", real.text
    [done] = [e for e in workers.run_pending(ctx) if e.execution_id == real.json()["id"]]
    assert done.status is Status.SUCCEEDED
    assert (tmp_path / "rolled-back.txt").read_text() == "1.0.0"
    execution = client.get(f"/api/v1/actions/executions/{real.json()['id']}").json()
    assert execution["output"]["result"]["exit_code"] == 0 and execution["requested_by"] == "responder-user"
    view = client.get(f"/api/v1/incidents/{incident['id']}/release").json()
    assert (view["current"]["artifact_digest"], view["current"]["verdict"]) == (V1, "pending")
    assert {(run["action"], run["status"]) for run in view["runs"]} >= {("deploy.rollback", "succeeded")}
    versions = client.get("/api/v1/releases", params={"service": "checkout"}).json()["releases"]
    assert [(r["version"], r["verdict"]) for r in versions] == [
        ("1.0.0", "pending"),
        ("2.0.0", "rolled_back"),
        ("1.0.0", "healthy"),
    ]
    timeline = client.get(f"/api/v1/incidents/{incident['id']}").json()["timeline"]
    kinds = [e["kind"] for e in timeline if e["data"].get("action") in (None, "deploy.rollback")]
    assert kinds.index("action_requested") < kinds.index("release_rolled_back") < kinds.index("action_executed")


def test_a_rollback_command_outside_the_allowlist_never_runs(
    client: TestClient, ctx: AppContext, clock: FrozenClock, tmp_path: Path
) -> None:
    (tmp_path / "actions.yaml").write_text(yaml.safe_dump({"commands": ["helm"]}))
    deploy(client, "1.0.0", V1)
    settle_healthy(ctx, clock)
    deploy(client, "2.0.0", V2)
    answer = client.post("/api/v1/releases/rollbacks", json={"service": "checkout"})
    [done] = workers.run_pending(ctx)
    assert done.status is Status.FAILED and done.execution_id == answer.json()["id"]
    execution = client.get(f"/api/v1/actions/executions/{done.execution_id}").json()
    assert execution["output"] == {"reason": "command_not_allowed"}
    assert not (tmp_path / "rolled-back.txt").exists()


def probe_fired(ctx: AppContext, incident_id: int, *, status: str, failures: int = 3) -> list[ActionExecution]:
    """The readiness detector's alert joins the incident (as `signals.pipeline` hands it to the releases hook)."""
    now = ctx.clock.now()
    with ctx.write() as session:
        state = {"status": status, "consecutive_failures": failures}
        session.merge(
            DetectorState(
                detector="checkout-ready", series_key="s", labels={}, state=state, firing=True, updated_at=now
            )
        )
        event = SignalEvent(
            source="detector",
            action=SignalAction.TRIGGER,
            dedup_key="readyz",
            summary="checkout-ready failed 3 consecutive probes",
            labels={"detector": "checkout-ready"},
            annotations={"kind": "http_probe"},
        )
        incident = session.get_one(Incident, incident_id)
        hooks.on_signal_fired(
            session, incident=incident, fired=[RoutedEvent("detector:checkout-ready", event, None)], now=now
        )
        rows = session.scalars(select(ActionExecution).where(ActionExecution.incident_id == incident_id)).all()
        session.expunge_all()
    return [row for row in rows if row.action == "deploy.rollback"]


def test_failed_readiness_probes_request_the_rollback_automation_once_until_resolved(
    client: TestClient, ctx: AppContext, clock: FrozenClock, tmp_path: Path
) -> None:
    deploy(client, "1.0.0", V1)
    settle_healthy(ctx, clock)
    deploy(client, "2.0.0", V2)
    incident = declare_rb001(client)
    assert probe_fired(ctx, incident["id"], status="unknown") == []  # unknown outcomes never roll back
    timeline = client.get(f"/api/v1/incidents/{incident['id']}").json()["timeline"]
    assert "auto_rollback_skipped" in [e["kind"] for e in timeline]

    [requested] = probe_fired(ctx, incident["id"], status="failing")
    assert (requested.mode, requested.status) == (Mode.AUTOMATIC, Status.QUEUED)
    assert requested.triggered_by == "signal:detector:checkout-ready/readyz"
    assert requested.requested_by == "rule:RB-001/automation/0"
    ran = {e.execution_id: e.status for e in workers.run_pending(ctx)}
    assert ran[requested.id] is Status.SUCCEEDED
    assert (tmp_path / "rolled-back.txt").read_text() == "1.0.0"

    _, flap = probe_fired(ctx, incident["id"], status="failing")  # the probe flaps: no second rollback
    assert (flap.status, flap.output) == (Status.BLOCKED, {"reason": "once_per_incident"})
    timeline = client.get(f"/api/v1/incidents/{incident['id']}").json()["timeline"]
    rollback = [e["kind"] for e in timeline if e["data"].get("action") == "deploy.rollback" or "roll" in e["kind"]]
    assert rollback == [
        "auto_rollback_skipped",
        "action_requested",
        "release_rolled_back",
        "action_executed",
        "action_blocked",
    ]
    executed = next(e for e in timeline if e["kind"] == "action_executed" and e["data"]["action"] == "deploy.rollback")
    assert (
        executed["data"]["trigger"] == "signal:detector:checkout-ready/readyz"
        and executed["data"]["result"] == "succeeded"
    )


def test_an_automatic_rollback_leaves_a_release_that_had_settled_healthy_alone(
    client: TestClient, ctx: AppContext, clock: FrozenClock, tmp_path: Path
) -> None:
    deploy(client, "1.0.0", V1)
    settle_healthy(ctx, clock)
    deploy(client, "2.0.0", V2)
    settle_healthy(ctx, clock)  # 2.0.0 ran fine for its settle period: probably not the release's fault
    incident = declare_rb001(client)
    [requested] = probe_fired(ctx, incident["id"], status="failing")
    ran = {e.execution_id: e.status for e in workers.run_pending(ctx)}
    assert ran[requested.id] is Status.SKIPPED
    assert not (tmp_path / "rolled-back.txt").exists()
