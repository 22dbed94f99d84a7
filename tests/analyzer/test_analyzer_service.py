"""The analyzer on demand (API, actions) and on its schedule (an engine job handing off to a worker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from missionctl.actions.builtin import REGISTRY, ActionCall, Result
from missionctl.analyzer.models import AnalyzerReport, AnalyzerSnapshot
from missionctl.analyzer.schedule import CHECK, AnalyzerSchedule, next_slot
from missionctl.analyzer.schemas import CreateIndexParams, PlanDiffParams, TopSlowQueriesParams
from missionctl.auth.roles import Role
from missionctl.clock import FrozenClock
from missionctl.context import AppContext
from missionctl.engine.models import Job
from missionctl.engine.runner import Engine
from missionctl.engine.runtime import make_sender
from missionctl.escalation.service import HANDLERS
from missionctl.incidents.models import TimelineEvent
from missionctl.settings import Settings
from tests.analyzer.conftest import analyzer_settings
from tests.analyzer.target import Target, workload
from tests.conftest import as_role


@pytest.fixture
def settings(database_url: str, shared_shop: Target) -> Settings:
    """Every test here: Mission Control on each backend, analyzing the module's shop database."""
    workload(shared_shop, rounds=10)
    return analyzer_settings(Settings(database_url=database_url, runbook_dirs=[]), shared_shop)


def reports(ctx: AppContext) -> int:
    with ctx.read() as session:
        return int(session.scalar(select(func.count()).select_from(AnalyzerReport)) or 0)


def test_run_on_demand_posts_findings_to_the_incident(client: TestClient, tokens: dict[Role, str]) -> None:
    incident = client.post("/api/v1/incidents", json={"runbook": "RB-002", "service": "shop-db", "title": "slow"})
    assert incident.status_code == 201
    incident_id = incident.json()["id"]

    created = client.post("/api/v1/analyzer/runs", json={"incident_id": incident_id})
    assert created.status_code == 201, created.text
    report = created.json()
    assert report["incident_id"] == incident_id and report["trigger"] == "person:responder-user"
    assert report["findings"]["top"] and report["findings"]["statements_seen"] >= 4
    assert "analyzer-secret" not in created.text and "mc_analyzer" not in created.text

    timeline = client.get(f"/api/v1/incidents/{incident_id}").json()["timeline"]
    [note] = [e for e in timeline if e["kind"] == "analyzer_findings"]
    assert note["data"]["report_id"] == report["id"] and note["summary"] == report["summary"]

    viewer = as_role(client, tokens, Role.VIEWER)
    listed = client.get("/api/v1/analyzer/reports", params={"incident_id": incident_id}, headers=viewer)
    assert [r["id"] for r in listed.json()] == [report["id"]] and "findings" not in listed.json()[0]
    one = client.get(f"/api/v1/analyzer/reports/{report['id']}", headers=viewer)
    assert one.status_code == 200 and one.json()["findings"] == report["findings"]

    assert client.post("/api/v1/analyzer/runs", headers=viewer).status_code == 403
    assert client.get("/api/v1/analyzer/reports/999999").json()["error"]["code"] == "analyzer_report_not_found"
    missing = client.post("/api/v1/analyzer/runs", json={"incident_id": 999999})
    assert missing.status_code == 404


def test_not_configured_is_a_conflict(client: TestClient, ctx: AppContext) -> None:
    ctx.settings = ctx.settings.model_copy(update={"analyzer_database_url": None})
    response = client.post("/api/v1/analyzer/runs")
    assert response.status_code == 409 and response.json()["error"]["code"] == "analyzer_not_configured"


def call(ctx: AppContext, params: Any, *, dry_run: bool) -> ActionCall[Any]:
    return ActionCall(ctx, params, "shop-db", None, dry_run, "person:alice", ctx.clock.now())


def test_dry_runs_only_describe(ctx: AppContext) -> None:
    for name, params in [
        ("pg.top_slow_queries", TopSlowQueriesParams()),
        ("pg.plan_diff", PlanDiffParams()),
        ("pg.create_index", CreateIndexParams(table="orders", columns=["status"])),
    ]:
        outcome = REGISTRY[name].run(call(ctx, params, dry_run=True))
        assert outcome.result is Result.DRY_RUN and "/shop_" in outcome.summary, name
    assert reports(ctx) == 0
    with ctx.read() as session:
        assert session.scalar(select(func.count()).select_from(AnalyzerSnapshot)) == 0


def test_actions_run_the_analyzer(ctx: AppContext) -> None:
    outcome = REGISTRY["pg.plan_diff"].run(call(ctx, PlanDiffParams(), dry_run=False))
    assert outcome.result is Result.SUCCEEDED and outcome.output["report_id"] == 1
    outcome = REGISTRY["pg.top_slow_queries"].run(call(ctx, TopSlowQueriesParams(), dry_run=False))
    assert outcome.result is Result.SUCCEEDED and reports(ctx) == 2


def test_create_index_needs_a_ddl_connection(ctx: AppContext) -> None:
    ctx.settings = ctx.settings.model_copy(update={"analyzer_ddl_database_url": None})
    outcome = REGISTRY["pg.create_index"].run(
        call(ctx, CreateIndexParams(table="orders", columns=["status"]), dry_run=False)
    )
    assert outcome.result is Result.FAILED and "MISSIONCTL_ANALYZER_DDL_DATABASE_URL" in outcome.summary


def test_next_slot_is_on_the_grid() -> None:
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert next_slot(at, 60) == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert next_slot(at + timedelta(minutes=59, seconds=59), 60) == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert next_slot(at + timedelta(minutes=7), 15) == datetime(2026, 3, 2, 9, 15, tzinfo=UTC)


def test_scheduled_check_runs_outside_the_engine_transaction(ctx: AppContext, clock: FrozenClock) -> None:
    schedule = AnalyzerSchedule.start(ctx)
    assert schedule is not None
    assert AnalyzerSchedule.start(ctx) is not None  # a second engine queues nothing new: same slot
    engine = Engine(ctx, make_sender(ctx), handlers={**HANDLERS, **schedule.handlers})
    try:
        with ctx.read() as session:
            [job] = session.scalars(select(Job).where(Job.kind == CHECK)).all()
        assert job.run_at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
        assert engine.run_until_idle() == 0 and reports(ctx) == 0  # not due yet

        clock.advance(timedelta(hours=1))
        assert engine.run_until_idle() == 1
        schedule.wait()
        with ctx.read() as session:
            report = session.scalars(select(AnalyzerReport)).one()
            assert report.trigger == "schedule" and report.regressions == 0
            [job] = session.scalars(select(Job).where(Job.kind == CHECK)).all()
            assert job.run_at == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
            assert session.scalar(select(func.count()).select_from(TimelineEvent)) == 0  # nothing regressed
    finally:
        engine.stop()
        schedule.close()


def test_no_schedule_without_an_interval(ctx: AppContext) -> None:
    ctx.settings = ctx.settings.model_copy(update={"analyzer_interval_minutes": 0})
    assert AnalyzerSchedule.start(ctx) is None
    ctx.settings = ctx.settings.model_copy(update={"analyzer_database_url": None, "analyzer_interval_minutes": 60})
    assert AnalyzerSchedule.start(ctx) is None
