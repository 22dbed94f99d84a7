"""`/api/v1/analyzer`: run the PostgreSQL analyzer on demand (responder) and read its reports (viewer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from missionctl.analyzer import service
from missionctl.analyzer.schemas import ReportRead, ReportSummaryRead, RunRequest
from missionctl.deps import Ctx, Responder, Viewer

router = APIRouter(prefix="/analyzer", tags=["analyzer"])


@router.post("/runs", status_code=status.HTTP_201_CREATED)
def run_analyzer(ctx: Ctx, principal: Responder, body: RunRequest | None = None) -> ReportRead:
    """Analyze the configured database now; with `incident_id`, the findings go on that incident's timeline."""
    incident_id = body.incident_id if body is not None else None
    return service.run(ctx, now=ctx.clock.now(), incident_id=incident_id, trigger=f"person:{principal.name}")


@router.get("/reports")
def list_reports(
    ctx: Ctx,
    _: Viewer,
    incident_id: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST_LIMIT)] = 50,
) -> list[ReportSummaryRead]:
    """Reports, newest first (without their findings)."""
    with ctx.read() as session:
        return service.reports(session, limit=limit, incident_id=incident_id)


@router.get("/reports/{report_id}")
def get_report(report_id: int, ctx: Ctx, _: Viewer) -> ReportRead:
    """One report with its findings."""
    with ctx.read() as session:
        return service.report(session, report_id=report_id)
