"""One error hierarchy with stable machine codes, mapped to HTTP in `app.py` and to exit codes in the CLI.

MissionControlError            500 internal
├── NotAuthenticated           401 not_authenticated
├── PermissionDenied           403 permission_denied
├── NotFound                   404 <thing>_not_found
├── Conflict                   409 (invalid_transition, precondition_failed, already_exists, ...)
└── InvalidInput               422 invalid_input
"""

from __future__ import annotations

from typing import Any


class MissionControlError(Exception):
    """Base of every error Mission Control raises on purpose."""

    code: str = "internal"
    http_status: int = 500

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class NotAuthenticated(MissionControlError):
    code = "not_authenticated"
    http_status = 401


class PermissionDenied(MissionControlError):
    code = "permission_denied"
    http_status = 403


class NotFound(MissionControlError):
    code = "not_found"
    http_status = 404


class Conflict(MissionControlError):
    code = "conflict"
    http_status = 409


class InvalidInput(MissionControlError):
    code = "invalid_input"
    http_status = 422
