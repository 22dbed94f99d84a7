"""The detectors file: which detectors run for which service and runbook, checked with `file:line:column` problems.

Each entry names a service and a runbook and gives either an inline `detector:` or `vars:` that fill in the
runbook's default detectors (`trigger.detectors`). An entry with vars becomes one detector per template, named
`<entry>.<template>`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node

from missionctl.detectors.schemas import AnyDetector, Detector, unknown_key_message
from missionctl.detectors.templates import PLACEHOLDER, VARIABLE_NAME, DetectorTemplate, VarValue
from missionctl.errors import InvalidInput
from missionctl.runbooks.lint import (
    ROOT,
    Loc,
    Problem,
    compose_and_construct,
    locate,
    node_position,
    yaml_error_message,
)
from missionctl.runbooks.loader import RunbookRegistry
from missionctl.runbooks.schemas import RUNBOOK_ID_PATTERN, Runbook, Severity
from missionctl.signals.events import stable_hash

ENTRY_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
ENTRY_NAME_MAX = 34  # `<entry>.<template>` must fit a signal origin (`detector:` + 55 characters)
BUILTIN_VARIABLES = frozenset({"service"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DetectorEntry(_Strict):
    """One entry of the detectors file."""

    name: Annotated[str, Field(pattern=ENTRY_NAME_PATTERN, max_length=ENTRY_NAME_MAX)]
    service: Annotated[str, Field(min_length=1, max_length=100, description="Service id from the catalog")]
    runbook: Annotated[str, Field(pattern=RUNBOOK_ID_PATTERN)]
    severity: Severity | None = Field(default=None, description="Default: the runbook's default severity")
    detector: Detector | None = Field(default=None, description="A detector written out in full")
    vars: dict[Annotated[str, Field(pattern=VARIABLE_NAME.pattern)], VarValue] | None = Field(
        default=None, description="Values for the runbook's default detectors' ${variables}"
    )
    use: list[str] | None = Field(default=None, description="Only these of the runbook's default detectors")

    @model_validator(mode="after")
    def _detector_or_vars(self) -> DetectorEntry:
        if (self.detector is None) == (self.vars is None):
            raise ValueError("give either `detector:` (written out) or `vars:` (for the runbook's default detectors)")
        if self.use is not None and self.vars is None:
            raise ValueError("`use:` picks among the runbook's default detectors, so it goes with `vars:`")
        return self


class DetectorsFile(_Strict):
    detectors: list[DetectorEntry] = Field(default_factory=list)


@dataclass(frozen=True)
class ConfiguredDetector:
    """A detector ready to run: what to evaluate, and the service, runbook and severity its alerts open."""

    name: str
    service: str
    runbook_id: str
    severity: Severity
    detector: AnyDetector

    @property
    def fingerprint(self) -> str:
        """Changes whenever the definition does, so that a changed detector starts afresh."""
        return stable_hash(self.service, self.runbook_id, self.severity, self.detector.model_dump(mode="json"))


def load_detectors(path: Path, runbooks: RunbookRegistry) -> list[ConfiguredDetector]:
    """Read and check a detectors file; raises `InvalidInput` (`detectors_invalid`) listing every problem."""
    detectors, problems = read_detectors(path, runbooks)
    if problems:
        first = problems[0]
        raise InvalidInput(
            f"invalid detectors file: {first}", code="detectors_invalid", details=[str(p) for p in problems]
        )
    return detectors


def read_detectors(path: Path, runbooks: RunbookRegistry) -> tuple[list[ConfiguredDetector], list[Problem]]:
    """The detectors a file defines and every problem in it (the detectors are only complete without problems)."""
    source = str(path)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(source, 1, 1, ROOT, f"cannot read the detectors file: {exc}")]
    return parse_detectors(text, source, runbooks)


def parse_detectors(
    text: str, source: str, runbooks: RunbookRegistry
) -> tuple[list[ConfiguredDetector], list[Problem]]:
    try:
        root, data, problems = compose_and_construct(text, source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        return [], [Problem(source, line, column, ROOT, yaml_error_message(exc))]
    except yaml.YAMLError as exc:
        return [], [Problem(source, 1, 1, ROOT, f"YAML syntax error: {exc}")]
    if root is None or not isinstance(root, MappingNode) or not isinstance(data, dict):
        return [], [Problem(source, 1, 1, ROOT, "a detectors file is a mapping with a `detectors:` list")]
    try:
        parsed = DetectorsFile.model_validate(data)
    except ValidationError as exc:
        problems += [_validation_problem(error, root, source) for error in exc.errors(include_url=False)]
        return [], _sorted(problems)
    at = _Locator(root, source)
    detectors: list[ConfiguredDetector] = []
    for index, entry in enumerate(parsed.detectors):
        found, entry_problems = _resolve(entry, index, runbooks, at)
        detectors += found
        problems += entry_problems
    problems += _duplicate_names(parsed.detectors, at)
    return detectors, _sorted(problems)


def _validation_problem(error: ErrorDetails, root: Node, source: str) -> Problem:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    line, column = node_position(locate(root, loc, at_key=kind in ("extra_forbidden", "unknown_key")))
    if kind == "missing":
        message = "required field is missing"
    elif kind == "extra_forbidden":
        model = DetectorsFile if len(loc) == 1 else DetectorEntry
        message = unknown_key_message(str(loc[-1]), list(model.model_fields))
    else:
        message = error["msg"].removeprefix("Value error, ")
    return Problem(source, line, column, ".".join(str(part) for part in loc) or ROOT, message)


@dataclass(frozen=True)
class _Locator:
    root: Node
    source: str

    def problem(self, loc: Loc, message: str) -> Problem:
        line, column = node_position(locate(self.root, loc))
        return Problem(self.source, line, column, ".".join(str(part) for part in loc), message)


def _resolve(
    entry: DetectorEntry, index: int, runbooks: RunbookRegistry, at: _Locator
) -> tuple[list[ConfiguredDetector], list[Problem]]:
    here: Loc = ("detectors", index)
    loaded = runbooks.entries.get(entry.runbook)
    if loaded is None:
        known = ", ".join(sorted(runbooks.entries))
        return [], [at.problem((*here, "runbook"), f"no runbook {entry.runbook!r} (known: {known})")]
    runbook = loaded.runbook
    if not runbook.applies_to(entry.service):
        message = f"{runbook.id} applies to {', '.join(runbook.services)}, not {entry.service!r}"
        return [], [at.problem((*here, "service"), message)]
    severity = entry.severity or runbook.default_severity
    if entry.detector is not None:
        return [ConfiguredDetector(entry.name, entry.service, runbook.id, severity, entry.detector)], []
    return _from_templates(entry, runbook, severity, here, at)


def _from_templates(
    entry: DetectorEntry, runbook: Runbook, severity: Severity, here: Loc, at: _Locator
) -> tuple[list[ConfiguredDetector], list[Problem]]:
    templates, problems = _chosen_templates(entry, runbook, here, at)
    given = dict(entry.vars or {})
    if "service" in given:
        problems.append(at.problem((*here, "vars", "service"), "${service} is always the entry's `service:`"))
    values: dict[str, VarValue] = {**given, "service": entry.service}
    used = set().union(*(template.variables for template in templates)) | BUILTIN_VARIABLES
    for name in sorted(set(given) - used):
        message = f"unknown variable {name!r}: {_describe_uses(runbook.id, templates)}"
        problems.append(at.problem((*here, "vars", name), message))
    detectors: list[ConfiguredDetector] = []
    for template in templates:
        missing = sorted(template.variables - set(values))
        if missing:
            message = f"{runbook.id} detector {template.name!r} needs variable {missing[0]!r} (${{{missing[0]}}})"
            problems.append(at.problem((*here, "vars"), message))
            continue
        try:
            detector = template.instantiate(values)
        except ValidationError as exc:
            problems += _instance_problems(exc, template, runbook.id, here, at)
            continue
        name = f"{entry.name}.{template.name}"
        detectors.append(ConfiguredDetector(name, entry.service, runbook.id, severity, detector))
    return detectors, problems


def _chosen_templates(
    entry: DetectorEntry, runbook: Runbook, here: Loc, at: _Locator
) -> tuple[list[DetectorTemplate], list[Problem]]:
    templates = list(runbook.trigger.detectors)
    if not templates:
        message = f"{runbook.id} has no default detectors (trigger.detectors); write the detector out in `detector:`"
        return [], [at.problem((*here, "vars"), message)]
    if entry.use is None:
        return templates, []
    by_name = {template.name: template for template in templates}
    problems = [
        at.problem(
            (*here, "use", position), f"{runbook.id} has no default detector {name!r} (it has: {', '.join(by_name)})"
        )
        for position, name in enumerate(entry.use)
        if name not in by_name
    ]
    return [by_name[name] for name in entry.use if name in by_name], problems


def _describe_uses(runbook_id: str, templates: list[DetectorTemplate]) -> str:
    names = sorted(set().union(*(template.variables for template in templates)) - BUILTIN_VARIABLES)
    if not names:
        return f"{runbook_id}'s default detectors take no variables"
    return f"{runbook_id}'s default detectors use {', '.join(names)}"


def _instance_problems(
    exc: ValidationError, template: DetectorTemplate, runbook_id: str, here: Loc, at: _Locator
) -> Iterator[Problem]:
    """Errors in a filled-in template, placed at the variable that filled the field (or at `vars`)."""
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        variable = _whole_variable(template.body.get(field))
        loc = (*here, "vars", variable) if variable is not None else (*here, "vars")
        message = error["msg"].removeprefix("Value error, ")
        yield at.problem(loc, f"{runbook_id} detector {template.name!r}: {field or 'detector'}: {message}")


def _whole_variable(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    match = PLACEHOLDER.fullmatch(value)
    return match.group(1) if match is not None else None


def _duplicate_names(entries: list[DetectorEntry], at: _Locator) -> Iterator[Problem]:
    """Entry names are unique (detector names derive from them: entry names have no dots, so they cannot clash)."""
    first_index: dict[str, int] = {}
    for index, entry in enumerate(entries):
        first = first_index.setdefault(entry.name, index)
        if first != index:
            yield at.problem(
                ("detectors", index, "name"), f"detector name {entry.name!r} is also used by entry {first}"
            )


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda problem: (problem.line, problem.column))
