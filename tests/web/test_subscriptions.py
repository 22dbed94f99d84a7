"""Status page subscriptions end to end: subscribe, confirm by link, receive updates at a real SMTP server and a
real webhook receiver, unsubscribe; CSRF and the per-IP rate limit on the public form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from missionctl.app import create_app
from missionctl.clock import FrozenClock
from missionctl.context import AppContext
from missionctl.engine.runner import Engine, EngineConfig
from missionctl.engine.runtime import make_sender
from missionctl.incidents import service
from missionctl.runbooks.schemas import Severity
from missionctl.settings import Settings
from missionctl.statuspage import links
from missionctl.web import status
from tests.engine.conftest import CATALOG, SECRET, load_catalog
from tests.support.receivers import SmtpReceiver, WebhookReceiver
from tests.web.conftest import declare_directly

FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
PUBLIC = "http://status.example"


@pytest.fixture
def hooks(clock: FrozenClock) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET, clock=clock.now) as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as receiver:
        yield receiver


@pytest.fixture
def public_ctx(ctx: AppContext, hooks: WebhookReceiver, smtp: SmtpReceiver, tmp_path: Path) -> AppContext:
    update = {"smtp_host": smtp.host, "smtp_port": smtp.port, "webhook_secret": SecretStr(SECRET), "public_url": PUBLIC}
    ctx.settings = ctx.settings.model_copy(update=update)
    load_catalog(ctx, CATALOG.format(hooks=hooks.base_url), tmp_path)
    return ctx


@pytest.fixture
def engine(public_ctx: AppContext) -> Iterator[Engine]:
    sender = make_sender(public_ctx)
    engine = Engine(public_ctx, sender, config=EngineConfig(delivery_workers=2), worker_id="test-engine")
    yield engine
    engine.stop()
    sender.close()


@pytest.fixture
def visitor(public_ctx: AppContext, settings: Settings) -> Iterator[TestClient]:
    """An anonymous browser on the public status page."""
    with TestClient(create_app(settings, context=public_ctx), follow_redirects=False) as client:
        yield client


def subscribe(client: TestClient, kind: str, address: str, service_id: str = "") -> str:
    page = client.get("/status")
    token = FORM_TOKEN.search(page.text)
    assert token is not None
    form = {"kind": kind, "address": address, "service": service_id, "csrf_token": token.group(1)}
    response = client.post("/status/subscriptions", data=form)
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def path_of(url: str) -> str:
    assert url.startswith(PUBLIC + "/status"), url
    return url.removeprefix(PUBLIC)


def link(text: str, label: str) -> str:
    match = re.search(rf"^{label}: (\S+)$", text, re.MULTILINE)
    assert match, text
    return path_of(match.group(1))


def post_update(ctx: AppContext, incident_id: int, message: str) -> None:
    with ctx.write() as session:
        service.post_update(session, incident_id=incident_id, message=message, actor="rita", now=ctx.clock.now())


def test_subscribe_confirm_receive_and_unsubscribe(
    public_ctx: AppContext, visitor: TestClient, engine: Engine, smtp: SmtpReceiver, hooks: WebhookReceiver
) -> None:
    assert subscribe(visitor, "email", "stake@example.com", "checkout") == "/status?subscribed=email#subscribe"
    assert "Check your inbox" in visitor.get("/status?subscribed=email").text
    subscribe(visitor, "webhook", hooks.url("/subscriber"))
    subscribe(visitor, "email", "never-confirms@example.com")
    engine.run_until_idle()

    # Double opt-in: one confirmation each, with a confirm and an unsubscribe link.
    mails = {m.rcpt_tos[0]: m for m in smtp.wait_for(2)}
    confirmation = mails["stake@example.com"].text
    assert "Confirm your status updates subscription" in mails["stake@example.com"].message["Subject"]
    confirm_path = link(confirmation, "Confirm")
    page = visitor.get(confirm_path)
    assert page.status_code == 200 and "Confirm subscription" in page.text  # a GET changes nothing
    assert "Subscribed" in visitor.post(confirm_path).text
    assert "Subscribed" in visitor.get(confirm_path).text  # confirming is idempotent

    [ping] = [r for r in hooks.wait_for(1) if r.path == "/subscriber"]
    assert ping.signature_valid and ping.json()["type"] == "status.subscription.confirm"
    assert visitor.post(path_of(ping.json()["confirm_url"])).status_code == 200  # a receiver can confirm by POST

    # A stakeholder update reaches both confirmed subscribers, in public words, with an unsubscribe link.
    incident_id = declare_directly(public_ctx)
    post_update(public_ctx, incident_id, "Rolling back to 2.3.0; checkout error rate 12%.")
    engine.run_until_idle()
    update_mail = smtp.wait_for(3)[-1]
    assert update_mail.rcpt_tos == ("stake@example.com",)
    text = update_mail.text
    assert "Rolling back to 2.3.0" in text and "Checkout: Major outage" in text
    assert "rita" not in text and "internal title" not in text
    unsubscribe_path = link(text, "Unsubscribe")
    assert link(text, "Status page") == "/status"
    updates = [r.json() for r in hooks.requests if r.path == "/subscriber"][1:]
    assert [u["type"] for u in updates] == ["status.update"]
    assert updates[0]["message"].startswith("Rolling back") and updates[0]["unsubscribe_url"].startswith(PUBLIC)
    assert updates[0]["service"] == "checkout" and updates[0]["impact"] == "Major outage"

    # Unsubscribing stops the email; the webhook still hears the next update; the unconfirmed never did.
    assert "Unsubscribe" in visitor.get(unsubscribe_path).text
    assert "Unsubscribed" in visitor.post(unsubscribe_path).text
    post_update(public_ctx, incident_id, "Error rate back to normal.")
    engine.run_until_idle()
    hooks.wait_for(4)  # catalog subscriber /status twice + our subscriber's ping and two updates, at least
    assert [m.rcpt_tos[0] for m in smtp.messages].count("stake@example.com") == 2
    assert [m.rcpt_tos[0] for m in smtp.messages].count("never-confirms@example.com") == 1
    assert [r.json()["type"] for r in hooks.requests if r.path == "/subscriber"] == [
        "status.subscription.confirm",
        "status.update",
        "status.update",
    ]


def test_a_subscription_to_one_service_hears_nothing_about_another(
    public_ctx: AppContext, visitor: TestClient, engine: Engine, smtp: SmtpReceiver
) -> None:
    subscribe(visitor, "email", "checkout-only@example.com", "checkout")
    engine.run_until_idle()
    [mail] = smtp.wait_for(1)
    visitor.post(link(mail.text, "Confirm"))
    with public_ctx.write() as session:
        incident = service.declare(
            session,
            runbook=public_ctx.runbooks.get("RB-002"),
            service="search",
            title="p95 up",
            severity=Severity.SEV3,
            commander="rita",
            actor="rita",
            now=public_ctx.clock.now(),
        )
        incident_id = incident.id
    post_update(public_ctx, incident_id, "Search is slow.")
    engine.run_until_idle()
    assert len(smtp.messages) == 1


def test_the_form_needs_its_csrf_token(visitor: TestClient, public_ctx: AppContext) -> None:
    visitor.get("/status")
    form = {"kind": "email", "address": "x@example.com", "service": ""}
    assert visitor.post("/status/subscriptions", data=form).status_code == 403
    assert visitor.post("/status/subscriptions", data=form | {"csrf_token": "forged"}).status_code == 403
    visitor.cookies.clear()
    token = FORM_TOKEN.search(visitor.get("/status").text)
    assert token is not None
    visitor.cookies.clear()  # the token without its cookie (another site posting the form)
    assert visitor.post("/status/subscriptions", data=form | {"csrf_token": token.group(1)}).status_code == 403


def test_subscriptions_are_rate_limited_per_client(visitor: TestClient, public_ctx: AppContext) -> None:
    for n in range(status.SUBSCRIBE_BURST):
        subscribe(visitor, "email", f"person{n}@example.com")
    token = FORM_TOKEN.search(visitor.get("/status").text)
    assert token is not None
    form = {"kind": "email", "address": "one-more@example.com", "service": "", "csrf_token": token.group(1)}
    refused = visitor.post("/status/subscriptions", data=form)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "Slow down" in refused.text


def test_the_limiter_refills_and_forgets_old_clients() -> None:
    limiter = status.ClientLimiter(burst=2, per_hour=3600, max_clients=2)
    assert [limiter.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 1.0]
    assert limiter.take("a", 1.0) == 0.0
    limiter.take("b", 1.0)
    limiter.take("c", 1.0)  # "a" is forgotten: it comes back with a full bucket
    assert limiter.take("a", 1.0) == 0.0 and limiter.take("a", 1.0) == 0.0


@pytest.mark.parametrize(
    ("kind", "address", "service_id"),
    [("email", "not an address", ""), ("webhook", "ftp://example.com/x", ""), ("email", "a@example.com", "nope")],
)
def test_unusable_addresses_and_unknown_services_are_refused(
    visitor: TestClient, public_ctx: AppContext, kind: str, address: str, service_id: str
) -> None:
    token = FORM_TOKEN.search(visitor.get("/status").text)
    assert token is not None
    form = {"kind": kind, "address": address, "service": service_id, "csrf_token": token.group(1)}
    assert visitor.post("/status/subscriptions", data=form).status_code == 422


def test_forged_and_unknown_links_are_refused(visitor: TestClient, public_ctx: AppContext) -> None:
    assert visitor.get("/status/confirm/not-a-token").status_code == 404
    assert visitor.post("/status/confirm/not-a-token").status_code == 404
    assert visitor.get("/status/unsubscribe/1.forged").status_code == 404
    assert visitor.post(f"/status/unsubscribe/{links.unsubscribe_token('another secret', 1)}").status_code == 404


def test_unsubscribe_tokens_are_signed() -> None:
    token = links.unsubscribe_token("s3cret", 42)
    assert links.read_unsubscribe_token("s3cret", token) == 42
    assert links.read_unsubscribe_token("other", token) is None
    assert links.read_unsubscribe_token("s3cret", "43." + token.split(".", 1)[1]) is None
    assert links.read_unsubscribe_token("s3cret", "x.y") is None
