"""Runbook default detectors (templates) and the detectors file: filling in, and every problem at file:line:column."""

from __future__ import annotations

from pathlib import Path

import pytest

from missionctl.detectors.config import load_detectors, parse_detectors
from missionctl.detectors.schemas import DeployWindowDetector, ProbeDetector, PromQLDetector, SpikeDetector
from missionctl.detectors.templates import DetectorTemplate
from missionctl.errors import InvalidInput
from missionctl.runbooks.lint import lint_paths
from missionctl.runbooks.loader import RunbookRegistry, load_registry
from missionctl.runbooks.schemas import Runbook, json_schema


@pytest.fixture(scope="module")
def runbooks() -> RunbookRegistry:
    return load_registry()


def problems(text: str, runbooks: RunbookRegistry) -> list[str]:
    return [str(problem) for problem in parse_detectors(text, "d.yaml", runbooks)[1]]


# --- the built-in runbooks' defaults -------------------------------------------------------------------------------


def test_builtin_runbooks_express_their_triggers_as_detectors(runbooks: RunbookRegistry) -> None:
    def templates(runbook_id: str) -> dict[str, DetectorTemplate]:
        return {t.name: t for t in runbooks.get(runbook_id).runbook.trigger.detectors}

    rb1, rb2, rb3 = templates("RB-001"), templates("RB-002"), templates("RB-003")
    assert rb1["readiness"].body == {
        "kind": "http_probe",
        "url": "${readiness_url}",
        "interval_seconds": 10,
        "timeout_seconds": 2,
        "failure_threshold": 3,
    }
    assert rb1["error_rate"].body["kind"] == "after_release"
    assert rb1["error_rate"].variables == {"service", "key_endpoints"}
    assert rb2["p95_latency"].body["for_seconds"] == 600 and rb2["p95_latency"].variables == {"service", "slo_seconds"}
    assert {t.body["kind"] for t in rb3.values()} == {"spike"} and set(rb3) == {"retry_queue", "duplicates"}
    assert all(t.body["min_volume"] > 0 for t in rb3.values())


def test_templates_round_trip_through_the_runbook_dump(runbooks: RunbookRegistry) -> None:
    runbook = runbooks.get("RB-001").runbook
    dumped = runbook.model_dump(mode="json")
    assert dumped["trigger"]["detectors"][0] == {"name": "readiness", **runbook.trigger.detectors[0].body}
    assert Runbook.model_validate(dumped).content_hash() == runbook.content_hash()
    schema = json_schema()
    assert schema["$defs"]["DetectorTemplate"]["required"] == ["name", "kind"]


def test_instantiating_fills_whole_values_as_given_and_embedded_ones_as_text(runbooks: RunbookRegistry) -> None:
    [p95] = runbooks.get("RB-002").runbook.trigger.detectors
    detector = p95.instantiate({"service": "orders", "slo_seconds": 0.25})
    assert isinstance(detector, PromQLDetector)
    assert 'service="orders"' in detector.expr and detector.expr.endswith("> 0.25")
    template = DetectorTemplate.model_validate(
        {"name": "t", "kind": "http_probe", "url": "${url}", "failure_threshold": "${n}"}
    )
    probe = template.instantiate({"url": "https://x.example/readyz", "n": 5})
    assert isinstance(probe, ProbeDetector) and probe.failure_threshold == 5
    with pytest.raises(KeyError, match="'n'"):
        template.instantiate({"url": "https://x.example/"})


# --- runbook lint: templates are checked where they are written ----------------------------------------------------

RUNBOOK = """\
id: RB-100
title: Cache degradation
summary: The cache is slow.
trigger:
  summary: Cache hit ratio drops.
  detectors:
{detectors}
first_response:
  steps:
    - title: Look.
escalation:
  summary: Call someone.
  targets:
    - team: backend
recovery_slo:
  summary: Fix it.
  minutes: 30
"""


@pytest.mark.parametrize(
    ("detectors", "expected"),
    [
        (
            "    - name: hits\n      kind: promql\n      expr: x\n      for_secnds: 60",
            "10:7: trigger.detectors.0.for_secnds: unknown key 'for_secnds' (did you mean 'for_seconds'?)",
        ),
        ("    - name: hits\n      kind: promql", "7:7: trigger.detectors.0.expr: required field is missing"),
        ("    - name: Hits\n      kind: promql\n      expr: x", "7:13: trigger.detectors.0.name: String should match"),
        (
            '    - name: hits\n      kind: spike\n      expr: cache_misses{service="${Service}"}\n      min_volume: 1',
            "7:7: trigger.detectors.0: placeholder ${Service}: variable names are lowercase letters, digits and _",
        ),
        (
            "    - name: hits\n      kind: http_probe\n      url: not a url ${x}",
            "9:12: trigger.detectors.0.url: Input should be a valid URL",
        ),
        (
            "    - name: hits\n      kind: http_probe\n      url: ${url}\n      failure_threshold: 0",
            "10:26: trigger.detectors.0.failure_threshold: Input should be greater than or equal to 1",
        ),
        (
            "    - {name: a, kind: promql, expr: x}\n    - {name: a, kind: promql, expr: y}",
            "7:5: trigger.detectors: detector name 'a' is used twice",
        ),
        ("    - name: a\n      kind: nagios", "7:7: trigger.detectors.0: Input tag 'nagios' found using 'kind'"),
    ],
)
def test_runbook_lint_reports_template_problems_where_they_are_written(
    tmp_path: Path, detectors: str, expected: str
) -> None:
    path = tmp_path / "RB-100.yaml"
    path.write_text(RUNBOOK.format(detectors=detectors))
    found = [str(problem) for problem in lint_paths([path])]
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}:{expected}")


def test_whole_value_placeholders_are_accepted_for_numbers_and_urls(tmp_path: Path) -> None:
    detectors = "    - name: hits\n      kind: http_probe\n      url: ${url}\n      failure_threshold: ${failures}"
    path = tmp_path / "RB-100.yaml"
    path.write_text(RUNBOOK.format(detectors=detectors))
    assert lint_paths([path]) == []


# --- the detectors file --------------------------------------------------------------------------------------------

GOOD = """\
detectors:
  - name: checkout
    service: checkout
    runbook: RB-001
    vars:
      readiness_url: https://checkout.internal/readyz
      key_endpoints: /api/checkout
  - name: payments-db
    service: payments-db
    runbook: RB-002
    severity: SEV2
    vars: {slo_seconds: 0.15}
  - name: webhooks
    service: webhooks
    runbook: RB-003
    use: [duplicates]
    vars: {}
  - name: checkout-up
    service: checkout
    runbook: RB-001
    detector:
      kind: promql
      expr: up{job="checkout"} == 0
      for_seconds: 120
"""


def test_a_detectors_file_defines_one_detector_per_template_or_inline_entry(runbooks: RunbookRegistry) -> None:
    detectors, found = parse_detectors(GOOD, "d.yaml", runbooks)
    assert found == []
    assert [(d.name, d.service, d.runbook_id, d.severity, d.detector.kind) for d in detectors] == [
        ("checkout.readiness", "checkout", "RB-001", "SEV2", "http_probe"),
        ("checkout.error_rate", "checkout", "RB-001", "SEV2", "after_release"),
        ("payments-db.p95_latency", "payments-db", "RB-002", "SEV2", "promql"),
        ("webhooks.duplicates", "webhooks", "RB-003", "SEV2", "spike"),
        ("checkout-up", "checkout", "RB-001", "SEV2", "promql"),
    ]
    readiness, error_rate, p95, duplicates, _ = (d.detector for d in detectors)
    assert isinstance(readiness, ProbeDetector) and str(readiness.url) == "https://checkout.internal/readyz"
    assert isinstance(error_rate, DeployWindowDetector) and 'handler=~"/api/checkout"' in error_rate.expr
    assert isinstance(p95, PromQLDetector) and p95.for_seconds == 600
    assert isinstance(duplicates, SpikeDetector) and 'service="webhooks"' in duplicates.expr
    assert len({d.fingerprint for d in detectors}) == 5


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        (
            "      key_endpoints: /api/checkout\n",
            "",
            "d.yaml:6:7: detectors.0.vars: RB-001 detector 'error_rate' needs variable 'key_endpoints'",
        ),
        (
            "      key_endpoints: /api/checkout\n",
            "      key_endpoints: /api/checkout\n      key_endpoint: /x\n",
            "d.yaml:8:21: detectors.0.vars.key_endpoint: unknown variable 'key_endpoint': "
            "RB-001's default detectors use key_endpoints, readiness_url",
        ),
        (
            "readiness_url: https://checkout.internal/readyz",
            "readiness_url: checkout",
            "d.yaml:6:22: detectors.0.vars.readiness_url: RB-001 detector 'readiness': url: Input should be a valid "
            "URL",
        ),
        ("runbook: RB-002", "runbook: RB-009", "d.yaml:10:14: detectors.1.runbook: no runbook 'RB-009'"),
        (
            "use: [duplicates]",
            "use: [duplicate]",
            "d.yaml:16:11: detectors.2.use.0: RB-003 has no default detector 'duplicate' (it has: retry_queue, "
            "duplicates)",
        ),
        (
            "  - name: webhooks",
            "  - name: checkout",
            "d.yaml:13:11: detectors.2.name: detector name 'checkout' is also",
        ),
        ("    vars: {}\n", "", "d.yaml:13:5: detectors.2: give either `detector:` (written out) or `vars:`"),
        ("    severity: SEV2", "    severty: SEV2", "d.yaml:11:5: detectors.1.severty: unknown key 'severty' (did you"),
        ("      for_seconds: 120", "      for: 2m", "d.yaml:24:7: detectors.3.detector.for: unknown key 'for'"),
        (
            "vars: {slo_seconds: 0.15}",
            "vars: {slo_seconds: 0.15, service: x}",
            "d.yaml:12:40: detectors.1.vars.service: ${service} is always the entry's `service:`",
        ),
        ("detectors:\n", "detectors:\n  - [\n", "d.yaml:3:3: (root): YAML syntax error"),
    ],
)
def test_detectors_file_problems_name_the_place_and_the_field(
    runbooks: RunbookRegistry, replace: str, by: str, expected: str
) -> None:
    assert replace in GOOD
    found = problems(GOOD.replace(replace, by, 1), runbooks)
    assert any(problem.startswith(expected) for problem in found), found


def test_loading_an_invalid_file_raises_with_every_problem(tmp_path: Path, runbooks: RunbookRegistry) -> None:
    path = tmp_path / "detectors.yaml"
    path.write_text(GOOD.replace("slo_seconds", "slo").replace("RB-003", "RB-999"))
    with pytest.raises(InvalidInput) as caught:
        load_detectors(path, runbooks)
    assert caught.value.code == "detectors_invalid"
    assert caught.value.message.startswith(f"invalid detectors file: {path}:")
    assert len(caught.value.details) == 3  # missing slo_seconds, unknown slo, unknown runbook
    with pytest.raises(InvalidInput, match="cannot read the detectors file"):
        load_detectors(tmp_path / "missing.yaml", runbooks)
