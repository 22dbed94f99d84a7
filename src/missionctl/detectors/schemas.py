"""Machine-readable trigger definitions that a runbook's `trigger.detectors[]` holds."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

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
    baseline_seconds: Seconds = 1800
    ratio: Ratio = 3.0
    min_rate_of_change: Annotated[float, Field(ge=0, allow_inf_nan=False, description="Per second; 0 = off")] = 0.0
    min_volume: Volume
    for_seconds: GraceSeconds = 0


class DeployWindowDetector(_Strict):
    """The error rate in the window after a release, compared with the baseline before it."""

    kind: Literal["after_release"]
    expr: Expr
    window_seconds: Seconds = 900
    baseline_seconds: Seconds = 1800
    ratio: Ratio = 2.0
    min_volume: Volume


Detector = Annotated[
    PromQLDetector | ProbeDetector | SpikeDetector | DeployWindowDetector,
    Field(discriminator="kind"),
]
