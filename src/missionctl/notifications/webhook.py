"""Standard Webhooks delivery: signed compact-JSON POSTs, honest response classification, verification."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from missionctl.notifications.channels import (
    DeliveryResult,
    Message,
    Outcome,
    guard_logger,
    mask_webhook_url,
    redact,
    redacting,
    webhook_secret_fragments,
)

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
MIN_SECRET_BYTES = 24  # the Standard Webhooks recommendation: 24 to 64 random bytes
DEFAULT_TOLERANCE_SECONDS = 300
MAX_RETRY_AFTER_SECONDS = 3600.0
TEMPORARY_STATUSES = frozenset({408, 425, 429})
MAX_RESPONSE_BYTES = 64 * 1024  # read (and ignore) at most this much of a response body
USER_AGENT = "missionctl-webhooks/1"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class WebhookVerificationError(ValueError):
    """A webhook request failed Standard Webhooks verification; the message says why."""


def generate_secret() -> str:
    """A fresh `whsec_` secret holding 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def decode_secret(secret: str) -> bytes:
    """The HMAC key in a `whsec_<base64>` secret (the prefix is optional, as in the reference libraries)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("webhook secret is not valid base64 after the whsec_ prefix") from exc
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Check a received webhook's signature and timestamp; raise `WebhookVerificationError` if wrong."""
    lowered = {name.lower(): value for name, value in headers.items()}
    names = ("webhook-id", "webhook-timestamp", "webhook-signature")
    missing = [name for name in names if not lowered.get(name)]
    if missing:
        raise WebhookVerificationError(f"missing header(s): {', '.join(missing)}")
    msg_id, stamp, signatures = (lowered[name] for name in names)
    if not _TIMESTAMP.fullmatch(stamp):
        raise WebhookVerificationError("webhook-timestamp is not integer seconds")
    age = now.timestamp() - int(stamp)
    if age > tolerance_seconds:
        raise WebhookVerificationError(f"webhook-timestamp is {age:.0f}s old (tolerance {tolerance_seconds:g}s)")
    if age < -tolerance_seconds:
        raise WebhookVerificationError(f"webhook-timestamp is {-age:.0f}s in the future")
    expected = sign(secret, msg_id, int(stamp), body).encode("ascii")
    for candidate in signatures.split():
        if hmac.compare_digest(candidate.encode("utf-8", "replace"), expected):
            return
    raise WebhookVerificationError("no v1 signature matches the body")


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """The exact body sent and signed: compact, ASCII-only JSON."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("ascii")


def signed_headers(secret: str, msg_id: str, body: bytes, *, now: datetime) -> dict[str, str]:
    timestamp = int(now.timestamp())
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP-date) within [0, 1 hour]; None if absent."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC with no claim about local time
        when = when.replace(tzinfo=UTC)
    return min(max((when - now).total_seconds(), 0.0), MAX_RETRY_AFTER_SECONDS)


def classify(response: httpx.Response, shown: str, *, now: datetime) -> DeliveryResult:
    """Map a webhook response to an outcome (see docs/notifications.md for the table)."""
    status = response.status_code
    if 200 <= status < 300:
        return DeliveryResult(Outcome.SENT, f"HTTP {status} from {shown}", status_code=status)
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        target = mask_webhook_url(str(response.request.url.join(location))) if location else "nowhere"
        detail = f"HTTP {status} from {shown}: redirect to {target} not followed; update the destination URL"
        return DeliveryResult(Outcome.FAILED_PERM, detail, status_code=status)
    if status in TEMPORARY_STATUSES or 500 <= status < 600:
        retry_after = parse_retry_after(response.headers.get("retry-after"), now=now)
        detail = f"HTTP {status} from {shown}" + (f"; retry after {retry_after:g}s" if retry_after else "")
        return DeliveryResult(Outcome.FAILED_TEMP, detail, retry_after=retry_after, status_code=status)
    reason = "endpoint gone" if status == 410 else "rejected"
    return DeliveryResult(Outcome.FAILED_PERM, f"HTTP {status} from {shown}: {reason}", status_code=status)


def make_client(timeout_seconds: float) -> httpx.Client:
    """A pooled client that never follows redirects and never keeps cookies between destinations."""
    guard_logger("httpx")  # httpx logs request URLs (with userinfo and query) at INFO
    return httpx.Client(
        timeout=httpx.Timeout(timeout_seconds),
        follow_redirects=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        headers={"user-agent": USER_AGENT},
    )


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook destination, or None if it can."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        return "invalid URL"
    if parsed.scheme not in ("http", "https"):
        return f"unsupported URL scheme {parsed.scheme!r} (use http or https)"
    if not parsed.host:
        return "URL has no host"
    if parsed.port is not None and not 0 < parsed.port < 65536:
        return "invalid URL port"
    return None


def send_webhook(client: httpx.Client, message: Message, url: str, *, secret: str, now: datetime) -> DeliveryResult:
    """POST the message payload once, signed; classify the answer."""
    shown = mask_webhook_url(url)
    problem = url_problem(url)
    if problem is not None:
        return DeliveryResult(Outcome.FAILED_PERM, f"{problem}: {shown}")
    body = encode_payload(message.payload)
    headers = signed_headers(secret, message.idempotency_key, body, now=now)
    with redacting(webhook_secret_fragments(url)) as fragments:
        try:
            with client.stream("POST", url, content=body, headers=headers) as response:
                _drain(response)
                return classify(response, shown, now=now)
        except httpx.TimeoutException as exc:
            return DeliveryResult(Outcome.FAILED_TEMP, f"timed out ({type(exc).__name__}) at {shown}")
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            return DeliveryResult(Outcome.FAILED_PERM, f"unusable URL {shown}: {redact(str(exc), fragments)}")
        except httpx.TransportError as exc:
            reason = redact(str(exc), fragments) or type(exc).__name__
            return DeliveryResult(Outcome.FAILED_TEMP, f"could not reach {shown}: {reason}")


def _drain(response: httpx.Response) -> None:
    """Read a bounded amount of the body so a small response frees its connection for reuse."""
    received = 0
    try:
        for chunk in response.iter_raw():
            received += len(chunk)
            if received > MAX_RESPONSE_BYTES:
                return
    except httpx.HTTPError:
        return  # the status line already said what happened
