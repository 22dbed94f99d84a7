"""The runbook model: unknown keys, ids, escalation targets, the content hash and the JSON Schema."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from missionctl.runbooks.schemas import EscalationTarget, Runbook, TargetKind, canonical_json, json_schema

MINIMAL: dict[str, Any] = {
    "id": "RB-100",
    "title": "Cache Stampede",
    "summary": "Hot keys expired together.",
    "trigger": {"summary": "Cache hit ratio drops below 80% for 5 minutes."},
    "first_response": {"steps": [{"title": "Enable request coalescing."}]},
    "escalation": {"summary": "Escalate to the caching team.", "targets": [{"team": "caching"}]},
    "recovery_slo": {"summary": "Hit ratio back above 95% within 30 minutes.", "minutes": 30},
}


def runbook_data(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    data.update(changes)
    return data


def errors_of(data: dict[str, Any]) -> list[tuple[tuple[int | str, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        Runbook.model_validate(data)
    return [(tuple(error["loc"]), error["type"]) for error in caught.value.errors()]


def test_minimal_runbook_is_valid_and_fills_defaults() -> None:
    runbook = Runbook.model_validate(MINIMAL)
    assert runbook.first_response.within_minutes == 5
    assert runbook.stakeholder_updates.every_minutes == 30
    assert runbook.services == ["*"]
    assert runbook.applies_to("anything")


def test_unknown_key_is_rejected_at_the_top() -> None:
    assert errors_of(runbook_data(owner="me")) == [(("owner",), "extra_forbidden")]


def test_unknown_key_is_rejected_deep_inside() -> None:
    data = runbook_data()
    data["first_response"]["steps"][0]["titel"] = "typo"
    assert errors_of(data) == [(("first_response", "steps", 0, "titel"), "extra_forbidden")]


@pytest.mark.parametrize("runbook_id", ["RB-001", "RB-100", "RB-1234"])
def test_id_pattern_accepts(runbook_id: str) -> None:
    assert Runbook.model_validate(runbook_data(id=runbook_id)).id == runbook_id


@pytest.mark.parametrize("runbook_id", ["RB-01", "rb-001", "RB001", "XX-001", "RB-001a", " RB-001", "RB-001\n", ""])
def test_id_pattern_rejects(runbook_id: str) -> None:
    assert errors_of(runbook_data(id=runbook_id)) == [(("id",), "string_pattern_mismatch")]


@pytest.mark.parametrize("kind", list(TargetKind))
def test_escalation_target_with_exactly_one_of_role_team_schedule(kind: TargetKind) -> None:
    target = EscalationTarget.model_validate({kind.value: "someone"})
    assert (target.kind, target.name) == (kind, "someone")


@pytest.mark.parametrize(
    "target",
    [{}, {"label": "only a label"}, {"role": "a", "team": "b"}, {"team": "b", "schedule": "c"}],
    ids=["empty", "label-only", "role+team", "team+schedule"],
)
def test_escalation_target_needs_exactly_one_of_role_team_schedule(target: dict[str, str]) -> None:
    data = runbook_data(escalation={"summary": "Escalate.", "targets": [target]})
    with pytest.raises(ValidationError, match="give exactly one of role, team or schedule"):
        Runbook.model_validate(data)


def test_content_hash_is_a_stable_sha256() -> None:
    first = Runbook.model_validate(MINIMAL).content_hash()
    again = Runbook.model_validate(copy.deepcopy(MINIMAL)).content_hash()
    assert first == again
    assert len(first) == 64
    assert set(first) <= set("0123456789abcdef")


def test_content_hash_covers_defaults_so_spelling_them_out_changes_nothing() -> None:
    data = runbook_data()
    data["first_response"]["within_minutes"] = 5
    assert Runbook.model_validate(data).content_hash() == Runbook.model_validate(MINIMAL).content_hash()


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Cache Stampede!"},
        {"recovery_slo": {"summary": "Hit ratio back above 95% within 30 minutes.", "minutes": 31}},
        {"first_response": {"steps": [{"title": "Enable request coalescing.", "action": "cache.coalesce"}]}},
        {"default_severity": "SEV1"},
    ],
)
def test_content_hash_changes_when_content_changes(change: dict[str, Any]) -> None:
    before = Runbook.model_validate(MINIMAL).content_hash()
    assert Runbook.model_validate(runbook_data(**change)).content_hash() != before


@given(st.permutations(list(MINIMAL)))
def test_content_hash_ignores_key_order(order: list[str]) -> None:
    reordered = {key: copy.deepcopy(MINIMAL[key]) for key in order}
    runbook = Runbook.model_validate(reordered)
    assert runbook.content_hash() == Runbook.model_validate(MINIMAL).content_hash()
    assert canonical_json(runbook) == canonical_json(Runbook.model_validate(MINIMAL))


def test_runbook_is_frozen() -> None:
    runbook = Runbook.model_validate(MINIMAL)
    with pytest.raises(ValidationError):
        runbook.title = "changed"  # type: ignore[misc]


def test_json_schema_describes_the_file_format() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "Mission Control runbook"
    assert schema["properties"]["id"]["pattern"] == r"^RB-\d{3,}$"
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {
        "id",
        "title",
        "summary",
        "trigger",
        "first_response",
        "escalation",
        "recovery_slo",
    }
