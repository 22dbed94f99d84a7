"""The baseline for API figures: a bare FastAPI app doing one-row writes and reads on the same database.

It has no authentication, no validation beyond FastAPI's, no timeline and no read model: whatever
Mission Control costs beyond this is the price of what it does.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from fastapi import FastAPI
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, insert, select

from missionctl.db import make_engine

metadata = MetaData()
rows = Table(
    "bench_rows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", String(300)),
    Column("service", String(200)),
    Column("created_at", DateTime(timezone=True)),
)


def create() -> FastAPI:
    """uvicorn --factory entry point; the database URL comes from BENCH_DATABASE_URL."""
    engine = make_engine(os.environ["BENCH_DATABASE_URL"])
    metadata.create_all(engine)
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/rows", status_code=201)
    def create_row(body: dict[str, str]) -> dict[str, object]:
        with engine.begin() as conn:
            new_id = conn.execute(
                insert(rows).values(title=body["title"], service=body["service"], created_at=datetime.now(UTC))
            ).inserted_primary_key[0]
        return {"id": new_id}

    @app.get("/rows/{row_id}")
    def read_row(row_id: int) -> dict[str, object]:
        with engine.begin() as conn:
            row = conn.execute(select(rows).where(rows.c.id == row_id)).one()
        return dict(row._mapping)

    @app.get("/rows")
    def list_rows(before_id: int | None = None, limit: int = 50) -> list[dict[str, object]]:
        query = select(rows).order_by(rows.c.id.desc()).limit(limit)
        if before_id:
            query = query.where(rows.c.id < before_id)
        with engine.begin() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    return app
