"""Prometheus metrics for the process: HTTP traffic by handler and domain counters, one registry per app."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.http_requests = Counter(
            "missionctl_http_requests_total",
            "HTTP requests handled",
            ["method", "handler", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "missionctl_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "handler"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.inbound_events = Counter(
            "missionctl_inbound_events_total",
            "Inbound alert events by source and outcome (accepted, invalid_payload, unroutable, unknown_service, "
            "rate_limited, invalid_key, unavailable)",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.incidents_declared = Counter(
            "missionctl_incidents_declared_total",
            "Incidents declared",
            ["runbook", "severity"],
            registry=self.registry,
        )


class MetricsMiddleware:
    """Counts requests and their latency by matched handler (never by raw path, to bound cardinality)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_name(scope)
            method = scope["method"]
            self.metrics.http_requests.labels(method, route, str(status)).inc()
            self.metrics.http_latency.labels(method, route).observe(time.perf_counter() - started)


def _route_name(scope: Scope) -> str:
    """The matched route's endpoint name (e.g. `get_incident`); the router records it in the scope."""
    route = scope.get("route")
    return str(getattr(route, "name", None) or "unmatched")
