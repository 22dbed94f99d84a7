"""Figures: declare → first page received, and pages delivered per second by one engine and by two.

    python bench/engine_pages.py [--db sqlite|postgresql|both] [--declares 200] [--pages 2000]

1. Latency: `missionctl serve` (API + engine in one process) runs as a subprocess; the bench declares
   incidents one at a time over HTTP and waits for the page at a local Standard Webhooks receiver.
   Baseline, same process: a bare POST from the bench to the same receiver (the floor any pager
   pays). GoAlert's engine, for comparison, cycles every 5 s.
2. Throughput: `--pages` pages are queued with no engine running, then one engine process (and, on
   PostgreSQL, two) delivers them. Baseline: the same number of POSTs sent straight to the receiver
   from 8 threads in the bench process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from _common import database, free_port, server_process
from missionctl import migrate
from missionctl.catalog import loader as catalog_loader
from missionctl.catalog import service as catalog
from missionctl.context import build_context
from missionctl.incidents import service as incidents
from missionctl.settings import Settings

if TYPE_CHECKING:
    from tests.support.receivers import WebhookReceiver

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CATALOG = """
people:
{people}
teams:
  - {{id: crew, name: Crew, members: [p0]}}
escalation_policies:
  - {{id: one, name: One, levels: [{{escalate_after_minutes: 60, targets: [{{person: p0}}]}}]}}
services:
  - {{id: bench, name: Bench, tier: 2, team: crew, escalation_policy: one}}
"""
PERSON = '  - {{id: {id}, name: {id}, contact_methods: [{{id: hook, kind: webhook, address: "{url}/{id}"}}]}}'


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def env_for(url: str) -> dict[str, str]:
    return {
        "MISSIONCTL_DATABASE_URL": url,
        "MISSIONCTL_WEBHOOK_SECRET": SECRET,
        "MISSIONCTL_DELIVERY_RATE_PER_DESTINATION": "100000",
        "MISSIONCTL_DELIVERY_BURST_PER_DESTINATION": "100000",
        "MISSIONCTL_LOG_LEVEL": "warning",
        "MISSIONCTL_ENGINE_DELIVERY_WORKERS": "16",
    }


def prepare(url: str, hooks: WebhookReceiver, tmp: str) -> str:
    """Migrate, load the bench catalog, and return a responder token."""
    ctx = build_context(Settings(database_url=url))
    migrate.upgrade(ctx.engine)
    path = os.path.join(tmp, "catalog.yaml")
    with open(path, "w") as handle:
        handle.write(CATALOG.format(people=PERSON.format(id="p0", url=hooks.base_url)))
    documents = catalog_loader.read_paths([Path(path)])
    with ctx.write() as session:
        catalog.load_catalog(session, documents=documents, now=ctx.clock.now())
    ctx.dispose()
    done = subprocess.run(
        [sys.executable, "-m", "missionctl", "token", "create", "--role", "responder", "--name", "bench"],
        env=os.environ | env_for(url),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip().splitlines()[-1]


def latency(url: str, hooks: WebhookReceiver, token: str, count: int) -> list[float]:
    port = free_port()
    argv = [sys.executable, "-m", "missionctl", "serve", "--port", str(port)]
    samples: list[float] = []
    with (
        server_process(argv, port, env_for(url)) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client,
    ):
        for i in range(count + 10):
            before = len(hooks.requests)
            started = time.perf_counter()
            r = client.post("/api/v1/incidents", json={"runbook": "RB-002", "service": "bench", "title": f"b{i}"})
            assert r.status_code == 201, r.text
            hooks.wait_for(before + 1, timeout=10)
            if i >= 10:  # warm-up
                samples.append(time.perf_counter() - started)
    return samples


def direct_posts(hooks: WebhookReceiver, count: int, threads: int = 1) -> tuple[list[float], float]:
    lat: list[float] = []
    lock = threading.Lock()

    client = httpx.Client(timeout=10)  # one pooled client, as the engine's sender keeps one

    def one(i: int) -> None:
        t = time.perf_counter()
        client.post(hooks.url("/direct"), json={"i": i})
        with lock:
            lat.append(time.perf_counter() - t)

    began = time.perf_counter()
    with client, ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(count)))
    return lat, time.perf_counter() - began


def queue_pages(url: str, count: int) -> None:
    ctx = build_context(Settings(database_url=url))
    rb = ctx.runbooks.get("RB-002")
    for start in range(0, count, 200):
        with ctx.write() as session:
            for i in range(start, min(count, start + 200)):
                incidents.declare(
                    session,
                    runbook=rb,
                    service="bench",
                    title=f"q{i}",
                    severity=None,
                    commander="bench",
                    actor="bench",
                    now=ctx.clock.now(),
                )
    ctx.dispose()


def throughput(url: str, hooks: WebhookReceiver, count: int, engines: int) -> float:
    before = len(hooks.requests)
    queue_pages(url, count)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "missionctl", "engine", "--worker-id", f"e{n}"],
            env=os.environ | env_for(url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(engines)
    ]
    try:
        first = hooks.wait_for(before + 1, timeout=60)[-1].received_at
        last = hooks.wait_for(before + count, timeout=300)[-1].received_at
        return count / (last - first)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=15)


def run(kind: str, declares: int, pages: int) -> None:
    import tempfile

    from tests.support.receivers import WebhookReceiver  # importable once _common put the repo on sys.path

    with database(kind) as url, WebhookReceiver(SECRET) as hooks, tempfile.TemporaryDirectory() as tmp:
        token = prepare(url, hooks, tmp)
        floor, _ = direct_posts(hooks, declares)
        mine = latency(url, hooks, token, declares)
        print(
            f"{kind:<10} declare → first page received  p50 {pct(mine, 0.5):6.1f} ms  p99 {pct(mine, 0.99):6.1f} ms"
            f"   | bare POST p50 {pct(floor, 0.5):5.1f} ms p99 {pct(floor, 0.99):5.1f} ms"
            f"   | ratio p99 {pct(mine, 0.99) / pct(floor, 0.99):5.1f}x"
        )
        _, seconds = direct_posts(hooks, pages, threads=8)
        raw = pages / seconds
        for engines in [1, 2] if kind == "postgresql" else [1]:
            rate = throughput(url, hooks, pages, engines)
            print(
                f"{kind:<10} pages delivered by {engines} engine(s): {rate:7.0f}/s"
                f"   | bare POSTs from 8 threads: {raw:7.0f}/s   | ratio {rate / raw:4.2f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--declares", type=int, default=200)
    parser.add_argument("--pages", type=int, default=2000)
    args = parser.parse_args()
    for kind in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
        run(kind, args.declares, args.pages)


if __name__ == "__main__":
    main()
