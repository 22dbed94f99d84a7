"""An analyzed database for the analyzer tests and bench: PostgreSQL with pg_stat_statements and hypopg,
a small shop schema, a read-only role, and a workload of statements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.rows import TupleRow

from tests.support.postgres import HOST, PostgresServer

HYPOPG_CONTROL = "share/postgresql/{major}/extension/hypopg.control"
HYPOPG_HINT = "scripts/install-test-deps.sh (apt-get install postgresql-15-hypopg)"
ANALYZER_ROLE = "mc_analyzer"
ANALYZER_PASSWORD = "analyzer-secret"  # a throw-away local server
SETTINGS = {"shared_preload_libraries": "pg_stat_statements", "pg_stat_statements.track": "top"}

# The statements the workload runs (psycopg binds values server-side, so pg_stat_statements sees $n).
BY_CUSTOMER = "SELECT id, status, amount FROM orders WHERE customer_id = %s"
JOINED = (
    "SELECT o.id, c.name FROM orders AS o JOIN customers AS c ON c.id = o.customer_id"
    " WHERE o.customer_id = %s AND o.status = %s"
)
CUSTOMER = "SELECT name FROM customers WHERE id = %s"
RECENT = "SELECT count(*) FROM orders WHERE created_at >= now() - interval '1 day'"


def hypopg_installed(pg_bin: Path) -> bool:
    """Whether the hypopg extension is installed for the PostgreSQL of `pg_bin` (Debian layout)."""
    major = pg_bin.parent.name
    return (Path("/usr") / HYPOPG_CONTROL.format(major=major)).exists()


@dataclass(frozen=True)
class Target:
    server: PostgresServer
    dbname: str

    @property
    def readonly_url(self) -> str:
        """The analyzer's DSN (SQLAlchemy form, as people configure it), with the read-only role's password."""
        return f"postgresql+psycopg://{ANALYZER_ROLE}:{ANALYZER_PASSWORD}@{HOST}:{self.server.port}/{self.dbname}"

    @property
    def ddl_url(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.server.port}/{self.dbname}"

    @contextmanager
    def admin(self) -> Iterator[psycopg.Connection[TupleRow]]:
        with self.server.connect(self.dbname) as conn:
            yield conn


def create_target(server: PostgresServer, dbname: str, *, orders: int = 200_000, customers: int = 20_000) -> Target:
    """A database with pg_stat_statements, hypopg, customers and orders (indexed by customer), and the role."""
    server.create_database(dbname)
    target = Target(server, dbname)
    with target.admin() as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        conn.execute("CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL)")
        conn.execute(
            "CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id integer NOT NULL,"
            " status text NOT NULL, created_at timestamptz NOT NULL, amount numeric(10, 2) NOT NULL)"
        )
        conn.execute("INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, %s) AS g", (customers,))
        conn.execute(
            "INSERT INTO orders (customer_id, status, created_at, amount)"
            " SELECT (g * 7919) %% %s + 1, (ARRAY['new', 'paid', 'shipped'])[g %% 3 + 1],"
            " now() - g * interval '1 minute', (g %% 1000) / 10.0 FROM generate_series(1, %s) AS g",
            (customers, orders),
        )
        conn.execute("CREATE INDEX orders_customer_id_idx ON orders (customer_id)")
        conn.execute("CREATE INDEX orders_created_at_idx ON orders (created_at)")
        conn.execute("ANALYZE customers, orders")
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ANALYZER_ROLE,)).fetchone()
        if exists is None:
            conn.execute(f"CREATE ROLE {ANALYZER_ROLE} LOGIN PASSWORD '{ANALYZER_PASSWORD}'")
            conn.execute(f"GRANT pg_read_all_stats, pg_read_all_data TO {ANALYZER_ROLE}")
    return target


def workload(target: Target, *, rounds: int = 20) -> None:
    """Run the shop's statements `rounds` times each."""
    with target.admin() as conn:
        for i in range(rounds):
            conn.execute(BY_CUSTOMER, (i * 37 % 20_000 + 1,))
            conn.execute(JOINED, (i * 41 % 20_000 + 1, "paid"))
            conn.execute(CUSTOMER, (i + 1,))
            conn.execute(RECENT)
