"""Report figures (pure): known incidents give known MTTA, MTTR, attainment and time-to-engage, per week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from missionctl.reports.figures import ALL, GroupBy, IncidentTimes, summarize, week_start, week_starts, weekly

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)


def _incident(
    n: int,
    *,
    day: int = 0,
    ack: int | None = None,
    resolve: int | None = None,
    page: int | None = None,
    met: bool | None = None,
    service: str = "checkout",
    severity: str = "SEV2",
    runbook: str = "RB-001",
) -> IncidentTimes:
    """An incident declared `day` days after MONDAY 10:00; milestones in minutes after declaration."""
    declared = MONDAY + timedelta(days=day, hours=10)

    def at(minutes: int | None) -> datetime | None:
        return None if minutes is None else declared + timedelta(minutes=minutes)

    return IncidentTimes(n, runbook, service, severity, declared, at(ack), at(resolve), at(page), met)


ROWS = [
    _incident(1, ack=2, resolve=30, page=1, met=True),
    _incident(2, ack=4, resolve=90, page=3, met=False, service="search", severity="SEV1"),
    _incident(3, ack=6, resolve=12, met=True, day=8),
    _incident(4, day=9),  # still open, never paged
]


def test_overall_means_count_only_incidents_that_reached_the_milestone() -> None:
    overall, _ = summarize(ROWS, GroupBy.SERVICE)
    assert overall.key == ALL and overall.incidents == 4
    assert (overall.acknowledged, overall.resolved, overall.engaged) == (3, 3, 2)
    assert overall.mtta_seconds == 4 * 60  # (2 + 4 + 6) / 3 minutes
    assert overall.mttr_seconds == 44 * 60  # (30 + 90 + 12) / 3
    assert overall.tte_seconds == 2 * 60  # (1 + 3) / 2
    assert (overall.slo_met, overall.slo_missed) == (2, 1)
    assert overall.slo_attainment == 200 / 3


def test_groups_by_service_severity_and_runbook() -> None:
    _, services = summarize(ROWS, GroupBy.SERVICE)
    assert [(g.key, g.incidents) for g in services] == [("checkout", 3), ("search", 1)]
    assert services[1].mttr_seconds == 90 * 60 and services[1].slo_attainment == 0
    _, severities = summarize(ROWS, GroupBy.SEVERITY)
    assert [g.key for g in severities] == ["SEV2", "SEV1"]
    _, runbooks = summarize(ROWS, GroupBy.RUNBOOK)
    assert [(g.key, g.incidents) for g in runbooks] == [("RB-001", 4)]


def test_nothing_to_measure_is_none_not_zero() -> None:
    overall, groups = summarize([_incident(1)], GroupBy.SERVICE)
    assert overall.mtta_seconds is None and overall.mttr_seconds is None and overall.tte_seconds is None
    assert overall.slo_attainment is None
    assert summarize([], GroupBy.SERVICE)[1] == [] and groups[0].incidents == 1


def test_weeks_start_on_monday_utc() -> None:
    assert week_start(MONDAY + timedelta(days=6, hours=23)) == MONDAY
    assert week_start(MONDAY + timedelta(days=7)) == MONDAY + timedelta(days=7)
    assert week_starts(MONDAY + timedelta(days=3), MONDAY + timedelta(days=15)) == [
        MONDAY,
        MONDAY + timedelta(days=7),
        MONDAY + timedelta(days=14),
    ]


def test_weekly_buckets_by_the_week_declared_and_leaves_gaps() -> None:
    result = weekly(ROWS, GroupBy.SERVICE, since=MONDAY, until=MONDAY + timedelta(days=21))
    assert result.weeks == [MONDAY + timedelta(days=7 * i) for i in range(3)]
    assert [w.incidents for w in result.overall] == [2, 2, 0]
    assert result.overall[0].mtta_seconds == 3 * 60 and result.overall[1].mtta_seconds == 6 * 60
    assert result.overall[2].mtta_seconds is None
    search = result.groups["search"]
    assert search[0] is not None and search[0].mttr_seconds == 90 * 60
    assert search[1] is None and search[2] is None


def test_weekly_ignores_rows_outside_the_window() -> None:
    result = weekly(ROWS, GroupBy.SERVICE, since=MONDAY + timedelta(days=7), until=MONDAY + timedelta(days=14))
    assert [w.incidents for w in result.overall] == [2]
    assert set(result.groups) == {"checkout"}
