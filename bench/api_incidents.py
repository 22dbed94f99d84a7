"""Figure: declare→read round trip and listing 10,000 incidents through the API, SQLite and PostgreSQL.

Each figure is printed next to the same operation on `bench/baseline_app.py` (a bare FastAPI app
writing and reading one row on the same database), run in the same process, and the ratio between
the two. Servers run as subprocesses under uvicorn with one worker; load comes from client threads.

    python bench/api_incidents.py [--db sqlite|postgresql|both] [--seconds 8] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
from datetime import UTC, datetime

import httpx

from _common import ROOT, LoadResult, database, free_port, ratio, run_load, server_process

SEED = 10_000


def _missionctl(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "missionctl", *args],
        env=os.environ | env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.strip()


def _seed_incidents(url: str, count: int) -> None:
    from missionctl.clock import SystemClock
    from missionctl.context import build_context
    from missionctl.incidents import service
    from missionctl.settings import Settings

    # The server's engine (another process) works through the seeded incidents' timers meanwhile.
    ctx = build_context(Settings(database_url=url, sqlite_busy_timeout_ms=60_000), clock=SystemClock())
    runbooks = [ctx.runbooks.get(r) for r in ("RB-001", "RB-002", "RB-003")]
    for start in range(0, count, 100):
        with ctx.write() as session:
            for i in range(start, min(count, start + 100)):
                service.declare(
                    session,
                    runbook=runbooks[i % 3],
                    service=f"svc-{i % 40}",
                    title=f"seed {i}",
                    severity=None,
                    commander="seed",
                    actor="seed",
                    now=ctx.clock.now(),
                )
    ctx.dispose()


def _seed_rows(url: str, count: int) -> None:
    from sqlalchemy import insert

    from baseline_app import rows
    from missionctl.db import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            insert(rows),
            [{"title": f"seed {i}", "service": f"svc-{i % 40}", "created_at": datetime.now(UTC)} for i in range(count)],
        )
    engine.dispose()


def bench_backend(kind: str, seconds: float, concurrency: int) -> list[tuple[LoadResult, LoadResult]]:
    pairs = []
    with database(kind) as url:
        env = {"MISSIONCTL_DATABASE_URL": url}
        _missionctl("db", "upgrade", env=env)
        token = _missionctl("token", "create", "--role", "responder", "--name", "bench", env=env).splitlines()[-1]
        headers = {"Authorization": f"Bearer {token}"}

        port = free_port()
        base_argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(ROOT / "bench"),
            "--factory",
            "baseline_app:create",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        with server_process(base_argv, port, {"BENCH_DATABASE_URL": url}) as base_url:

            def base_round_trip(client: httpx.Client, i: int) -> int:
                r = client.post("/rows", json={"title": f"t{i}", "service": "checkout"})
                assert r.status_code == 201
                assert client.get(f"/rows/{r.json()['id']}").status_code == 200
                return 2

            base_rt = run_load(
                f"{kind} baseline write+read",
                base_url,
                {},
                base_round_trip,
                concurrency=concurrency,
                max_ops=20_000,
                max_seconds=seconds,
            )
            _seed_rows(url, SEED)

            def base_list(client: httpx.Client, i: int) -> int:
                r = client.get("/rows", params={"limit": 50, "before_id": random.randint(50, SEED)})
                assert r.status_code == 200
                return 1

            base_ls = run_load(
                f"{kind} baseline list 50 of {SEED}",
                base_url,
                {},
                base_list,
                concurrency=concurrency,
                max_ops=50_000,
                max_seconds=seconds,
            )

        port = free_port()
        argv = [sys.executable, "-m", "missionctl", "serve", "--port", str(port)]
        with server_process(argv, port, env | {"MISSIONCTL_LOG_LEVEL": "warning"}) as mc_url:

            def declare_read(client: httpx.Client, i: int) -> int:
                r = client.post(
                    "/api/v1/incidents",
                    json={
                        "runbook": "RB-001",
                        "severity": "SEV2",
                        "service": "checkout",
                        "title": f"bench {i}",
                    },
                )
                assert r.status_code == 201, r.text
                assert client.get(f"/api/v1/incidents/{r.json()['id']}").status_code == 200
                return 2

            mc_rt = run_load(
                f"{kind} missionctl declare+read",
                mc_url,
                headers,
                declare_read,
                concurrency=concurrency,
                max_ops=20_000,
                max_seconds=seconds,
            )
            _seed_incidents(url, SEED)

            def list_page(client: httpx.Client, i: int) -> int:
                r = client.get("/api/v1/incidents", params={"limit": 50, "before_id": random.randint(50, SEED)})
                assert r.status_code == 200
                return 1

            mc_ls = run_load(
                f"{kind} missionctl list 50 of {SEED}+",
                mc_url,
                headers,
                list_page,
                concurrency=concurrency,
                max_ops=50_000,
                max_seconds=seconds,
            )
        pairs = [(base_rt, mc_rt), (base_ls, mc_ls)]
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each load phase (bounded)")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        for base, mine in bench_backend(kind, args.seconds, args.concurrency):
            print(base.line())
            print(mine.line())
            print(
                f"{'':44} ratio vs baseline: throughput {ratio(mine.rate, base.rate)}, "
                f"p99 {ratio(mine.pct(0.99), base.pct(0.99))}"
            )


if __name__ == "__main__":
    main()
