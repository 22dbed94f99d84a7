"""The detector runner against real local HTTP servers, on a fast-forwarded clock, through to incidents and pages."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from missionctl.catalog import loader as catalog_loader
from missionctl.catalog import service as catalog
from missionctl.clock import FrozenClock
from missionctl.context import AppContext
from missionctl.detectors.config import parse_detectors
from missionctl.detectors.models import DetectorSchedule, DetectorState
from missionctl.detectors.probe import Prober
from missionctl.detectors.prometheus import PrometheusClient
from missionctl.detectors.runner import DetectorRunner
from missionctl.incidents import service as incidents
from missionctl.incidents.models import Incident
from missionctl.notifications.models import Notification, Purpose
from missionctl.signals.models import SignalAlert
from tests.support.detector_targets import FakePrometheus, StatusServer
from tests.support.receivers import free_port

EXAMPLES = Path(__file__).parents[2] / "examples" / "catalog"
NOWHERE = "http://127.0.0.1:9"  # for runners that never query Prometheus

MakeRunner = Callable[..., DetectorRunner]


@pytest.fixture
def with_catalog(ctx: AppContext) -> AppContext:
    with ctx.write() as session:
        catalog.load_catalog(session, documents=catalog_loader.read_paths([EXAMPLES]), now=ctx.clock.now())
    return ctx


@pytest.fixture
def make_runner(with_catalog: AppContext) -> Iterator[MakeRunner]:
    runners: list[DetectorRunner] = []

    def make(text: str, *, prometheus: str = NOWHERE, transport: httpx.BaseTransport | None = None) -> DetectorRunner:
        detectors, problems = parse_detectors(text, "detectors.yaml", with_catalog.runbooks)
        assert problems == []
        runner = DetectorRunner(
            with_catalog,
            detectors,
            prometheus=PrometheusClient(prometheus, timeout=2),
            prober=Prober(transport=transport),
        )
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.close()


def open_incidents(ctx: AppContext, service: str, runbook: str) -> list[Incident]:
    with ctx.read() as session:
        return incidents.list_incidents(session, service=service, runbook_id=runbook)


def pages(ctx: AppContext, incident_id: int) -> list[Notification]:
    with ctx.read() as session:
        query = select(Notification).where(
            Notification.incident_id == incident_id, Notification.purpose == Purpose.PAGE
        )
        return list(session.scalars(query))


def alerts(ctx: AppContext) -> list[SignalAlert]:
    with ctx.read() as session:
        return list(session.scalars(select(SignalAlert).order_by(SignalAlert.id)))


def ticks(runner: DetectorRunner, clock: FrozenClock, count: int, every: timedelta) -> list[int]:
    """Tick `count` times, `every` apart (the first tick at the clock's time); the number fired at each."""
    fired = []
    for index in range(count):
        if index:
            clock.advance(every)
        fired.append(runner.tick(clock.now()).applied.fired)
    return fired


# --- PromQL: for / keep_firing_for --------------------------------------------------------------------------------

RB002 = """
detectors:
  - name: payments-db
    service: payments-db
    runbook: RB-002
    vars: {slo_seconds: 0.15}
"""


def test_for_ten_minutes_fires_at_ten_minutes_not_nine(make_runner: MakeRunner, clock: FrozenClock) -> None:
    start = clock.now()
    with FakePrometheus(lambda expr, t: [({"instance": "db-1"}, 0.41)]) as prom:
        runner = make_runner(RB002, prometheus=prom.url)
        assert ticks(runner, clock, 10, timedelta(minutes=1)) == [0] * 10  # minutes 0..9: pending
        assert open_incidents(runner.ctx, "payments-db", "RB-002") == []
        clock.advance(timedelta(seconds=30))
        assert runner.tick(clock.now()).evaluated == []  # not due between evaluations
        clock.advance(timedelta(seconds=30))
        assert runner.tick(clock.now()).applied.fired == 1  # minute 10
        queried = [float(q["time"]) for q in prom.queries]
        assert 'db_query_duration_seconds_bucket{service="payments-db"}' in prom.queries[0]["query"]
        assert prom.queries[0]["query"].endswith("> 0.15")
    assert queried == [(start + timedelta(minutes=m)).timestamp() for m in range(11)]
    [incident] = open_incidents(runner.ctx, "payments-db", "RB-002")
    assert incident.severity == "SEV3"
    [alert] = alerts(runner.ctx)
    assert alert.origin == "detector:payments-db.p95_latency" and alert.status == "firing"
    assert alert.labels["instance"] == "db-1" and alert.labels["runbook"] == "RB-002"
    assert alert.starts_at == start  # when the condition first held, not when it fired


def test_a_restart_neither_forgets_pending_time_nor_fires_again(make_runner: MakeRunner, clock: FrozenClock) -> None:
    with FakePrometheus(lambda expr, t: [({}, 1.0)]) as prom:
        assert ticks(make_runner(RB002, prometheus=prom.url), clock, 6, timedelta(minutes=1)) == [0] * 6
        clock.advance(timedelta(minutes=1))
        restarted = make_runner(RB002, prometheus=prom.url)
        assert ticks(restarted, clock, 5, timedelta(minutes=1)) == [0, 0, 0, 0, 1]  # minute 10
        clock.advance(timedelta(minutes=1))
        again = make_runner(RB002, prometheus=prom.url)
        assert again.tick(clock.now()).applied.fired == 0
    assert len(open_incidents(again.ctx, "payments-db", "RB-002")) == 1


KEEP_FIRING = """
detectors:
  - name: db-down
    service: payments-db
    runbook: RB-002
    detector:
      kind: promql
      expr: pg_up == 0
      interval_seconds: 60
      keep_firing_for_seconds: 300
"""


def test_keep_firing_for_holds_then_resolves(make_runner: MakeRunner, clock: FrozenClock) -> None:
    down_until = clock.now() + timedelta(seconds=30)
    with FakePrometheus(lambda expr, t: [({"instance": "db-1"}, 0.0)] if t < down_until.timestamp() else []) as prom:
        runner = make_runner(KEEP_FIRING, prometheus=prom.url)
        assert runner.tick(clock.now()).applied.fired == 1  # for: 0 fires at once
        recovered = []
        for _ in range(6):  # minutes 1..6: condition false from minute 1, so it keeps firing until minute 6
            clock.advance(timedelta(minutes=1))
            recovered.append(runner.tick(clock.now()).applied.recovered)
    assert recovered == [0, 0, 0, 0, 0, 1]
    [alert] = alerts(runner.ctx)
    assert alert.status == "resolved" and alert.resolved_at == clock.now()
    with runner.ctx.read() as session:
        assert session.scalars(select(DetectorState)).all() == []  # nothing left to remember


def test_prometheus_errors_never_fire_nor_resolve(make_runner: MakeRunner, clock: FrozenClock) -> None:
    with FakePrometheus(lambda expr, t: [({}, 1.0)]) as prom:
        runner = make_runner(
            KEEP_FIRING.replace("keep_firing_for_seconds: 300", "for_seconds: 120"), prometheus=prom.url
        )
        runner.tick(clock.now())  # pending
        prom.error = (422, {"status": "error", "errorType": "execution", "error": "many-to-many matching not allowed"})
        assert ticks(runner, clock, 4, timedelta(minutes=1))[1:] == [0, 0, 0]
        with runner.ctx.read() as session:
            schedule = session.get_one(DetectorSchedule, "db-down")
            assert "many-to-many matching not allowed" in (schedule.last_error or "")
            [state] = session.scalars(select(DetectorState)).all()
            assert state.state["state"] == "pending"  # an error is no evidence either way
        prom.error = None
        clock.advance(timedelta(minutes=1))
        assert runner.tick(clock.now()).applied.fired == 1  # pending since minute 0


# --- HTTP probes ---------------------------------------------------------------------------------------------------


def rb001(url: str) -> str:
    return f"""
detectors:
  - name: checkout
    service: checkout
    runbook: RB-001
    use: [readiness]
    vars: {{readiness_url: "{url}"}}
"""


def test_three_consecutive_probe_failures_open_rb001_and_page(make_runner: MakeRunner, clock: FrozenClock) -> None:
    with StatusServer(503) as target:
        runner = make_runner(rb001(target.url + "/readyz"))
        assert ticks(runner, clock, 3, timedelta(seconds=10)) == [0, 0, 1]
        assert target.requests == ["/readyz"] * 3
        [incident] = open_incidents(runner.ctx, "checkout", "RB-001")
        assert incident.severity == "SEV2" and "3 consecutive probes" in incident.title
        assert pages(runner.ctx, incident.id), "declaring from a detector pages the owning team"
        target.status = 200
        clock.advance(timedelta(seconds=10))
        assert runner.tick(clock.now()).applied.recovered == 1
    [alert] = alerts(runner.ctx)
    assert alert.status == "resolved"
    assert open_incidents(runner.ctx, "checkout", "RB-001")[0].status != "resolved"  # people resolve incidents


def test_two_failures_and_a_success_start_the_count_again(make_runner: MakeRunner, clock: FrozenClock) -> None:
    statuses = iter([503, 500, 200, 503, 502])
    with StatusServer() as target:
        runner = make_runner(rb001(target.url))
        fired = []
        for index, status in enumerate(statuses):
            if index:
                clock.advance(timedelta(seconds=10))
            target.status = status
            fired.append(runner.tick(clock.now()).applied.fired)
    assert fired == [0] * 5
    assert open_incidents(runner.ctx, "checkout", "RB-001") == []


@pytest.mark.parametrize("problem", ["refused", "timeout"])
def test_refused_and_timed_out_probes_are_failures(make_runner: MakeRunner, clock: FrozenClock, problem: str) -> None:
    with StatusServer(200) as target:
        target.delay = 5.0
        url = target.url if problem == "timeout" else f"http://127.0.0.1:{free_port()}/"
        runner = make_runner(
            f"""
detectors:
  - name: checkout-ready
    service: checkout
    runbook: RB-001
    detector: {{kind: http_probe, url: "{url}", timeout_seconds: 0.3, failure_threshold: 3}}
"""
        )
        assert ticks(runner, clock, 3, timedelta(seconds=10)) == [0, 0, 1]


def test_probes_that_cannot_be_evaluated_are_unknown_not_failed(make_runner: MakeRunner, clock: FrozenClock) -> None:
    def resolver_down(request: httpx.Request) -> httpx.Response:
        cause = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution", request=request) from cause

    runner = make_runner(rb001("https://checkout.internal/readyz"), transport=httpx.MockTransport(resolver_down))
    assert ticks(runner, clock, 5, timedelta(seconds=10)) == [0] * 5
    assert open_incidents(runner.ctx, "checkout", "RB-001") == []
    with runner.ctx.read() as session:
        schedule = session.get_one(DetectorSchedule, "checkout.readiness")
        assert schedule.last_error is not None and "resolver_unavailable" in schedule.last_error
        state = session.scalars(select(DetectorState)).one().state
        assert state == {"consecutive_failures": 0, "consecutive_successes": 0, "status": "unknown"}


# --- spikes and after-release windows ------------------------------------------------------------------------------

RB003 = """
detectors:
  - name: webhooks
    service: webhooks
    runbook: RB-003
    use: [retry_queue]
    vars: {}
"""


def test_spikes_fire_above_the_volume_floor_and_idle_series_never_page(
    make_runner: MakeRunner, clock: FrozenClock
) -> None:
    surge_at = (clock.now() + timedelta(minutes=2)).timestamp()

    def depth(expr: str, t: float) -> list[tuple[dict[str, str], float]]:
        surging = t >= surge_at
        return [({"queue": "idle"}, 60.0 if surging else 0.0), ({"queue": "busy"}, 400.0 if surging else 40.0)]

    with FakePrometheus(depth) as prom:
        runner = make_runner(RB003, prometheus=prom.url)
        assert ticks(runner, clock, 5, timedelta(minutes=1)) == [0, 0, 1, 0, 0]
        assert prom.queries[0]["path"] == "/api/v1/query_range" and prom.queries[0]["step"] == "60"
    [alert] = alerts(runner.ctx)
    assert alert.labels["queue"] == "busy"
    assert "10\u00d7 its 30-minute median 40" in alert.summary
    [incident] = open_incidents(runner.ctx, "webhooks", "RB-003")
    assert incident.runbook_id == "RB-003"


RB001_AFTER_RELEASE = """
detectors:
  - name: checkout
    service: checkout
    runbook: RB-001
    use: [error_rate]
    vars: {key_endpoints: "/api/checkout|/api/cart"}
"""


def test_after_release_compares_the_window_after_a_posted_deployment(
    make_runner: MakeRunner, client: TestClient, clock: FrozenClock
) -> None:
    released = clock.now() + timedelta(minutes=5)

    def error_rate(expr: str, t: float) -> list[tuple[dict[str, str], float]]:
        return [({}, 0.08 if t > released.timestamp() else 0.01)]

    with FakePrometheus(error_rate) as prom:
        runner = make_runner(RB001_AFTER_RELEASE, prometheus=prom.url)
        assert runner.tick(clock.now()).applied.fired == 0  # no release yet: nothing to compare, no query
        assert prom.queries == []
        clock.set(released)
        staging = {"service": "checkout", "version": "2.3.1", "environment": "staging", "deployed_by": "ci"}
        digest = "sha256:" + "ab" * 32
        assert client.post("/api/v1/deployments", json={**staging, "artifact_digest": digest}).status_code == 201
        production = {**staging, "environment": "production", "artifact_digest": digest}
        assert client.post("/api/v1/deployments", json=production).status_code == 201
        clock.advance(timedelta(minutes=1))
        assert runner.tick(clock.now()).applied.fired == 1
        [query] = prom.queries
        assert float(query["start"]) == (released - timedelta(minutes=30)).timestamp()
        assert 'handler=~"/api/checkout|/api/cart"' in query["query"]
        clock.set(released + timedelta(minutes=16))  # the 15-minute window has closed
        assert runner.tick(clock.now()).applied.recovered == 1
    [alert] = alerts(runner.ctx)
    assert "release 2.3.1" in alert.summary and "8\u00d7" in alert.summary
    [incident] = open_incidents(runner.ctx, "checkout", "RB-001")
    assert pages(runner.ctx, incident.id)


def test_a_changed_or_removed_detector_recovers_what_it_had_fired(make_runner: MakeRunner, clock: FrozenClock) -> None:
    with FakePrometheus(lambda expr, t: [({}, 0.0)]) as prom:
        assert make_runner(KEEP_FIRING, prometheus=prom.url).tick(clock.now()).applied.fired == 1
        clock.advance(timedelta(minutes=1))
        result = make_runner("detectors: []", prometheus=prom.url).tick(clock.now())
    assert result.applied.recovered == 1
    with make_runner("detectors: []").ctx.read() as session:
        assert session.scalars(select(DetectorSchedule)).all() == []
