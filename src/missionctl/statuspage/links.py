"""Subscription links (pure): random confirmation tokens kept only as hashes, signed unsubscribe tokens.

A confirmation token is shown once, in the confirmation message. Unsubscribe links go into every message
for as long as the subscription lasts, so they are derived instead: the subscription id and an HMAC of
it under a secret this installation generated for itself. They do not expire: an old message must
still be able to stop the next one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PURPOSE = "status-unsubscribe"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _mac(secret: str, subscription_id: int) -> str:
    digest = hmac.new(secret.encode(), f"{PURPOSE}.{subscription_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def unsubscribe_token(secret: str, subscription_id: int) -> str:
    return f"{subscription_id}.{_mac(secret, subscription_id)}"


def read_unsubscribe_token(secret: str, token: str) -> int | None:
    """The subscription id in a genuine unsubscribe token, else None."""
    ident, _, mac = token.partition(".")
    if not ident.isdigit() or len(ident) > 18:
        return None
    return int(ident) if hmac.compare_digest(mac, _mac(secret, int(ident))) else None
