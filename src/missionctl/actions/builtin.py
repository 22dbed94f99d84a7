"""The contract every built-in action keeps, and the registry the action framework runs them from.

A built-in action is a function registered under its runbook name (`deploy.freeze`, `pg.plan_diff`, ...):

    @builtin("deploy.freeze", params=FreezeParams, summary="Freeze deployments for the service")
    def freeze(call: ActionCall[FreezeParams]) -> ActionOutcome: ...

It receives validated parameters and the context it runs in, must do nothing but describe itself when
`call.dry_run` is true, and returns an outcome the framework records on the incident timeline (with
secrets masked), so it never writes the audit entry itself. Network and subprocess work happens outside
any database transaction: an action opens its own short `ctx.write()` transactions when it needs to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from missionctl.context import AppContext

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

P = TypeVar("P", bound=BaseModel)


class Result(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DRY_RUN = "dry_run"
    SKIPPED = "skipped"  # nothing to do (e.g. already frozen); not a failure


@dataclass(frozen=True)
class ActionCall(Generic[P]):
    """One execution's inputs."""

    ctx: AppContext
    params: P
    service: str | None
    incident_id: int | None
    dry_run: bool
    triggered_by: str  # "person:alice", "signal:<origin>/<dedup key>", "rule:<runbook automation>", "schedule"
    now: datetime


@dataclass(frozen=True)
class ActionOutcome:
    result: Result
    summary: str  # one line for the timeline, in plain words
    output: Mapping[str, Any] = field(default_factory=dict)  # JSON-able details (no secrets)


@dataclass(frozen=True)
class BuiltinAction:
    name: str
    params: type[BaseModel]
    summary: str
    run: Callable[[ActionCall[Any]], ActionOutcome]


REGISTRY: dict[str, BuiltinAction] = {}

# Modules that register built-ins when imported; `load_builtins()` imports those that exist, so the
# registry is complete wherever actions are listed, linted or run (a package adds its module here).
BUILTIN_MODULES: list[str] = [
    "missionctl.releases.actions",
    "missionctl.analyzer.actions",
    "missionctl.webhooks.actions",
]


def builtin(
    name: str, *, params: type[P], summary: str
) -> Callable[[Callable[[ActionCall[P]], ActionOutcome]], Callable[[ActionCall[P]], ActionOutcome]]:
    """Register a built-in action under `name` (a runbook action name)."""

    def register(run: Callable[[ActionCall[P]], ActionOutcome]) -> Callable[[ActionCall[P]], ActionOutcome]:
        if name in REGISTRY:
            raise ValueError(f"built-in action {name!r} is registered twice")
        REGISTRY[name] = BuiltinAction(name, params, summary, run)
        return run

    return register


VariableProvider = Callable[["Session", str | None, int | None], Mapping[str, Any]]
VARIABLES: dict[str, VariableProvider] = {}


def template_variables(root: str) -> Callable[[VariableProvider], VariableProvider]:
    """Register a provider of `${root.*}` template variables for http and command actions.

    The provider is called as `provider(session, service, incident_id)` in a read transaction just before an
    action runs (e.g. `last_healthy` → `{"version": ..., "artifact_digest": ...}` for a helm rollback).
    """

    def register(provider: VariableProvider) -> VariableProvider:
        if root in VARIABLES:
            raise ValueError(f"template variables {root!r} are registered twice")
        VARIABLES[root] = provider
        return provider

    return register


def load_builtins() -> dict[str, BuiltinAction]:
    """Import every module of `BUILTIN_MODULES` that is installed, and return the registry."""
    import importlib
    import importlib.util

    for module in BUILTIN_MODULES:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # the parent package is not there
            found = False
        if found:
            importlib.import_module(module)
    return REGISTRY
