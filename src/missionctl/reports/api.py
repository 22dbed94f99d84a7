"""Reports API: `GET /api/v1/reports/summary` and `GET /api/v1/reports/overdue-action-items` (viewer token)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from missionctl.deps import Ctx, Viewer
from missionctl.reports import service
from missionctl.reports.figures import GroupBy
from missionctl.reports.schemas import OverdueItemRead, SummaryRead

router = APIRouter(prefix="/reports", tags=["reports"])


def _aware(moment: datetime | None) -> datetime | None:
    """Query timestamps without an offset are read as UTC."""
    if moment is None or moment.utcoffset() is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@router.get("/summary")
def summary(
    ctx: Ctx,
    _: Viewer,
    since: Annotated[datetime | None, Query(description="Start (default: 12 weeks before `until`)")] = None,
    until: Annotated[datetime | None, Query(description="End, exclusive (default: now)")] = None,
    group_by: Annotated[GroupBy, Query()] = GroupBy.SERVICE,
) -> SummaryRead:
    """MTTA, MTTR, recovery-SLO attainment and time-to-engage of the incidents declared in the window."""
    end = _aware(until) or ctx.clock.now()
    start = _aware(since) or end - service.DEFAULT_RANGE
    with ctx.read() as session:
        report = service.report(session, since=start, until=end, group_by=group_by)
    return SummaryRead.of(report)


@router.get("/overdue-action-items")
def overdue_action_items(ctx: Ctx, _: Viewer) -> list[OverdueItemRead]:
    """Open post-incident action items past their due date, most overdue first (at most 200)."""
    now = ctx.clock.now()
    with ctx.read() as session:
        items = service.overdue_action_items(session, now=now)
    return [OverdueItemRead.of(item) for item in items]
