"""Read-side queries the console's pages need beyond the incident service: bounded, index-friendly reads."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from missionctl.actions.models import ActionExecution
from missionctl.analyzer.models import AnalyzerReport
from missionctl.catalog import models as catalog
from missionctl.deployments.models import Deployment
from missionctl.incidents.lifecycle import OPEN_STATUSES, IncidentRole
from missionctl.incidents.models import ChannelMessage, Incident, RoleAssignment, TimelineEvent
from missionctl.notifications.models import Notification
from missionctl.releases.models import ReleaseVerdict
from missionctl.releases.rules import Verdict

OPEN = sorted(str(s) for s in OPEN_STATUSES)
OPEN_LIMIT = 100
STATUS_HISTORY_DAYS = 90
STATUS_HISTORY_LIMIT = 50


@dataclass(frozen=True)
class IncidentRow:
    """One incident in a list: what a responder scans for."""

    id: int
    title: str
    service: str
    severity: str
    status: str
    runbook_id: str
    declared_at: datetime
    resolved_at: datetime | None
    recovery_deadline: datetime
    recovery_slo_minutes: int
    recovery_slo_met: bool | None
    next_update_due_at: datetime | None
    acknowledged_by: str | None
    commander: str | None
    people: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def slo_seconds_left(self, now: datetime) -> int:
        return int((self.recovery_deadline - now).total_seconds())

    def update_overdue(self, now: datetime) -> bool:
        return self.is_open and self.next_update_due_at is not None and now >= self.next_update_due_at


@dataclass(frozen=True)
class Filters:
    severity: str | None = None
    service: str | None = None
    runbook: str | None = None


_COMMANDER = (
    select(RoleAssignment.assignee)
    .where(RoleAssignment.incident_id == Incident.id, RoleAssignment.role == str(IncidentRole.COMMANDER))
    .correlate(Incident)
    .scalar_subquery()
)
# Only the columns a list shows: building full ORM objects (and their roles) costs more than the query.
_COLUMNS = (
    Incident.id,
    Incident.title,
    Incident.service,
    Incident.severity,
    Incident.status,
    Incident.runbook_id,
    Incident.declared_at,
    Incident.resolved_at,
    Incident.recovery_deadline,
    Incident.recovery_slo_minutes,
    Incident.recovery_slo_met,
    Incident.next_update_due_at,
    Incident.acknowledged_by,
    _COMMANDER.label("commander"),
)


def _filtered(query: Select[Any], filters: Filters) -> Select[Any]:
    if filters.severity:
        query = query.where(Incident.severity == filters.severity)
    if filters.service:
        query = query.where(Incident.service == filters.service)
    if filters.runbook:
        query = query.where(Incident.runbook_id == filters.runbook)
    return query


def open_incidents(session: Session, *, filters: Filters = Filters(), limit: int = OPEN_LIMIT) -> list[IncidentRow]:
    """Open incidents, most severe first, then newest."""
    query = select(*_COLUMNS).where(Incident.status.in_(OPEN))
    query = _filtered(query, filters).order_by(Incident.severity, Incident.id.desc()).limit(limit)
    return [IncidentRow(**row._asdict()) for row in session.execute(query)]


def history(session: Session, *, filters: Filters = Filters(), before_id: int | None, limit: int) -> list[IncidentRow]:
    """Resolved and closed incidents, newest first; page with `before_id` (the last id of the previous page)."""
    # "Not open" rather than "resolved or closed": the status index would make SQLite sort all the history
    # to find the newest few, where walking the primary key backwards stops after one page.
    query = select(*_COLUMNS).where(Incident.status.not_in(OPEN))
    if before_id is not None:
        query = query.where(Incident.id < before_id)
    query = _filtered(query, filters).order_by(Incident.id.desc()).limit(limit)
    return [IncidentRow(**row._asdict()) for row in session.execute(query)]


def with_people(session: Session, rows: list[IncidentRow]) -> list[IncidentRow]:
    """The rows with everyone holding a role on them or having acknowledged them."""
    people: dict[int, set[str]] = {row.id: {row.acknowledged_by} if row.acknowledged_by else set() for row in rows}
    query = select(RoleAssignment.incident_id, RoleAssignment.assignee).where(
        RoleAssignment.incident_id.in_(list(people))
    )
    for incident_id, assignee in session.execute(query):
        people[incident_id].add(assignee)
    return [replace(row, people=tuple(sorted(people[row.id]))) for row in rows]


def count_open(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Incident).where(Incident.status.in_(OPEN))) or 0)


@dataclass
class NeedsMe:
    """The home page: what needs this person now."""

    mine: list[IncidentRow] = field(default_factory=list)
    unacknowledged: list[IncidentRow] = field(default_factory=list)
    updates_overdue: list[IncidentRow] = field(default_factory=list)
    others: list[IncidentRow] = field(default_factory=list)


def needs_me(session: Session, *, username: str, now: datetime) -> NeedsMe:
    """Sort the open incidents into: mine, nobody acknowledged, stakeholder update overdue, the rest."""
    view = NeedsMe()
    for row in with_people(session, open_incidents(session)):
        if username in row.people:
            view.mine.append(row)
        elif row.acknowledged_by is None:
            view.unacknowledged.append(row)
        elif row.update_overdue(now):
            view.updates_overdue.append(row)
        else:
            view.others.append(row)
    return view


def live_version(session: Session, *, incident_id: int) -> str:
    """A value that changes whenever anything shown in an incident room changes.

    Every change to an incident writes a timeline entry; channel messages, page deliveries and an action
    starting to run do not, so they are counted too. Four small lookups on the incident's index entries,
    cheap enough to poll several times a second.
    """
    timeline = select(func.max(TimelineEvent.id)).where(TimelineEvent.incident_id == incident_id)
    messages = select(func.max(ChannelMessage.id)).where(ChannelMessage.incident_id == incident_id)
    pages = select(func.count(Notification.sent_at), func.count(Notification.acknowledged_at)).where(
        Notification.incident_id == incident_id
    )
    sent, acked = session.execute(pages).one()
    actions = select(
        func.max(ActionExecution.id), func.count(ActionExecution.started_at), func.count(ActionExecution.finished_at)
    ).where(ActionExecution.incident_id == incident_id)
    latest, started, finished = session.execute(actions).one()
    return (
        f"{session.scalar(timeline) or 0}.{session.scalar(messages) or 0}.{sent}.{acked}"
        f".{latest or 0}.{started}.{finished}"
    )


def list_version(session: Session) -> str:
    """A value that changes whenever an incident list could: every change to any incident writes a timeline
    entry, and a resolution changes the number of open incidents. Two index-only lookups."""
    latest = session.scalar(select(func.max(TimelineEvent.id))) or 0
    return f"{latest}.{count_open(session)}"


def public_incidents(session: Session, *, now: datetime) -> tuple[list[Incident], list[Incident]]:
    """For the status page: open incidents, and the latest resolved in the last 90 days (with their updates)."""
    since = now - timedelta(days=STATUS_HISTORY_DAYS)
    current = (
        select(Incident)
        .options(selectinload(Incident.updates))
        .where(Incident.status.in_(OPEN))
        .order_by(Incident.id.desc())
        .limit(OPEN_LIMIT)
    )
    # Walking the primary key backwards (as `history` does) stops after one page of recent incidents.
    past = (
        select(Incident)
        .options(selectinload(Incident.updates))
        .where(Incident.status.not_in(OPEN), Incident.resolved_at >= since)
        .order_by(Incident.id.desc())
        .limit(STATUS_HISTORY_LIMIT)
    )
    return list(session.scalars(current)), list(session.scalars(past))


def service_names(session: Session) -> dict[str, str]:
    rows = session.execute(select(catalog.Service.id, catalog.Service.name).order_by(catalog.Service.id))
    return {service_id: name for service_id, name in rows}


@dataclass(frozen=True)
class ReportRow:
    """One analyzer report in the list (its findings stay in the database)."""

    id: int
    target: str
    trigger: str
    incident_id: int | None
    started_at: datetime
    finished_at: datetime
    regressions: int
    recommendations: int
    summary: str
    analyzed: int | None


def analyzer_reports(session: Session, *, incident_id: int | None = None, limit: int = 50) -> list[ReportRow]:
    """Analyzer reports, newest first, with how many statements each analyzed (counted in the database)."""
    # json_array_length exists on SQLite and PostgreSQL alike: the (large) findings never leave the database.
    analyzed = func.json_array_length(AnalyzerReport.findings["top"])
    query = select(
        AnalyzerReport.id,
        AnalyzerReport.target,
        AnalyzerReport.trigger,
        AnalyzerReport.incident_id,
        AnalyzerReport.started_at,
        AnalyzerReport.finished_at,
        AnalyzerReport.regressions,
        AnalyzerReport.recommendations,
        AnalyzerReport.summary,
        analyzed.label("analyzed"),
    )
    if incident_id is not None:
        query = query.where(AnalyzerReport.incident_id == incident_id)
    query = query.order_by(AnalyzerReport.id.desc()).limit(limit)
    return [ReportRow(**row._asdict()) for row in session.execute(query)]


@dataclass(frozen=True)
class ReleaseRow:
    """One release in the ledger, with its verdict (None: an environment the service's probes do not watch)."""

    id: int
    service_id: str
    version: str
    artifact_digest: str
    environment: str
    deployed_by: str
    deployed_at: datetime
    verdict: str | None
    reason: str | None


_RELEASE_COLUMNS: tuple[Any, ...] = (
    Deployment.id,
    Deployment.service_id,
    Deployment.version,
    Deployment.artifact_digest,
    Deployment.environment,
    Deployment.deployed_by,
    Deployment.deployed_at,
    ReleaseVerdict.verdict,
    ReleaseVerdict.reason,
)


def _newest(session: Session, query: Select[Any], partition: list[Any], per: int) -> list[ReleaseRow]:
    """The newest `per` rows of each partition, in one query (a window function, on SQLite and PostgreSQL)."""
    order = (Deployment.deployed_at.desc(), Deployment.id.desc())
    ranked = query.add_columns(func.row_number().over(partition_by=partition, order_by=order).label("n")).subquery()
    kept = select(*[c for c in ranked.c if c.name != "n"]).where(ranked.c.n <= per)
    rows = session.execute(kept.order_by(ranked.c.service_id, ranked.c.n))
    return [ReleaseRow(**row._asdict()) for row in rows]


def recent_releases(session: Session, *, service_ids: list[str], per_service: int) -> list[ReleaseRow]:
    """The latest releases of each service (every environment), newest first within a service."""
    query = (
        select(*_RELEASE_COLUMNS)
        .outerjoin(ReleaseVerdict, ReleaseVerdict.deployment_id == Deployment.id)
        .where(Deployment.service_id.in_(service_ids))
    )
    return _newest(session, query, [Deployment.service_id], per_service)


def recent_healthy(session: Session, *, service_ids: list[str], per_service: int) -> list[ReleaseRow]:
    """The latest releases with a healthy verdict of each service and environment, newest first."""
    query = (
        select(*_RELEASE_COLUMNS)
        .join(ReleaseVerdict, ReleaseVerdict.deployment_id == Deployment.id)
        .where(Deployment.service_id.in_(service_ids), ReleaseVerdict.verdict == Verdict.HEALTHY)
    )
    return _newest(session, query, [Deployment.service_id, Deployment.environment], per_service)
