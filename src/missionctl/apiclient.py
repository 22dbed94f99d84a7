"""A small typed client of the Mission Control REST API, configured from the environment at call time."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from missionctl import __version__
from missionctl.errors import MissionControlError

URL_ENV = "MISSIONCTL_URL"
TOKEN_ENV = "MISSIONCTL_TOKEN"  # noqa: S105 (the variable's name, not a secret)
DEFAULT_URL = "http://127.0.0.1:8080"
API_PREFIX = "/api/v1"
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)

JsonObject = dict[str, Any]


class ApiError(MissionControlError):
    """An error response from the server, with its HTTP status, stable code, message and details."""

    def __init__(self, message: str, *, http_status: int, code: str, details: Any = None) -> None:
        super().__init__(message, code=code, details=details)
        self.http_status = http_status


class ServerUnreachable(MissionControlError):
    """The server could not be reached (refused, timed out, connection dropped)."""

    code = "server_unreachable"


class ClientConfigError(MissionControlError):
    """The client is set up wrongly (for example a URL that is not http(s)); a usage error."""

    code = "client_config"


@dataclass(frozen=True, repr=False)
class Target:
    """Where the API is and the token to call it with; the token never appears in reprs."""

    url: str
    token: str | None = None

    def __repr__(self) -> str:
        return f"Target(url={self.shown_url!r})"

    @property
    def shown_url(self) -> str:
        """The URL for messages, without any user:password part."""
        return str(httpx.URL(self.url).copy_with(username=None, password=None))


def resolve_target(url: str | None = None, token: str | None = None) -> Target:
    """Explicit values win over `MISSIONCTL_URL` / `MISSIONCTL_TOKEN`, read now (not at import)."""
    chosen_url = (url or os.environ.get(URL_ENV) or DEFAULT_URL).strip().rstrip("/")
    chosen_token = (token if token is not None else os.environ.get(TOKEN_ENV, "")).strip()
    _check_url(chosen_url)
    return Target(url=chosen_url, token=chosen_token or None)


def _check_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ClientConfigError(f"{URL_ENV} / --url must be an http(s) URL such as {DEFAULT_URL}, got {url!r}")


class ApiClient:
    """One HTTP connection pool to the API; use as a context manager."""

    def __init__(
        self,
        target: Target,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.target = target
        headers = {"User-Agent": f"missionctl/{__version__}", "Accept": "application/json"}
        if target.token:
            headers["Authorization"] = f"Bearer {target.token}"
        self._http = httpx.Client(base_url=target.url, headers=headers, timeout=timeout, transport=transport)

    @classmethod
    def from_env(cls, *, url: str | None = None, token: str | None = None) -> ApiClient:
        return cls(resolve_target(url, token))

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ApiClient(url={self.target.shown_url!r})"

    def close(self) -> None:
        self._http.close()

    # Low level -------------------------------------------------------------------------------------

    def send(self, method: str, path: str, *, body: JsonObject | None = None, params: Any = None) -> httpx.Response:
        """Send one request; error responses raise `ApiError`, transport failures `ServerUnreachable`."""
        try:
            response = self._http.request(method, API_PREFIX + path, json=body, params=params)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            where = self.target.shown_url
            raise ServerUnreachable(
                f"cannot reach Mission Control at {where}: is `missionctl serve` running? ({exc})"
            ) from None
        except httpx.TransportError as exc:
            raise ServerUnreachable(
                f"no answer from Mission Control at {self.target.shown_url} ({type(exc).__name__}); "
                "the change may or may not have been made: check with `missionctl incident show`"
            ) from None
        if response.is_error or response.is_redirect:
            raise self._error(response)
        return response

    def call(self, method: str, path: str, *, body: JsonObject | None = None, params: Any = None) -> Any:
        """Send a request and return the decoded JSON body."""
        response = self.send(method, path, body=body, params=params)
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                f"unexpected response from {self.target.shown_url}: not JSON (is this Mission Control?)",
                http_status=response.status_code,
                code="bad_response",
            ) from None

    def _error(self, response: httpx.Response) -> ApiError:
        status = response.status_code
        try:
            payload = response.json()
        except ValueError:
            payload = None
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            message: str = error["message"]
            if status == 401 and not self.target.token:
                message += f" (set {TOKEN_ENV} or pass --token)"
            return ApiError(
                message,
                http_status=status,
                code=str(error.get("code") or "http_error"),
                details=error.get("details"),
            )
        reason = response.reason_phrase or "error"
        return ApiError(
            f"HTTP {status} {reason} from {self.target.shown_url} (is this Mission Control?)",
            http_status=status,
            code="http_error",
        )

    # Incidents -------------------------------------------------------------------------------------

    def declare(
        self, *, runbook: str, service: str, title: str, severity: str | None, commander: str | None
    ) -> JsonObject:
        body = {"runbook": runbook, "service": service, "title": title}
        optional = {"severity": severity, "commander": commander}
        return _obj(self.call("POST", "/incidents", body=body | {k: v for k, v in optional.items() if v}))

    def list_incidents(
        self,
        *,
        statuses: list[str] | None = None,
        open_only: bool = False,
        service: str | None = None,
        severity: str | None = None,
        runbook: str | None = None,
        limit: int | None = None,
    ) -> list[JsonObject]:
        params: list[tuple[str, str | int]] = [("status", s) for s in statuses or []]
        if open_only:
            params.append(("open", "true"))
        for name, value in (("service", service), ("severity", severity), ("runbook", runbook)):
            if value:
                params.append((name, value))
        if limit is not None:
            params.append(("limit", limit))
        rows = self.call("GET", "/incidents", params=params)
        if not isinstance(rows, list):
            raise ApiError("unexpected response: expected a JSON array", http_status=200, code="bad_response")
        return [_obj(row) for row in rows]

    def get_incident(self, incident_id: int) -> JsonObject:
        return _obj(self.call("GET", f"/incidents/{incident_id}"))

    def acknowledge(self, incident_id: int) -> JsonObject:
        return _obj(self.call("POST", f"/incidents/{incident_id}/acknowledge"))

    def set_step(self, incident_id: int, position: int, status: str, note: str | None = None) -> JsonObject:
        body = _drop_none({"status": status, "note": note})
        return _obj(self.call("POST", f"/incidents/{incident_id}/steps/{position}", body=body))

    def transition(self, incident_id: int, to: str, note: str | None = None) -> JsonObject:
        body = _drop_none({"to": to, "note": note})
        return _obj(self.call("POST", f"/incidents/{incident_id}/transitions", body=body))

    def post_update(self, incident_id: int, message: str) -> JsonObject:
        return _obj(self.call("POST", f"/incidents/{incident_id}/updates", body={"message": message}))

    def assign_role(self, incident_id: int, role: str, assignee: str) -> JsonObject:
        return _obj(self.call("PUT", f"/incidents/{incident_id}/roles/{role}", body={"assignee": assignee}))

    def add_action_item(self, incident_id: int, *, title: str, assignee: str, due_at: datetime) -> JsonObject:
        body = {"title": title, "assignee": assignee, "due_at": due_at.isoformat()}
        return _obj(self.call("POST", f"/incidents/{incident_id}/action-items", body=body))

    def set_action_item_status(self, incident_id: int, item_id: int, status: str) -> JsonObject:
        path = f"/incidents/{incident_id}/action-items/{item_id}"
        return _obj(self.call("PATCH", path, body={"status": status}))

    def resolve(self, incident_id: int, *, evidence: str, confirmed_by: str | None = None) -> JsonObject:
        body = _drop_none({"evidence": evidence, "confirmed_by": confirmed_by})
        return _obj(self.call("POST", f"/incidents/{incident_id}/resolve", body=body))

    def post_message(self, incident_id: int, body: str) -> JsonObject:
        return _obj(self.call("POST", f"/incidents/{incident_id}/messages", body={"body": body}))

    # Postmortems -----------------------------------------------------------------------------------

    def get_postmortem(self, incident_id: int) -> JsonObject:
        return _obj(self.call("GET", f"/incidents/{incident_id}/postmortem"))

    def complete_postmortem(self, incident_id: int) -> JsonObject:
        return _obj(self.call("POST", f"/incidents/{incident_id}/postmortem/complete"))


def _drop_none(body: JsonObject) -> JsonObject:
    return {key: value for key, value in body.items() if value is not None}


def _obj(value: Any) -> JsonObject:
    if not isinstance(value, dict):
        raise ApiError("unexpected response: expected a JSON object", http_status=200, code="bad_response")
    return value
