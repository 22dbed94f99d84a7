"""The actions in force: built-ins plus the actions file, resolved per service, each with a typed params model."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from missionctl.actions.builtin import REGISTRY, BuiltinAction, load_builtins
from missionctl.actions.config import LoadedActions, load_actions, read_secret
from missionctl.actions.rules import Kind, Mode
from missionctl.actions.schemas import ActionEntry, ActionsFile, CatalogEntry, CommandSpec, HttpSpec, ParamSpec
from missionctl.errors import InvalidInput, NotFound
from missionctl.settings import Settings

_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}


@dataclass(frozen=True)
class ActionSpec:
    """Everything needed to request and run one action for one service."""

    name: str
    kind: Kind
    summary: str
    params: type[BaseModel]
    mode: Mode = Mode.MANUAL
    approval_minutes: int = 15
    once: bool | None = None
    concurrency_key: str | None = None
    service: str | None = None  # the entry's service, if it is specific to one
    http: HttpSpec | None = None
    command: CommandSpec | None = None
    builtin: BuiltinAction | None = None

    def validate_params(self, params: Mapping[str, Any]) -> BaseModel:
        """The parameters as the action's model; InvalidInput (`invalid_params`) naming every wrong field."""
        try:
            return self.params.model_validate(dict(params))
        except ValidationError as exc:
            details = [
                {"field": ".".join(str(p) for p in error["loc"]), "message": error["msg"]}
                for error in exc.errors(include_url=False)
            ]
            raise InvalidInput(
                f"invalid parameters for {self.name}: {details[0]['field']}: {details[0]['message']}",
                code="invalid_params",
                details=details,
            ) from None


class _NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def params_model(name: str, params: Mapping[str, ParamSpec]) -> type[BaseModel]:
    """A pydantic model (unknown keys forbidden) for the parameters an actions-file entry declares."""
    if not params:
        return _NoParams
    fields: dict[str, Any] = {}
    for key, spec in params.items():
        annotation: Any = _TYPES[spec.type]
        if spec.enum is not None:
            from typing import Literal

            annotation = Literal[tuple(spec.enum)]
        required = spec.required and spec.default is None
        default: Any = ... if required else spec.default
        if not required and spec.default is None:
            annotation = annotation | None
        fields[key] = (annotation, Field(default, pattern=spec.pattern, description=spec.description))
    model: type[BaseModel] = create_model(
        f"Params_{name.replace('.', '_')}", __config__=ConfigDict(extra="forbid", strict=False), **fields
    )
    return model


def _from_entry(entry: ActionEntry, builtins: Mapping[str, BuiltinAction]) -> ActionSpec:
    kind = entry.resolved_kind
    found = builtins.get(entry.name) if kind is Kind.BUILTIN else None
    params = found.params if found is not None else params_model(entry.name, entry.params)
    summary = entry.summary or (found.summary if found is not None else f"{kind} action {entry.name}")
    # A built-in that requires approval keeps requiring it: an actions-file entry can add guard rails, not remove them.
    mode = Mode.APPROVAL if found is not None and found.mode is Mode.APPROVAL else Mode(entry.mode)
    return ActionSpec(
        name=entry.name,
        kind=kind,
        summary=summary,
        params=params,
        mode=mode,
        approval_minutes=entry.approval_minutes,
        once=entry.once,
        concurrency_key=entry.concurrency_key,
        service=entry.service,
        http=entry.http,
        command=entry.command,
        builtin=found,
    )


def _from_builtin(action: BuiltinAction) -> ActionSpec:
    return ActionSpec(
        name=action.name,
        kind=Kind.BUILTIN,
        summary=action.summary,
        params=action.params,
        mode=action.mode,
        builtin=action,
    )


@dataclass
class ActionCatalog:
    """Built-ins and configured actions; a configured entry for the service beats one for every service."""

    file: ActionsFile = field(default_factory=ActionsFile)
    source: str | None = None
    environ: Mapping[str, str] | None = None  # tests pass their own; None: the process environment

    def resolve(self, name: str, service: str | None) -> ActionSpec | None:
        builtins = load_builtins()
        entries = [entry for entry in self.file.actions if entry.name == name]
        specific = [entry for entry in entries if service is not None and entry.service == service]
        general = [entry for entry in entries if entry.service is None]
        chosen = specific or general
        if chosen:
            return _from_entry(chosen[0], builtins)
        if name in builtins:
            return _from_builtin(builtins[name])
        return None

    def get(self, name: str, service: str | None) -> ActionSpec:
        spec = self.resolve(name, service)
        if spec is None:
            where = f" for service {service!r}" if service else ""
            raise NotFound(
                f"no action {name!r}{where}: not a built-in and not in the actions file", code="action_not_found"
            )
        return spec

    def known(self, name: str) -> bool:
        return name in load_builtins() or any(entry.name == name for entry in self.file.actions)

    def entries(self) -> list[CatalogEntry]:
        """Every built-in and every configured entry, for `GET /api/v1/actions` and `actions list`."""
        specs = [_from_entry(entry, load_builtins()) for entry in self.file.actions]
        configured = {(entry.name, entry.service) for entry in self.file.actions}
        specs += [_from_builtin(b) for name, b in sorted(REGISTRY.items()) if (name, None) not in configured]
        return [
            CatalogEntry(
                name=spec.name,
                kind=spec.kind,
                service=spec.service,
                summary=spec.summary,
                mode=spec.mode,
                once=spec.once,
                params_schema=spec.params.model_json_schema(),
            )
            for spec in sorted(specs, key=lambda s: (s.name, s.service or ""))
        ]

    def secret(self, name: str) -> str:
        """A secret's value, read now; KeyError if it is not declared or cannot be read."""
        return read_secret(self.file.secrets[name], self.environ)

    def allowed(self, program: str) -> bool:
        return program in self.file.commands

    @property
    def breaker_threshold(self) -> int:
        return self.file.breaker.failures

    @property
    def breaker_cooldown(self) -> timedelta:
        return timedelta(minutes=self.file.breaker.cooldown_minutes)


_cache_lock = threading.Lock()
_cache: dict[Path, tuple[tuple[int, int], ActionCatalog]] = {}


def catalog_for(settings: Settings) -> ActionCatalog:
    """The catalog of `settings.actions_file`, re-read when the file changes (InvalidInput if it is invalid)."""
    path = settings.actions_file
    if path is None:
        return ActionCatalog()
    try:
        stat = path.stat()
    except OSError as exc:
        raise InvalidInput(f"cannot read the actions file {path}: {exc.strerror}", code="actions_invalid") from None
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        loaded: LoadedActions = load_actions(path)
        catalog = ActionCatalog(loaded.file, loaded.source)
        _cache[path] = (stamp, catalog)
        return catalog
