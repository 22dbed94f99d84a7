"""Analyzer tables: pg_stat_statements snapshots, the baseline plan of each statement, and the reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from missionctl.db import Base, UTCDateTime


class AnalyzerSnapshot(Base):
    """pg_stat_statements counters of one target at one moment: `{queryid: [calls, total_exec_ms]}`."""

    __tablename__ = "analyzer_snapshots"
    __table_args__ = (Index("ix_analyzer_snapshots_target", "target", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target: Mapped[str] = mapped_column(String(300))  # host/dbname, never credentials
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stats_reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    statements: Mapped[int] = mapped_column(Integer)
    counters: Mapped[dict[str, Any]] = mapped_column(JSON)


class AnalyzerBaseline(Base):
    """The known-good plan of one statement (pg_stat_statements queryid, kept as text: it is a signed int64)."""

    __tablename__ = "analyzer_baselines"

    target: Mapped[str] = mapped_column(String(300), primary_key=True)
    queryid: Mapped[str] = mapped_column(String(24), primary_key=True)
    query: Mapped[str] = mapped_column(Text)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)  # diff.PlanSummary.as_json()
    plan: Mapped[list[Any]] = mapped_column(JSON)  # EXPLAIN (FORMAT JSON) output as PostgreSQL gave it
    generic: Mapped[bool] = mapped_column(default=False)  # a generic plan of a $n statement
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AnalyzerReport(Base):
    """One analyzer run: what it found, whichever way it was started."""

    __tablename__ = "analyzer_reports"
    __table_args__ = (Index("ix_analyzer_reports_started", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target: Mapped[str] = mapped_column(String(300))
    trigger: Mapped[str] = mapped_column(String(300))  # "person:alice", "schedule", "action:pg.plan_diff"...
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    regressions: Mapped[int] = mapped_column(Integer, default=0)
    recommendations: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str] = mapped_column(Text)
    findings: Mapped[dict[str, Any]] = mapped_column(JSON)
