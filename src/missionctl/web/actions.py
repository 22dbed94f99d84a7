"""The incident room's actions: a step's Run / Preview buttons, approvals, and the executions panel.

Requests, approvals and declines go through the action framework (`actions.service`, `actions.approvals`)
inside one `ctx.write()`, with the logged-in user as requester or approver, then redirect (post/redirect/get).
A dry run is executed at once, as the API does, so the page it redirects to shows its preview; real runs
are left to the action workers, woken after the commit. Refusals (409) become readable pages.
"""

from __future__ import annotations

import functools
import json
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from missionctl.actions import approvals, service, workers
from missionctl.actions.catalog import ActionCatalog, catalog_for
from missionctl.actions.models import ActionExecution
from missionctl.actions.rules import Mode, Status
from missionctl.auth.roles import Role, allows
from missionctl.context import AppContext
from missionctl.deps import Ctx
from missionctl.errors import Conflict, MissionControlError
from missionctl.incidents.schemas import IncidentRead
from missionctl.web import views
from missionctl.web.deps import PageRoute, Responder, safe_next
from missionctl.web.service import CurrentUser

router = APIRouter(route_class=PageRoute, include_in_schema=False, default_response_class=HTMLResponse)

PARAM_PREFIX = "param."
JSON_LIMIT = 20_000  # characters of inputs or output shown; the API has the whole (masked) record

# What a refusal means, for the person who pressed the button (the API keeps the service's own wording).
REFUSALS = {
    "self_approval": "You requested this action, so you cannot approve or decline it: another responder must.",
    "approval_timed_out": (
        "The approval window of this request has closed and nothing was run. Request the action again if it is "
        "still needed."
    ),
    "not_pending_approval": "This request is no longer waiting for approval: someone has already decided on it.",
    "incident_closed": "This incident is closed: actions no longer run for it.",
}
WAITING = {
    Status.PENDING_APPROVAL: "Waiting for another responder's approval.",
    Status.APPROVED: "Approved; waiting for a worker to run it.",
    Status.QUEUED: "Queued; waiting for a worker to run it.",
    Status.RUNNING: "Running now.",
}
TONES = {
    Status.SUCCEEDED: "ok",
    Status.DRY_RUN: "ok",
    Status.FAILED: "bad",
    Status.BLOCKED: "bad",
    Status.TIMED_OUT: "bad",
    Status.DECLINED: "bad",
    Status.PENDING_APPROVAL: "warn",
    Status.RUNNING: "warn",
}


# --- what the room shows ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamField:
    """One parameter of an action as a form field."""

    name: str
    kind: str  # text, number, select
    required: bool
    default: str
    choices: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class StepAction:
    """The action behind a checklist step, as its buttons need it."""

    position: int
    action: str
    summary: str
    approval: bool
    params: tuple[ParamField, ...]
    available: bool = True
    why_not: str = ""


@dataclass(frozen=True)
class ExecutionView:
    """One execution as the Actions panel lists it."""

    id: int
    action: str
    status: str
    tone: str
    mode: str
    dry_run: bool
    step_position: int | None
    requested_by: str
    triggered_by: str
    approved_by: str | None
    declined_by: str | None
    requested_at: datetime
    expires_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration: str
    summary: str
    preview: tuple[tuple[str, str], ...]
    inputs_json: str
    output_json: str
    can_decide: bool
    why_not: str

    @property
    def pending(self) -> bool:
        return self.status == Status.PENDING_APPROVAL


def can_write(user: CurrentUser) -> bool:
    return allows(user.role, Role.RESPONDER)


def catalog_or_problem(ctx: AppContext) -> tuple[ActionCatalog | None, str]:
    """The action catalog in force, or why there is none (an actions file that stopped being valid)."""
    try:
        return catalog_for(ctx.settings), ""
    except MissionControlError as exc:
        return None, f"The actions file cannot be used right now: {exc.message}"


@functools.lru_cache(maxsize=256)
def param_fields(model: type[BaseModel]) -> tuple[ParamField, ...]:
    """Form fields for an action's parameters, from its JSON Schema (scalars only; cached per model class)."""
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    fields = []
    for name, prop in schema.get("properties", {}).items():
        types = {prop.get("type")} | {option.get("type") for option in prop.get("anyOf", [])}
        choices = tuple(str(c) for c in prop.get("enum", []))
        if "boolean" in types:
            choices = ("true", "false")
        if not choices and not types & {"string", "integer", "number"}:
            continue  # lists and objects: the API takes those
        kind = "select" if choices else ("number" if types & {"integer", "number"} else "text")
        default = prop.get("default")
        fields.append(
            ParamField(
                name=name,
                kind=kind,
                required=name in required,
                default="" if default is None else str(default).lower() if isinstance(default, bool) else str(default),
                choices=choices,
                description=str(prop.get("description", "")),
            )
        )
    return tuple(fields)


def step_actions(catalog: ActionCatalog | None, read: IncidentRead) -> dict[int, StepAction]:
    """The buttons of each checklist step that names an action: Run (or Request approval) and Preview."""
    found: dict[int, StepAction] = {}
    for step in read.steps:
        if not step.action:
            continue
        spec = catalog.resolve(step.action, read.service) if catalog is not None else None
        if spec is None:
            why = "not configured: add it to the actions file" if catalog is not None else "actions file unusable"
            found[step.position] = StepAction(step.position, step.action, "", False, (), False, why)
            continue
        approval = spec.mode is Mode.APPROVAL
        found[step.position] = StepAction(step.position, step.action, spec.summary, approval, param_fields(spec.params))
    return found


def execution_views(rows: Iterable[ActionExecution], user: CurrentUser, *, can_write: bool) -> list[ExecutionView]:
    """Executions newest first, with what this user may do about each."""
    return [_view(row, user, can_write) for row in sorted(rows, key=lambda r: r.id, reverse=True)]


def _view(row: ActionExecution, user: CurrentUser, can_write: bool) -> ExecutionView:
    status = Status(row.status)
    can_decide, why_not = decision_rights(row, user, can_write)
    return ExecutionView(
        id=row.id,
        action=row.action,
        status=status,
        tone=TONES.get(status, ""),
        mode=row.mode,
        dry_run=row.dry_run,
        step_position=row.step_position,
        requested_by=row.requested_by,
        triggered_by=row.triggered_by,
        approved_by=row.approved_by,
        declined_by=row.declined_by,
        requested_at=row.requested_at,
        expires_at=row.expires_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration=millis(row.duration_ms),
        summary=row.summary or row.error or WAITING.get(status, ""),
        preview=tuple(preview_lines(row.inputs or {}, row.output or {})),
        inputs_json=as_json(row.inputs),
        output_json=as_json(row.output),
        can_decide=can_decide,
        why_not=why_not,
    )


def decision_rights(row: ActionExecution, user: CurrentUser, can_write: bool) -> tuple[bool, str]:
    """Whether this user may approve or decline the request, and if not, why (shown instead of the buttons)."""
    if row.status != Status.PENDING_APPROVAL:
        return False, ""
    if not can_write:
        return False, f"A responder other than {row.requested_by} must approve or decline this; you are a viewer."
    if user.username == row.requested_by:
        return False, "You requested this; another responder must approve."
    return True, ""


def millis(value: int | None) -> str:
    """How long an execution took: 120 ms, 4.2 s, 3m 05s."""
    if value is None:
        return views.NONE
    if value < 1000:
        return f"{value} ms"
    if value < 60_000:
        return f"{value / 1000:.1f} s"
    return views.duration(value / 1000)


def as_json(value: Any) -> str:
    text = json.dumps(value or {}, indent=2, sort_keys=True, default=str)
    return text if len(text) <= JSON_LIMIT else text[:JSON_LIMIT] + "\n… (cut; the API has the whole record)"


def preview_lines(inputs: Mapping[str, Any], output: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What an execution does (or would do), readably: the argv, the HTTP request, the SQL, the rollback target."""
    lines: list[tuple[str, str]] = []
    for plan in (inputs.get("command"), inputs.get("http"), output.get("request")):
        if isinstance(plan, Mapping):
            lines += plan_lines(plan)
    moves = [output.get(key) for key in ("from", "to")]
    if all(isinstance(m, Mapping) for m in moves):
        before, after = (m for m in moves if isinstance(m, Mapping))
        lines.append(("Rollback", f"{_release(before)} → {_release(after)}"))
    if isinstance(output.get("statement"), str):
        lines.append(("SQL", str(output["statement"])))
    if isinstance(output.get("urls"), list):
        lines.append(("Would check", "\n".join(str(u) for u in output["urls"])))
    params = inputs.get("params")
    if isinstance(params, Mapping) and params:
        lines.append(("Parameters", ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in params.items())))
    return lines


def plan_lines(plan: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A runner plan's masked preview: a command line, or a request with its headers and body."""
    if isinstance(plan.get("argv"), list):
        lines = [("Command", shlex.join(str(a) for a in plan["argv"]))]
        if plan.get("env"):
            lines.append(("Environment", ", ".join(str(e) for e in plan["env"])))
        return lines
    if "url" not in plan:
        return []
    request = f"{plan.get('method', 'POST')} {plan['url']}"
    headers = plan.get("headers") or {}
    if isinstance(headers, Mapping):
        request += "".join(f"\n{name}: {value}" for name, value in headers.items())
    lines = [("Request", request)]
    if plan.get("json") is not None:
        lines.append(("JSON body", json.dumps(plan["json"], indent=2, default=str)))
    elif plan.get("body") is not None:
        lines.append(("Body", str(plan["body"])))
    return lines


def _release(release: Mapping[str, Any]) -> str:
    return f"{release.get('version')} ({views.short_digest(str(release.get('artifact_digest', '')))})"


def room_actions(
    ctx: AppContext, read: IncidentRead, rows: Sequence[ActionExecution], user: CurrentUser, *, can_write: bool
) -> dict[str, Any]:
    """What the room's templates need for steps' buttons and the Actions panel."""
    catalog, problem = catalog_or_problem(ctx)
    executions = execution_views(rows, user, can_write=can_write)
    return {
        "step_actions": step_actions(catalog, read),
        "executions": executions,
        "pending_approvals": sum(1 for x in executions if x.pending),
        "catalog_problem": problem,
    }


# --- requests and decisions ------------------------------------------------------------------------------------------


async def posted_params(request: Request) -> dict[str, str]:
    """The `param.NAME` fields of the form that were filled in (empty ones take the action's default)."""
    form = await request.form()
    return {
        key.removeprefix(PARAM_PREFIX): value.strip()
        for key, value in form.items()
        if key.startswith(PARAM_PREFIX) and isinstance(value, str) and value.strip()
    }


Params = Annotated[dict[str, str], Depends(posted_params)]


def readable(exc: MissionControlError) -> MissionControlError:
    """The same refusal, worded for the person who pressed the button."""
    message = REFUSALS.get(exc.code)
    if message is None:
        return exc
    return type(exc)(message, code=exc.code, details=exc.details)


def request_action(
    ctx: AppContext,
    user: CurrentUser,
    *,
    action: str,
    incident_id: int | None,
    service_id: str | None,
    params: Mapping[str, Any],
    dry_run: bool,
    step_position: int | None = None,
) -> int:
    """Request an action as this user; a dry run runs at once. Returns the execution's id (409 if refused)."""
    catalog = catalog_for(ctx.settings)
    with ctx.write() as session:
        try:
            row = service.request(
                session,
                action=action,
                incident_id=incident_id,
                service=service_id,
                params=params,
                requested_by=user.username,
                triggered_by=f"person:{user.username}",
                now=ctx.clock.now(),
                actions=catalog,
                mode=Mode.MANUAL,
                dry_run=dry_run,
                step_position=step_position,
            )
        except Conflict as exc:
            raise readable(exc) from None
        execution_id, status, reason, error = row.id, row.status, row.output.get("reason"), row.error
    if status == Status.BLOCKED:  # recorded (and on the timeline), but refused: say why
        raise Conflict(f"Not run: {error or 'a guard rail refused it'}", code=str(reason or "blocked"))
    if dry_run:
        workers.execute(ctx, execution_id, actions=catalog)
    else:
        workers.wake(ctx)
    return execution_id


@router.post("/incidents/{incident_id}/actions")
def request_step_action(
    incident_id: int,
    ctx: Ctx,
    user: Responder,
    params: Params,
    action: Annotated[str, Form(min_length=1, max_length=100)],
    step_position: Annotated[int | None, Form(ge=1)] = None,
    dry_run: Annotated[str, Form()] = "",
) -> Response:
    """A step's button: run the action (or ask for approval), or preview it with a dry run."""
    execution_id = request_action(
        ctx,
        user,
        action=action,
        incident_id=incident_id,
        service_id=None,
        params=params,
        dry_run=dry_run == "1",
        step_position=step_position,
    )
    return RedirectResponse(f"/incidents/{incident_id}#execution-{execution_id}", status_code=303)


def _after_decision(row: ActionExecution, next_path: str) -> str:
    if next_path:
        return safe_next(next_path)
    if row.incident_id is not None:
        return f"/incidents/{row.incident_id}#execution-{row.id}"
    return "/analyzer"


@router.post("/actions/executions/{execution_id}/approve")
def approve(
    execution_id: int, ctx: Ctx, user: Responder, next_path: Annotated[str, Form(alias="next")] = ""
) -> Response:
    """Approve another responder's request; the workers run it at once."""
    with ctx.write() as session:
        try:
            row = approvals.approve(session, execution_id=execution_id, approver=user.username, now=ctx.clock.now())
        except Conflict as exc:
            raise readable(exc) from None
        target = _after_decision(row, next_path)
    workers.wake(ctx)
    return RedirectResponse(target, status_code=303)


@router.post("/actions/executions/{execution_id}/decline")
def decline(
    execution_id: int, ctx: Ctx, user: Responder, next_path: Annotated[str, Form(alias="next")] = ""
) -> Response:
    """Decline another responder's request: it is recorded as declined and never runs."""
    with ctx.write() as session:
        try:
            row = approvals.decline(session, execution_id=execution_id, decider=user.username, now=ctx.clock.now())
        except Conflict as exc:
            raise readable(exc) from None
        target = _after_decision(row, next_path)
    return RedirectResponse(target, status_code=303)
