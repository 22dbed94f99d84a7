"""Shared notification types, secret masking for details and logs, and the thread-safe `Sender`."""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote, urlsplit

import httpx

MAX_IDEMPOTENCY_KEY_LENGTH = 255
_VISIBLE_ASCII = re.compile(r"^[\x21-\x7e]+$")
_DNS_NAME = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")
_URL_SPLIT = re.compile(r"[/?&=#@:;,+\s]+")
MIN_FRAGMENT_LENGTH = 4  # shorter URL pieces are not worth redacting (and would garble messages)
REDACTED = "***"


class ChannelKind(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    APPRISE = "apprise"
    INBOX = "inbox"  # nothing leaves the server: the outbox row is the message, read through the API


class Outcome(StrEnum):
    SENT = "sent"
    FAILED_TEMP = "failed_temp"  # worth retrying later
    FAILED_PERM = "failed_perm"  # retrying the same message to the same destination will not help


@dataclass(frozen=True)
class Message:
    """One logical message; `idempotency_key` stays the same across every retry of it."""

    idempotency_key: str
    subject: str
    text: str
    payload: dict[str, Any]
    created_at: datetime

    def __post_init__(self) -> None:
        key = self.idempotency_key
        if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not _VISIBLE_ASCII.match(key):
            raise ValueError("idempotency_key must be 1-255 visible ASCII characters (no spaces)")
        if self.created_at.utcoffset() is None:
            raise ValueError("Message.created_at must be timezone-aware")


@dataclass(frozen=True)
class Destination:
    """Where to send: an email address, an http(s) URL, or an Apprise URL."""

    kind: ChannelKind
    address: str = field(repr=False)  # may hold credentials; see `shown`

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ChannelKind(self.kind))  # accept "webhook" from the database

    @property
    def shown(self) -> str:
        """The address with credentials and tokens masked, safe for logs and details."""
        if self.kind is ChannelKind.WEBHOOK:
            return mask_webhook_url(self.address)
        if self.kind is ChannelKind.APPRISE:
            return mask_apprise_url(self.address)
        return self.address

    def __repr__(self) -> str:
        return f"Destination(kind={self.kind.value!r}, address={self.shown!r})"


@dataclass(frozen=True)
class DeliveryResult:
    """What one delivery attempt did; `detail` is for people and never holds a secret."""

    outcome: Outcome
    detail: str
    retry_after: float | None = None  # seconds the destination asked us to wait (temporary failures)
    status_code: int | None = None  # HTTP status or SMTP reply code, when there was one

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SENT


@dataclass(frozen=True)
class ChannelSettings:
    """Channel configuration; the SMTP password and webhook secret never appear in its repr."""

    smtp_host: str
    smtp_port: int
    smtp_username: str | None
    smtp_password: str | None = field(repr=False)
    smtp_starttls: bool
    smtp_from: str
    webhook_secret: str = field(repr=False)
    timeout_seconds: float = 10

    def __post_init__(self) -> None:
        from missionctl.notifications.webhook import MIN_SECRET_BYTES, decode_secret

        if not self.webhook_secret.startswith("whsec_"):
            raise ValueError("webhook_secret must look like whsec_<base64>")
        if len(decode_secret(self.webhook_secret)) < MIN_SECRET_BYTES:
            raise ValueError(f"webhook_secret must decode to at least {MIN_SECRET_BYTES} bytes")
        if not 0 < self.smtp_port < 65536:
            raise ValueError("smtp_port must be between 1 and 65535")
        if not self.timeout_seconds > 0:
            raise ValueError("timeout_seconds must be positive")


def mask_webhook_url(url: str) -> str:
    """`scheme://host[:port]/path` of an http(s) URL: userinfo, query string and fragment dropped."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "<invalid URL>"
    hostport = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{hostport}{parts.path}" if parts.scheme else "<invalid URL>"


def mask_apprise_url(url: str) -> str:
    """`scheme://host` of an Apprise URL; a host that is not a DNS name or IP (often a token) is masked."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return "<invalid Apprise URL>"
    try:
        host = urlsplit(f"x://{rest}").hostname or ""
    except ValueError:
        host = ""
    return f"{scheme.lower()}://{host if _looks_like_host(host) else REDACTED}"


def _looks_like_host(host: str) -> bool:
    if host == "localhost" or _DNS_NAME.match(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def secret_fragments(address: str) -> frozenset[str]:
    """Every piece of an Apprise URL after its scheme (tokens hide anywhere), except a host name it shows."""
    rest = address.partition("://")[2] or address
    pieces = {rest, *_URL_SPLIT.split(rest)}
    shown_host = mask_apprise_url(address).partition("://")[2]
    return _worth_redacting(pieces | {unquote(piece) for piece in pieces}) - {shown_host}


def webhook_secret_fragments(url: str) -> frozenset[str]:
    """The credential-bearing parts of an http(s) URL: userinfo, query string and fragment."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return secret_fragments(url)
    userinfo = parts.netloc.rpartition("@")[0]
    pieces = {userinfo, parts.query, parts.fragment, *_URL_SPLIT.split(userinfo)}
    pieces |= set(_URL_SPLIT.split(parts.query)) | set(_URL_SPLIT.split(parts.fragment))
    return _worth_redacting(pieces | {unquote(piece) for piece in pieces})


def _worth_redacting(pieces: set[str]) -> frozenset[str]:
    return frozenset(piece for piece in pieces if len(piece) >= MIN_FRAGMENT_LENGTH)


def redact(text: str, fragments: frozenset[str]) -> str:
    """`text` with every fragment replaced by `***`, longest first so a piece never survives a whole."""
    for fragment in sorted(fragments, key=len, reverse=True):
        text = text.replace(fragment, REDACTED)
    return text


_active_fragments: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "missionctl_notification_secrets", default=frozenset()
)


@contextlib.contextmanager
def redacting(fragments: frozenset[str]) -> Iterator[frozenset[str]]:
    """Mask `fragments` in the records of guarded loggers emitted in this context (and contexts copied from it)."""
    token = _active_fragments.set(_active_fragments.get() | fragments)
    try:
        yield fragments
    finally:
        _active_fragments.reset(token)


class RedactingFilter(logging.Filter):
    """Drops records below `floor` and masks the active destination's secrets in the rest."""

    def __init__(self, floor: int = logging.NOTSET) -> None:
        super().__init__()
        self.floor = floor

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.floor:
            return False
        fragments = _active_fragments.get()
        if not fragments:
            return True
        try:
            message = redact(record.getMessage(), fragments)
        except Exception:  # a malformed record: its arguments could hold anything
            message = f"<unformattable log record from {record.name}, redacted>"
        record.msg, record.args = message, None
        if record.exc_info:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = redact(text, fragments), None
        return True


_guard_lock = threading.Lock()
_guarded: set[str] = set()


def guard_logger(name: str, *, floor: int = logging.NOTSET) -> None:
    """Attach a `RedactingFilter` to the named logger once per process."""
    with _guard_lock:
        if name in _guarded:
            return
        logging.getLogger(name).addFilter(RedactingFilter(floor))
        _guarded.add(name)


class Sender:
    """Sends one message to one destination, once; safe to share between threads."""

    def __init__(self, settings: ChannelSettings) -> None:
        from missionctl.notifications.webhook import make_client

        self.settings = settings
        self._client: httpx.Client = make_client(settings.timeout_seconds)

    def send(self, message: Message, destination: Destination, *, now: datetime) -> DeliveryResult:
        """Try delivery once; every delivery problem is a `DeliveryResult`, never an exception."""
        from missionctl.notifications import apprise_channel, email, webhook

        if now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        match destination.kind:
            case ChannelKind.WEBHOOK:
                secret = self.settings.webhook_secret
                address = destination.address
                return webhook.send_webhook(self._client, message, address, secret=secret, now=now)
            case ChannelKind.EMAIL:
                return email.send_email(message, destination.address, self.settings, now=now)
            case ChannelKind.APPRISE:
                timeout = self.settings.timeout_seconds
                return apprise_channel.send_apprise(message, destination.address, timeout=timeout)
            case ChannelKind.INBOX:
                return DeliveryResult(Outcome.SENT, "kept in the Mission Control inbox")
        raise ValueError(f"unknown channel kind {destination.kind!r}")

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
