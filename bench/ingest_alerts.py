"""Figures: alert ingestion rate and alert → first page latency, next to a real Alertmanager on this machine.

    python bench/ingest_alerts.py [--db sqlite|postgresql|both] [--seconds 5] [--samples 200] [--workers 1,2]

1. Throughput (wrk, `-t THREADS -c CONNECTIONS`, one bounded run of `--seconds` per load; a Lua script
   builds every request, so each carries label sets no earlier request had):
   - baseline: Alertmanager's own `POST /api/v2/alerts` (alerts routed to a receiver that drops them);
   - Mission Control: `missionctl serve` (SQLite; PostgreSQL too) with an Alertmanager integration key
     and the per-key rate limit off, `POST /api/v1/integrations/alertmanager` with webhook v4 bodies.
   Three loads each: one new alert per request, 100 new alerts per request (alerts/s = requests/s x 100)
   and one identical alert repeated. p50/p99 come from wrk's latency histogram (its `done()` hook).
   Targets (issue 4): single >= 0.3x Alertmanager, 100-alert >= 0.5x, repeated no slower than new.
2. Alert → first page received: one new alert at a time (each opens a new incident: a service and
   key per sample), timed from just before the POST to the signed page's arrival at a Standard
   Webhooks receiver in this process; idle, then while wrk loads ingestion at about half the measured
   single-alert rate (Lua `delay()` paces it). Baseline: Alertmanager (group_wait 0s) delivering a new
   alert group to its webhook receiver in this process, measured the same way under the same loads.
   The samples share one keep-alive connection, so with `--workers` one worker (the kernel's pick) takes
   them all: worker 0 hands its pages to its own engine, the others relay theirs to it (see
   `engine/signal.py`); both paths are timed the same, so a run measures either.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from _common import database, ratio

if TYPE_CHECKING:
    from tests.support.missionctl_server import MissionControlServer
    from tests.support.receivers import ReceivedRequest, WebhookReceiver

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ALERTNAME = "BenchP95LatencyHigh"  # RB-002's default match (`p95`, `latency`)
BULK = "bulk"  # the service the loads write to; its one incident pages person `bulk`, never `p0`
WARMUP_SAMPLES = 5
SAMPLE_TIMEOUT = 20.0
PERSON = '  - {{id: {id}, name: {id}, contact_methods: [{{id: hook, kind: webhook, address: "{url}"}}]}}'
LOADS = (("single new alert", 1, False), ("100 new alerts", 100, False), ("single repeated alert", 1, True))

# One script for every load. Parameters come from the environment; each thread numbers its alerts, so
# (run, thread, sequence) makes every label set and fingerprint unique unless BENCH_REPEAT=1.
WRK_SCRIPT = r"""
local mode = os.getenv("BENCH_MODE")  -- "am": Alertmanager API v2 array; "mc": Alertmanager webhook v4
local batch = tonumber(os.getenv("BENCH_BATCH") or "1")
local repeated = os.getenv("BENCH_REPEAT") == "1"
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local run = tonumber(os.getenv("BENCH_RUN") or "0")
local alertname = os.getenv("BENCH_ALERTNAME")
local service = os.getenv("BENCH_SERVICE")
local auth = os.getenv("BENCH_AUTH") or ""
local started = "2026-03-02T09:00:07.318Z"
local counter = 0
local fixed = nil
local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end

local function labels(t, seq)
  return string.format(
    '{"alertname":"%s","service":"%s","severity":"warning","job":"postgres-exporter","instance":"r%d-t%d-%d"}',
    alertname, service, run, t, seq)
end

local function alert(t, seq)
  if mode == "am" then
    return '{"labels":' .. labels(t, seq) ..
      ',"annotations":{"summary":"p95 query latency above SLO"},"generatorURL":"http://127.0.0.1:9090/graph"}'
  end
  return '{"status":"firing","labels":' .. labels(t, seq) ..
    ',"annotations":{"summary":"p95 query latency above SLO"},"startsAt":"' .. started ..
    '","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://127.0.0.1:9090/graph","fingerprint":"' ..
    string.format("%02x%02x%012x", run % 256, t % 256, seq) .. '"}'
end

local function body(t, first)
  local parts = {}
  for k = 0, batch - 1 do
    parts[#parts + 1] = alert(t, first + k)
  end
  local alerts = "[" .. table.concat(parts, ",") .. "]"
  if mode == "am" then
    return alerts
  end
  return '{"version":"4","groupKey":"{}:{alertname=\\"' .. alertname .. '\\"}","truncatedAlerts":0,' ..
    '"status":"firing","receiver":"missionctl","groupLabels":{"alertname":"' .. alertname .. '"},' ..
    '"commonLabels":{"alertname":"' .. alertname .. '","service":"' .. service .. '"},' ..
    '"commonAnnotations":{},"externalURL":"http://127.0.0.1:9093","alerts":' .. alerts .. '}'
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if auth ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. auth
  end
  if repeated then
    fixed = wrk.format(nil, nil, nil, body(0, 0))
  end
end

function request()
  if fixed then
    return fixed
  end
  local req = wrk.format(nil, nil, nil, body(tid, counter))
  counter = counter + batch
  return req
end

if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


# ----------------------------------------------------------------------------------------------- wrk runs


@dataclass(frozen=True)
class WrkResult:
    target: str
    load: str
    batch: int
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def request_rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def alert_rate(self) -> float:
        return self.request_rate * self.batch


@dataclass(frozen=True)
class WrkOptions:
    binary: str
    script: Path
    threads: int
    connections: int
    seconds: float


class RunCounter:
    """Numbers wrk runs so no two runs send the same label set."""

    def __init__(self) -> None:
        self.value = 0

    def next(self) -> int:
        self.value += 1
        return self.value


RUNS = RunCounter()


def wrk_env(
    mode: str, batch: int, repeated: bool, *, service: str, auth: str = "", delay_ms: float = 0
) -> dict[str, str]:
    return {
        "BENCH_MODE": mode,
        "BENCH_BATCH": str(batch),
        "BENCH_REPEAT": "1" if repeated else "0",
        "BENCH_DELAY_MS": str(int(delay_ms)),
        "BENCH_RUN": str(RUNS.next()),
        "BENCH_ALERTNAME": ALERTNAME,
        "BENCH_SERVICE": service,
        "BENCH_AUTH": auth,
    }


def wrk_argv(opts: WrkOptions, url: str, seconds: float, connections: int | None = None) -> list[str]:
    connections = connections or opts.connections
    return [
        opts.binary,
        f"-t{min(opts.threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(opts.script),
        url,
    ]


def parse_wrk(output: str, *, target: str, load: str, batch: int) -> WrkResult:
    match = re.search(r"^WRK_RESULT (\{.*\})$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    data = json.loads(match.group(1))
    return WrkResult(
        target=target,
        load=load,
        batch=batch,
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        errors=data["status_errors"] + data["socket_errors"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
    )


def run_wrk(opts: WrkOptions, url: str, env: dict[str, str], *, target: str, load: str, seconds: float) -> WrkResult:
    """One bounded wrk run (its own `-d`, and a hard timeout on top)."""
    done = subprocess.run(
        wrk_argv(opts, url, seconds),
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout, target=target, load=load, batch=int(env["BENCH_BATCH"]))


@contextmanager
def background_wrk(opts: WrkOptions, url: str, env: dict[str, str], *, target: str) -> Iterator[list[WrkResult]]:
    """wrk in the background for as long as the block runs (at most 10 minutes); its result lands in the list."""
    results: list[WrkResult] = []
    proc = subprocess.Popen(
        wrk_argv(opts, url, 600, connections=opts.connections),
        env=os.environ | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(1.0)  # let it reach its pace before the first sample
        yield results
    finally:
        proc.send_signal(signal.SIGINT)  # wrk stops, prints its summary and runs done()
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate(timeout=10)
    results.append(parse_wrk(output, target=target, load="background", batch=1))


def throughput(opts: WrkOptions, url: str, target: str, *, mode: str, service: str, auth: str) -> list[WrkResult]:
    run_wrk(opts, url, wrk_env(mode, 1, False, service=service, auth=auth), target=target, load="warm-up", seconds=1)
    return [
        run_wrk(
            opts,
            url,
            wrk_env(mode, batch, repeated, service=service, auth=auth),
            target=target,
            load=load,
            seconds=opts.seconds,
        )
        for load, batch, repeated in LOADS
    ]


def paced_env(
    mode: str, *, rate: float, latency_ms: float, connections: int, service: str, auth: str
) -> dict[str, str]:
    """About `rate` single new alerts per second across `connections` connections.

    wrk waits `delay()` after each response, so a connection's period is the delay plus the response time.
    """
    delay_ms = max(1.0, 1000.0 * connections / max(rate, 1.0) - latency_ms)
    return wrk_env(mode, 1, False, service=service, auth=auth, delay_ms=delay_ms)


# ------------------------------------------------------------------------------------------- page latency


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def wait_for_request(hooks: WebhookReceiver, path: str, after: int, timeout: float) -> ReceivedRequest:
    """The first request to `path` beyond the `after` already seen there (polls; arrival time is the receiver's)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        matching = [r for r in hooks.requests if r.path == path]
        if len(matching) > after:
            return matching[after]
        time.sleep(0.002)
    raise RuntimeError(f"no request to {path} within {timeout}s")


def count(hooks: WebhookReceiver, path: str) -> int:
    return sum(1 for r in hooks.requests if r.path == path)


@dataclass(frozen=True)
class LatencyResult:
    target: str
    condition: str
    samples: list[float]
    background: WrkResult | None = None

    def line(self, baseline: LatencyResult | None) -> str:
        bg = f"{self.background.alert_rate:8.0f}" if self.background else f"{'-':>8}"
        vs = ratio(pct(self.samples, 0.99), pct(baseline.samples, 0.99)) if baseline else ""
        return (
            f"{self.target:<22} {self.condition:<7} {pct(self.samples, 0.5):8.1f} {pct(self.samples, 0.99):8.1f} "
            f"{len(self.samples):4d} {bg} {vs:>9}"
        )


def mc_page_latency(mc: MissionControlServer, hooks: WebhookReceiver, keys: list[str], label: str) -> list[float]:
    """Post one new alert per key (one service each) and time until the page reaches person p0."""
    samples: list[float] = []
    with httpx.Client(base_url=mc.url, timeout=30) as client:
        for i, key in enumerate(keys):
            before = count(hooks, "/p0")
            body = webhook_body(f"lat-{label}-{i}", service=f"lat-{i:03d}")
            started = time.monotonic()
            response = client.post(
                "/api/v1/integrations/alertmanager", content=body, headers={"Authorization": f"Bearer {key}"}
            )
            if response.status_code != 202:
                raise RuntimeError(f"ingest answered {response.status_code}: {response.text}")
            page = wait_for_request(hooks, "/p0", before, SAMPLE_TIMEOUT)
            if i >= WARMUP_SAMPLES:
                samples.append(page.received_at - started)
    return samples


def am_page_latency(am_url: str, hooks: WebhookReceiver, count_: int, label: str) -> list[float]:
    """Post one alert of a new group at a time to Alertmanager and time until its webhook arrives."""
    samples: list[float] = []
    with httpx.Client(base_url=am_url, timeout=30) as client:
        for i in range(count_ + WARMUP_SAMPLES):
            before = count(hooks, "/am")
            alert = {"labels": {"alertname": f"LatencySample{label}{i}", "service": f"lat-{i:03d}"}}
            started = time.monotonic()
            response = client.post("/api/v2/alerts", json=[alert])
            if response.status_code != 200:
                raise RuntimeError(f"Alertmanager answered {response.status_code}: {response.text}")
            notification = wait_for_request(hooks, "/am", before, SAMPLE_TIMEOUT)
            if i >= WARMUP_SAMPLES:
                samples.append(notification.received_at - started)
    return samples


def webhook_body(instance: str, *, service: str) -> bytes:
    alert = {
        "status": "firing",
        "labels": {"alertname": ALERTNAME, "service": service, "severity": "warning", "instance": instance},
        "annotations": {"summary": "p95 query latency above SLO"},
        "startsAt": "2026-03-02T09:00:07.318Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph",
        "fingerprint": instance,
    }
    return json.dumps(
        {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="{ALERTNAME}"}}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "missionctl",
            "groupLabels": {"alertname": ALERTNAME},
            "commonLabels": alert["labels"],
            "commonAnnotations": alert["annotations"],
            "externalURL": "http://127.0.0.1:9093",
            "alerts": [alert],
        }
    ).encode()


# ------------------------------------------------------------------------------------------------ targets


def am_config(hooks: WebhookReceiver) -> dict[str, Any]:
    """Load alerts go to a receiver that drops them; each latency sample is a new group paged at once."""
    return {
        "route": {
            "receiver": "drop",
            "group_by": ["alertname"],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "4h",
            "routes": [
                {
                    "receiver": "hook",
                    "matchers": ['alertname=~"LatencySample.*"'],
                    "group_by": ["alertname"],
                    "group_wait": "0s",
                    "group_interval": "1s",
                    "repeat_interval": "4h",
                }
            ],
        },
        "receivers": [
            {"name": "drop"},
            {"name": "hook", "webhook_configs": [{"url": hooks.url("/am"), "send_resolved": False}]},
        ],
    }


def mc_catalog(hooks: WebhookReceiver, services: int) -> str:
    lines = [
        "people:",
        *(PERSON.format(id=who, url=hooks.url(who)) for who in ("p0", "bulk")),
        "teams:",
        "  - {id: crew, name: Crew, members: [p0, bulk]}",
        "escalation_policies:",
        "  - {id: p0, name: P0, levels: [{escalate_after_minutes: 60, targets: [{person: p0}]}]}",
        "  - {id: bulk, name: Bulk, levels: [{escalate_after_minutes: 60, targets: [{person: bulk}]}]}",
        "services:",
        f"  - {{id: {BULK}, name: Bulk, tier: 2, team: crew, escalation_policy: bulk}}",
    ]
    lines += [
        f"  - {{id: lat-{i:03d}, name: Lat {i}, tier: 2, team: crew, escalation_policy: p0}}" for i in range(services)
    ]
    return "\n".join(lines) + "\n"


def mc_env() -> dict[str, str]:
    return {
        "MISSIONCTL_WEBHOOK_SECRET": SECRET,
        "MISSIONCTL_LOG_LEVEL": "warning",
        "MISSIONCTL_INGEST_RATE_PER_KEY": "0",  # 0: unlimited
        "MISSIONCTL_INGEST_BURST_PER_KEY": "100000",
        "MISSIONCTL_DELIVERY_RATE_PER_DESTINATION": "100000",
        "MISSIONCTL_DELIVERY_BURST_PER_DESTINATION": "100000",
    }


# ---------------------------------------------------------------------------------------------------- runs


def bench_alertmanager(
    opts: WrkOptions, hooks: WebhookReceiver, samples: int, tmp: Path
) -> tuple[list[WrkResult], list[LatencyResult]]:
    from tests.support.prometheus import Alertmanager

    with Alertmanager(am_config(hooks), directory=tmp / "alertmanager", log_level="warn") as am:
        url = f"{am.url}/api/v2/alerts"
        results = throughput(opts, url, "alertmanager", mode="am", service=BULK, auth="")
        idle = LatencyResult("alertmanager", "idle", am_page_latency(am.url, hooks, samples, "idle"))
        env = paced_env(
            "am",
            rate=results[0].alert_rate / 2,
            latency_ms=results[0].p50_ms,
            connections=opts.connections,
            service=BULK,
            auth="",
        )
        with background_wrk(opts, url, env, target="alertmanager") as background:
            loaded_samples = am_page_latency(am.url, hooks, samples, "loaded")
        loaded = LatencyResult("alertmanager", "loaded", loaded_samples, background[0])
    return results, [idle, loaded]


def bench_missionctl(
    kind: str, workers: int, opts: WrkOptions, hooks: WebhookReceiver, samples: int, tmp: Path
) -> tuple[list[WrkResult], list[LatencyResult]]:
    from tests.support.missionctl_server import MissionControlServer

    target = f"missionctl {kind}" + (f" x{workers}" if workers > 1 else "")
    services = 2 * (samples + WARMUP_SAMPLES)  # a fresh service (so a fresh incident) per sample, idle and loaded
    with (
        database(kind) as url,
        MissionControlServer(
            url,
            catalog=mc_catalog(hooks, services),
            env=mc_env(),
            directory=tmp / f"{kind}-{workers}",
            extra_args=("--workers", str(workers)),
        ) as mc,
    ):
        bulk_key = mc.create_integration("alertmanager", BULK)
        keys = [mc.create_integration("alertmanager", f"lat-{i:03d}") for i in range(services)]
        ingest = f"{mc.url}/api/v1/integrations/alertmanager"
        results = throughput(opts, ingest, target, mode="mc", service=BULK, auth=bulk_key)
        half = len(keys) // 2
        idle = LatencyResult(target, "idle", mc_page_latency(mc, hooks, keys[:half], "idle"))
        env = paced_env(
            "mc",
            rate=results[0].alert_rate / 2,
            latency_ms=results[0].p50_ms,
            connections=opts.connections,
            service=BULK,
            auth=bulk_key,
        )
        with background_wrk(opts, ingest, env, target=target) as background:
            loaded_samples = mc_page_latency(mc, hooks, keys[half:], "loaded")
        loaded = LatencyResult(target, "loaded", loaded_samples, background[0])
    return results, [idle, loaded]


# -------------------------------------------------------------------------------------------------- report


def print_throughput(opts: WrkOptions, results: list[WrkResult]) -> None:
    baseline = {r.load: r for r in results if r.target == "alertmanager"}
    print(
        f"\nIngestion throughput: wrk -t{opts.threads} -c{opts.connections}, {opts.seconds:.0f} s per load, "
        "new label sets per request unless 'repeated'"
    )
    header = f"{'load':<22} {'target':<22} {'req/s':>9} {'alerts/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
    print(header + f" {'vs AM alerts/s':>15}")
    print("-" * (len(header) + 16))
    for load, _, _ in LOADS:
        for r in (r for r in results if r.load == load):
            vs = "" if r.target == "alertmanager" else ratio(r.alert_rate, baseline[load].alert_rate)
            print(
                f"{r.load:<22} {r.target:<22} {r.request_rate:9.0f} {r.alert_rate:10.0f} "
                f"{r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:7d} {vs:>15}"
            )


def print_targets(results: list[WrkResult]) -> None:
    baseline = {r.load: r for r in results if r.target == "alertmanager"}
    print("\nIssue 4 targets")
    for target in sorted({r.target for r in results} - {"alertmanager"}):
        mine = {r.load: r for r in results if r.target == target}
        single = mine["single new alert"].alert_rate / baseline["single new alert"].alert_rate
        batch = mine["100 new alerts"].alert_rate / baseline["100 new alerts"].alert_rate
        repeat = mine["single repeated alert"].alert_rate / mine["single new alert"].alert_rate
        print(
            f"  {target:<22} single {single:5.2f}x (>= 0.3x: {'met' if single >= 0.3 else 'MISSED'})   "
            f"100-alert {batch:5.2f}x (>= 0.5x: {'met' if batch >= 0.5 else 'MISSED'})   "
            f"repeated/new {repeat:5.2f}x (>= 1.0x: {'met' if repeat >= 1.0 else 'MISSED'})"
        )


def print_latency(results: list[LatencyResult]) -> None:
    print("\nAlert → first page received (new alert, new incident / new Alertmanager group each sample)")
    print(f"{'target':<22} {'load':<7} {'p50 ms':>8} {'p99 ms':>8} {'n':>4} {'bg al/s':>8} {'p99 vs AM':>9}")
    print("-" * 72)
    baseline = {r.condition: r for r in results if r.target == "alertmanager"}
    for r in results:
        print(r.line(None if r.target == "alertmanager" else baseline.get(r.condition)))
    print("(p99 of n < 100 samples is the slowest sample; 'bg al/s' = alerts/s wrk sustained meanwhile)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each wrk load (bounded)")
    parser.add_argument("--samples", type=int, default=200, help="page-latency samples per condition")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (one keeps its CPU share small)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (concurrent senders)")
    parser.add_argument(
        "--workers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 2],
        help="comma-separated `serve --workers` counts to measure (default 1,2: one process, and one per core)",
    )
    args = parser.parse_args()

    from tests.support.receivers import WebhookReceiver

    binary = shutil.which("wrk")
    if binary is None:
        raise SystemExit("wrk is not installed: run `bash scripts/install-test-deps.sh` (apt-get install wrk)")
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    throughput_results: list[WrkResult] = []
    latency_results: list[LatencyResult] = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp, WebhookReceiver(SECRET) as hooks:
        script = Path(tmp) / "alerts.lua"
        script.write_text(WRK_SCRIPT)
        opts = WrkOptions(binary, script, args.threads, args.connections, args.seconds)
        loads, latencies = bench_alertmanager(opts, hooks, args.samples, Path(tmp))
        throughput_results += loads
        latency_results += latencies
        for kind in kinds:
            for workers in args.workers:
                loads, latencies = bench_missionctl(kind, workers, opts, hooks, args.samples, Path(tmp))
                throughput_results += loads
                latency_results += latencies
        bad = [r for r in hooks.requests if r.path == "/p0" and not r.signature_valid]
    print_throughput(opts, throughput_results)
    print_targets(throughput_results)
    print_latency(latency_results)
    print(f"\npages with an invalid signature: {len(bad)}; whole run {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
