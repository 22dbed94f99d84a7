"""Done means: dropping an index regresses a plan, and the analyzer reports the diff and recommends it back.

A private PostgreSQL 15 with pg_stat_statements and hypopg, 200,000 orders indexed by customer, a workload;
Mission Control on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

from missionctl.actions import approvals, workers
from missionctl.actions import service as action_service
from missionctl.actions.builtin import REGISTRY, ActionCall, Result
from missionctl.actions.catalog import ActionCatalog
from missionctl.actions.rules import Status
from missionctl.analyzer import actions, service, target
from missionctl.analyzer.config import AnalyzerConfig
from missionctl.analyzer.models import AnalyzerBaseline, AnalyzerReport
from missionctl.analyzer.schemas import CreateIndexParams
from missionctl.clock import FrozenClock
from missionctl.context import AppContext
from missionctl.incidents.models import Incident, TimelineEvent
from tests.analyzer.target import Target, workload


def by_query(report: dict[str, Any], start: str) -> dict[str, Any]:
    [found] = [item for item in report["top"] if item["query"].startswith(start)]
    return found


def index_exists(shop: Target, name: str) -> bool:
    with shop.admin() as conn:
        return conn.execute("SELECT to_regclass(%s)", (f"public.{name}",)).fetchone() != (None,)


def call(ctx: AppContext, params: Any, *, dry_run: bool, by: str = "person:alice") -> ActionCall[Any]:
    return ActionCall(ctx, params, "shop-db", None, dry_run, by, ctx.clock.now())


def test_dropped_index_is_reported_and_recommended_back(
    analyzer_ctx: AppContext, shop: Target, clock: FrozenClock
) -> None:
    workload(shop)
    first = service.run(analyzer_ctx, now=clock.now(), trigger="schedule", raise_incident=True)
    assert first.regressions == 0 and first.findings["hypopg"] is True
    assert by_query(first.findings, "SELECT id, status, amount FROM orders")["baseline_status"] == "created"
    with analyzer_ctx.read() as session:
        assert session.scalar(select(func.count()).select_from(AnalyzerBaseline)) >= 2

    with shop.admin() as conn:
        conn.execute("DROP INDEX orders_customer_id_idx")
    clock.advance(timedelta(hours=1))
    workload(shop)
    second = service.run(analyzer_ctx, now=clock.now(), trigger="schedule", raise_incident=True)

    f = second.findings
    assert second.regressions == 2
    assert f["window"]["counted_from_reset"] is False and f["window"]["since"] == first.started_at.isoformat()
    by_customer = by_query(f, "SELECT id, status, amount FROM orders WHERE customer_id = $1")
    assert by_customer["calls"] == 20  # the delta since the first run, not the cumulative 40
    assert by_customer["regressed"] and by_customer["plan"]["generic"]
    [scan] = by_customer["diff"]["scan_changes"]
    assert scan == {
        "relation": "public.orders",
        "before": ["Bitmap Heap Scan"],
        "after": ["Seq Scan"],
        "lost_index": True,
    }
    assert by_customer["diff"]["indexes_lost"] == ["orders_customer_id_idx"]
    assert by_customer["diff"]["cost_ratio"] >= 10
    assert any("became Seq Scan" in reason for reason in by_customer["reasons"])

    [rec] = f["recommendations"]
    assert (rec["relation"], rec["columns"], rec["index_name"]) == (
        "public.orders",
        ["customer_id"],
        "orders_customer_id_idx",
    )
    assert rec["cost_reduction"] >= 0.5 and rec["validated_with"] == "hypopg"
    assert rec["statement"] == (
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "orders_customer_id_idx" ON "public"."orders"'
        ' USING btree ("customer_id")'
    )
    assert len(rec["queryids"]) == 2  # the joined statement is served by the same index

    # The scheduled check opened an RB-002 incident for the service and noted the findings on it.
    assert second.incident_id is not None
    with analyzer_ctx.read() as session:
        incident = session.get(Incident, second.incident_id)
        assert incident is not None and (incident.runbook_id, incident.service) == ("RB-002", "shop-db")
        kinds = session.scalars(select(TimelineEvent.kind).where(TimelineEvent.incident_id == incident.id)).all()
        assert "analyzer_findings" in kinds
        stored = session.get(AnalyzerReport, second.id)
        assert stored is not None and stored.incident_id == incident.id

    # The baseline is kept while the plan regresses.
    with analyzer_ctx.read() as session:
        baseline = session.get(AnalyzerBaseline, (f["target"], by_customer["queryid"]))
        assert baseline is not None and baseline.summary["indexes"] == ["orders_customer_id_idx"]

    # pg.create_index: a dry run shows the statement and builds nothing; the approved run builds it.
    params = CreateIndexParams.model_validate(rec["action"]["params"])
    dry = REGISTRY["pg.create_index"].run(call(analyzer_ctx, params, dry_run=True))
    assert dry.result is Result.DRY_RUN and dry.output["statement"] == rec["statement"]
    assert rec["statement"] in dry.summary
    assert not index_exists(shop, "orders_customer_id_idx")
    refused = actions.create_index(call(analyzer_ctx, params, dry_run=False, by="schedule"))
    assert refused.result is Result.FAILED and not index_exists(shop, "orders_customer_id_idx")
    # Through the action framework, as the report's `action` is requested: it waits for a second person.
    catalog = ActionCatalog()
    with analyzer_ctx.write() as session:
        row = action_service.request(
            session,
            action="pg.create_index",
            incident_id=None,
            service="shop-db",
            params=rec["action"]["params"],
            requested_by="alice",
            triggered_by="person:alice",
            now=clock.now(),
            actions=catalog,
        )
        requested = (row.id, row.status)
    assert requested[1] == Status.PENDING_APPROVAL
    assert workers.run_pending(analyzer_ctx, actions=catalog) == []
    assert not index_exists(shop, "orders_customer_id_idx")
    with analyzer_ctx.write() as session:
        approvals.approve(session, execution_id=requested[0], approver="bob", now=clock.now())
    [done] = workers.run_pending(analyzer_ctx, actions=catalog)
    assert (done.execution_id, done.status) == (requested[0], Status.SUCCEEDED)
    assert index_exists(shop, "orders_customer_id_idx")
    again = actions.create_index(call(analyzer_ctx, params, dry_run=False))
    assert again.result is Result.SKIPPED

    # With the index back, the plan is back within its baseline and the alert recovers.
    clock.advance(timedelta(hours=1))
    workload(shop)
    third = service.run(analyzer_ctx, now=clock.now(), trigger="schedule", raise_incident=True)
    assert third.regressions == 0 and third.findings["recommendations"] == []
    assert by_query(third.findings, "SELECT id, status, amount FROM orders")["baseline_status"] in {"kept", "refreshed"}


def test_the_analyzer_session_cannot_write(analyzer_ctx: AppContext, shop: Target) -> None:
    config = AnalyzerConfig.from_settings(analyzer_ctx.settings)
    with target.connect(config) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), conn.transaction():
            conn.execute("INSERT INTO customers VALUES (999999, 'x')")
        # Even with the read-only default switched off, the role itself has no right to write.
        conn.execute("SET default_transaction_read_only = off")
        conn.read_only = False
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM orders")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE INDEX ON orders (status)")
        # Hypothetical indexes are session-local: the read-only role may create them in a read-only transaction.
        conn.read_only = True
        with conn.transaction():
            row = conn.execute(
                "SELECT indexname FROM hypopg_create_index('CREATE INDEX ON orders (status)')"
            ).fetchone()
        assert row is not None and "btree_orders_status" in row[0]
        conn.execute("SELECT hypopg_reset()")
