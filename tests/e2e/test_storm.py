"""RB-003 end to end: a webhook retry storm against a real `missionctl serve`, in and out.

(a) In: ~2,000 concurrent deliveries — Alertmanager and PagerDuty repeats, a Standard Webhooks sender
    retrying with the same `webhook-id`, and malformed payloads — sent by threads that honour 429 +
    Retry-After as real senders do. Every well-formed alert is stored once with `received_count` equal to
    its accepted deliveries, one incident per service and runbook, one page per incident at the receiver,
    every malformed payload a dead letter: nothing lost, nothing processed twice.
(b) Out: the paged receiver answers 503/429 with Retry-After, then 200. Every page arrives exactly once
    with a 2xx per `webhook-id`, no retry comes before its Retry-After, and the destination's circuit
    breaker opens and closes (on the incident timelines).
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from missionctl.context import build_context
from missionctl.settings import Settings
from missionctl.signals.models import DeadLetter, SignalAlert
from tests.support.missionctl_server import MissionControlServer
from tests.support.receivers import ScriptedResponse, WebhookReceiver
from tests.support.waiting import wait_until

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "signals"
RETRY_AFTER = 2

CATALOG = """
people:
  - {{id: pat, name: Pat, contact_methods: [{{id: hook, kind: webhook, address: "{hooks}/pat"}}]}}
  - {{id: lee, name: Lee, contact_methods: [{{id: hook, kind: webhook, address: "{hooks}/lee"}}]}}
  - {{id: gus, name: Gus, contact_methods: [{{id: hook, kind: webhook, address: "{hooks}/gus"}}]}}
  - {{id: kim, name: Kim, contact_methods: [{{id: hook, kind: webhook, address: "{hooks}/kim"}}]}}
teams:
  - {{id: integrations, name: Integrations, members: [pat, lee, gus, kim]}}
escalation_policies:
  - {{id: pat-first, name: Pat, levels: [{{escalate_after_minutes: 30, targets: [{{person: pat}}]}}]}}
  - {{id: lee-first, name: Lee, levels: [{{escalate_after_minutes: 30, targets: [{{person: lee}}]}}]}}
  - {{id: gus-first, name: Gus, levels: [{{escalate_after_minutes: 30, targets: [{{person: gus}}]}}]}}
  - {{id: kim-first, name: Kim, levels: [{{escalate_after_minutes: 30, targets: [{{person: kim}}]}}]}}
services:
  - {{id: webhooks-gw, name: Webhook gateway, tier: 1, team: integrations, escalation_policy: pat-first,
      roles: {{integration_owner: {{person: pat}}}}}}
  - {{id: orders, name: Orders, tier: 2, team: integrations, escalation_policy: lee-first,
      roles: {{integration_owner: {{person: lee}}}}}}
  - {{id: ledger, name: Ledger, tier: 2, team: integrations, escalation_policy: gus-first,
      roles: {{integration_owner: {{person: gus}}}}}}
  - {{id: notify, name: Notify, tier: 2, team: integrations, escalation_policy: kim-first}}
"""


def alertmanager(service: str, fingerprints: list[str]) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / "alertmanager_firing.json").read_text())
    template = payload["alerts"][0]
    payload["alerts"] = []
    for fingerprint in fingerprints:
        alert = copy.deepcopy(template)
        alert["labels"] |= {"alertname": "WebhookRetryQueueDepthHigh", "service": service, "instance": fingerprint}
        alert["fingerprint"] = fingerprint
        payload["alerts"].append(alert)
    payload["commonLabels"] = {"alertname": "WebhookRetryQueueDepthHigh", "service": service}
    return payload


def pd_event(key: str, *, valid: bool = True) -> dict[str, Any]:
    event: dict[str, Any] = {"routing_key": key, "event_action": "trigger", "dedup_key": "orders-dup-1"}
    if valid:
        event["payload"] = {"summary": "orders duplicate deliveries surging", "source": "orders-1", "severity": "error"}
    return event


MAX_TRIES = 50


class Storm:
    """Threads that send like real senders: a 429 is retried after its Retry-After; other answers are final."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=30, limits=httpx.Limits(max_connections=32))
        self.answers: Counter[tuple[str, int]] = Counter()
        self.throttled = 0
        self._lock = threading.Lock()

    def send(self, kind: str, path: str, body: bytes, headers: dict[str, str]) -> None:
        for _ in range(MAX_TRIES):  # bounded: a sender that is refused this often shows up as a 429 answer
            response = self.client.post(path, content=body, headers={"content-type": "application/json", **headers})
            if response.status_code != 429:
                break
            with self._lock:
                self.throttled += 1
            time.sleep(float(response.headers.get("retry-after", "1")))  # as a real sender waits
        with self._lock:
            self.answers[(kind, response.status_code)] += 1


@pytest.fixture(scope="module")
def hooks() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as receiver:
        yield receiver


@pytest.fixture(scope="module")
def mc(hooks: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MissionControlServer]:
    folder = tmp_path_factory.mktemp("storm")
    env = {
        "MISSIONCTL_WEBHOOK_SECRET": SECRET,
        "MISSIONCTL_PUBLIC_URL": "http://127.0.0.1:1",
        "MISSIONCTL_INGEST_RATE_PER_KEY": "150",  # low enough that the storm meets the limit
        "MISSIONCTL_INGEST_BURST_PER_KEY": "150",
        "MISSIONCTL_DELIVERY_BREAKER_FAILURES": "3",
        "MISSIONCTL_DELIVERY_BREAKER_COOLDOWN_SECONDS": "3",  # then 6, capped at 8: the test stays short
        "MISSIONCTL_DELIVERY_BREAKER_MAX_COOLDOWN_SECONDS": "8",
    }
    url = f"sqlite:///{folder / 'missionctl.db'}"
    with MissionControlServer(url, catalog=CATALOG.format(hooks=hooks.base_url), env=env, directory=folder) as server:
        yield server


def stored(mc: MissionControlServer) -> tuple[dict[str, int], int]:
    """(received_count by dedup key, dead letters), straight from the database."""
    ctx = build_context(Settings(database_url=mc.database_url, runbook_dirs=[]))
    try:
        with ctx.read() as session:
            counts = {a.dedup_key: a.received_count for a in session.scalars(select(SignalAlert))}
            letters = len(session.scalars(select(DeadLetter.id)).all())
        return counts, letters
    finally:
        ctx.dispose()


def incidents(mc: MissionControlServer, **params: str) -> list[dict[str, Any]]:
    response = mc.viewer.get("/api/v1/incidents", params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def incident(mc: MissionControlServer, incident_id: int) -> dict[str, Any]:
    data: dict[str, Any] = mc.viewer.get(f"/api/v1/incidents/{incident_id}").json()
    return data


def pages_settled(mc: MissionControlServer, incident_ids: list[int]) -> bool:
    """Every page of these incidents is recorded sent: the engine has nothing left to deliver (or to double),
    and the receiver saw each attempt before the engine recorded its answer."""
    pages = [page for i in incident_ids for page in incident(mc, i)["pages"]]
    return bool(pages) and all(page["status"] == "sent" for page in pages)


def test_an_inbound_storm_of_repeats_and_malformed_payloads_is_absorbed_once(
    mc: MissionControlServer, hooks: WebhookReceiver
) -> None:
    gw = mc.create_integration("alertmanager", "webhooks-gw")
    generic = mc.create_integration("alertmanager", "ledger")
    orders = mc.create_integration("pagerduty", "orders")
    am_body = json.dumps(alertmanager("webhooks-gw", ["gw-a", "gw-b"])).encode()
    jobs: list[tuple[str, str, bytes, dict[str, str]]] = []
    jobs += [("am", "/api/v1/integrations/alertmanager", am_body, {"authorization": f"Bearer {gw}"})] * 700
    jobs += [("pd", "/v2/enqueue", json.dumps(pd_event(orders)).encode(), {})] * 600
    for i in range(300):  # 30 deliveries, each retried 10 times with the same webhook-id
        body = json.dumps(alertmanager("ledger", [f"ledger-{i % 30}"])).encode()
        headers = {"authorization": f"Bearer {generic}", "webhook-id": f"msg_{i % 30}"}
        jobs.append(("generic", "/api/v1/integrations/alertmanager", body, headers))
    jobs += [("bad-am", "/api/v1/integrations/alertmanager", b"{not json", {"authorization": f"Bearer {gw}"})] * 250
    jobs += [("bad-pd", "/v2/enqueue", json.dumps(pd_event(orders, valid=False)).encode(), {})] * 150
    jobs = [jobs[(i * 7919) % len(jobs)] for i in range(len(jobs))]  # interleaved (7919 is prime to 2,000)

    storm = Storm(mc.url)
    with ThreadPoolExecutor(24) as pool:
        list(pool.map(lambda job: storm.send(*job), jobs))
    storm.client.close()

    answers = storm.answers
    assert sum(answers.values()) == len(jobs) == 2000, answers
    assert answers[("am", 202)] == 700 and answers[("pd", 202)] == 600 and answers[("generic", 202)] == 300
    assert answers[("bad-am", 422)] == 250 and answers[("bad-pd", 400)] == 150, answers
    assert storm.throttled > 0, "the storm should have met the per-key rate limit"

    counts, letters = stored(mc)
    assert counts["gw-a"] == counts["gw-b"] == 700  # every accepted repeat counted, once
    assert counts["orders-dup-1"] == 600
    assert all(counts[f"ledger-{i}"] == 1 for i in range(30))  # a repeated webhook-id is not applied again
    assert letters == 400  # every malformed payload kept

    found = {(i["service"], i["runbook_id"]) for i in incidents(mc)}
    assert found == {("webhooks-gw", "RB-003"), ("orders", "RB-003"), ("ledger", "RB-003")}
    for person, service in (("pat", "webhooks-gw"), ("lee", "orders"), ("gus", "ledger")):
        [only] = incidents(mc, service=service)

        def paged(person: str = person, only: dict[str, Any] = only) -> list[Any]:
            return [r for r in hooks.requests if r.path == f"/{person}" and r.json()["incident"]["id"] == only["id"]]

        wait_until(f"{person}'s page", paged, diagnostics=mc.logs)
        wait_until(f"{person}'s page recorded sent", lambda i=only["id"]: pages_settled(mc, [i]), diagnostics=mc.logs)
        pages = paged()  # final: nothing is left to deliver
        assert len(pages) == len({r.webhook_id for r in pages}) == 1, [r.webhook_id for r in pages]
        assert pages[0].signature_valid


def test_an_outbound_storm_backs_off_opens_and_closes_the_breaker_and_delivers_each_page_once(
    mc: MissionControlServer, hooks: WebhookReceiver
) -> None:
    failing = [ScriptedResponse(503 if i % 2 else 429, retry_after=RETRY_AFTER) for i in range(5)]
    hooks.respond_with(failing)
    declared = []
    for n in range(5):
        body = {"runbook": "RB-002", "severity": "SEV2", "service": "notify", "title": f"notify lag {n}"}
        response = mc.admin.post("/api/v1/incidents", json=body)
        assert response.status_code == 201, response.text
        declared.append(response.json()["id"])

    def to_kim() -> list[Any]:
        return [r for r in hooks.requests if r.path == "/kim"]

    def all_delivered() -> bool:
        ok = {r.webhook_id for r in to_kim() if r.answered == 200}
        return len(ok) == 5

    wait_until("every page to kim delivered", all_delivered, diagnostics=lambda: mc.logs() + f"\n{to_kim()!r}")
    wait_until("every page recorded sent", lambda: pages_settled(mc, declared), diagnostics=mc.logs)
    by_id: dict[str | None, list[Any]] = {}
    for request in to_kim():
        by_id.setdefault(request.webhook_id, []).append(request)
    assert len(by_id) == 5
    for webhook_id, attempts in by_id.items():
        assert [a.answered for a in attempts].count(200) == 1, (webhook_id, [a.answered for a in attempts])
        assert attempts[-1].answered == 200  # nothing after the success
        for before, after in itertools.pairwise(attempts):
            gap = after.received_at - before.received_at
            assert gap >= RETRY_AFTER - 0.05, f"{webhook_id}: retried {gap:.2f}s after a Retry-After of {RETRY_AFTER}s"
    assert sum(len(a) for a in by_id.values()) == 5 + len(failing)

    kinds = [[e["kind"] for e in incident(mc, i)["timeline"]] for i in declared]
    opened = [i for i, k in zip(declared, kinds, strict=True) if "delivery_breaker_open" in k]
    closed = [i for i, k in zip(declared, kinds, strict=True) if "delivery_breaker_closed" in k]
    assert opened and closed == opened, kinds
    assert all(k.count("delivery_breaker_open") <= 1 for k in kinds)
    for incident_id in declared:
        [page] = incident(mc, incident_id)["pages"]
        assert page["status"] == "sent"
