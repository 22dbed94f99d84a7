"""Signal adapters: recorded-shape fixtures parse to exact events, keys are stable, and bad input is a PayloadError."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from missionctl.errors import InvalidInput
from missionctl.signals import PayloadError, SignalAction, SignalEvent, alertmanager, grafana, pagerduty
from missionctl.signals.events import labels_key, stable_hash

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "signals"
ROUTING_KEY = "R015ABCDEFGHIJ0123456789KLMNOPQR"
GENERATOR = (
    "http://prometheus.monitoring.svc:9090/graph?g0.expr=histogram_quantile%280.95%2C+sum+by+%28le%2C+instance%29"
    "+%28rate%28pg_query_duration_seconds_bucket%5B5m%5D%29%29%29+%3E+0.15&g0.tab=1"
)
DB_LABELS = {
    "alertname": "PostgresP95LatencyHigh",
    "cluster": "prod-eu-1",
    "instance": "payments-db-0.payments-db.prod.svc:9187",
    "job": "postgres-exporter",
    "service": "payments-db",
    "severity": "warning",
    "team": "platform",
}
DB_ANNOTATIONS = {
    "description": "p95 query latency on payments-db-0 has been 412ms (SLO 150ms) for 10 minutes.",
    "runbook_url": "https://runbooks.example.com/RB-002",
    "summary": "payments-db p95 query latency above SLO",
}


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def data(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(raw(name))
    return loaded


def minimal_alert(**overrides: Any) -> dict[str, Any]:
    alert: dict[str, Any] = {"status": "firing", "labels": {"alertname": "DiskFull", "severity": "critical"}}
    return alert | overrides


def am_body(*alerts: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "alerts": list(alerts)} | top


def pd_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "payload": {"summary": "disk full on db-3", "source": "db-3", "severity": "critical"},
    }
    return body | fields


# --- Alertmanager --------------------------------------------------------------------------------------------------


def test_alertmanager_firing_fixture_parses_to_one_trigger_per_alert() -> None:
    events = alertmanager.parse(raw("alertmanager_firing.json"))
    alerts = data("alertmanager_firing.json")["alerts"]
    assert events[0] == SignalEvent(
        source="alertmanager",
        action=SignalAction.TRIGGER,
        dedup_key="5f2b8c1e9a3d7406",
        summary="payments-db p95 query latency above SLO",
        labels=DB_LABELS,
        annotations=DB_ANNOTATIONS,
        severity="warning",
        started_at=datetime(2026, 3, 2, 9, 0, 7, 318000, tzinfo=UTC),
        ended_at=None,
        links=[{"kind": "generator", "href": GENERATOR}],
        raw=alerts[0],
    )
    second = events[1]
    assert (second.action, second.dedup_key, second.labels["instance"]) == (
        SignalAction.TRIGGER,
        "a41c07de52b9f318",
        "payments-db-1.payments-db.prod.svc:9187",
    )
    assert second.started_at == datetime(2026, 3, 2, 8, 1, 37, 318000, tzinfo=UTC)  # +01:00 normalised to UTC
    assert second.started_at.tzinfo is UTC
    assert second.ended_at is None
    assert second.raw == alerts[1]
    assert len(events) == 2


def test_alertmanager_resolved_fixture_parses_to_a_resolve_with_the_same_key() -> None:
    [event] = alertmanager.parse(raw("alertmanager_resolved.json"))
    assert event == SignalEvent(
        source="alertmanager",
        action=SignalAction.RESOLVE,
        dedup_key="5f2b8c1e9a3d7406",
        summary="payments-db p95 query latency above SLO",
        labels=DB_LABELS,
        annotations=DB_ANNOTATIONS,
        severity="warning",
        started_at=datetime(2026, 3, 2, 9, 0, 7, 318000, tzinfo=UTC),
        ended_at=datetime(2026, 3, 2, 9, 42, 37, 318000, tzinfo=UTC),
        links=[{"kind": "generator", "href": GENERATOR}],
        raw=data("alertmanager_resolved.json")["alerts"][0],
    )
    assert event.dedup_key == alertmanager.parse(raw("alertmanager_firing.json"))[0].dedup_key


def test_bytes_text_and_decoded_bodies_parse_alike() -> None:
    body = raw("alertmanager_firing.json")
    assert alertmanager.parse(body) == alertmanager.parse(body.decode()) == alertmanager.parse(json.loads(body))


@pytest.mark.parametrize("end", ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z", None])
def test_go_zero_time_and_null_mean_no_end(end: str | None) -> None:
    [event] = alertmanager.parse(am_body(minimal_alert(startsAt="2026-03-02T09:00:00Z", endsAt=end)))
    assert event.ended_at is None
    assert event.started_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_go_nanosecond_timestamps_are_accepted() -> None:
    [event] = alertmanager.parse(am_body(minimal_alert(startsAt="2026-03-02T09:00:00.123456789Z")))
    assert event.started_at == datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)


def test_missing_fingerprint_falls_back_to_a_hash_of_the_sorted_labels() -> None:
    labels = {"alertname": "DiskFull", "severity": "critical", "instance": "db-3:9100"}
    reordered = dict(reversed(list(labels.items())))
    [first] = alertmanager.parse(am_body(minimal_alert(labels=labels)))
    [again] = alertmanager.parse(json.dumps(am_body(minimal_alert(labels=labels))).encode())
    [other_order] = alertmanager.parse(am_body(minimal_alert(labels=reordered, fingerprint="")))
    assert first.dedup_key == again.dedup_key == other_order.dedup_key == labels_key(labels)
    assert re.fullmatch(r"[0-9a-f]{64}", first.dedup_key)
    [different] = alertmanager.parse(am_body(minimal_alert(labels=labels | {"instance": "db-4:9100"})))
    assert different.dedup_key != first.dedup_key


def test_dedup_keys_are_stable_across_reparses() -> None:
    for name, parse in [("alertmanager_firing.json", alertmanager.parse), ("grafana_firing.json", grafana.parse)]:
        assert [e.dedup_key for e in parse(raw(name))] == [e.dedup_key for e in parse(raw(name))]


def test_summary_falls_back_to_description_then_alertname() -> None:
    [described] = alertmanager.parse(am_body(minimal_alert(annotations={"description": " disk at 99% "})))
    [bare] = alertmanager.parse(am_body(minimal_alert()))
    assert (described.summary, bare.summary) == ("disk at 99%", "DiskFull")
    assert bare.severity == "critical"


def test_unknown_keys_are_tolerated_and_kept_in_raw() -> None:
    alert = minimal_alert(newField={"x": 1})
    [event] = alertmanager.parse(am_body(alert, futureTopLevel=[1, 2]))
    assert event.raw == alert


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body: not valid JSON (Expecting property name enclosed in double quotes at line 1 column 2)"),
        (b"\xff\xfe", "body: not UTF-8 text"),
        (b"[]", "body: expected an object"),
        (b'"firing"', "body: expected an object"),
        (am_body(minimal_alert(labels={"severity": 3})), "alerts[0].labels: expected an object of strings"),
        (am_body(minimal_alert(labels=["a"])), "alerts[0].labels: expected an object of strings"),
        (am_body(minimal_alert(annotations=None)), "alerts[0].annotations: expected an object of strings"),
        (am_body(minimal_alert(), minimal_alert(), minimal_alert(labels={"a": None})), "alerts[2].labels: expected"),
        (am_body(minimal_alert(status="pending")), "alerts[0].status: expected 'firing' or 'resolved'"),
        (am_body(minimal_alert(startsAt=1740000000)), "alerts[0].startsAt: expected an RFC 3339 timestamp string"),
        (am_body(minimal_alert(startsAt="yesterday")), "alerts[0].startsAt: expected an RFC 3339 timestamp"),
        (am_body(minimal_alert(endsAt="2026-03-02T09:00:00")), "alerts[0].endsAt: expected an RFC 3339 timestamp with"),
        (am_body(minimal_alert(startsAt="9999-12-31T23:59:59-05:00")), "alerts[0].startsAt: timestamp is out of range"),
        (am_body(minimal_alert(fingerprint=12)), "alerts[0].fingerprint: expected a string"),
        (am_body(minimal_alert(generatorURL=None)), "alerts[0].generatorURL: expected a string"),
        (am_body(minimal_alert(labels=None)), "alerts[0].labels: expected an object of strings"),
        (am_body({"labels": {}}), "alerts[0].status: required field is missing"),
        (am_body(minimal_alert()) | {"alerts": {"0": {}}}, "alerts: expected an array"),
        (am_body() | {"alerts": [7]}, "alerts[0]: expected an object"),
        ({"version": "4", "status": "firing"}, "alerts: required field is missing"),
        (am_body(minimal_alert(), truncatedAlerts="0"), "truncatedAlerts: expected an integer"),
        (am_body(minimal_alert(), truncatedAlerts=True), "truncatedAlerts: expected an integer"),
        (am_body(minimal_alert(), version=4), "version: expected a string"),
        (am_body(minimal_alert(), commonLabels={"a": 1}), "commonLabels: expected an object of strings"),
    ],
)
def test_malformed_alertmanager_payloads_name_the_path(body: bytes | dict[str, Any], message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        alertmanager.parse(body)
    assert caught.value.message.startswith(message)
    assert caught.value.code == "invalid_payload"
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.http_status == 422
    assert caught.value.details["path"] == message.split(":")[0]


def test_every_problem_is_reported_with_its_path() -> None:
    body = am_body(minimal_alert(labels={"a": 1}), minimal_alert(status="pending"), status="maybe")
    with pytest.raises(PayloadError) as caught:
        alertmanager.parse(body)
    assert caught.value.errors == [
        "status: expected 'firing' or 'resolved'",
        "alerts[0].labels: expected an object of strings",
        "alerts[1].status: expected 'firing' or 'resolved'",
    ]
    assert caught.value.message == "; ".join(caught.value.errors)


# --- Grafana -------------------------------------------------------------------------------------------------------


def test_grafana_fixture_keeps_urls_as_links_and_values_as_annotations() -> None:
    [event] = grafana.parse(raw("grafana_firing.json"))
    alert = data("grafana_firing.json")["alerts"][0]
    assert event == SignalEvent(
        source="grafana",
        action=SignalAction.TRIGGER,
        dedup_key="c0a6b3d91e7f2245",
        summary="checkout error rate above 2%",
        labels={
            "alertname": "CheckoutErrorRateHigh",
            "grafana_folder": "Checkout",
            "service": "checkout",
            "severity": "critical",
            "team": "payments",
        },
        annotations={
            "description": "5xx ratio on checkout is 7.3% over the last 5 minutes (threshold 2%).",
            "summary": "checkout error rate above 2%",
            "values": '{"A":0.0731,"B":1}',
            "valueString": alert["valueString"],
        },
        severity="critical",
        started_at=datetime(2026, 3, 2, 9, 4, 10, tzinfo=UTC),
        ended_at=None,
        links=[
            {"kind": "generator", "href": alert["generatorURL"]},
            {"kind": "silence", "href": alert["silenceURL"]},
            {"kind": "dashboard", "href": "https://grafana.example.com/d/checkout-slo?orgId=1"},
            {"kind": "panel", "href": "https://grafana.example.com/d/checkout-slo?orgId=1&viewPanel=4"},
            {"kind": "image", "href": "https://grafana.example.com/public/img/attachments/Kq0d9vYxFQ2o.png"},
        ],
        raw=alert,
    )


def test_grafana_resolved_alert_without_optional_urls() -> None:
    alert = minimal_alert(status="resolved", endsAt="2026-03-02T10:00:00+02:00", dashboardURL="", values=None)
    [event] = grafana.parse(am_body(alert, status="resolved", orgId=1, state="ok"))
    assert event.action is SignalAction.RESOLVE
    assert event.ended_at == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    assert event.links == []
    assert event.annotations == {}


def test_grafana_values_of_its_own_do_not_override_an_alert_annotation() -> None:
    alert = minimal_alert(annotations={"values": "see dashboard"}, values={"A": 2.0, "B": None})
    [event] = grafana.parse(am_body(alert))
    assert event.annotations["values"] == "see dashboard"


def test_grafana_values_render_whole_numbers_plainly() -> None:
    [event] = grafana.parse(am_body(minimal_alert(values={"B": 2.5, "A": 3.0, "C": None})))
    assert event.annotations["values"] == '{"A":3,"B":2.5,"C":null}'


def test_alertmanager_payloads_parse_as_grafana_too() -> None:
    events = grafana.parse(raw("alertmanager_firing.json"))
    assert [e.dedup_key for e in events] == [e.dedup_key for e in alertmanager.parse(raw("alertmanager_firing.json"))]
    assert {e.source for e in events} == {"grafana"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (am_body(minimal_alert(values={"A": "0.07"})), "alerts[0].values: expected an object of numbers"),
        (am_body(minimal_alert(values={"A": True})), "alerts[0].values: expected an object of numbers"),
        (am_body(minimal_alert(values=[1])), "alerts[0].values: expected an object of numbers"),
        (am_body(minimal_alert(values={"A": 10**400})), "alerts[0].values: number is out of range"),
        (am_body(minimal_alert(silenceURL=5)), "alerts[0].silenceURL: expected a string"),
        (am_body(minimal_alert(), orgId="1"), "orgId: expected an integer"),
        (am_body(minimal_alert(), title=None), "title: expected a string"),
        (b"", "body: not valid JSON"),
    ],
)
def test_malformed_grafana_payloads_name_the_path(body: bytes | dict[str, Any], message: str) -> None:
    with pytest.raises(PayloadError, match=re.escape(message)):
        grafana.parse(body)


# --- PagerDuty -----------------------------------------------------------------------------------------------------


def test_pagerduty_trigger_fixture() -> None:
    routing_key, event = pagerduty.parse(raw("pagerduty_trigger.json"))
    assert routing_key == ROUTING_KEY
    assert event == SignalEvent(
        source="pagerduty",
        action=SignalAction.TRIGGER,
        dedup_key="payments-db/p95-latency",
        summary="payments-db p95 query latency 412ms exceeds 150ms SLO",
        labels={
            "p95_ms": "412",
            "slo_ms": "150",
            "replica_lag_seconds": "0.4",
            "read_only": "false",
            "region": "eu-west-1",
            "top_query.queryid": "-4815162342",
            "top_query.calls": "18211",
            "component": "postgres",
            "group": "payments-db",
            "class": "latency",
            "source": "payments-db-0.prod-eu-1",
            "severity": "warning",
        },
        annotations={},
        severity="warning",
        started_at=datetime(2026, 3, 2, 9, 0, 7, 318000, tzinfo=UTC),
        ended_at=None,
        links=[
            {
                "kind": "link",
                "href": "https://grafana.example.com/d/pg-latency?var-instance=payments-db-0",
                "text": "Postgres latency dashboard",
            },
            {"kind": "link", "href": "https://runbooks.example.com/RB-002"},
            {
                "kind": "image",
                "href": "https://grafana.example.com/render/d-solo/pg-latency?panelId=2&width=1000&height=500",
                "text": "p95 latency, last hour",
                "target": "https://grafana.example.com/d/pg-latency",
            },
            {
                "kind": "client",
                "href": "http://alertmanager.monitoring.svc:9093/#/alerts",
                "text": "Prometheus Alertmanager",
            },
        ],
        raw=data("pagerduty_trigger.json"),
    )
    assert pagerduty.success_body(event.dedup_key) == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "payments-db/p95-latency",
    }


def test_pagerduty_acknowledge_fixture() -> None:
    assert pagerduty.parse(raw("pagerduty_acknowledge.json")) == (
        ROUTING_KEY,
        SignalEvent(
            source="pagerduty",
            action=SignalAction.ACKNOWLEDGE,
            dedup_key="payments-db/p95-latency",
            summary="",
            raw=data("pagerduty_acknowledge.json"),
        ),
    )


def test_pagerduty_resolve_fixture() -> None:
    assert pagerduty.parse(raw("pagerduty_resolve.json")) == (
        ROUTING_KEY,
        SignalEvent(
            source="pagerduty",
            action=SignalAction.RESOLVE,
            dedup_key="payments-db/p95-latency",
            summary="payments-db p95 query latency back under SLO",
            labels={"source": "payments-db-0.prod-eu-1", "severity": "info"},
            severity="info",
            ended_at=datetime(2026, 3, 2, 9, 42, 37, tzinfo=UTC),
            raw=data("pagerduty_resolve.json"),
        ),
    )


def test_pagerduty_trigger_without_dedup_key_gets_a_stable_generated_one() -> None:
    _, first = pagerduty.parse(pd_body())
    _, again = pagerduty.parse(json.dumps(pd_body()).encode())
    _, reordered = pagerduty.parse(dict(reversed(list(pd_body(dedup_key=None).items()))))
    assert first.dedup_key == again.dedup_key == reordered.dedup_key
    assert first.dedup_key == stable_hash(ROUTING_KEY, "disk full on db-3", "db-3")
    assert len(first.dedup_key) <= 255
    payload = pd_body()["payload"]
    _, other = pagerduty.parse(pd_body(payload=payload | {"source": "db-4"}))
    assert other.dedup_key != first.dedup_key
    assert pagerduty.success_body(first.dedup_key)["dedup_key"] == first.dedup_key


def test_pagerduty_string_custom_details_become_an_annotation() -> None:
    payload = pd_body()["payload"] | {"custom_details": "disk /var/lib/postgresql at 99%"}
    _, event = pagerduty.parse(pd_body(payload=payload))
    assert event.annotations == {"details": "disk /var/lib/postgresql at 99%"}
    assert event.labels == {"source": "db-3", "severity": "critical"}


def test_pagerduty_standard_fields_win_over_custom_details() -> None:
    payload = pd_body()["payload"] | {"custom_details": {"severity": "low", "owner": "dba"}}
    _, event = pagerduty.parse(pd_body(payload=payload))
    assert event.labels == {"severity": "critical", "owner": "dba", "source": "db-3"}


@pytest.mark.parametrize(
    ("body", "path", "problem"),
    [
        (b"nope", "body", "body: not valid JSON"),
        (b"[1]", "body", "'body' is invalid (expected an object)"),
        ({"event_action": "trigger"}, "routing_key", "'routing_key' is missing or blank"),
        (pd_body(routing_key="short"), "routing_key", "Length of 'routing_key' is incorrect (should be 32 characters)"),
        (pd_body(routing_key=12345), "routing_key", "'routing_key' is invalid (expected a string)"),
        (
            pd_body(event_action="escalate"),
            "event_action",
            "'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')",
        ),
        (pd_body(event_action=None), "event_action", "'event_action' is invalid"),
        (pd_body(payload=None), "payload", "'payload' is missing or blank"),
        ({"routing_key": ROUTING_KEY, "event_action": "trigger"}, "payload", "'payload' is missing or blank"),
        (pd_body(payload="disk full"), "payload", "'payload' is invalid (expected an object)"),
        (
            pd_body(payload={"source": "db-3", "severity": "critical"}),
            "payload.summary",
            "'payload.summary' is missing or blank",
        ),
        (
            pd_body(payload={"summary": "  ", "source": "db-3", "severity": "critical"}),
            "payload.summary",
            "'payload.summary' is missing or blank",
        ),
        (
            pd_body(payload={"summary": "x" * 1025, "source": "db-3", "severity": "critical"}),
            "payload.summary",
            "'payload.summary' is too long (maximum is 1024 characters)",
        ),
        (
            pd_body(payload={"summary": "disk", "severity": "critical"}),
            "payload.source",
            "'payload.source' is missing or blank",
        ),
        (
            pd_body(payload={"summary": "disk", "source": "db-3"}),
            "payload.severity",
            "'payload.severity' is missing or blank",
        ),
        (
            pd_body(payload={"summary": "disk", "source": "db-3", "severity": "high"}),
            "payload.severity",
            "'payload.severity' is invalid (must be one of the following: 'critical', 'error', 'warning' or 'info')",
        ),
        (
            pd_body(payload={"summary": "disk", "source": "db-3", "severity": "info", "timestamp": "now"}),
            "payload.timestamp",
            "'payload.timestamp' is invalid (expected an RFC 3339 timestamp)",
        ),
        (
            pd_body(payload={"summary": "disk", "source": "db-3", "severity": "info", "class": 1}),
            "payload.class",
            "'payload.class' is invalid (expected a string)",
        ),
        (pd_body(dedup_key="k" * 256), "dedup_key", "'dedup_key' is too long (maximum is 255 characters)"),
        (pd_body(dedup_key=42), "dedup_key", "'dedup_key' is invalid (expected a string)"),
        (
            {"routing_key": ROUTING_KEY, "event_action": "acknowledge"},
            "dedup_key",
            "'dedup_key' is missing or blank (required to acknowledge)",
        ),
        (
            {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": ""},
            "dedup_key",
            "'dedup_key' is missing or blank (required to resolve)",
        ),
        (pd_body(links=[{"text": "dashboard"}]), "links[0].href", "'links[0].href' is missing or blank"),
        (pd_body(links={"href": "x"}), "links", "'links' is invalid (expected an array)"),
        (pd_body(images=[{"src": "a"}, {"href": "b"}]), "images[1].src", "'images[1].src' is missing or blank"),
        (pd_body(client_url=["x"]), "client_url", "'client_url' is invalid (expected a string)"),
    ],
)
def test_malformed_pagerduty_events_read_like_pagerduty_and_name_the_field(
    body: bytes | dict[str, Any], path: str, problem: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        pagerduty.parse(body)
    error = caught.value
    assert error.message.startswith(f"Event object is invalid: {problem}")
    assert error.path == path
    assert error.code == "invalid_payload"
    body_out = pagerduty.error_body(error)
    assert body_out["status"] == "invalid event"
    assert body_out["message"] == "Event object is invalid"
    assert body_out["errors"][0].startswith(problem)


def test_acknowledge_and_resolve_ignore_a_partial_payload() -> None:
    _, event = pagerduty.parse(
        {"routing_key": ROUTING_KEY, "event_action": "acknowledge", "dedup_key": "k", "payload": {"summary": "ack"}}
    )
    assert (event.action, event.summary) == (SignalAction.ACKNOWLEDGE, "ack")
    assert event.started_at is None
    assert event.ended_at is None


def test_pagerduty_reports_every_type_problem_at_once() -> None:
    with pytest.raises(PayloadError) as caught:
        pagerduty.parse({"routing_key": 1, "event_action": "x"})
    assert caught.value.errors == [
        "'routing_key' is invalid (expected a string)",
        "'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')",
    ]


# --- Garbage never escapes as anything but PayloadError ------------------------------------------------------------

KEYS = [
    "version", "status", "alerts", "labels", "annotations", "startsAt", "endsAt", "fingerprint", "generatorURL",
    "values", "silenceURL", "orgId", "routing_key", "event_action", "dedup_key", "payload", "summary", "source",
    "severity", "timestamp", "custom_details", "class", "links", "images", "href", "src", "x",
]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**4300, max_value=10**4400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "firing",
            "resolved",
            "trigger",
            "acknowledge",
            "resolve",
            "critical",
            ROUTING_KEY,
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00+05:00",
            "9999-12-31T23:59:59-05:00",
            "2026-03-02T09:00:00Z",
            "\ud800",
        ]
    )
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner),
    max_leaves=30,
)
PARSERS = [alertmanager.parse, grafana.parse, pagerduty.parse]


def _set_at_random_path(document: Any, value: Any, choices: list[int]) -> Any:
    """A copy of `document` with one node, reached by walking `choices`, replaced by `value`."""
    copied = copy.deepcopy(document)
    node = copied
    for step, choice in enumerate(choices):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = keys[choice % len(keys)]
        child = node[key]
        if isinstance(child, dict | list) and step < len(choices) - 1 and choice % 4 != 0:
            node = child
            continue
        node[key] = value
        break
    return copied


def _only_payload_errors(parse: Any, body: Any) -> None:
    try:
        parse(body)
    except PayloadError as exc:
        assert exc.message
        assert exc.path
    except Exception as exc:  # pragma: no cover - the property under test
        raise AssertionError(f"{parse.__module__}.parse raised {type(exc).__name__}: {exc}") from exc


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PARSERS), JSONISH)
def test_random_jsonish_values_raise_only_payload_errors(parse: Any, value: Any) -> None:
    _only_payload_errors(parse, value)
    try:
        text = json.dumps(value)
    except ValueError:  # integers too long to write
        return
    _only_payload_errors(parse, text.encode())


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(
        [
            (alertmanager.parse, "alertmanager_firing.json"),
            (grafana.parse, "grafana_firing.json"),
            (pagerduty.parse, "pagerduty_trigger.json"),
            (pagerduty.parse, "pagerduty_resolve.json"),
        ]
    ),
    JSONISH,
    st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=6),
)
def test_mutated_fixtures_raise_only_payload_errors(case: tuple[Any, str], value: Any, choices: list[int]) -> None:
    parse, name = case
    _only_payload_errors(parse, _set_at_random_path(data(name), value, choices))


@settings(max_examples=200)
@given(st.sampled_from(PARSERS), st.binary(max_size=64) | st.text(max_size=64))
def test_random_bytes_raise_only_payload_errors(parse: Any, body: bytes | str) -> None:
    _only_payload_errors(parse, body)


TIMESTAMPS = st.builds(
    lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(),
    st.datetimes() | st.sampled_from([datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59)]),
    st.integers(min_value=-1439, max_value=1439),
) | st.text(alphabet="0123456789-:TZ.+ ", max_size=30)


@settings(max_examples=300)
@given(TIMESTAMPS)
@example("9999-12-31T23:59:59-05:00")
@example("0001-01-01T00:00:00+05:00")
def test_any_timestamp_string_is_aware_utc_none_or_a_payload_error(stamp: str) -> None:
    bodies = [
        (alertmanager.parse, am_body(minimal_alert(startsAt=stamp, endsAt=stamp))),
        (grafana.parse, am_body(minimal_alert(startsAt=stamp, endsAt=stamp))),
        (pagerduty.parse, pd_body(payload=pd_body()["payload"] | {"timestamp": stamp})),
    ]
    for parse, body in bodies:
        try:
            parsed = parse(body)
        except PayloadError as exc:
            assert "timestamp" in exc.message or "startsAt" in exc.message
            continue
        event = parsed[0] if isinstance(parsed, list) else parsed[1]
        assert isinstance(event, SignalEvent)
        assert event.started_at is None or event.started_at.tzinfo is UTC


@pytest.mark.parametrize("parse", PARSERS)
def test_absurdly_nested_json_is_a_payload_error(parse: Any) -> None:
    with pytest.raises(PayloadError):
        parse(b"[" * 100_000 + b"]" * 100_000)
