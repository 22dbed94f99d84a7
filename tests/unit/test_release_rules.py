"""Release rules without a database: verdicts, freezes in force, rollback templates, automatic rollback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from missionctl.errors import InvalidInput
from missionctl.releases import config, execute, rules
from missionctl.releases.rules import AutoRollbackFacts, SettleFacts, Verdict

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


def test_templates_fill_release_fields_and_name_what_is_missing() -> None:
    values = {"service": "checkout", "last_healthy.version": "1.4.0"}
    assert rules.render("helm rollback ${service} ${last_healthy.version}", values) == "helm rollback checkout 1.4.0"
    with pytest.raises(ValueError, match=r"\$\{last_healthy.artifact_digest\}"):
        rules.render("${last_healthy.artifact_digest}", values)
    assert rules.unknown_variables(["${last_healthy.version}", "${env.TOKEN}", "${last_good.version}"]) == [
        "last_good.version"
    ]
    assert rules.mask("Bearer s3cr3t and s3cr3t", ["s3cr3t"]) == "Bearer *** and ***"


def test_prepare_reads_env_secrets_and_masks_them_in_what_it_shows() -> None:
    spec = config.HttpRollback.model_validate(
        {
            "kind": "http",
            "url": "https://argo.example/api/v1/rollouts/${service}/undo",
            "headers": {"Authorization": "Bearer ${env.ARGO_TOKEN}"},
            "json": {"revision": "${last_healthy.version}"},
        }
    )
    prepared = execute.prepare(spec, {"service": "checkout", "last_healthy.version": "7"}, {"ARGO_TOKEN": "tok-1"})
    assert prepared.headers["Authorization"] == "Bearer tok-1"
    assert prepared.shown()["headers"] == {"Authorization": "Bearer ***"}
    assert prepared.shown()["json"] == {"revision": "7"}
    with pytest.raises(ValueError, match="ARGO_TOKEN"):
        execute.prepare(spec, {"service": "checkout", "last_healthy.version": "7"}, {})


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


def auto(**changes: object) -> AutoRollbackFacts:
    base = {
        "probe_failing": True,
        "consecutive_failures": 3,
        "required_failures": 3,
        "current_verdict": Verdict.FAILED,
        "already_requested": False,
    }
    return AutoRollbackFacts(**{**base, **changes})  # type: ignore[arg-type]


def test_automatic_rollback_needs_three_failures_of_an_unsettled_release_once() -> None:
    assert rules.auto_rollback(auto()) is None
    assert rules.auto_rollback(auto(current_verdict=Verdict.PENDING)) is None
    assert "not 3" in str(rules.auto_rollback(auto(consecutive_failures=2)))
    assert rules.auto_rollback(auto(probe_failing=False)) is not None  # unknown outcomes never make it fail
    assert "already" in str(rules.auto_rollback(auto(already_requested=True)))
    assert "settle" in str(rules.auto_rollback(auto(current_verdict=Verdict.HEALTHY)))
    assert rules.auto_rollback(auto(current_verdict=None)) is not None
