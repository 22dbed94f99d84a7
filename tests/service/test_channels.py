"""Channels against real local receivers: webhooks, SMTP and Apprise, each outcome classified honestly."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import pytest

from missionctl.notifications import (
    ChannelKind,
    ChannelSettings,
    DeliveryResult,
    Destination,
    Message,
    Outcome,
    Sender,
)
from missionctl.notifications.channels import (
    RedactingFilter,
    mask_apprise_url,
    mask_webhook_url,
    redacting,
    secret_fragments,
)
from missionctl.notifications.email import message_id
from tests.support.receivers import ScriptedResponse, SmtpReceiver, WebhookReceiver, free_port

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PASSWORD = "hunter2-Sup3rSecret"
TOKEN = "tok3n-AbCdEf123456"

MakeSender = Callable[..., Sender]


def now() -> datetime:
    return datetime.now(UTC)


def message(key: str = "notif-1:page") -> Message:
    return Message(
        idempotency_key=key,
        subject="[SEV1] checkout down",
        text="Checkout is failing.\nAcknowledge: https://mc.example/ack/1",
        payload={"type": "incident.page", "incident": {"id": 1, "title": "checkout down"}, "ack_url": "x"},
        created_at=now(),
    )


def webhook(url: str) -> Destination:
    return Destination(ChannelKind.WEBHOOK, url)


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver(credentials=("pager", PASSWORD)) as receiver:
        yield receiver


@pytest.fixture
def make_sender(smtp: SmtpReceiver) -> Iterator[MakeSender]:
    senders: list[Sender] = []

    def make(**overrides: object) -> Sender:
        values: dict[str, object] = {
            "smtp_host": smtp.host,
            "smtp_port": smtp.port,
            "smtp_username": None,
            "smtp_password": None,
            "smtp_starttls": False,
            "smtp_from": "Mission Control <pager@missionctl.test>",
            "webhook_secret": SECRET,
            "timeout_seconds": 5.0,
        }
        values.update(overrides)
        sender = Sender(ChannelSettings(**values))  # type: ignore[arg-type]
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        sender.close()


@pytest.fixture
def sender(make_sender: MakeSender) -> Sender:
    return make_sender()


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text and TOKEN not in text, text


# ------------------------------------------------------------------------------------------------ webhook


def test_webhook_is_delivered_signed(hooks: WebhookReceiver, sender: Sender) -> None:
    msg = message()
    result = sender.send(msg, webhook(hooks.url("/hook")), now=now())
    assert result == DeliveryResult(Outcome.SENT, f"HTTP 200 from {hooks.url('/hook')}", status_code=200)
    [request] = hooks.wait_for(1)
    assert request.signature_valid, request.signature_error
    assert request.method == "POST" and request.path == "/hook"
    assert request.webhook_id == msg.idempotency_key
    assert request.headers["content-type"] == "application/json"
    assert request.json() == msg.payload
    assert request.body == b'{"type":"incident.page","incident":{"id":1,"title":"checkout down"},"ack_url":"x"}'


def test_503_with_retry_after_is_temporary_and_the_retry_deduplicates(hooks: WebhookReceiver, sender: Sender) -> None:
    hooks.respond_with([503], retry_after=7)
    msg = message()
    first = sender.send(msg, webhook(hooks.url()), now=now())
    assert (first.outcome, first.retry_after, first.status_code) == (Outcome.FAILED_TEMP, 7.0, 503)
    second = sender.send(msg, webhook(hooks.url()), now=now())
    assert second.outcome is Outcome.SENT
    requests = hooks.wait_for(2)
    assert [r.answered for r in requests] == [503, 200]
    assert hooks.unique_ids() == {msg.idempotency_key}
    assert all(r.signature_valid for r in requests)


def test_429_with_an_http_date(hooks: WebhookReceiver, sender: Sender) -> None:
    sent_at = now()
    hooks.respond_with([ScriptedResponse(429, retry_after=format_datetime(sent_at + timedelta(seconds=90)))])
    result = sender.send(message(), webhook(hooks.url()), now=sent_at)
    assert result.outcome is Outcome.FAILED_TEMP
    assert result.retry_after == pytest.approx(90, abs=1)


@pytest.mark.parametrize(("status", "words"), [(404, "rejected"), (410, "gone"), (401, "rejected")])
def test_client_errors_are_permanent(hooks: WebhookReceiver, sender: Sender, status: int, words: str) -> None:
    hooks.respond_with([status])
    result = sender.send(message(), webhook(hooks.url()), now=now())
    assert (result.outcome, result.status_code) == (Outcome.FAILED_PERM, status)
    assert words in result.detail


def test_redirects_are_not_followed(hooks: WebhookReceiver, sender: Sender) -> None:
    hooks.respond_with([ScriptedResponse(307, headers={"Location": "http://elsewhere.invalid/hook"})])
    result = sender.send(message(), webhook(hooks.url()), now=now())
    assert result.outcome is Outcome.FAILED_PERM
    assert "redirect to http://elsewhere.invalid/hook not followed" in result.detail
    assert len(hooks.requests) == 1


def test_connection_refused_is_temporary(sender: Sender) -> None:
    result = sender.send(message(), webhook(f"http://127.0.0.1:{free_port()}/hook"), now=now())
    assert result.outcome is Outcome.FAILED_TEMP
    assert "could not reach" in result.detail


def test_a_slow_receiver_times_out_temporarily(hooks: WebhookReceiver, make_sender: MakeSender) -> None:
    hooks.respond_with([200], delay=30)  # abandoned when the receiver closes
    result = make_sender(timeout_seconds=0.3).send(message(), webhook(hooks.url()), now=now())
    assert result.outcome is Outcome.FAILED_TEMP
    assert "timed out" in result.detail


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/hook", "not a url", "https:///no-host", "http://127.0.0.1:70000/", "mailto:a@b.c"]
)
def test_unusable_urls_are_permanent(sender: Sender, url: str) -> None:
    assert sender.send(message(), webhook(url), now=now()).outcome is Outcome.FAILED_PERM


def test_webhook_secrets_stay_out_of_details_and_logs(
    hooks: WebhookReceiver, sender: Sender, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hooks.respond_with([404])
    url = f"http://pager:{PASSWORD}@127.0.0.1:{hooks.port}/hook?token={TOKEN}"
    result = sender.send(message(), webhook(url), now=now())
    assert result.outcome is Outcome.FAILED_PERM
    assert result.detail == f"HTTP 404 from {hooks.url('/hook')}: rejected"
    assert hooks.wait_for(1)[0].path == f"/hook?token={TOKEN}"  # the receiver did get its token
    assert f"HTTP Request: POST http://***@127.0.0.1:{hooks.port}/hook?*** " in caplog.text  # masked
    assert_no_secrets(result.detail, caplog.text, repr(webhook(url)))


def test_cookies_are_never_sent_back(hooks: WebhookReceiver, sender: Sender) -> None:
    hooks.respond_with([ScriptedResponse(200, headers={"Set-Cookie": "session=abc; Path=/"})])
    sender.send(message("k1"), webhook(hooks.url()), now=now())
    sender.send(message("k2"), webhook(hooks.url()), now=now())
    assert "cookie" not in hooks.wait_for(2)[1].headers


def test_one_sender_serves_many_threads(hooks: WebhookReceiver, sender: Sender) -> None:
    results: list[DeliveryResult] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        for n in range(5):
            result = sender.send(message(f"w{worker}-{n}"), webhook(hooks.url()), now=now())
            with lock:
                results.append(result)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [r.outcome for r in results] == [Outcome.SENT] * 40
    requests = hooks.wait_for(40)
    assert len(hooks.unique_ids()) == 40 and all(r.signature_valid for r in requests)


# -------------------------------------------------------------------------------------------------- email


def test_email_is_delivered_with_a_stable_message_id(smtp: SmtpReceiver, sender: Sender) -> None:
    msg, sent_at = message(), now()
    result = sender.send(msg, Destination(ChannelKind.EMAIL, "oncall@example.com"), now=sent_at)
    assert result.outcome is Outcome.SENT, result.detail
    [mail] = smtp.wait_for(1)
    assert mail.message_id == message_id(msg.idempotency_key) == "<notif-1%3Apage@missionctl>"
    assert mail.rcpt_tos == ("oncall@example.com",)
    assert mail.mail_from == "pager@missionctl.test"
    assert mail.message["To"] == "oncall@example.com"
    assert mail.message["From"] == "Mission Control <pager@missionctl.test>"
    assert mail.message["Subject"] == msg.subject
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert parsedate_to_datetime(mail.message["Date"]) == sent_at.replace(microsecond=0)
    assert mail.text.rstrip("\n") == msg.text
    assert mail.authenticated_as is None


def test_smtp_451_is_temporary_and_the_retry_keeps_the_message_id(smtp: SmtpReceiver, sender: Sender) -> None:
    smtp.fail_next("451 4.3.0 try later")
    msg, to = message(), Destination(ChannelKind.EMAIL, "oncall@example.com")
    first = sender.send(msg, to, now=now())
    assert (first.outcome, first.status_code) == (Outcome.FAILED_TEMP, 451)
    assert "451 4.3.0 try later" in first.detail
    assert sender.send(msg, to, now=now()).outcome is Outcome.SENT
    assert [m.message_id for m in smtp.wait_for(1)] == [message_id(msg.idempotency_key)]


@pytest.mark.parametrize(
    ("reply", "stage", "outcome"),
    [
        ("550 5.1.1 no such user", "rcpt", Outcome.FAILED_PERM),
        ("450 4.2.1 mailbox busy", "rcpt", Outcome.FAILED_TEMP),
        ("554 5.6.0 content rejected", "data", Outcome.FAILED_PERM),
    ],
)
def test_smtp_replies_are_classified_by_code(
    smtp: SmtpReceiver, sender: Sender, reply: str, stage: str, outcome: Outcome
) -> None:
    smtp.fail_next(reply, stage=stage)  # type: ignore[arg-type]
    result = sender.send(message(), Destination(ChannelKind.EMAIL, "ghost@example.com"), now=now())
    assert (result.outcome, result.status_code) == (outcome, int(reply[:3]))
    assert smtp.rejections[0].stage == stage and smtp.messages == []


def test_smtp_server_down_is_temporary(make_sender: MakeSender) -> None:
    sender = make_sender(smtp_port=free_port())
    result = sender.send(message(), Destination(ChannelKind.EMAIL, "oncall@example.com"), now=now())
    assert result.outcome is Outcome.FAILED_TEMP


@pytest.mark.parametrize("address", ["not-an-address", "a@", "Bob <bob@example.com>", "a@b\r\nBcc: x@y.z"])
def test_invalid_addresses_are_permanent_and_never_reach_smtp(smtp: SmtpReceiver, sender: Sender, address: str) -> None:
    result = sender.send(message(), Destination(ChannelKind.EMAIL, address), now=now())
    assert result.outcome is Outcome.FAILED_PERM and "invalid email address" in result.detail
    assert smtp.messages == [] and smtp.rejections == []


def test_smtp_login(smtp: SmtpReceiver, make_sender: MakeSender) -> None:
    sender = make_sender(smtp_username="pager", smtp_password=PASSWORD)
    result = sender.send(message(), Destination(ChannelKind.EMAIL, "oncall@example.com"), now=now())
    assert result.outcome is Outcome.SENT, result.detail
    assert smtp.wait_for(1)[0].authenticated_as == "pager"


def test_wrong_smtp_password_is_permanent_and_not_shown(smtp: SmtpReceiver, make_sender: MakeSender) -> None:
    sender = make_sender(smtp_username="pager", smtp_password=PASSWORD[::-1] + TOKEN)
    result = sender.send(message(), Destination(ChannelKind.EMAIL, "oncall@example.com"), now=now())
    assert (result.outcome, result.status_code) == (Outcome.FAILED_PERM, 535)
    assert_no_secrets(result.detail, repr(sender.settings))
    assert PASSWORD[::-1] not in result.detail


def test_starttls_required_but_not_offered_is_permanent(make_sender: MakeSender) -> None:
    sender = make_sender(smtp_starttls=True)
    result = sender.send(message(), Destination(ChannelKind.EMAIL, "oncall@example.com"), now=now())
    assert result.outcome is Outcome.FAILED_PERM and "STARTTLS" in result.detail


# ------------------------------------------------------------------------------------------------ Apprise


def test_apprise_delivers_through_its_json_webhook(sender: Sender) -> None:
    with WebhookReceiver() as receiver:
        url = f"json://127.0.0.1:{receiver.port}/apprise"
        result = sender.send(message(), Destination(ChannelKind.APPRISE, url), now=now())
        assert result == DeliveryResult(Outcome.SENT, "delivered via Apprise to json://127.0.0.1")
        [request] = receiver.wait_for(1)
    assert request.path == "/apprise"
    body = request.json()
    assert (body["title"], body["message"]) == (message().subject, message().text)


def test_apprise_failure_is_temporary(sender: Sender) -> None:
    with WebhookReceiver(default=500) as receiver:
        url = f"json://127.0.0.1:{receiver.port}/apprise"
        result = sender.send(message(), Destination(ChannelKind.APPRISE, url), now=now())
        receiver.wait_for(1)
    assert result.outcome is Outcome.FAILED_TEMP


@pytest.mark.parametrize(
    "url",
    [
        f"nosuchservice://pager:{PASSWORD}@chat.example.com/{TOKEN}",
        f"just-text-{TOKEN}",
        f"slack://{TOKEN}",  # incomplete Slack URL: the plugin refuses it
    ],
)
def test_unsupported_apprise_urls_are_permanent_and_masked(
    sender: Sender, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(1)
    result = sender.send(message(), Destination(ChannelKind.APPRISE, url), now=now())
    assert result.outcome is Outcome.FAILED_PERM
    assert_no_secrets(result.detail, caplog.text)


def test_apprise_secrets_stay_out_of_details_and_logs(sender: Sender, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(1)  # even TRACE
    url = f"json://pager:{PASSWORD}@127.0.0.1:{free_port()}/hook/{TOKEN}?token={TOKEN}"
    result = sender.send(message(), Destination(ChannelKind.APPRISE, url), now=now())
    assert result.outcome is Outcome.FAILED_TEMP
    assert result.detail.startswith("Apprise could not notify json://127.0.0.1")
    assert caplog.records  # Apprise and urllib3 did log: masked
    assert_no_secrets(result.detail, caplog.text)


# ---------------------------------------------------------------------------------------- shared contract


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://u:{PASSWORD}@hooks.example.com:8443/in/x?token={TOKEN}#f", "https://hooks.example.com:8443/in/x"),
        ("http://[::1]:8080/hook", "http://[::1]:8080/hook"),
    ],
)
def test_mask_webhook_url(url: str, shown: str) -> None:
    assert mask_webhook_url(url) == shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"ntfys://pager:{PASSWORD}@ntfy.example.com/{TOKEN}", "ntfys://ntfy.example.com"),
        (f"mmost://chat.example.com/{TOKEN}", "mmost://chat.example.com"),
        ("tgram://123456789:AAHsecretBotToken/987654", "tgram://***"),
        ("slack://xoxb-1234-5678-secrettoken/#alerts", "slack://***"),
        ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", "discord://***"),
        ("msteams://team/tokenA/tokenB/tokenC", "msteams://***"),
        ("json://127.0.0.1:8080/x", "json://127.0.0.1"),
        ("no scheme here", "<invalid Apprise URL>"),
    ],
)
def test_mask_apprise_url(url: str, shown: str) -> None:
    assert mask_apprise_url(url) == shown


def test_redacting_filter() -> None:
    def record(level: int, msg: str, *args: object) -> logging.LogRecord:
        return logging.LogRecord("apprise", level, __file__, 1, msg, args, None)

    outside, inside = record(logging.WARNING, "to %s", TOKEN), record(logging.WARNING, "to %s", TOKEN)
    malformed, chatty = record(logging.ERROR, "%s %s", TOKEN), record(logging.DEBUG, "to %s", TOKEN)
    assert RedactingFilter().filter(outside) and outside.getMessage() == f"to {TOKEN}"
    with redacting(secret_fragments(f"json://chat.example.com/{TOKEN}")):
        assert RedactingFilter().filter(inside) and inside.getMessage() == "to ***"
        assert RedactingFilter().filter(malformed) and TOKEN not in malformed.getMessage()
        assert not RedactingFilter(logging.WARNING).filter(chatty)


def test_programming_errors_raise(sender: Sender, hooks: WebhookReceiver) -> None:
    with pytest.raises(ValueError):
        sender.send(message(), webhook(hooks.url()), now=datetime(2026, 3, 2, 9, 0))
    with pytest.raises(ValueError):
        message("has space")
    with pytest.raises(ValueError):
        Message("k", "s", "t", {}, datetime(2026, 3, 2, 9, 0))
    with pytest.raises(ValueError):
        Destination("sms", "+15551234567")  # type: ignore[arg-type]
    assert hooks.requests == []


@pytest.mark.parametrize("secret", ["", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2hvcnQ=", "whsec_!!"])
def test_settings_refuse_weak_or_malformed_webhook_secrets(secret: str) -> None:
    with pytest.raises(ValueError):
        ChannelSettings("localhost", 25, None, None, False, "a@b.c", secret)


def test_destinations_accept_kinds_as_stored_strings(sender: Sender, hooks: WebhookReceiver) -> None:
    destination = Destination("webhook", hooks.url())  # type: ignore[arg-type]
    assert destination.kind is ChannelKind.WEBHOOK
    assert sender.send(message(), destination, now=now()).outcome is Outcome.SENT


def test_settings_repr_hides_secrets() -> None:
    settings = ChannelSettings("localhost", 25, "pager", PASSWORD, True, "a@b.c", SECRET)
    assert PASSWORD not in repr(settings) and SECRET not in repr(settings)
