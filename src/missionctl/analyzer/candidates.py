"""Index candidates from a plan's sequential scans, and the exact CREATE INDEX statement for one (pure).

A sequential scan with a filter, or one feeding a join, may want a btree index on the columns it compares:
equality columns first (in the order the filter names them), then one range column. Candidates are only
guesses; `recommend.py` keeps those that hypopg shows to at least halve the estimated cost.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from missionctl.analyzer.diff import JOIN_NODES, SEQ_SCAN, relation_of, root, walk

MAX_INDEX_COLUMNS = 3
MAX_CANDIDATES_PER_RELATION = 8
IDENTIFIER_MAX_BYTES = 63

_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_COLUMN = re.compile(rf"(?<![\w.$\"])(?P<alias>{_NAME})\.(?P<column>{_NAME})")
_OP_AFTER = re.compile(r'^\)*(?:::[\w\s"\[\]]+?\)*)?\s*(?P<op>=|<=|>=|<>|!=|<|>|IS\b)', re.IGNORECASE)
_OP_BEFORE = re.compile(r"(?P<op>=|<=|>=|<>|!=|<|>)\s*\(*$")
_EQUALITY = {"=", "IS"}
_RANGE = {"<", ">", "<=", ">="}


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def quote_ident(name: str) -> str:
    """Always double-quoted, so the statement means exactly these names whatever their case or spelling."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Candidate:
    schema: str
    table: str
    columns: tuple[str, ...]

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def name(self) -> str:
        return index_name(self.table, self.columns)

    def hypothetical_sql(self) -> str:
        """What hypopg_create_index() takes: a plain CREATE INDEX."""
        cols = ", ".join(quote_ident(c) for c in self.columns)
        return f"CREATE INDEX ON {quote_ident(self.schema)}.{quote_ident(self.table)} USING btree ({cols})"

    def statement(self) -> str:
        return create_index_statement(self.schema, self.table, self.columns, self.name)


def index_name(table: str, columns: tuple[str, ...] | list[str]) -> str:
    """`<table>_<col>_<col>_idx`, cut to PostgreSQL's 63-byte identifier limit."""
    name = "_".join([table, *columns, "idx"])
    return name.encode()[:IDENTIFIER_MAX_BYTES].decode(errors="ignore")


def create_index_statement(schema: str, table: str, columns: tuple[str, ...] | list[str], name: str) -> str:
    """The one statement `pg.create_index` shows in a dry run and executes when approved."""
    cols = ", ".join(quote_ident(c) for c in columns)
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {quote_ident(name)} "
        f"ON {quote_ident(schema)}.{quote_ident(table)} USING btree ({cols})"
    )


@dataclass
class _Columns:
    equality: list[str]
    ranges: list[str]
    joins: list[str]


def _inside_function(text: str, start: int) -> bool:
    i = start
    while i > 0 and text[i - 1] == "(":
        i -= 1
    return i < start and i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")


def conditions(expression: str) -> list[tuple[str, str, str]]:
    """`(alias, column, "eq"|"range")` for each plain column compared in a plan expression."""
    found: list[tuple[str, str, str]] = []
    for match in _COLUMN.finditer(expression):
        if _inside_function(expression, match.start()):
            continue
        after = _OP_AFTER.match(expression[match.end() :])
        before = _OP_BEFORE.search(expression[: match.start()])
        op = (after.group("op") if after else before.group("op") if before else "").upper()
        kind = "eq" if op in _EQUALITY else "range" if op in _RANGE else None
        if kind is not None:
            found.append((_unquote(match.group("alias")), _unquote(match.group("column")), kind))
    return found


def _add(items: list[str], value: str) -> None:
    if value not in items:
        items.append(value)


def _seq_scans(top: Mapping[str, Any]) -> tuple[dict[str, tuple[str, str]], dict[str, _Columns]]:
    """Aliases of sequentially scanned relations (alias → (schema, table)) and their filter columns."""
    aliases: dict[str, tuple[str, str] | None] = {}
    columns: dict[str, _Columns] = {}
    for node in walk(top):
        relation = relation_of(node)
        if node.get("Node Type") != SEQ_SCAN or relation is None or "." not in relation:
            continue
        alias = str(node.get("Alias") or node["Relation Name"])
        schema, table = relation.split(".", 1)
        aliases[alias] = (schema, table) if aliases.get(alias, (schema, table)) == (schema, table) else None
        cols = columns.setdefault(alias, _Columns([], [], []))
        for cond_alias, column, kind in conditions(str(node.get("Filter", ""))):
            if cond_alias == alias:
                _add(cols.equality if kind == "eq" else cols.ranges, column)
    return {a: r for a, r in aliases.items() if r is not None}, columns


def candidates(plan: Any) -> list[Candidate]:
    """Index candidates for the sequential scans of `plan`, most specific first per relation."""
    top = root(plan)
    aliases, columns = _seq_scans(top)
    for node in walk(top):
        if node.get("Node Type") not in JOIN_NODES:
            continue
        text = " ".join(str(node.get(k, "")) for k in ("Hash Cond", "Merge Cond", "Join Filter"))
        for alias, column, kind in conditions(text):
            if alias in columns and kind == "eq":
                _add(columns[alias].joins, column)
    found: list[Candidate] = []
    for alias, (schema, table) in sorted(aliases.items()):
        found += [Candidate(schema, table, cols) for cols in _combinations(columns[alias])]
    return found


def _combinations(cols: _Columns) -> list[tuple[str, ...]]:
    eq = cols.equality[:MAX_INDEX_COLUMNS]
    options: list[tuple[str, ...]] = []
    if len(eq) > 1:
        options.append(tuple(eq))
    if eq and cols.ranges and len(eq) < MAX_INDEX_COLUMNS:
        options.append((*eq, cols.ranges[0]))
    options += [(c,) for c in eq]
    options += [(c,) for c in cols.ranges]
    options += [(c,) for c in cols.joins]
    unique: list[tuple[str, ...]] = []
    for option in options:
        if option not in unique:
            unique.append(option)
    return unique[:MAX_CANDIDATES_PER_RELATION]
