"""Real local receivers for notification tests: a Standard Webhooks HTTP server and an SMTP server.

Both listen on 127.0.0.1 at a free port, record everything they receive, can be scripted to fail, and
offer `wait_for(count, timeout)`, which blocks on a condition variable (no sleeping loops) and fails
with what was received so far. Use them as context managers::

    with WebhookReceiver(secret) as hooks:
        hooks.respond_with([503, 200], retry_after=7)
        ...  # send to hooks.url("/hook")
        [first, second] = hooks.wait_for(2, timeout=5)
        assert second.signature_valid

    with SmtpReceiver() as smtp:
        smtp.fail_next("451 4.3.0 try later")
        ...  # send through smtp.host / smtp.port
        [mail] = smtp.wait_for(1, timeout=5)
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from missionctl.notifications.webhook import WebhookVerificationError, verify

HOST = "127.0.0.1"
DEFAULT_WAIT = 5.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago (also handy as a refused port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(condition: threading.Condition, ready: Callable[[], bool], timeout: float, what: str) -> None:
    with condition:
        if not condition.wait_for(ready, timeout=timeout):
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# --------------------------------------------------------------------------------------------- webhooks


@dataclass(frozen=True)
class ScriptedResponse:
    """One answer of a `WebhookReceiver`: status, optional Retry-After, an optional delay before answering."""

    status: int = 200
    retry_after: str | int | None = None
    delay: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the receiver saw it; header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float  # time.monotonic()
    signature_valid: bool | None  # None when the receiver has no secret to check with
    signature_error: str | None
    answered: int  # the status the receiver answered with

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id")

    def json(self) -> Any:
        return json.loads(self.body)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, receiver: WebhookReceiver) -> None:
        self.receiver = receiver
        super().__init__((HOST, 0), _WebhookHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and left is part of the test, not noise for stderr.
        self.receiver.errors.append(repr(sys.exc_info()[1]))


class _WebhookHandler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers at shutdown

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests read the recorded requests instead

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            chunks = []
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _handle(self) -> None:
        receiver = self.server.receiver
        body = self._read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        response = receiver._record(self.command, self.path, headers, body)
        if response.delay and receiver._closing.wait(response.delay):
            return  # shutting down: leave without an answer
        self.send_response(response.status)
        if response.retry_after is not None:
            self.send_header("Retry-After", str(response.retry_after))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body)


class WebhookReceiver:
    """A real HTTP server that records webhook deliveries and checks their Standard Webhooks signatures.

    `secret` (a `whsec_` secret) enables signature checks, judged against `clock()` (default: the wall
    clock) with `tolerance_seconds`. Answers follow the script given to `respond_with`, then `default`.
    """

    def __init__(
        self,
        secret: str | None = None,
        *,
        default: int | ScriptedResponse = 200,
        clock: Callable[[], datetime] | None = None,
        tolerance_seconds: float = 300,
    ) -> None:
        self.secret = secret
        self.default = _as_response(default)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.tolerance_seconds = tolerance_seconds
        self.errors: list[str] = []  # exceptions raised while answering (e.g. the client hung up)
        self._requests: list[ReceivedRequest] = []
        self._script: deque[ScriptedResponse] = deque()
        self._changed = threading.Condition()
        self._closing = threading.Event()
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("WebhookReceiver already started")
        self._closing.clear()
        self._server = _HttpServer(self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; delayed answers still pending are abandoned."""
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=DEFAULT_WAIT)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # addresses

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("WebhookReceiver not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def url(self, path: str = "/hook") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # scripting and inspection

    def respond_with(
        self,
        script: Iterable[int | ScriptedResponse],
        *,
        retry_after: str | int | None = None,
        delay: float = 0.0,
    ) -> None:
        """Queue answers for the next requests; bare statuses get `retry_after` and `delay`."""
        items = [
            item if isinstance(item, ScriptedResponse) else ScriptedResponse(item, retry_after, delay)
            for item in script
        ]
        with self._changed:
            self._script.extend(items)

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._changed:
            return list(self._requests)

    def wait_for(self, count: int, timeout: float = DEFAULT_WAIT) -> list[ReceivedRequest]:
        """Block until at least `count` requests arrived; return them all (AssertionError on timeout)."""
        try:
            _wait(self._changed, lambda: len(self._requests) >= count, timeout, f"{count} webhook request(s)")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; got {len(self.requests)}: {self.requests!r}") from None
        return self.requests

    def unique_ids(self) -> set[str]:
        """The distinct `webhook-id`s received: what a deduplicating receiver would have processed."""
        return {r.webhook_id for r in self.requests if r.webhook_id is not None}

    def _record(self, method: str, path: str, headers: dict[str, str], body: bytes) -> ScriptedResponse:
        valid, error = self._check(headers, body)
        with self._changed:
            response = self._script.popleft() if self._script else self.default
            request = ReceivedRequest(method, path, headers, body, time.monotonic(), valid, error, response.status)
            self._requests.append(request)
            self._changed.notify_all()
        return response

    def _check(self, headers: dict[str, str], body: bytes) -> tuple[bool | None, str | None]:
        if self.secret is None:
            return None, None
        try:
            verify(self.secret, headers, body, now=self.clock(), tolerance_seconds=self.tolerance_seconds)
        except WebhookVerificationError as exc:
            return False, str(exc)
        return True, None


def _as_response(value: int | ScriptedResponse) -> ScriptedResponse:
    return value if isinstance(value, ScriptedResponse) else ScriptedResponse(value)


# --------------------------------------------------------------------------------------------------- SMTP


@dataclass(frozen=True)
class ReceivedMail:
    """One message the SMTP receiver accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes
    received_at: float  # time.monotonic()
    authenticated_as: str | None  # the AUTH login, if the client logged in

    @property
    def message_id(self) -> str | None:
        value = self.message["Message-ID"]
        return None if value is None else str(value)

    @property
    def text(self) -> str:
        """The plain-text body with the wire's CRLF line endings turned back into newlines."""
        part = self.message.get_body(preferencelist=("plain",))
        content = part.get_content() if part is not None else ""
        return str(content).replace("\r\n", "\n")


@dataclass(frozen=True)
class Rejection:
    """A scripted refusal the receiver gave instead of accepting."""

    stage: Literal["rcpt", "data"]
    reply: str
    mail_from: str
    rcpt: str | None


class _SmtpHandler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.receiver._next_failure("rcpt", envelope, address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = self.receiver._next_failure("data", envelope, None)
        if reply is not None:
            return reply
        self.receiver._accept(envelope, session)
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) that records accepted mail and can refuse the next messages.

    With `credentials=(login, password)` it offers AUTH PLAIN/LOGIN without TLS and records who
    logged in; wrong credentials get `535`. AUTH is offered but not required.
    """

    def __init__(self, *, credentials: tuple[str, str] | None = None) -> None:
        self.credentials = credentials
        self.rejections: list[Rejection] = []
        self._messages: list[ReceivedMail] = []
        self._failures: deque[tuple[Literal["rcpt", "data"], str]] = deque()
        self._changed = threading.Condition()
        self._controller: Controller | None = None
        self._port = 0

    # lifecycle

    def start(self) -> Self:
        if self._controller is not None:
            raise RuntimeError("SmtpReceiver already started")
        extra: dict[str, Any] = {}
        if self.credentials is not None:
            extra = {"authenticator": self._authenticate, "auth_require_tls": False}
        for attempt in range(5):  # another process may take the free port before we bind it
            port = free_port()
            controller = Controller(
                _SmtpHandler(self), hostname=HOST, port=port, server_hostname="mx.missionctl.test", **extra
            )
            try:
                controller.start()
            except Exception:
                if attempt == 4:
                    raise
                continue
            self._controller, self._port = controller, port
            return self
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._controller is not None:
            self._controller.stop()
        self._controller = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        if self._controller is None:
            raise RuntimeError("SmtpReceiver not started")
        return self._port

    # scripting and inspection

    def fail_next(self, reply: str, count: int = 1, *, stage: Literal["rcpt", "data"] = "data") -> None:
        """Answer the next `count` messages with `reply` (e.g. "451 4.3.0 try later") at RCPT or DATA."""
        with self._changed:
            self._failures.extend([(stage, reply)] * count)

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._changed:
            return list(self._messages)

    def wait_for(self, count: int, timeout: float = DEFAULT_WAIT) -> list[ReceivedMail]:
        """Block until at least `count` messages were accepted; return them all (AssertionError on timeout)."""
        try:
            _wait(self._changed, lambda: len(self._messages) >= count, timeout, f"{count} message(s)")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; got {len(self.messages)}, refused {self.rejections!r}") from None
        return self.messages

    def _next_failure(self, stage: Literal["rcpt", "data"], envelope: Envelope, rcpt: str | None) -> str | None:
        with self._changed:
            if not self._failures or self._failures[0][0] != stage:
                return None
            _, reply = self._failures.popleft()
            self.rejections.append(Rejection(stage, reply, str(envelope.mail_from), rcpt))
            self._changed.notify_all()
            return reply

    def _accept(self, envelope: Envelope, session: Session) -> None:
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        mail = ReceivedMail(str(envelope.mail_from), tuple(envelope.rcpt_tos), parsed, raw, time.monotonic(), login)
        with self._changed:
            self._messages.append(mail)
            self._changed.notify_all()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert self.credentials is not None
        login, password = self.credentials
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == login.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=login.encode() if ok else None)
