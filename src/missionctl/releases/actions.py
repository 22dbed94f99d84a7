"""RB-001's built-in actions: `deploy.freeze`, `deploy.rollback` and `synthetic.check`.

Each keeps the contract in `missionctl.actions.builtin`: a dry run only describes, network and subprocess work
happens outside any transaction, and the outcome is for the framework to record (`action_executed`). Domain facts
(a release rolled back, the probes passing again) are noted on the incident's timeline here, as they happen.

`deploy.rollback` runs the service's rollback from the releases file through the framework's runner (the
actions file's allowed commands and secrets, no shell, its timeout, secrets masked), then keeps the ledger and
verifies the readiness probe. Requested automatically (a readiness signal), it first asks the ledger whether
the release running is one to roll back (`rules.automatic_rollback_refusal`) and is `skipped` when it is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from missionctl.actions import runner
from missionctl.actions.builtin import ActionCall, ActionOutcome, Result, builtin, template_variables
from missionctl.actions.catalog import ActionCatalog, catalog_for
from missionctl.actions.rules import Kind
from missionctl.context import AppContext
from missionctl.deployments import service as deployments
from missionctl.deployments.models import Deployment
from missionctl.detectors.config import load_detectors
from missionctl.detectors.probe import Prober
from missionctl.detectors.schemas import ProbeDetector
from missionctl.incidents.models import Incident
from missionctl.incidents.timeline import note
from missionctl.releases import config, execute, hooks, rules, service
from missionctl.releases.config import CommandRollback, HttpRollback, ServiceReleases
from missionctl.releases.rules import Verdict

ROLLBACK = "deploy.rollback"
AUTOMATIC_TRIGGERS = ("signal:", "schedule")  # no person asked: the ledger decides whether to roll back at all


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FreezeParams(_Params):
    reason: str | None = Field(default=None, max_length=500, description="Default: the incident's title")
    minutes: int | None = Field(default=None, ge=1, description="Default: until the incident resolves")


class RollbackParams(_Params):
    to_deployment_id: int | None = Field(default=None, description="Default: the last known healthy release")
    verify: bool = Field(default=True, description="Probe the readiness URL until it passes again")


class SyntheticParams(_Params):
    pass


def _service(call: ActionCall[Any]) -> str:
    if call.service is None:
        raise ValueError("this action needs a service")
    return call.service


def _settings_for(ctx: AppContext, service_id: str) -> ServiceReleases:
    return config.load(ctx.settings.releases_file).for_service(service_id)


def _note(
    session: Session, incident_id: int | None, kind: str, summary: str, call: ActionCall[Any], **data: Any
) -> None:
    incident = session.get(Incident, incident_id) if incident_id is not None else None
    if incident is not None:
        note(session, incident, call.ctx.clock.now(), kind, summary, **data)


# --- deploy.freeze ---------------------------------------------------------------------------------------------------


@builtin("deploy.freeze", params=FreezeParams, summary="Freeze deployments of the service")
def deploy_freeze(call: ActionCall[FreezeParams]) -> ActionOutcome:
    service_id = _service(call)
    ends_at = call.now + timedelta(minutes=call.params.minutes) if call.params.minutes else None
    until = f"until {ends_at.isoformat()}" if ends_at else "until the incident resolves"
    if call.dry_run:
        return ActionOutcome(Result.DRY_RUN, f"Would freeze deployments of {service_id} {until}")
    with call.ctx.write() as session:
        if call.incident_id is not None:
            existing = service.freeze_of_incident(session, incident_id=call.incident_id)
            if existing is not None:
                return ActionOutcome(
                    Result.SKIPPED, f"Deployments of {service_id} already frozen (freeze {existing.id})"
                )
        incident = session.get(Incident, call.incident_id) if call.incident_id is not None else None
        reason = call.params.reason or (f"INC-{incident.id}: {incident.title}" if incident else "frozen by an action")
        row = service.freeze(
            session,
            service_id=service_id,
            reason=reason,
            starts_at=call.now,
            ends_at=ends_at,
            incident_id=call.incident_id,
            actor=call.triggered_by,
            now=call.now,
        )
        return ActionOutcome(
            Result.SUCCEEDED, f"Deployments of {service_id} frozen {until} (freeze {row.id})", {"freeze_id": row.id}
        )


# --- deploy.rollback -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollbackPlan:
    environment: str
    failed: Deployment
    target: Deployment
    incident: dict[str, object]  # the incident's template fields (empty without an incident)


def plan_rollback(
    session: Session,
    *,
    service_id: str,
    environment: str,
    to_deployment_id: int | None,
    call: ActionCall[RollbackParams],
) -> RollbackPlan | ActionOutcome:
    """From the release running now to the last known healthy one (or the one asked for), or why not."""
    failed = service.current(session, service_id=service_id, environment=environment, at=call.now)
    if call.triggered_by.startswith(AUTOMATIC_TRIGGERS):
        verdict = service.verdict_of(session, failed.id) if failed is not None else None
        refusal = rules.automatic_rollback_refusal(Verdict(verdict.verdict) if verdict is not None else None)
        if refusal is not None:  # nothing for an automatic rollback to do: not a failure of the action
            return ActionOutcome(Result.SKIPPED, f"No automatic rollback: {refusal}")
    if failed is None:
        return _cannot(f"no release of {service_id} to {environment} is recorded: nothing to roll back from")
    if to_deployment_id is not None:
        target = session.get(Deployment, to_deployment_id)
        if target is None or target.service_id != service_id:
            return _cannot(f"release {to_deployment_id} is not a release of {service_id}")
    else:
        target = service.last_known_healthy(
            session, service_id=service_id, environment=environment, exclude_digest=failed.artifact_digest
        )
        if target is None:
            return _cannot(f"no earlier release of {service_id} to {environment} has a healthy verdict: no target")
    return RollbackPlan(environment, failed, target, _incident_fields(session, call.incident_id))


def _cannot(why: str) -> ActionOutcome:
    return ActionOutcome(Result.FAILED, f"Cannot roll back: {why}")


def _incident_fields(session: Session, incident_id: int | None) -> dict[str, object]:
    incident = session.get(Incident, incident_id) if incident_id is not None else None
    if incident is None:
        return dict.fromkeys(rules.INCIDENT_FIELDS, "")
    return {name: getattr(incident, name) for name in rules.INCIDENT_FIELDS}


def rollback_variables(plan: RollbackPlan, service_id: str, call: ActionCall[Any]) -> dict[str, Any]:
    """What the rollback's `${...}` placeholders name (see `rules.ROLLBACK_VARIABLES`)."""
    return {
        "service": service_id,
        "environment": plan.environment,
        "action": ROLLBACK,
        "triggered_by": call.triggered_by,
        "incident": plan.incident,
        "last_healthy": _fields(plan.target),
        "current_release": _fields(plan.failed),
    }


def prepare(spec: CommandRollback | HttpRollback, variables: dict[str, Any], actions: ActionCatalog) -> runner.Plan:
    """The framework's plan of the rollback: templates filled, secrets of the actions file, its allowed commands."""
    if isinstance(spec, CommandRollback):
        return runner.plan_command(spec, variables, actions.secret, allowed=actions.allowed, environ=actions.environ)
    return runner.plan_http(spec, variables, actions.secret)


@builtin("deploy.rollback", params=RollbackParams, summary="Roll back to the last known healthy release artifact")
def deploy_rollback(call: ActionCall[RollbackParams]) -> ActionOutcome:
    service_id = _service(call)
    settings = _settings_for(call.ctx, service_id)
    if settings.rollback is None:
        return ActionOutcome(Result.FAILED, f"No rollback is configured for {service_id} (releases file)")
    with call.ctx.read() as session:
        plan = plan_rollback(
            session,
            service_id=service_id,
            environment=settings.environment,
            to_deployment_id=call.params.to_deployment_id,
            call=call,
        )
    if isinstance(plan, ActionOutcome):
        return plan
    actions = call.actions if call.actions is not None else catalog_for(call.ctx.settings)
    try:
        prepared = prepare(settings.rollback, rollback_variables(plan, service_id, call), actions)
    except runner.Refused as exc:
        return ActionOutcome(Result.FAILED, f"Cannot roll back: {exc}", {"reason": exc.code})
    what = f"{service_id} from {plan.failed.version} to {plan.target.version} ({plan.target.artifact_digest})"
    output: dict[str, Any] = {"request": prepared.preview, "from": _release(plan.failed), "to": _release(plan.target)}
    if call.dry_run:
        return ActionOutcome(Result.DRY_RUN, f"Would roll back {what}: {_describe(prepared)}", output)
    executed = execute.rollback(prepared)
    output |= {"detail": executed.detail, "result": executed.output, "seconds": round(executed.seconds, 3)}
    _record_rollback(call, plan, executed, settings)
    if not executed.ok:
        return ActionOutcome(Result.FAILED, f"Rollback of {what} failed: {executed.detail}", output)
    return _verified_outcome(call, service_id, settings, what, output)


def _verified_outcome(
    call: ActionCall[RollbackParams], service_id: str, settings: ServiceReleases, what: str, output: dict[str, Any]
) -> ActionOutcome:
    if not call.params.verify:
        return ActionOutcome(Result.SUCCEEDED, f"Rolled back {what}", output)
    verified = _verify(call, service_id, settings)
    if verified is None:
        return ActionOutcome(Result.SUCCEEDED, f"Rolled back {what}; no readiness URL to verify with", output)
    output |= {
        "verified": verified.recovered,
        "verify_checks": verified.checks,
        "verify_seconds": round(verified.seconds, 3),
    }
    if not verified.recovered:
        return ActionOutcome(
            Result.FAILED, f"Rolled back {what}, but the readiness probe still fails ({verified.last})", output
        )
    return ActionOutcome(Result.SUCCEEDED, f"Rolled back {what}; readiness passes again", output)


def _release(release: Deployment) -> dict[str, object]:
    return {"id": release.id, "version": release.version, "artifact_digest": release.artifact_digest}


def _describe(prepared: runner.Plan) -> str:
    if prepared.kind is Kind.COMMAND:
        return " ".join(prepared.preview["argv"])
    return f"{prepared.preview['method']} {prepared.preview['url']}"


def _record_rollback(
    call: ActionCall[RollbackParams], plan: RollbackPlan, executed: execute.Executed, settings: ServiceReleases
) -> None:
    """The ledger: the rollback is a release of the healthy artifact; the release it replaced is rolled back."""
    now = call.ctx.clock.now()
    with call.ctx.write() as session:
        if not executed.ok:
            _note(
                session,
                call.incident_id,
                "rollback_failed",
                f"Rollback to {plan.target.version} failed: {executed.detail}",
                call,
                output=executed.output,
            )
            return
        service.mark(
            session,
            deployment_id=plan.failed.id,
            verdict=Verdict.ROLLED_BACK,
            reason=f"rolled back to {plan.target.version}",
            now=now,
        )
        redeployed = deployments.record(
            session,
            service_id=plan.target.service_id,
            version=plan.target.version,
            artifact_digest=plan.target.artifact_digest,
            environment=plan.environment,
            deployed_by=f"missionctl rollback ({call.triggered_by})"[:200],
            deployed_at=None,
            url=None,
            now=now,
        )
        settle = (
            settings.settle_seconds if settings.settle_seconds is not None else call.ctx.settings.release_settle_seconds
        )
        service.start_verdict(session, deployment=redeployed, settle_seconds=settle)
        _note(
            session,
            call.incident_id,
            "release_rolled_back",
            f"Rolled back {plan.failed.service_id} from {plan.failed.version} to {plan.target.version} "
            f"({plan.target.artifact_digest}) in {executed.seconds:.1f} s ({executed.detail})",
            call,
            failed=_release(plan.failed),
            target=_release(plan.target),
            deployment_id=redeployed.id,
        )


def readiness_url(ctx: AppContext, service_id: str, settings: ServiceReleases) -> str | None:
    """The releases file's `readiness_url`, else the URL of the service's RB-001 http_probe detector."""
    if settings.readiness_url is not None:
        return str(settings.readiness_url)
    if ctx.settings.detectors_file is None:
        return None
    for detector in load_detectors(ctx.settings.detectors_file, ctx.runbooks):
        if detector.service == service_id and isinstance(detector.detector, ProbeDetector):
            return str(detector.detector.url)
    return None


def _verify(call: ActionCall[RollbackParams], service_id: str, settings: ServiceReleases) -> execute.Verified | None:
    url = readiness_url(call.ctx, service_id, settings)
    if url is None:
        return None
    prober = Prober()
    try:
        verified = execute.verify(url, settings.verify, prober=prober)
    finally:
        prober.close()
    with call.ctx.write() as session:
        if verified.recovered:
            passes, seconds = settings.verify.successes, verified.seconds
            summary = f"Recovered: {url} passed {passes} checks in a row {seconds:.1f} s after the rollback"
        else:
            summary = f"Not recovered: {url} still failing after {verified.checks} checks ({verified.last})"
        kind = "rollback_verified" if verified.recovered else "rollback_not_verified"
        _note(
            session,
            call.incident_id,
            kind,
            summary,
            call,
            url=url,
            checks=verified.checks,
            seconds=round(verified.seconds, 3),
        )
    return verified


# --- synthetic.check -------------------------------------------------------------------------------------------------


@builtin("synthetic.check", params=SyntheticParams, summary="Check the service's key endpoints (blast radius)")
def synthetic_check(call: ActionCall[SyntheticParams]) -> ActionOutcome:
    service_id = _service(call)
    checks = _settings_for(call.ctx, service_id).synthetic_checks
    if not checks:
        return ActionOutcome(Result.SKIPPED, f"No synthetic checks are configured for {service_id} (releases file)")
    if call.dry_run:
        return ActionOutcome(
            Result.DRY_RUN, f"Would GET {len(checks)} endpoints of {service_id}", {"urls": [str(c.url) for c in checks]}
        )
    results = execute.synthetic(checks)
    failing = [r for r in results if not r.ok]
    passed = len(results) - len(failing)
    summary = f"Synthetic checks of {service_id}: {passed}/{len(results)} passed"
    if failing:
        summary += "; failing: " + ", ".join(f"{r.name} ({r.status_code or r.error})" for r in failing[:5])
    output = {"passed": passed, "failed": len(failing), "results": [r.__dict__ for r in results]}
    return ActionOutcome(Result.SUCCEEDED, summary[:1000], output)  # failing endpoints are findings, not errors


# --- template variables for http and command actions of the actions file ----------------------------------------------


def _watched(session: Session, service_id: str | None) -> tuple[Deployment | None, Deployment | None]:
    """(current release, last known healthy one) in the environment the service's verdicts are kept for."""
    if service_id is None:
        return None, None
    verdict = hooks.current_verdict(session, service_id)
    if verdict is None:
        return None, None
    current = session.get(Deployment, verdict.deployment_id)
    digest = current.artifact_digest if current is not None else None
    healthy = service.last_known_healthy(
        session, service_id=service_id, environment=verdict.environment, exclude_digest=digest
    )
    return current, healthy


def _fields(release: Deployment | None) -> dict[str, object]:
    if release is None:
        return {}
    return {
        "id": release.id,
        "version": release.version,
        "artifact_digest": release.artifact_digest,
        "environment": release.environment,
        "deployed_at": release.deployed_at.isoformat(),
    }


@template_variables("last_healthy")
def last_healthy_variables(session: Session, service_id: str | None, incident_id: int | None) -> dict[str, object]:
    """`${last_healthy.version}`, `${last_healthy.artifact_digest}`, ...: the rollback target."""
    return _fields(_watched(session, service_id)[1])


@template_variables("current_release")
def current_release_variables(session: Session, service_id: str | None, incident_id: int | None) -> dict[str, object]:
    """`${current_release.version}`, ...: the release running now (the one a rollback replaces)."""
    return _fields(_watched(session, service_id)[0])
