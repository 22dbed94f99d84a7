"""PagerDuty Events API v2 parsing into a `SignalEvent`, with PagerDuty's own response and error wording."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from missionctl.signals.events import (
    PayloadError,
    SignalAction,
    SignalEvent,
    Timestamp,
    join_errors,
    link,
    load_json,
    stable_hash,
    validation_problems,
)

ROUTING_KEY_LENGTH = 32
MAX_DEDUP_KEY = 255
MAX_SUMMARY = 1024
MAX_DETAIL_DEPTH = 8
INVALID = "Event object is invalid"
LENGTH_PROBLEM = f"Length of 'routing_key' is incorrect (should be {ROUTING_KEY_LENGTH} characters)"


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Link(_Model):
    href: str
    text: str = ""


class Image(_Model):
    src: str
    href: str = ""
    alt: str = ""


class Payload(_Model):
    """`payload`: every field optional here; what a trigger requires is checked in `_rule_problems`."""

    summary: str | None = None
    source: str | None = None
    severity: Literal["critical", "error", "warning", "info"] | None = None
    timestamp: Timestamp = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    custom_details: Any = None


class Event(_Model):
    routing_key: str
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str | None = None
    payload: Payload | None = None
    links: list[Link] = Field(default_factory=list)
    images: list[Image] = Field(default_factory=list)
    client: str | None = None
    client_url: str | None = None


def parse(body: bytes | str | dict[str, Any]) -> tuple[str, SignalEvent]:
    """`(routing_key, event)`; a trigger without `dedup_key` gets one derived from routing key, summary and source."""
    try:
        data = load_json(body)
    except PayloadError as exc:
        raise PayloadError(f"{INVALID}: {exc.message}", path=exc.path, errors=exc.errors) from None
    try:
        event = Event.model_validate(data)
    except ValidationError as exc:
        problems = [(path, _pd_wording(path, kind, text)) for path, kind, text in validation_problems(exc)]
        raise _invalid(problems) from None
    rule_problems = _rule_problems(event)
    if rule_problems:
        raise _invalid(rule_problems)
    return event.routing_key, _to_event(event, data)


def success_body(dedup_key: str) -> dict[str, str]:
    """What PagerDuty answers to an accepted event (HTTP 202)."""
    return {"status": "success", "message": "Event processed", "dedup_key": dedup_key}


def error_body(error: PayloadError) -> dict[str, Any]:
    """What PagerDuty answers to an invalid event (HTTP 400)."""
    return {"status": "invalid event", "message": INVALID, "errors": list(error.errors)}


def _invalid(problems: list[tuple[str, str]]) -> PayloadError:
    errors = [text for _, text in problems]
    return PayloadError(f"{INVALID}: {join_errors(errors)}", path=problems[0][0], errors=errors)


def _pd_wording(path: str, kind: str, text: str) -> str:
    if kind == "missing":
        return f"'{path}' is missing or blank"
    if kind == "literal_error":
        return f"'{path}' is invalid (must be one of the following: {text.removeprefix('expected ')})"
    return f"'{path}' is invalid ({text})"


def _rule_problems(event: Event) -> list[tuple[str, str]]:
    """The rules a type check cannot express: lengths, and what each action requires."""
    problems: list[tuple[str, str]] = []
    if len(event.routing_key) != ROUTING_KEY_LENGTH:
        problems.append(("routing_key", LENGTH_PROBLEM))
    if event.dedup_key is not None and len(event.dedup_key) > MAX_DEDUP_KEY:
        problems.append(("dedup_key", f"'dedup_key' is too long (maximum is {MAX_DEDUP_KEY} characters)"))
    if event.event_action != "trigger" and not event.dedup_key:
        problems.append(("dedup_key", f"'dedup_key' is missing or blank (required to {event.event_action})"))
    if event.event_action == "trigger":
        problems += _trigger_problems(event.payload)
    return problems


def _trigger_problems(payload: Payload | None) -> list[tuple[str, str]]:
    if payload is None:
        return [("payload", "'payload' is missing or blank")]
    problems = [
        (f"payload.{name}", f"'payload.{name}' is missing or blank")
        for name, value in (("summary", payload.summary), ("source", payload.source), ("severity", payload.severity))
        if value is None or not value.strip()
    ]
    if payload.summary is not None and len(payload.summary) > MAX_SUMMARY:
        problems.append(("payload.summary", f"'payload.summary' is too long (maximum is {MAX_SUMMARY} characters)"))
    return problems


def _to_event(event: Event, raw: dict[str, Any]) -> SignalEvent:
    payload = event.payload or Payload()
    action = SignalAction(event.event_action)
    return SignalEvent(
        source="pagerduty",
        action=action,
        dedup_key=event.dedup_key or stable_hash(event.routing_key, payload.summary, payload.source),
        summary=(payload.summary or "").strip(),
        labels=_labels(payload),
        annotations=_annotations(payload),
        severity=payload.severity,
        started_at=payload.timestamp if action is SignalAction.TRIGGER else None,
        ended_at=payload.timestamp if action is SignalAction.RESOLVE else None,
        links=_links(event),
        raw=raw,
    )


def _labels(payload: Payload) -> dict[str, str]:
    """Scalar `custom_details` (nested objects as dotted keys), then the standard fields, which win on a clash."""
    details = _flatten(payload.custom_details) if isinstance(payload.custom_details, dict) else {}
    standard = {
        "component": payload.component,
        "group": payload.group,
        "class": payload.class_,
        "source": payload.source,
        "severity": payload.severity,
    }
    return details | {name: value for name, value in standard.items() if value is not None}


def _annotations(payload: Payload) -> dict[str, str]:
    """`custom_details` given as a single scalar (often free text) is kept as the `details` annotation."""
    if isinstance(payload.custom_details, dict):
        return {}
    text = _scalar(payload.custom_details)
    return {} if text is None else {"details": text}


def _flatten(details: dict[Any, Any], prefix: str = "", depth: int = 0) -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in details.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            if depth < MAX_DETAIL_DEPTH:
                flat |= _flatten(value, f"{name}.", depth + 1)
        elif (text := _scalar(value)) is not None:
            flat[name] = text
    return flat


def _scalar(value: Any) -> str | None:
    """Strings as they are, booleans and numbers as JSON writes them; null, arrays and objects are not scalars."""
    if isinstance(value, str):
        return value
    if not isinstance(value, bool | int | float):
        return None
    try:
        return json.dumps(value)
    except ValueError:  # an integer too long to write out
        return None


def _links(event: Event) -> list[dict[str, str]]:
    links = [entry for item in event.links for entry in link("link", item.href, item.text)]
    for image in event.images:
        for entry in link("image", image.src, image.alt):
            links.append({**entry, "target": image.href} if image.href else entry)
    return links + link("client", event.client_url, event.client)
