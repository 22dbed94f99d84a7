"""pg_stat_statements: sample the counters, keep snapshots, and rank statements by the time spent since the last one.

Counters are cumulative since the last reset, so "slow now" is a delta between two snapshots. A statement
that is new since the previous snapshot, or whose counters went down (a `pg_stat_statements_reset()`, or
its entry was evicted and came back), counts from zero: its current counters are its delta.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import TupleRow
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from missionctl.analyzer.models import AnalyzerSnapshot

KEEP_SNAPSHOTS = 24  # per target; only the latest is ever compared with, the rest are for people
QUERY_TEXT_CHARS = 10_000

# The analyzer's own statements (it runs under its own role) and other databases are left out.
SAMPLE_SQL = """
SELECT s.queryid, min(s.query), sum(s.calls)::bigint, sum(s.total_exec_time)::float8
FROM pg_stat_statements AS s
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND s.userid <> (SELECT oid FROM pg_roles WHERE rolname = current_user)
  AND s.queryid IS NOT NULL
GROUP BY s.queryid
"""
RESET_SQL = "SELECT stats_reset FROM pg_stat_statements_info"


@dataclass(frozen=True)
class Counters:
    calls: int
    total_ms: float


@dataclass(frozen=True)
class Sample:
    """pg_stat_statements at one moment: counters per queryid, query texts, and when stats were last reset."""

    stats_reset_at: datetime | None
    counters: Mapping[int, Counters]
    queries: Mapping[int, str]


@dataclass(frozen=True)
class Delta:
    """One statement's work between two snapshots."""

    queryid: int
    query: str
    calls: int
    total_ms: float
    fresh: bool  # counted from zero: no earlier counters to subtract (new, reset or evicted)

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "queryid": str(self.queryid),
            "query": self.query,
            "calls": self.calls,
            "total_ms": round(self.total_ms, 3),
            "mean_ms": round(self.mean_ms, 3),
            "fresh": self.fresh,
        }


def sample(conn: psycopg.Connection[TupleRow]) -> Sample:
    """Read pg_stat_statements (one read-only transaction)."""
    with conn.transaction():
        reset_row = conn.execute(RESET_SQL).fetchone()
        rows = conn.execute(SAMPLE_SQL).fetchall()
    counters = {int(r[0]): Counters(int(r[2]), float(r[3])) for r in rows}
    queries = {int(r[0]): str(r[1])[:QUERY_TEXT_CHARS] for r in rows}
    return Sample(reset_row[0] if reset_row else None, counters, queries)


def deltas(previous: Mapping[int, Counters] | None, previous_reset_at: datetime | None, current: Sample) -> list[Delta]:
    """Every statement's delta since `previous` (None: since the last stats reset)."""
    reset = previous is None or previous_reset_at != current.stats_reset_at
    before: Mapping[int, Counters] = {} if reset or previous is None else previous
    found: list[Delta] = []
    for queryid, now in current.counters.items():
        then = before.get(queryid)
        fresh = then is None or now.calls < then.calls or now.total_ms < then.total_ms
        calls = now.calls if fresh or then is None else now.calls - then.calls
        total = now.total_ms if fresh or then is None else now.total_ms - then.total_ms
        found.append(Delta(queryid, current.queries.get(queryid, ""), calls, total, fresh))
    return found


def top(found: Sequence[Delta], *, n: int, min_calls: int) -> list[Delta]:
    """The `n` statements with the most total time, among those called at least `min_calls` times."""
    eligible = [d for d in found if d.calls >= min_calls and d.total_ms > 0]
    return sorted(eligible, key=lambda d: (-d.total_ms, d.queryid))[:n]


# -- snapshots (in Mission Control's database) ---------------------------------------------------------


def latest_snapshot(session: Session, *, target: str) -> AnalyzerSnapshot | None:
    query = select(AnalyzerSnapshot).where(AnalyzerSnapshot.target == target).order_by(AnalyzerSnapshot.id.desc())
    return session.scalars(query.limit(1)).first()


def snapshot_counters(snapshot: AnalyzerSnapshot) -> dict[int, Counters]:
    return {int(k): Counters(int(v[0]), float(v[1])) for k, v in snapshot.counters.items()}


def save_snapshot(session: Session, *, target: str, taken: Sample, now: datetime) -> AnalyzerSnapshot:
    """Store the counters (not the query texts) and keep only the latest `KEEP_SNAPSHOTS` of the target."""
    row = AnalyzerSnapshot(
        target=target,
        taken_at=now,
        stats_reset_at=taken.stats_reset_at,
        statements=len(taken.counters),
        counters={str(k): [c.calls, c.total_ms] for k, c in taken.counters.items()},
    )
    session.add(row)
    session.flush()
    keep = (
        select(AnalyzerSnapshot.id)
        .where(AnalyzerSnapshot.target == target)
        .order_by(AnalyzerSnapshot.id.desc())
        .limit(KEEP_SNAPSHOTS)
    )
    session.execute(delete(AnalyzerSnapshot).where(AnalyzerSnapshot.target == target, AnalyzerSnapshot.id.not_in(keep)))
    return row
