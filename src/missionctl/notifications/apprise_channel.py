"""Chat and push delivery through Apprise URLs (Slack, Teams, ntfy, Telegram, Mattermost, Discord, ...)."""

from __future__ import annotations

import logging
import threading
import warnings

import apprise

from missionctl.notifications.channels import (
    DeliveryResult,
    Message,
    Outcome,
    guard_logger,
    mask_apprise_url,
    redact,
    redacting,
    secret_fragments,
)

# Apprise logs raw URLs and request URLs holding tokens at DEBUG/TRACE (e.g. Telegram's bot token, Slack's
# webhook path), and urllib3 logs request paths at DEBUG: below WARNING nothing from Apprise gets through,
# and every record in a delivery's context has that destination's URL pieces masked.
GUARDED_LOGGERS = {"apprise": logging.WARNING, "urllib3.connectionpool": logging.NOTSET}


_ready_lock = threading.Lock()
_ready = False


def _prepare() -> None:
    """Guard the loggers and load Apprise's plugins, once per process."""
    global _ready
    with _ready_lock:
        if _ready:
            return
        for name, floor in GUARDED_LOGGERS.items():
            guard_logger(name, floor=floor)
        # Apprise's email plugin imports `imghdr` for PGPy, which warns on Python 3.11/3.12; the
        # warning is not ours to act on (and is an error under a strict warnings filter).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="'imghdr' is deprecated", category=DeprecationWarning)
            apprise.Apprise.instantiate("json://localhost")  # loads every plugin module
        _ready = True


def send_apprise(message: Message, url: str, *, timeout: float) -> DeliveryResult:
    """Notify one Apprise URL once: title = subject, body = plain text."""
    _prepare()
    shown = mask_apprise_url(url)
    with redacting(secret_fragments(url)) as fragments:
        asset = apprise.AppriseAsset(service_timeout=timeout, result_log_disk_size=0)
        notifier = apprise.Apprise(asset=asset)
        if not notifier.add([url]):  # a list, so one address is never split into several URLs
            return DeliveryResult(Outcome.FAILED_PERM, f"unsupported or invalid Apprise URL {shown}")
        try:
            result = notifier.notify(
                body=message.text,
                title=message.subject,
                body_format=apprise.NotifyFormat.TEXT,
                timeout=timeout,
            )
        except Exception as exc:  # third-party plugin code: any failure in it is a delivery failure
            reason = redact(f"{type(exc).__name__}: {exc}", fragments)
            return DeliveryResult(Outcome.FAILED_TEMP, f"Apprise failed for {shown}: {reason}")
    if result:
        return DeliveryResult(Outcome.SENT, f"delivered via Apprise to {shown}")
    if result.status == apprise.AppriseResultStatus.TIMEOUT:
        return DeliveryResult(Outcome.FAILED_TEMP, f"Apprise timed out after {timeout:g}s for {shown}")
    return DeliveryResult(Outcome.FAILED_TEMP, f"Apprise could not notify {shown} (it does not say why)")
