"""Pure action rules: templates and masking, `when:` conditions, the circuit breaker, command plans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from missionctl.actions import templates
from missionctl.actions.masking import mask, truncate
from missionctl.actions.rules import BreakerState, after_result, breaker_open, holds
from missionctl.actions.runner import Refused, plan_command, plan_http
from missionctl.actions.schemas import CommandSpec, HttpSpec

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRETS = {"token": "s3cr3t-value"}
VARS = {"service": "checkout", "incident": {"id": 7, "title": "5xx"}, "params": {"count": 3, "tags": ["a", "b"]}}


def secret(name: str) -> str:
    return SECRETS[name]


def test_render_fills_variables_and_masks_secrets() -> None:
    out = templates.render("Bearer ${secret:token} for ${service} #${incident.id}", VARS, secret)
    assert out.value == "Bearer s3cr3t-value for checkout #7"
    assert out.masked == "Bearer *** for checkout #7"


def test_a_whole_placeholder_keeps_the_value_type() -> None:
    out = templates.render({"count": "${params.count}", "tags": "${params.tags}", "n": 1}, VARS, secret)
    assert out.value == {"count": 3, "tags": ["a", "b"], "n": 1}


def test_unknown_variables_and_secrets_are_errors() -> None:
    with pytest.raises(templates.TemplateError, match=r"unknown variable \$\{incident.owner\}"):
        templates.render("${incident.owner}", VARS, secret)
    with pytest.raises(templates.TemplateError, match="unknown secret"):
        templates.render("${secret:nope}", VARS, secret)


@pytest.mark.parametrize("text", ["${}", "${Bad-Name}", "${unclosed", "${secret:}"])
def test_malformed_placeholders_are_errors(text: str) -> None:
    with pytest.raises(templates.TemplateError):
        templates.references(text)


def test_escape_and_no_second_expansion() -> None:
    out = templates.render("$${service} ${params.x}", {"params": {"x": "${secret:token}"}}, secret)
    assert out.value == "${service} ${secret:token}"  # a parameter's text is never expanded again


def test_references_lists_variables_and_secrets() -> None:
    refs = templates.references({"h": "${secret:token}", "u": ["${service}", "${params.count}"]})
    assert refs.secrets == {"token"} and refs.variables == {"service", "params.count"}


def test_mask_replaces_secret_values_everywhere() -> None:
    value = {"out": "token=s3cr3t-value!", "list": ["s3cr3t-value"], "s3cr3t-value": 1, "n": 2}
    assert mask(value, {"s3cr3t-value", ""}) == {"out": "token=***!", "list": ["***"], "***": 1, "n": 2}


def test_truncate_marks_the_cut() -> None:
    assert truncate("x" * 10, 4) == "xxxx…[truncated]"
    assert truncate("xx", 4) == "xx"


@pytest.mark.parametrize(
    ("when", "facts", "expected"),
    [
        ({"readiness_probe_consecutive_failures": 3}, {"readiness_probe_consecutive_failures": 3}, True),
        ({"readiness_probe_consecutive_failures": 3}, {"readiness_probe_consecutive_failures": 4}, True),
        ({"readiness_probe_consecutive_failures": 3}, {"readiness_probe_consecutive_failures": 2}, False),
        ({"readiness_probe_consecutive_failures": 3}, {}, False),
        ({"signal.source": "detector"}, {"signal": {"source": "detector"}}, True),
        ({"signal.source": "detector"}, {"signal.source": "alertmanager"}, False),
        ({"malformed_events": "dead_letter"}, {"malformed_events": "dead_letter"}, True),
        ({"detector": ["a", "b"]}, {"detector": "b"}, True),
        ({"flag": True}, {"flag": 1}, False),
        ({}, {"anything": 1}, False),
    ],
)
def test_conditions(when: dict[str, object], facts: dict[str, object], expected: bool) -> None:
    assert holds(when, facts) is expected


def test_breaker_opens_after_threshold_and_success_closes_it() -> None:
    state, cooldown = BreakerState(), timedelta(minutes=30)
    for _ in range(2):
        state = after_result(state, succeeded=False, now=NOW, threshold=3, cooldown=cooldown)
        assert not breaker_open(state, NOW)
    state = after_result(state, succeeded=False, now=NOW, threshold=3, cooldown=cooldown)
    assert breaker_open(state, NOW) and not breaker_open(state, NOW + cooldown)
    # half-open after the cool-down: one more failure opens it again at once
    again = after_result(state, succeeded=False, now=NOW + cooldown, threshold=3, cooldown=cooldown)
    assert breaker_open(again, NOW + cooldown)
    assert after_result(again, succeeded=True, now=NOW, threshold=3, cooldown=cooldown) == BreakerState()


def test_command_plan_never_uses_a_shell() -> None:
    spec = CommandSpec(argv=["echo", "${params.name}"], env=["HOME"], secret_env={"TOKEN": "token"})
    variables = {"params": {"name": "x; rm -rf /"}}
    plan = plan_command(spec, variables, secret, allowed=lambda p: p == "echo", environ={"HOME": "/h", "OTHER": "1"})
    assert plan.argv == ["echo", "x; rm -rf /"]  # one argument, as given
    assert plan.env == {"HOME": "/h", "TOKEN": "s3cr3t-value"}  # only the allowlist and the secret
    assert "s3cr3t-value" not in str(plan.preview)


def test_command_not_in_the_allowlist_is_refused() -> None:
    spec = CommandSpec(argv=["rm", "-rf", "/"])
    with pytest.raises(Refused) as refused:
        plan_command(spec, {}, secret, allowed=lambda p: p == "echo")
    assert refused.value.code == "command_not_allowed"


def test_http_plan_quotes_url_values_and_masks_the_preview() -> None:
    spec = HttpSpec.model_validate(
        {
            "url": "https://router.example/api/${service}/${params.path}",
            "headers": {"Authorization": "Bearer ${secret:token}"},
            "json": {"count": "${params.count}", "by": "${secret:token}"},
        }
    )
    plan = plan_http(spec, {"service": "checkout", "params": {"path": "a/b c", "count": 2}}, secret)
    assert plan.http is not None and plan.http["url"] == "https://router.example/api/checkout/a%2Fb%20c"
    assert plan.http["headers"]["Authorization"] == "Bearer s3cr3t-value"
    assert plan.http["json"] == {"count": 2, "by": "s3cr3t-value"}
    assert plan.preview["headers"] == {"Authorization": "Bearer ***"}
    assert plan.preview["json"] == {"count": 2, "by": "***"}
