"""Doing things outside any transaction: run a rollback, probe until recovered, synthetic checks.

The rollback runs through the action framework's runner (`missionctl.actions.runner`: allowlisted argv without
a shell, its timeout killing the process group, secrets masked); the rest only reads the service's endpoints.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from missionctl import __version__
from missionctl.actions import runner
from missionctl.actions.rules import Status
from missionctl.detectors import rules as probe_rules
from missionctl.detectors.probe import Prober
from missionctl.releases.config import SyntheticCheck, Verify


@dataclass(frozen=True)
class Executed:
    ok: bool
    detail: str  # "python exited 0", "POST answered 200", "exit 1: ...", "timed out: timed out after 600s; killed"
    output: dict[str, Any]  # exit code, stdout and stderr, or status and body: masked and truncated by the runner
    seconds: float


def rollback(plan: runner.Plan) -> Executed:
    """Carry the rollback's plan out once; never raises for the target's failures (they are in the result)."""
    started = time.monotonic()
    done = runner.perform(plan)
    ok = done.status is Status.SUCCEEDED
    detail = done.summary if ok or not done.error else f"{done.summary}: {done.error}"
    return Executed(ok, detail, done.output, time.monotonic() - started)


# --- verification and synthetic checks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    recovered: bool
    checks: int
    seconds: float
    last: str


def verify(url: str, spec: Verify, *, prober: Prober, sleep: Callable[[float], None] = time.sleep) -> Verified:
    """Probe `url` until `spec.successes` pass in a row (unknown outcomes neither count nor break a run)."""
    started = time.monotonic()
    successes, last = 0, "not probed"
    for check in range(1, spec.checks + 1):
        result = prober.probe(url, timeout=spec.timeout_seconds)
        outcome = probe_rules.classify_http(result.status_code, result.error, expect_min=200, expect_max=399)
        last = f"HTTP {result.status_code}" if result.status_code is not None else (result.error or "no answer")
        if outcome == "success":
            successes += 1
            if successes >= spec.successes:
                return Verified(True, check, time.monotonic() - started, last)
        elif outcome == "failure":
            successes = 0
        if check < spec.checks:
            sleep(spec.interval_seconds)
    return Verified(False, spec.checks, time.monotonic() - started, last)


@dataclass(frozen=True)
class CheckResult:
    name: str
    url: str
    ok: bool
    status_code: int | None
    error: str | None
    latency_ms: float


def synthetic(checks: Sequence[SyntheticCheck], *, transport: httpx.BaseTransport | None = None) -> list[CheckResult]:
    """GET every endpoint (a few at once), each with its own timeout; redirects are not followed."""
    if not checks:
        return []
    headers = {"User-Agent": f"missionctl-synthetic/{__version__}"}
    with (
        httpx.Client(follow_redirects=False, transport=transport, headers=headers) as client,
        ThreadPoolExecutor(max_workers=min(8, len(checks))) as pool,
    ):
        return list(pool.map(lambda check: _check(client, check), checks))


def _check(client: httpx.Client, check: SyntheticCheck) -> CheckResult:
    url = str(check.url)
    name = check.name or url
    started = time.monotonic()
    try:
        response = client.get(url, timeout=check.timeout_seconds)
    except httpx.HTTPError as exc:
        elapsed = (time.monotonic() - started) * 1000
        return CheckResult(name, url, False, None, f"{type(exc).__name__}: {exc}"[:300], round(elapsed, 1))
    elapsed = (time.monotonic() - started) * 1000
    ok = check.expect_status_min <= response.status_code <= check.expect_status_max
    return CheckResult(name, url, ok, response.status_code, None, round(elapsed, 1))
