"""Release rules without a database: verdicts, freezes in force, rollback templates, automatic rollback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from missionctl.actions.catalog import ActionCatalog
from missionctl.actions.runner import Refused
from missionctl.actions.schemas import ActionsFile
from missionctl.errors import InvalidInput
from missionctl.releases import actions, config, rules
from missionctl.releases.rules import SettleFacts, Verdict

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def facts(**changes: object) -> SettleFacts:
    base = {
        "verdict": Verdict.PENDING,
        "settles_at": T0,
        "probe_healthy": True,
        "incident_since_deploy": None,
        "superseded_by": None,
    }
    return SettleFacts(**{**base, **changes})  # type: ignore[arg-type]


def test_a_release_is_healthy_once_its_probe_passes_after_the_settle_period() -> None:
    assert rules.settle(facts(), T0 - timedelta(seconds=1)) is None
    decided = rules.settle(facts(), T0)
    assert decided is not None and decided.verdict is Verdict.HEALTHY


@pytest.mark.parametrize(
    "changes",
    [{"probe_healthy": False}, {"superseded_by": "2.0.0"}, {"verdict": Verdict.ROLLED_BACK}],
)
def test_no_verdict_while_failing_superseded_or_already_decided(changes: dict[str, object]) -> None:
    assert rules.settle(facts(**changes), T0 + timedelta(hours=1)) is None


def test_an_rb001_incident_before_it_settled_fails_the_release() -> None:
    decided = rules.settle(facts(incident_since_deploy=7), T0 - timedelta(minutes=1))
    assert decided is not None and decided.verdict is Verdict.FAILED and "INC-7" in decided.reason


def test_a_freeze_is_in_force_from_its_start_until_its_end_or_lift() -> None:
    window = {"starts_at": T0, "ends_at": T0 + timedelta(hours=1)}
    assert not rules.freeze_in_force(**window, lifted_at=None, now=T0 - timedelta(seconds=1))
    assert rules.freeze_in_force(**window, lifted_at=None, now=T0)
    assert not rules.freeze_in_force(**window, lifted_at=None, now=T0 + timedelta(hours=1))
    assert not rules.freeze_in_force(starts_at=T0, ends_at=None, lifted_at=T0 + timedelta(1), now=T0 + timedelta(2))
    assert rules.freeze_in_force(starts_at=T0, ends_at=None, lifted_at=None, now=T0 + timedelta(days=365))


def test_rollback_templates_may_name_release_fields_and_secrets_only() -> None:
    assert {"last_healthy.version", "current_release.artifact_digest", "incident.id"} <= rules.ROLLBACK_VARIABLES
    with pytest.raises(InvalidInput, match=r"unknown placeholder \$\{env.TOKEN\}"):
        config.parse(
            "services:\n  checkout:\n    rollback: {kind: http, url: 'https://x.example/${env.TOKEN}'}\n", "r.yaml"
        )


def test_a_rollback_is_planned_by_the_action_runner_with_the_actions_file_secrets_masked() -> None:
    spec = config.HttpRollback.model_validate(
        {
            "kind": "http",
            "url": "https://argo.example/api/v1/rollouts/${service}/undo",
            "headers": {"Authorization": "Bearer ${secret:argo_token}"},
            "json": {"revision": "${last_healthy.version}"},
        }
    )
    file = ActionsFile.model_validate({"secrets": {"argo_token": {"env": "ARGO_TOKEN"}}})
    catalog = ActionCatalog(file, "test", environ={"ARGO_TOKEN": "tok-1"})
    variables = {"service": "checkout", "last_healthy": {"version": "7"}}
    plan = actions.prepare(spec, variables, catalog)
    assert plan.http is not None and plan.http["headers"]["Authorization"] == "Bearer tok-1"
    assert plan.preview["headers"] == {"Authorization": "Bearer ***"}
    assert plan.preview["json"] == {"revision": "7"}
    with pytest.raises(Refused, match="argo_token"):
        actions.prepare(spec, variables, ActionCatalog(file, "test", environ={}))


def test_a_rollback_command_runs_only_if_the_actions_file_allows_it() -> None:
    spec = config.CommandRollback.model_validate({"kind": "command", "argv": ["helm", "rollback", "${service}"]})
    assert spec.timeout_seconds == 600
    with pytest.raises(Refused) as refused:
        actions.prepare(spec, {"service": "checkout"}, ActionCatalog())
    assert refused.value.code == "command_not_allowed"
    allowed = ActionCatalog(ActionsFile.model_validate({"commands": ["helm"]}), "test")
    assert actions.prepare(spec, {"service": "checkout"}, allowed).argv == ["helm", "rollback", "checkout"]


def test_the_releases_file_takes_plain_urls_and_refuses_unknown_placeholders() -> None:
    parsed = config.parse(
        "services:\n  checkout:\n    rollback: {kind: command, argv: [kubectl, rollout, undo, deploy/checkout]}\n"
        "    synthetic_checks: [https://checkout.internal/api/cart]\n",
        "releases.yaml",
    )
    assert str(parsed.for_service("checkout").synthetic_checks[0].url) == "https://checkout.internal/api/cart"
    assert parsed.for_service("other").rollback is None
    with pytest.raises(InvalidInput, match=r"releases.yaml: services.checkout.rollback.command: .*last_good"):
        config.parse(
            "services:\n  checkout:\n    rollback: {kind: command, argv: [helm, rollback, '${last_good.version}']}\n",
            "releases.yaml",
        )


def test_only_a_failing_probe_counts_and_only_an_unsettled_release_is_rolled_back_automatically() -> None:
    assert rules.probe_failures(status="failing", consecutive_failures=3) == 3
    assert rules.probe_failures(status="unknown", consecutive_failures=3) == 0  # unknown never makes it fail
    assert rules.probe_failures(status=None, consecutive_failures=0) == 0
    assert rules.automatic_rollback_refusal(Verdict.FAILED) is None
    assert rules.automatic_rollback_refusal(Verdict.PENDING) is None
    assert "settle" in str(rules.automatic_rollback_refusal(Verdict.HEALTHY))
    assert "already" in str(rules.automatic_rollback_refusal(Verdict.ROLLED_BACK))
    assert rules.automatic_rollback_refusal(None) is not None
