"""Index recommendations validated with hypothetical indexes (hypopg) on the analyzed database.

For each candidate: `hypopg_create_index(...)` (an index that exists only in this session's planner),
re-plan the statement, note the estimated cost, `hypopg_reset()`. A candidate is accepted only when the
planner uses it and the estimated total cost falls by at least half. Nothing here creates an index:
that is `pg.create_index`, approved by a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from missionctl.analyzer import plans
from missionctl.analyzer.candidates import Candidate
from missionctl.analyzer.diff import summarize

MIN_COST_REDUCTION = 0.5  # accepted only where the estimated cost falls by at least half
PREFER_NARROWER_WITHIN = 0.1  # a narrower index within 10% of the best cost wins: cheaper to keep


@dataclass(frozen=True)
class Trial:
    candidate: Candidate
    cost_after: float | None  # None: hypopg or planning failed
    used: bool
    error: str | None = None


@dataclass
class Recommendation:
    candidate: Candidate
    cost_before: float
    cost_after: float
    queryids: list[str] = field(default_factory=list)

    @property
    def reduction(self) -> float:
        return 1.0 - self.cost_after / self.cost_before if self.cost_before > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        c = self.candidate
        return {
            "relation": c.relation,
            "schema": c.schema,
            "table": c.table,
            "columns": list(c.columns),
            "index_name": c.name,
            "statement": c.statement(),
            "cost_before": self.cost_before,
            "cost_after": self.cost_after,
            "cost_reduction": round(self.reduction, 4),
            "validated_with": "hypopg",
            "queryids": self.queryids,
            "action": {
                "name": "pg.create_index",
                "params": {"schema": c.schema, "table": c.table, "columns": list(c.columns), "name": c.name},
            },
        }


def hypopg_available(conn: psycopg.Connection[TupleRow]) -> bool:
    row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'hypopg'").fetchone()
    return row is not None


def trial(conn: psycopg.Connection[TupleRow], query: str, candidate: Candidate) -> Trial:
    """The estimated cost of `query` with `candidate` as a hypothetical index (one round trip)."""
    create = sql.SQL("SELECT indexname FROM hypopg_create_index({})").format(sql.Literal(candidate.hypothetical_sql()))
    explain, name = plans.explain_statements(query)
    reset = "SELECT hypopg_reset()"
    try:
        results = plans.run_batch(conn, [create.as_string(conn), *explain, reset])
    except psycopg.Error as exc:
        plans.cleanup(conn, [reset, *([f"DEALLOCATE {name}"] if name else [])])
        return Trial(candidate, None, False, plans.message(exc))
    hypothetical = str(results[0][0][0]) if results[0] else ""
    summary = summarize(plans.plan_of(results[2 if name else 1]))
    return Trial(candidate, summary.total_cost, hypothetical in summary.indexes)


def best(trials: Sequence[Trial], cost_before: float) -> list[Trial]:
    """The accepted trial per relation: used by the planner, cost at most half, narrowest near the cheapest."""
    accepted = [
        t
        for t in trials
        if t.used and t.cost_after is not None and cost_before > 0 and t.cost_after <= cost_before * MIN_COST_REDUCTION
    ]
    chosen: list[Trial] = []
    for relation in sorted({t.candidate.relation for t in accepted}):
        mine = [t for t in accepted if t.candidate.relation == relation]
        cheapest = min(t.cost_after or 0.0 for t in mine)
        near = [t for t in mine if (t.cost_after or 0.0) <= cheapest * (1 + PREFER_NARROWER_WITHIN) + 1e-9]
        chosen.append(min(near, key=lambda t: (len(t.candidate.columns), t.cost_after or 0.0)))
    return chosen


def recommend(
    conn: psycopg.Connection[TupleRow], *, query: str, cost_before: float, found: Sequence[Candidate]
) -> tuple[list[Recommendation], list[dict[str, Any]]]:
    """Validated recommendations for one statement, and every trial made (for the report)."""
    trials = [trial(conn, query, c) for c in found]
    log = [
        {
            "relation": t.candidate.relation,
            "columns": list(t.candidate.columns),
            "cost_after": t.cost_after,
            "used": t.used,
            **({"error": t.error} if t.error else {}),
        }
        for t in trials
    ]
    chosen = [Recommendation(t.candidate, cost_before, t.cost_after or 0.0) for t in best(trials, cost_before)]
    return chosen, log
