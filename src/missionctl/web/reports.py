"""The reports page: response figures over time as SVG charts with data tables, and overdue action items."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from missionctl.deps import Ctx
from missionctl.reports import service
from missionctl.reports.figures import ALL, WEEK, Figures, GroupBy, week_start
from missionctl.web import charts, render, views
from missionctl.web.deps import PageRoute, User

router = APIRouter(route_class=PageRoute, include_in_schema=False, default_response_class=HTMLResponse)

WEEK_CHOICES = (4, 12, 26, 52)
MAX_GROUP_LINES = 5  # plus the "all incidents" line: six line styles


@dataclass(frozen=True)
class Metric:
    ident: str
    title: str
    explain: str
    value: Callable[[Figures], float | None]
    percent: bool = False


METRICS = (
    Metric("mtta", "MTTA", "Mean time from declared to acknowledged.", lambda f: f.mtta_seconds),
    Metric("mttr", "MTTR", "Mean time from declared to resolved.", lambda f: f.mttr_seconds),
    Metric(
        "slo",
        "Recovery-SLO attainment",
        "Share of resolved incidents that recovered within their runbook's recovery SLO.",
        lambda f: f.slo_attainment,
        percent=True,
    ),
    Metric("tte", "Time to engage", "Mean time from declared to the first page delivered.", lambda f: f.tte_seconds),
)


@dataclass(frozen=True)
class ChartView:
    """One chart and the same numbers as a table (weeks down, lines across)."""

    metric: Metric
    svg: Markup
    names: list[str]
    rows: list[tuple[str, list[str]]]


def _cell(metric: Metric, figures: Figures | None) -> str:
    value = None if figures is None else metric.value(figures)
    return views.percent(value) if metric.percent else views.duration(value)


def build_charts(report: service.Report) -> list[ChartView]:
    """A chart per metric: all incidents, and the groups with the most incidents."""
    weekly = report.weekly
    labels = [w.strftime("%b %d") for w in weekly.weeks]
    shown = [g.key for g in report.groups[:MAX_GROUP_LINES]]
    columns: list[tuple[str, list[Figures | None]]] = [(ALL.capitalize(), list(weekly.overall))]
    columns += [(key, weekly.groups[key]) for key in shown]
    views_: list[ChartView] = []
    for metric in METRICS:
        series = [
            charts.Series(name, tuple(None if f is None else metric.value(f) for f in cells)) for name, cells in columns
        ]
        svg = charts.line_chart(
            ident=f"chart-{metric.ident}",
            title=f"{metric.title} per week, by {report.group_by}",
            desc=metric.explain,
            labels=labels,
            series=series,
            fmt=views.percent if metric.percent else views.short_duration,
            steps=charts.PERCENT_STEPS if metric.percent else charts.DURATION_STEPS,
            top=100.0 if metric.percent else None,
        )
        rows = [
            (week.date().isoformat(), [_cell(metric, cells[i]) for _, cells in columns])
            for i, week in enumerate(weekly.weeks)
        ]
        views_.append(ChartView(metric, Markup(svg), [name for name, _ in columns], rows))  # noqa: S704 - escaped
    return views_


@router.get("/reports")
def reports_page(
    request: Request,
    ctx: Ctx,
    user: User,
    group_by: Annotated[GroupBy, Query()] = GroupBy.SERVICE,
    weeks: Annotated[int, Query(ge=1, le=104)] = 12,
) -> Response:
    """MTTA, MTTR, recovery-SLO attainment and time-to-engage per week, and the overdue action items."""
    now = ctx.clock.now()
    until = week_start(now) + WEEK  # whole weeks, this one included
    since = until - weeks * WEEK
    with ctx.read() as session:
        report = service.report(session, since=since, until=until, group_by=group_by)
        overdue = service.overdue_action_items(session, now=now)
    return render.page(
        request,
        "reports/index.html",
        now=now,
        user=user,
        report=report,
        charts=build_charts(report),
        overdue=overdue,
        weeks=weeks,
        through=(until - timedelta(days=1)).date().isoformat(),
        week_choices=sorted({*WEEK_CHOICES, weeks}),
        group_choices=list(GroupBy),
        metrics=METRICS,
    )
