"""`missionctl analyzer run`: one analysis of the configured database, printed as a report (or JSON)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from missionctl.analyzer import service
from missionctl.analyzer.schemas import ReportRead
from missionctl.context import build_context
from missionctl.errors import MissionControlError
from missionctl.settings import load_settings

analyzer_app = typer.Typer(help="The PostgreSQL analyzer (RB-002).", no_args_is_help=True)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


@analyzer_app.command("run")
def run(
    incident: Annotated[int | None, typer.Option(help="Post the findings to this incident's timeline")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole report as JSON")] = False,
) -> None:
    """Snapshot pg_stat_statements, explain the slowest statements, diff plans, recommend indexes."""
    ctx = build_context(load_settings())
    try:
        report = service.run(ctx, now=ctx.clock.now(), incident_id=incident, trigger="cli")
    except MissionControlError as exc:
        err.print(f"error: {exc.message} ({exc.code})")
        raise typer.Exit(1) from None
    finally:
        ctx.dispose()
    if as_json:
        out.print(json.dumps(report.model_dump(mode="json"), indent=2), markup=False)
        return
    _print(report)


def _print(report: ReportRead) -> None:
    f = report.findings
    out.print(f"Report {report.id}: {report.summary}", markup=False)
    for item in f["top"]:
        flag = "REGRESSED " if item["regressed"] else ""
        out.print(
            f"  {flag}{item['queryid']}  calls={item['calls']}  mean={item['mean_ms']} ms  "
            f"total={item['total_ms']} ms  {item['query'][:100]}",
            markup=False,
        )
        for reason in item["reasons"]:
            out.print(f"      - {reason}", markup=False)
    for rec in f["recommendations"]:
        out.print(f"  recommend ({rec['cost_reduction']:.0%} cheaper): {rec['statement']}", markup=False)
    for problem in f["errors"]:
        out.print(f"  note: {problem}", markup=False)
