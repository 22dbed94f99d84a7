"""Analyzer fixtures: a private PostgreSQL with pg_stat_statements and hypopg, shop databases to analyze."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from missionctl.clock import FrozenClock
from missionctl.context import AppContext, build_context
from missionctl.settings import Settings
from tests.analyzer.target import HYPOPG_HINT, SETTINGS, Target, create_target, hypopg_installed
from tests.support.postgres import PostgresServer
from tests.support.requirements import require, require_pg_bin


@pytest.fixture(scope="session")
def analyzed_server() -> Iterator[PostgresServer]:
    """A server of its own: pg_stat_statements must be preloaded, which the suite's shared server is not."""
    pg_bin = require_pg_bin()
    require(hypopg_installed(pg_bin), "the hypopg PostgreSQL extension", HYPOPG_HINT)
    with PostgresServer(pg_bin, settings=SETTINGS) as server:
        yield server


@pytest.fixture
def shop(analyzed_server: PostgresServer) -> Iterator[Target]:
    """A fresh shop database (200,000 orders indexed by customer) for one test."""
    name = f"shop_{uuid.uuid4().hex[:10]}"
    yield create_target(analyzed_server, name)
    analyzed_server.drop_database(name)


@pytest.fixture(scope="module")
def shared_shop(analyzed_server: PostgresServer) -> Iterator[Target]:
    """One shop database for a module's tests that leave its schema alone."""
    name = f"shop_{uuid.uuid4().hex[:10]}"
    yield create_target(analyzed_server, name, orders=20_000, customers=2_000)
    analyzed_server.drop_database(name)


def analyzer_settings(settings: Settings, target: Target, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "analyzer_database_url": target.readonly_url,
        "analyzer_ddl_database_url": target.ddl_url,
        "analyzer_service": "shop-db",
        **overrides,
    }
    return settings.model_copy(update={k: _secret(k, v) for k, v in values.items()})


def _secret(key: str, value: object) -> object:
    return SecretStr(value) if key.endswith("_url") and isinstance(value, str) else value


@pytest.fixture
def analyzer_ctx(settings: Settings, clock: FrozenClock, shop: Target) -> Iterator[AppContext]:
    """Mission Control (on each backend) with the analyzer pointed at `shop` through its read-only role."""
    context = build_context(analyzer_settings(settings, shop), clock=clock)
    yield context
    context.dispose()
