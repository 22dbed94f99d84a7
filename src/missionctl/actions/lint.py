"""Check runbooks against the actions in force: parameters fit the action's model, every action can run.

`runbook lint` calls `automation_param_problems` (built-ins only: the actions file is not at hand there);
`missionctl actions check` calls `runbook_problems` with the actions file as well.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import ValidationError
from yaml.nodes import Node

from missionctl.actions.builtin import load_builtins
from missionctl.actions.catalog import ActionCatalog, ActionSpec
from missionctl.runbooks.lint import Loc, Problem, locate, node_position
from missionctl.runbooks.loader import RunbookRegistry
from missionctl.runbooks.schemas import Runbook


def automation_param_problems(runbook: Runbook, root: Node, source: str) -> list[Problem]:
    """Automation `params:` of built-in actions that their params model refuses, at the line of the field."""
    builtins = load_builtins()
    problems: list[Problem] = []
    for index, entry in enumerate(runbook.automation):
        action = builtins.get(entry.action)
        if action is None:
            continue  # resolved from the actions file at run time; `missionctl actions check` looks there
        try:
            action.params.model_validate(entry.params)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                loc: Loc = ("automation", index, "params", *error["loc"])
                line, column = node_position(locate(root, loc, at_key=error["type"] == "extra_forbidden"))
                message = f"{entry.action}: {error['msg'].removeprefix('Value error, ')}"
                problems.append(Problem(source, line, column, ".".join(str(p) for p in loc), message))
    return problems


def runbook_problems(actions: ActionCatalog, runbooks: RunbookRegistry, source: str) -> list[Problem]:
    """Every runbook action that is neither built in nor configured, and automation params its model refuses."""
    problems: list[Problem] = []
    for loaded in runbooks.all():
        for path, name, params in _actions_of(loaded.runbook):
            field = f"{loaded.runbook.id}.{path}"
            spec = actions.resolve(name, None) or _any_service(actions, name)
            if spec is None:
                message = f"{name} is neither a built-in action nor in the actions file (runbook from {loaded.source})"
                problems.append(Problem(source, 1, 1, field, message))
                continue
            problems += _params_problems(spec, params, source, field)
    return problems


def _actions_of(runbook: Runbook) -> Iterator[tuple[str, str, dict[str, object] | None]]:
    for position, step in enumerate(runbook.first_response.steps):
        if step.action is not None:
            yield f"first_response.steps.{position}.action", step.action, None
    for index, entry in enumerate(runbook.automation):
        yield f"automation.{index}", entry.action, dict(entry.params)


def _any_service(actions: ActionCatalog, name: str) -> ActionSpec | None:
    services = [entry.service for entry in actions.file.actions if entry.name == name]
    return actions.resolve(name, services[0]) if services else None


def _params_problems(spec: ActionSpec, params: dict[str, object] | None, source: str, field: str) -> list[Problem]:
    if params is None:
        return []  # a step's button asks for parameters when pressed
    try:
        spec.params.model_validate(params)
    except ValidationError as exc:
        return [
            Problem(source, 1, 1, f"{field}.params", f"{spec.name}: {error['msg']} ({_loc(error['loc'])})")
            for error in exc.errors(include_url=False)
        ]
    return []


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "params"
