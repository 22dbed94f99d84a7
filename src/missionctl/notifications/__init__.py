"""Outbound notifications: the outbox (models, service) and the channels that deliver one message once."""

from __future__ import annotations

from missionctl.notifications.backoff import MAX_ATTEMPTS, next_delay, should_give_up
from missionctl.notifications.channels import (
    ChannelKind,
    ChannelSettings,
    DeliveryResult,
    Destination,
    Message,
    Outcome,
    Sender,
)
from missionctl.notifications.throttle import DestinationThrottle, TokenBucket
from missionctl.notifications.webhook import WebhookVerificationError, generate_secret, sign, verify

__all__ = [
    "MAX_ATTEMPTS",
    "ChannelKind",
    "ChannelSettings",
    "DeliveryResult",
    "Destination",
    "DestinationThrottle",
    "Message",
    "Outcome",
    "Sender",
    "TokenBucket",
    "WebhookVerificationError",
    "generate_secret",
    "next_delay",
    "should_give_up",
    "sign",
    "verify",
]
