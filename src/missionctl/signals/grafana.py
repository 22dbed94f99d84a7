"""Grafana alerting webhooks: the Alertmanager shape plus Grafana's own fields, parsed into `SignalEvent`s."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from pydantic import PlainValidator
from pydantic_core import PydanticCustomError

from missionctl.signals import alertmanager
from missionctl.signals.events import SignalEvent, link, load_json

URL_FIELDS = (("silence", "silenceURL"), ("dashboard", "dashboardURL"), ("panel", "panelURL"), ("image", "imageURL"))


def _values(value: Any) -> dict[str, float | None] | None:
    """Grafana's `values`: expression ref ID → number (or null), held as floats like Grafana's float64s."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PydanticCustomError("number_map", "expected an object of numbers")
    numbers: dict[str, float | None] = {}
    for key, number in value.items():
        if number is not None and (isinstance(number, bool) or not isinstance(number, int | float)):
            raise PydanticCustomError("number_map", "expected an object of numbers")
        try:
            numbers[str(key)] = None if number is None else float(number)
        except OverflowError:
            raise PydanticCustomError("number_map", "number is out of range") from None
    return numbers


class Alert(alertmanager.Alert):
    values: Annotated[dict[str, float | None] | None, PlainValidator(_values)] = None
    valueString: str = ""
    silenceURL: str = ""
    dashboardURL: str = ""
    panelURL: str = ""
    imageURL: str = ""


class Payload(alertmanager.Payload):
    version: str = "1"
    orgId: int | None = None
    title: str = ""
    state: str = ""
    message: str = ""
    alerts: list[Alert]  # type: ignore[assignment]  # narrower alert type, same JSON shape plus Grafana's keys


def parse(body: bytes | str | dict[str, Any]) -> list[SignalEvent]:
    """One event per alert, with Grafana's URLs as links and its `values` and `valueString` as annotations."""
    data = load_json(body)
    payload = alertmanager.validate(Payload, data)
    return [
        alertmanager.to_event(alert, raw, source="grafana", links=links_of(alert), annotations=annotations_of(alert))
        for alert, raw in zip(payload.alerts, data["alerts"], strict=True)
    ]


def links_of(alert: Alert) -> list[dict[str, str]]:
    return [entry for kind, name in URL_FIELDS for entry in link(kind, getattr(alert, name))]


def annotations_of(alert: Alert) -> dict[str, str]:
    """Grafana's evaluation results as text; the alert's own annotations of the same name win."""
    extra: dict[str, str] = {}
    if alert.values:
        extra["values"] = json.dumps(
            {k: _number(v) for k, v in sorted(alert.values.items())}, separators=(",", ":"), allow_nan=False
        )
    if alert.valueString:
        extra["valueString"] = alert.valueString
    return extra


def _number(value: float | None) -> float | int | str | None:
    """Whole numbers without `.0`, as Grafana writes them; NaN and infinities (not JSON) by name."""
    if value is None:
        return None
    if not math.isfinite(value):
        return str(value)
    return int(value) if value.is_integer() else value
