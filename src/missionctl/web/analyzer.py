"""The analyzer's pages: the reports, and one report's regressions, plan diffs and index recommendations.

A recommendation's "Create index" button requests `pg.create_index` with the report's own parameters (never
parameters from the form) through the action framework, where it waits for a second responder's approval,
given here or in the incident's room.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from missionctl.actions.models import ActionExecution
from missionctl.analyzer import service
from missionctl.deps import Ctx
from missionctl.errors import NotFound
from missionctl.incidents.schemas import IncidentRead
from missionctl.web import actions, queries, render
from missionctl.web.deps import PageRoute, Responder, User
from missionctl.web.service import CurrentUser

router = APIRouter(route_class=PageRoute, include_in_schema=False, default_response_class=HTMLResponse)

CREATE_INDEX = "pg.create_index"
ANALYZER_RUNBOOK = "RB-002"
EXECUTIONS_SCANNED = 200


@dataclass(frozen=True)
class ScanChange:
    relation: str
    before: str
    after: str
    lost_index: bool


@dataclass(frozen=True)
class Regression:
    """A regressed statement: its text, why it counts as a regression, and what changed in its plan."""

    queryid: str
    query: str
    reasons: list[str]
    cost_before: float | None
    cost_after: float | None
    cost_ratio: float | None
    scan_changes: list[ScanChange]
    changes: list[tuple[str, str]]  # (what, which): indexes lost, joins gained, node types...


@dataclass(frozen=True)
class Recommendation:
    number: int
    relation: str
    columns: list[str]
    index_name: str
    statement: str
    cost_before: float | None
    cost_after: float | None
    reduction: float | None
    queryids: list[str]
    params: dict[str, Any]
    executions: list[actions.ExecutionView]

    @property
    def waiting(self) -> bool:
        return any(x.status in {"pending_approval", "approved", "queued", "running"} for x in self.executions)


def _scans(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) and value else "not scanned"


def regression_view(found: dict[str, Any]) -> Regression:
    diff = found.get("diff") or {}
    changes: list[tuple[str, str]] = []
    for key, label in (
        ("indexes_lost", "Indexes no longer used"),
        ("indexes_gained", "Indexes newly used"),
        ("joins_lost", "Joins gone"),
        ("joins_gained", "Joins new"),
    ):
        if diff.get(key):
            changes.append((label, ", ".join(str(v) for v in diff[key])))
    nodes = []
    for kind, counts in (diff.get("node_types_changed") or {}).items():
        before, after = [*counts, 0, 0][:2]
        nodes.append(f"{kind}: {before} → {after}")
    if nodes:
        changes.append(("Plan nodes", "; ".join(nodes)))
    return Regression(
        queryid=str(found.get("queryid", "")),
        query=str(found.get("query", "")),
        reasons=[str(r) for r in found.get("reasons", [])],
        cost_before=diff.get("cost_before"),
        cost_after=diff.get("cost_after"),
        cost_ratio=diff.get("cost_ratio"),
        scan_changes=[
            ScanChange(
                str(c.get("relation")), _scans(c.get("before")), _scans(c.get("after")), bool(c.get("lost_index"))
            )
            for c in diff.get("scan_changes", [])
        ],
        changes=changes,
    )


def _same_index(params: dict[str, Any], row: ActionExecution) -> bool:
    stored = row.params or {}
    return (
        stored.get("table") == params.get("table")
        and list(stored.get("columns") or []) == list(params.get("columns") or [])
        and stored.get("name") == params.get("name")
    )


def recommendation_views(
    session: Session, found: list[dict[str, Any]], user: CurrentUser, *, can_write: bool
) -> list[Recommendation]:
    """Each recommendation with the `pg.create_index` requests made for it (newest first)."""
    query = (
        select(ActionExecution)
        .where(ActionExecution.action == CREATE_INDEX)
        .order_by(ActionExecution.id.desc())
        .limit(EXECUTIONS_SCANNED)
    )
    requested = list(session.scalars(query)) if found else []
    views_ = []
    for number, rec in enumerate(found):
        params = dict((rec.get("action") or {}).get("params") or {})
        mine = [row for row in requested if _same_index(params, row)]
        views_.append(
            Recommendation(
                number=number,
                relation=str(rec.get("relation", "")),
                columns=[str(c) for c in rec.get("columns", [])],
                index_name=str(rec.get("index_name", "")),
                statement=str(rec.get("statement", "")),
                cost_before=rec.get("cost_before"),
                cost_after=rec.get("cost_after"),
                reduction=rec.get("cost_reduction"),
                queryids=[str(q) for q in rec.get("queryids", [])],
                params=params,
                executions=actions.execution_views(mine, user, can_write=can_write),
            )
        )
    return views_


@router.get("/analyzer")
def reports_page(
    request: Request, ctx: Ctx, user: User, incident: Annotated[int | None, Query(ge=1)] = None
) -> Response:
    """Every analyzer run, newest first (or one incident's)."""
    now = ctx.clock.now()
    with ctx.read() as session:
        rows = queries.analyzer_reports(session, incident_id=incident)
    return render.page(request, "analyzer/index.html", now=now, user=user, reports=rows, incident=incident)


@router.get("/analyzer/{report_id}")
def report_page(report_id: int, request: Request, ctx: Ctx, user: User) -> Response:
    """One report: the regressed statements with their plan diffs, and the recommended indexes."""
    now = ctx.clock.now()
    can_write = actions.can_write(user)
    with ctx.read() as session:
        report = service.report(session, report_id=report_id)
        findings = report.findings
        recommendations = recommendation_views(
            session, list(findings.get("recommendations", [])), user, can_write=can_write
        )
    return render.page(
        request,
        "analyzer/report.html",
        now=now,
        user=user,
        report=report,
        findings=findings,
        regressions=[regression_view(r) for r in findings.get("regressions", [])],
        top=list(findings.get("top", [])),
        recommendations=recommendations,
    )


@router.post("/analyzer/{report_id}/recommendations/{number}")
def create_index(report_id: int, number: int, ctx: Ctx, user: Responder) -> Response:
    """Request the recommended index: `pg.create_index` waits for another responder's approval."""
    with ctx.read() as session:
        report = service.report(session, report_id=report_id)
    found = list(report.findings.get("recommendations", []))
    if not 0 <= number < len(found):
        raise NotFound(f"report {report_id} has no recommendation {number + 1}", code="recommendation_not_found")
    action = found[number].get("action") or {}
    actions.request_action(
        ctx,
        user,
        action=CREATE_INDEX,
        incident_id=report.incident_id,
        service_id=report.findings.get("service") or ctx.settings.analyzer_service,
        params=dict(action.get("params") or {}),
        dry_run=False,
    )
    return RedirectResponse(f"/analyzer/{report_id}#rec-{number}", status_code=303)


def room_reports(session: Session, read: IncidentRead) -> dict[str, Any] | None:
    """For an RB-002 room: the latest analyzer report of the incident (None for other runbooks)."""
    if read.runbook_id != ANALYZER_RUNBOOK:
        return None
    latest = queries.analyzer_reports(session, incident_id=read.id, limit=1)
    return {"latest": latest[0] if latest else None}
