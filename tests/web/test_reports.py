"""Reports over a real database: known incidents give known figures on the page and in the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from missionctl.auth.roles import Role
from missionctl.clock import FrozenClock
from missionctl.context import AppContext
from missionctl.incidents import service
from missionctl.incidents.models import Incident
from missionctl.reports import service as reports
from missionctl.reports.figures import GroupBy
from missionctl.runbooks.schemas import Severity
from tests.web.conftest import log_in, make_user


def _declare(ctx: AppContext, runbook: str, svc: str) -> int:
    with ctx.write() as session:
        incident = service.declare(
            session,
            runbook=ctx.runbooks.get(runbook),
            service=svc,
            title=f"{svc} trouble",
            severity=Severity.SEV3,
            commander="rita",
            actor="rita",
            now=ctx.clock.now(),
        )
        return incident.id


def _run(ctx: AppContext, clock: FrozenClock, incident_id: int, *, ack: int, page: int, resolve: int) -> None:
    """Acknowledge, deliver the first page and resolve at the given minutes after declaration."""
    start = clock.now()
    with ctx.write() as session:
        session.execute(
            update(Incident)
            .where(Incident.id == incident_id)
            .values(first_page_sent_at=start + timedelta(minutes=page))
        )
    clock.advance(timedelta(minutes=ack))
    with ctx.write() as session:
        service.acknowledge(session, incident_id=incident_id, actor="rita", now=clock.now())
    clock.advance(timedelta(minutes=resolve - ack))
    with ctx.write() as session:
        service.resolve(
            session, incident_id=incident_id, confirmed_by="rita", evidence="fine", actor="rita", now=clock.now()
        )


@pytest.fixture
def history(ctx: AppContext, clock: FrozenClock) -> dict[str, int]:
    """checkout (RB-001, 20 min SLO): ack 2, page 1, resolved at 30 (missed); search (RB-002, 45 min):
    ack 4, page 3, resolved at 40 (met), with an action item that is overdue two hours later."""
    checkout = _declare(ctx, "RB-001", "checkout")
    _run(ctx, clock, checkout, ack=2, page=1, resolve=30)
    search = _declare(ctx, "RB-002", "search")
    with ctx.write() as session:
        service.add_action_item(
            session,
            incident_id=search,
            title="Add the missing index",
            assignee="bob",
            due_at=clock.now() + timedelta(hours=1),
            actor="rita",
            now=clock.now(),
        )
    _run(ctx, clock, search, ack=4, page=3, resolve=40)
    _declare(ctx, "RB-003", "checkout")  # still open: counts, but reaches no milestone
    clock.advance(timedelta(hours=2))
    return {"checkout": checkout, "search": search}


def test_the_service_computes_known_figures(ctx: AppContext, clock: FrozenClock, history: dict[str, int]) -> None:
    with ctx.read() as session:
        report = reports.report(
            session, since=clock.now() - timedelta(days=7), until=clock.now(), group_by=GroupBy.SERVICE
        )
        overdue = reports.overdue_action_items(session, now=clock.now())
    overall = report.overall
    assert (overall.incidents, overall.acknowledged, overall.resolved, overall.engaged) == (3, 2, 2, 2)
    assert overall.mtta_seconds == 180 and overall.mttr_seconds == 35 * 60 and overall.tte_seconds == 120
    assert overall.slo_attainment == 50
    by_service = {g.key: g for g in report.groups}
    assert by_service["checkout"].incidents == 2 and by_service["checkout"].slo_attainment == 0
    assert by_service["search"].mttr_seconds == 40 * 60 and by_service["search"].slo_attainment == 100
    assert [(i.title, i.assignee, i.incident_id) for i in overdue] == [
        ("Add the missing index", "bob", history["search"])
    ]


def test_the_api_needs_a_token_and_gives_the_same_figures(
    app_client: TestClient, tokens: dict[Role, str], clock: FrozenClock, history: dict[str, int]
) -> None:
    assert app_client.get("/api/v1/reports/summary").status_code == 401
    refused = app_client.get("/api/v1/reports/summary", headers={"Authorization": "Bearer mc_not-a-token"})
    assert refused.status_code == 401
    viewer = {"Authorization": f"Bearer {tokens[Role.VIEWER]}"}
    since = (clock.now() - timedelta(days=1)).isoformat()
    response = app_client.get("/api/v1/reports/summary", params={"since": since, "group_by": "runbook"}, headers=viewer)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["group_by"] == "runbook"
    assert body["overall"]["mtta_seconds"] == 180 and body["overall"]["slo_attainment_percent"] == 50
    assert {g["key"]: g["mttr_seconds"] for g in body["groups"]} == {"RB-001": 1800, "RB-002": 2400, "RB-003": None}
    # the day before reaches back into the previous week, which had nothing
    assert [w["overall"]["incidents"] for w in body["weeks"]] == [0, 3]
    assert [g["key"] for g in body["weeks"][1]["groups"]] == ["RB-001", "RB-002", "RB-003"]
    items = app_client.get("/api/v1/reports/overdue-action-items", headers=viewer).json()
    assert [i["title"] for i in items] == ["Add the missing index"]


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
        {"since": "2020-01-01T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
        {"group_by": "team"},
    ],
)
def test_the_api_refuses_a_bad_window(app_client: TestClient, tokens: dict[Role, str], params: dict[str, str]) -> None:
    viewer = {"Authorization": f"Bearer {tokens[Role.VIEWER]}"}
    response = app_client.get("/api/v1/reports/summary", params=params, headers=viewer)
    assert response.status_code == 422


def test_the_page_shows_charts_tables_and_overdue_items(
    ctx: AppContext, web: TestClient, history: dict[str, int]
) -> None:
    assert web.get("/reports").headers["location"] == "/login?next=/reports"
    make_user(ctx, "vera", Role.VIEWER)
    log_in(web, "vera")
    page = web.get("/reports?group_by=service&weeks=4")
    assert page.status_code == 200
    html = page.text
    for ident in ("mtta", "mttr", "slo", "tte"):
        assert f'aria-labelledby="chart-{ident}-title chart-{ident}-desc"' in html
    assert html.count('<details class="chart-data">') == 4
    assert "<td>3m 00s" in html and "<td>35m 00s" in html and "<td>50%" in html  # the all-incidents row
    assert "Add the missing index" in html and f'href="/incidents/{history["search"]}#action-items"' in html
    assert 'aria-current="page">Reports' in html


def test_the_page_with_nothing_to_show(ctx: AppContext, web: TestClient) -> None:
    make_user(ctx, "vera", Role.VIEWER)
    log_in(web, "vera")
    html = web.get("/reports?group_by=severity&weeks=52").text
    assert html.count("No data in this range") == 4 and "No overdue action items." in html
    assert web.get("/reports?weeks=0").status_code == 422
