"""A tiny released service on 127.0.0.1 for rollback tests and benches: its readiness follows the deployed artifact.

The "deployed" artifact is a digest in a state file, so a rollback command (a separate process) can switch it.
`/readyz` answers 200 while the deployed artifact is a good one and 503 otherwise; every answer is recorded with
its wall-clock time, so a bench can tell when the third failing probe was answered.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.support.receivers import HOST

ROLLBACK_SCRIPT = """\
import json, sys, time
state, digest, stamp = sys.argv[1], sys.argv[2], sys.argv[3]
started = time.time()
with open(stamp, "a") as f:
    f.write(json.dumps({"started": started, "digest": digest}) + "\\n")
with open(state, "w") as f:
    json.dump({"artifact": digest}, f)
print("rolled back to", digest)
"""


def digest(n: int) -> str:
    return "sha256:" + f"{n:02x}" * 32


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class ReleasedService:
    """`/readyz` is 200 while the artifact in `state_file` is in `good`, else 503; other paths answer 200."""

    def __init__(self, directory: Path, *, good: set[str]) -> None:
        self.state_file = directory / "deployed.json"
        self.stamp_file = directory / "rollback-started.jsonl"
        self.script = directory / "rollback.py"
        self.script.write_text(ROLLBACK_SCRIPT)
        self.good = good
        self.answers: list[tuple[float, int]] = []  # (time.time(), status) of /readyz answers
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:
                status = owner._status(self.path)
                body = b'{"ok": true}' if status == 200 else b'{"ok": false}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = _Server((HOST, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}"

    def deploy(self, artifact: str) -> None:
        self.state_file.write_text(json.dumps({"artifact": artifact}))

    @property
    def deployed(self) -> str:
        data: dict[str, str] = json.loads(self.state_file.read_text())
        return data["artifact"]

    def rollback_argv(self) -> list[str]:
        return [
            sys.executable,
            str(self.script),
            str(self.state_file),
            "${last_healthy.artifact_digest}",
            str(self.stamp_file),
        ]

    def rollback_starts(self) -> list[float]:
        if not self.stamp_file.exists():
            return []
        return [json.loads(line)["started"] for line in self.stamp_file.read_text().splitlines() if line]

    def failures_since(self, since: float) -> list[float]:
        with self._lock:
            return [t for t, status in self.answers if t >= since and status != 200]

    def _status(self, path: str) -> int:
        if not path.startswith("/readyz"):
            return 200
        try:
            status = 200 if self.deployed in self.good else 503
        except (OSError, ValueError):
            status = 503
        with self._lock:
            self.answers.append((time.time(), status))
        return status

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
