"""A small Prometheus HTTP API client: instant and range queries, with every failure an `Unavailable` result.

Detectors never fire on errors, so nothing here raises for a bad answer: a timeout, a refused query or a reply
that is not the documented JSON shape becomes `Unavailable(reason)` and the evaluation is skipped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from missionctl import __version__
from missionctl.detectors.evaluation import Labels, Matrix, Unavailable, Vector


class PrometheusClient:
    """`/api/v1/query` and `/api/v1/query_range` against one Prometheus (or compatible) server."""

    def __init__(self, base_url: str, *, timeout: float, transport: httpx.BaseTransport | None = None) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": f"missionctl/{__version__}", "Accept": "application/json"},
        )
        self._timeout = timeout

    def close(self) -> None:
        self._client.close()

    def query(self, expr: str, *, at: datetime) -> Vector | Unavailable:
        """The instant vector `expr` returns at `at`: one sample per label set."""
        data = self._get("/api/v1/query", {"query": expr, "time": _unix(at)})
        if isinstance(data, Unavailable):
            return data
        if data.get("resultType") != "vector":
            return Unavailable(f"the expression returns a {data.get('resultType')}, not an instant vector")
        try:
            return Vector(
                [
                    (_labels(item["metric"]), _number(item["value"][1]))
                    for item in data["result"]
                    if "histogram" not in item
                ]
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            return Unavailable(f"Prometheus answered an unexpected vector shape ({type(exc).__name__}: {exc})")

    def query_range(self, expr: str, *, start: datetime, end: datetime, step: int) -> Matrix | Unavailable:
        """The points `expr` takes from `start` to `end` every `step` seconds, per label set."""
        params = {"query": expr, "start": _unix(start), "end": _unix(end), "step": str(step)}
        data = self._get("/api/v1/query_range", params)
        if isinstance(data, Unavailable):
            return data
        if data.get("resultType") != "matrix":
            return Unavailable(f"the range query returned a {data.get('resultType')}, not a matrix")
        try:
            return Matrix(
                [
                    (_labels(item["metric"]), [(float(t), _number(v)) for t, v in item["values"]])
                    for item in data["result"]
                    if "histograms" not in item  # native histograms have no single value to compare
                ]
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            return Unavailable(f"Prometheus answered an unexpected matrix shape ({type(exc).__name__}: {exc})")

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any] | Unavailable:
        try:
            response = self._client.get(path, params=params)
        except httpx.TimeoutException:
            return Unavailable(f"Prometheus did not answer within {self._timeout:g} s")
        except httpx.HTTPError as exc:
            return Unavailable(f"cannot reach Prometheus at {self._client.base_url}: {exc or type(exc).__name__}")
        try:
            body = response.json()
        except ValueError:
            return Unavailable(f"Prometheus answered HTTP {response.status_code} without JSON")
        if not isinstance(body, dict):
            return Unavailable(f"Prometheus answered HTTP {response.status_code} with unexpected JSON")
        if body.get("status") != "success" or response.is_error:
            kind, error = body.get("errorType", "error"), body.get("error", "no error message")
            return Unavailable(f"Prometheus refused the query (HTTP {response.status_code}, {kind}): {error}")
        data = body.get("data")
        return data if isinstance(data, dict) else Unavailable("Prometheus answered without a `data` object")


def _unix(at: datetime) -> str:
    return f"{at.timestamp():.3f}"


def _labels(metric: Any) -> Labels:
    if not isinstance(metric, dict):
        raise TypeError("`metric` is not an object")
    # As in Prometheus alerting rules, the metric name is not part of an alert's identity.
    return {str(key): str(value) for key, value in metric.items() if key != "__name__"}


def _number(text: Any) -> float:
    """Prometheus sends sample values as strings: "1.5", "NaN", "+Inf"."""
    return float(text)
