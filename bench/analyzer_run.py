"""Figure: PostgreSQL analyzer run time on a database with 200 distinct statements in pg_stat_statements.

A private PostgreSQL 15 (pg_stat_statements preloaded, hypopg) holding the test suite's shop database
(200,000 orders, 20,000 customers), and 200 distinct SELECT statements each run a few times. Mission
Control itself on SQLite. Timed, each as the median of `--repeats` runs:

- the analyzer (`service.run`) with top_n=200 (every statement) and with the default top_n=10: sample
  pg_stat_statements, deltas, generic plans, diffs against baselines, hypopg trials, storing the report;
  the first run (which creates the baselines) is reported separately;
- the naive baseline in the same process: `SELECT * FROM pg_stat_statements` plus one EXPLAIN per statement
  (PREPARE / EXPLAIN EXECUTE / DEALLOCATE for $n statements), nothing stored, no hypopg.

Between runs the workload runs again, so every statement has calls since the last snapshot.

    python bench/analyzer_run.py [--statements 200] [--orders 200000] [--repeats 5]

Measured (2 shared cores, PostgreSQL 15.x, 50 of the 200 statements with a sequential scan, i.e. 150 hypopg
trials): top_n=200 337 ms (first run, creating 200 baselines, 552 ms), 2.06x the naive pass (164 ms);
top_n=10 92 ms, 0.57x.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import SecretStr

from _common import median, ratio  # also puts the repository root on sys.path
from missionctl import migrate
from missionctl.analyzer import plans, service, target
from missionctl.analyzer.config import AnalyzerConfig
from missionctl.clock import FrozenClock
from missionctl.context import build_context
from missionctl.db import make_engine
from missionctl.settings import Settings

if TYPE_CHECKING:
    from tests.analyzer.target import Target

COLUMNS = ["id", "customer_id", "status", "created_at", "amount"]
WHERES = [
    ("customer_id = %s", lambda i: i % 20_000 + 1),  # index
    ("created_at >= now() - %s::interval", lambda i: "1 hour"),  # index range
    ("id = %s", lambda i: i + 1),  # primary key
    ("amount = %s AND status = %s", lambda i: None),  # sequential scan: hypopg validates candidates
]


def statements(count: int) -> list[tuple[str, Callable[[int], tuple[object, ...]]]]:
    """`count` statements that differ in structure (constants alone would normalise to one queryid)."""
    shapes = itertools.chain.from_iterable(itertools.permutations(COLUMNS, n) for n in (2, 3, 4))
    found: list[tuple[str, Callable[[int], tuple[object, ...]]]] = []
    for i, cols in enumerate(shapes):
        where, value = WHERES[i % len(WHERES)]
        if where.startswith("amount"):
            found.append((f"SELECT {', '.join(cols)} FROM orders WHERE {where}", lambda n: (99.9, "paid")))
        else:
            found.append((f"SELECT {', '.join(cols)} FROM orders WHERE {where}", lambda n, v=value: (v(n),)))
        if len(found) == count:
            break
    return found


def workload(shop: Target, stmts: list[tuple[str, Callable[[int], tuple[object, ...]]]], rounds: int) -> None:
    with shop.admin() as conn:
        for n in range(rounds):
            for sql, params in stmts:
                conn.execute(sql.encode(), params(n))


def naive(config: AnalyzerConfig) -> float:
    """`SELECT * FROM pg_stat_statements` and one EXPLAIN per statement; seconds."""
    started = time.perf_counter()
    with target.connect(config) as conn:
        rows = conn.execute(
            "SELECT query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database"
            " WHERE datname = current_database()) AND userid <> (SELECT oid FROM pg_roles WHERE rolname = current_user)"
        ).fetchall()
        for (query,) in rows:
            plans.capture(conn, str(query))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--statements", type=int, default=200)
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--rounds", type=int, default=5, help="runs of each statement between analyses (analyzer_min_calls is 5)"
    )
    args = parser.parse_args()
    # importable once _common put the repository root on sys.path
    from tests.analyzer.target import SETTINGS, create_target
    from tests.support.postgres import PostgresServer

    stmts = statements(args.statements)
    with PostgresServer(settings=SETTINGS) as server, tempfile.TemporaryDirectory() as tmp:
        shop = create_target(server, "shop", orders=args.orders)
        url = f"sqlite:///{tmp}/missionctl.db"
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        clock = FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
        base = Settings(database_url=url, runbook_dirs=[], analyzer_database_url=SecretStr(shop.readonly_url))
        workload(shop, stmts, args.rounds)
        with server.connect("shop") as conn:
            seen = conn.execute(
                "SELECT count(*) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
                " WHERE d.datname = 'shop' AND s.query LIKE 'SELECT %% FROM orders WHERE %%'"
            ).fetchone()
        print(
            f"PostgreSQL 15, {args.orders:,} orders; {seen[0] if seen else '?'} distinct workload statements "
            f"in pg_stat_statements; Mission Control on SQLite; median of {args.repeats} runs"
        )
        results: dict[str, list[float]] = {}
        first: dict[int, float] = {}
        for top_n in (args.statements, 10):
            ctx = build_context(base.model_copy(update={"analyzer_top_n": top_n}), clock=clock)
            for attempt in range(args.repeats + 1):
                clock.advance(timedelta(hours=1))
                if attempt:
                    workload(shop, stmts, args.rounds)
                started = time.perf_counter()
                report = service.run(ctx, now=clock.now(), trigger="bench")
                took = time.perf_counter() - started
                if attempt == 0:
                    first[top_n] = took
                    print(f"  top_n={top_n}: first run {took * 1000:.0f} ms: {report.summary}")
                else:
                    results.setdefault(f"analyzer top_n={top_n}", []).append(took)
            ctx.dispose()
            with shop.admin() as conn:  # the next configuration starts from no baselines, no snapshot
                conn.execute("SELECT pg_stat_statements_reset()")
            workload(shop, stmts, args.rounds)
            with make_engine(url).begin() as conn:
                for table in ("analyzer_reports", "analyzer_baselines", "analyzer_snapshots"):
                    conn.exec_driver_sql(f"DELETE FROM {table}")
        config = AnalyzerConfig.from_settings(base)
        results["naive: SELECT * FROM pg_stat_statements + 1 EXPLAIN each"] = [
            naive(config) for _ in range(args.repeats)
        ]

    baseline = median(results["naive: SELECT * FROM pg_stat_statements + 1 EXPLAIN each"])
    print(f"{'measurement':<58} {'median':>10} {'vs naive':>9}")
    for name, values in results.items():
        print(f"{name:<58} {median(values) * 1000:8.0f} ms {ratio(median(values), baseline):>9}")


if __name__ == "__main__":
    main()
