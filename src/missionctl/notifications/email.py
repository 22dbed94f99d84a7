"""Email delivery over SMTP: one connection per message, replies classified by their SMTP code."""

from __future__ import annotations

import functools
import smtplib
import socket
import ssl
from datetime import datetime
from email.errors import HeaderParseError, MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import quote

from missionctl.notifications.channels import ChannelSettings, DeliveryResult, Message, Outcome

MESSAGE_ID_DOMAIN = "missionctl"
# RFC 5322 atext; a key outside it is percent-encoded ('%' is atext) so the Message-ID stays valid and stable.
_ATEXT_SAFE = "!#$&'*+-/=?^_`{|}~"


def message_id(idempotency_key: str) -> str:
    """`<key@missionctl>`: the same for every retry, so duplicates are recognisable."""
    local = quote(idempotency_key, safe=_ATEXT_SAFE + ".")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        local = quote(idempotency_key, safe=_ATEXT_SAFE).replace(".", "%2E")
    return f"<{local}@{MESSAGE_ID_DOMAIN}>"


def address_problem(address: str) -> str | None:
    """Why `address` is not a plain `local@domain` address, or None if it is one."""
    try:
        parsed = Address(addr_spec=address)
    except (HeaderParseError, MessageError, ValueError, IndexError):
        return "invalid email address"
    if not parsed.username or not parsed.domain:
        return "invalid email address"
    return None


def build(message: Message, address: str, sender: str, *, now: datetime) -> EmailMessage:
    """The email for `message`: Message-ID from the idempotency key, Date from `now`, plain text."""
    mail = EmailMessage()
    mail["Message-ID"] = message_id(message.idempotency_key)
    mail["Date"] = format_datetime(now)
    mail["From"] = sender
    mail["To"] = address
    mail["Subject"] = " ".join(message.subject.split())  # no line breaks in a header
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: autoresponders stay quiet
    mail.set_content(message.text)
    return mail


@functools.cache
def _local_hostname() -> str:
    return socket.getfqdn()  # resolved once: it can be slow


def send_email(message: Message, address: str, settings: ChannelSettings, *, now: datetime) -> DeliveryResult:
    """Hand the message to the configured SMTP server once; classify its answer."""
    problem = address_problem(address)
    if problem is not None:
        return DeliveryResult(Outcome.FAILED_PERM, f"{problem}: {address!r}")
    mail = build(message, address, settings.smtp_from, now=now)
    server = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        _submit(mail, address, settings)
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()), (-1, b""))
        return _by_code(code, f"recipient refused by {server}: {_text(reply)}")
    except smtplib.SMTPNotSupportedError as exc:
        return DeliveryResult(Outcome.FAILED_PERM, f"{server}: {exc}")
    except smtplib.SMTPResponseException as exc:
        return _by_code(exc.smtp_code, f"{server} replied {exc.smtp_code} {_text(exc.smtp_error)}")
    except smtplib.SMTPServerDisconnected as exc:
        return DeliveryResult(Outcome.FAILED_TEMP, f"{server} disconnected: {str(exc) or 'no reason given'}")
    except TimeoutError:
        return DeliveryResult(Outcome.FAILED_TEMP, f"timed out talking to {server}")
    except ssl.SSLError as exc:
        return DeliveryResult(Outcome.FAILED_TEMP, f"TLS with {server} failed: {exc.reason or exc}")
    except (OSError, smtplib.SMTPException) as exc:
        return DeliveryResult(Outcome.FAILED_TEMP, f"could not deliver via {server}: {exc}")
    return DeliveryResult(Outcome.SENT, f"accepted by {server} for {address}")


def _submit(mail: EmailMessage, address: str, settings: ChannelSettings) -> None:
    host, port, timeout = settings.smtp_host, settings.smtp_port, settings.timeout_seconds
    with smtplib.SMTP(host, port, local_hostname=_local_hostname(), timeout=timeout) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password or "")
        smtp.send_message(mail, from_addr=settings.smtp_from, to_addrs=[address])


def _by_code(code: int, detail: str) -> DeliveryResult:
    """5xx is permanent; 4xx (and anything odd, such as smtplib's -1) is worth another try."""
    outcome = Outcome.FAILED_PERM if 500 <= code < 600 else Outcome.FAILED_TEMP
    return DeliveryResult(outcome, detail, status_code=code if code > 0 else None)


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())
