"""The runbook path drawing (pure): well-formed, complete, escaped, and the same for user runbooks."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from missionctl.runbooks.loader import load_registry
from missionctl.runbooks.schemas import Runbook
from missionctl.web import svg

NS = {"svg": "http://www.w3.org/2000/svg"}


def _runbook(**overrides: Any) -> Runbook:
    base: dict[str, Any] = {
        "id": "RB-900",
        "title": "Queue backlog",
        "summary": "Consumers fall behind.",
        "trigger": {"summary": "Lag over 10k messages for 5 minutes."},
        "first_response": {"steps": [{"title": "Scale consumers."}, {"title": "Pause producers."}]},
        "escalation": {"summary": "Page the queue team.", "after_minutes": 10, "targets": [{"team": "queue"}]},
        "recovery_slo": {"summary": "Lag under 1k.", "minutes": 30},
    }
    return Runbook.model_validate(base | overrides)


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def _stages(root: ET.Element) -> list[str]:
    return [g.attrib["data-stage"] for g in root.iterfind("svg:g", NS)]


def _texts(root: ET.Element) -> str:
    return " ".join("".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text"))


@pytest.mark.parametrize("runbook_id", ["RB-001", "RB-002", "RB-003"])
def test_every_builtin_runbook_draws_four_stages_in_order(runbook_id: str) -> None:
    root = _parse(svg.runbook_path(load_registry().get(runbook_id).runbook))
    stages = _stages(root)
    assert stages[:4] == ["trigger", "first-response", "escalation", "recovery"]
    assert root.attrib["role"] == "img"
    assert root.find("svg:title", NS) is not None and root.find("svg:desc", NS) is not None


def test_rb001_marks_its_automated_rollback_branch() -> None:
    runbook = load_registry().get("RB-001").runbook
    root = _parse(svg.runbook_path(runbook))
    branch = next(g for g in root.iterfind("svg:g", NS) if g.attrib["data-stage"] == "branch-1")
    assert branch.attrib["class"].split() == ["node", "automatic", "rollback"]
    assert "Automated: rollback" in "".join(branch.itertext())
    first = next(g for g in root.iterfind("svg:g", NS) if g.attrib["data-stage"] == "first-response")
    assert "rollback" in first.attrib["class"].split()  # the step "Rollback to last known healthy release"
    assert "↩ rollback" in "".join(first.itertext())
    dashed = [p for p in root.iterfind("svg:path", NS) if "branch" in p.attrib["class"].split()]
    assert len(dashed) == 2 and all("rollback" in p.attrib["class"] for p in dashed)  # out of and back to the path


def test_a_user_runbook_gets_the_same_picture_with_its_own_words() -> None:
    runbook = _runbook(
        automation=[
            {"summary": "Scale out when lag grows.", "action": "queue.scale_out", "mode": "approval"},
            {"summary": "Report lag.", "action": "queue.report", "schedule_minutes": 5},
        ]
    )
    root = _parse(svg.runbook_path(runbook))
    assert _stages(root) == ["trigger", "first-response", "escalation", "recovery", "branch-1", "branch-2"]
    text = _texts(root)
    for words in (
        "Lag over 10k",
        "Scale consumers.",
        "Escalation (after 10 min)",
        "Pages: team queue",
        "Recovery within 30 min",
        "Automated, needs approval",
        "Manual action",
        "every 5 min",
    ):
        assert words in text
    assert "rollback" not in text


def test_without_automation_there_are_no_branches() -> None:
    root = _parse(svg.runbook_path(_runbook()))
    assert _stages(root) == ["trigger", "first-response", "escalation", "recovery"]
    assert not [p for p in root.iterfind("svg:path", NS) if "branch" in p.attrib["class"]]


def test_runbook_text_is_escaped() -> None:
    markup = svg.runbook_path(_runbook(title="<script>alert(1)</script>", trigger={"summary": 'a & b "<c>"'}))
    assert "<script>" not in markup
    root = _parse(markup)
    assert 'a & b "<c>"' in _texts(root)


def test_boxes_never_overlap_and_long_text_wraps() -> None:
    long = "word " * 80
    runbook = _runbook(first_response={"steps": [{"title": long, "action": "deploy.rollback"}]})
    stages, branches = svg.layout(runbook)
    boxes = sorted(stages + branches, key=lambda b: b.y)
    for upper, lower in itertools.pairwise(boxes):
        assert upper.bottom < lower.y
    assert all(len(line) <= 60 for box in boxes for line in box.lines)
    assert len(stages[1].lines) > 5


def test_the_drawing_is_deterministic() -> None:
    runbook = load_registry().get("RB-003").runbook
    assert svg.runbook_path(runbook) == svg.runbook_path(runbook)


def test_is_rollback_reads_the_action_name() -> None:
    assert svg.is_rollback("deploy.rollback")
    assert not svg.is_rollback("deploy.freeze")
    assert not svg.is_rollback(None)
