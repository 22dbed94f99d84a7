"""The connection to the analyzed database: read-only transactions, a statement timeout, no password in errors."""

from __future__ import annotations

import psycopg
from psycopg.rows import TupleRow

from missionctl.analyzer.config import AnalyzerConfig

CONNECT_TIMEOUT_SECONDS = 10
APPLICATION_NAME = "missionctl-analyzer"


class TargetUnavailable(Exception):
    """The analyzed database could not be reached or refused the analyzer's session."""


def connect(config: AnalyzerConfig) -> psycopg.Connection[TupleRow]:
    """A session on the analyzed database where every transaction is read-only and every statement is bounded.

    Autocommit, so one refused EXPLAIN does not abort the others: each statement (or batch of statements
    sent together) is its own transaction, read-only by `default_transaction_read_only`, and explicit
    blocks are `BEGIN READ ONLY` (`conn.read_only`). Hypothetical indexes (hypopg) and prepared statements
    live in the session, not in a transaction. Generic plans (see plans.py) come from the session's
    `plan_cache_mode`.
    """
    options = (
        f"-c default_transaction_read_only=on -c statement_timeout={config.statement_timeout_ms}"
        " -c plan_cache_mode=force_generic_plan"  # only prepared statements are planned differently
    )
    try:
        conn = psycopg.connect(
            config.dsn,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            options=options,
            application_name=APPLICATION_NAME,
        )
    except psycopg.Error as exc:
        # libpq's message names host and port, never the password; the DSN itself is not repeated.
        raise TargetUnavailable(f"cannot connect to {config.target}: {_first_line(exc)}") from None
    conn.read_only = True
    return conn


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
