"""`/api/v1/runbooks`: the runbooks in force, as their files define them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from missionctl.deps import Ctx, Viewer
from missionctl.runbooks.loader import LoadedRunbook

router = APIRouter(prefix="/runbooks", tags=["runbooks"])


def _read(entry: LoadedRunbook) -> dict[str, Any]:
    return entry.runbook.model_dump(mode="json") | {
        "source": entry.source,
        "content_hash": entry.content_hash,
    }


@router.get("")
def list_runbooks(ctx: Ctx, _: Viewer) -> list[dict[str, Any]]:
    return [_read(entry) for entry in ctx.runbooks.all()]


@router.get("/{runbook_id}")
def get_runbook(runbook_id: str, ctx: Ctx, _: Viewer) -> dict[str, Any]:
    return _read(ctx.runbooks.get(runbook_id))
