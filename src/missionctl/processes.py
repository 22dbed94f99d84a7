"""`missionctl serve --workers N`: several server processes on one port, one of which runs the engine.

One Python process is bound by its interpreter lock: during an alert storm, parsing HTTP and alerts on the
event loop and writing rows on the writer thread take turns on one core. Worker processes take turns on
all of them.

- The supervisor (the `serve` command itself) migrates the database, binds one listening socket per worker
  on the same port (`SO_REUSEPORT`: the kernel spreads new connections evenly over them) and starts the
  workers, each inheriting its own. One shared socket spread them badly: the event loop (libuv) accepts
  every waiting connection when it wakes, so the first worker awake took most of a burst (measured: 46 of
  65 connections, one run in three at the single-process rate). If a worker dies, the supervisor keeps its
  socket, so connections waiting on it are not lost, and starts a replacement on it.
- A second server started on the same port by mistake must fail, not share it: the supervisor first claims
  the address with a name in the abstract Unix socket namespace, held by it and every worker it starts
  (so orphaned workers still hold it), and a single-process server binds without `SO_REUSEPORT`. Workers
  are sent SIGTERM when the supervisor dies (`die_with_supervisor`), so orphans do not linger.
- Worker 0 runs the engine, the detectors, the action workers and the analyzer schedule, exactly as a
  single `serve` does. The other workers serve HTTP only. When one of them commits a transaction that
  queued engine jobs (an incident opened by an alert and its timers) or an action, it rings a doorbell: a
  datagram on a local socket pair that worker 0 listens on. A page due at once is written leased to worker
  0's engine and travels over the same socket (`engine/signal.Relay`), so it goes out at once, with no pass
  and no claim, rather than at the engine's next poll.
- On SQLite, every process queues for the database's one writer on a file lock (see `context.py`), which
  wakes the next writer the moment the lock is free; SQLite's own busy handler sleeps in growing steps.
- `/metrics` aggregates every worker (prometheus-client's multiprocess mode, in a directory the supervisor
  creates and removes). Per-key ingest rate limits apply per worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import FrameType

from missionctl.engine.jobs import Claimed
from missionctl.engine.signal import parse_due
from missionctl.errors import MissionControlError

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client reads it when it is first imported
SUPERVISOR_ENV = "MISSIONCTL_SUPERVISOR_PID"  # tells a worker whose death it must not outlive
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
BACKLOG = 2048  # uvicorn's default
RESTART_DELAY = 1.0  # seconds before a dead worker is replaced
MAX_RESTARTS = 5  # within RESTART_WINDOW: a worker that keeps dying stops the server rather than spinning
RESTART_WINDOW = 60.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process is told on its command line: its index, the descriptors it inherits, and the name
    of worker 0's engine (in leases), the same for every worker and every replacement of worker 0."""

    index: int
    listen_fd: int
    doorbell_fd: int
    engine_id: str

    def render(self) -> str:
        return f"{self.index}:{self.listen_fd}:{self.doorbell_fd}:{self.engine_id}"

    @classmethod
    def parse(cls, text: str) -> WorkerSpec:
        try:
            index, listen_fd, doorbell_fd, engine_id = text.split(":", 3)
            return cls(int(index), int(listen_fd), int(doorbell_fd), engine_id)
        except ValueError:
            raise ValueError(f"--worker-spec must be INDEX:LISTEN_FD:DOORBELL_FD:ENGINE_ID, got {text!r}") from None


def listen_sockets(host: str, port: int, count: int) -> tuple[socket.socket, list[socket.socket]]:
    """The claim on `host:port`, and `count` listening sockets bound to it (`SO_REUSEADDR` as uvicorn binds,
    and `SO_REUSEPORT`). Raises `MissionControlError` if another `serve` holds the address or the bind fails."""
    claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sockets: list[socket.socket] = []
    try:
        if port:
            _claim(claim, host, port)
        for _ in range(count):
            sockets.append(_listen(host, port))
            port = sockets[0].getsockname()[1]  # port 0: the others join the port the first was given
        if not claim.getsockname():
            _claim(claim, host, port)
    except BaseException as exc:
        for sock in [claim, *sockets]:
            sock.close()
        if isinstance(exc, OSError):
            message = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
            raise MissionControlError(message, code="address_in_use") from exc
        raise
    for sock in [claim, *sockets]:
        sock.set_inheritable(True)
    return claim, sockets


def _claim(claim: socket.socket, host: str, port: int) -> None:
    try:
        claim.bind(f"\0missionctl-serve {host}:{port}")
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise OSError(errno.EADDRINUSE, "address already in use (by another `missionctl serve --workers`)") from exc


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def die_with_supervisor() -> None:
    """In a worker: be sent SIGTERM if the supervisor dies (a SIGKILLed supervisor would otherwise leave its
    workers serving the port, and holding its claim, with nobody to stop or replace them). Linux only."""
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if supervisor is None or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning("cannot ask to die with the supervisor: %s", os.strerror(ctypes.get_errno()))
        return
    if os.getppid() != int(supervisor):  # it died before we asked: nobody will send the signal
        sys.exit("the supervisor is gone")


# ---------------------------------------------------------------------------------------------------------------------
# The doorbell between workers
# ---------------------------------------------------------------------------------------------------------------------

_JOBS = b"J"
_ACTIONS = b"A"
_PAGE = b"P"
# A relayed page travels as a pickle: the socket pair is unnamed, made by the supervisor and inherited only by
# its workers, so nothing else can write to it. A larger page (a huge body) rings instead of travelling.
MAX_MESSAGE = 60_000


class Doorbell:
    """One end of a datagram socket pair: the other workers ring (or relay a page), worker 0 answers."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def ring_jobs(self, earliest: datetime | None) -> None:
        self._send(_JOBS + (earliest.isoformat().encode() if earliest is not None else b""))

    def ring_actions(self) -> None:
        self._send(_ACTIONS)

    def relay(self, job: Claimed) -> bool:
        """Pass a page leased to the engine's worker on to it; False if it could not go."""
        message = _PAGE + pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
        return len(message) <= MAX_MESSAGE and self._send(message)

    def _send(self, message: bytes) -> bool:
        # Never blocks a committing request: if worker 0 is behind (or restarting), the buffer is full and the
        # engine's own poll finds the work a moment later.
        try:
            self.sock.send(message, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError, ConnectionRefusedError):
            return False
        return True

    def answer(
        self,
        on_jobs: Callable[[datetime | None], None],
        on_actions: Callable[[], None],
        on_pages: Callable[[list[Claimed]], None],
    ) -> threading.Thread:
        """Worker 0: a daemon thread that turns rings into local wake-ups and relayed pages into deliveries, for as
        long as the process lives."""

        def loop() -> None:
            while True:
                try:
                    messages = [self.sock.recv(MAX_MESSAGE)]
                    if not messages[0]:  # nobody sends an empty datagram: the socket was shut down
                        return
                    with contextlib.suppress(BlockingIOError, InterruptedError):
                        while len(messages) < 100:
                            messages.append(self.sock.recv(MAX_MESSAGE, socket.MSG_DONTWAIT))
                except OSError:
                    log.exception("doorbell closed; other workers' pages now wait for the engine's poll")
                    return
                pages: list[Claimed] = []
                for message in messages:
                    if message.startswith(_JOBS):
                        on_jobs(parse_due(message[len(_JOBS) :].decode(errors="replace")))
                    elif message == _ACTIONS:
                        on_actions()
                    elif message.startswith(_PAGE):
                        try:
                            pages.append(pickle.loads(message[len(_PAGE) :]))  # noqa: S301 (see MAX_MESSAGE)
                        except Exception:  # its lease runs out and a pass takes it
                            log.exception("a relayed page could not be read; it goes when its lease runs out")
                if pages:
                    try:
                        on_pages(pages)
                    except Exception:  # e.g. the engine stopping: their leases run out and a pass takes them
                        log.exception("relayed pages could not be taken; they go when their lease runs out")

        thread = threading.Thread(target=loop, name="doorbell", daemon=True)
        thread.start()
        return thread


# ---------------------------------------------------------------------------------------------------------------------
# The supervisor
# ---------------------------------------------------------------------------------------------------------------------


@dataclass
class _Worker:
    index: int
    process: subprocess.Popen[bytes]


class Supervisor:
    """Starts `count` workers on `host:port`, replaces any that die, and stops them all on SIGINT or SIGTERM."""

    def __init__(self, *, count: int, host: str, port: int, worker_argv: Callable[[WorkerSpec], list[str]]) -> None:
        if count < 2:
            raise ValueError("a supervisor runs two or more workers")
        self.count = count
        self.host = host
        self.port = port
        self._worker_argv = worker_argv
        self._stopping = threading.Event()
        self._workers: dict[int, _Worker] = {}
        self._restarts: list[float] = []
        # Worker 0 listens on `_bell_in`; every other worker rings `_bell_out`. The supervisor keeps both, so a
        # replaced worker 0 answers the same bell.
        self._bell_in, self._bell_out = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        for end in (self._bell_in, self._bell_out):
            end.set_inheritable(True)
        self._claim: socket.socket | None = None
        self._listeners: list[socket.socket] = []
        # Pages the other workers relay are leased to this name, so a replaced worker 0 takes those still queued.
        self._engine_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.metrics_dir = tempfile.mkdtemp(prefix="missionctl-metrics-")

    def run(self) -> int:
        """Run until asked to stop (or a worker keeps dying); returns the exit code for the command."""
        previous = {sig: signal.signal(sig, self._ask_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        code = 0
        try:
            self._claim, self._listeners = listen_sockets(self.host, self.port, self.count)
            for index in range(self.count):
                self._start(index)
            while not self._stopping.is_set():
                code = self._reap()
                if code:
                    break
                self._stopping.wait(0.2)
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for sock in (self._claim, *self._listeners, self._bell_in, self._bell_out):
                if sock is not None:
                    sock.close()
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
        return code

    def _ask_stop(self, _signum: int, _frame: FrameType | None) -> None:
        self._stopping.set()

    def _start(self, index: int) -> None:
        assert self._claim is not None
        bell = self._bell_in if index == 0 else self._bell_out
        listener = self._listeners[index]
        spec = WorkerSpec(index, listener.fileno(), bell.fileno(), self._engine_id)
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            self._worker_argv(spec),
            # The claim is inherited and simply kept open: while any worker lives, no new server takes the port.
            pass_fds=(listener.fileno(), bell.fileno(), self._claim.fileno()),
            env=os.environ | {MULTIPROC_ENV: self.metrics_dir, SUPERVISOR_ENV: str(os.getpid())},
        )
        self._workers[index] = _Worker(index, process)
        log.info("worker %d started (pid %d)", index, process.pid)

    def _reap(self) -> int:
        for worker in list(self._workers.values()):
            code = worker.process.poll()
            if code is None or self._stopping.is_set():
                continue
            now = time.monotonic()
            self._restarts = [t for t in self._restarts if now - t < RESTART_WINDOW] + [now]
            if len(self._restarts) > MAX_RESTARTS:
                log.error("workers exited %d times within %.0f s; stopping", len(self._restarts), RESTART_WINDOW)
                return 1
            log.error("worker %d (pid %d) exited with %s; starting a new one", worker.index, worker.process.pid, code)
            time.sleep(RESTART_DELAY)
            self._start(worker.index)
        return 0

    def _stop_all(self) -> None:
        for worker in self._workers.values():
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for worker in self._workers.values():
            try:
                worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker %d did not stop within %.0f s; killing it", worker.index, STOP_TIMEOUT)
                worker.process.kill()
                worker.process.wait()


def worker_argv(spec: WorkerSpec, *, host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "missionctl",
        "serve",
        "--host",
        host,
        "--port",
        str(port),
        "--worker-spec",
        spec.render(),
    ]
