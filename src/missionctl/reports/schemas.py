"""API shapes of the reports: figures per group and per week, overdue action items."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from missionctl.reports.figures import Figures, GroupBy
from missionctl.reports.service import OverdueItem, Report


class FiguresRead(BaseModel):
    key: str = Field(description="The runbook, service or severity; `all incidents` for the total")
    incidents: int
    acknowledged: int
    resolved: int
    engaged: int = Field(description="Incidents whose first page was delivered")
    mtta_seconds: float | None = Field(description="Mean time from declared to acknowledged")
    mttr_seconds: float | None = Field(description="Mean time from declared to resolved")
    time_to_engage_seconds: float | None = Field(description="Mean time from declared to first page delivered")
    slo_met: int
    slo_missed: int
    slo_attainment_percent: float | None = Field(description="Resolved within the recovery SLO, of those judged")

    @classmethod
    def of(cls, figures: Figures) -> FiguresRead:
        return cls(
            key=figures.key,
            incidents=figures.incidents,
            acknowledged=figures.acknowledged,
            resolved=figures.resolved,
            engaged=figures.engaged,
            mtta_seconds=figures.mtta_seconds,
            mttr_seconds=figures.mttr_seconds,
            time_to_engage_seconds=figures.tte_seconds,
            slo_met=figures.slo_met,
            slo_missed=figures.slo_missed,
            slo_attainment_percent=figures.slo_attainment,
        )


class WeekRead(BaseModel):
    week_start: datetime = Field(description="Monday 00:00 UTC")
    overall: FiguresRead
    groups: list[FiguresRead] = Field(description="Only the groups with incidents declared that week")


class SummaryRead(BaseModel):
    since: datetime
    until: datetime
    group_by: GroupBy
    overall: FiguresRead
    groups: list[FiguresRead]
    weeks: list[WeekRead]

    @classmethod
    def of(cls, report: Report) -> SummaryRead:
        weekly = report.weekly
        weeks = [
            WeekRead(
                week_start=week,
                overall=FiguresRead.of(weekly.overall[i]),
                groups=[FiguresRead.of(cell) for _, cells in sorted(weekly.groups.items()) if (cell := cells[i])],
            )
            for i, week in enumerate(weekly.weeks)
        ]
        return cls(
            since=report.since,
            until=report.until,
            group_by=report.group_by,
            overall=FiguresRead.of(report.overall),
            groups=[FiguresRead.of(g) for g in report.groups],
            weeks=weeks,
        )


class OverdueItemRead(BaseModel):
    id: int
    title: str
    assignee: str
    due_at: datetime
    incident_id: int
    incident_title: str
    service: str

    @classmethod
    def of(cls, item: OverdueItem) -> OverdueItemRead:
        return cls(**item.__dict__)
