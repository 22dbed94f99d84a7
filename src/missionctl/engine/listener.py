"""Cross-process wake-ups on PostgreSQL: LISTEN for the NOTIFY that enqueueing transactions send on commit."""

from __future__ import annotations

import logging
import threading

import psycopg
from sqlalchemy import Engine as SqlEngine

from missionctl.engine.jobs import WAKE_CHANNEL
from missionctl.engine.signal import JobSignal, parse_due

log = logging.getLogger(__name__)


class PgListener:
    """A thread holding one connection that rings the engine's doorbell on every job notification, with the
    earliest due time the notifying transaction queued."""

    def __init__(self, engine: SqlEngine, signal: JobSignal) -> None:
        url = engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._signal = signal
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="missionctl-pg-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except psycopg.Error as exc:
                log.warning("LISTEN connection lost (%s); engines fall back to polling until it is back", exc)
                self._stop.wait(1.0)

    def _listen(self) -> None:
        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            conn.execute(f"LISTEN {WAKE_CHANNEL}")
            while not self._stop.is_set():
                for notice in conn.notifies(timeout=0.5):
                    self._signal.ring(parse_due(notice.payload))
