"""Action executions on a real database: http and command actions, approvals, dry runs, guard rails, secrets."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from missionctl.actions import approvals, automation, service, workers
from missionctl.actions.builtin import REGISTRY, ActionCall, ActionOutcome, Result, load_builtins
from missionctl.actions.catalog import ActionCatalog
from missionctl.actions.models import ActionBreaker, ActionExecution
from missionctl.actions.rules import Mode, Status
from missionctl.actions.schemas import ActionsFile
from missionctl.clock import FrozenClock
from missionctl.context import AppContext
from missionctl.engine.models import Job
from missionctl.engine.runner import Engine, EngineConfig
from missionctl.engine.runtime import make_sender
from missionctl.errors import Conflict
from missionctl.incidents import service as incidents
from missionctl.incidents.lifecycle import Status as IncidentStatus
from missionctl.incidents.models import TimelineEvent
from missionctl.runbooks.schemas import Severity
from tests.support.receivers import ScriptedResponse, WebhookReceiver

SECRET = "tok-9f8e7d6c5b4a"
PY = sys.executable


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def make_catalog(hooks: WebhookReceiver, *actions: dict[str, Any], failures: int = 3) -> ActionCatalog:
    http = {
        "url": hooks.url("/cache/${service}/safe-mode"),
        "headers": {"Authorization": "Bearer ${secret:cache_token}"},
        "json": {"incident": "${incident.id}", "ttl": "${params.ttl}"},
        "expect_status": [200],
    }
    entries = [
        {"name": "cache.safe_mode", "params": {"ttl": {"type": "integer", "default": 60}}, "http": http},
        {"name": "db.replica_routing", "mode": "approval", "approval_minutes": 15, "http": http | {"json": None}},
        {"name": "webhooks.adaptive_backoff", "http": http | {"json": None}},
        *actions,
    ]
    file = ActionsFile.model_validate(
        {
            "secrets": {"cache_token": {"env": "CACHE_TOKEN"}},
            "commands": [PY],
            "breaker": {"failures": failures, "cooldown_minutes": 30},
            "actions": entries,
        }
    )
    return ActionCatalog(file, "test", environ={"CACHE_TOKEN": SECRET})


def declare(ctx: AppContext, runbook_id: str = "RB-002") -> int:
    with ctx.write() as session:
        incident = incidents.declare(
            session,
            runbook=ctx.runbooks.get(runbook_id),
            service="checkout",
            title="checkout slow",
            severity=Severity.SEV3,
            commander="alice",
            actor="alice",
            now=ctx.clock.now(),
        )
        return incident.id


def ask(
    ctx: AppContext,
    catalog: ActionCatalog,
    incident_id: int,
    action: str = "cache.safe_mode",
    *,
    who: str = "alice",
    dry_run: bool = False,
    params: dict[str, Any] | None = None,
) -> ActionExecution:
    with ctx.write() as session:
        row = service.request(
            session,
            action=action,
            incident_id=incident_id,
            service=None,
            params=params or {},
            requested_by=who,
            triggered_by=f"person:{who}",
            now=ctx.clock.now(),
            actions=catalog,
            dry_run=dry_run,
        )
        session.flush()
        session.expunge(row)
        return row


def execution(ctx: AppContext, execution_id: int) -> ActionExecution:
    with ctx.read() as session:
        row = approvals.get_execution(session, execution_id=execution_id)
        session.expunge(row)
        return row


def timeline(ctx: AppContext, incident_id: int, prefix: str = "action_") -> list[TimelineEvent]:
    with ctx.read() as session:
        rows = session.scalars(
            select(TimelineEvent).where(TimelineEvent.incident_id == incident_id).order_by(TimelineEvent.id)
        ).all()
        for row in rows:
            session.expunge(row)
    return [row for row in rows if row.kind.startswith(prefix)]


def everything_stored(ctx: AppContext) -> str:
    with ctx.read() as session:
        events = session.scalars(select(TimelineEvent)).all()
        rows = session.scalars(select(ActionExecution)).all()
        breakers = session.scalars(select(ActionBreaker)).all()
        parts: list[tuple[Any, ...]] = [(e.summary, e.data) for e in events]
        parts += [(r.params, r.inputs, r.output, r.summary, r.error, r.concurrency_key) for r in rows]
        parts += [(b.last_error,) for b in breakers]
    return json.dumps(parts, default=str)


# http actions


def test_http_action_runs_and_is_audited_without_its_secret(
    ctx: AppContext, hooks: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hooks.respond_with([ScriptedResponse(200, body=f"ok, used {SECRET}".encode())])
    catalog = make_catalog(hooks)
    incident_id = declare(ctx)
    row = ask(ctx, catalog, incident_id, params={"ttl": 300})
    assert row.status == Status.QUEUED
    [done] = workers.run_pending(ctx, actions=catalog)
    assert done.status is Status.SUCCEEDED
    [received] = hooks.requests
    assert received.path == "/cache/checkout/safe-mode"
    assert received.headers["authorization"] == f"Bearer {SECRET}"
    assert received.json() == {"incident": incident_id, "ttl": 300}
    stored = execution(ctx, row.id)
    assert stored.inputs["http"]["headers"] == {"Authorization": "Bearer ***"}
    assert stored.output["status_code"] == 200 and stored.output["body"] == "ok, used ***"
    requested, executed = timeline(ctx, incident_id)
    assert (requested.kind, executed.kind) == ("action_requested", "action_executed")
    assert executed.data["trigger"] == "person:alice" and executed.data["result"] == "succeeded"
    assert executed.data["dry_run"] is False and executed.data["duration_ms"] >= 0
    assert SECRET not in everything_stored(ctx)
    assert SECRET not in caplog.text


def test_an_unexpected_status_is_a_failure(ctx: AppContext, hooks: WebhookReceiver) -> None:
    hooks.respond_with([503])
    catalog = make_catalog(hooks)
    row = ask(ctx, catalog, declare(ctx))
    workers.run_pending(ctx, actions=catalog)
    stored = execution(ctx, row.id)
    assert stored.status == Status.FAILED and stored.error == "HTTP 503, expected 200"


def test_dry_run_sends_nothing_and_shows_the_request(ctx: AppContext, hooks: WebhookReceiver) -> None:
    catalog = make_catalog(hooks)
    incident_id = declare(ctx)
    row = ask(ctx, catalog, incident_id, dry_run=True)
    workers.execute(ctx, row.id, actions=catalog)
    stored = execution(ctx, row.id)
    assert stored.status == Status.DRY_RUN
    would = stored.output["would"]
    assert would["method"] == "POST" and would["url"] == hooks.url("/cache/checkout/safe-mode")
    assert would["headers"] == {"Authorization": "Bearer ***"} and would["json"] == {"incident": incident_id, "ttl": 60}
    assert [event.kind for event in timeline(ctx, incident_id)] == ["action_dry_run"]
    assert hooks.requests == []  # `execute` ran the dry run to its end in this thread: nothing was sent
    assert SECRET not in everything_stored(ctx)


# command actions


def test_arguments_reach_the_command_as_given_never_through_a_shell(ctx: AppContext, hooks: WebhookReceiver) -> None:
    script = "import sys, json; print(json.dumps(sys.argv[1:]))"
    catalog = make_catalog(
        hooks,
        {
            "name": "consumers.pause",
            "params": {"consumer": {"type": "string"}},
            "command": {"argv": [PY, "-c", script, "${params.consumer}", "${service}"]},
        },
    )
    row = ask(ctx, catalog, declare(ctx), "consumers.pause", params={"consumer": "billing; touch /tmp/pwned"})
    workers.run_pending(ctx, actions=catalog)
    stored = execution(ctx, row.id)
    assert stored.status == Status.SUCCEEDED, stored.error
    assert json.loads(stored.output["stdout"]) == ["billing; touch /tmp/pwned", "checkout"]
    assert stored.output["exit_code"] == 0


def test_a_command_past_its_timeout_is_killed(ctx: AppContext, hooks: WebhookReceiver, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    catalog = make_catalog(
        hooks, {"name": "consumers.pause", "command": {"argv": [PY, "-c", script], "timeout_seconds": 0.5}}
    )
    row = ask(ctx, catalog, declare(ctx), "consumers.pause")
    workers.run_pending(ctx, actions=catalog)
    stored = execution(ctx, row.id)
    assert stored.status == Status.FAILED and stored.error == "timed out after 0.5s; killed"
    assert not Path(f"/proc/{pid_file.read_text()}").exists()  # killed and reaped, not left sleeping


def test_a_command_dry_run_spawns_nothing(ctx: AppContext, hooks: WebhookReceiver, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    argv = [PY, "-c", f"open({str(marker)!r}, 'w')"]
    catalog = make_catalog(hooks, {"name": "consumers.pause", "command": {"argv": argv}})
    incident_id = declare(ctx)
    row = ask(ctx, catalog, incident_id, "consumers.pause", dry_run=True)
    workers.execute(ctx, row.id, actions=catalog)
    stored = execution(ctx, row.id)
    assert stored.status == Status.DRY_RUN and stored.output["would"]["argv"] == argv
    assert not marker.exists()


def test_a_command_outside_the_allowlist_never_runs(ctx: AppContext, hooks: WebhookReceiver, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    catalog = make_catalog(hooks, {"name": "consumers.pause", "command": {"argv": ["touch", str(marker)]}})
    row = ask(ctx, catalog, declare(ctx), "consumers.pause")
    workers.run_pending(ctx, actions=catalog)
    stored = execution(ctx, row.id)
    assert stored.status == Status.FAILED and stored.output == {"reason": "command_not_allowed"}
    assert not marker.exists()


# approvals


def test_approval_self_approval_refused_other_responder_approves(ctx: AppContext, hooks: WebhookReceiver) -> None:
    catalog = make_catalog(hooks)
    incident_id = declare(ctx)
    row = ask(ctx, catalog, incident_id, "db.replica_routing", who="alice")
    assert row.status == Status.PENDING_APPROVAL and row.mode == Mode.APPROVAL
    assert row.expires_at == ctx.clock.now() + timedelta(minutes=15)
    with pytest.raises(Conflict) as refused, ctx.write() as session:
        approvals.approve(session, execution_id=row.id, approver="alice", now=ctx.clock.now())
    assert refused.value.code == "self_approval"
    assert workers.run_pending(ctx, actions=catalog) == []  # nothing runs before approval
    with ctx.write() as session:
        approvals.approve(session, execution_id=row.id, approver="bob", now=ctx.clock.now())
    [done] = workers.run_pending(ctx, actions=catalog)
    assert done.status is Status.SUCCEEDED and len(hooks.requests) == 1
    kinds = [(e.kind, e.data.get("approver")) for e in timeline(ctx, incident_id)]
    assert kinds == [("action_requested", None), ("action_approved", "bob"), ("action_executed", "bob")]


def test_an_approval_nobody_gives_times_out(ctx: AppContext, hooks: WebhookReceiver, clock: FrozenClock) -> None:
    catalog = make_catalog(hooks)
    incident_id = declare(ctx)
    row = ask(ctx, catalog, incident_id, "db.replica_routing")
    clock.advance(timedelta(minutes=15))
    with pytest.raises(Conflict) as late, ctx.write() as session:  # before the job ran
        approvals.approve(session, execution_id=row.id, approver="bob", now=ctx.clock.now())
    assert late.value.code == "approval_timed_out"
    sender = make_sender(ctx)
    engine = Engine(ctx, sender, config=EngineConfig(delivery_workers=1), worker_id="test")
    try:
        engine.run_until_idle()
    finally:
        sender.close()
    stored = execution(ctx, row.id)
    assert stored.status == Status.TIMED_OUT and stored.finished_at == ctx.clock.now()
    assert timeline(ctx, incident_id)[-1].kind == "action_timed_out"
    with pytest.raises(Conflict) as after, ctx.write() as session:
        approvals.approve(session, execution_id=row.id, approver="bob", now=ctx.clock.now())
    assert after.value.code == "approval_timed_out"
    assert workers.run_pending(ctx, actions=catalog) == [] and hooks.requests == []


def test_a_declined_request_never_runs(ctx: AppContext, hooks: WebhookReceiver) -> None:
    catalog = make_catalog(hooks)
    incident_id = declare(ctx)
    row = ask(ctx, catalog, incident_id, "db.replica_routing")
    with ctx.write() as session:
        approvals.decline(session, execution_id=row.id, decider="bob", now=ctx.clock.now())
    assert workers.run_pending(ctx, actions=catalog) == []
    assert execution(ctx, row.id).status == Status.DECLINED
    assert timeline(ctx, incident_id)[-1].data["declined_by"] == "bob"


# guard rails


def signal(ctx: AppContext, incident_id: int) -> list[ActionExecution]:
    with ctx.write() as session:
        incident = incidents.get(session, incident_id=incident_id)
        rows = automation.on_signal(
            session,
            incident=incident,
            facts={"malformed_events": "dead_letter"},
            triggered_by="signal:integration:1/abc",
            now=ctx.clock.now(),
        )
        session.flush()
        for row in rows:
            session.expunge(row)
        return rows


def test_automatic_actions_run_once_until_the_incident_is_resolved(ctx: AppContext, hooks: WebhookReceiver) -> None:
    catalog = make_catalog(hooks)
    incident_id = declare(ctx, "RB-003")
    [first] = signal(ctx, incident_id)
    assert first.status == Status.QUEUED and first.requested_by == "rule:RB-003/automation/0"
    workers.run_pending(ctx, actions=catalog)
    [flap] = signal(ctx, incident_id)  # the signal flaps: no second run
    assert flap.status == Status.BLOCKED and flap.output == {"reason": "once_per_incident"}
    assert workers.run_pending(ctx, actions=catalog) == [] and len(hooks.requests) == 1
    now = ctx.clock.now()
    with ctx.write() as session:
        incidents.resolve(session, incident_id=incident_id, confirmed_by="a", evidence="ok", actor="a", now=now)
    with ctx.write() as session:
        to = IncidentStatus.INVESTIGATING
        incidents.transition(session, incident_id=incident_id, to=to, note="relapse", actor="a", now=now)
    [again] = signal(ctx, incident_id)
    assert again.status == Status.QUEUED


def test_one_execution_per_concurrency_key_at_a_time(ctx: AppContext, hooks: WebhookReceiver) -> None:
    catalog = make_catalog(hooks)
    incident_id = declare(ctx)
    first = ask(ctx, catalog, incident_id)
    second = ask(ctx, catalog, incident_id, who="bob")
    with ctx.write() as session:  # the first is running (claimed, not finished)
        assert service.claim(session, execution_id=first.id, actions=catalog, now=ctx.clock.now()) is not None
    assert workers.execute(ctx, second.id, actions=catalog) is None
    stored = execution(ctx, second.id)
    assert stored.status == Status.BLOCKED and stored.output == {"reason": "concurrency"}
    assert "checkout/cache.safe_mode" in (stored.error or "")


def test_the_circuit_breaker_opens_after_three_failures_and_resets(ctx: AppContext, hooks: WebhookReceiver) -> None:
    hooks.respond_with([500, 500, 500])
    catalog = make_catalog(hooks)
    incident_id = declare(ctx)
    for _ in range(3):
        ask(ctx, catalog, incident_id)
        workers.run_pending(ctx, actions=catalog)
    blocked = ask(ctx, catalog, incident_id)
    assert blocked.status == Status.BLOCKED and blocked.output == {"reason": "circuit_open"}
    assert "circuit_open" in [e.kind.removeprefix("action_") for e in timeline(ctx, incident_id)]
    with ctx.write() as session:
        service.reset_breaker(session, action="cache.safe_mode", now=ctx.clock.now())
    assert ask(ctx, catalog, incident_id).status == Status.QUEUED
    [done] = workers.run_pending(ctx, actions=catalog)
    assert done.status is Status.SUCCEEDED and len(hooks.requests) == 4


# built-ins that declare what the framework enforces


@pytest.fixture
def stub_create_index(monkeypatch: pytest.MonkeyPatch) -> list[ActionCall[Any]]:
    """`pg.create_index` keeps its declaration (approval only) but builds nothing: the calls are recorded."""
    calls: list[ActionCall[Any]] = []

    def build(call: ActionCall[Any]) -> ActionOutcome:
        calls.append(call)
        return ActionOutcome(Result.SUCCEEDED, "built")

    real = load_builtins()["pg.create_index"]
    monkeypatch.setitem(REGISTRY, "pg.create_index", dataclasses.replace(real, run=build))
    return calls


def test_pg_create_index_never_runs_without_a_second_persons_approval(
    ctx: AppContext, hooks: WebhookReceiver, stub_create_index: list[ActionCall[Any]]
) -> None:
    lowered = {"name": "pg.create_index", "mode": "manual"}  # an actions file cannot lower a built-in's approval
    catalog = make_catalog(hooks, lowered)
    assert catalog.get("pg.create_index", "checkout").mode is Mode.APPROVAL
    incident_id = declare(ctx)
    params = {"table": "orders", "columns": ["status"]}
    row = ask(ctx, catalog, incident_id, "pg.create_index", params=params)
    assert (row.mode, row.status) == (Mode.APPROVAL, Status.PENDING_APPROVAL)
    with ctx.write() as session:  # automation (no catalog at hand) asking for it gets no further
        automatic = service.request(
            session,
            action="pg.create_index",
            incident_id=incident_id,
            service=None,
            params=params,
            requested_by="rule:RB-002/automation/9",
            triggered_by="schedule",
            now=ctx.clock.now(),
            mode=Mode.AUTOMATIC,
        )
        assert (automatic.mode, automatic.status) == (Mode.APPROVAL, Status.PENDING_APPROVAL)
        forced = service.request(  # and a row queued behind the framework's back is put back to wait
            session,
            action="pg.create_index",
            incident_id=incident_id,
            service=None,
            params=params,
            requested_by="alice",
            triggered_by="person:alice",
            now=ctx.clock.now(),
        )
        forced.status, forced.mode, forced.expires_at = Status.QUEUED, Mode.MANUAL, None
        forced_id = forced.id
    assert workers.run_pending(ctx, actions=catalog) == [] and stub_create_index == []
    assert execution(ctx, forced_id).status == Status.PENDING_APPROVAL
    with pytest.raises(Conflict) as refused, ctx.write() as session:
        approvals.approve(session, execution_id=row.id, approver="alice", now=ctx.clock.now())
    assert refused.value.code == "self_approval"
    with ctx.write() as session:
        approvals.approve(session, execution_id=row.id, approver="bob", now=ctx.clock.now())
    [done] = workers.run_pending(ctx, actions=catalog)
    assert (done.execution_id, done.status) == (row.id, Status.SUCCEEDED)
    [call] = stub_create_index
    assert call.params.table == "orders" and call.triggered_by == "person:alice"
    assert execution(ctx, row.id).approved_by == "bob"


def scheduled_chains(ctx: AppContext) -> list[str]:
    with ctx.read() as session:
        return list(session.scalars(select(Job.dedup_key).where(Job.kind == automation.SCHEDULED)))


def test_pg_plan_diff_is_scheduled_by_the_analyzer_only(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_builtins()["pg.plan_diff"].own_schedule
    incident_id = declare(ctx, "RB-002")  # RB-002: pg.plan_diff, automatic, schedule_minutes: 60
    assert scheduled_chains(ctx) == []  # the analyzer's own `analyzer.check` runs it: no second schedule
    with ctx.write() as session:  # a chain left from before does not run it either
        incident = incidents.get(session, incident_id=incident_id)
        automation.scheduled(session, payload={"incident_id": incident_id, "index": 0}, now=ctx.clock.now())
        assert automation.on_signal(session, incident=incident, facts={}, triggered_by="x", now=ctx.clock.now()) == []
    assert scheduled_chains(ctx) == []
    with ctx.read() as session:
        assert session.scalars(select(ActionExecution)).all() == []

    # Any other scheduled automation starts with the declaration and runs while the incident is open.
    framework_run = dataclasses.replace(load_builtins()["pg.plan_diff"], own_schedule=False)
    monkeypatch.setitem(REGISTRY, "pg.plan_diff", framework_run)
    second = declare(ctx, "RB-002")
    assert scheduled_chains(ctx) == [f"{automation.SCHEDULED}:{second}:0"]
