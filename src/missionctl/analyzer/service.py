"""Analyzer use cases: run an analysis and keep its report, list reports, and raise RB-002 on plan regressions.

`run` works in three steps so that no Mission Control transaction waits on the analyzed database: read the
latest snapshot and the baselines, analyze (see analysis.py), then store the snapshot, baselines and
report, note the findings on the incident and, for the scheduled check, hand regressions to the signals
pipeline, all in one write transaction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from missionctl.analyzer import stats, target
from missionctl.analyzer.analysis import Analysis, Baseline, Previous, StatementFinding, analyze
from missionctl.analyzer.config import AnalyzerConfig, NotConfigured
from missionctl.analyzer.diff import PlanSummary
from missionctl.analyzer.models import AnalyzerBaseline, AnalyzerReport
from missionctl.analyzer.schemas import ReportRead, ReportSummaryRead
from missionctl.context import AppContext
from missionctl.errors import Conflict, NotFound
from missionctl.incidents.models import Incident
from missionctl.incidents.timeline import note
from missionctl.signals.events import SignalAction, SignalEvent
from missionctl.signals.pipeline import RoutedEvent, apply
from missionctl.signals.routing import Decision

RUNBOOK = "RB-002"
TIMELINE_KIND = "analyzer_findings"
MAX_LIST_LIMIT = 200
ALERT_NAME = "PlanRegression"


def config_of(ctx: AppContext) -> AnalyzerConfig:
    """The analyzer's configuration, or a 409 `analyzer_not_configured`."""
    try:
        return AnalyzerConfig.from_settings(ctx.settings)
    except NotConfigured as exc:
        raise Conflict(str(exc), code="analyzer_not_configured") from None


def origin(config: AnalyzerConfig) -> str:
    return f"analyzer:{config.target}"


def run(
    ctx: AppContext,
    *,
    now: datetime,
    incident_id: int | None = None,
    trigger: str = "api",
    raise_incident: bool = False,
) -> ReportRead:
    """Analyze the configured database and keep the report; `raise_incident`: regressions open/join RB-002."""
    config = config_of(ctx)
    started = time.perf_counter()
    with ctx.read() as session:
        if incident_id is not None and session.get(Incident, incident_id) is None:
            raise NotFound(f"no incident {incident_id}", code="incident_not_found")
        previous = _previous(session, config.target)
        baselines = _baselines(session, config.target)
    try:
        conn = target.connect(config)
    except target.TargetUnavailable as exc:
        raise Conflict(str(exc), code="analyzer_target_unavailable") from None
    try:
        found = analyze(conn, config, previous=previous, baselines=baselines)
    finally:
        conn.close()
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    with ctx.write() as session:
        return _store(
            session,
            ctx,
            config,
            found,
            previous=previous,
            incident_id=incident_id,
            trigger=trigger,
            raise_incident=raise_incident,
            started_at=now,
            duration_ms=duration_ms,
        )


def reports(session: Session, *, limit: int = 50, incident_id: int | None = None) -> list[ReportSummaryRead]:
    """Reports, newest first."""
    query = select(AnalyzerReport).order_by(AnalyzerReport.id.desc()).limit(min(limit, MAX_LIST_LIMIT))
    if incident_id is not None:
        query = query.where(AnalyzerReport.incident_id == incident_id)
    return [ReportSummaryRead.model_validate(r) for r in session.scalars(query)]


def report(session: Session, *, report_id: int) -> ReportRead:
    row = session.get(AnalyzerReport, report_id)
    if row is None:
        raise NotFound(f"no analyzer report {report_id}", code="analyzer_report_not_found")
    return ReportRead.model_validate(row)


# -- reading ------------------------------------------------------------------------------------------


def _previous(session: Session, target_name: str) -> Previous | None:
    snapshot = stats.latest_snapshot(session, target=target_name)
    if snapshot is None:
        return None
    return Previous(stats.snapshot_counters(snapshot), snapshot.stats_reset_at, snapshot.taken_at)


def _baselines(session: Session, target_name: str) -> dict[str, Baseline]:
    rows = session.scalars(select(AnalyzerBaseline).where(AnalyzerBaseline.target == target_name))
    return {r.queryid: Baseline(PlanSummary.from_json(r.summary), r.captured_at, r.plan) for r in rows}


# -- storing ------------------------------------------------------------------------------------------


def _store(
    session: Session,
    ctx: AppContext,
    config: AnalyzerConfig,
    found: Analysis,
    *,
    previous: Previous | None,
    incident_id: int | None,
    trigger: str,
    raise_incident: bool,
    started_at: datetime,
    duration_ms: float,
) -> ReportRead:
    now = ctx.clock.now()
    stats.save_snapshot(session, target=config.target, taken=found.sample, now=started_at)
    _save_baselines(session, config.target, found.top, started_at)
    findings = _findings(config, found, previous, started_at, duration_ms)
    regressed = [f for f in found.top if f.regressed]
    row = AnalyzerReport(
        target=config.target,
        trigger=trigger,
        incident_id=incident_id,
        started_at=started_at,
        finished_at=now,
        regressions=len(regressed),
        recommendations=len(found.recommendations),
        summary=_summary(config, found),
        findings=findings,
    )
    session.add(row)
    session.flush()
    incidents = [incident_id] if incident_id is not None else []
    if raise_incident:
        incidents += [i for i in _signal(session, ctx, config, found.top, now) if i not in incidents]
    if row.incident_id is None and incidents:
        row.incident_id = incidents[0]
    for number in incidents:
        incident = session.get(Incident, number)
        if incident is not None:
            note(session, incident, now, TIMELINE_KIND, row.summary, actor="analyzer", **_timeline_data(row, found))
    return ReportRead.model_validate(row)


def _save_baselines(session: Session, target_name: str, top: Sequence[StatementFinding], now: datetime) -> None:
    """New baselines in one INSERT, refreshed ones in one UPDATE by primary key (executemany each)."""
    rows = [
        {
            "target": target_name,
            "queryid": str(f.delta.queryid),
            "query": f.delta.query,
            "summary": f.summary.as_json(),
            "plan": f.captured.plan,
            "generic": f.captured.generic,
            "captured_at": now,
        }
        for f in top
        if f.new_baseline and f.captured.plan is not None and f.summary is not None
    ]
    known = {str(f.delta.queryid) for f in top if f.baseline is not None}
    created = [r for r in rows if r["queryid"] not in known]
    refreshed = [r for r in rows if r["queryid"] in known]
    if created:
        session.execute(insert(AnalyzerBaseline), created)
    if refreshed:
        session.execute(update(AnalyzerBaseline), refreshed)


def _summary(config: AnalyzerConfig, found: Analysis) -> str:
    regressed = [f for f in found.top if f.regressed]
    text = (
        f"{config.target}: {len(found.top)} slowest statements analyzed, {len(regressed)} plan regression"
        f"{'' if len(regressed) == 1 else 's'}, {len(found.recommendations)} index"
        f"{'' if len(found.recommendations) == 1 else 'es'} recommended"
    )
    if regressed:
        text += f"; worst: {regressed[0].reasons[0]}"
    return text


def _findings(
    config: AnalyzerConfig, found: Analysis, previous: Previous | None, now: datetime, duration_ms: float
) -> dict[str, Any]:
    reset = found.sample.stats_reset_at
    from_reset = previous is None or previous.stats_reset_at != reset
    return {
        "target": config.target,
        "service": config.service,
        "window": {
            "since": None if from_reset or previous is None else previous.taken_at.isoformat(),
            "until": now.isoformat(),
            "stats_reset_at": reset.isoformat() if reset else None,
            "counted_from_reset": from_reset,
        },
        "settings": {"top_n": config.top_n, "min_calls": config.min_calls},
        "statements_seen": found.statements_seen,
        "top": [f.as_json() for f in found.top],
        "regressions": [
            {
                "queryid": str(f.delta.queryid),
                "query": f.delta.query,
                "reasons": f.reasons,
                "diff": f.change,
                "plan": f.captured.plan,
                "baseline_plan": f.baseline.plan if f.baseline else None,
            }
            for f in found.top
            if f.regressed
        ],
        "recommendations": [r.as_json() for r in found.recommendations],
        "hypopg": found.hypopg,
        "errors": found.errors,
        "duration_ms": duration_ms,
    }


def _timeline_data(row: AnalyzerReport, found: Analysis) -> dict[str, Any]:
    return {
        "report_id": row.id,
        "target": row.target,
        "report": f"/api/v1/analyzer/reports/{row.id}",
        "regressions": [
            {"queryid": str(f.delta.queryid), "query": f.delta.query[:300], "reasons": f.reasons}
            for f in found.top
            if f.regressed
        ],
        "recommendations": [r.candidate.statement() for r in found.recommendations],
        "top": [
            {"queryid": str(f.delta.queryid), "calls": f.delta.calls, "mean_ms": round(f.delta.mean_ms, 3)}
            for f in found.top[:5]
        ],
    }


def _signal(
    session: Session, ctx: AppContext, config: AnalyzerConfig, top: Sequence[StatementFinding], now: datetime
) -> list[int]:
    """Regressions fire (opening or joining the service's RB-002 incident); compared plans that are fine
    resolve their alert if it was firing. Returns the incidents the regressions joined."""
    severity = ctx.runbooks.get(RUNBOOK).runbook.default_severity
    decision = Decision(config.service, RUNBOOK, severity, "analyzer plan regression")
    events = [_event(config, f, now, decision) for f in top if f.change is not None]
    if not events:
        return []
    applied = apply(session, events, runbooks=ctx.runbooks, now=now)
    keys = [(origin(config), e.event.dedup_key) for e in events if e.event.action is SignalAction.TRIGGER]
    return list(dict.fromkeys(applied.incidents[k] for k in keys if k in applied.incidents))


def _event(config: AnalyzerConfig, finding: StatementFinding, now: datetime, decision: Decision) -> RoutedEvent:
    queryid = str(finding.delta.queryid)
    labels = {
        "alertname": ALERT_NAME,
        "service": config.service,
        "runbook": RUNBOOK,
        "target": config.target,
        "queryid": queryid,
    }
    if finding.regressed:
        event = SignalEvent(
            source="detector",
            action=SignalAction.TRIGGER,
            dedup_key=f"plan:{queryid}",
            summary=f"Plan regression on {config.target}: {finding.reasons[0]}",
            labels=labels,
            annotations={"query": finding.delta.query[:1000], "reasons": "; ".join(finding.reasons)},
            started_at=now,
        )
        return RoutedEvent(origin(config), event, decision, actor="analyzer")
    event = SignalEvent(
        source="detector",
        action=SignalAction.RESOLVE,
        dedup_key=f"plan:{queryid}",
        summary=f"Plan of {queryid} on {config.target} is back within its baseline",
        labels=labels,
        ended_at=now,
    )
    return RoutedEvent(origin(config), event, None, actor="analyzer")
