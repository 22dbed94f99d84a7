"""Machine-readable trigger definitions that a runbook's `trigger.detectors[]` holds."""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

Expr = Annotated[str, Field(min_length=1, description="A PromQL expression")]
Seconds = Annotated[int, Field(ge=1)]
GraceSeconds = Annotated[int, Field(ge=0)]
Ratio = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Volume = Annotated[float, Field(ge=0, allow_inf_nan=False, description="Floor below which nothing fires")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PromQLDetector(_Strict):
    """A Prometheus-style alert: fires once `expr` has returned a result for `for_seconds`."""

    kind: Literal["promql"]
    expr: Expr
    interval_seconds: Seconds = 30
    for_seconds: GraceSeconds = 0
    keep_firing_for_seconds: GraceSeconds = 0
    labels: dict[str, str] = Field(default_factory=dict)


class ProbeDetector(_Strict):
    """An HTTP probe with Kubernetes-style failure and success thresholds."""

    kind: Literal["http_probe"]
    url: HttpUrl
    interval_seconds: Seconds = 10
    timeout_seconds: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1
    failure_threshold: Seconds = 3
    success_threshold: Seconds = 1
    expect_status_min: Annotated[int, Field(ge=100, le=599)] = 200
    expect_status_max: Annotated[int, Field(ge=100, le=599)] = 399

    @model_validator(mode="after")
    def _status_range(self) -> ProbeDetector:
        if self.expect_status_min > self.expect_status_max:
            raise ValueError(
                f"expect_status_min ({self.expect_status_min}) is above expect_status_max ({self.expect_status_max})"
            )
        return self


class SpikeDetector(_Strict):
    """A series that jumps to `ratio` times its trailing median, above a volume floor."""

    kind: Literal["spike"]
    expr: Expr
    interval_seconds: Seconds = 60
    baseline_seconds: Seconds = 1800
    ratio: Ratio = 3.0
    min_rate_of_change: Annotated[float, Field(ge=0, allow_inf_nan=False, description="Per second; 0 = off")] = 0.0
    min_volume: Volume
    for_seconds: GraceSeconds = 0


class DeployWindowDetector(_Strict):
    """The error rate in the window after a release, compared with the baseline before it."""

    kind: Literal["after_release"]
    expr: Expr
    interval_seconds: Seconds = 60
    environment: str | None = Field(default=None, description="Only releases to this environment; default: any")
    window_seconds: Seconds = 900
    baseline_seconds: Seconds = 1800
    ratio: Ratio = 2.0
    min_volume: Volume


AnyDetector = PromQLDetector | ProbeDetector | SpikeDetector | DeployWindowDetector

KINDS: dict[str, type[AnyDetector]] = {
    "promql": PromQLDetector,
    "http_probe": ProbeDetector,
    "spike": SpikeDetector,
    "after_release": DeployWindowDetector,
}


def _by_kind(value: Any, handler: ValidatorFunctionWrapHandler) -> AnyDetector:
    """Validate against the model that `kind` names, so error locations are the file's own keys (no union tag)."""
    if isinstance(value, dict) and value.get("kind") in KINDS:
        model = KINDS[value["kind"]]
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            raise _with_key_hints(exc, model) from None
    detector: AnyDetector = handler(value)
    return detector


def _with_key_hints(exc: ValidationError, model: type[BaseModel]) -> ValidationError:
    """The same errors, with each unknown key's message naming the key it was probably meant to be."""
    errors: list[InitErrorDetails] = []
    for error in exc.errors(include_url=False):
        if error["type"] == "extra_forbidden" and len(error["loc"]) == 1:
            message = unknown_key_message(str(error["loc"][0]), list(model.model_fields))
            custom = PydanticCustomError("unknown_key", message.replace("{", "{{").replace("}", "}}"))
            errors.append({"type": custom, "loc": error["loc"], "input": error["input"]})
        else:
            errors.append(
                {"type": error["type"], "loc": error["loc"], "input": error["input"], "ctx": error.get("ctx", {})}
            )
    return ValidationError.from_exception_data(exc.title, errors)


def unknown_key_message(key: str, allowed: list[str]) -> str:
    """`unknown key 'urll' (did you mean 'url'?)`, or the allowed keys when nothing is close."""
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
    return f"unknown key {key!r} ({hint})"


Detector = Annotated[AnyDetector, Field(discriminator="kind"), WrapValidator(_by_kind)]
