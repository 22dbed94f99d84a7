"""Alerts end to end: real Prometheus and Alertmanager, PagerDuty and Grafana payloads, into `missionctl serve`.

Everything is a real process on 127.0.0.1: Mission Control (`missionctl serve`, SQLite), Prometheus
scraping a metrics target in this process, Alertmanager delivering to Mission Control with an
integration key, and a Standard Webhooks receiver standing in for the on-call engineer's phone.
Every wait is a poll with a deadline that reports what each process logged when it runs out.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.support.missionctl_server import MissionControlServer
from tests.support.prometheus import (
    Alertmanager,
    AlertRule,
    MetricsTarget,
    Prometheus,
    ServerProcess,
    alertmanager_config,
    require_binary,
)
from tests.support.receivers import ReceivedRequest, WebhookReceiver
from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from tests.support.postgres import PostgresServer


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "signals"
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

# Three services, each paging its own person, so the tests never see each other's pages or incidents.
CATALOG = """
people:
  - {{id: pat, name: Pat, contact_methods: [{{id: hook, kind: webhook, address: "{hooks}/pat"}}]}}
  - {{id: lee, name: Lee, contact_methods: [{{id: hook, kind: webhook, address: "{hooks}/lee"}}]}}
  - {{id: gus, name: Gus, contact_methods: [{{id: hook, kind: webhook, address: "{hooks}/gus"}}]}}
teams:
  - {{id: data, name: Data, members: [pat, lee]}}
  - {{id: payments, name: Payments, members: [gus]}}
escalation_policies:
  - {{id: pat-first, name: Pat first, levels: [{{escalate_after_minutes: 30, targets: [{{person: pat}}]}}]}}
  - {{id: lee-first, name: Lee first, levels: [{{escalate_after_minutes: 30, targets: [{{person: lee}}]}}]}}
  - {{id: gus-first, name: Gus first, levels: [{{escalate_after_minutes: 30, targets: [{{person: gus}}]}}]}}
services:
  - {{id: payments-db, name: Payments DB, tier: 1, team: data, escalation_policy: pat-first}}
  - {{id: ledger-db, name: Ledger DB, tier: 2, team: data, escalation_policy: lee-first}}
  - {{id: checkout, name: Checkout, tier: 1, team: payments, escalation_policy: gus-first}}
"""

METRIC = "payments_db_query_p95_seconds"
SLO_SECONDS = 0.15
LATENCY_RULE = AlertRule(
    "PaymentsDbP95LatencyHigh",
    f"{METRIC} > {SLO_SECONDS}",
    for_="0s",
    labels={"service": "payments-db", "severity": "warning"},
    annotations={"summary": "payments-db p95 query latency above SLO", "description": "p95 is {{ $value }}s"},
)


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


# ------------------------------------------------------------------------------------------------ waiting


def describe(*processes: ServerProcess | MissionControlServer, hooks: WebhookReceiver | None = None) -> str:
    parts = [process.logs() for process in processes]
    if hooks is not None:
        parts.append(f"==== webhook receiver: {[(r.path, r.answered) for r in hooks.requests]}")
    return "\n".join(parts)


def incident_of(mc: MissionControlServer, *, service: str, runbook: str) -> dict[str, Any] | None:
    """The newest incident of `service` from `runbook`, in full, or None."""
    listed = mc.viewer.get("/api/v1/incidents", params={"service": service, "runbook": runbook})
    assert listed.status_code == 200, listed.text
    if not listed.json():
        return None
    return incident(mc, listed.json()[0]["id"])


def incident(mc: MissionControlServer, incident_id: int) -> dict[str, Any]:
    response = mc.viewer.get(f"/api/v1/incidents/{incident_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def timeline_kinds(data: dict[str, Any]) -> list[str]:
    return [entry["kind"] for entry in data["timeline"]]


def incident_with(mc: MissionControlServer, incident_id: int, kind: str) -> dict[str, Any] | None:
    """The incident once its timeline has an entry of `kind`, else None."""
    data = incident(mc, incident_id)
    return data if kind in timeline_kinds(data) else None


def pages_to(hooks: WebhookReceiver, person: str, incident_id: int) -> list[ReceivedRequest]:
    """The pages about `incident_id` that reached `person`'s webhook."""
    found = []
    for request in hooks.requests:
        if request.path != f"/{person}":
            continue
        body = request.json()
        if isinstance(body, dict) and (body.get("incident") or {}).get("id") == incident_id:
            found.append(request)
    return found


# ----------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


@pytest.fixture(scope="module")
def hooks(backend: str) -> Iterator[WebhookReceiver]:
    """One receiver per server: incident ids start at 1 on each database."""
    with WebhookReceiver(SECRET) as receiver:
        yield receiver


@pytest.fixture(scope="module")
def database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'missionctl.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    url = server.create_database(name, template="template_missionctl")
    yield url
    server.drop_database(name)


@pytest.fixture(scope="module")
def mc(
    database_url: str, hooks: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MissionControlServer]:
    env = {
        "MISSIONCTL_WEBHOOK_SECRET": SECRET,
        "MISSIONCTL_LOG_LEVEL": "info",
        "MISSIONCTL_PUBLIC_URL": "http://127.0.0.1:1",  # links only; nothing follows them here
    }
    catalog = CATALOG.format(hooks=hooks.base_url)
    folder = tmp_path_factory.mktemp("missionctl")
    with MissionControlServer(database_url, catalog=catalog, env=env, directory=folder) as server:
        yield server


# ------------------------------------------------------------------------------------------------- tests


def test_a_prometheus_alert_pages_the_owner_through_alertmanager_and_its_recovery_lands_on_the_timeline(
    mc: MissionControlServer, hooks: WebhookReceiver, tmp_path: Path
) -> None:
    require_binary("prometheus")
    require_binary("prometheus-alertmanager")
    key = mc.create_integration("alertmanager", "payments-db")
    webhook = f"{mc.url}/api/v1/integrations/alertmanager"
    with (
        MetricsTarget() as target,
        Alertmanager(alertmanager_config(webhook, bearer=key), directory=tmp_path / "alertmanager") as am,
        Prometheus(
            scrape=[target.address], rules=[LATENCY_RULE], alertmanager=am.address, directory=tmp_path / "prometheus"
        ) as prom,
    ):
        p95 = target.gauge(METRIC, "p95 query latency of payments-db, seconds")
        p95.set(0.04)

        def diagnostics() -> str:
            return describe(prom, am, mc, hooks=hooks) + f"\n==== prometheus alerts: {prom.alerts()}"

        wait_until("Prometheus to scrape the metrics target", prom.targets_up, diagnostics=diagnostics)
        assert incident_of(mc, service="payments-db", runbook="RB-002") is None

        p95.set(0.412)
        opened = wait_until(
            "an RB-002 incident for payments-db",
            lambda: incident_of(mc, service="payments-db", runbook="RB-002"),
            diagnostics=diagnostics,
        )
        incident_id = opened["id"]
        [page, *_] = wait_until("the page to pat", lambda: pages_to(hooks, "pat", incident_id), diagnostics=diagnostics)
        assert page.signature_valid, page.signature_error
        assert "signal_fired" in timeline_kinds(opened), opened["timeline"]
        paged = wait_until(
            "the page recorded as sent",
            lambda: [p for p in incident(mc, incident_id)["pages"] if p["person"] == "pat" and p["sent_at"]],
            diagnostics=diagnostics,
        )
        assert paged[0]["channel"] == "webhook"

        p95.set(0.04)
        recovered = wait_until(
            "signal_recovered on the incident's timeline",
            lambda: incident_with(mc, incident_id, "signal_recovered"),
            diagnostics=diagnostics,
        )
        fired = [e for e in recovered["timeline"] if e["kind"] == "signal_fired"]
        assert len(fired) == 1, recovered["timeline"]  # Alertmanager's repeats did not fire it again

        # The same alert firing again joins the incident that is still open rather than opening another.
        p95.set(0.5)
        wait_until(
            "a second signal_fired on the same incident",
            lambda: timeline_kinds(incident(mc, incident_id)).count("signal_fired") >= 2,
            diagnostics=diagnostics,
        )
        listed = mc.viewer.get("/api/v1/incidents", params={"service": "payments-db"}).json()
        assert [i["id"] for i in listed] == [incident_id]


def test_alertmanager_deliveries_with_a_wrong_key_are_refused(mc: MissionControlServer) -> None:
    key = mc.create_integration("grafana", "payments-db")  # a real key, but for another source
    url = f"{mc.url}/api/v1/integrations/alertmanager"
    body = fixture("alertmanager_firing")
    for headers in ({}, {"Authorization": "Bearer mci_not-a-key"}, {"Authorization": f"Bearer {key}"}):
        response = httpx.post(url, json=body, headers=headers, timeout=15)
        assert response.status_code == 401, response.text


def test_pagerduty_events_trigger_acknowledge_and_resolve_an_incident(
    mc: MissionControlServer, hooks: WebhookReceiver
) -> None:
    key = mc.create_integration("pagerduty", "ledger-db")
    dedup_key = "payments-db/p95-latency"

    def enqueue(name: str) -> dict[str, Any]:
        response = httpx.post(f"{mc.url}/v2/enqueue", json=fixture(name) | {"routing_key": key}, timeout=15)
        assert response.status_code == 202, f"{response.text}\n{mc.logs()}"
        body: dict[str, Any] = response.json()
        assert body["status"] == "success" and body["dedup_key"] == dedup_key, body
        return body

    def diagnostics() -> str:
        return describe(mc, hooks=hooks)

    enqueue("pagerduty_trigger")
    opened = wait_until(
        "an RB-002 incident for ledger-db",
        lambda: incident_of(mc, service="ledger-db", runbook="RB-002"),
        diagnostics=diagnostics,
    )
    incident_id = opened["id"]
    assert opened["acknowledged_at"] is None
    assert "signal_fired" in timeline_kinds(opened), opened["timeline"]
    [page, *_] = wait_until("the page to lee", lambda: pages_to(hooks, "lee", incident_id), diagnostics=diagnostics)
    assert page.signature_valid, page.signature_error

    enqueue("pagerduty_acknowledge")
    wait_until(
        "the incident acknowledged",
        lambda: incident(mc, incident_id)["acknowledged_at"],
        diagnostics=diagnostics,
    )

    enqueue("pagerduty_resolve")
    resolved = wait_until(
        "signal_recovered on the incident's timeline",
        lambda: incident_with(mc, incident_id, "signal_recovered"),
        diagnostics=diagnostics,
    )
    assert resolved["service"] == "ledger-db"


def test_pagerduty_refuses_an_unknown_routing_key_in_pagerdutys_words(mc: MissionControlServer) -> None:
    body = fixture("pagerduty_trigger") | {"routing_key": "0" * 32}
    response = httpx.post(f"{mc.url}/v2/enqueue", json=body, timeout=15)
    assert response.status_code == 401, response.text
    assert response.json()["status"] != "success"


def test_a_grafana_alert_opens_an_rb001_incident_and_pages_the_owner(
    mc: MissionControlServer, hooks: WebhookReceiver
) -> None:
    key = mc.create_integration("grafana", "checkout")
    response = httpx.post(
        f"{mc.url}/api/v1/integrations/grafana",
        json=fixture("grafana_firing"),
        headers={"Authorization": f"Bearer {key}"},
        timeout=15,
    )
    assert response.status_code == 202, f"{response.text}\n{mc.logs()}"

    def diagnostics() -> str:
        return describe(mc, hooks=hooks)

    opened = wait_until(
        "an RB-001 incident for checkout",
        lambda: incident_of(mc, service="checkout", runbook="RB-001"),
        diagnostics=diagnostics,
    )
    assert "signal_fired" in timeline_kinds(opened), opened["timeline"]
    assert opened["severity"] == "SEV1"  # Grafana's `severity: critical`
    [page, *_] = wait_until("the page to gus", lambda: pages_to(hooks, "gus", opened["id"]), diagnostics=diagnostics)
    assert page.signature_valid, page.signature_error
