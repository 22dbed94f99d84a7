"""Built-in detectors: definitions (`schemas`, `templates`, `config`), pure state machines (`rules`, `evaluation`),
the Prometheus client and HTTP prober, and the runner that turns their transitions into signals (`runner`)."""

from __future__ import annotations

from missionctl.detectors.rules import (
    AlertState,
    AlertStatus,
    ProbeError,
    ProbeOutcome,
    ProbeState,
    ProbeStatus,
    SpikeVerdict,
    after_release,
    classify_http,
    fired_transition,
    spike,
    step_alert,
    step_probe,
)
from missionctl.detectors.schemas import (
    DeployWindowDetector,
    Detector,
    ProbeDetector,
    PromQLDetector,
    SpikeDetector,
)

__all__ = [
    "AlertState",
    "AlertStatus",
    "DeployWindowDetector",
    "Detector",
    "ProbeDetector",
    "ProbeError",
    "ProbeOutcome",
    "ProbeState",
    "ProbeStatus",
    "PromQLDetector",
    "SpikeDetector",
    "SpikeVerdict",
    "after_release",
    "classify_http",
    "fired_transition",
    "spike",
    "step_alert",
    "step_probe",
]
