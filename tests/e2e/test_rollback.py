"""RB-001 end to end: a bad release fails readiness three times and is rolled back automatically.

Everything is real on 127.0.0.1: `missionctl serve` (API, engine, detector thread, action workers), a tiny
service whose readiness follows the artifact deployed (v1 good, v2 broken), and a rollback command (a Python
script) that switches the service back to the last known healthy artifact. Time is real, intervals are short
(probes every second: the detector schema's minimum), and every wait polls with a deadline.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import yaml

from tests.support.missionctl_server import MissionControlServer
from tests.support.release_target import ReleasedService, digest
from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from tests.support.postgres import PostgresServer


V1, V2, V3 = digest(1), digest(2), digest(3)

CATALOG = """
people:
  - {id: gus, name: Gus, contact_methods: [{id: inbox, kind: inbox, address: gus}]}
teams:
  - {id: payments, name: Payments, members: [gus]}
escalation_policies:
  - {id: gus-first, name: Gus first, levels: [{escalate_after_minutes: 30, targets: [{person: gus}]}]}
services:
  - {id: checkout, name: Checkout, tier: 1, team: payments, escalation_policy: gus-first}
"""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'missionctl.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    url = server.create_database(name, template="template_missionctl")
    yield url
    server.drop_database(name)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[ReleasedService]:
    with ReleasedService(tmp_path, good={V1}) as service:
        # Serving v1 before Mission Control starts probing it: an empty target fails readiness, and three
        # failures (three seconds) before the test reports v1 would open RB-001 and freeze that deploy (409).
        service.deploy(V1)
        yield service


@pytest.fixture
def mc(database_url: str, target: ReleasedService, tmp_path: Path) -> Iterator[MissionControlServer]:
    detectors = tmp_path / "detectors.yaml"
    probe = {"kind": "http_probe", "url": f"{target.url}/readyz", "interval_seconds": 1, "timeout_seconds": 1}
    entry = {"name": "checkout-ready", "service": "checkout", "runbook": "RB-001", "detector": probe}
    detectors.write_text(yaml.safe_dump({"detectors": [entry]}))
    releases = tmp_path / "releases.yaml"
    checkout = {
        "settle_seconds": 2,
        "rollback": {"kind": "command", "argv": target.rollback_argv(), "timeout_seconds": 30},
        "verify": {"checks": 50, "successes": 2, "interval_seconds": 0.2, "timeout_seconds": 1},
        "synthetic_checks": [f"{target.url}/readyz", f"{target.url}/api/cart"],
    }
    releases.write_text(yaml.safe_dump({"services": {"checkout": checkout}}))
    actions = tmp_path / "actions.yaml"  # the rollback runs through the action runner: its command must be allowed
    actions.write_text(yaml.safe_dump({"commands": [sys.executable]}))
    env = {
        "MISSIONCTL_DETECTORS_FILE": str(detectors),
        "MISSIONCTL_RELEASES_FILE": str(releases),
        "MISSIONCTL_ACTIONS_FILE": str(actions),
        "MISSIONCTL_ENGINE_POLL_SECONDS": "0.1",
        "MISSIONCTL_WEBHOOK_SECRET": "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    }
    with MissionControlServer(database_url, catalog=CATALOG, env=env, directory=tmp_path / "mc") as server:
        yield server


def deploy(mc: MissionControlServer, version: str, artifact: str, **extra: Any) -> httpx.Response:
    body = {"service": "checkout", "version": version, "artifact_digest": artifact, "environment": "production"}
    return mc.admin.post("/api/v1/deployments", json={**body, "deployed_by": "ci", **extra})


def freeze_check(mc: MissionControlServer) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MISSIONCTL_URL": mc.url, "MISSIONCTL_TOKEN": mc.tokens[next(iter(mc.tokens))]}
    argv = [sys.executable, "-m", "missionctl", "freeze", "check", "--service", "checkout"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def ledger(mc: MissionControlServer) -> dict[str, Any]:
    answer = mc.viewer.get("/api/v1/releases", params={"service": "checkout"})
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def rb001_incident(mc: MissionControlServer) -> dict[str, Any] | None:
    found = mc.viewer.get("/api/v1/incidents", params={"service": "checkout", "runbook": "RB-001"}).json()
    return found[0] if found else None


def timeline(mc: MissionControlServer, incident_id: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = mc.viewer.get(f"/api/v1/incidents/{incident_id}").json()["timeline"]
    return events


def test_a_bad_release_is_rolled_back_to_the_last_healthy_artifact_and_recovers(
    mc: MissionControlServer, target: ReleasedService
) -> None:
    # v1 (running since before Mission Control started) is reported, passes its probes for the settle period:
    # the last known healthy release.
    assert target.deployed == V1
    assert deploy(mc, "1.0.0", V1).status_code == 201
    healthy = wait_until("v1 to settle healthy", lambda: ledger(mc)["last_known_healthy"], diagnostics=mc.logs)
    assert (healthy["version"], healthy["verdict"]) == ("1.0.0", "healthy")
    assert freeze_check(mc).returncode == 0

    # v2 is broken: three failed readiness checks open RB-001, which freezes deploys and rolls back by itself.
    target.deploy(V2)
    assert deploy(mc, "2.0.0", V2).status_code == 201
    incident = wait_until("the RB-001 incident", lambda: rb001_incident(mc), diagnostics=mc.logs)
    refused = deploy(mc, "3.0.0", V3)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "deploy_frozen"
    check = freeze_check(mc)
    assert check.returncode == 1, check.stdout + check.stderr
    assert "checkout is frozen" in check.stdout

    def recovered() -> list[dict[str, Any]] | None:
        events = timeline(mc, incident["id"])
        return events if any(e["kind"] == "rollback_verified" for e in events) else None

    wait_until("the rollback to be verified", recovered, diagnostics=mc.logs)
    assert target.deployed == V1  # the rollback command switched the service back to v1's artifact

    def rollback_executed() -> list[dict[str, Any]] | None:
        events = timeline(mc, incident["id"])
        done = [e for e in events if e["kind"] == "action_executed" and e["data"]["action"] == "deploy.rollback"]
        return events if done else None

    # The rollback is an action execution of the framework: requested by RB-001's automation, audited.
    events = wait_until("the rollback execution to finish", rollback_executed, diagnostics=mc.logs)
    steps = [(e["kind"], e["data"].get("action")) for e in events]
    order = [
        ("deploy_frozen", None),
        ("signal_fired", None),
        ("action_requested", "deploy.rollback"),
        ("release_rolled_back", None),
        ("rollback_verified", None),
        ("action_executed", "deploy.rollback"),
    ]
    assert [step for step in steps if step in order] == order, steps
    fired = next(e for e in events if e["kind"] == "signal_fired")
    assert "failed 3 consecutive probes" in fired["summary"]
    rolled = next(e for e in events if e["kind"] == "release_rolled_back")
    assert "from 2.0.0 to 1.0.0" in rolled["summary"] and V1 in rolled["summary"]
    executed = next(e for e in events if e["kind"] == "action_executed" and e["data"]["action"] == "deploy.rollback")
    assert executed["data"]["result"] == "succeeded" and executed["data"]["mode"] == "automatic"
    assert executed["data"]["trigger"].startswith("signal:detector:checkout-ready/")
    assert executed["data"]["requested_by"] == "rule:RB-001/automation/0"

    # The ledger: v2 was rolled back; the rollback is a release of v1's artifact; the incident shows both.
    releases = {(r["version"], r["verdict"]) for r in ledger(mc)["releases"]}
    assert {("2.0.0", "rolled_back"), ("1.0.0", "healthy")} <= releases
    view = mc.viewer.get(f"/api/v1/incidents/{incident['id']}/release").json()
    assert view["frozen"] is True
    assert view["current"]["artifact_digest"] == V1
    assert view["last_known_healthy"]["version"] == "1.0.0"
    assert {(run["action"], run["status"]) for run in view["runs"]} == {
        ("synthetic.check", "succeeded"),
        ("deploy.rollback", "succeeded"),
    }

    # Resolving lifts the freeze: the pipeline may deploy again.
    base = f"/api/v1/incidents/{incident['id']}"
    item = {"title": "Canary releases", "assignee": "gus", "due_at": "2030-01-01T00:00:00Z"}
    assert mc.admin.post(f"{base}/action-items", json=item).status_code == 201
    assert mc.admin.post(f"{base}/resolve", json={"evidence": "readiness green after rollback"}).status_code == 200
    assert freeze_check(mc).returncode == 0
    assert deploy(mc, "3.0.0", V3).status_code == 201
