"""Load runbooks: the built-in ones shipped in the package, then user folders that may override them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from missionctl.errors import InvalidInput, NotFound
from missionctl.runbooks.lint import (
    ParsedFile,
    Problem,
    check_parsed,
    find_runbook_files,
    parse_file,
    parse_text,
)
from missionctl.runbooks.schemas import Runbook

BUILTIN_SOURCE = "builtin"


@dataclass(frozen=True)
class LoadedRunbook:
    runbook: Runbook
    source: str  # "builtin" or the file path it came from
    content_hash: str


@dataclass
class RunbookRegistry:
    """The runbooks in force, by id."""

    entries: dict[str, LoadedRunbook] = field(default_factory=dict)

    def get(self, runbook_id: str) -> LoadedRunbook:
        try:
            return self.entries[runbook_id]
        except KeyError:
            raise NotFound(f"no runbook with id {runbook_id!r}", code="runbook_not_found") from None

    def all(self) -> list[LoadedRunbook]:
        return [self.entries[key] for key in sorted(self.entries)]


def builtin_files() -> list[tuple[str, str]]:
    """(name, text) of every built-in runbook file, in id order."""
    folder = resources.files("missionctl.runbooks") / "builtin"
    found = [(item.name, item.read_text("utf-8")) for item in folder.iterdir() if item.name.endswith(".yaml")]
    return sorted(found)


def load_registry(runbook_dirs: Sequence[Path] = ()) -> RunbookRegistry:
    """Built-in runbooks, overridden by user runbooks with the same id; any invalid runbook is an error.

    Raises `InvalidInput` with code `runbook_dir_missing` for a configured folder that doesn't exist, and
    `runbook_invalid` (message naming the first problem's file:line:column, `details` listing all of them)
    when a runbook file is invalid or two user files declare the same id.
    """
    registry = RunbookRegistry()
    for name, text in builtin_files():
        parsed = _checked([parse_text(text, f"{BUILTIN_SOURCE}/{name}")])[0]
        registry.entries[parsed.id] = LoadedRunbook(parsed, BUILTIN_SOURCE, parsed.content_hash())
    for path, runbook in _load_user_runbooks(runbook_dirs):
        registry.entries[runbook.id] = LoadedRunbook(runbook, path, runbook.content_hash())
    return registry


def _load_user_runbooks(runbook_dirs: Sequence[Path]) -> list[tuple[str, Runbook]]:
    _require_folders(runbook_dirs)
    files, _ = find_runbook_files(runbook_dirs)
    parsed = [parse_file(path) for path in files]
    return list(zip([item.source for item in parsed], _checked(parsed), strict=True))


def _require_folders(runbook_dirs: Sequence[Path]) -> None:
    for folder in runbook_dirs:
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist"
            raise InvalidInput(f"runbook folder {folder} {what}", code="runbook_dir_missing", details=[str(folder)])


def _checked(parsed: Sequence[ParsedFile]) -> list[Runbook]:
    """The runbooks of files that all parsed cleanly, or `InvalidInput` listing every problem."""
    problems = check_parsed(parsed)
    runbooks = [item.runbook for item in parsed if item.runbook is not None]
    if problems or len(runbooks) != len(parsed):
        raise invalid_runbooks(problems)
    return runbooks


def invalid_runbooks(problems: Sequence[Problem]) -> InvalidInput:
    """The error that stops start-up: names the first problem's location and counts the rest."""
    more = len(problems) - 1
    suffix = f" (and {more} more problem{'s' if more != 1 else ''})" if more > 0 else ""
    first = str(problems[0]) if problems else "unknown problem"
    return InvalidInput(f"invalid runbook: {first}{suffix}", code="runbook_invalid", details=[str(p) for p in problems])
