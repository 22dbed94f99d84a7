"""Report queries: one aggregate over the incidents in a window, and the overdue action items.

The database sums durations per (group, week) — `seconds_between` compiles to `julianday` arithmetic on
SQLite and `EXTRACT(EPOCH …)` on PostgreSQL — so a year of 10,000 incidents comes back as a few hundred
rows of sums; `figures.py` turns them into means and percentages. (Decoding 40,000 timestamps in Python
instead took ten times as long.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, case, cast, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from missionctl.db import UTCDateTime
from missionctl.errors import InvalidInput
from missionctl.incidents.lifecycle import ActionItemStatus
from missionctl.incidents.models import ActionItem, Incident
from missionctl.reports.figures import (
    WEEK,
    Cell,
    Figures,
    GroupBy,
    IncidentTimes,
    Sums,
    Weekly,
    summarize_cells,
    week_start,
    weekly_cells,
)

MAX_RANGE = timedelta(days=2 * 366)
DEFAULT_RANGE = timedelta(weeks=12)
OVERDUE_LIMIT = 200

_TIMES = (
    Incident.id,
    Incident.runbook_id,
    Incident.service,
    Incident.severity,
    Incident.declared_at,
    Incident.acknowledged_at,
    Incident.resolved_at,
    Incident.first_page_sent_at,
    Incident.recovery_slo_met,
)


@dataclass(frozen=True)
class Report:
    """Everything the reports page and the summary API show for one window."""

    since: datetime
    until: datetime
    group_by: GroupBy
    overall: Figures
    groups: list[Figures]
    weekly: Weekly


@dataclass(frozen=True)
class OverdueItem:
    id: int
    title: str
    assignee: str
    due_at: datetime
    incident_id: int
    incident_title: str
    service: str


def check_window(*, since: datetime, until: datetime) -> None:
    """Refuse a window that is empty, backwards, or longer than two years."""
    if since >= until:
        raise InvalidInput("`since` must be before `until`", code="invalid_range")
    if until - since > MAX_RANGE:
        raise InvalidInput("a report covers at most two years", code="invalid_range")


def incident_times(session: Session, *, since: datetime, until: datetime) -> list[IncidentTimes]:
    """The incidents declared in [since, until): only the columns the figures use (the declared_at index)."""
    query = select(*_TIMES).where(Incident.declared_at >= since, Incident.declared_at < until)
    return [IncidentTimes(*row) for row in session.execute(query)]


class seconds_between(FunctionElement[float]):
    """`end - start` in seconds (NULL if either is NULL), in each dialect's own date arithmetic."""

    type = Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    # julianday() is a double of about 2.46 million days: good to ~50 µs, so round away the noise.
    return f"round((julianday({end}) - julianday({start})) * 86400.0, 3)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


_KEYS = {GroupBy.RUNBOOK: Incident.runbook_id, GroupBy.SERVICE: Incident.service, GroupBy.SEVERITY: Incident.severity}


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def cells(session: Session, *, since: datetime, until: datetime, group_by: GroupBy) -> list[Cell]:
    """Counts and summed durations per (group, week) of the incidents declared in [since, until)."""
    first = literal(week_start(since), UTCDateTime())
    declared = Incident.declared_at
    inner = (
        select(
            _KEYS[group_by].label("key"),
            # Whole weeks since the first Monday: the offset is never negative, so CAST truncates like floor.
            cast(seconds_between(first, declared) / WEEK.total_seconds(), Integer).label("week"),
            seconds_between(declared, Incident.acknowledged_at).label("ack"),
            seconds_between(declared, Incident.resolved_at).label("resolve"),
            seconds_between(declared, Incident.first_page_sent_at).label("engage"),
            _flag(Incident.recovery_slo_met.is_(True)).label("met"),
            _flag(Incident.recovery_slo_met.is_(False)).label("missed"),
        )
        .where(declared >= since, declared < until)
        .subquery()
    )
    c = inner.c
    query = select(
        c.key,
        c.week,
        func.count(),
        func.count(c.ack),
        func.count(c.resolve),
        func.count(c.engage),
        func.sum(c.met),
        func.sum(c.missed),
        func.sum(c.ack),
        func.sum(c.resolve),
        func.sum(c.engage),
    ).group_by(c.key, c.week)
    found = []
    for key, week, incidents, acked, resolved, engaged, met, missed, ack, resolve, engage in session.execute(query):
        sums = Sums(
            incidents=incidents,
            acknowledged=acked,
            resolved=resolved,
            engaged=engaged,
            slo_met=int(met or 0),
            slo_missed=int(missed or 0),
            ack_seconds=float(ack or 0),
            resolve_seconds=float(resolve or 0),
            engage_seconds=float(engage or 0),
        )
        found.append(Cell(key, int(week), sums))
    return found


def report(session: Session, *, since: datetime, until: datetime, group_by: GroupBy) -> Report:
    """MTTA, MTTR, recovery-SLO attainment and time-to-engage per group, overall and per week."""
    check_window(since=since, until=until)
    found = cells(session, since=since, until=until, group_by=group_by)
    overall, groups = summarize_cells(found)
    return Report(since, until, group_by, overall, groups, weekly_cells(found, since=since, until=until))


def overdue_action_items(session: Session, *, now: datetime, limit: int = OVERDUE_LIMIT) -> list[OverdueItem]:
    """Open action items past their due date, most overdue first."""
    query = (
        select(
            ActionItem.id,
            ActionItem.title,
            ActionItem.assignee,
            ActionItem.due_at,
            ActionItem.incident_id,
            Incident.title,
            Incident.service,
        )
        .join(Incident, Incident.id == ActionItem.incident_id)
        .where(ActionItem.status == str(ActionItemStatus.OPEN), ActionItem.due_at < now)
        .order_by(ActionItem.due_at, ActionItem.id)
        .limit(limit)
    )
    return [OverdueItem(*row) for row in session.execute(query)]
