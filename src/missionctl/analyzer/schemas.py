"""API and action shapes of the analyzer: run requests, reports, and the parameters of its built-in actions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Plain identifiers only: the statement quotes them anyway, this keeps what a person approves legible.
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")]


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incident_id: int | None = Field(default=None, description="Post the findings to this incident's timeline")


class ReportSummaryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    target: str
    trigger: str
    incident_id: int | None
    started_at: datetime
    finished_at: datetime
    regressions: int
    recommendations: int
    summary: str


class ReportRead(ReportSummaryRead):
    findings: dict[str, Any] = Field(
        description="window, statements_seen, top (per statement: counters, plan summary, baseline, diff, "
        "regression reasons, index trials), regressions, recommendations (with the exact CREATE INDEX "
        "CONCURRENTLY statement and pg.create_index parameters), hypopg, errors"
    )


class TopSlowQueriesParams(BaseModel):
    """`pg.top_slow_queries`: snapshot, delta, plans and findings posted to the incident."""

    model_config = ConfigDict(extra="forbid")


class PlanDiffParams(BaseModel):
    """`pg.plan_diff`: the scheduled check; a regression opens or joins the service's RB-002 incident."""

    model_config = ConfigDict(extra="forbid")

    raise_incident: bool = Field(default=True, description="Feed regressions to the signals pipeline")


class CreateIndexParams(BaseModel):
    """`pg.create_index`: one recommended btree index, built with CREATE INDEX CONCURRENTLY."""

    schema_name: Identifier = Field(default="public", alias="schema")
    table: Identifier
    columns: Annotated[list[Identifier], Field(min_length=1, max_length=8)]
    name: Identifier | None = Field(default=None, description="Index name; default <table>_<columns>_idx")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _distinct_columns(self) -> CreateIndexParams:
        if len(set(self.columns)) != len(self.columns):
            raise ValueError("columns must be distinct")
        return self
