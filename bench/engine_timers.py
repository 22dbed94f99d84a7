"""Figure: timer lag and drain, SQLite and PostgreSQL, against a bare poller in the same process.

    python bench/engine_timers.py [--db sqlite|postgresql|both] [--count 100000] [--spread 60]

1. `--count` timers due evenly over `--spread` seconds: lag = when the handler ran minus when it was due
   (p50/p99/max).
2. `--count` timers all due at once: time until every handler has run (drain), and jobs/s.

The baseline is the simple design the engine must beat: a poller that wakes every 100 ms, selects due
unfired rows through a partial index, runs them and marks them fired, one transaction per batch of
1,000. The engine instead sleeps until the next due row or a commit wakes it.
"""

from __future__ import annotations

import argparse
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, text

from _common import database
from missionctl import migrate
from missionctl.clock import SystemClock
from missionctl.context import AppContext, build_context
from missionctl.engine.models import Job
from missionctl.engine.runner import Engine, EngineConfig
from missionctl.settings import Settings

POLL = 0.1


class Recorder:
    """Counts handler calls and their lag; signals when all expected calls happened."""

    def __init__(self, expected: int) -> None:
        self.lags: list[float] = []
        self.expected = expected
        self.done = threading.Event()
        self._lock = threading.Lock()

    def hit(self, due: float) -> None:
        lag = time.time() - due
        with self._lock:
            self.lags.append(lag)
            if len(self.lags) >= self.expected:
                self.done.set()


def summary(name: str, lags: list[float], seconds: float | None = None) -> str:
    ordered = sorted(lags)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    worst = ordered[-1] * 1000
    line = f"{name:<44} n={len(lags):>6}  lag p50 {p(0.5):7.1f} ms  p99 {p(0.99):7.1f} ms  max {worst:7.1f} ms"
    if seconds is not None:
        line += f"  drain {seconds:6.2f} s  ({len(lags) / seconds:8.0f} jobs/s)"
    return line


# --------------------------------------------------------------------------------------------- baseline


def baseline_setup(ctx: AppContext) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE bench_timers (id INTEGER PRIMARY KEY, due DOUBLE PRECISION NOT NULL,"
                " fired DOUBLE PRECISION)"
            )
        )
        conn.execute(text("CREATE INDEX bench_timers_due ON bench_timers (due) WHERE fired IS NULL"))


def baseline_insert(ctx: AppContext, dues: list[float]) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(text("DELETE FROM bench_timers"))
        conn.execute(
            text("INSERT INTO bench_timers (id, due) VALUES (:id, :due)"),
            [{"id": i, "due": d} for i, d in enumerate(dues)],
        )


def baseline_run(ctx: AppContext, recorder: Recorder, deadline: float) -> None:
    while not recorder.done.is_set() and time.time() < deadline:
        with ctx.engine.begin() as conn:
            rows = conn.execute(
                text("SELECT id, due FROM bench_timers WHERE fired IS NULL AND due <= :now ORDER BY due LIMIT 1000"),
                {"now": time.time()},
            ).all()
            for row in rows:
                recorder.hit(row.due)
            if rows:
                conn.execute(
                    text(f"UPDATE bench_timers SET fired = :now WHERE id IN ({','.join(str(r.id) for r in rows)})"),
                    {"now": time.time()},
                )
        if len(rows) < 1000:
            time.sleep(POLL)


# --------------------------------------------------------------------------------------------- engine


def engine_insert(ctx: AppContext, dues: list[float]) -> None:
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = [
        {
            "kind": "bench.noop",
            "run_at": datetime.fromtimestamp(d, UTC),
            "payload": {"due": d},
            "attempts": 0,
            "created_at": now,
        }
        for d in dues
    ]
    with ctx.write() as session:
        for start in range(0, len(rows), 5000):
            session.execute(insert(Job), rows[start : start + 5000])


def engine_run(ctx: AppContext, recorder: Recorder, deadline: float) -> None:
    def noop(_session: Any, *, payload: dict[str, Any], now: datetime) -> None:
        recorder.hit(payload["due"])

    engine = Engine(
        ctx,
        sender=None,
        config=EngineConfig(poll_seconds=1.0),  # type: ignore[arg-type]
        handlers={"bench.noop": noop},
        worker_id="bench",
    )
    engine.start()
    recorder.done.wait(timeout=max(0.0, deadline - time.time()))
    engine.stop()


def run(kind: str, count: int, spread: float) -> None:
    with database(kind) as url:
        ctx = build_context(Settings(database_url=url), clock=SystemClock())
        migrate.upgrade(ctx.engine)
        baseline_setup(ctx)
        for label, insert_fn, run_fn in (
            ("baseline poller", baseline_insert, baseline_run),
            ("engine", engine_insert, engine_run),
        ):
            start = time.time() + 5
            dues = [start + spread * i / count for i in range(count)]
            insert_fn(ctx, dues)
            recorder = Recorder(count)
            run_fn(ctx, recorder, start + spread + 60)
            print(summary(f"{kind} {label}: spread over {spread:.0f} s", recorder.lags))
            due = time.time()
            insert_fn(ctx, [due] * count)
            recorder = Recorder(count)
            began = time.time()
            run_fn(ctx, recorder, began + 120)
            print(summary(f"{kind} {label}: all due at once", recorder.lags, time.time() - began))
        ctx.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--spread", type=float, default=60.0)
    args = parser.parse_args()
    for kind in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
        run(kind, args.count, args.spread)


if __name__ == "__main__":
    main()
