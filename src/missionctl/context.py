"""The application context: settings, clock, database and runbooks, built once and shared by entry points."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

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
        if isinstance(self._write_lock, FileWriteLock):
            self._write_lock.close()


class FileWriteLock:
    """Writers of this process queue on a thread lock, processes on an exclusive `flock` of a file beside the
    database (`serve --workers`, CLI commands next to a running server): the kernel wakes the next writer as
    soon as the lock is free. Writers that do not take it (other tools) still meet SQLite's busy timeout."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._threads = threading.Lock()
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *_exc: object) -> None:
        try:
            assert self._fd is not None
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        with self._threads:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def _sqlite_write_lock(engine: Engine) -> AbstractContextManager[object]:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return threading.Lock()
    return FileWriteLock(Path(f"{database}.writelock"))


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
        # SQLite has one writer at a time. Queueing writers on a lock beats SQLite's busy handler, which sleeps
        # in growing steps and turns contention into long tail latency.
        _write_lock=_sqlite_write_lock(engine) if settings.is_sqlite else nullcontext(),
    )
    signal.install(ctx._writer, ctx.job_signal)
    return ctx
