"""The analyzer's built-in actions: `pg.top_slow_queries`, `pg.plan_diff` and the approval-only `pg.create_index`.

Each does nothing but describe itself in a dry run. `pg.create_index` is the only one that changes the
analyzed database, through its own DDL connection (`analyzer_ddl_database_url`), never the read-only one;
it is declared approval-only, so the action framework makes every request of it wait for a responder
other than the requester (whatever mode it was asked in or the actions file says), and it refuses to run
for a schedule or an alert even if it is ever wired to one.

`pg.plan_diff` is scheduled by the analyzer itself (`schedule.py`, every `analyzer_interval_minutes`, with
or without an incident open), so RB-002's `schedule_minutes: 60` automation starts no second, per-incident
schedule in the action framework (`own_schedule`).
"""

from __future__ import annotations

import psycopg

from missionctl.actions.builtin import ActionCall, ActionOutcome, Result, builtin
from missionctl.actions.rules import Mode
from missionctl.analyzer import service
from missionctl.analyzer.candidates import create_index_statement, index_name
from missionctl.analyzer.config import AnalyzerConfig, NotConfigured, libpq_dsn
from missionctl.analyzer.schemas import CreateIndexParams, PlanDiffParams, ReportRead, TopSlowQueriesParams
from missionctl.analyzer.target import CONNECT_TIMEOUT_SECONDS
from missionctl.context import AppContext

AUTOMATIC_TRIGGERS = ("schedule", "signal:")  # never a person behind these: no index is built for them


def _target(ctx: AppContext) -> str:
    try:
        return AnalyzerConfig.from_settings(ctx.settings).target
    except NotConfigured:
        return "(no analyzed database configured)"


def _outcome(report: ReportRead) -> ActionOutcome:
    findings = report.findings
    return ActionOutcome(
        Result.SUCCEEDED,
        report.summary,
        {
            "report_id": report.id,
            "report": f"/api/v1/analyzer/reports/{report.id}",
            "regressions": [{"queryid": r["queryid"], "reasons": r["reasons"]} for r in findings["regressions"]],
            "recommendations": [r["statement"] for r in findings["recommendations"]],
        },
    )


@builtin(
    "pg.top_slow_queries",
    params=TopSlowQueriesParams,
    summary="Top slow queries since the last snapshot (pg_stat_statements), with their plans, on the incident",
)
def top_slow_queries(call: ActionCall[TopSlowQueriesParams]) -> ActionOutcome:
    if call.dry_run:
        return ActionOutcome(
            Result.DRY_RUN,
            f"Would snapshot pg_stat_statements on {_target(call.ctx)} (read-only), explain the slowest statements "
            "since the last snapshot, compare their plans with the baselines and post the findings",
        )
    report = service.run(call.ctx, now=call.now, incident_id=call.incident_id, trigger=call.triggered_by)
    return _outcome(report)


@builtin(
    "pg.plan_diff",
    params=PlanDiffParams,
    summary="Compare the slowest statements' plans with their baselines; recommend indexes validated by hypopg",
    own_schedule=True,
)
def plan_diff(call: ActionCall[PlanDiffParams]) -> ActionOutcome:
    if call.dry_run:
        return ActionOutcome(
            Result.DRY_RUN,
            f"Would compare the plans of the slowest statements on {_target(call.ctx)} with their baselines "
            f"(read-only){' and raise RB-002 on a regression' if call.params.raise_incident else ''}",
        )
    report = service.run(
        call.ctx,
        now=call.now,
        incident_id=call.incident_id,
        trigger=call.triggered_by,
        raise_incident=call.params.raise_incident,
    )
    return _outcome(report)


@builtin(
    "pg.create_index",
    params=CreateIndexParams,
    summary="Build a recommended index with CREATE INDEX CONCURRENTLY (approval only)",
    mode=Mode.APPROVAL,
)
def create_index(call: ActionCall[CreateIndexParams]) -> ActionOutcome:
    p = call.params
    name = p.name or index_name(p.table, p.columns)
    statement = create_index_statement(p.schema_name, p.table, p.columns, name)
    output = {"statement": statement, "index": f"{p.schema_name}.{name}", "database": _target(call.ctx)}
    if call.dry_run:
        return ActionOutcome(Result.DRY_RUN, f"Would run on {output['database']}: {statement}", output)
    if call.triggered_by.startswith(AUTOMATIC_TRIGGERS):
        refused = "pg.create_index never runs automatically; a person must request and approve it"
        return ActionOutcome(Result.FAILED, refused, output)
    ddl = call.ctx.settings.analyzer_ddl_database_url
    if ddl is None:
        return ActionOutcome(
            Result.FAILED, "No DDL connection is configured (MISSIONCTL_ANALYZER_DDL_DATABASE_URL)", output
        )
    return _create(libpq_dsn(ddl.get_secret_value()), statement, p.schema_name, name, output)


def _create(dsn: str, statement: str, schema: str, name: str, output: dict[str, str]) -> ActionOutcome:
    exists = "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)"
    qualified = f'"{schema}"."{name}"'
    try:
        # CREATE INDEX CONCURRENTLY cannot run inside a transaction block: autocommit.
        with psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
            before = conn.execute(exists, (qualified,)).fetchone()
            if before is not None:
                state = "valid" if before[0] else "INVALID (drop it with DROP INDEX CONCURRENTLY and retry)"
                return ActionOutcome(Result.SKIPPED, f"Index {schema}.{name} already exists ({state})", output)
            conn.execute(statement.encode())
            after = conn.execute(exists, (qualified,)).fetchone()
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return ActionOutcome(Result.FAILED, f"CREATE INDEX CONCURRENTLY failed: {first}", output)
    if after is None or not after[0]:
        return ActionOutcome(Result.FAILED, f"Index {schema}.{name} was not built valid", output)
    return ActionOutcome(Result.SUCCEEDED, f"Created index {schema}.{name}: {statement}", output)
