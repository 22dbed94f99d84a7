"""Render a postmortem draft in Markdown from an incident's read model (pure)."""

from __future__ import annotations

from datetime import datetime

from missionctl.incidents.schemas import IncidentRead


def _ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def _duration(start: datetime, end: datetime | None) -> str:
    if end is None:
        return "ongoing"
    minutes, seconds = divmod(int((end - start).total_seconds()), 60)
    return f"{minutes} min {seconds:02d} s"


def _escape_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(incident: IncidentRead) -> str:
    """The draft a commander starts from: summary, clocks, checklist, timeline, action items."""
    parts = [
        f"# Postmortem: INC-{incident.id} {incident.title}",
        "",
        *_summary(incident),
        "",
        "## Impact",
        "",
        "_Who and what was affected, for how long._",
        "",
        "## First five minutes",
        "",
        *_checklist(incident),
        "",
        "## Timeline",
        "",
        *_timeline(incident),
        "",
        "## Root cause",
        "",
        "_What broke, and why it was possible._",
        "",
        "## Action items",
        "",
        *_action_items(incident),
        "",
    ]
    return "\n".join(parts)


def _summary(incident: IncidentRead) -> list[str]:
    slo = incident.recovery_slo
    confirmation = incident.recovery_confirmation
    lines = [
        f"- **Service:** {incident.service}",
        f"- **Severity:** {incident.severity}",
        f"- **Runbook:** {incident.runbook_id} (version `{incident.runbook_hash[:12]}`)",
        f"- **Commander:** {incident.commander or '—'}",
        f"- **Declared:** {_ts(incident.declared_at)} by {incident.declared_by}",
        f"- **Acknowledged:** {_ts(incident.acknowledged_at)}",
        f"- **Resolved:** {_ts(incident.resolved_at)} ({_duration(incident.declared_at, incident.resolved_at)})",
        f"- **Recovery SLO:** {slo.minutes} min, {slo.state}",
        f"- **First response:** {incident.first_response.state}",
    ]
    if confirmation:
        lines.append(f"- **Recovery confirmed by:** {confirmation.confirmed_by}: {confirmation.evidence}")
    return lines


def _checklist(incident: IncidentRead) -> list[str]:
    lines = []
    for step in incident.steps:
        box = "x" if step.status != "pending" else " "
        who = f" ({step.status} by {step.completed_by} at {_ts(step.completed_at)})" if step.completed_by else ""
        note = f": {step.note}" if step.note else ""
        lines.append(f"- [{box}] {step.position}. {step.title}{who}{note}")
    return lines


def _timeline(incident: IncidentRead) -> list[str]:
    rows = [(e.at, e.actor, e.summary) for e in incident.timeline]
    rows += [(m.posted_at, m.author, f"(channel) {m.body}") for m in incident.messages]
    rows.sort(key=lambda row: row[0])
    return ["| Time (UTC) | Who | What |", "|---|---|---|"] + [
        f"| {_ts(at)} | {_escape_cell(who)} | {_escape_cell(what)} |" for at, who, what in rows
    ]


def _action_items(incident: IncidentRead) -> list[str]:
    if not incident.action_items:
        return ["_None yet._"]
    return [
        f"- [{'x' if item.status == 'done' else ' '}] {item.title} — **{item.assignee}**, due {_ts(item.due_at)}"
        for item in incident.action_items
    ]
