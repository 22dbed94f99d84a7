"""The actions file: format and reference problems at file:line:column, the catalogue, runbook checks."""

from __future__ import annotations

import textwrap

import pytest
from pydantic import BaseModel, ConfigDict

from missionctl.actions.builtin import REGISTRY, ActionOutcome, BuiltinAction, Result
from missionctl.actions.catalog import ActionCatalog
from missionctl.actions.config import parse_actions
from missionctl.actions.lint import runbook_problems
from missionctl.errors import InvalidInput
from missionctl.runbooks.lint import parse_text
from missionctl.runbooks.loader import load_registry

GOOD = """\
secrets:
  router_token: {env: ROUTER_TOKEN}
commands: [kubectl]
actions:
  - name: db.replica_routing
    mode: approval
    params:
      endpoints: {type: string, default: non-critical}
    http:
      method: POST
      url: https://db-router.internal/api/${service}/routing
      headers: {Authorization: "Bearer ${secret:router_token}"}
      json: {endpoints: "${params.endpoints}", incident: "${incident.id}"}
  - name: consumers.pause
    params:
      consumer: {type: string, required: true, pattern: "^[a-z0-9-]+$"}
    command:
      argv: [kubectl, scale, "deployment/${params.consumer}", --replicas=0, -n, "${service}"]
      env: [KUBECONFIG]
"""


def problems(text: str) -> list[str]:
    return [str(p) for p in parse_actions(textwrap.dedent(text), "actions.yaml")[1]]


def test_a_good_file_has_no_problems() -> None:
    loaded, found = parse_actions(GOOD, "actions.yaml")
    assert found == [] and loaded is not None
    catalog = ActionCatalog(loaded.file)
    spec = catalog.get("consumers.pause", "checkout")
    assert spec.validate_params({"consumer": "billing-worker"}).model_dump() == {"consumer": "billing-worker"}
    with pytest.raises(InvalidInput) as refused:
        spec.validate_params({"consumer": "x; rm -rf /"})
    assert refused.value.code == "invalid_params"
    with pytest.raises(InvalidInput):
        spec.validate_params({"consumer": "a", "extra": 1})


def test_unknown_keys_are_reported_where_they_are() -> None:
    found = problems(
        """\
        actions:
          - name: cache.safe_mode
            http: {url: "https://x/", methd: POST}
        """
    )
    assert found == ["actions.yaml:3:31: actions.0.http.methd: unknown key 'methd' (did you mean 'method'?)"]


def test_commands_must_be_allowlisted_and_written_out() -> None:
    found = problems(
        """\
        commands: [kubectl]
        actions:
          - name: consumers.pause
            command: {argv: [sh, -c, "kill ${params.pid}"]}
          - name: consumers.resume
            command: {argv: ["${params.tool}"]}
        """
    )
    assert any("4:" in p and "command 'sh' is not allowed" in p for p in found), found
    assert any("argv[0]) must be written out" in p for p in found), found
    assert any("unknown parameter ${params.pid}" in p for p in found), found


def test_secret_and_variable_references_are_checked() -> None:
    found = problems(
        """\
        actions:
          - name: cache.safe_mode
            http:
              url: "https://cache/${service}/${incident.owner}"
              headers: {X-Token: "${secret:missing}"}
        """
    )
    assert any("actions.0.http.url: unknown variable ${incident.owner}" in p for p in found), found
    assert any(":5:" in p and "secret 'missing' is not declared" in p for p in found), found


def test_duplicate_entries_and_unknown_builtins() -> None:
    found = problems(
        """\
        actions:
          - {name: cache.safe_mode, http: {url: "https://a/"}}
          - {name: cache.safe_mode, http: {url: "https://b/"}}
          - {name: no.such_builtin}
        """
    )
    assert any("already configured for every service" in p for p in found), found
    assert any("no built-in action 'no.such_builtin'" in p for p in found), found


def test_a_service_specific_entry_wins() -> None:
    loaded, _ = parse_actions(
        """\
actions:
  - {name: cache.safe_mode, http: {url: "https://general/"}}
  - {name: cache.safe_mode, service: search, http: {url: "https://search/"}}
""",
        "actions.yaml",
    )
    assert loaded is not None
    catalog = ActionCatalog(loaded.file)
    assert catalog.get("cache.safe_mode", "search").http.url == "https://search/"  # type: ignore[union-attr]
    assert catalog.get("cache.safe_mode", "checkout").http.url == "https://general/"  # type: ignore[union-attr]


def test_check_against_runbooks_names_unconfigured_actions() -> None:
    loaded, _ = parse_actions(GOOD, "actions.yaml")
    assert loaded is not None
    found = [str(p) for p in runbook_problems(ActionCatalog(loaded.file), load_registry([]), "actions.yaml")]
    assert any("RB-002.first_response.steps.2.action: cache.safe_mode is neither" in p for p in found), found
    assert not any("db.replica_routing" in p or "consumers.pause" in p for p in found), found


class _Minutes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    minutes: int = 5


def test_runbook_lint_checks_builtin_automation_params(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = BuiltinAction("test.lint_probe", _Minutes, "for tests", lambda call: ActionOutcome(Result.SUCCEEDED, "ok"))
    monkeypatch.setitem(REGISTRY, probe.name, probe)

    text = textwrap.dedent(
        """\
        id: RB-900
        title: t
        summary: s
        trigger: {summary: s}
        first_response: {steps: [{title: a}]}
        escalation: {summary: s, targets: [{team: a}]}
        recovery_slo: {summary: s, minutes: 5}
        automation:
          - summary: s
            action: test.lint_probe
            params: {minutes: soon, hours: 1}
        """
    )
    found = [str(p) for p in parse_text(text, "RB-900.yaml").problems]
    assert "RB-900.yaml:11:23: automation.0.params.minutes: test.lint_probe: " in found[0], found
    assert any("automation.0.params.hours" in p for p in found), found
