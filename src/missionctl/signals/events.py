"""The normalised signal event every adapter produces, plus the decoding and error helpers they share."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import PlainValidator, ValidationError
from pydantic_core import PydanticCustomError

from missionctl.errors import InvalidInput

SignalSource = Literal["alertmanager", "grafana", "pagerduty", "detector"]

ROOT = "body"  # how the path of the whole payload is written in error messages
MAX_REPORTED_PROBLEMS = 5
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SignalAction(StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class SignalEvent:
    """One alert from one source, in the shape the rest of Mission Control understands."""

    source: SignalSource
    action: SignalAction
    dedup_key: str
    summary: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    severity: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    links: list[dict[str, str]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


class PayloadError(InvalidInput):
    """An inbound payload is not valid JSON or not the shape its source documents; the message names the path."""

    code = "invalid_payload"

    def __init__(self, message: str, *, path: str, errors: list[str] | None = None) -> None:
        self.path = path
        self.errors = errors if errors is not None else [message]
        super().__init__(message, details={"path": path, "errors": self.errors})

    @classmethod
    def at(cls, path: str, problem: str) -> PayloadError:
        return cls.from_problems([(path, problem)])

    @classmethod
    def from_problems(cls, problems: list[tuple[str, str]]) -> PayloadError:
        """One error for several `(path, problem)` pairs; the first path is the one reported as `path`."""
        errors = [f"{path}: {problem}" for path, problem in problems]
        return cls(join_errors(errors), path=problems[0][0], errors=errors)


def join_errors(errors: list[str]) -> str:
    shown = "; ".join(errors[:MAX_REPORTED_PROBLEMS])
    hidden = len(errors) - MAX_REPORTED_PROBLEMS
    return f"{shown}; and {hidden} more" if hidden > 0 else shown


def load_json(body: object) -> Any:
    """Decode a request body (bytes or text) or pass an already-decoded mapping through."""
    if isinstance(body, Mapping):
        return dict(body)
    if isinstance(body, bytes | bytearray | memoryview):
        try:
            body = bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PayloadError.at(ROOT, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not isinstance(body, str):
        raise PayloadError.at(ROOT, f"expected JSON text or an object, got {type(body).__name__}")
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise PayloadError.at(ROOT, f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:  # e.g. integers too long to convert, absurd nesting
        raise PayloadError.at(ROOT, f"not acceptable JSON ({type(exc).__name__})") from None


def json_path(loc: tuple[int | str, ...]) -> str:
    """`("alerts", 2, "labels")` → `alerts[2].labels`; the empty location is the whole body."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.match(part):
            path += f".{part}" if path else part
        else:
            path += f"[{json.dumps(part)}]"
    return path or ROOT


def describe(error_type: str, ctx: Mapping[str, Any], message: str) -> str:
    """A short description of one pydantic error in JSON terms rather than Python ones."""
    described = {
        "missing": "required field is missing",
        "string_type": "expected a string",
        "int_type": "expected an integer",
        "int_from_float": "expected an integer",
        "float_type": "expected a number",
        "bool_type": "expected true or false",
        "dict_type": "expected an object",
        "model_type": "expected an object",
        "model_attributes_type": "expected an object",
        "list_type": "expected an array",
        "none_required": "expected null",
    }
    if error_type in described:
        return described[error_type]
    if error_type == "literal_error":
        return f"expected {ctx.get('expected', 'one of the allowed values')}"
    if error_type == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if error_type == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    return message[:1].lower() + message[1:]


def validation_problems(exc: ValidationError) -> list[tuple[str, str, str]]:
    """`(path, pydantic error type, description)` for each error, in order."""
    return [
        (json_path(tuple(err["loc"])), err["type"], describe(err["type"], err.get("ctx") or {}, err["msg"]))
        for err in exc.errors(include_url=False, include_input=False)
    ]


def payload_error(exc: ValidationError) -> PayloadError:
    return PayloadError.from_problems([(path, text) for path, _, text in validation_problems(exc)])


def _string_map(value: Any) -> dict[str, str]:
    # Exact type checks: this runs for every label set of every alert, and JSON only ever gives dict and str.
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str or type(item) is not str:
                break
        else:
            return value
    raise PydanticCustomError("string_map", "expected an object of strings")


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as aware UTC; Go's zero time (`0001-01-01T00:00:00Z`) means "none"."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise PydanticCustomError("timestamp", "expected an RFC 3339 timestamp string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("timestamp", "expected an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise PydanticCustomError("timestamp", "expected an RFC 3339 timestamp with a time zone")
    if parsed.year == 1:
        return None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError("timestamp", "timestamp is out of range") from None


StringMap = Annotated[dict[str, str], PlainValidator(_string_map)]
Timestamp = Annotated[datetime | None, PlainValidator(parse_timestamp)]


def stable_hash(*parts: object) -> str:
    """sha256 hex of a canonical JSON rendering: the same parts always give the same key."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def labels_key(labels: Mapping[str, str]) -> str:
    """A dedup key from a label set, independent of the order the labels arrived in."""
    return stable_hash(sorted(labels.items()))


def link(kind: str, href: str | None, text: str | None = None) -> list[dict[str, str]]:
    """Zero or one link dict: empty URLs are dropped, `text` is kept only when given."""
    if not href:
        return []
    return [{"kind": kind, "href": href, **({"text": text} if text else {})}]
