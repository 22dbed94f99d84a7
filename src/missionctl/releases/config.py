"""The releases file (`MISSIONCTL_RELEASES_FILE`): per service, how to roll back, what to check, how long to settle.

```yaml
services:
  checkout:
    environment: production            # the environment its probes watch (default: production)
    settle_seconds: 300                # default: MISSIONCTL_RELEASE_SETTLE_SECONDS
    rollback:
      kind: command
      argv: [helm, rollback, checkout, "${last_healthy.version}"]
      env: [KUBECONFIG, HOME]
    synthetic_checks:
      - https://checkout.internal/api/cart
      - {url: https://checkout.internal/api/pay, expect_status_max: 299, timeout_seconds: 3}
```

A `rollback` is an actions-file `command` or `http` block (same fields, same templates) with a `kind`: it runs
through the action framework's runner, so its executable must be in the actions file's `commands`, and
`${secret:NAME}` names a secret of the actions file. The file is re-read when it changes; an invalid file is
refused with every problem listed.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator

from missionctl.actions import templates
from missionctl.actions.schemas import CommandSpec, HttpSpec
from missionctl.errors import InvalidInput
from missionctl.releases import rules

Timeout = Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)]
Status = Annotated[int, Field(ge=100, le=599)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_templates(value: Any) -> None:
    try:
        found = templates.references(value)
    except templates.TemplateError as exc:
        raise ValueError(str(exc)) from None
    unknown = sorted(name for name in found.variables if name not in rules.ROLLBACK_VARIABLES)
    if unknown:
        known = ", ".join(sorted(rules.ROLLBACK_VARIABLES))
        raise ValueError(f"unknown placeholder ${{{unknown[0]}}} (known: {known}, secret:NAME)")


class CommandRollback(CommandSpec):
    """Run a command (argv, no shell): `helm rollback`, `kubectl rollout undo`, `argo rollouts undo`, a script."""

    kind: Literal["command"]
    timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 600.0

    @model_validator(mode="after")
    def _templates(self) -> CommandRollback:
        _check_templates(self.argv)
        return self


class HttpRollback(HttpSpec):
    """Call an HTTP API (a deploy tool's rollback endpoint); a status not in `expect_status` is a failure."""

    kind: Literal["http"]
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 60.0

    @model_validator(mode="after")
    def _templates(self) -> HttpRollback:
        _check_templates([self.url, self.headers, self.body, self.json_body])
        return self


class Verify(_Strict):
    """After a rollback: probe the readiness URL until `successes` pass in a row, at most `checks` times."""

    checks: Annotated[int, Field(ge=1, le=1000)] = 30
    successes: Annotated[int, Field(ge=1, le=100)] = 2
    interval_seconds: Annotated[float, Field(ge=0, le=600)] = 2.0
    timeout_seconds: Timeout = 2.0


class SyntheticCheck(_Strict):
    url: HttpUrl
    name: str | None = None
    expect_status_min: Status = 200
    expect_status_max: Status = 399
    timeout_seconds: Timeout = 5.0


def _url_or_check(value: Any) -> Any:
    return {"url": value} if isinstance(value, str) else value


class ServiceReleases(_Strict):
    environment: str = Field(default="production", min_length=1, max_length=64)
    settle_seconds: Annotated[int, Field(ge=0)] | None = None
    readiness_url: HttpUrl | None = Field(
        default=None, description="Default: the URL of the service's RB-001 http_probe detector"
    )
    rollback: Annotated[CommandRollback | HttpRollback, Field(discriminator="kind")] | None = None
    verify: Verify = Verify()
    synthetic_checks: list[SyntheticCheck] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _plain_urls(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("synthetic_checks"), list):
            data = {**data, "synthetic_checks": [_url_or_check(item) for item in data["synthetic_checks"]]}
        return data


class ReleasesFile(_Strict):
    services: dict[str, ServiceReleases] = Field(default_factory=dict)

    def for_service(self, service: str) -> ServiceReleases:
        return self.services.get(service) or ServiceReleases()


EMPTY = ReleasesFile()


def parse(text: str, source: str) -> ReleasesFile:
    """Parse the releases file; raises `InvalidInput` (`releases_invalid`) naming every problem."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{source}: not valid YAML: {exc}", code="releases_invalid") from None
    try:
        return ReleasesFile.model_validate(data)
    except ValidationError as exc:
        problems = [f"{source}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise InvalidInput("\n".join(problems), code="releases_invalid", details=problems) from None


_cache: dict[Path, tuple[float, ReleasesFile]] = {}
_lock = threading.Lock()


def load(path: Path | None) -> ReleasesFile:
    """The releases file at `path` (empty when unset), re-read whenever its modification time changes."""
    if path is None:
        return EMPTY
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the releases file: {exc}", code="releases_invalid") from None
    with _lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
    parsed = parse(path.read_text(encoding="utf-8"), str(path))
    with _lock:
        _cache[path] = (mtime, parsed)
    return parsed
