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
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from missionctl.context import AppContext

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
