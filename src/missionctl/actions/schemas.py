"""The actions file format (secrets, allowed commands, implementations) and the API shapes of executions."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from missionctl.actions.rules import Kind, Mode, Status
from missionctl.runbooks.schemas import ActionName

NonEmpty = Annotated[str, Field(min_length=1)]
SecretName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
ParamName = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]
Scalar = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretSource(_Strict):
    """Where a secret's value is read from at execution time: an environment variable or a file."""

    env: EnvName | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretSource:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self


class ParamSpec(_Strict):
    """One typed parameter of a configured (http or command) action."""

    type: Literal["string", "integer", "number", "boolean"] = "string"
    required: bool = False
    default: Scalar | None = None
    enum: list[Scalar] | None = None
    pattern: str | None = Field(default=None, description="Regular expression a string must fully match")
    description: str | None = None


class HttpSpec(_Strict):
    """An HTTP request: every string may hold `${...}` placeholders; values in the URL are percent-encoded."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: NonEmpty
    headers: dict[NonEmpty, str] = Field(default_factory=dict)
    body: str | None = Field(default=None, description="A text body template")
    json_body: Any = Field(default=None, alias="json", description="A JSON body: strings in it are templates")
    expect_status: Annotated[list[Annotated[int, Field(ge=100, le=599)]], Field(min_length=1)] = Field(
        default_factory=lambda: [200, 201, 202, 204]
    )
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0

    @model_validator(mode="after")
    def _one_body(self) -> HttpSpec:
        if self.body is not None and self.json_body is not None:
            raise ValueError("give body or json, not both")
        return self


class CommandSpec(_Strict):
    """A process started with an argument vector (never through a shell)."""

    argv: Annotated[list[str], Field(min_length=1)]
    timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    env: list[EnvName] = Field(default_factory=list, description="Server environment variables passed through")
    secret_env: dict[EnvName, SecretName] = Field(default_factory=dict, description="Environment name → secret name")
    expect_exit: Annotated[list[int], Field(min_length=1)] = Field(default_factory=lambda: [0])


class ActionEntry(_Strict):
    """How one action runs (for every service, or for one `service`), and its guard rails."""

    name: ActionName
    service: NonEmpty | None = Field(default=None, description="Only for this service; entries without win less")
    kind: Kind | None = Field(default=None, description="Default: http/command from the block given, else builtin")
    summary: str | None = None
    mode: Literal[Mode.MANUAL, Mode.APPROVAL] = Field(
        default=Mode.MANUAL, description="approval: a responder other than the requester must approve every run"
    )
    approval_minutes: Annotated[int, Field(ge=1, le=1440)] = 15
    once: bool | None = Field(default=None, description="Once per incident until resolved (default: automatic runs)")
    concurrency_key: str | None = Field(default=None, description="Template; default ${service}/<action name>")
    params: dict[ParamName, ParamSpec] = Field(default_factory=dict)
    http: HttpSpec | None = None
    command: CommandSpec | None = None

    @model_validator(mode="after")
    def _kind_matches(self) -> ActionEntry:
        kind = self.resolved_kind
        if self.http is not None and self.command is not None:
            raise ValueError("give http or command, not both")
        if kind is Kind.HTTP and self.http is None:
            raise ValueError("kind http needs an `http:` block")
        if kind is Kind.COMMAND and self.command is None:
            raise ValueError("kind command needs a `command:` block")
        if kind is Kind.BUILTIN and (self.http is not None or self.command is not None or self.params):
            raise ValueError("a builtin action takes its parameters from its code: no http, command or params")
        return self

    @property
    def resolved_kind(self) -> Kind:
        if self.kind is not None:
            return self.kind
        if self.http is not None:
            return Kind.HTTP
        if self.command is not None:
            return Kind.COMMAND
        return Kind.BUILTIN


class BreakerSpec(_Strict):
    failures: Annotated[int, Field(ge=1)] = 3
    cooldown_minutes: Annotated[float, Field(gt=0)] = 30.0


class ActionsFile(_Strict):
    """The whole actions file."""

    secrets: dict[SecretName, SecretSource] = Field(default_factory=dict)
    commands: list[NonEmpty] = Field(default_factory=list, description="Executables (argv[0]) allowed to run")
    breaker: BreakerSpec = BreakerSpec()
    actions: list[ActionEntry] = Field(default_factory=list)


# API shapes


class ExecutionCreate(_Strict):
    action: ActionName
    params: dict[str, Any] = Field(default_factory=dict)
    dry_run: bool = False
    step_position: Annotated[int, Field(ge=1)] | None = None


class ExecutionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    incident_id: int | None
    service: str | None
    runbook_id: str | None
    step_position: int | None
    action: str
    kind: Kind
    mode: Mode
    status: Status
    dry_run: bool
    requested_by: str
    triggered_by: str
    approved_by: str | None
    declined_by: str | None
    inputs: dict[str, Any]
    output: dict[str, Any]
    summary: str | None
    error: str | None
    duration_ms: int | None
    requested_at: datetime
    expires_at: datetime | None
    decided_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


class CatalogEntry(BaseModel):
    name: str
    kind: Kind
    service: str | None
    summary: str
    mode: Mode
    once: bool | None
    params_schema: dict[str, Any]


class BreakerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: str
    failures: int
    open_until: datetime | None
    last_error: str | None
