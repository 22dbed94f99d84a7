"""Alertmanager webhook (payload version 4) models and the parser that turns each alert into a `SignalEvent`."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from missionctl.signals.events import (
    SignalAction,
    SignalEvent,
    SignalSource,
    StringMap,
    Timestamp,
    labels_key,
    link,
    load_json,
    payload_error,
)

M = TypeVar("M", bound=BaseModel)

ACTIONS: dict[str, SignalAction] = {"firing": SignalAction.TRIGGER, "resolved": SignalAction.RESOLVE}


class _Model(BaseModel):
    """Strict on types, tolerant of keys a newer sender adds."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Alert(_Model):
    status: Literal["firing", "resolved"]
    labels: StringMap
    annotations: StringMap = Field(default_factory=dict)
    startsAt: Timestamp = None
    endsAt: Timestamp = None
    generatorURL: str = ""
    fingerprint: str = ""


class Payload(_Model):
    version: str = "4"
    groupKey: str = ""
    truncatedAlerts: int = Field(default=0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: StringMap = Field(default_factory=dict)
    commonLabels: StringMap = Field(default_factory=dict)
    commonAnnotations: StringMap = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[Alert]


def parse(body: bytes | str | dict[str, Any]) -> list[SignalEvent]:
    """One event per alert: `firing` triggers, `resolved` resolves."""
    data = load_json(body)
    payload = validate(Payload, data)
    return [
        to_event(alert, raw, source="alertmanager") for alert, raw in zip(payload.alerts, data["alerts"], strict=True)
    ]


def validate(model: type[M], data: Any) -> M:
    """`model.model_validate` with errors reported as `PayloadError`s naming the JSON path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise payload_error(exc) from None


def to_event(
    alert: Alert,
    raw: dict[str, Any],
    *,
    source: SignalSource,
    links: list[dict[str, str]] | None = None,
    annotations: dict[str, str] | None = None,
) -> SignalEvent:
    """The normalised event for one alert; `links` and `annotations` add what a variant (Grafana) carries."""
    return SignalEvent(
        source=source,
        action=ACTIONS[alert.status],
        dedup_key=alert.fingerprint or labels_key(alert.labels),
        summary=summary_of(alert),
        labels=dict(alert.labels),
        annotations={**(annotations or {}), **alert.annotations},
        severity=alert.labels.get("severity"),
        started_at=alert.startsAt,
        ended_at=alert.endsAt,
        links=link("generator", alert.generatorURL) + (links or []),
        raw=raw,
    )


def summary_of(alert: Alert) -> str:
    """The `summary` annotation, else `description`, else the alert name."""
    for text in (alert.annotations.get("summary"), alert.annotations.get("description")):
        if text and text.strip():
            return text.strip()
    return alert.labels.get("alertname") or "unnamed alert"
