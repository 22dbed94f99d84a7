"""The analyzer's pure rules on real PostgreSQL 15 plans: summaries, diffs, regressions, index candidates."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from missionctl.analyzer import stats
from missionctl.analyzer.candidates import Candidate, candidates, conditions, create_index_statement, index_name
from missionctl.analyzer.config import libpq_dsn, target_name
from missionctl.analyzer.diff import PlanSummary, classify, diff, summarize
from missionctl.analyzer.plans import has_parameters, is_read_only_query

FIXTURES = Path(__file__).parent.parent / "fixtures" / "analyzer"  # from `python -m tests.analyzer.capture_plans`
ROWS = {"public.orders": 200_000.0, "public.customers": 20_000.0}


def plan(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def test_summary_of_an_indexed_plan() -> None:
    summary = summarize(plan("joined_indexed"))
    assert summary.total_cost == pytest.approx(50.49)
    assert summary.scans == {"public.customers": ["Index Scan"], "public.orders": ["Bitmap Heap Scan"]}
    assert summary.joins == ["Nested Loop"]
    assert summary.indexes == ["customers_pkey", "orders_customer_id_idx"]
    assert summary.node_types["Bitmap Index Scan"] == 1
    assert PlanSummary.from_json(json.loads(json.dumps(summary.as_json()))) == summary


def test_dropped_index_is_a_regression_with_the_scan_change_named() -> None:
    change = diff(summarize(plan("by_customer_indexed")), summarize(plan("by_customer_seqscan")))
    assert change.cost_ratio > 50
    [scan] = change.scan_changes
    assert (scan.relation, scan.before, scan.after, scan.lost_index) == (
        "public.orders",
        ["Bitmap Heap Scan"],
        ["Seq Scan"],
        True,
    )
    assert change.indexes_lost == ["orders_customer_id_idx"] and change.indexes_gained == []
    verdict = classify(change, ROWS)
    assert verdict.regressed
    assert any("Bitmap Heap Scan became Seq Scan" in r for r in verdict.reasons)
    assert "no longer uses orders_customer_id_idx" in verdict.reasons


def test_join_method_changes_are_reported() -> None:
    change = diff(summarize(plan("hash_join_indexed")), summarize(plan("hash_join_seqscan")))
    assert change.joins_lost == ["Nested Loop"] and change.joins_gained == ["Hash Join"]
    assert change.indexes_gained == ["orders_created_at_idx"]
    assert change.node_types_changed["Hash"] == (0, 1)
    as_json = change.as_json()
    assert as_json["shape_changed"] and as_json["cost_ratio"] == pytest.approx(2995.17 / 420.21, rel=1e-3)


def test_same_plan_is_no_regression() -> None:
    summary = summarize(plan("joined_indexed"))
    change = diff(summary, summary)
    assert not change.shape_changed and change.cost_ratio == 1.0
    assert classify(change, ROWS).regressed is False


def test_lost_index_on_a_small_or_unknown_relation_alone_is_no_regression() -> None:
    before = PlanSummary(10.0, 1, {"Index Scan": 1}, {"public.tiny": ["Index Scan"]}, [], ["tiny_pkey"])
    after = PlanSummary(12.0, 1, {"Seq Scan": 1}, {"public.tiny": ["Seq Scan"]}, [], [])
    change = diff(before, after)
    assert change.scan_changes[0].lost_index
    assert not classify(change, {"public.tiny": 50.0}).regressed
    assert not classify(change).regressed  # size unknown
    assert classify(change, {"public.tiny": 50_000.0}).regressed


@pytest.mark.parametrize(
    ("before", "after", "regressed"), [(100.0, 199.0, False), (100.0, 200.0, True), (0.0, 0.0, False), (0.0, 5.0, True)]
)
def test_cost_ratio_threshold(before: float, after: float, regressed: bool) -> None:
    a = PlanSummary(before, 1, {"Result": 1}, {}, [], [])
    b = PlanSummary(after, 1, {"Result": 1}, {}, [], [])
    assert classify(diff(a, b)).regressed is regressed


def test_candidates_from_a_seq_scan_filter() -> None:
    found = candidates(plan("joined_seqscan"))
    columns = [c.columns for c in found]
    assert columns[0] == ("customer_id", "status")
    assert ("customer_id",) in columns and ("status",) in columns
    assert {c.relation for c in found} == {"public.orders"}


def test_candidates_from_join_and_filter_columns() -> None:
    found = candidates(plan("hash_join_seqscan"))
    # customers is scanned sequentially (filter on name, hash join on id); orders went through an index
    assert [c.columns for c in found] == [("name",), ("id",)]
    found = candidates(plan("hash_join_indexed"))
    assert Candidate("public", "customers", ("name",)) in found


def test_functions_of_columns_are_no_candidates() -> None:
    assert candidates(plan("function_filter_seqscan")) == []
    assert conditions("(lower(c.email) = $1)") == []


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("(o.customer_id = $1)", [("o", "customer_id", "eq")]),
        ("((o.status)::text = 'paid'::text)", [("o", "status", "eq")]),
        ("((o.created_at >= $1) AND (o.created_at < $2))", [("o", "created_at", "range")] * 2),
        ("($1 = o.customer_id)", [("o", "customer_id", "eq")]),
        ("(o.customer_id = c.id)", [("o", "customer_id", "eq"), ("c", "id", "eq")]),
        ('("Weird"."Col" = $1)', [("Weird", "Col", "eq")]),
        ("(o.note ~~ 'x%'::text)", []),
        ("(o.kind <> $1)", []),
        ("(o.deleted_at IS NULL)", [("o", "deleted_at", "eq")]),
    ],
)
def test_conditions(expression: str, expected: list[tuple[str, str, str]]) -> None:
    assert conditions(expression) == expected


def test_create_index_statement_quotes_everything() -> None:
    assert create_index_statement("public", "orders", ["customer_id"], "orders_customer_id_idx") == (
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "orders_customer_id_idx" ON "public"."orders" USING btree '
        '("customer_id")'
    )
    assert len(index_name("t" * 60, ["a" * 30])) == 63
    assert Candidate("s", "t", ("a", "b")).hypothetical_sql() == 'CREATE INDEX ON "s"."t" USING btree ("a", "b")'


@pytest.mark.parametrize(
    ("query", "ok"),
    [
        ("SELECT * FROM orders WHERE id = $1", True),
        ("  /* app */ select 1", True),
        ("WITH x AS (SELECT 1) SELECT * FROM x", True),
        ("(SELECT 1) UNION (SELECT 2)", True),
        ("WITH x AS (DELETE FROM orders RETURNING id) SELECT * FROM x", False),
        ("SELECT * INTO copy FROM orders", False),
        ("SELECT * FROM orders FOR UPDATE", False),
        ("INSERT INTO orders VALUES ($1)", False),
        ("UPDATE orders SET status = $1", False),
        ("CREATE INDEX ON orders (status)", False),
        ("SELECT 1; DROP TABLE orders", False),
        ("EXPLAIN SELECT 1", False),
        ("", False),
    ],
)
def test_only_reads_are_explained(query: str, ok: bool) -> None:
    assert is_read_only_query(query) is ok


def test_parameters() -> None:
    assert has_parameters("SELECT * FROM t WHERE a = $1")
    assert not has_parameters("SELECT 1 /* $1 */")


T0 = datetime(2026, 3, 2, tzinfo=UTC)


def sample(counters: dict[int, tuple[int, float]], reset: datetime = T0) -> stats.Sample:
    return stats.Sample(reset, {k: stats.Counters(*v) for k, v in counters.items()}, {k: f"q{k}" for k in counters})


def test_deltas_between_snapshots() -> None:
    previous = {1: stats.Counters(10, 100.0), 2: stats.Counters(5, 50.0)}
    now = sample({1: (30, 500.0), 2: (5, 50.0), 3: (4, 40.0)})
    found = {d.queryid: d for d in stats.deltas(previous, T0, now)}
    assert (found[1].calls, found[1].total_ms, found[1].mean_ms, found[1].fresh) == (20, 400.0, 20.0, False)
    assert (found[2].calls, found[2].total_ms) == (0, 0.0)
    assert (found[3].calls, found[3].fresh) == (4, True)  # new since the previous snapshot
    assert [d.queryid for d in stats.top(list(found.values()), n=5, min_calls=5)] == [1]
    assert [d.queryid for d in stats.top(list(found.values()), n=1, min_calls=1)] == [1]


def test_reset_or_eviction_counts_from_zero() -> None:
    previous = {1: stats.Counters(10, 100.0), 2: stats.Counters(50, 500.0)}
    evicted = {d.queryid: d for d in stats.deltas(previous, T0, sample({1: (12, 130.0), 2: (3, 9.0)}))}
    assert (evicted[1].calls, evicted[1].fresh) == (2, False)
    assert (evicted[2].calls, evicted[2].total_ms, evicted[2].fresh) == (3, 9.0, True)  # went down: fresh
    later = datetime(2026, 3, 3, tzinfo=UTC)
    reset = {d.queryid: d for d in stats.deltas(previous, T0, sample({1: (12, 130.0)}, reset=later))}
    assert (reset[1].calls, reset[1].fresh) == (12, True)  # stats_reset moved: everything counts from zero
    first = stats.deltas(None, None, sample({1: (12, 130.0)}))
    assert first[0].fresh and first[0].calls == 12


@pytest.mark.parametrize(
    ("url", "dsn", "name"),
    [
        (
            "postgresql+psycopg://ro:s3cret@db.internal:5432/shop",
            "postgresql://ro:s3cret@db.internal:5432/shop",
            "db.internal/shop",
        ),
        (
            "postgresql://ro@127.0.0.1/shop?sslmode=require",
            "postgresql://ro@127.0.0.1/shop?sslmode=require",
            "127.0.0.1/shop",
        ),
        ("host=db dbname=shop user=ro password=x", "host=db dbname=shop user=ro password=x", "db/shop"),
    ],
)
def test_dsn_and_target_name_never_show_credentials(url: str, dsn: str, name: str) -> None:
    assert libpq_dsn(url) == dsn
    assert target_name(url) == name
