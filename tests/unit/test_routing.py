"""Routing rules and the built-in runbooks' default matches (pure)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from missionctl.runbooks.loader import load_registry
from missionctl.runbooks.schemas import Severity
from missionctl.signals.routing import Route, route

RUNBOOKS = [entry.runbook for entry in load_registry().all()]


@pytest.mark.parametrize(
    ("alertname", "runbook"),
    [
        ("DeploymentReadinessProbeFailing", "RB-001"),
        ("CheckoutErrorRate5xxAfterRelease", "RB-001"),
        ("PostgresP95LatencyHigh", "RB-002"),
        ("SlowQueriesSustained", "RB-002"),
        ("WebhookRetryQueueDepthHigh", "RB-003"),
        ("DuplicateDeliveriesRising", "RB-003"),
    ],
)
def test_built_in_runbooks_route_their_triggers_without_rules(alertname: str, runbook: str) -> None:
    result = route(
        {"alertname": alertname, "service": "checkout"}, rules=[], runbooks=RUNBOOKS, source_severity="warning"
    )
    assert result.decision is not None and result.decision.runbook_id == runbook
    assert result.decision.severity is Severity.SEV3 and result.decision.service == "checkout"
    assert result.decision.rule == f"runbook {runbook} default match"


def test_unmatched_alert_is_unroutable_with_reasons() -> None:
    result = route({"alertname": "DiskFull", "service": "db"}, rules=[], runbooks=RUNBOOKS, source_severity=None)
    assert result.decision is None
    assert result.trace[-1].startswith("no runbook matches")
    assert any("RB-002 skipped: alertname='DiskFull' does not match" in line for line in result.trace)


def test_first_matching_rule_wins_and_can_set_everything() -> None:
    rules = [
        Route(name="staging", match={"env": "staging"}, service="sandbox", runbook="RB-003", severity=Severity.SEV4),
        Route(
            name="payments db",
            match={"alertname": "Postgres.*", "cluster": "pay-.*"},
            service="payments-db",
            severity=Severity.SEV2,
        ),
    ]
    labels = {"alertname": "PostgresP95LatencyHigh", "cluster": "pay-eu-1", "env": "prod"}
    result = route(labels, rules=rules, runbooks=RUNBOOKS, source_severity="warning")
    assert result.decision is not None
    assert (result.decision.service, result.decision.runbook_id, result.decision.severity, result.decision.rule) == (
        "payments-db",
        "RB-002",
        Severity.SEV2,
        "payments db",
    )
    assert result.trace[0] == "route 'staging' skipped: env='prod' does not match 'staging'"


def test_source_severity_maps_and_falls_back_to_the_runbook_default() -> None:
    labels = {"alertname": "PostgresP95LatencyHigh", "service": "db"}
    critical = route(labels, rules=[], runbooks=RUNBOOKS, source_severity="critical").decision
    unknown = route(labels, rules=[], runbooks=RUNBOOKS, source_severity="purple").decision
    assert critical is not None and critical.severity is Severity.SEV1
    assert unknown is not None and unknown.severity is Severity.SEV3  # RB-002's default


def test_no_service_label_is_unroutable() -> None:
    result = route({"alertname": "PostgresP95LatencyHigh"}, rules=[], runbooks=RUNBOOKS, source_severity=None)
    assert result.decision is None and "no service" in result.trace[-1]


def test_bad_patterns_are_refused() -> None:
    with pytest.raises(ValidationError, match="not a regular expression"):
        Route(name="x", match={"alertname": "("}, service="s")
