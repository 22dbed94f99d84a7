"""Signed, single-purpose, expiring acknowledge links: a page can be acknowledged without logging in."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from missionctl.errors import NotAuthenticated

PURPOSE = "ack"


@dataclass(frozen=True)
class AckClaim:
    incident_id: int
    person_id: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), f"{PURPOSE}.{body}".encode(), hashlib.sha256).digest())


def make_token(secret: str, claim: AckClaim) -> str:
    """A URL-safe token naming the incident and the person, valid until `expires_at`."""
    body = _b64(
        json.dumps(
            {"i": claim.incident_id, "p": claim.person_id, "e": int(claim.expires_at.timestamp())},
            separators=(",", ":"),
        ).encode()
    )
    return f"{body}.{_mac(secret, body)}"


def read_token(secret: str, token: str, *, now: datetime) -> AckClaim:
    """The claim in a valid, unexpired token; anything else is refused with one message."""
    refused = NotAuthenticated("this acknowledge link is invalid or has expired", code="invalid_ack_link")
    body, _, mac = token.partition(".")
    if not body or not hmac.compare_digest(mac, _mac(secret, body)):
        raise refused
    try:
        data = json.loads(_unb64(body))
        claim = AckClaim(int(data["i"]), str(data["p"]), datetime.fromtimestamp(int(data["e"]), tz=UTC))
    except (ValueError, KeyError, TypeError):
        raise refused from None
    if now > claim.expires_at:
        raise refused
    return claim
