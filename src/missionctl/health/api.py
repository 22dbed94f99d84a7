"""`/healthz` (process alive), `/readyz` (database reachable and migrated), `/metrics` (Prometheus)."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from sqlalchemy import text

from missionctl import migrate
from missionctl.deps import Ctx, Viewer
from missionctl.processes import MULTIPROC_ENV

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(ctx: Ctx) -> JSONResponse:
    try:
        with ctx.read() as session:
            session.execute(text("SELECT 1"))
        current = migrate.is_current(ctx.engine)
    except Exception as exc:  # readiness reports, it does not raise
        return JSONResponse({"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"}, 503)
    if not current:
        return JSONResponse({"status": "unavailable", "database": "schema not at head: run missionctl db upgrade"}, 503)
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics")
def metrics(request: Request, _: Viewer) -> Response:
    """Prometheus exposition; scrape it with a viewer token (`authorization` in the scrape config)."""
    registry = request.app.state.metrics.registry
    if os.environ.get(MULTIPROC_ENV):  # `serve --workers N`: every worker's counts, whichever worker answers
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
