"""Figure: third failed readiness probe → rollback command starting (RB-001 automatic rollback; target < 1 s).

    python bench/rollback_latency.py [--db sqlite|postgresql|both] [--rounds 5]

The engine (paging loop, detector thread, action workers) runs in this process on a real database, exactly as
`missionctl serve` starts it. Each round is its own service with a tiny HTTP target on 127.0.0.1 whose
readiness follows the deployed artifact: release v1 (good) is recorded and settles healthy (1 s), then v2
(broken) is recorded; the readiness detector (every 1 s, 3 consecutive failures) fires, the RB-001 incident
opens, and the rollback command — a Python script that writes the wall-clock time it started — runs. Measured:
from the target answering the third failing probe to the script's first line. Includes the detector's store
transaction and commit (which requests `deploy.rollback` through RB-001's automation), the action workers' wake-up
and claim, planning the rollback through the action runner, and starting a Python interpreter.

Baseline, same process: starting the same script directly with `subprocess` (the floor any command pays).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from _common import database, median, ratio
from missionctl import migrate
from missionctl.catalog import loader as catalog_loader
from missionctl.catalog import service as catalog
from missionctl.context import build_context
from missionctl.deployments import service as deployments
from missionctl.engine.runtime import start_engine
from missionctl.releases import hooks, service
from missionctl.settings import Settings

if TYPE_CHECKING:
    from tests.support.release_target import ReleasedService

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WAIT = 30.0  # seconds any one step of a round may take


def _catalog(rounds: int) -> str:
    services = "\n".join(
        f"  - {{id: svc-{i}, name: Service {i}, tier: 2, team: crew, escalation_policy: one}}" for i in range(rounds)
    )
    return (
        "people:\n  - {id: p0, name: P0, contact_methods: [{id: inbox, kind: inbox, address: p0}]}\n"
        "teams:\n  - {id: crew, name: Crew, members: [p0]}\n"
        "escalation_policies:\n"
        "  - {id: one, name: One, levels: [{escalate_after_minutes: 60, targets: [{person: p0}]}]}\n"
        f"services:\n{services}\n"
    )


def _wait(what: str, done: object) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if done():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise RuntimeError(f"timed out waiting for {what}")


def _record(ctx, service_id: str, version: str, artifact: str) -> None:  # type: ignore[no-untyped-def]
    with ctx.write() as session:
        deployment = deployments.record(
            session,
            service_id=service_id,
            version=version,
            artifact_digest=artifact,
            environment="production",
            deployed_by="bench",
            deployed_at=None,
            url=None,
            now=ctx.clock.now(),
        )
        hooks.on_deployment(
            session,
            deployment=deployment,
            settings=ctx.settings,
            override_reason=None,
            actor="bench",
            now=ctx.clock.now(),
        )


def _healthy(ctx, service_id: str) -> bool:  # type: ignore[no-untyped-def]
    with ctx.read() as session:
        found = service.last_known_healthy(session, service_id=service_id, environment="production")
        return found is not None


def run(kind: str, rounds: int) -> list[float]:
    from tests.support.release_target import ReleasedService, digest

    with database(kind) as url, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        targets = []
        for i in range(rounds):
            (folder / f"svc-{i}").mkdir()
            targets.append(ReleasedService(folder / f"svc-{i}", good={digest(1)}).__enter__())
        try:
            return _rounds(url, folder, targets)
        finally:
            for target in targets:
                target.__exit__(None, None, None)


def _rounds(url: str, folder: Path, targets: list[ReleasedService]) -> list[float]:
    from tests.support.release_target import digest

    detectors = [
        {
            "name": f"svc-{i}-ready",
            "service": f"svc-{i}",
            "runbook": "RB-001",
            "detector": {"kind": "http_probe", "url": f"{t.url}/readyz", "interval_seconds": 1, "timeout_seconds": 1},
        }
        for i, t in enumerate(targets)
    ]
    releases = {
        f"svc-{i}": {
            "settle_seconds": 1,
            "rollback": {"kind": "command", "argv": t.rollback_argv()},
            "verify": {"checks": 5, "successes": 1, "interval_seconds": 0.1},  # verified: no breaker trips
        }
        for i, t in enumerate(targets)
    }
    (folder / "detectors.yaml").write_text(yaml.safe_dump({"detectors": detectors}))
    (folder / "releases.yaml").write_text(yaml.safe_dump({"services": releases}))
    (folder / "catalog.yaml").write_text(_catalog(len(targets)))
    (folder / "actions.yaml").write_text(yaml.safe_dump({"commands": [sys.executable]}))  # the rollback's allowlist
    settings = Settings(
        database_url=url,
        runbook_dirs=[],
        detectors_file=folder / "detectors.yaml",
        releases_file=folder / "releases.yaml",
        actions_file=folder / "actions.yaml",
        engine_poll_seconds=0.1,
        webhook_secret=SECRET,  # type: ignore[arg-type]
    )
    ctx = build_context(settings)
    migrate.upgrade(ctx.engine)
    with ctx.write() as session:
        docs = catalog_loader.read_paths([folder / "catalog.yaml"])
        catalog.load_catalog(session, documents=docs, now=ctx.clock.now())
    for target in targets:
        target.deploy(digest(1))
    running = start_engine(ctx, worker_id="bench")
    latencies = []
    try:
        for i, target in enumerate(targets):
            service_id = f"svc-{i}"
            _record(ctx, service_id, "1.0.0", digest(1))
            _wait(f"{service_id} v1 healthy", lambda s=service_id: _healthy(ctx, s))
            since = time.time()
            target.deploy(digest(2))
            _record(ctx, service_id, "2.0.0", digest(2))
            try:
                _wait(f"{service_id} rollback", lambda t=target: t.rollback_starts())
            except RuntimeError:
                _explain(ctx, service_id)
                raise
            third = target.failures_since(since)[2]
            latencies.append(target.rollback_starts()[0] - third)
    finally:
        running.stop()
        ctx.dispose()
    return latencies


def _explain(ctx, service_id: str) -> None:  # type: ignore[no-untyped-def]
    from missionctl.incidents import service as incidents

    with ctx.read() as session:
        for found in incidents.list_incidents(session, service=service_id):
            for event in incidents.get(session, incident_id=found.id).timeline:
                print(f"  INC-{found.id} {event.kind}: {event.summary}", file=sys.stderr)


def baseline(script: Path, rounds: int) -> list[float]:
    stamps = script.parent / "baseline.jsonl"
    values = []
    for _ in range(rounds):
        started = time.time()
        subprocess.run(
            [sys.executable, str(script), str(script.parent / "state.json"), "x", str(stamps)],
            check=True,
            capture_output=True,
        )
        last = stamps.read_text().splitlines()[-1]
        values.append(json.loads(last)["started"] - started)
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from tests.support.release_target import ReleasedService

    with tempfile.TemporaryDirectory() as tmp:
        floor = median(baseline(ReleasedService(Path(tmp), good=set()).script, args.rounds))
    print(f"baseline: start the rollback script directly          p50 {floor * 1000:7.1f} ms")
    for kind in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        values = run(kind, args.rounds)
        p50, worst = median(values), max(values)
        verdict = "meets" if worst < 1.0 else "MISSES"
        print(
            f"{kind:<10} third failed probe → rollback started   p50 {p50 * 1000:7.1f} ms  max {worst * 1000:7.1f} ms  "
            f"n={len(values)}  ({ratio(p50, floor)} baseline; {verdict} the 1 s target)"
        )


if __name__ == "__main__":
    main()
