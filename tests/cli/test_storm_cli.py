"""`missionctl notifications dead list|replay` and `missionctl dead-letter replay --sample` (local admin commands)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from missionctl import migrate
from missionctl.cli import app
from missionctl.context import build_context
from missionctl.notifications import service as outbox
from missionctl.notifications.models import Notification, NotificationStatus, Purpose
from missionctl.settings import Settings
from missionctl.signals.models import DeadLetter

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def prepare(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path}/mc.db"
    ctx = build_context(Settings(database_url=url, runbook_dirs=[]))
    migrate.upgrade(ctx.engine)
    with ctx.write() as session:
        for i in range(4):
            outgoing = outbox.Outgoing(
                purpose=Purpose.PAGE,
                channel="webhook",
                address=f"https://hooks.example.com/p{i}?token=secret",
                subject="page",
                body="page",
                idempotency_key=f"page-{i}",
                payload={"n": i},
            )
            row = outbox.queue(session, outgoing=outgoing, due_at=NOW, now=NOW)
            assert row is not None
            row.status, row.last_error = NotificationStatus.FAILED_PERM, "HTTP 410"
        for i in range(5):
            session.add(
                DeadLetter(
                    received_at=NOW,
                    source="alertmanager",
                    integration_id=None,
                    reason="invalid_payload",
                    error="not JSON",
                    details={},
                    body=f"broken {i}",
                    body_truncated=False,
                    status="pending",
                )
            )
    ctx.dispose()
    return {"COLUMNS": "200", "MISSIONCTL_DATABASE_URL": url}


def test_list_and_replay_dead_notifications_with_a_sample_and_a_staging_target(tmp_path: Path) -> None:
    env = prepare(tmp_path)
    runner = CliRunner()
    listed = runner.invoke(app, ["notifications", "dead", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "https://hooks.example.com/p3" in listed.output and "secret" not in listed.output

    args = ["notifications", "dead", "replay", "--sample", "2", "--seed", "5"]
    dry = runner.invoke(app, [*args, "--dry-run"], env=env)
    assert dry.exit_code == 0 and "4 dead notification(s) matched; would queue 2" in dry.output, dry.output
    staging = runner.invoke(app, [*args, "--target", "https://staging.example.com/in"], env=env)
    assert staging.exit_code == 0, staging.output
    assert "queued 2" in staging.output and "staging.example.com/in" in staging.output
    assert [line.split()[0] for line in dry.output.splitlines()[:2]] == [
        line.split()[0] for line in staging.output.splitlines()[:2]
    ]  # the same seed, the same sample

    ctx = build_context(Settings(database_url=env["MISSIONCTL_DATABASE_URL"], runbook_dirs=[]))
    with ctx.read() as session:
        copies = session.scalars(select(Notification).where(Notification.status == "pending")).all()
        assert len(copies) == 2 and {c.address for c in copies} == {"https://staging.example.com/in"}
    ctx.dispose()


def test_dead_letter_replay_without_ids_takes_a_sample_of_the_pending_ones(tmp_path: Path) -> None:
    env = prepare(tmp_path)
    result = CliRunner().invoke(app, ["dead-letter", "replay", "--sample", "3", "--seed", "1"], env=env)
    assert result.exit_code == 1  # still broken: every one tried fails, and says so
    assert result.output.count("✗") == 3
