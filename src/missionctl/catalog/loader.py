"""Read catalog files (native YAML or Backstage `catalog-info.yaml`) into entries that know where they were."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node

from missionctl.catalog import backstage
from missionctl.catalog.schemas import MODELS, Kind, Service, Spec, Team, entity_key, references

# The runbook linter's YAML plumbing, so positions, duplicate keys and YAML errors read the same.
from missionctl.runbooks.lint import (
    ROOT,
    Loc,
    Problem,
    duplicate_keys,
    folder_files,
    locate,
    node_position,
    yaml_error_message,
)


@dataclass(frozen=True)
class Origin:
    """Where an entity was written: the YAML node its field paths start from, and how they map there."""

    source: str
    node: Node | None = None
    prefix: Loc = ()
    aliases: Mapping[str, Loc] = field(default_factory=dict)  # entity field -> path in the node (Backstage)

    def problem(self, loc: Loc, message: str, *, at_key: bool = False) -> Problem:
        """A problem at the entity's field `loc`, placed at the line and column that field was written at."""
        mapped = (*self.aliases.get(str(loc[0]), (loc[0],)), *loc[1:]) if loc else ()
        full = (*self.prefix, *mapped)
        line, column = node_position(locate(self.node, full, at_key=at_key)) if self.node is not None else (1, 1)
        return Problem(self.source, line, column, ".".join(str(part) for part in full) or ROOT, message)


@dataclass(frozen=True)
class Entry:
    """One valid catalog entity and where it came from."""

    kind: Kind
    spec: Spec
    origin: Origin

    @property
    def key(self) -> str:
        return entity_key(self.spec)


@dataclass
class CatalogDocuments:
    """What a set of catalog files holds: valid entries, every problem, notes, and every id declared."""

    files: list[str] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    memberships: list[tuple[str, str, Origin]] = field(default_factory=list)  # (person, team, where)
    # Ids of entities that failed validation too, so a reference to them is not reported again as unknown.
    declared: dict[Kind, set[str]] = field(default_factory=lambda: {kind: set() for kind in Kind})

    def extend(self, other: CatalogDocuments) -> None:
        self.files += other.files
        self.entries += other.entries
        self.problems += other.problems
        self.notes += other.notes
        self.memberships += other.memberships
        for kind, ids in other.declared.items():
            self.declared[kind] |= ids

    def declare(self, kind: Kind, data: Any) -> None:
        if isinstance(data, dict) and isinstance(data.get("id"), str):
            self.declared[kind].add(data["id"])


def read_paths(paths: Sequence[Path]) -> CatalogDocuments:
    """Read catalog files and folders (their *.yaml / *.yml files); Backstage `memberOf` is applied last."""
    documents = CatalogDocuments()
    for path in _expand(paths, documents):
        documents.extend(read_file(path))
    apply_memberships(documents)
    return documents


def _expand(paths: Sequence[Path], documents: CatalogDocuments) -> Iterator[Path]:
    """Files as given and folders' YAML files, each once; a path that does not exist is a problem."""
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            files = folder_files(path)
        elif path.is_file():
            files = [path]
        else:
            documents.problems.append(Problem(str(path), 1, 1, ROOT, "no such file or folder"))
            files = []
        for item in files:
            if item.resolve() not in seen:
                seen.add(item.resolve())
                yield item


def read_file(path: Path) -> CatalogDocuments:
    """Read one file; unreadable files become a problem, not an exception."""
    source = str(path)
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        return _failed(source, f"file is not valid UTF-8 ({exc.reason} at byte {exc.start})")
    except OSError as exc:
        return _failed(source, f"cannot read file: {exc.strerror or exc}")
    return read_text(text, source)


def read_text(text: str, source: str) -> CatalogDocuments:
    """Parse YAML text safely: a Backstage file if its documents have apiVersion/kind, else a catalog file."""
    try:
        parsed, duplicates = _compose_all(text, source)
    except yaml.YAMLError as exc:
        return _yaml_failure(exc, source)
    if backstage.is_backstage([data for _, data in parsed]):
        result = _read_backstage(parsed, source)
    elif len(parsed) > 1:
        line, column = node_position(parsed[1][0])
        result = _failed(source, "a catalog file holds one YAML document, found another one here", line, column)
    elif not parsed:
        result = _failed(source, "file is empty; expected a mapping with teams, people, services, ...")
    else:
        result = _read_catalog(*parsed[0], source)
    result.files = [source]
    result.problems = sorted([*duplicates, *result.problems], key=lambda p: (p.line, p.column))
    return result


def _compose_all(text: str, source: str) -> tuple[list[tuple[Node, Any]], list[Problem]]:
    """Every non-empty document as (node for positions, plain data), and keys repeated in a mapping."""
    loader = yaml.SafeLoader(text)
    documents: list[tuple[Node, Any]] = []
    duplicates: list[Problem] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover (check_node said there is one)
                break
            duplicates += duplicate_keys(node, source)
            data = loader.construct_document(node)
            if data is not None:
                documents.append((node, data))
    finally:
        loader.dispose()
    return documents, duplicates


def _yaml_failure(exc: yaml.YAMLError, source: str) -> CatalogDocuments:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        return _failed(source, yaml_error_message(exc), line, column)
    return _failed(source, f"YAML syntax error: {exc}")


def _failed(source: str, message: str, line: int = 1, column: int = 1) -> CatalogDocuments:
    return CatalogDocuments(files=[source], problems=[Problem(source, line, column, ROOT, message)])


def _read_catalog(root: Node, data: Any, source: str) -> CatalogDocuments:
    result = CatalogDocuments()
    if not isinstance(root, MappingNode) or not isinstance(data, dict):
        line, column = node_position(root)
        return _failed(source, "a catalog file is a mapping of teams, people, services, ... to lists", line, column)
    sections = {kind.section: kind for kind in Kind}
    origin = Origin(source, root)
    for key, items in data.items():
        kind = sections.get(str(key))
        if kind is None:
            result.problems.append(origin.problem((str(key),), _unknown_key(str(key), list(sections)), at_key=True))
        elif items is None:
            continue  # `people:` with nothing under it
        elif not isinstance(items, list):
            result.problems.append(origin.problem((kind.section,), f"{kind.section} is a list of {kind} entries"))
        else:
            for index, item in enumerate(items):
                validate_entry(result, kind, item, Origin(source, root, (kind.section, index)))
    return result


def _read_backstage(parsed: list[tuple[Node, Any]], source: str) -> CatalogDocuments:
    converted = backstage.convert(parsed, source)
    result = CatalogDocuments(problems=converted.problems, notes=converted.notes)
    for entity in converted.entities:
        if entity.problems:
            result.problems += entity.problems
            result.declare(entity.kind, entity.data)
        else:
            validate_entry(result, entity.kind, entity.data, Origin(source, entity.node, aliases=entity.aliases))
    for joined in converted.memberships:
        result.memberships.append((joined.person, joined.team, Origin(source, joined.node, joined.loc)))
    return result


def apply_memberships(documents: CatalogDocuments) -> None:
    """Add people to the teams their Backstage `memberOf` names; those teams must be in the same load."""
    teams = {e.key: i for i, e in enumerate(documents.entries) if e.kind is Kind.TEAM}
    for person, team_id, origin in documents.memberships:
        index = teams.get(team_id)
        if index is None:
            if team_id not in documents.declared[Kind.TEAM]:
                message = f"unknown group {team_id!r}: memberOf names a Group loaded in the same run"
                documents.problems.append(origin.problem((), message))
            continue
        entry = documents.entries[index]
        team = typing.cast(Team, entry.spec)
        if person not in team.members:
            spec = team.model_copy(update={"members": [*team.members, person]})
            documents.entries[index] = Entry(entry.kind, spec, entry.origin)


def validate_entry(result: CatalogDocuments, kind: Kind, data: Any, origin: Origin) -> None:
    """Validate one entity into `result`: an entry if valid, else one problem per error found."""
    result.declare(kind, data)
    model = MODELS[kind]
    try:
        spec = model.model_validate(data)
    except ValidationError as exc:
        result.problems += [_problem(error, model, origin) for error in exc.errors(include_url=False)]
        return
    result.entries.append(Entry(kind, typing.cast(Spec, spec), origin))


def _problem(error: ErrorDetails, model: type[BaseModel], origin: Origin) -> Problem:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "missing":
        message = "required field is missing"
    elif kind == "extra_forbidden" and loc:
        message = _unknown_key(str(loc[-1]), allowed_keys(model, loc[:-1]))
    else:
        message = error["msg"].removeprefix("Value error, ")
    return origin.problem(loc, message, at_key=kind == "extra_forbidden")


def _unknown_key(key: str, allowed: list[str]) -> str:
    message = f"unknown key {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"{message} (did you mean {close[0]!r}?)"
    return f"{message} (allowed: {', '.join(allowed)})" if allowed else message


def allowed_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys the model found at `loc` inside `model` accepts, or [] where there is no model."""
    annotation: Any = model
    for part in loc:
        annotation = _step_into(_strip_optional(annotation), part)
        if annotation is None:
            return []
    found = _strip_optional(annotation)
    if isinstance(found, type) and issubclass(found, BaseModel):
        return [info.alias or name for name, info in found.model_fields.items()]
    return []


def _step_into(annotation: Any, part: int | str) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = {info.alias or name: info for name, info in annotation.model_fields.items()}
        info = fields.get(str(part))
        return info.annotation if info is not None else None
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and isinstance(part, int):
        return args[0]
    if origin is dict and isinstance(part, str):
        return args[1]
    return None


def _strip_optional(annotation: Any) -> Any:
    """`X | None` → `X`; `Annotated[X, ...]` → `X`."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _strip_optional(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return options[0] if len(options) == 1 else annotation
    return annotation


def every_problem(
    documents: CatalogDocuments,
    known: Mapping[Kind, Collection[str]],
    runbook_ids: Collection[str] | None = None,
) -> list[Problem]:
    """The files' own problems and their reference problems, in file order, then by line and column."""
    problems = [*documents.problems, *check_references(documents.entries, known, runbook_ids)]
    order = {name: index for index, name in enumerate(documents.files)}
    return sorted(problems, key=lambda p: (order.get(p.file, -1), p.line, p.column))


def check_references(
    entries: Sequence[Entry],
    known: Mapping[Kind, Collection[str]],
    runbook_ids: Collection[str] | None = None,
) -> list[Problem]:
    """Duplicate entities, and references to ids neither in `entries` nor in `known` (the stored catalog)."""
    ids = {kind: {*known.get(kind, ()), *(e.key for e in entries if e.kind is kind)} for kind in Kind}
    problems = list(_duplicates(entries))
    for entry in entries:
        for loc, kind, ident in references(entry.spec):
            if ident not in ids[kind]:
                message = _unknown(kind, ident, ids[kind], from_files=entry.origin.node is not None)
                problems.append(entry.origin.problem(loc, message))
        if runbook_ids is not None:
            problems += _unknown_runbooks(entry, runbook_ids)
    return problems


def _duplicates(entries: Sequence[Entry]) -> Iterator[Problem]:
    first: dict[tuple[Kind, str], Problem] = {}
    for entry in entries:
        loc = ("service",) if entry.kind is Kind.SUBSCRIBER else ("id",)
        here = entry.origin.problem(loc, "")
        seen = first.setdefault((entry.kind, entry.key), here)
        if seen is not here:
            where = f"{seen.file}:{seen.line}:{seen.column}"
            yield entry.origin.problem(loc, f"duplicate {entry.kind} {entry.key!r}: also defined at {where}")


def _unknown(kind: str, ident: str, known: Collection[str], *, from_files: bool) -> str:
    message = f"unknown {kind} {ident!r}"
    close = difflib.get_close_matches(ident, sorted(known), n=1)
    nowhere = "not in these files or the catalog" if from_files else "not in the catalog"
    hint = f"did you mean {close[0]!r}?" if close else nowhere
    return f"{message} ({hint})"


def _unknown_runbooks(entry: Entry, runbook_ids: Collection[str]) -> list[Problem]:
    if not isinstance(entry.spec, Service):
        return []
    known = ", ".join(sorted(runbook_ids)) or "none"
    return [
        entry.origin.problem(("runbooks", i), f"unknown runbook {rb!r} (runbooks in force: {known})")
        for i, rb in enumerate(entry.spec.runbooks)
        if rb not in runbook_ids
    ]
