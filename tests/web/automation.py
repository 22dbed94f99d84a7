"""Shared set-up for the console's automation tests (route tests and the browser test): an actions file with
`deploy.rollback` under approval, a releases file whose rollback is a tiny script writing a marker file, a
ledger with a healthy and a failed release, and an analyzer report as the analyzer stores it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

ROLLBACK_SCRIPT = """\
import sys
marker, version = sys.argv[1], sys.argv[2]
with open(marker, "w") as f:
    f.write(version)
print("rolled back to", version)
"""
V1 = "sha256:" + "11" * 32
V2 = "sha256:" + "22" * 32

CATALOG = """
teams:
  - {id: shop, name: Shop}
services:
  - {id: checkout, name: Checkout, team: shop}
  - {id: database, name: Database, team: shop}
"""


@dataclass(frozen=True)
class Files:
    actions: Path
    releases: Path
    marker: Path


def write_files(directory: Path) -> Files:
    """The actions file (rollback under approval, the interpreter allowed) and the releases file."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "rollback.py"
    script.write_text(ROLLBACK_SCRIPT)
    marker = directory / "rolled-back.txt"
    actions = directory / "actions.yaml"
    actions.write_text(
        yaml.safe_dump(
            {"commands": [sys.executable], "actions": [{"name": "deploy.rollback", "mode": "approval"}]},
        )
    )
    releases = directory / "releases.yaml"
    argv = [sys.executable, str(script), str(marker), "${last_healthy.version}"]
    rollback = {"kind": "command", "argv": argv, "timeout_seconds": 30}
    releases.write_text(yaml.safe_dump({"services": {"checkout": {"settle_seconds": 60, "rollback": rollback}}}))
    return Files(actions, releases, marker)


def seed_ledger(session: Session, *, now: datetime) -> None:
    """checkout 1.0.0 went out two hours ago and settled healthy; 2.0.0 went out ten minutes ago and failed."""
    from missionctl.deployments import service as deployments
    from missionctl.releases import service as releases
    from missionctl.releases.rules import Verdict

    for version, artifact, ago, verdict in (
        ("1.0.0", V1, timedelta(hours=2), Verdict.HEALTHY),
        ("2.0.0", V2, timedelta(minutes=10), Verdict.FAILED),
    ):
        row = deployments.record(
            session,
            service_id="checkout",
            version=version,
            artifact_digest=artifact,
            environment="production",
            deployed_by="github-actions",
            deployed_at=now - ago,
            url=None,
            now=now,
        )
        releases.start_verdict(session, deployment=row, settle_seconds=60)
        reason = "readiness passed for the settle period" if verdict is Verdict.HEALTHY else "readiness probe fired"
        releases.mark(session, deployment_id=row.id, verdict=verdict, reason=reason, now=now)


def report_findings() -> dict[str, Any]:
    """Findings shaped as `analyzer.service` stores them: one regression, one validated recommendation."""
    query = "SELECT * FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT $2"
    diff = {
        "cost_before": 8.45,
        "cost_after": 1893.0,
        "cost_ratio": 224.024,
        "shape_changed": True,
        "scan_changes": [
            {"relation": "public.orders", "before": ["Index Scan"], "after": ["Seq Scan"], "lost_index": True}
        ],
        "indexes_lost": ["orders_customer_id_idx"],
        "indexes_gained": [],
        "joins_lost": [],
        "joins_gained": [],
        "node_types_changed": {"Index Scan": [1, 0], "Seq Scan": [0, 1]},
    }
    statement = (
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "orders_customer_id_idx" ON "public"."orders" USING btree '
        '("customer_id")'
    )
    return {
        "target": "db.internal/app",
        "service": "database",
        "window": {"since": None, "until": None, "stats_reset_at": None, "counted_from_reset": True},
        "settings": {"top_n": 10, "min_calls": 5},
        "statements_seen": 42,
        "top": [
            {
                "queryid": "-4711",
                "query": query,
                "calls": 1200,
                "total_ms": 93000.0,
                "mean_ms": 77.5,
                "fresh": False,
                "plan": {"status": "captured", "generic": True, "error": None, "summary": None},
                "baseline": None,
                "baseline_status": "regressed",
                "diff": diff,
                "regressed": True,
                "reasons": ["cost 224.0 times the baseline (8.45 → 1893.0)", "public.orders: Index Scan → Seq Scan"],
                "recommendations": ["orders_customer_id_idx"],
                "index_trials": [],
            },
            {
                "queryid": "88",
                "query": "SELECT id FROM carts WHERE id = $1",
                "calls": 5000,
                "total_ms": 900.0,
                "mean_ms": 0.18,
                "fresh": False,
                "plan": {"status": "captured", "generic": True, "error": None, "summary": None},
                "baseline": None,
                "baseline_status": "kept",
                "diff": None,
                "regressed": False,
                "reasons": [],
                "recommendations": [],
                "index_trials": [],
            },
        ],
        "regressions": [
            {
                "queryid": "-4711",
                "query": query,
                "reasons": ["cost 224.0 times the baseline (8.45 → 1893.0)", "public.orders: Index Scan → Seq Scan"],
                "diff": diff,
                "plan": [],
                "baseline_plan": [],
            }
        ],
        "recommendations": [
            {
                "relation": "public.orders",
                "schema": "public",
                "table": "orders",
                "columns": ["customer_id"],
                "index_name": "orders_customer_id_idx",
                "statement": statement,
                "cost_before": 1893.0,
                "cost_after": 8.46,
                "cost_reduction": 0.9955,
                "validated_with": "hypopg",
                "queryids": ["-4711"],
                "action": {
                    "name": "pg.create_index",
                    "params": {
                        "schema": "public",
                        "table": "orders",
                        "columns": ["customer_id"],
                        "name": "orders_customer_id_idx",
                    },
                },
            }
        ],
        "hypopg": True,
        "errors": [],
        "duration_ms": 412.5,
    }


def seed_report(session: Session, *, now: datetime, incident_id: int | None) -> int:
    """Store one analyzer report directly (running the analyzer needs a PostgreSQL with pg_stat_statements)."""
    from missionctl.analyzer.models import AnalyzerReport

    row = AnalyzerReport(
        target="db.internal/app",
        trigger="person:rita",
        incident_id=incident_id,
        started_at=now,
        finished_at=now,
        regressions=1,
        recommendations=1,
        summary="db.internal/app: 2 slowest statements analyzed, 1 plan regression, 1 index recommended",
        findings=report_findings(),
    )
    session.add(row)
    session.flush()
    return row.id
