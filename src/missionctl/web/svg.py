"""Draw a runbook's path as SVG (pure): trigger → first minutes → escalation → recovery, with its branches.

The picture is built from the runbook itself, so a user's own runbooks get the same drawing. Automation
entries hang off the first-response stage as dashed branches that rejoin at recovery; anything that rolls
back is marked. Colours come from CSS classes, so the page's theme (dark or light) applies.
"""

from __future__ import annotations

import itertools
import textwrap
from dataclasses import dataclass
from html import escape

from missionctl.runbooks.schemas import Automation, AutomationMode, Runbook

WIDTH = 400
MARGIN = 8
STAGE_X, STAGE_W = 8, 384
BRANCH_X, BRANCH_W = 104, 280
PAD = 12
HEADING = 20  # heading line height
LINE = 18  # body line height
GAP = 34  # vertical room for an arrow between two boxes
CHAR_W = 7.2  # average glyph width at the body font size, for wrapping


@dataclass(frozen=True)
class Box:
    """A drawn node: where it sits and what it says."""

    kind: str  # trigger | first-response | escalation | recovery | automated | approval | manual
    x: float
    y: float
    w: float
    heading: str
    lines: tuple[str, ...]
    marks: tuple[str, ...] = ()  # extra CSS classes: "rollback"

    @property
    def h(self) -> float:
        return PAD * 2 + HEADING + LINE * len(self.lines)

    @property
    def bottom(self) -> float:
        return self.y + self.h


def is_rollback(action: str | None) -> bool:
    return action is not None and "rollback" in action.split(".")[-1]


def _wrap(text: str, width: float, indent: str = "") -> list[str]:
    chars = max(12, int((width - 2 * PAD) / CHAR_W))
    return textwrap.wrap(text, chars, initial_indent="", subsequent_indent=indent) or [""]


def _stage_lines(runbook: Runbook) -> list[tuple[str, str, list[str], tuple[str, ...]]]:
    """(kind, heading, body lines, marks) of the four stages, top to bottom."""
    first = runbook.first_response
    steps: list[str] = []
    rollback = False
    for number, step in enumerate(first.steps, start=1):
        steps += _wrap(f"{number}. {step.title}", STAGE_W, "   ")
        if step.action:
            marker = " ↩ rollback" if is_rollback(step.action) else ""
            steps.append(f"   ▸ {step.action}{marker}")
            rollback = rollback or is_rollback(step.action)
    esc = runbook.escalation
    targets = ", ".join(t.label or f"{t.kind.value} {t.name}" for t in esc.targets)
    when = "at once" if esc.after_minutes == 0 else f"after {esc.after_minutes} min"
    return [
        ("trigger", "Trigger", _wrap(runbook.trigger.summary, STAGE_W), ()),
        ("first-response", f"First {first.within_minutes} minutes", steps, ("rollback",) if rollback else ()),
        ("escalation", f"Escalation ({when})", _wrap(esc.summary, STAGE_W) + _wrap(f"Pages: {targets}", STAGE_W), ()),
        (
            "recovery",
            f"Recovery within {runbook.recovery_slo.minutes} min",
            [
                *_wrap(runbook.recovery_slo.summary, STAGE_W),
                f"Stakeholder updates every {runbook.stakeholder_updates.every_minutes} min",
            ],
            (),
        ),
    ]


def _branch_heading(automation: Automation) -> str:
    label = {
        AutomationMode.AUTOMATIC: "Automated",
        AutomationMode.APPROVAL: "Automated, needs approval",
        AutomationMode.MANUAL: "Manual action",
    }[automation.mode]
    return f"{label}: rollback" if is_rollback(automation.action) else label


def _branch_lines(automation: Automation) -> list[str]:
    lines = [*_wrap(automation.summary, BRANCH_W), f"▸ {automation.action}"]
    if automation.schedule_minutes:
        lines.append(f"every {automation.schedule_minutes} min")
    return lines


def layout(runbook: Runbook) -> tuple[list[Box], list[Box]]:
    """The stage boxes and the branch boxes, positioned (branches sit between first response and escalation)."""
    stages: list[Box] = []
    branches: list[Box] = []
    y: float = MARGIN
    for kind, heading, lines, marks in _stage_lines(runbook):
        stages.append(Box(kind, STAGE_X, y, STAGE_W, heading, tuple(lines), marks))
        y = stages[-1].bottom + GAP
        if kind == "first-response":
            for automation in runbook.automation:
                mark = ("rollback",) if is_rollback(automation.action) else ()
                text = tuple(_branch_lines(automation))
                box = Box(str(automation.mode), BRANCH_X, y, BRANCH_W, _branch_heading(automation), text, mark)
                branches.append(box)
                y = box.bottom + GAP
    return stages, branches


def _box(box: Box, stage: str) -> str:
    classes = " ".join(("node", box.kind, *box.marks))
    parts = [
        f'<g class="{classes}" data-stage="{stage}">',
        f'<rect x="{box.x}" y="{box.y}" width="{box.w}" height="{box.h}" rx="8"/>',
        f'<text x="{box.x + PAD}" y="{box.y + PAD + 14}" class="heading">{escape(box.heading)}</text>',
    ]
    for i, line in enumerate(box.lines):
        y = box.y + PAD + HEADING + LINE * i + 13
        parts.append(f'<text x="{box.x + PAD}" y="{y}">{escape(line)}</text>')
    parts.append("</g>")
    return "".join(parts)


def _arrow(x: float, y1: float, y2: float) -> str:
    return f'<path class="edge" d="M{x} {y1} V{y2 - 2}" marker-end="url(#mc-arrow)"/>'


def _edges(stages: list[Box], branches: list[Box]) -> list[str]:
    edges = [_arrow(40, a.bottom, b.y) for a, b in itertools.pairwise(stages)]
    first, recovery = stages[1], stages[3]
    right = WIDTH - 4
    for box in branches:
        mark = " rollback" if "rollback" in box.marks else ""
        mid = box.y + box.h / 2
        edges.append(
            f'<path class="edge branch{mark}" d="M{box.x + box.w / 2} {first.bottom} V{box.y - 2}" '
            'marker-end="url(#mc-arrow)"/>'
        )
        edges.append(
            f'<path class="edge branch{mark}" d="M{box.x + box.w} {mid} H{right} V{recovery.y + 16} '
            f'H{recovery.x + recovery.w + 2}" marker-end="url(#mc-arrow)"/>'
        )
    return edges


def describe(runbook: Runbook) -> str:
    """The picture in words, for screen readers (the SVG's <desc>)."""
    parts = [
        f"Trigger: {runbook.trigger.summary.rstrip('.')}",
        f"then {len(runbook.first_response.steps)} first-response steps within "
        f"{runbook.first_response.within_minutes} minutes",
        f"then escalation: {runbook.escalation.summary.rstrip('.')}",
        f"then recovery within {runbook.recovery_slo.minutes} minutes.",
    ]
    branches = [f"{_branch_heading(a)} branch: {a.summary}" for a in runbook.automation]
    return "; ".join(parts) + (" " + " ".join(branches) if branches else "")


def runbook_path(runbook: Runbook) -> str:
    """The whole drawing as an inline <svg> element (all runbook text escaped)."""
    stages, branches = layout(runbook)
    height = max(b.bottom for b in stages + branches) + MARGIN
    ident = escape(runbook.id.lower())
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="runbook-path" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-labelledby="{ident}-title {ident}-desc">'
        f'<title id="{ident}-title">{escape(runbook.id)} {escape(runbook.title)}: response path</title>'
        f'<desc id="{ident}-desc">{escape(describe(runbook))}</desc>'
        '<defs><marker id="mc-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" class="arrowhead"/></marker></defs>'
    )
    body = _edges(stages, branches)
    body += [_box(b, b.kind) for b in stages]
    body += [_box(b, f"branch-{i}") for i, b in enumerate(branches, start=1)]
    return head + "".join(body) + "</svg>"
