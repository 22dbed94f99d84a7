"""Capture the plan of a statement on the analyzed database, without ever executing it.

Only statements that read are explained: a `SELECT`, or a `WITH` whose parts all select. `EXPLAIN` without
`ANALYZE` plans and does not execute, so explaining an `INSERT` would be harmless too; keeping to reads
means a slip in this module can never turn into a write, and the read-only role and read-only transactions
stand behind that. Statements with `$n` parameters (pg_stat_statements replaces constants with them) get
their generic plan, the one PostgreSQL 15 uses without knowing the values: `PREPARE` the text in a session
with `plan_cache_mode = force_generic_plan`, `EXPLAIN EXECUTE` it with NULLs (PostgreSQL 16 has
`EXPLAIN (GENERIC_PLAN)` for this), `DEALLOCATE`; the three go in one round trip.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import TupleRow

EXPLAIN = "EXPLAIN (FORMAT JSON, VERBOSE, COSTS) "
_COMMENTS = re.compile(r"/\*.*?\*/|--[^\n]*", re.DOTALL)
_PARAM = re.compile(r"\$\d+")
_WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE|TRUNCATE|INTO|COPY|CALL|DO|LOCK|NOTIFY)\b", re.IGNORECASE)
_LOCKING = re.compile(r"\bFOR\s+(UPDATE|SHARE|NO\s+KEY\s+UPDATE|KEY\s+SHARE)\b", re.IGNORECASE)
_names = itertools.count(1)


def is_read_only_query(query: str) -> bool:
    """A single `SELECT` or `WITH … SELECT`, with no data-modifying or locking clause anywhere in it.

    Conservative on purpose: a column named `update` makes a statement ineligible, never the reverse.
    """
    text = _COMMENTS.sub(" ", query).strip().rstrip(";").strip()
    if not text or ";" in text:
        return False
    first = text.lstrip("(").split(None, 1)[0].upper() if text.lstrip("(") else ""
    if first not in {"SELECT", "WITH"}:
        return False
    return not _WRITES.search(text) and not _LOCKING.search(text)


def has_parameters(query: str) -> bool:
    return bool(_PARAM.search(_COMMENTS.sub(" ", query)))


@dataclass(frozen=True)
class Captured:
    plan: list[Any] | None  # EXPLAIN (FORMAT JSON) output; None when the statement could not be planned
    generic: bool
    error: str | None = None


def explain_statements(query: str) -> tuple[list[str], str | None]:
    """The statements that explain `query` (generic for `$n` statements), and the prepared statement's name.

    The session runs with `plan_cache_mode = force_generic_plan` (see target.connect). A fresh name each
    time: a prepared statement caches its generic plan, and a hypothetical index (hypopg) created since
    would not invalidate it.
    """
    params = [int(m.group()[1:]) for m in _PARAM.finditer(_COMMENTS.sub(" ", query))]
    if not params:
        return [EXPLAIN + query], None
    name = f"missionctl_analyzer_{next(_names)}"
    nulls = ", ".join(["NULL"] * max(params))
    return [f"PREPARE {name} AS {query}", f"{EXPLAIN}EXECUTE {name}({nulls})", f"DEALLOCATE {name}"], name


def run_batch(conn: psycopg.Connection[TupleRow], statements: list[str]) -> list[list[tuple[Any, ...]]]:
    """Run `statements` in one round trip (one implicit read-only transaction); the rows of each."""
    cursor = conn.execute("; ".join(statements).encode())
    results: list[list[tuple[Any, ...]]] = []
    while True:
        results.append(list(cursor.fetchall()) if cursor.description else [])
        if not cursor.nextset():
            return results


def cleanup(conn: psycopg.Connection[TupleRow], statements: list[str]) -> None:
    """After a failed batch: statements that leave the session as it was (errors ignored)."""
    for statement in statements:
        with contextlib.suppress(psycopg.Error):
            conn.execute(statement.encode())


def capture(conn: psycopg.Connection[TupleRow], query: str) -> Captured:
    """The plan of `query` as PostgreSQL would run it now (generic for `$n` statements); errors are returned."""
    if not is_read_only_query(query):
        return Captured(None, False, "not a read-only SELECT; never explained")
    statements, name = explain_statements(query)
    try:
        results = run_batch(conn, statements)
    except psycopg.Error as exc:
        cleanup(conn, [f"DEALLOCATE {name}"] if name else [])
        return Captured(None, name is not None, message(exc))
    return Captured(plan_of(results[1 if name else 0]), name is not None)


def plan_of(rows: list[tuple[Any, ...]]) -> list[Any]:
    if not rows or not isinstance(rows[0][0], list):
        raise ValueError("EXPLAIN returned no JSON plan")
    return list(rows[0][0])


def relation_rows(conn: psycopg.Connection[TupleRow], relations: Iterable[str]) -> dict[str, float]:
    """Estimated rows (`pg_class.reltuples`) of `schema.table` names; relations never analyzed are left out."""
    names = sorted(set(relations))
    if not names:
        return {}
    rows = conn.execute(
        "SELECT n.nspname || '.' || c.relname, c.reltuples FROM pg_class AS c"
        " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE n.nspname || '.' || c.relname = ANY(%s) AND c.reltuples >= 0",
        (names,),
    ).fetchall()
    return {str(r[0]): float(r[1]) for r in rows}


def message(exc: psycopg.Error) -> str:
    diag = exc.diag.message_primary if exc.diag is not None else None
    return diag or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
