"""Real local HTTP servers for detector tests: a probe target whose status you flip, and a tiny Prometheus API.

`FakePrometheus` answers `/api/v1/query` and `/api/v1/query_range` in the Prometheus HTTP API's JSON shape
from a Python function `values(expr, unix_time) -> [(labels, value), ...]` that the test swaps at will, so a
test controls exactly what each evaluation sees. Real Prometheus is covered by the end-to-end tests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from tests.support.receivers import HOST

Series = Sequence[tuple[dict[str, str], float]]
Values = Callable[[str, float], Series]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    owner: _Base

    def do_GET(self) -> None:
        status, body = self.owner._answer(self.path)
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (a timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Base:
    def __init__(self) -> None:
        handler = type("Handler", (_Handler,), {"owner": self})
        self._server = _Server((HOST, 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.requests: list[str] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, path: str) -> tuple[int, Any]:
        raise NotImplementedError


class StatusServer(_Base):
    """Answers every GET with `status` (after `delay` seconds); flip `status` between probes."""

    def __init__(self, status: int = 200) -> None:
        super().__init__()
        self.status = status
        self.delay = 0.0
        self._release = threading.Event()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._release.set()
        super().__exit__(*exc)

    def _answer(self, path: str) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(path)
        if self.delay:
            self._release.wait(self.delay)
        return self.status, {"status": self.status}


class FakePrometheus(_Base):
    """The two query endpoints of the Prometheus HTTP API over a Python function of (expr, time)."""

    def __init__(self, values: Values | None = None) -> None:
        super().__init__()
        self.values: Values = values or (lambda expr, t: [])
        self.error: tuple[int, dict[str, Any]] | None = None  # answer this instead, while set
        self.queries: list[dict[str, str]] = []

    def _answer(self, path: str) -> tuple[int, Any]:
        parts = urlsplit(path)
        params = {key: value[0] for key, value in parse_qs(parts.query).items()}
        with self._lock:
            self.queries.append({"path": parts.path, **params})
        if self.error is not None:
            return self.error
        if parts.path == "/api/v1/query":
            t = float(params["time"])
            result = [{"metric": labels, "value": [t, _text(v)]} for labels, v in self.values(params["query"], t)]
            return 200, {"status": "success", "data": {"resultType": "vector", "result": result}}
        if parts.path == "/api/v1/query_range":
            return 200, {"status": "success", "data": {"resultType": "matrix", "result": self._matrix(params)}}
        return 404, {"status": "error", "errorType": "not_found", "error": parts.path}

    def _matrix(self, params: dict[str, str]) -> list[dict[str, Any]]:
        start, end, step = float(params["start"]), float(params["end"]), float(params["step"])
        by_labels: dict[str, dict[str, Any]] = {}
        t = start
        while t <= end + 1e-6:
            for labels, value in self.values(params["query"], t):
                entry = by_labels.setdefault(json.dumps(labels, sort_keys=True), {"metric": labels, "values": []})
                entry["values"].append([t, _text(value)])
            t += step
        return list(by_labels.values())


def _text(value: float) -> str:
    return repr(float(value)) if value == value else "NaN"
