"""The application context: settings, clock, database and runbooks, built once and shared by entry points."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from missionctl.clock import Clock, ScaledClock, SystemClock
from missionctl.db import make_engine, make_session_factory
from missionctl.engine import signal
from missionctl.engine.signal import JobSignal
from missionctl.runbooks.loader import RunbookRegistry, load_registry
from missionctl.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    clock: Clock
    engine: Engine
    runbooks: RunbookRegistry
    _writer: sessionmaker[Session]
    _reader: sessionmaker[Session]

    _write_lock: AbstractContextManager[object] = field(default_factory=nullcontext)
    job_signal: JobSignal = field(default_factory=JobSignal)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction for one use case: committed on success, rolled back on any error."""
        with self._write_lock, self._writer.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (on SQLite it does not take the write lock)."""
        with self._reader.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def _clock(settings: Settings) -> Clock:
    if settings.clock_speed == 1.0 and settings.clock_anchor is None:
        return SystemClock()
    return ScaledClock(settings.clock_anchor or SystemClock().now(), settings.clock_speed)


def build_context(settings: Settings, *, clock: Clock | None = None) -> AppContext:
    """Open the database and load the runbooks; raises with a clear message if a runbook is invalid."""
    engine = make_engine(settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    ctx = AppContext(
        settings=settings,
        clock=clock or _clock(settings),
        engine=engine,
        runbooks=load_registry(settings.runbook_dirs),
        _writer=make_session_factory(engine),
        _reader=make_session_factory(engine, read_only=True),
        # SQLite has one writer at a time. Queueing writers on a fair in-process lock beats SQLite's
        # busy handler, which sleeps in growing steps and turns contention into long tail latency.
        # Other processes on the same file still meet the busy timeout.
        _write_lock=threading.Lock() if settings.is_sqlite else nullcontext(),
    )
    signal.install(ctx._writer, ctx.job_signal)
    return ctx
