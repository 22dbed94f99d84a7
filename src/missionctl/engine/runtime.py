"""Build a running engine from settings: the sender, the signing secret, and the LISTEN thread on PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass

from missionctl.actions.workers import ActionWorkers
from missionctl.analyzer.schedule import AnalyzerSchedule
from missionctl.context import AppContext
from missionctl.detectors.runner import DetectorRunner, DetectorThread
from missionctl.engine.listener import PgListener
from missionctl.engine.runner import Engine, EngineConfig
from missionctl.notifications import service as outbox
from missionctl.notifications.channels import ChannelSettings, Sender


def webhook_secret(ctx: AppContext) -> str:
    """The configured Standard Webhooks secret, or the one this installation generated for itself."""
    if ctx.settings.webhook_secret is not None:
        return ctx.settings.webhook_secret.get_secret_value()
    with ctx.write() as session:
        return outbox.server_secret(session, name="webhook_signing", now=ctx.clock.now(), prefix="whsec_")


def make_sender(ctx: AppContext) -> Sender:
    s = ctx.settings
    return Sender(
        ChannelSettings(
            smtp_host=s.smtp_host,
            smtp_port=s.smtp_port,
            smtp_username=s.smtp_username,
            smtp_password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            smtp_starttls=s.smtp_starttls,
            smtp_from=s.smtp_from,
            webhook_secret=webhook_secret(ctx),
        )
    )


@dataclass
class RunningEngine:
    engine: Engine
    listener: PgListener | None
    detectors: DetectorThread | None = None
    actions: ActionWorkers | None = None
    analyzer: AnalyzerSchedule | None = None

    def stop(self) -> None:
        if self.analyzer is not None:
            self.analyzer.close()
        if self.actions is not None:
            self.actions.stop()
        if self.detectors is not None:
            self.detectors.stop()
        if self.listener is not None:
            self.listener.stop()
        self.engine.stop()
        self.engine.sender.close()


def start_engine(ctx: AppContext, *, worker_id: str | None = None) -> RunningEngine:
    """Start the engine loop in a background thread (and, on PostgreSQL, the LISTEN thread)."""
    s = ctx.settings
    config = EngineConfig(
        batch_size=s.engine_batch_size,
        lease_seconds=s.engine_lease_seconds,
        poll_seconds=s.engine_poll_seconds,
        delivery_workers=s.engine_delivery_workers,
    )
    detectors = None
    if s.detectors_file is not None:  # loaded first: an invalid detectors file stops the start
        detectors = DetectorThread(DetectorRunner.from_settings(ctx), ctx.clock, poll_seconds=s.engine_poll_seconds)
    actions = ActionWorkers(ctx)  # checks the actions file first: an invalid one stops the start
    engine = Engine(ctx, make_sender(ctx), config=config, worker_id=worker_id)
    analyzer = AnalyzerSchedule.start(ctx)  # the scheduled RB-002 plan check, when an analyzed database is set
    if analyzer is not None:
        engine.handlers.update(analyzer.handlers)
    listener = None if s.is_sqlite else PgListener(ctx.engine, ctx.job_signal)
    if listener is not None:
        listener.start()
    engine.start()
    if detectors is not None:
        detectors.start()
    # The action workers run every action, RB-001's rollbacks and synthetic checks included.
    return RunningEngine(engine, listener, detectors, actions=actions.start(), analyzer=analyzer)
