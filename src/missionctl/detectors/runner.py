"""The detector runner: each tick evaluates the detectors due, then stores states and signals in one transaction.

A tick has three phases so that no transaction waits on the network: read what is due (a read transaction),
query Prometheus and probe URLs (no transaction, a few in parallel), then store the new states and hand the
transitions to the signals pipeline (one short write transaction). State lives in the database, so a restart
neither fires again nor forgets how long a condition has been pending.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from missionctl.clock import Clock
from missionctl.context import AppContext
from missionctl.detectors import evaluation, service
from missionctl.detectors.config import ConfiguredDetector, load_detectors
from missionctl.detectors.evaluation import Observation, Release
from missionctl.detectors.probe import Prober
from missionctl.detectors.prometheus import PrometheusClient
from missionctl.detectors.schemas import DeployWindowDetector, ProbeDetector, PromQLDetector, SpikeDetector
from missionctl.signals.pipeline import Applied

log = logging.getLogger(__name__)

PARALLEL_CHECKS = 8


@dataclass(frozen=True)
class TickResult:
    evaluated: list[str]
    applied: Applied


class DetectorRunner:
    """Evaluates configured detectors on their intervals; `tick(now)` is one pass (tests call it directly)."""

    def __init__(
        self,
        ctx: AppContext,
        detectors: list[ConfiguredDetector],
        *,
        prometheus: PrometheusClient,
        prober: Prober,
    ) -> None:
        self.ctx = ctx
        self.detectors = detectors
        self.prometheus = prometheus
        self.prober = prober
        self._pool = ThreadPoolExecutor(max_workers=PARALLEL_CHECKS, thread_name_prefix="detector-check")

    @classmethod
    def from_settings(cls, ctx: AppContext) -> DetectorRunner:
        """The runner for `detectors_file` (which must be set); raises `InvalidInput` if the file is invalid."""
        s = ctx.settings
        if s.detectors_file is None:
            raise ValueError("no detectors file is configured (MISSIONCTL_DETECTORS_FILE)")
        detectors = load_detectors(s.detectors_file, ctx.runbooks)
        prometheus = PrometheusClient(s.prometheus_url, timeout=s.detector_query_timeout_seconds)
        return cls(ctx, detectors, prometheus=prometheus, prober=Prober())

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.prometheus.close()
        self.prober.close()

    def tick(self, now: datetime) -> TickResult:
        """Evaluate every detector due at `now` and store the outcome."""
        with self.ctx.read() as session:
            plan = service.plan(session, detectors=self.detectors, now=now)
        observations = list(self._pool.map(lambda due: self._observe(due, now), plan.due))
        outcomes = [
            service.Outcome(due, evaluation.evaluate(due.detector.detector, due.previous, observed, now))
            for due, observed in zip(plan.due, observations, strict=True)
        ]
        for outcome in outcomes:
            if outcome.evaluation.error:
                log.info("detector %s not evaluated: %s", outcome.due.detector.name, outcome.evaluation.error)
        with self.ctx.write() as session:
            applied = service.store(
                session, outcomes=outcomes, retired=plan.retired, runbooks=self.ctx.runbooks, now=now
            )
        return TickResult([due.detector.name for due in plan.due], applied)

    def _observe(self, due: service.DueDetector, now: datetime) -> Observation:
        spec = due.detector.detector
        try:
            return self._fetch(spec, due.release, now)
        except Exception as exc:  # a bug in one check must not stop the others
            log.exception("detector %s: check failed", due.detector.name)
            return evaluation.Unavailable(f"internal error: {type(exc).__name__}")

    def _fetch(
        self,
        spec: PromQLDetector | ProbeDetector | SpikeDetector | DeployWindowDetector,
        release: service.ReleaseInfo | None,
        now: datetime,
    ) -> Observation:
        if isinstance(spec, ProbeDetector):
            return self.prober.probe(str(spec.url), timeout=spec.timeout_seconds)
        if isinstance(spec, PromQLDetector):
            return self.prometheus.query(spec.expr, at=now)
        if isinstance(spec, SpikeDetector):
            start, end, step = evaluation.range_for(spec, now)
            return self.prometheus.query_range(spec.expr, start=start, end=end, step=step)
        if release is None:
            return None
        window = evaluation.release_range(spec, release.deployed_at, now)
        if window is None:
            return Release(release.version, release.deployed_at, None)
        start, end, step = window
        data = self.prometheus.query_range(spec.expr, start=start, end=end, step=step)
        return Release(release.version, release.deployed_at, data)


class DetectorThread:
    """Ticks a runner every `poll_seconds` of wall time in a daemon thread, until stopped."""

    def __init__(self, runner: DetectorRunner, clock: Clock, *, poll_seconds: float = 1.0) -> None:
        self.runner = runner
        self.clock = clock
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="detectors", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.runner.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.runner.tick(self.clock.now())
            except Exception:  # keep ticking; the next pass retries what failed
                log.exception("detector tick failed")
            self._stop.wait(self.poll_seconds)
