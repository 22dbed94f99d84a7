"""The README's promise: with the example catalog, declaring an RB-001 incident pages someone at once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from missionctl.catalog import loader as catalog_loader
from missionctl.catalog import service as catalog
from missionctl.clock import FrozenClock
from missionctl.context import AppContext
from missionctl.engine.runner import Engine
from missionctl.engine.runtime import make_sender
from missionctl.escalation import service as escalation
from missionctl.incidents import service as incidents

EXAMPLES = Path(__file__).parents[2] / "examples" / "catalog"


def test_declaring_rb001_on_checkout_pages_the_on_call_at_once(ctx: AppContext, clock: FrozenClock) -> None:
    with ctx.write() as session:
        catalog.load_catalog(session, documents=catalog_loader.read_paths([EXAMPLES]), now=clock.now())
        incident_id = incidents.declare(
            session,
            runbook=ctx.runbooks.get("RB-001"),
            service="checkout",
            title="5xx after 2.3.1",
            severity=None,
            commander="dana",
            actor="dana",
            now=clock.now(),
        ).id
    sender = make_sender(ctx)
    engine = Engine(ctx, sender, worker_id="example")
    try:
        engine.run_until_idle()
        with ctx.read() as session:
            pages, state = escalation.paging_view(session, incident_id=incident_id)
        sent = [(p.person, p.channel) for p in pages if p.status == "sent"]
        assert sent and {channel for _, channel in sent} == {"inbox"}
        assert state is not None and state.status == "active"
        assert all(p.status == "pending" for p in pages if p.channel == "email")  # two minutes, unless acked
        with ctx.write() as session:
            incidents.acknowledge(session, incident_id=incident_id, actor=sent[0][0], now=clock.now())
        clock.advance(timedelta(minutes=3))
        engine.run_until_idle()
        with ctx.read() as session:
            pages, _ = escalation.paging_view(session, incident_id=incident_id)
        assert {p.status for p in pages if p.channel == "email"} == {"cancelled"}
    finally:
        engine.stop()
        sender.close()
