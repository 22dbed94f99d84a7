"""The Prometheus client and the prober turn every failure into a result, never an exception or a false alarm."""

from __future__ import annotations

import math
import socket
import ssl
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from missionctl.detectors import evaluation
from missionctl.detectors.evaluation import Matrix, ProbeResult, Release, Stored, Unavailable, Vector
from missionctl.detectors.probe import Prober, classify_error
from missionctl.detectors.prometheus import PrometheusClient
from missionctl.detectors.rules import AlertState, AlertStatus, ProbeError, classify_http
from missionctl.detectors.schemas import DeployWindowDetector, SpikeDetector

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# The shape Prometheus 2.x/3.x answers `/api/v1/query` with (recorded from `prometheus --version` 3.x).
VECTOR = {
    "status": "success",
    "data": {
        "resultType": "vector",
        "result": [
            {"metric": {"__name__": "up", "instance": "db-1", "job": "pg"}, "value": [1772442000.0, "0"]},
            {"metric": {"instance": "db-2"}, "value": [1772442000.0, "NaN"]},
        ],
    },
}


def client(handler: Callable[[httpx.Request], httpx.Response]) -> PrometheusClient:
    return PrometheusClient("http://prometheus.test/", timeout=1.5, transport=httpx.MockTransport(handler))


def test_instant_queries_return_one_sample_per_series_without_the_metric_name() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=VECTOR)

    result = client(handler).query("up == 0", at=NOW)
    assert isinstance(result, Vector)
    [(first, zero), (second, nan)] = result.samples
    assert first == {"instance": "db-1", "job": "pg"} and zero == 0.0
    assert second == {"instance": "db-2"} and math.isnan(nan)
    assert seen[0].url.path == "/api/v1/query"
    assert seen[0].url.params["time"] == f"{NOW.timestamp():.3f}" and seen[0].url.params["query"] == "up == 0"


def test_range_queries_return_points_per_series() -> None:
    body = {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": {"q": "a"}, "values": [[1.0, "2"], [61.0, "+Inf"]]}]},
    }
    result = client(lambda request: httpx.Response(200, json=body)).query_range(
        "x", start=NOW - timedelta(minutes=1), end=NOW, step=60
    )
    assert isinstance(result, Matrix)
    assert result.series == [({"q": "a"}, [(1.0, 2.0), (61.0, math.inf)])]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            httpx.Response(400, json={"status": "error", "errorType": "bad_data", "error": "parse error at char 3"}),
            "Prometheus refused the query (HTTP 400, bad_data): parse error at char 3",
        ),
        (httpx.Response(502, text="<html>bad gateway</html>"), "Prometheus answered HTTP 502 without JSON"),
        (
            httpx.Response(200, json={"status": "success", "data": {"resultType": "scalar", "result": [1, "1"]}}),
            "the expression returns a scalar, not an instant vector",
        ),
        (
            httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": [{"x": 1}]}}),
            "Prometheus answered an unexpected vector shape",
        ),
    ],
)
def test_bad_answers_are_unavailable(answer: httpx.Response, reason: str) -> None:
    result = client(lambda request: answer).query("up", at=NOW)
    assert isinstance(result, Unavailable) and result.reason.startswith(reason)


def test_timeouts_and_unreachable_servers_are_unavailable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    assert client(slow).query("up", at=NOW) == Unavailable("Prometheus did not answer within 1.5 s")
    refused = client(down).query("up", at=NOW)
    assert isinstance(refused, Unavailable) and "cannot reach Prometheus" in refused.reason


def _raising(exc: BaseException) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return httpx.MockTransport(handler)


def _connect_error(cause: BaseException) -> httpx.ConnectError:
    try:
        raise httpx.ConnectError(str(cause)) from cause
    except httpx.ConnectError as exc:
        return exc


@pytest.mark.parametrize(
    ("cause", "code", "outcome"),
    [
        (ConnectionRefusedError(111, "Connection refused"), ProbeError.CONNECTION_REFUSED, "failure"),
        (ConnectionResetError(104, "Connection reset by peer"), ProbeError.CONNECTION_RESET, "failure"),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), ProbeError.NAME_NOT_FOUND, "failure"),
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure"), ProbeError.RESOLVER_UNAVAILABLE, "unknown"),
        (ssl.SSLCertVerificationError("certificate verify failed"), ProbeError.TLS, "failure"),
    ],
)
def test_transport_errors_are_classified_by_their_cause(cause: BaseException, code: str, outcome: str) -> None:
    assert classify_error(_connect_error(cause)) == code
    result = Prober(transport=_raising(_connect_error(cause))).probe("https://x.example/", timeout=1)
    assert classify_http(result.status_code, result.error, expect_min=200, expect_max=399) == outcome


def test_unrecognised_errors_fail_rather_than_hide_an_outage() -> None:
    assert classify_error(httpx.ReadError("something new")) == "ReadError"
    assert classify_error(httpx.RemoteProtocolError("illegal header")) == ProbeError.PROTOCOL


def test_probe_answers_and_redirects_are_not_followed() -> None:
    prober = Prober(transport=httpx.MockTransport(lambda r: httpx.Response(302, headers={"Location": "/login"})))
    assert prober.probe("https://x.example/readyz", timeout=1) == ProbeResult(302)


# --- pure evaluation corner cases ----------------------------------------------------------------------------------

SPIKE = SpikeDetector(kind="spike", expr="q", min_volume=10, ratio=3, min_rate_of_change=1.0, interval_seconds=60)


def _points(values: list[float]) -> list[tuple[float, float]]:
    start = NOW.timestamp() - 60 * (len(values) - 1)
    return [(start + 60 * i, v) for i, v in enumerate(values)]


def test_a_spike_must_also_be_rising_fast_enough_when_asked() -> None:
    slow = evaluation.evaluate(SPIKE, {}, Matrix([({}, _points([10] * 30 + [40, 45]))]), NOW)
    assert [u.firing for u in slow.updates] == [False]
    assert "below the 1/s minimum" in slow.updates[0].reason
    fast = evaluation.evaluate(SPIKE, {}, Matrix([({}, _points([10] * 30 + [10, 100]))]), NOW)
    assert [u.transition for u in fast.updates] == ["fired"]


def test_range_queries_end_at_now_on_the_step_grid() -> None:
    start, end, step = evaluation.range_for(SPIKE.model_copy(update={"baseline_seconds": 1750}), NOW)
    assert (end, step) == (NOW, 60) and (end - start) == timedelta(minutes=30)
    window = DeployWindowDetector(kind="after_release", expr="e", min_volume=0.01, window_seconds=900)
    assert evaluation.release_range(window, NOW - timedelta(minutes=16), NOW) is None


def test_after_release_without_a_release_resolves_what_was_firing() -> None:
    detector = DeployWindowDetector(kind="after_release", expr="e", min_volume=0.01)
    firing = AlertState(state=AlertStatus.FIRING, active_at=NOW, fired_at=NOW, last_seen_active=NOW)
    previous = {"k": Stored({}, evaluation.alert_to_json(firing), True)}
    closed = evaluation.evaluate(detector, previous, Release("2.3.1", NOW - timedelta(hours=1), None), NOW)
    assert [(u.key, u.transition, u.keep) for u in closed.updates] == [("k", "resolved", False)]
    assert evaluation.alert_from_json(evaluation.alert_to_json(firing)) == firing
