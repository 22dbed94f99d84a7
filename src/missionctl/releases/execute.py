"""Doing things outside any transaction: run a rollback command or HTTP call, probe until recovered, synthetic checks.

Commands run without a shell, with a timeout, their output kept (last 4 KiB, secrets masked). Interim until the
action framework's command/http execution can be called for this (then this module delegates to it).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from missionctl import __version__
from missionctl.detectors import rules as probe_rules
from missionctl.detectors.probe import Prober
from missionctl.releases import rules
from missionctl.releases.config import CommandRollback, HttpRollback, SyntheticCheck, Verify

OUTPUT_TAIL = 4096


@dataclass(frozen=True)
class Prepared:
    """A rollback with every placeholder filled in: exactly what will run (`shown()` masks the secrets)."""

    kind: str
    timeout: float
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    json_body: Any = None
    expect: tuple[int, int] = (200, 299)
    secrets: tuple[str, ...] = ()

    def shown(self) -> dict[str, Any]:
        if self.kind == "command":
            shown: dict[str, Any] = {"kind": "command", "argv": self.argv, "env": self.env}
        else:
            shown = {"kind": "http", "method": self.method, "url": self.url, "headers": self.headers}
            if self.json_body is not None:
                shown["json"] = self.json_body
        masked: dict[str, Any] = _masked(shown, self.secrets)
        return masked


def _masked(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        return rules.mask(value, secrets)
    if isinstance(value, dict):
        return {k: _masked(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, secrets) for v in value]
    return value


def prepare(spec: CommandRollback | HttpRollback, values: Mapping[str, str], environ: Mapping[str, str]) -> Prepared:
    """Fill the template; `${env.NAME}` comes from `environ` (a missing one is a `ValueError` naming it)."""
    texts = [*spec.argv, *spec.env.values()] if isinstance(spec, CommandRollback) else [spec.url]
    if isinstance(spec, HttpRollback):
        texts += [*spec.headers.values(), *_strings(spec.json_body)]
    names = {name for text in texts for name in rules.placeholders(text) if name.startswith(rules.ENV_PREFIX)}
    secrets: dict[str, str] = {}
    for name in sorted(names):
        variable = name.removeprefix(rules.ENV_PREFIX)
        if variable not in environ:
            raise ValueError(f"environment variable {variable} (${{{name}}}) is not set on the server")
        secrets[name] = environ[variable]
    full = {**values, **secrets}
    hidden = tuple(secrets.values())
    if isinstance(spec, CommandRollback):
        argv = [rules.render(arg, full) for arg in spec.argv]
        env = {key: rules.render(value, full) for key, value in spec.env.items()}
        return Prepared("command", spec.timeout_seconds, argv=argv, env=env, secrets=hidden)
    return Prepared(
        "http",
        spec.timeout_seconds,
        method=spec.method,
        url=rules.render(spec.url, full),
        headers={key: rules.render(value, full) for key, value in spec.headers.items()},
        json_body=_render_json(spec.json_body, full),
        expect=(spec.expect_status_min, spec.expect_status_max),
        secrets=hidden,
    )


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _render_json(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return rules.render(value, values)
    if isinstance(value, dict):
        return {k: _render_json(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_json(v, values) for v in value]
    return value


@dataclass(frozen=True)
class Executed:
    ok: bool
    detail: str  # "exit 0", "HTTP 200", "timed out after 600 s", ...
    output: str  # the tail of the command's output or of the response body, secrets masked
    seconds: float


def run(prepared: Prepared) -> Executed:
    """Run the rollback once; never raises for the target's failures (they are in the result)."""
    started = time.monotonic()
    if prepared.kind == "command":
        ok, detail, output = _command(prepared)
    else:
        ok, detail, output = _http(prepared)
    tail = rules.mask(output[-OUTPUT_TAIL:], prepared.secrets)
    return Executed(ok, rules.mask(detail, prepared.secrets), tail, time.monotonic() - started)


def _command(prepared: Prepared) -> tuple[bool, str, str]:
    try:
        process = subprocess.Popen(  # noqa: S603 (argv from the operator's releases file, no shell)
            prepared.argv,
            env={**os.environ, **prepared.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except OSError as exc:
        return False, f"could not start {prepared.argv[0]}: {exc.strerror or exc}", ""
    try:
        out, _ = process.communicate(timeout=prepared.timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        return False, f"timed out after {prepared.timeout:g} s (killed)", out.decode(errors="replace")
    text = out.decode(errors="replace")
    return process.returncode == 0, f"exit {process.returncode}", text


def _http(prepared: Prepared) -> tuple[bool, str, str]:
    headers = {"User-Agent": f"missionctl/{__version__}", **prepared.headers}
    try:
        with httpx.Client(timeout=prepared.timeout, follow_redirects=False) as client:
            response = client.request(prepared.method, prepared.url, headers=headers, json=prepared.json_body)
    except httpx.HTTPError as exc:
        return False, f"{type(exc).__name__}: {exc}", ""
    low, high = prepared.expect
    return low <= response.status_code <= high, f"HTTP {response.status_code}", response.text


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
