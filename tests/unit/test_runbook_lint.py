"""`lint_paths`: every problem of every runbook file, as file:line:column: field.path: message."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import missionctl.runbooks
from missionctl.runbooks.lint import Problem, lint_paths, lint_report, parse_text

BUILTIN_DIR = Path(missionctl.runbooks.__file__).parent / "builtin"

# A valid runbook; the tests below break it in one or more places. Line numbers on the right.
VALID = """\
id: RB-100
title: Cache Stampede
summary: Hot keys expired together and the database takes the load.
trigger:
  summary: Cache hit ratio drops below 80% for 5 minutes.
first_response:
  steps:
    - title: Enable request coalescing.
      action: cache.coalesce
    - title: Warm the hottest keys.
escalation:
  summary: Escalate to the caching team.
  targets:
    - team: caching
recovery_slo:
  summary: Hit ratio back above 95% within 30 minutes.
  minutes: 30
"""
#   1 id / 2 title / 3 summary / 4 trigger / 5 trigger.summary / 6 first_response / 7 steps
#   8 steps.0.title / 9 steps.0.action / 10 steps.1.title / 11 escalation / 12 escalation.summary
#  13 targets / 14 targets.0.team / 15 recovery_slo / 16 recovery_slo.summary / 17 recovery_slo.minutes


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def replace(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def lines(problems: list[Problem]) -> list[str]:
    return [str(problem) for problem in problems]


def test_problem_str_is_file_line_column_path_message() -> None:
    problem = Problem("rb/a.yaml", 3, 7, "first_response.steps.1.title", "Input should be a valid string")
    assert str(problem) == "rb/a.yaml:3:7: first_response.steps.1.title: Input should be a valid string"
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.line = 4  # type: ignore[misc]


def test_a_valid_file_has_no_problems(tmp_path: Path) -> None:
    assert lint_paths([write(tmp_path, "RB-100.yaml", VALID)]) == []


def test_builtin_runbooks_lint_clean() -> None:
    report = lint_report([BUILTIN_DIR])
    assert report.problems == ()
    assert [Path(name).name for name in report.files] == ["RB-001.yaml", "RB-002.yaml", "RB-003.yaml"]


def test_unknown_key_is_reported_at_the_key(tmp_path: Path) -> None:
    text = replace(VALID, "  summary: Cache hit", "  sumary: typo\n  summary: Cache hit")
    path = write(tmp_path, "a.yaml", text)
    assert lines(lint_paths([path])) == [f"{path}:5:3: trigger.sumary: unknown key 'sumary' (did you mean 'summary'?)"]


def test_unknown_key_without_a_close_match_lists_the_allowed_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", VALID + "owner: me\n")
    (problem,) = lint_paths([path])
    assert str(problem).startswith(f"{path}:18:1: owner: unknown key 'owner' (allowed: id, title, summary, ")


def test_missing_field_is_reported_at_the_mapping_that_lacks_it(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", replace(VALID, "  minutes: 30\n", ""))
    assert lines(lint_paths([path])) == [f"{path}:16:3: recovery_slo.minutes: required field is missing"]


def test_missing_top_level_section_is_reported_at_the_document(tmp_path: Path) -> None:
    text = replace(VALID, "trigger:\n  summary: Cache hit ratio drops below 80% for 5 minutes.\n", "")
    path = write(tmp_path, "a.yaml", text)
    assert lines(lint_paths([path])) == [f"{path}:1:1: trigger: required field is missing"]


def test_wrong_type_deep_in_a_step_is_reported_at_the_value(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", replace(VALID, "title: Warm the hottest keys.", "title: [warm, keys]"))
    assert lines(lint_paths([path])) == [f"{path}:10:14: first_response.steps.1.title: Input should be a valid string"]


def test_bad_action_name_in_a_step(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", replace(VALID, "action: cache.coalesce", "action: Cache Coalesce"))
    (problem,) = lint_paths([path])
    assert str(problem).startswith(f"{path}:9:15: first_response.steps.0.action: String should match pattern ")


def test_escalation_target_with_two_kinds_is_reported_at_the_target(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", replace(VALID, "    - team: caching\n", "    - team: caching\n      role: x\n"))
    assert lines(lint_paths([path])) == [
        f"{path}:14:7: escalation.targets.0: give exactly one of role, team or schedule"
    ]


def test_duplicate_key_is_reported_at_the_repeat(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", VALID + "title: Cache Stampede Again\n")
    assert lines(lint_paths([path])) == [f"{path}:18:1: title: duplicate key 'title' (first given at line 2, column 1)"]


def test_duplicate_key_in_a_nested_flow_mapping(tmp_path: Path) -> None:
    text = replace(VALID, "    - team: caching\n", "    - {team: caching, team: storage}\n")
    path = write(tmp_path, "a.yaml", text)
    assert lines(lint_paths([path])) == [
        f"{path}:14:23: escalation.targets.0.team: duplicate key 'team' (first given at line 14, column 8)"
    ]


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    text = replace(VALID, "trigger:\n  summary:", "trigger: &t\n  summary:")
    text = replace(text, "recovery_slo:\n", "recovery_slo:\n  <<: {summary: x, minutes: 1}\n")
    assert lint_paths([write(tmp_path, "a.yaml", text)]) == []


def test_yaml_syntax_error_uses_the_pyyaml_mark(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", replace(VALID, "summary: Hot keys expired", "summary: Hot keys: expired"))
    assert lines(lint_paths([path])) == [f"{path}:3:18: (root): YAML syntax error: mapping values are not allowed here"]


def test_unclosed_flow_sequence_names_where_it_started(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "id: RB-100\ntitle: [unclosed\n")
    (problem,) = lint_paths([path])
    assert str(problem) == (
        f"{path}:3:1: (root): YAML syntax error: expected ',' or ']', but got '<stream end>'"
        " (while parsing a flow sequence at line 2, column 8)"
    )


def test_tab_indentation_is_a_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "id: RB-100\ntrigger:\n\tsummary: x\n")
    assert lines(lint_paths([path])) == [
        f"{path}:3:1: (root): YAML syntax error: found character '\\t' that cannot start any token"
    ]


def test_control_character_is_a_syntax_error_at_its_position(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "id: RB-100\ntitle: a\x01b\n")
    assert lines(lint_paths([path])) == [
        f"{path}:2:9: (root): YAML syntax error: character #x0001: special characters are not allowed"
    ]


def test_two_documents_in_one_file(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", VALID + "---\n" + VALID)
    assert lines(lint_paths([path])) == [
        f"{path}:18:1: (root): YAML syntax error: a runbook file holds one YAML document, found another one here"
    ]


def test_python_tags_are_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"!!python/object/apply:pathlib.Path.touch [{str(marker)!r}]\n"
    path = write(tmp_path, "a.yaml", text)
    (problem,) = lint_paths([path])
    assert str(problem).startswith(f"{path}:1:1: (root): YAML error: could not determine a constructor for the tag")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "1:1: (root): file is empty; expected a runbook mapping"),
        ("# only a comment\n", "1:1: (root): file is empty; expected a runbook mapping"),
        ("---\n", "1:1: (root): file is empty; expected a runbook mapping"),
        ("null\n", "1:1: (root): file is empty; expected a runbook mapping"),
        ("- id: RB-100\n", "1:1: (root): a runbook must be a mapping of keys to values, not a list"),
        (
            "# comment\nRB-100\n",
            "2:1: (root): a runbook must be a mapping of keys to values, not a single value",
        ),
    ],
    ids=["empty", "comment-only", "empty-document", "null", "list", "scalar"],
)
def test_documents_that_are_not_a_runbook_mapping(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, "a.yaml", text)
    assert lines(lint_paths([path])) == [f"{path}:{expected}"]


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_bytes(b"id: RB-100\ntitle: caf\xe9\n")
    (problem,) = lint_paths([path])
    assert str(problem).startswith(f"{path}:1:1: (root): file is not valid UTF-8")


def test_every_problem_of_a_file_is_reported_in_line_order(tmp_path: Path) -> None:
    text = replace(VALID, "  summary: Cache hit", "  sumary: typo\n  summary: Cache hit")  # line 5
    text = replace(text, "title: Warm the hottest keys.", "title: 42")  # line 11
    text = replace(text, "  minutes: 30\n", "")  # recovery_slo at line 17
    text = replace(text, "id: RB-100\n", "id: RB-1\n")  # line 1
    text += "escalation: {summary: again, targets: [{team: x}]}\n"  # line 18
    path = write(tmp_path, "a.yaml", text)
    assert lines(lint_paths([path])) == [
        f"{path}:1:5: id: String should match pattern '^RB-\\d{{3,}}$'",
        f"{path}:5:3: trigger.sumary: unknown key 'sumary' (did you mean 'summary'?)",
        f"{path}:11:14: first_response.steps.1.title: Input should be a valid string",
        f"{path}:17:3: recovery_slo.minutes: required field is missing",
        f"{path}:18:1: escalation: duplicate key 'escalation' (first given at line 12, column 1)",
    ]


def test_duplicate_id_across_files_is_reported_at_each_later_file(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", VALID)
    second = write(tmp_path, "b.yml", VALID)
    third = write(tmp_path, "c.yaml", "# the same id again\n" + VALID)
    assert lines(lint_paths([tmp_path])) == [
        f"{second}:1:5: id: duplicate runbook id 'RB-100': also defined in {first}",
        f"{third}:2:5: id: duplicate runbook id 'RB-100': also defined in {first}",
    ]


def test_duplicate_id_is_reported_even_when_the_file_has_other_problems(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", VALID)
    second = write(tmp_path, "b.yaml", replace(VALID, "  minutes: 30\n", ""))
    assert lines(lint_paths([first, second])) == [
        f"{second}:1:5: id: duplicate runbook id 'RB-100': also defined in {first}",
        f"{second}:16:3: recovery_slo.minutes: required field is missing",
    ]


def test_same_file_given_twice_is_linted_once(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", VALID)
    report = lint_report([path, tmp_path])
    assert report.files == (str(path),)
    assert report.problems == ()


def test_folders_are_expanded_to_sorted_yaml_and_yml_files(tmp_path: Path) -> None:
    write(tmp_path, "b.yml", replace(VALID, "RB-100", "RB-102"))
    write(tmp_path, "a.yaml", replace(VALID, "RB-100", "RB-101"))
    write(tmp_path, "notes.txt", "not a runbook")
    write(tmp_path, ".hidden.yaml", "not: [a runbook")
    (tmp_path / "sub.yaml").mkdir()
    write(tmp_path / "sub.yaml", "c.yaml", "nested folders are not searched")
    report = lint_report([tmp_path])
    assert report.files == (str(tmp_path / "a.yaml"), str(tmp_path / "b.yml"))
    assert report.ok


def test_missing_path_is_a_problem(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert lines(lint_paths([missing])) == [f"{missing}:1:1: (root): no such file or folder"]


def test_problems_across_several_files_come_in_file_order(tmp_path: Path) -> None:
    write(tmp_path, "b.yaml", "")
    write(tmp_path, "a.yaml", "- x\n")
    assert [Path(problem.file).name for problem in lint_paths([tmp_path])] == ["a.yaml", "b.yaml"]


texts = st.text(min_size=1, max_size=40)


@settings(max_examples=50)
@given(title=texts, step=texts, detail=st.none() | texts)
def test_any_valid_runbook_dumped_as_yaml_parses_back_unchanged(title: str, step: str, detail: str | None) -> None:
    data = yaml.safe_load(VALID)
    data["title"] = title
    data["first_response"]["steps"][1] = {"title": step, "detail": detail}
    parsed = parse_text(yaml.safe_dump(data, sort_keys=False), "generated.yaml")
    assert parsed.problems == ()
    assert parsed.runbook is not None
    assert parsed.runbook.title == title
    assert parsed.runbook.first_response.steps[1].title == step
    assert parsed.runbook.first_response.steps[1].detail == detail
