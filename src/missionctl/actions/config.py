"""Read the actions file (`MISSIONCTL_ACTIONS_FILE`) and report every problem as `file:line:column`.

Beyond the format, the file is checked for what would fail at run time: placeholders that name unknown
variables, parameters or secrets; commands whose executable is not in `commands:`; a builtin entry naming
no built-in action; the same action configured twice for one service.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node

from missionctl.actions import templates
from missionctl.actions.builtin import VARIABLES, load_builtins
from missionctl.actions.rules import Kind
from missionctl.actions.schemas import ActionEntry, ActionsFile, SecretSource
from missionctl.detectors.schemas import unknown_key_message
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

# Template variables every action has; `params` holds its parameters, VARIABLES adds more roots.
INCIDENT_FIELDS = frozenset({"id", "title", "severity", "status", "runbook_id"})
BASE_ROOTS = frozenset({"service", "action", "incident", "params", "triggered_by"})


@dataclass(frozen=True)
class LoadedActions:
    source: str
    file: ActionsFile


def read_actions(path: Path) -> tuple[LoadedActions | None, list[Problem]]:
    """The actions file and every problem in it (the file is None whenever there are problems)."""
    source = str(path)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(source, 1, 1, ROOT, f"cannot read the actions file: {exc}")]
    return parse_actions(text, source)


def load_actions(path: Path) -> LoadedActions:
    """Read and check an actions file; raises `InvalidInput` (`actions_invalid`) listing every problem."""
    loaded, problems = read_actions(path)
    if problems or loaded is None:
        first = problems[0] if problems else "empty"
        raise InvalidInput(f"invalid actions file: {first}", code="actions_invalid", details=[str(p) for p in problems])
    return loaded


def parse_actions(text: str, source: str) -> tuple[LoadedActions | None, list[Problem]]:
    try:
        root, data, problems = compose_and_construct(text, source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        return None, [Problem(source, line, column, ROOT, yaml_error_message(exc))]
    except yaml.YAMLError as exc:
        return None, [Problem(source, 1, 1, ROOT, f"YAML syntax error: {exc}")]
    if root is None or data is None:
        return LoadedActions(source, ActionsFile()), problems
    if not isinstance(root, MappingNode) or not isinstance(data, dict):
        return None, [Problem(source, 1, 1, ROOT, "an actions file is a mapping (secrets, commands, actions)")]
    try:
        parsed = ActionsFile.model_validate(data)
    except ValidationError as exc:
        problems += [_validation_problem(error, root, source) for error in exc.errors(include_url=False)]
        return None, _sorted(problems)
    at = Locator(root, source)
    problems += semantic_problems(parsed, at)
    return (None if problems else LoadedActions(source, parsed)), _sorted(problems)


def _validation_problem(error: ErrorDetails, root: Node, source: str) -> Problem:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    line, column = node_position(locate(root, loc, at_key=kind == "extra_forbidden"))
    if kind == "missing":
        message = "required field is missing"
    elif kind == "extra_forbidden":
        message = unknown_key_message(str(loc[-1]), _allowed(loc[:-1]))
    else:
        message = error["msg"].removeprefix("Value error, ")
    return Problem(source, line, column, ".".join(str(part) for part in loc) or ROOT, message)


def _allowed(loc: Loc) -> list[str]:
    from missionctl.actions.schemas import BreakerSpec, CommandSpec, HttpSpec, ParamSpec

    if len(loc) <= 1:
        return list(ActionsFile.model_fields) if not loc else []
    by_key: dict[str, type[BaseModel]] = {
        "http": HttpSpec,
        "command": CommandSpec,
        "breaker": BreakerSpec,
        "secrets": SecretSource,
        "params": ParamSpec,
    }
    last = next((str(part) for part in reversed(loc) if str(part) in by_key), None)
    if loc[0] == "actions" and len(loc) == 2:
        return list(ActionEntry.model_fields)
    if last is not None:
        fields = by_key[last].model_fields
        return [info.alias or name for name, info in fields.items()]
    return list(BreakerSpec.model_fields) if loc[0] == "breaker" else []


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda problem: (problem.line, problem.column))


@dataclass(frozen=True)
class Locator:
    root: Node
    source: str

    def problem(self, loc: Loc, message: str) -> Problem:
        line, column = node_position(locate(self.root, loc))
        return Problem(self.source, line, column, ".".join(str(part) for part in loc) or ROOT, message)


def semantic_problems(parsed: ActionsFile, at: Locator) -> list[Problem]:
    """What the format cannot say: references, allowlists, built-in names, duplicates."""
    builtins = load_builtins()
    problems: list[Problem] = []
    seen: dict[tuple[str, str | None], int] = {}
    for index, entry in enumerate(parsed.actions):
        here: Loc = ("actions", index)
        key = (entry.name, entry.service)
        if key in seen:
            for_what = f"service {entry.service!r}" if entry.service else "every service"
            message = f"{entry.name} is already configured for {for_what} (entry {seen[key] + 1})"
            problems.append(at.problem((*here, "name"), message))
        seen.setdefault(key, index)
        if entry.resolved_kind is Kind.BUILTIN and entry.name not in builtins:
            known = ", ".join(sorted(builtins)) or "none are installed"
            message = f"no built-in action {entry.name!r} (built-ins: {known}); give an http or command block"
            problems.append(at.problem((*here, "name"), message))
        problems += entry_problems(entry, parsed, here, at)
    return problems


def entry_problems(entry: ActionEntry, parsed: ActionsFile, here: Loc, at: Locator) -> Iterator[Problem]:
    """Placeholders of one entry name known variables, declared params and configured secrets."""
    for loc, value in _template_fields(entry):
        try:
            refs = templates.references(value)
        except templates.TemplateError as exc:
            yield at.problem((*here, *loc), str(exc))
            continue
        for name in sorted(refs.secrets - set(parsed.secrets)):
            yield at.problem((*here, *loc), f"secret {name!r} is not declared under `secrets:`")
        for name in sorted(refs.variables):
            message = unknown_variable(name, entry)
            if message is not None:
                yield at.problem((*here, *loc), message)
    for position, param in entry.params.items():
        if param.pattern is not None:
            try:
                re.compile(param.pattern)
            except re.error as exc:
                yield at.problem((*here, "params", position, "pattern"), f"not a regular expression ({exc})")
    if entry.command is not None:
        yield from _command_problems(entry, parsed, here, at)


def _template_fields(entry: ActionEntry) -> Iterator[tuple[Loc, Any]]:
    if entry.concurrency_key is not None:
        yield ("concurrency_key",), entry.concurrency_key
    if entry.http is not None:
        yield ("http", "url"), entry.http.url
        for name, value in entry.http.headers.items():
            yield ("http", "headers", name), value
        if entry.http.body is not None:
            yield ("http", "body"), entry.http.body
        if entry.http.json_body is not None:
            yield ("http", "json"), entry.http.json_body
    if entry.command is not None:
        for position, arg in enumerate(entry.command.argv):
            yield ("command", "argv", position), arg


def unknown_variable(name: str, entry: ActionEntry) -> str | None:
    """Why a placeholder's variable is unknown for this entry, or None if it is known."""
    root, _, rest = name.partition(".")
    if root not in BASE_ROOTS and root not in VARIABLES:
        known = ", ".join(sorted(BASE_ROOTS | set(VARIABLES)))
        return f"unknown variable ${{{name}}} (known: {known})"
    if root == "params" and rest.split(".")[0] not in entry.params:
        declared = ", ".join(sorted(entry.params)) or "none declared"
        return f"unknown parameter ${{{name}}} (params: {declared})"
    if root == "incident" and rest not in INCIDENT_FIELDS:
        return f"unknown variable ${{{name}}} (incident has: {', '.join(sorted(INCIDENT_FIELDS))})"
    if root in ("service", "action", "triggered_by") and rest:
        return f"unknown variable ${{{name}}} (${{{root}}} is text)"
    return None


def _command_problems(entry: ActionEntry, parsed: ActionsFile, here: Loc, at: Locator) -> Iterator[Problem]:
    assert entry.command is not None
    program = entry.command.argv[0]
    if "${" in program:
        yield at.problem((*here, "command", "argv", 0), "the executable (argv[0]) must be written out, not templated")
    elif program not in parsed.commands:
        message = f"command {program!r} is not allowed: add it to `commands:` to let it run"
        yield at.problem((*here, "command", "argv", 0), message)
    for env_name, secret in entry.command.secret_env.items():
        if secret not in parsed.secrets:
            yield at.problem((*here, "command", "secret_env", env_name), f"secret {secret!r} is not declared")


def read_secret(source: SecretSource, environ: Mapping[str, str] | None = None) -> str:
    """A secret's value, read now (never cached, never logged); KeyError if it is not there."""
    if source.env is not None:
        value = (os.environ if environ is None else environ).get(source.env)
        if value is None:
            raise KeyError(source.env)
        return value
    assert source.file is not None
    try:
        return source.file.read_text("utf-8").rstrip("\n")
    except OSError:
        raise KeyError(str(source.file)) from None
