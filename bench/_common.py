"""Shared bench helpers: servers in subprocesses, bounded load loops, percentiles, databases."""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # so `tests.support.postgres` (the private PostgreSQL harness) imports


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def database(kind: str) -> Iterator[str]:
    """A fresh, empty database URL of `kind` ("sqlite" or "postgresql"), removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    from tests.support.postgres import PostgresServer

    # Durable, as a deployment runs it (the test server turns fsync and synchronous commit off for speed): the
    # figures are for storage that keeps what it acknowledged, like SQLite's `synchronous=FULL`.
    durable = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
    with PostgresServer(settings={"max_connections": "200", "shared_buffers": "256MB", **durable}) as server:
        server.create_database("bench")
        yield server.url("bench")


@contextlib.contextmanager
def server_process(argv: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run an HTTP server command until it answers on `port`; stop it afterwards."""
    full_env = os.environ | (env or {})
    proc = subprocess.Popen(argv, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError("server did not start within 30 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class LoadResult:
    name: str
    count: int
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")

    def line(self) -> str:
        return (
            f"{self.name:<44} {self.rate:9.1f} ops/s  p50 {self.pct(0.50):7.2f} ms  "
            f"p99 {self.pct(0.99):7.2f} ms  n={self.count} errors={self.errors}"
        )


def run_load(
    name: str,
    base_url: str,
    headers: dict[str, str],
    operation: Callable[[httpx.Client, int], int],
    *,
    concurrency: int,
    max_ops: int,
    max_seconds: float,
    warmup: int = 50,
) -> LoadResult:
    """Run `operation` from `concurrency` threads until `max_ops` ops or `max_seconds` pass (both bound it).

    `operation(client, i)` performs one logical operation and returns how many requests it made.
    """
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for i in range(warmup):
            operation(client, i)
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(max_ops))
    errors = 0
    stop_at = time.monotonic() + max_seconds

    def worker() -> None:
        nonlocal errors
        local: list[float] = []
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
            while time.monotonic() < stop_at:
                with lock:
                    i = next(counter, None)
                if i is None:
                    break
                started = time.perf_counter()
                try:
                    operation(client, i)
                except (httpx.HTTPError, AssertionError):
                    with lock:
                        errors += 1
                    continue
                local.append(time.perf_counter() - started)
        with lock:
            latencies.extend(local)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return LoadResult(name, len(latencies), elapsed, latencies, errors)


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline else "n/a"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
