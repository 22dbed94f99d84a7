"""One pass over the analyzed database: sample, rank, plan, compare with baselines, validate indexes.

Runs with no Mission Control transaction open (it waits on another server); `service.py` reads what it
needs before and stores what it found after, each in one short transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from missionctl.analyzer import candidates as cands
from missionctl.analyzer import plans, recommend, stats
from missionctl.analyzer.config import AnalyzerConfig
from missionctl.analyzer.diff import PlanSummary, classify, diff, summarize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Baseline:
    summary: PlanSummary
    captured_at: datetime
    plan: list[Any] | None = None


@dataclass(frozen=True)
class Previous:
    """The latest stored snapshot of the target, if any."""

    counters: Mapping[int, stats.Counters]
    stats_reset_at: datetime | None
    taken_at: datetime


@dataclass
class StatementFinding:
    delta: stats.Delta
    captured: plans.Captured
    summary: PlanSummary | None = None
    baseline: Baseline | None = None
    change: dict[str, Any] | None = None
    regressed: bool = False
    reasons: list[str] = field(default_factory=list)
    new_baseline: bool = False  # store `captured` as the statement's baseline
    recommendations: list[recommend.Recommendation] = field(default_factory=list)
    trials: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            **self.delta.as_json(),
            "plan": {
                "status": "captured" if self.captured.plan is not None else "skipped",
                "generic": self.captured.generic,
                "error": self.captured.error,
                "summary": self.summary.as_json() if self.summary else None,
            },
            "baseline": (
                {"captured_at": self.baseline.captured_at.isoformat(), "summary": self.baseline.summary.as_json()}
                if self.baseline
                else None
            ),
            "baseline_status": _baseline_status(self),
            "diff": self.change,
            "regressed": self.regressed,
            "reasons": self.reasons,
            "recommendations": [r.candidate.name for r in self.recommendations],
            "index_trials": self.trials,
        }


def _baseline_status(finding: StatementFinding) -> str:
    if finding.summary is None:
        return "not_planned"
    if finding.baseline is None:
        return "created"
    if finding.regressed:
        return "regressed"
    return "refreshed" if finding.new_baseline else "kept"  # kept: unchanged, or changed shape at a higher cost


@dataclass
class Analysis:
    sample: stats.Sample
    statements_seen: int
    top: list[StatementFinding]
    hypopg: bool
    recommendations: list[recommend.Recommendation]
    errors: list[str] = field(default_factory=list)


def analyze(
    conn: psycopg.Connection[TupleRow],
    config: AnalyzerConfig,
    *,
    previous: Previous | None,
    baselines: Mapping[str, Baseline],
) -> Analysis:
    """Sample pg_stat_statements, take the top statements since `previous`, and explain, diff and index them."""
    taken = stats.sample(conn)
    found = stats.deltas(previous.counters if previous else None, previous.stats_reset_at if previous else None, taken)
    slowest = stats.top(found, n=config.top_n, min_calls=config.min_calls)
    top = [_plan(conn, d, baselines.get(str(d.queryid))) for d in slowest]
    rows = plans.relation_rows(conn, [r for f in top if f.summary for r in f.summary.scans])
    for finding in top:
        _judge(finding, rows)
    hypopg = recommend.hypopg_available(conn)
    errors = [] if hypopg else ["hypopg is not installed in the analyzed database: no index recommendations"]
    if hypopg:
        for finding in top:
            _recommend(conn, finding)
    merged = _merged(top)
    for finding in top:  # name the indexes that survived merging
        queryid = str(finding.delta.queryid)
        finding.recommendations = [r for r in merged if queryid in r.queryids]
    return Analysis(taken, len(taken.counters), top, hypopg, merged, errors)


def _plan(conn: psycopg.Connection[TupleRow], delta: stats.Delta, baseline: Baseline | None) -> StatementFinding:
    captured = plans.capture(conn, delta.query)
    finding = StatementFinding(delta, captured, baseline=baseline)
    if captured.plan is not None:
        finding.summary = summarize(captured.plan)
    return finding


def _judge(finding: StatementFinding, relation_rows: Mapping[str, float]) -> None:
    """Diff against the baseline and decide whether the plan becomes the new baseline.

    The baseline is the last plan that was not a regression: kept while the plan regresses, refreshed when
    the plan has the same shape (its cost follows the data) or got cheaper. A plan that changed shape and
    got dearer without reaching a regression keeps the older baseline, so creeping changes still add up.
    """
    if finding.summary is None:
        return
    if finding.baseline is None:
        finding.new_baseline = True
        return
    change = diff(finding.baseline.summary, finding.summary)
    verdict = classify(change, relation_rows)
    finding.change = change.as_json()
    finding.regressed, finding.reasons = verdict.regressed, verdict.reasons
    refresh = not change.shape_changed or change.cost_ratio <= 1.0
    finding.new_baseline = not verdict.regressed and refresh and finding.summary != finding.baseline.summary


def _recommend(conn: psycopg.Connection[TupleRow], finding: StatementFinding) -> None:
    if finding.captured.plan is None or finding.summary is None:
        return
    found = cands.candidates(finding.captured.plan)
    if not found:
        return
    recs, trials = recommend.recommend(
        conn, query=finding.delta.query, cost_before=finding.summary.total_cost, found=found
    )
    for rec in recs:
        rec.queryids.append(str(finding.delta.queryid))
    finding.recommendations, finding.trials = recs, trials


def _merged(top: list[StatementFinding]) -> list[recommend.Recommendation]:
    """One recommendation per index, naming every statement it helps (the largest cost reduction kept);
    then a wider index is folded into a narrower one on its leading columns wherever the narrower one's
    own trial on the wider one's statements was also accepted: one index to keep instead of two."""
    merged: dict[tuple[str, tuple[str, ...]], recommend.Recommendation] = {}
    for finding in top:
        for rec in finding.recommendations:
            key = (rec.candidate.relation, rec.candidate.columns)
            kept = merged.get(key)
            if kept is None:
                merged[key] = recommend.Recommendation(
                    rec.candidate, rec.cost_before, rec.cost_after, list(rec.queryids)
                )
                continue
            kept.queryids += [q for q in rec.queryids if q not in kept.queryids]
            if rec.reduction > kept.reduction:
                kept.cost_before, kept.cost_after = rec.cost_before, rec.cost_after
    by_query = {str(f.delta.queryid): f for f in top}
    for wide_key, wide in sorted(merged.items(), key=lambda kv: -len(kv[0][1])):
        narrow = next((m for k, m in merged.items() if _folds_into(wide_key, k, wide, by_query)), None)
        if narrow is not None:
            narrow.queryids += [q for q in wide.queryids if q not in narrow.queryids]
            del merged[wide_key]
    return sorted(merged.values(), key=lambda r: (-r.reduction, r.candidate.relation, r.candidate.columns))


def _folds_into(
    wide: tuple[str, tuple[str, ...]],
    narrow: tuple[str, tuple[str, ...]],
    rec: recommend.Recommendation,
    by_query: Mapping[str, StatementFinding],
) -> bool:
    relation, columns = narrow
    if relation != wide[0] or len(columns) >= len(wide[1]) or wide[1][: len(columns)] != columns:
        return False
    return all(_accepted(by_query[q], columns) for q in rec.queryids if q in by_query)


def _accepted(finding: StatementFinding, columns: tuple[str, ...]) -> bool:
    before = finding.summary.total_cost if finding.summary else 0.0
    return any(
        tuple(t["columns"]) == columns
        and t["used"]
        and t["cost_after"] is not None
        and t["cost_after"] <= before * recommend.MIN_COST_REDUCTION
        for t in finding.trials
    )
