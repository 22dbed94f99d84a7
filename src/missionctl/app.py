"""The application factory: one FastAPI app over the shared context, with errors mapped in one place."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from missionctl import __version__
from missionctl.actions import api as actions_api
from missionctl.analyzer import api as analyzer_api
from missionctl.catalog import api as catalog_api
from missionctl.clock import Clock
from missionctl.context import AppContext, build_context
from missionctl.deployments import api as deployments_api
from missionctl.errors import MissionControlError
from missionctl.escalation import api as escalation_api
from missionctl.health import api as health_api
from missionctl.incidents import api as incidents_api
from missionctl.notifications import api as notifications_api
from missionctl.observability import Metrics, MetricsMiddleware
from missionctl.oncall import api as oncall_api
from missionctl.postmortems import api as postmortems_api
from missionctl.releases import api as releases_api
from missionctl.reports import api as reports_api
from missionctl.runbooks import api as runbooks_api
from missionctl.settings import Settings
from missionctl.signals import api as signals_api
from missionctl.signals import inbound
from missionctl.signals.ingest import Ingest
from missionctl.web import routes as web_routes

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def create_app(settings: Settings, *, clock: Clock | None = None, context: AppContext | None = None) -> FastAPI:
    """Build the app. Pass `context` to share one database and clock with other entry points (tests)."""
    ctx = context or build_context(settings, clock=clock)
    metrics = Metrics()
    ingest = Ingest.build(ctx, metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        ingest.keys.start_warming()  # a known key never waits for the database
        yield
        ingest.close()

    app = FastAPI(
        lifespan=lifespan,
        title="Mission Control",
        version=__version__,
        description="Incident response: runbooks as code, incidents with live recovery-SLO clocks.",
    )
    app.state.context = ctx
    app.state.ingest = ingest
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    _install_error_handlers(app)
    app.include_router(health_api.router)
    app.include_router(escalation_api.router)
    app.include_router(notifications_api.router, prefix="/api/v1")
    app.include_router(inbound.router)
    app.include_router(signals_api.dead_letters_router, prefix="/api/v1")
    for module in (runbooks_api, incidents_api, postmortems_api, catalog_api, oncall_api, signals_api):
        app.include_router(module.router, prefix="/api/v1")
    app.include_router(web_routes.router)  # the console and the public status page
    app.mount("/static", web_routes.static_files(), name="static")
    app.include_router(deployments_api.router, prefix="/api/v1")
    app.include_router(actions_api.router, prefix="/api/v1")
    app.include_router(releases_api.router, prefix="/api/v1")
    app.include_router(reports_api.router, prefix="/api/v1")
    app.include_router(analyzer_api.router, prefix="/api/v1")
    return app


def _error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": jsonable_encoder(details)}}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MissionControlError)
    async def _domain(_: Request, exc: MissionControlError) -> JSONResponse:
        return _error(exc.http_status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"], "type": err["type"]}
            for err in exc.errors()
        ]
        first = problems[0] if problems else {"field": "request", "message": "invalid"}
        return _error(422, "invalid_input", f"{first['field']}: {first['message']}", problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal", "internal error; the server log has the details")
