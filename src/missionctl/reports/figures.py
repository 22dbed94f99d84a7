"""Response figures (pure): MTTA, MTTR, recovery-SLO attainment and time-to-engage, by group and by week.

Every figure is counted in the week the incident was *declared*, so a week's numbers never change
because of what happens later to other incidents. Means are over the incidents that reached the
milestone: MTTA over the acknowledged ones, MTTR over the resolved ones, time-to-engage over those
whose first page was delivered, attainment over those resolved with a recovery-SLO verdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

WEEK = timedelta(days=7)


class GroupBy(StrEnum):
    RUNBOOK = "runbook"
    SERVICE = "service"
    SEVERITY = "severity"


@dataclass(frozen=True)
class IncidentTimes:
    """The columns the figures need from one incident."""

    id: int
    runbook_id: str
    service: str
    severity: str
    declared_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    first_page_sent_at: datetime | None
    recovery_slo_met: bool | None

    def key(self, group_by: GroupBy) -> str:
        if group_by is GroupBy.RUNBOOK:
            return self.runbook_id
        if group_by is GroupBy.SERVICE:
            return self.service
        return self.severity


@dataclass(frozen=True)
class Figures:
    """The four figures for one group of incidents (None: no incident reached that milestone)."""

    key: str
    incidents: int
    acknowledged: int
    resolved: int
    engaged: int
    slo_met: int
    slo_missed: int
    mtta_seconds: float | None
    mttr_seconds: float | None
    tte_seconds: float | None

    @property
    def slo_attainment(self) -> float | None:
        """Percent of the judged incidents that recovered within their SLO."""
        judged = self.slo_met + self.slo_missed
        return None if judged == 0 else 100.0 * self.slo_met / judged


@dataclass
class Sums:
    """Counts and summed durations of a set of incidents: what SQL aggregates, and what adds up."""

    incidents: int = 0
    acknowledged: int = 0
    resolved: int = 0
    engaged: int = 0
    slo_met: int = 0
    slo_missed: int = 0
    ack_seconds: float = 0.0
    resolve_seconds: float = 0.0
    engage_seconds: float = 0.0

    def merge(self, other: Sums) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)

    def add(self, row: IncidentTimes) -> None:
        self.incidents += 1
        if row.acknowledged_at is not None:
            self.acknowledged += 1
            self.ack_seconds += _seconds(row.declared_at, row.acknowledged_at)
        if row.resolved_at is not None:
            self.resolved += 1
            self.resolve_seconds += _seconds(row.declared_at, row.resolved_at)
            if row.recovery_slo_met is True:
                self.slo_met += 1
            elif row.recovery_slo_met is False:
                self.slo_missed += 1
        if row.first_page_sent_at is not None:
            self.engaged += 1
            self.engage_seconds += _seconds(row.declared_at, row.first_page_sent_at)

    def figures(self, key: str) -> Figures:
        return Figures(
            key=key,
            incidents=self.incidents,
            acknowledged=self.acknowledged,
            resolved=self.resolved,
            engaged=self.engaged,
            slo_met=self.slo_met,
            slo_missed=self.slo_missed,
            mtta_seconds=_mean(self.ack_seconds, self.acknowledged),
            mttr_seconds=_mean(self.resolve_seconds, self.resolved),
            tte_seconds=_mean(self.engage_seconds, self.engaged),
        )


def _seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


def _mean(total: float, count: int) -> float | None:
    return None if count == 0 else total / count


ALL = "all incidents"


@dataclass(frozen=True)
class Cell:
    """The sums of one group in one week (`week`: weeks since the window's first Monday)."""

    key: str
    week: int
    sums: Sums


def cells(rows: Iterable[IncidentTimes], group_by: GroupBy, *, since: datetime) -> list[Cell]:
    """Sum rows into cells, as the report query does in SQL."""
    first = week_start(since)
    found: dict[tuple[str, int], Sums] = {}
    for row in rows:
        week = int((row.declared_at - first) / WEEK)
        found.setdefault((row.key(group_by), week), Sums()).add(row)
    return [Cell(key, week, sums) for (key, week), sums in found.items()]


def summarize_cells(found: Iterable[Cell]) -> tuple[Figures, list[Figures]]:
    """Figures over all cells, and per group (most incidents first, then by name)."""
    overall = Sums()
    groups: dict[str, Sums] = {}
    for cell in found:
        overall.merge(cell.sums)
        groups.setdefault(cell.key, Sums()).merge(cell.sums)
    per_group = [sums.figures(key) for key, sums in groups.items()]
    per_group.sort(key=lambda f: (-f.incidents, f.key))
    return overall.figures(ALL), per_group


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the week holding `moment`."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def week_starts(since: datetime, until: datetime) -> list[datetime]:
    """The weeks (Monday 00:00 UTC) that overlap [since, until)."""
    weeks: list[datetime] = []
    week = week_start(since)
    while week < until:
        weeks.append(week)
        week += WEEK
    return weeks


@dataclass(frozen=True)
class Weekly:
    """Figures per week: over all incidents, and per group (None: the group had no incident that week)."""

    weeks: list[datetime]
    overall: list[Figures]
    groups: dict[str, list[Figures | None]] = field(default_factory=dict)


def weekly_cells(found: Iterable[Cell], *, since: datetime, until: datetime) -> Weekly:
    """Lay the cells out week by week over [since, until)."""
    weeks = week_starts(since, until)
    overall = [Sums() for _ in weeks]
    groups: dict[str, list[Figures | None]] = {}
    for cell in found:
        if not 0 <= cell.week < len(weeks):
            continue
        overall[cell.week].merge(cell.sums)
        groups.setdefault(cell.key, [None] * len(weeks))[cell.week] = cell.sums.figures(cell.key)
    return Weekly(weeks=weeks, overall=[sums.figures(ALL) for sums in overall], groups=groups)


def summarize(rows: Iterable[IncidentTimes], group_by: GroupBy) -> tuple[Figures, list[Figures]]:
    """Figures of incident rows, overall and per group."""
    found = list(rows)
    since = min((r.declared_at for r in found), default=datetime(2000, 1, 3, tzinfo=UTC))
    return summarize_cells(cells(found, group_by, since=since))


def weekly(rows: Iterable[IncidentTimes], group_by: GroupBy, *, since: datetime, until: datetime) -> Weekly:
    """Incident rows bucketed by the week they were declared in; rows outside [since, until) are left out."""
    inside = [r for r in rows if since <= r.declared_at < until]
    return weekly_cells(cells(inside, group_by, since=since), since=since, until=until)
