"""The contract every built-in action keeps, and the registry the action framework runs them from.

A built-in action is a function registered under its runbook name (`deploy.freeze`, `pg.plan_diff`, ...):

    @builtin("deploy.freeze", params=FreezeParams, summary="Freeze deployments for the service")
    def freeze(call: ActionCall[FreezeParams]) -> ActionOutcome: ...

It receives validated parameters and the context it runs in, must do nothing but describe itself when
`call.dry_run` is true, and returns an outcome the framework records on the incident timeline (with
secrets masked), so it never writes the audit entry itself. Network and subprocess work happens outside
any database transaction: an action opens its own short `ctx.write()` transactions when it needs to.

A built-in may declare what the framework must enforce for it, whatever the actions file says:

    @builtin("pg.create_index", ..., mode=Mode.APPROVAL)   # every run waits for another responder's approval
    @builtin("pg.plan_diff", ..., own_schedule=True)       # its package schedules it: no per-incident chain
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from missionctl.actions.rules import Mode
from missionctl.context import AppContext

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from missionctl.actions.catalog import ActionCatalog

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
    actions: ActionCatalog | None = None  # the catalog in force (secrets, allowed commands); None: read the settings


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
    mode: Mode = Mode.MANUAL  # APPROVAL: every run (manual or automatic) waits for another responder's approval
    own_schedule: bool = False  # its package runs it periodically; runbook `schedule_minutes` starts no chain


REGISTRY: dict[str, BuiltinAction] = {}

# Modules that register built-ins when imported; `load_builtins()` imports those that exist, so the
# registry is complete wherever actions are listed, linted or run (a package adds its module here).
BUILTIN_MODULES: list[str] = [
    "missionctl.releases.actions",
    "missionctl.analyzer.actions",
    "missionctl.webhooks.actions",
]


def builtin(
    name: str,
    *,
    params: type[P],
    summary: str,
    mode: Mode = Mode.MANUAL,
    own_schedule: bool = False,
) -> Callable[[Callable[[ActionCall[P]], ActionOutcome]], Callable[[ActionCall[P]], ActionOutcome]]:
    """Register a built-in action under `name` (a runbook action name).

    `mode=Mode.APPROVAL` makes every real run wait for a responder other than the requester, whatever mode it
    was requested in and whatever the actions file says (only `manual` and `approval` can be declared).
    `own_schedule=True` says its package runs it on a schedule of its own, so runbook automation entries with
    `schedule_minutes` naming it start no per-incident chain (one schedule, never two).
    """
    if mode is Mode.AUTOMATIC:
        raise ValueError(f"built-in action {name!r}: a built-in can require approval, not automatic runs")

    def register(run: Callable[[ActionCall[P]], ActionOutcome]) -> Callable[[ActionCall[P]], ActionOutcome]:
        if name in REGISTRY:
            raise ValueError(f"built-in action {name!r} is registered twice")
        REGISTRY[name] = BuiltinAction(name, params, summary, run, mode, own_schedule)
        return run

    return register


def requires_approval(name: str) -> bool:
    """Whether the built-in `name` (if it is one) declared that every run needs another responder's approval."""
    found = load_builtins().get(name)
    return found is not None and found.mode is Mode.APPROVAL


def scheduled_by_its_package(name: str) -> bool:
    """Whether the built-in `name` (if it is one) is run on its package's own schedule."""
    found = load_builtins().get(name)
    return found is not None and found.own_schedule


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
