"""Turn an action into a plan (templates filled, secrets masked) and carry out http and command plans.

Nothing here touches the database: plans are made and run with no transaction open. A dry run is the
plan's masked preview, and nothing else happens: no request is sent, no process is spawned.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from missionctl.actions import templates
from missionctl.actions.masking import mask, truncate, truncate_all
from missionctl.actions.rules import Kind, Status
from missionctl.actions.schemas import CommandSpec, HttpSpec

log = logging.getLogger(__name__)


class Refused(Exception):
    """The action cannot run as configured (unknown variable or secret, command not allowed)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Plan:
    """What an execution will do: the real request or argv, and its masked preview."""

    kind: Kind
    preview: dict[str, Any]
    secrets: frozenset[str] = frozenset()
    http: dict[str, Any] | None = None
    argv: list[str] | None = None
    env: dict[str, str] | None = None
    timeout: float = 30.0
    expect: tuple[int, ...] = ()


@dataclass(frozen=True)
class Done:
    """How an execution ended: status, a one-line summary, JSON output (masked, truncated), error."""

    status: Status
    summary: str
    output: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class _Secrets:
    """Looks secrets up for a template and remembers each value, so everything derived can be masked."""

    def __init__(self, lookup: Callable[[str], str]) -> None:
        self.lookup = lookup
        self.values: set[str] = set()

    def __call__(self, name: str) -> str:
        value = self.lookup(name)
        self.values.add(value)
        return value


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def plan_http(spec: HttpSpec, variables: Mapping[str, Any], secret: Callable[[str], str]) -> Plan:
    seen = _Secrets(secret)
    try:
        url = templates.render(spec.url, variables, seen, quote=_quote)
        headers = templates.render(spec.headers, variables, seen)
        body = templates.render(spec.body if spec.body is not None else spec.json_body, variables, seen)
    except templates.TemplateError as exc:
        raise Refused(str(exc), "template_error") from None
    real_headers = {str(k): templates.as_text(v) for k, v in headers.value.items()}
    request: dict[str, Any] = {"method": spec.method, "url": url.value, "headers": real_headers}
    preview: dict[str, Any] = {"method": spec.method, "url": url.masked, "headers": headers.masked}
    if spec.body is not None:
        request["content"] = templates.as_text(body.value).encode()
        preview["body"] = body.masked
    elif spec.json_body is not None:
        request["json"] = body.value
        preview["json"] = body.masked
    preview["expect_status"] = list(spec.expect_status)
    return Plan(
        Kind.HTTP,
        mask(preview, seen.values),
        frozenset(seen.values),
        http=request,
        timeout=spec.timeout_seconds,
        expect=tuple(spec.expect_status),
    )


def plan_command(
    spec: CommandSpec,
    variables: Mapping[str, Any],
    secret: Callable[[str], str],
    *,
    allowed: Callable[[str], bool],
    environ: Mapping[str, str] | None = None,
) -> Plan:
    program = spec.argv[0]
    if not allowed(program):
        raise Refused(f"command {program!r} is not in the allowed commands of the actions file", "command_not_allowed")
    seen = _Secrets(secret)
    try:
        argv = [templates.render(arg, variables, seen) for arg in spec.argv]
        env = {name: seen(secret_name) for name, secret_name in spec.secret_env.items()}
    except (templates.TemplateError, KeyError) as exc:
        raise Refused(str(exc).strip("'\""), "template_error") from None
    source = os.environ if environ is None else environ
    env = {name: source[name] for name in spec.env if name in source} | env
    preview = {
        "argv": [templates.as_text(arg.masked) for arg in argv],
        "env": sorted(spec.env) + sorted(f"{name} (secret)" for name in spec.secret_env),
        "timeout_seconds": spec.timeout_seconds,
        "expect_exit": list(spec.expect_exit),
    }
    return Plan(
        Kind.COMMAND,
        mask(preview, seen.values),
        frozenset(seen.values),
        argv=[templates.as_text(arg.value) for arg in argv],
        env=env,
        timeout=spec.timeout_seconds,
        expect=tuple(spec.expect_exit),
    )


def perform(plan: Plan, *, transport: httpx.BaseTransport | None = None) -> Done:
    """Carry an http or command plan out (never a dry run: callers use the preview for that)."""
    done = _perform_http(plan, transport) if plan.kind is Kind.HTTP else _perform_command(plan)
    return Done(done.status, done.summary, truncate_all(mask(done.output, plan.secrets)), _masked(done.error, plan))


def _masked(text: str | None, plan: Plan) -> str | None:
    return truncate(mask(text, plan.secrets)) if text is not None else None


def _perform_http(plan: Plan, transport: httpx.BaseTransport | None) -> Done:
    assert plan.http is not None
    request = dict(plan.http)
    try:
        with httpx.Client(timeout=plan.timeout, follow_redirects=False, transport=transport) as client:
            response = client.request(**request)
    except httpx.HTTPError as exc:
        return Done(Status.FAILED, f"{request['method']} failed: {type(exc).__name__}", {}, f"{type(exc).__name__}")
    output = {"status_code": response.status_code, "body": _body(response)}
    if response.status_code not in plan.expect:
        expected = ", ".join(str(code) for code in plan.expect)
        error = f"HTTP {response.status_code}, expected {expected}"
        return Done(Status.FAILED, f"{request['method']} answered {response.status_code}", output, error)
    return Done(Status.SUCCEEDED, f"{request['method']} answered {response.status_code}", output)


def _body(response: httpx.Response) -> Any:
    text = response.text
    if "json" in response.headers.get("content-type", ""):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _perform_command(plan: Plan) -> Done:
    assert plan.argv is not None
    argv = list(plan.argv)
    executable = shutil.which(argv[0])
    if executable is None:
        return Done(Status.FAILED, f"{argv[0]} not found", {}, f"executable {argv[0]!r} not found on PATH")
    try:
        process = subprocess.Popen(  # noqa: S603 - an argument vector from an allowlisted executable, no shell
            [executable, *argv[1:]],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=plan.env or {},
            start_new_session=True,  # its own process group: a timeout kills everything it started
        )
    except OSError as exc:
        return Done(Status.FAILED, f"{argv[0]} could not start", {}, str(exc))
    try:
        stdout, stderr = process.communicate(timeout=plan.timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        stdout, stderr = process.communicate()
        partial = {"stdout": stdout.decode(errors="replace"), "stderr": stderr.decode(errors="replace")}
        return Done(Status.FAILED, f"{argv[0]} timed out", partial, f"timed out after {plan.timeout:g}s; killed")
    output: dict[str, Any] = {
        "exit_code": process.returncode,
        "stdout": stdout.decode(errors="replace"),
        "stderr": stderr.decode(errors="replace"),
    }
    if process.returncode not in plan.expect:
        return Done(Status.FAILED, f"{argv[0]} exited {process.returncode}", output, f"exit {process.returncode}")
    return Done(Status.SUCCEEDED, f"{argv[0]} exited {process.returncode}", output)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
