"""Figure: console render time with 10,000 incidents, and the time from a change to the live update.

A real `missionctl serve --no-engine` (uvicorn, one worker) on a database seeded with 10,000 incidents
(declared over the past year, one in ten still open, the rest resolved with varied response times),
logged in as a console user:

- p50/p95 server round trip of the incident list (`GET /incidents`), of an incident room
  (`GET /incidents/{id}`, with its actions panel), of the release ledger (`GET /releases`: 40 services
  with a dozen releases each, and one service's page) and of the reports (`GET /reports`: the last
  12 weeks by service, and all 52 weeks by runbook; plus the JSON summary over the year), next to the
  API's JSON read of the same incident (`GET /api/v1/incidents/{id}`, the baseline, same process) and
  the ratio between the two;
- change → live update: with the room's event stream open, a change through the API, timed until the
  stream's `change` event arrives, and until the room fragment the page then fetches has arrived.

Targets: p95 render under 50 ms, change → update under 500 ms. Loops are bounded by count.

    python bench/console_render.py [--db sqlite|postgresql] [--incidents 10000] [--requests 300] [--changes 40]
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx

from _common import LoadResult, database, free_port, ratio, server_process

if TYPE_CHECKING:
    from missionctl.context import AppContext

PASSWORD = "bench password long enough"


def _missionctl(*args: str, env: dict[str, str], stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "missionctl", *args],
        env=os.environ | env,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.strip()


def seed(url: str, count: int) -> list[int]:
    """Declare `count` incidents through the service, then mark nine in ten resolved; returns the open ids."""
    from sqlalchemy import update

    from missionctl import migrate
    from missionctl.clock import SystemClock
    from missionctl.context import build_context
    from missionctl.incidents import service
    from missionctl.incidents.models import Incident
    from missionctl.settings import Settings

    ctx = build_context(Settings(database_url=url, sqlite_busy_timeout_ms=60_000), clock=SystemClock())
    migrate.upgrade(ctx.engine)
    runbooks = [ctx.runbooks.get(r) for r in ("RB-001", "RB-002", "RB-003")]
    for start in range(0, count, 250):
        with ctx.write() as session:
            for i in range(start, min(count, start + 250)):
                service.declare(
                    session,
                    runbook=runbooks[i % 3],
                    service=f"svc-{i % 40}",
                    title=f"seed incident {i}",
                    severity=None,
                    commander=f"person-{i % 25}",
                    actor="seed",
                    now=ctx.clock.now(),
                )
    now = ctx.clock.now()
    with ctx.write() as session:
        # Bulk history: the list and room read these columns; going through `resolve` would only add time.
        session.execute(
            update(Incident)
            .where(Incident.id % 10 != 0)
            .values(status="resolved", resolved_at=now + timedelta(minutes=12), recovery_slo_met=True)
        )
    spread_over_a_year(ctx, count, now)
    seed_releases(ctx, now)
    ctx.dispose()
    return [i for i in range(1, count + 1) if i % 10 == 0]


def spread_over_a_year(ctx: AppContext, count: int, now: datetime) -> None:
    """Give the incidents a year of declaration times and response times, for the reports to chart."""
    from sqlalchemy import update

    from missionctl.incidents.models import Incident

    rng = random.Random(11)
    rows = []
    for i in range(1, count + 1):
        declared = now - timedelta(days=365) * (count - i) / count
        resolve = timedelta(minutes=rng.uniform(5, 90))
        row = {
            "id": i,
            "declared_at": declared,
            "first_page_sent_at": declared + timedelta(seconds=rng.uniform(1, 20)),
            "acknowledged_at": declared + timedelta(minutes=rng.uniform(0.5, 8)),
        }
        if i % 10:
            row |= {"resolved_at": declared + resolve, "recovery_slo_met": resolve < timedelta(minutes=45)}
        rows.append(row)
    with ctx.write() as session:
        session.execute(update(Incident), [r for r in rows if "resolved_at" in r])
        session.execute(update(Incident), [r for r in rows if "resolved_at" not in r])


def seed_releases(ctx: AppContext, now: datetime, services: int = 40, per_service: int = 12) -> None:
    """A release ledger for `/releases`: a dozen releases per service, the older ones healthy, the latest pending."""
    from sqlalchemy import insert, select

    from missionctl.deployments.models import Deployment
    from missionctl.releases.models import ReleaseVerdict

    rows = [
        {
            "service_id": f"svc-{s}",
            "version": f"1.{n}.0",
            "artifact_digest": "sha256:" + f"{s:02x}{n:02x}" * 16,
            "environment": "production",
            "deployed_by": "ci",
            "deployed_at": now - timedelta(days=per_service - n),
            "created_at": now,
        }
        for s in range(services)
        for n in range(per_service)
    ]
    with ctx.write() as session:
        session.execute(insert(Deployment), rows)
        deployed = session.execute(select(Deployment.id, Deployment.service_id, Deployment.deployed_at)).all()
        verdicts = [
            {
                "deployment_id": row.id,
                "service_id": row.service_id,
                "environment": "production",
                "verdict": "pending" if row.deployed_at > now - timedelta(days=1) else "healthy",
                "settles_at": row.deployed_at + timedelta(minutes=5),
                "decided_at": row.deployed_at + timedelta(minutes=5),
                "reason": "readiness passed for the settle period",
            }
            for row in deployed
        ]
        session.execute(insert(ReleaseVerdict), verdicts)


def log_in(client: httpx.Client) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    form = {"username": "bench", "password": PASSWORD, "csrf_token": token.group(1), "next": "/"}
    assert client.post("/login", data=form).status_code == 303


def timed(name: str, client: httpx.Client, paths: list[str], headers: dict[str, str] | None = None) -> LoadResult:
    for path in paths[:20]:  # warm-up
        client.get(path, headers=headers)
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    for path in paths:
        t0 = time.perf_counter()
        response = client.get(path, headers=headers)
        latencies.append(time.perf_counter() - t0)
        errors += response.status_code != 200
    return LoadResult(name, len(paths), time.perf_counter() - started, latencies, errors)


def live_latency(
    client: httpx.Client, api: httpx.Client, incident_id: int, changes: int
) -> tuple[list[float], list[float]]:
    """(change → event, change → event + fragment) in seconds, for `changes` changes one after another."""
    events: queue.Queue[float] = queue.Queue()
    stop = threading.Event()

    def listen() -> None:
        try:
            with client.stream("GET", f"/incidents/{incident_id}/events", timeout=None) as stream:
                for line in stream.iter_lines():
                    if line == "event: change":
                        events.put(time.perf_counter())
                    if stop.is_set():
                        return
        except httpx.HTTPError:
            if not stop.is_set():  # the server going away at the end is expected
                raise

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    time.sleep(1.0)  # the stream's hello
    to_event: list[float] = []
    to_fragment: list[float] = []
    for i in range(changes):
        t0 = time.perf_counter()
        api.post(f"/api/v1/incidents/{incident_id}/messages", json={"body": f"bench change {i}"}).raise_for_status()
        arrived = events.get(timeout=10)
        to_event.append(arrived - t0)
        assert client.get(f"/incidents/{incident_id}/live").status_code == 200
        to_fragment.append(time.perf_counter() - t0)
        time.sleep(random.uniform(0.05, 0.35))  # changes land anywhere in the poll interval
    stop.set()
    return to_event, to_fragment


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--changes", type=int, default=40)
    args = parser.parse_args()
    random.seed(7)
    with database(args.db) as url:
        started = time.perf_counter()
        open_ids = seed(url, args.incidents)
        print(f"seeded {args.incidents} incidents ({len(open_ids)} open) in {time.perf_counter() - started:.0f} s")
        env = {"MISSIONCTL_DATABASE_URL": url}
        _missionctl(
            "user",
            "create",
            "--username",
            "bench",
            "--role",
            "responder",
            "--password-stdin",
            env=env,
            stdin=PASSWORD + "\n",
        )
        token = _missionctl("token", "create", "--role", "responder", "--name", "bench", env=env).splitlines()[-1]
        port = free_port()
        argv = [sys.executable, "-m", "missionctl", "serve", "--no-engine", "--port", str(port)]
        auth = {"Authorization": f"Bearer {token}"}
        with (
            server_process(argv, port, env=env | {"MISSIONCTL_LOG_LEVEL": "warning"}) as base,
            httpx.Client(base_url=base, timeout=30) as client,
            httpx.Client(base_url=base, timeout=30, headers=auth) as api,
        ):
            log_in(client)
            rooms = [f"/incidents/{random.choice(open_ids)}" for _ in range(args.requests)]
            year_ago = (datetime.now(UTC) - timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
            results = [
                timed("GET /incidents (list, 10k in the database)", client, ["/incidents"] * args.requests),
                timed(
                    "GET /incidents?before=… (history page)",
                    client,
                    [f"/incidents?before={args.incidents // 2}"] * args.requests,
                ),
                timed("GET /incidents/{id} (room)", client, rooms),
                timed("GET /releases (40 services, ledger + freezes)", client, ["/releases"] * args.requests),
                timed("GET /releases?service=… (one service)", client, ["/releases?service=svc-7"] * args.requests),
                timed("GET /reports (12 weeks, by service)", client, ["/reports"] * args.requests),
                timed(
                    "GET /reports?weeks=52&group_by=runbook",
                    client,
                    ["/reports?weeks=52&group_by=runbook"] * args.requests,
                ),
                timed(
                    "GET /api/v1/reports/summary (52 weeks)",
                    api,
                    [f"/api/v1/reports/summary?since={year_ago}"] * args.requests,
                ),
                timed("baseline: GET /api/v1/incidents/{id} (JSON)", api, ["/api/v1" + r for r in rooms]),
            ]
            to_event, to_fragment = live_latency(client, api, open_ids[-1], args.changes)
    baseline = results[-1].pct(0.95)
    print(f"\nconsole render on {args.db}, {args.incidents} incidents, {args.requests} sequential requests each")
    for result in results:
        print(f"{result.line()}  p95 {result.pct(0.95):7.2f} ms  ({ratio(result.pct(0.95), baseline)} of baseline p95)")
    print(f"\nchange → live update, {args.changes} changes through the API (poll interval 200 ms)")
    for name, values in (("change → SSE event", to_event), ("change → event + fragment fetched", to_fragment)):
        print(
            f"  {name:<34} p50 {pct(values, 0.5):7.1f} ms  p95 {pct(values, 0.95):7.1f} ms  "
            f"max {max(values) * 1000:7.1f} ms"
        )


if __name__ == "__main__":
    main()
