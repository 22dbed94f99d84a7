"""Database engine, session factory and column types shared by every domain's models.

SQLite (the embedded default) is opened in WAL mode with foreign keys on, a busy timeout, and
`BEGIN IMMEDIATE` for every transaction so that two writers queue on the lock instead of failing
half-way with "database is locked". PostgreSQL is reached through psycopg 3.
"""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pydantic_core
from sqlalchemy import DateTime, Engine, Executable, MetaData, Table, create_engine, event, insert, select
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from missionctl.clock import ensure_utc

READ_ONLY_OPTION = "missionctl_read_only"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table; constraint names are stable for Alembic batch mode."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always handed back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        aware = ensure_utc(value)
        return aware.replace(tzinfo=None) if dialect.name == "sqlite" else aware

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else ensure_utc(value)


def json_text(value: Any) -> str:
    """JSON columns' encoder: pydantic-core's, about five times faster than `json.dumps` on an alert's labels
    (alert storms write three JSON columns per alert). Compact, UTF-8 rather than `\\u` escapes."""
    return pydantic_core.to_json(value).decode()


def make_engine(database_url: str, *, sqlite_busy_timeout_ms: int = 5000, echo: bool = False) -> Engine:
    """Create the engine for `database_url`, configured for safe concurrent use."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(database_url, busy_timeout_ms=sqlite_busy_timeout_ms, echo=echo)
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20, json_serializer=json_text)


def _sqlite_engine(database_url: str, *, busy_timeout_ms: int, echo: bool) -> Engine:
    url = make_url(database_url)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        json_serializer=json_text,
        pool_size=8,
        max_overflow=8,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see the "begin" hook).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        # FULL: every commit is synced to disk before it returns, so an alert answered 202 (or a page queued)
        # survives a power cut or a kernel crash too; NORMAL would only survive the process dying. Group commit
        # pays one sync per batch (measured with `--workers 2`: single-alert 0.55x -> 0.45x of Alertmanager).
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the lock up front: a deferred transaction that reads, then writes, can fail
        # with SQLITE_BUSY regardless of the busy timeout. Readers (see `read_only`) stay deferred so
        # they never queue behind writers; WAL gives them a consistent snapshot.
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (the API serialises them afterwards).

    A read-only factory is for use cases that only read: on SQLite they do not take the write lock.
    """
    bind = engine.execution_options(**{READ_ONLY_OPTION: True}) if read_only else engine
    factory = sessionmaker(bind=bind, expire_on_commit=False)
    event.listen(factory, "loaded_as_persistent", _keep_loaded)
    return factory


KEPT = "missionctl.kept"


def _keep_loaded(session: Session, instance: object) -> None:
    """Hold every loaded object for the session's life (one use case).

    The identity map holds objects weakly: a catalog row read in one step of a declaration and dropped was
    read again by the next step, a query each time. Sessions here live for one transaction, so keeping
    what they loaded is cheap and turns those repeats into identity-map hits.
    """
    session.info.setdefault(KEPT, []).append(instance)


def transaction_set(session: Session, key: str) -> set[Any]:
    """A set kept in `session.info` under `key` for the session's current transaction only (a session may
    outlive a transaction): what this transaction wrote and must not be taken as committed by a cache."""
    transaction = session.get_transaction()
    mine: tuple[object, set[Any]] | None = session.info.get(key)
    if mine is None or mine[0] is not transaction:
        mine = session.info[key] = (transaction, set())
    return mine[1]


@functools.cache
def inserting(model: type[Base]) -> Executable:
    """`INSERT ... RETURNING` every column of `model`'s table, loaded as `model` objects (persistent, in the
    session), built once per model: building it again on every call cost SQLAlchemy a new cache key for each
    execution. Execute with `session.scalars(inserting(M), rows)`; several rows go in one multi-row statement
    and come back in no promised order (asking for the parameters' order made SQLite insert row by row), so
    tell them apart by a column.

    For rows written on hot paths (a declaration from an alert): the unit of work inserts an added object at the
    next flush with much bookkeeping, and even an ORM bulk INSERT cost half as much again per row (620 against
    413 Python calls for five checklist steps).
    """
    table = cast(Table, model.__table__)
    return select(model).from_statement(insert(table).returning(*table.columns))
