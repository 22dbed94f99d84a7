"""The HTTP prober: one GET with a deadline, its result classified as `rules.classify_http` expects.

Errors that are the target's fault (refused, reset, timeout, TLS, NXDOMAIN) are reported as such and count as
failures; errors that are ours (a URL we cannot use, our resolver being down, our process paused past the
deadline) are reported so that the probe counts as "unknown".
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator

import httpx

from missionctl import __version__
from missionctl.detectors.evaluation import ProbeResult
from missionctl.detectors.rules import ProbeError

# A request that took this many times its timeout (plus a second) did not time out: we were not running.
PAUSE_FACTOR = 2.0


class Prober:
    """Sends probes; redirects are not followed (a 3xx answer is in the default success range, as in Kubernetes)."""

    def __init__(self, *, transport: httpx.BaseTransport | None = None) -> None:
        self._client = httpx.Client(
            follow_redirects=False, transport=transport, headers={"User-Agent": f"missionctl-probe/{__version__}"}
        )

    def close(self) -> None:
        self._client.close()

    def probe(self, url: str, *, timeout: float) -> ProbeResult:
        started = time.monotonic()
        try:
            response = self._client.get(url, timeout=timeout)
        except httpx.TimeoutException as exc:
            if time.monotonic() - started > PAUSE_FACTOR * timeout + 1:
                return ProbeResult(None, ProbeError.PROCESS_PAUSED, "the prober was paused past the deadline")
            if isinstance(exc, httpx.PoolTimeout):
                return ProbeResult(None, ProbeError.INTERNAL, "no free connection in the prober's pool")
            return ProbeResult(None, ProbeError.TIMEOUT, f"no answer within {timeout:g} s")
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            return ProbeResult(None, ProbeError.INVALID_URL, str(exc))
        except httpx.HTTPError as exc:
            return ProbeResult(None, classify_error(exc), str(exc) or type(exc).__name__)
        return ProbeResult(response.status_code)


def classify_error(exc: BaseException) -> str:
    """The `ProbeError` code for a transport error, from the low-level cause it carries."""
    for cause in _chain(exc):
        if isinstance(cause, socket.gaierror):
            return ProbeError.RESOLVER_UNAVAILABLE if cause.errno == socket.EAI_AGAIN else ProbeError.NAME_NOT_FOUND
        if isinstance(cause, ConnectionRefusedError):
            return ProbeError.CONNECTION_REFUSED
        if isinstance(cause, ConnectionResetError):
            return ProbeError.CONNECTION_RESET
        if isinstance(cause, ssl.SSLError):
            return ProbeError.TLS
    if isinstance(exc, httpx.ProtocolError):
        return ProbeError.PROTOCOL
    text = str(exc).lower()
    if "name or service not known" in text or "nodename nor servname" in text:
        return ProbeError.NAME_NOT_FOUND
    if "temporary failure in name resolution" in text:
        return ProbeError.RESOLVER_UNAVAILABLE
    if "connection refused" in text:
        return ProbeError.CONNECTION_REFUSED
    if "certificate" in text or "ssl" in text:
        return ProbeError.TLS
    return type(exc).__name__  # unrecognised: a failure, so that a new kind of outage pages


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
