"""Engine fixtures: a catalog whose people are paged at real local receivers, and an engine to drive."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from missionctl.catalog import loader as catalog_loader
from missionctl.catalog import service as catalog
from missionctl.clock import FrozenClock
from missionctl.context import AppContext
from missionctl.engine.runner import Engine, EngineConfig
from missionctl.engine.runtime import make_sender
from tests.support.receivers import SmtpReceiver, WebhookReceiver

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

CATALOG = """
people:
  - id: alice
    name: Alice
    contact_methods:
      - {{id: hook, kind: webhook, address: "{hooks}/alice"}}
      - {{id: mail, kind: email, address: alice@example.com}}
    notification_rules:
      - {{contact_method: hook, after_minutes: 0}}
      - {{contact_method: mail, after_minutes: 2}}
  - id: bob
    name: Bob
    contact_methods:
      - {{id: hook, kind: webhook, address: "{hooks}/bob"}}
  - id: carol
    name: Carol
    contact_methods:
      - {{id: hook, kind: webhook, address: "{hooks}/carol"}}
  - id: erin
    name: Erin
    contact_methods:
      - {{id: hook, kind: webhook, address: "{hooks}/erin"}}
teams:
  - id: backend
    name: Backend
    members: [alice, bob]
    schedule: backend-primary
    escalation_policy: backend-default
  - id: platform
    name: Platform
    members: [carol]
schedules:
  - id: backend-primary
    name: Backend primary
    time_zone: Europe/Berlin
    layers:
      - name: weekly
        rotation: {{kind: weekly, handoff: "09:00", handoff_weekday: mon, start: 2026-01-05}}
        participants: [alice, bob]
escalation_policies:
  - id: backend-default
    name: Backend default
    repeat: 1
    levels:
      - escalate_after_minutes: 5
        targets: [{{schedule: backend-primary}}]
      - escalate_after_minutes: 5
        targets: [{{person: carol}}]
services:
  - id: checkout
    name: Checkout
    tier: 1
    team: backend
    runbooks: [RB-001, RB-002]
    roles:
      release_owner: {{person: erin}}
      platform_lead: {{person: carol}}
subscribers:
  - {{service: checkout, kind: webhook, address: "{hooks}/status", name: status page}}
"""


def load_catalog(ctx: AppContext, text: str, tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    documents = catalog_loader.read_paths([path])
    assert not documents.problems, documents.problems
    with ctx.write() as session:
        catalog.load_catalog(session, documents=documents, now=ctx.clock.now())


@pytest.fixture
def hooks(clock: FrozenClock) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET, clock=clock.now) as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as receiver:
        yield receiver


@pytest.fixture
def paging_ctx(ctx: AppContext, hooks: WebhookReceiver, smtp: SmtpReceiver, tmp_path: Path) -> AppContext:
    """The shared context, configured to mail through the SMTP receiver and sign with SECRET."""
    ctx.settings = ctx.settings.model_copy(
        update={
            "smtp_host": smtp.host,
            "smtp_port": smtp.port,
            "webhook_secret": SecretStr(SECRET),
            "public_url": "http://mc.example",
        }
    )
    load_catalog(ctx, CATALOG.format(hooks=hooks.base_url), tmp_path)
    return ctx


@pytest.fixture
def engine(paging_ctx: AppContext) -> Iterator[Engine]:
    sender = make_sender(paging_ctx)
    engine = Engine(paging_ctx, sender, config=EngineConfig(delivery_workers=4), worker_id="test-engine")
    yield engine
    engine.stop()
    sender.close()


@pytest.fixture
def api(paging_ctx: AppContext, app_client: TestClient, tokens: dict[Any, str]) -> TestClient:
    from missionctl.auth.roles import Role

    app_client.headers["Authorization"] = f"Bearer {tokens[Role.RESPONDER]}"
    return app_client
