"""Check runbook files and report every problem as `file:line:column: field.path: message`."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from missionctl.runbooks.schemas import Runbook

ROOT = "(root)"
RUNBOOK_SUFFIXES = (".yaml", ".yml")

Loc = tuple[int | str, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a runbook file, at a 1-based line and column."""

    file: str
    line: int
    column: int
    field_path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.field_path}: {self.message}"


@dataclass(frozen=True)
class ParsedFile:
    """The outcome of parsing one runbook file: the runbook if it is valid, and its problems."""

    source: str
    runbook: Runbook | None
    problems: tuple[Problem, ...]
    declared_id: str | None = None  # the `id` the file declares, even when something else is wrong
    id_line: int = 1
    id_column: int = 1


@dataclass(frozen=True)
class LintReport:
    """What `lint` looked at and what it found."""

    files: tuple[str, ...]
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def lint_paths(paths: Sequence[Path]) -> list[Problem]:
    """Every problem in the runbook files and folders given (folders: their *.yaml and *.yml files)."""
    return list(lint_report(paths).problems)


def lint_report(paths: Sequence[Path]) -> LintReport:
    """Lint files and folders, also reporting runbook ids declared by more than one file."""
    files, problems = find_runbook_files(paths)
    parsed = [parse_file(path) for path in files]
    problems.extend(check_parsed(parsed))
    return LintReport(tuple(str(path) for path in files), tuple(problems))


def find_runbook_files(paths: Sequence[Path]) -> tuple[list[Path], list[Problem]]:
    """Expand folders to their runbook files (sorted, hidden files skipped); report paths that don't exist."""
    files: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            files.extend(folder_files(path))
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem(str(path), 1, 1, ROOT, "no such file or folder"))
    return _unique(files), problems


def folder_files(folder: Path) -> list[Path]:
    """The runbook files directly inside a folder, sorted by name."""
    found = [
        item
        for item in folder.iterdir()
        if item.suffix in RUNBOOK_SUFFIXES and not item.name.startswith(".") and item.is_file()
    ]
    return sorted(found)


def _unique(files: list[Path]) -> list[Path]:
    seen: set[Path] = set()
    unique: list[Path] = []
    for path in files:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def check_parsed(parsed: Sequence[ParsedFile]) -> list[Problem]:
    """Each file's problems in order; an id declared by an earlier file is reported at the later one."""
    first_by_id: dict[str, str] = {}
    problems: list[Problem] = []
    for item in parsed:
        found = list(item.problems)
        if item.declared_id is not None:
            other = first_by_id.setdefault(item.declared_id, item.source)
            if other != item.source:
                message = f"duplicate runbook id {item.declared_id!r}: also defined in {other}"
                found.append(Problem(item.source, item.id_line, item.id_column, "id", message))
        problems.extend(_by_position(found))
    return problems


def _by_position(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda problem: (problem.line, problem.column))


def parse_file(path: Path) -> ParsedFile:
    """Read and parse one runbook file; unreadable files become a problem, not an exception."""
    source = str(path)
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        return _failed(source, 1, 1, f"file is not valid UTF-8 ({exc.reason} at byte {exc.start})")
    except OSError as exc:
        return _failed(source, 1, 1, f"cannot read file: {exc.strerror or exc}")
    return parse_text(text, source)


def parse_text(text: str, source: str) -> ParsedFile:
    """Parse YAML text safely and validate it as a runbook, collecting every problem found."""
    try:
        root, data, duplicates = compose_and_construct(text, source)
    except yaml.YAMLError as exc:
        return _yaml_failure(exc, text, source)
    if root is None or data is None:
        return _failed(source, 1, 1, "file is empty; expected a runbook mapping")
    if not isinstance(root, MappingNode) or not isinstance(data, dict):
        line, column = node_position(root)
        message = f"a runbook must be a mapping of keys to values, not {_kind(root)}"
        return _failed(source, line, column, message)
    return _validate(data, root, source, duplicates)


def compose_and_construct(text: str, source: str) -> tuple[Node | None, Any, list[Problem]]:
    """The node tree (kept for line numbers), its duplicate keys, and the plain data (safe loader only).

    Duplicate keys are looked for before construction, which rewrites `<<` merge keys in place.
    """
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None, []
        duplicates = list(duplicate_keys(root, source))
        return root, loader.construct_document(root), duplicates
    finally:
        loader.dispose()


def _validate(data: dict[Any, Any], root: Node, source: str, duplicates: list[Problem]) -> ParsedFile:
    declared = data.get("id")
    declared_id = declared if isinstance(declared, str) else None
    id_line, id_column = node_position(locate(root, ("id",)))
    problems = list(duplicates)
    runbook: Runbook | None = None
    try:
        runbook = Runbook.model_validate(data)
    except ValidationError as exc:
        problems.extend(_validation_problem(error, root, source) for error in exc.errors(include_url=False))
    if runbook is not None:
        from missionctl.actions.lint import automation_param_problems  # late: actions import the runbook format

        problems.extend(automation_param_problems(runbook, root, source))
    if problems:
        runbook = None
    return ParsedFile(source, runbook, tuple(_by_position(problems)), declared_id, id_line, id_column)


def _failed(source: str, line: int, column: int, message: str) -> ParsedFile:
    return ParsedFile(source, None, (Problem(source, line, column, ROOT, message),))


def _yaml_failure(exc: yaml.YAMLError, text: str, source: str) -> ParsedFile:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        return _failed(source, line, column, yaml_error_message(exc))
    if isinstance(exc, yaml.reader.ReaderError):
        before = text[: int(exc.position)]
        line, column = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
        message = f"YAML syntax error: character #x{exc.character:04x}: {exc.reason}"
        return _failed(source, line, column, message)
    return _failed(source, 1, 1, f"YAML syntax error: {exc}")  # pragma: no cover


def yaml_error_message(exc: yaml.MarkedYAMLError) -> str:
    """One line for a YAML error: syntax or construction, what went wrong, and where its context began."""
    kind = "YAML error" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax error"
    if exc.context == "expected a single document in the stream":
        return f"{kind}: a runbook file holds one YAML document, found another one here"
    message = exc.problem or exc.context or "invalid YAML"
    context = exc.context_mark
    if exc.context and exc.problem and context is not None:
        message += f" ({exc.context} at line {context.line + 1}, column {context.column + 1})"
    return f"{kind}: {message}"


def duplicate_keys(root: Node, source: str) -> Iterator[Problem]:
    """Keys given twice in one mapping (PyYAML would silently keep the last), reported at the repeat."""
    seen_nodes: set[int] = set()
    stack: list[tuple[Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in seen_nodes:
            continue  # an alias to a node already checked
        seen_nodes.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend((item, _join(path, index)) for index, item in reversed(list(enumerate(node.value))))
        elif isinstance(node, MappingNode):
            yield from _mapping_duplicates(node, path, source)
            stack.extend((value, _join(path, _key_text(key))) for key, value in reversed(node.value))


def _mapping_duplicates(node: MappingNode, path: str, source: str) -> Iterator[Problem]:
    first_at: dict[tuple[str, str], tuple[int, int]] = {}
    for key, _value in node.value:
        if not isinstance(key, ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        name = _key_text(key)
        line, column = node_position(key)
        identity = (key.tag, name)
        if identity in first_at:
            first_line, first_column = first_at[identity]
            message = f"duplicate key {name!r} (first given at line {first_line}, column {first_column})"
            yield Problem(source, line, column, _join(path, name), message)
        else:
            first_at[identity] = (line, column)


def _validation_problem(error: ErrorDetails, root: Node, source: str) -> Problem:
    loc: Loc = tuple(error["loc"])
    node = locate(root, loc, at_key=error["type"] in ("extra_forbidden", "unknown_key"))
    line, column = node_position(node)
    field_path = ".".join(str(part) for part in loc) or ROOT
    return Problem(source, line, column, field_path, _message(error, loc))


def _message(error: ErrorDetails, loc: Loc) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden" and loc:
        return _unknown_key_message(str(loc[-1]), allowed_keys(loc[:-1]))
    return error["msg"].removeprefix("Value error, ")


def _unknown_key_message(key: str, allowed: list[str]) -> str:
    message = f"unknown key {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"{message} (did you mean {close[0]!r}?)"
    if allowed:
        return f"{message} (allowed: {', '.join(allowed)})"
    return message


def locate(root: Node, loc: Loc, *, at_key: bool = False) -> Node:
    """The deepest YAML node a pydantic `loc` reaches: a missing field stops at the mapping that lacks it.

    With `at_key`, the last step points at the mapping key rather than its value (for unknown keys).
    """
    node = root
    key_node: Node | None = None
    for index, part in enumerate(loc):
        if part == "[key]" and key_node is not None:
            return key_node  # a dict key of the wrong type
        if isinstance(node, MappingNode):
            pair = _find_key(node, part)
            if pair is None:
                return node
            key_node, value = pair
            if at_key and index == len(loc) - 1:
                return key_node
            node = value
        elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            key_node, node = None, node.value[part]
        else:
            return node
    return node


def _find_key(node: MappingNode, part: int | str) -> tuple[Node, Node] | None:
    matches = [(key, value) for key, value in node.value if _key_text(key) == str(part)]
    return matches[-1] if matches else None  # PyYAML keeps the last of duplicate keys


def allowed_keys(loc: Loc) -> list[str]:
    """The field names of the model found at `loc` inside a runbook, or [] if it is not a model."""
    annotation: Any = Runbook
    for part in loc:
        annotation = _step_into(_strip_optional(annotation), part)
        if annotation is None:
            return []
    model = _strip_optional(annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _step_into(annotation: Any, part: int | str) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(part, str):
        field = annotation.model_fields.get(part)
        return field.annotation if field is not None else None
    if typing.get_origin(annotation) is list and isinstance(part, int):
        return typing.get_args(annotation)[0]
    return None


def _strip_optional(annotation: Any) -> Any:
    """Strip `X | None` to `X`."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return options[0] if len(options) == 1 else annotation
    return annotation


def _key_text(node: Node) -> str:
    return str(node.value) if isinstance(node, ScalarNode) else f"<{_kind(node)}>"


def _join(path: str, part: int | str) -> str:
    return f"{path}.{part}" if path else str(part)


def node_position(node: Node) -> tuple[int, int]:
    """Where a YAML node starts: (line, column), counted from 1."""
    mark = node.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _kind(node: Node) -> str:
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, MappingNode):
        return "a mapping"
    return "a single value"
