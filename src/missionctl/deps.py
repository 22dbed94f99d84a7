"""FastAPI dependencies: the application context and the authenticated caller with the role it needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from missionctl.auth import service as auth
from missionctl.auth.roles import Role, allows
from missionctl.context import AppContext
from missionctl.errors import NotAuthenticated, PermissionDenied

_bearer = HTTPBearer(auto_error=False, description="An API token from `missionctl token create`")


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


Ctx = Annotated[AppContext, Depends(get_context)]


def current_principal(
    ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> auth.Principal:
    """The caller behind the `Authorization: Bearer` header; anonymous callers get 401."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise NotAuthenticated("this endpoint needs an API token: send `Authorization: Bearer <token>`")
    now = ctx.clock.now()
    with ctx.read() as session:
        principal, last_used_at = auth.authenticate(session, token=credentials.credentials)
    if principal.token_id is not None and auth.needs_touch(last_used_at, now):
        with ctx.write() as session:
            auth.touch(session, token_id=principal.token_id, now=now)
    return principal


def require(role: Role) -> Callable[[auth.Principal], auth.Principal]:
    """A dependency that lets through callers whose role is at least `role`."""

    def check(principal: Annotated[auth.Principal, Depends(current_principal)]) -> auth.Principal:
        if not allows(principal.role, role):
            raise PermissionDenied(
                f"this needs the {role} role; your token ({principal.name}) has {principal.role}",
                details={"needed": role, "held": principal.role},
            )
        return principal

    return check


Viewer = Annotated[auth.Principal, Depends(require(Role.VIEWER))]
Responder = Annotated[auth.Principal, Depends(require(Role.RESPONDER))]
Admin = Annotated[auth.Principal, Depends(require(Role.ADMIN))]
