"""Alembic environment: runs on the connection `missionctl.migrate` hands in (batch mode on SQLite)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from missionctl.models import metadata

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `missionctl db upgrade`, which provides the connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
