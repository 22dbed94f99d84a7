"""Regenerate tests/fixtures/analyzer/*.json: real EXPLAIN (FORMAT JSON, VERBOSE) output of PostgreSQL 15.

    python -m tests.analyzer.capture_plans

Generic plans of the shop's statements with and without `orders_customer_id_idx`, captured the way the
analyzer captures them (plans.capture), through the read-only role.
"""

from __future__ import annotations

import json
from pathlib import Path

from missionctl.analyzer import plans, target
from missionctl.analyzer.config import AnalyzerConfig
from tests.analyzer.target import SETTINGS, create_target
from tests.support.postgres import PostgresServer

FIXTURES = Path(__file__).parent.parent / "fixtures" / "analyzer"
STATEMENTS = {
    "by_customer": "SELECT id, status, amount FROM orders WHERE customer_id = $1",
    "joined": (
        "SELECT o.id, c.name FROM orders AS o JOIN customers AS c ON c.id = o.customer_id"
        " WHERE o.customer_id = $1 AND o.status = $2"
    ),
    "hash_join": (
        "SELECT c.name, sum(o.amount) FROM customers AS c JOIN orders AS o ON o.customer_id = c.id"
        " WHERE c.name = $1 AND o.created_at >= $2 GROUP BY c.name"
    ),
    "function_filter": "SELECT id FROM customers WHERE lower(name) = $1",
    "literal": "SELECT count(*) FROM orders WHERE status = 'paid'",
}


def main() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    with PostgresServer(settings=SETTINGS) as server:
        shop = create_target(server, "shop")
        config = AnalyzerConfig(dsn=shop.readonly_url.replace("+psycopg", ""), target="shop", service="shop")
        for suffix in ("indexed", "seqscan"):
            if suffix == "seqscan":
                with shop.admin() as conn:
                    conn.execute("DROP INDEX orders_customer_id_idx")
            with target.connect(config) as conn:
                for name, query in STATEMENTS.items():
                    captured = plans.capture(conn, query)
                    assert captured.plan is not None, (name, captured.error)
                    path = FIXTURES / f"{name}_{suffix}.json"
                    path.write_text(json.dumps(captured.plan, indent=2) + "\n")
                    print(path)


if __name__ == "__main__":
    main()
