"""Load runbooks: the built-in ones shipped in the package, then user folders that may override them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from missionctl.errors import InvalidInput, NotFound
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


def _parse(text: str, source: str) -> Runbook:
    try:
        return Runbook.model_validate(yaml.safe_load(text))
    except Exception as exc:
        raise InvalidInput(f"{source}: {exc}", code="runbook_invalid") from exc


def _user_files(dirs: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for folder in dirs:
        files.extend(sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]))
    return files


def load_registry(runbook_dirs: Sequence[Path] = ()) -> RunbookRegistry:
    """Built-in runbooks, overridden by user runbooks with the same id."""
    registry = RunbookRegistry()
    for name, text in builtin_files():
        runbook = _parse(text, name)
        registry.entries[runbook.id] = LoadedRunbook(runbook, BUILTIN_SOURCE, runbook.content_hash())
    for path in _user_files(runbook_dirs):
        runbook = _parse(path.read_text("utf-8"), str(path))
        registry.entries[runbook.id] = LoadedRunbook(runbook, str(path), runbook.content_hash())
    return registry
