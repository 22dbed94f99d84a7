"""The ingest router remembers decisions by the labels that decide them, and only by those."""

from __future__ import annotations

from missionctl.runbooks.loader import load_registry
from missionctl.signals.ingest import Router
from missionctl.signals.routing import Route


def router(*rules: Route) -> Router:
    runbooks = {r.runbook.id: r.runbook for r in sorted(load_registry().all(), key=lambda r: r.runbook.id)}
    return Router(list(rules), runbooks)


def test_labels_no_rule_reads_share_a_decision_and_labels_a_rule_reads_do_not() -> None:
    r = router(Route(name="eu disks", match={"region": "eu-.*", "alertname": "Disk.*"}, runbook="RB-002"))
    base = {"alertname": "DiskFull", "service": "payments-db", "instance": "a"}
    eu, other = r.decide({**base, "region": "eu-west-1"}, None), r.decide({**base, "region": "us-east-1"}, None)
    assert eu[0] is not None and eu[0].rule == "eu disks" and eu[1] is None
    assert other == (None, "no route or runbook default matches")
    assert r.decide({**base, "region": "eu-west-1", "instance": "b"}, None) is eu  # the same cached answer
    assert len(r._cache) == 2


def test_severity_is_part_of_the_decision() -> None:
    r = router()
    labels = {"alertname": "PostgresP95LatencyHigh", "service": "payments-db"}
    critical, warning = r.decide(labels, "critical")[0], r.decide(labels, "warning")[0]
    assert critical is not None and warning is not None
    assert (critical.severity, warning.severity) == ("SEV1", "SEV3")


def test_a_runbook_that_does_not_cover_the_service_is_a_problem_with_the_decision_kept() -> None:
    runbooks = {r.runbook.id: r.runbook for r in load_registry().all()}
    runbooks["RB-002"] = runbooks["RB-002"].model_copy(update={"services": ["payments-db"]})
    r = Router([Route(name="all to RB-002", match={"alertname": ".*"}, runbook="RB-002")], runbooks)
    decision, problem = r.decide({"alertname": "x", "service": "checkout"}, None)
    assert decision is not None and decision.runbook_id == "RB-002"
    assert problem == "runbook RB-002 does not cover service 'checkout'"
    assert r.decide({"alertname": "x", "service": "payments-db"}, None)[1] is None
