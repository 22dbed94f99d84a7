"""Real Prometheus and Alertmanager processes for end-to-end alert tests, and a metrics target they scrape.

Each launcher writes its configuration into its own folder, listens on 127.0.0.1 at a free port, waits
until `/-/ready` answers, keeps the process's log in a file (`logs()`, shown when start-up fails and
meant for assertion messages), and is always terminated on exit. Use them as context managers::

    with MetricsTarget() as target, Alertmanager(alertmanager_config(url, bearer=key)) as am:
        latency = target.gauge("payments_db_query_p95_seconds", "p95 query latency")
        rule = AlertRule("PaymentsDbP95LatencyHigh", "payments_db_query_p95_seconds > 0.15")
        with Prometheus(scrape=[target.address], rules=[rule], alertmanager=am.address) as prom:
            latency.set(0.412)
            ...

`require_binary("prometheus")` (and the other names in `BINARIES`) fails the test in CI and skips it
elsewhere when the program is missing, with the Debian package that provides it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import yaml
from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server

from tests.support.receivers import HOST, free_port
from tests.support.requirements import require

# program → the Debian package that installs it (scripts/install-test-deps.sh installs them all).
BINARIES = {"prometheus": "prometheus", "prometheus-alertmanager": "prometheus-alertmanager", "wrk": "wrk"}
START_TIMEOUT = 60.0  # a cold Go binary on a loaded 2-core machine can take a while to open its TSDB
STOP_TIMEOUT = 10.0
LOG_TAIL = 60  # lines of a process's log shown in failure messages
BIND_ATTEMPTS = 5  # another process may take the free port before ours binds it


def require_binary(name: str) -> str:
    """The path of program `name`; fails (CI) or skips (locally) the current test when it is not installed."""
    package = BINARIES.get(name, name)
    path = shutil.which(name)
    require(
        path is not None,
        f"the `{name}` program",
        f"run `bash scripts/install-test-deps.sh` (apt-get install {package})",
    )
    assert path is not None
    return path


# ------------------------------------------------------------------------------------------ metrics target


class MetricsTarget:
    """A `/metrics` endpoint (prometheus_client, private registry) on 127.0.0.1 for Prometheus to scrape."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._server: Any = None
        self._thread: Any = None

    def start(self) -> Self:
        self._server, self._thread = start_http_server(0, addr=HOST, registry=self.registry)
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def address(self) -> str:
        """`127.0.0.1:PORT`, the form a Prometheus `static_configs` target takes."""
        if self._server is None:
            raise RuntimeError("MetricsTarget not started")
        return f"{HOST}:{self._server.server_port}"

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, documentation, list(labels), registry=self.registry)

    def histogram(
        self, name: str, documentation: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> Histogram:
        return Histogram(name, documentation, list(labels), buckets=list(buckets), registry=self.registry)


# ---------------------------------------------------------------------------------------------- processes


class ServerProcess:
    """One Go server in a subprocess: config written to a folder, a free port, readiness, a log file."""

    name = "server"

    def __init__(self, directory: Path | None = None) -> None:
        self._own_dir: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._own_dir = tempfile.TemporaryDirectory(prefix=f"mc-{self.name}-")
            directory = Path(self._own_dir.name)
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log_path = self.directory / f"{self.name}.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    # what a subclass provides

    def write_config(self) -> None:
        raise NotImplementedError

    def argv(self, port: int) -> list[str]:
        raise NotImplementedError

    # lifecycle

    def start(self) -> Self:
        if self._proc is not None:
            raise RuntimeError(f"{self.name} already started")
        self.write_config()
        for attempt in range(BIND_ATTEMPTS):
            self.port = free_port()
            self._spawn()
            if self._wait_ready():
                return self
            bind_race = "address already in use" in self.logs().lower()
            self._stop()
            if not bind_race or attempt == BIND_ATTEMPTS - 1:
                raise AssertionError(f"{self.name} did not become ready on {self.address}\n{self.logs()}")
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._stop()
        if self._own_dir is not None:
            self._own_dir.cleanup()
            self._own_dir = None

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _spawn(self) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"---- starting {self.name} on {self.address}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                self.argv(self.port), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.directory
            )

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(timeout=2) as client:
            while time.monotonic() < deadline:
                if self._proc is None or self._proc.poll() is not None:
                    return False
                try:
                    if client.get(f"{self.url}/-/ready").status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        return False

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)

    # addresses and diagnostics

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def logs(self, tail: int = LOG_TAIL) -> str:
        """The last `tail` lines the process logged, headed with its name (for assertion messages)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            lines = []
        return f"==== {self.name} log (last {tail} lines) ====\n" + "\n".join(lines[-tail:])


# ------------------------------------------------------------------------------------------- Alertmanager


def alertmanager_config(
    webhook_url: str | None,
    *,
    bearer: str | None = None,
    group_by: Sequence[str] = ("alertname", "service"),
    group_wait: str = "0s",
    group_interval: str = "1s",
    repeat_interval: str = "4h",
    send_resolved: bool = True,
    max_alerts: int = 0,
) -> dict[str, Any]:
    """A one-route Alertmanager configuration: every alert to one webhook (None: to a receiver that drops them).

    `bearer` is sent as `Authorization: Bearer …`, as a Mission Control integration key is.
    """
    receiver: dict[str, Any] = {"name": "default"}
    if webhook_url is not None:
        webhook: dict[str, Any] = {"url": webhook_url, "send_resolved": send_resolved, "max_alerts": max_alerts}
        if bearer is not None:
            webhook["http_config"] = {"authorization": {"type": "Bearer", "credentials": bearer}}
        receiver["webhook_configs"] = [webhook]
    return {
        "route": {
            "receiver": "default",
            "group_by": list(group_by),
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
        },
        "receivers": [receiver],
    }


class Alertmanager(ServerProcess):
    """A real `prometheus-alertmanager`, gossip off (`--cluster.listen-address=`), state in its folder."""

    name = "alertmanager"

    def __init__(self, config: Mapping[str, Any], *, directory: Path | None = None, log_level: str = "debug") -> None:
        super().__init__(directory)
        self.binary = require_binary("prometheus-alertmanager")
        self.config = dict(config)
        self.log_level = log_level

    def write_config(self) -> None:
        (self.directory / "alertmanager.yml").write_text(yaml.safe_dump(self.config, sort_keys=False))
        (self.directory / "data").mkdir(exist_ok=True)

    def argv(self, port: int) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.directory / 'alertmanager.yml'}",
            f"--storage.path={self.directory / 'data'}",
            f"--web.listen-address={HOST}:{port}",
            "--cluster.listen-address=",
            f"--log.level={self.log_level}",
        ]

    def post_alerts(self, alerts: Iterable[Mapping[str, Any]]) -> None:
        """`POST /api/v2/alerts`, as Prometheus does (give `endsAt` after `startsAt`, or leave both out)."""
        response = httpx.post(f"{self.url}/api/v2/alerts", json=list(alerts), timeout=10)
        assert response.status_code == 200, f"{response.status_code} {response.text}\n{self.logs()}"

    def alerts(self) -> list[dict[str, Any]]:
        """`GET /api/v2/alerts`: what Alertmanager currently holds."""
        response = httpx.get(f"{self.url}/api/v2/alerts", timeout=10)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
        return alerts


# --------------------------------------------------------------------------------------------- Prometheus


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule, as a Prometheus rule file writes it."""

    alert: str
    expr: str
    for_: str = "0s"
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def as_yaml(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.alert, "expr": self.expr, "for": self.for_}
        if self.labels:
            rule["labels"] = dict(self.labels)
        if self.annotations:
            rule["annotations"] = dict(self.annotations)
        return rule


class Prometheus(ServerProcess):
    """A real `prometheus` scraping `scrape` targets every `interval`, evaluating `rules` as often.

    Alerts go to `alertmanager` (`HOST:PORT`). `resend_delay` is how often a firing alert is re-sent; it
    also sets the alert's `endsAt` (4 times the resend delay ahead), so it is kept well above a loaded machine's
    hiccups: a short one would let Alertmanager resolve an alert Prometheus still sees firing.
    """

    name = "prometheus"

    def __init__(
        self,
        *,
        scrape: Sequence[str] = (),
        rules: Sequence[AlertRule] = (),
        alertmanager: str | None = None,
        interval: str = "1s",
        resend_delay: str = "15s",
        directory: Path | None = None,
    ) -> None:
        super().__init__(directory)
        self.binary = require_binary("prometheus")
        self.scrape = list(scrape)
        self.rules = list(rules)
        self.alertmanager = alertmanager
        self.interval = interval
        self.resend_delay = resend_delay

    def write_config(self) -> None:
        rules_file = self.directory / "rules.yml"
        groups = [{"name": "missionctl-tests", "interval": self.interval, "rules": [r.as_yaml() for r in self.rules]}]
        rules_file.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": self.interval,
                "scrape_timeout": self.interval,
                "evaluation_interval": self.interval,
            },
            "rule_files": [str(rules_file)],
            "scrape_configs": [{"job_name": "target", "static_configs": [{"targets": self.scrape}]}],
        }
        if self.alertmanager is not None:
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [self.alertmanager]}]}]}
        (self.directory / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        (self.directory / "data").mkdir(exist_ok=True)

    def argv(self, port: int) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.directory / 'data'}",
            f"--web.listen-address={HOST}:{port}",
            f"--rules.alert.resend-delay={self.resend_delay}",
            "--log.level=info",
        ]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """Prometheus's active alerts (`pending` and `firing`)."""
        response = httpx.get(f"{self.url}/api/v1/alerts", timeout=10)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()["data"]["alerts"]
        return alerts

    def targets_up(self) -> bool:
        """Whether every scrape target's last scrape succeeded."""
        response = httpx.get(f"{self.url}/api/v1/targets", params={"state": "active"}, timeout=10)
        response.raise_for_status()
        active = response.json()["data"]["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)
