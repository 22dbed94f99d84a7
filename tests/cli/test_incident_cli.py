"""`missionctl incident ...` end to end: the CLI talks HTTP to the real server on a real database."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from missionctl.auth.roles import Role
from missionctl.clock import FrozenClock
from missionctl.incidents.schemas import (
    ActionItemRead,
    IncidentRead,
    IncidentSummary,
    MessageRead,
    PostmortemRead,
    UpdateRead,
)
from tests.cli.conftest import RunCli, run_missionctl, unused_port

TITLE = "Checkout 500s after 2.3.1"
DECLARE = ["--runbook", "RB-001", "--severity", "SEV1", "--service", "checkout", "--title", TITLE]


def declare(cli: RunCli, *extra: str) -> str:
    """Declare the standard SEV1 incident and return its id as printed (a number)."""
    result = cli("incident", "declare", *DECLARE, *extra, "--json")
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["id"])


def lines_with(output: str, text: str) -> list[str]:
    return [line for line in output.splitlines() if text in line]


def test_walk_through_from_declare_to_closed(cli: RunCli, clock: FrozenClock, tmp_path: Path) -> None:
    declared = cli("incident", "declare", *DECLARE)
    assert declared.exit_code == 0, declared.output
    match = re.search(r"Declared INC-(\d+)", declared.stdout)
    assert match is not None, declared.stdout
    iid = match.group(1)
    out = declared.stdout
    assert "First 5 minutes (due 09:05:00 UTC, 5m left)" in out
    for number, title in enumerate(
        [
            "Freeze further deployments and mark incident channel active.",
            "Confirm blast radius with dashboards and synthetic checks.",
            "Rollback to last known healthy release artifact.",
        ],
        start=1,
    ):
        assert lines_with(out, f"☐ {number}. {title}"), out
    assert re.search(r"Recovery SLO\s+20m left\s+due 09:20:00 UTC \(20 min\)", out), out

    listed = cli("incident", "list", "--open")
    assert listed.exit_code == 0, listed.output
    (row,) = lines_with(listed.stdout, f"INC-{iid} ")
    for cell in ("SEV1", "declared", "checkout", "RB-001", TITLE, "20m", "responder-user"):
        assert cell in row, row

    clock.advance(timedelta(minutes=1))
    first = cli("incident", "step", iid, "1", "done", "--note", "deploys frozen")
    assert first.exit_code == 0, first.output
    assert lines_with(first.stdout, "✓ 1. Freeze further deployments")
    clock.advance(timedelta(minutes=1))
    assert cli("incident", "step", f"INC-{iid}", "2", "done").exit_code == 0
    third = cli("incident", "step", iid, "3", "skipped", "--note", "auto-rollback already ran")
    assert third.exit_code == 0, third.output
    assert lines_with(third.stdout, "\u2013 3. Rollback to last known healthy release artifact.")
    assert re.search(r"First response\s+met", third.stdout), third.stdout

    posted = cli("incident", "update", iid, "Rolled back to 2.3.0; error rate falling.")
    assert posted.exit_code == 0, posted.output
    assert f"Stakeholder update posted to INC-{iid} at 09:02:00 UTC." in posted.stdout
    mitigated = cli("incident", "transition", iid, "mitigated", "--note", "rolled back")
    assert mitigated.exit_code == 0 and f"INC-{iid} is now mitigated." in mitigated.stdout

    clock.advance(timedelta(minutes=8))
    refused = cli("incident", "resolve", iid, "--evidence", "error rate 0.1% for 10 min")
    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert "error: cannot resolve a SEV1 incident without at least one post-incident action item" in refused.stderr
    assert f"missionctl incident action-item {iid}" in refused.stderr

    item = cli(
        "incident",
        "action-item",
        iid,
        "--title",
        "Canary for checkout",
        "--assignee",
        "bob",
        "--due",
        "2026-12-01",
    )
    assert item.exit_code == 0, item.output
    assert "Canary for checkout (bob, due 2026-12-01 23:59:59 UTC)" in item.stdout

    resolved = cli("incident", "resolve", iid, "--evidence", "error rate 0.1% for 10 min", "--confirmed-by", "dana")
    assert resolved.exit_code == 0, resolved.output
    assert f"INC-{iid} resolved; recovery SLO met." in resolved.stdout
    assert "Recovery confirmed by dana: error rate 0.1% for 10 min" in resolved.stdout

    too_early = cli("incident", "transition", iid, "closed")
    assert too_early.exit_code == 1
    assert "postmortem is not marked complete" in too_early.stderr
    assert f"missionctl incident postmortem {iid} --complete" in too_early.stderr

    export = tmp_path / "postmortem.md"
    exported = cli("incident", "postmortem", iid, "--export", str(export))
    assert exported.exit_code == 0, exported.output
    assert f"Wrote the draft postmortem of INC-{iid} to {export}." in exported.stdout
    text = export.read_text(encoding="utf-8")
    assert TITLE in text and "Canary for checkout" in text
    printed = cli("incident", "postmortem", iid)
    assert printed.exit_code == 0 and printed.stdout.rstrip("\n") == text.rstrip("\n")

    completed = cli("incident", "postmortem", iid, "--complete")
    assert completed.exit_code == 0, completed.output
    assert f"Postmortem of INC-{iid} complete by responder-user" in completed.stdout

    closed = cli("incident", "transition", iid, "closed")
    assert closed.exit_code == 0, closed.output
    assert closed.stdout.strip() == f"INC-{iid} is now closed."
    assert lines_with(cli("incident", "list", "--status", "closed").stdout, f"INC-{iid} ")
    assert not lines_with(cli("incident", "list", "--open").stdout, f"INC-{iid} ")


def test_show_prints_countdowns_checklist_and_interleaved_timeline(cli: RunCli, clock: FrozenClock) -> None:
    iid = declare(cli, "--commander", "alice")
    clock.advance(timedelta(minutes=1))
    assert cli("incident", "say", iid, "Looking at the deploy dashboard").exit_code == 0
    clock.advance(timedelta(minutes=1))
    assert cli("incident", "step", iid, "1", "done").exit_code == 0
    assert cli("incident", "role", iid, "scribe", "carol").exit_code == 0
    clock.advance(timedelta(minutes=5, seconds=30))

    shown = cli("incident", "show", iid)
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert f"INC-{iid}  SEV1  {TITLE}" in out
    for label, value in [
        ("Status", "declared"),
        ("Service", "checkout"),
        ("Runbook", "RB-001"),
        ("Commander", "alice"),
    ]:
        assert re.search(rf"^{label}\s+{value}\s*$", out, flags=re.MULTILINE), out
    assert re.search(r"First response\s+BREACHED 2m 30s ago\s+due 09:05:00 UTC", out), out
    assert re.search(r"Recovery SLO\s+12m 30s left\s+due 09:20:00 UTC", out), out
    assert re.search(r"Next update\s+in 7m 30s\s+due 09:15:00 UTC", out), out
    assert lines_with(out, "✓ 1. Freeze further deployments")
    assert lines_with(out, "(done by responder-user at 09:02:00 UTC)")
    assert lines_with(out, "☐ 2. Confirm blast radius")
    assert re.search(r"^\s+scribe\s+carol\s*$", out, flags=re.MULTILINE), out
    timeline = out[out.index("Timeline") :]
    order = [
        "Response channel opened",
        "say: Looking at the deploy dashboard",
        "Step 1 done",
        "carol is scribe",
    ]
    positions = [timeline.index(entry) for entry in order]
    assert positions == sorted(positions), timeline
    assert lines_with(timeline, "09:01:00  responder-user  say: Looking at the deploy dashboard")

    clock.advance(timedelta(minutes=15))
    late = cli("incident", "show", iid).stdout
    assert re.search(r"Recovery SLO\s+BREACHED 2m 30s ago", late), late
    assert re.search(r"Next update\s+OVERDUE by 7m 30s\s+was due 09:15:00 UTC", late), late
    (row,) = lines_with(cli("incident", "list").stdout, f"INC-{iid} ")
    assert "BREACHED 2m 30s" in row and "22m 30s" in row


def test_resolved_incident_stops_the_clocks_in_show(cli: RunCli, clock: FrozenClock) -> None:
    iid = declare(cli, "--severity", "SEV4")
    clock.advance(timedelta(minutes=25))
    resolved = cli("incident", "resolve", iid, "--evidence", "green again")
    assert resolved.exit_code == 0, resolved.output
    assert f"INC-{iid} resolved; recovery SLO missed by 5m." in resolved.stdout
    clock.advance(timedelta(hours=2))
    out = cli("incident", "show", iid).stdout
    assert re.search(r"First response\s+checklist not completed", out), out
    assert re.search(r"Recovery SLO\s+missed by 5m\s", out), out
    assert re.search(r"Next update\s+none due", out), out
    assert f"Postmortem not complete: missionctl incident postmortem {iid} --complete" in out


def test_list_keeps_the_title_on_a_narrow_terminal(cli: RunCli) -> None:
    iid = declare(cli)
    narrow = cli("incident", "list", columns=80)
    assert narrow.exit_code == 0
    assert all(len(line) <= 80 for line in narrow.stdout.splitlines())
    (row,) = lines_with(narrow.stdout, f"INC-{iid} ")
    for cell in ("SEV1", "declared", "Checkout 500s", "20m"):
        assert cell in row, narrow.stdout
    assert "No incidents match." in cli("incident", "list", "--status", "closed").stdout


def test_json_output_uses_the_api_field_names(cli: RunCli, clock: FrozenClock) -> None:
    declared = cli("incident", "declare", *DECLARE, "--json")
    assert declared.exit_code == 0, declared.output
    incident = json.loads(declared.stdout)
    assert set(incident) == set(IncidentRead.model_fields)
    assert incident["runbook_id"] == "RB-001" and incident["recovery_slo"]["seconds_left"] == 1200
    iid = str(incident["id"])

    def as_json(*args: str) -> object:
        result = cli("incident", *args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    listed = as_json("list", "--open", "--severity", "SEV1", "--service", "checkout")
    assert isinstance(listed, list) and [row["id"] for row in listed] == [incident["id"]]
    assert set(listed[0]) == set(IncidentSummary.model_fields)
    assert as_json("list", "--status", "resolved") == []
    shown = as_json("show", iid)
    assert isinstance(shown, dict) and shown["id"] == incident["id"]
    clock.advance(timedelta(seconds=90))
    acked = as_json("ack", iid)
    assert isinstance(acked, dict) and acked["acknowledged_by"] == "responder-user"
    assert as_json("step", iid, "1", "skipped", "--note", "n/a")["steps"][0]["status"] == "skipped"  # type: ignore[index]
    assert set(as_json("update", iid, "Rolling back")) == set(UpdateRead.model_fields)  # type: ignore[arg-type]
    assert set(as_json("say", iid, "hello")) == set(MessageRead.model_fields)  # type: ignore[arg-type]
    roles = as_json("role", iid, "communications_lead", "erin")["roles"]  # type: ignore[index]
    assert {"role": "communications_lead", "assignee": "erin"}.items() <= roles[-1].items()
    moved = as_json("transition", iid, "investigating")
    assert isinstance(moved, dict) and moved["status"] == "investigating"
    item = as_json(
        "action-item",
        iid,
        "--title",
        "Alert on 5xx",
        "--assignee",
        "bob",
        "--due",
        "2026-12-01T17:00:00+02:00",
    )
    assert isinstance(item, dict) and set(item) == set(ActionItemRead.model_fields)
    assert item["due_at"].startswith("2026-12-01T15:00:00")
    done = as_json("action-item-done", iid, str(item["id"]))
    assert isinstance(done, dict) and done["status"] == "done"
    resolved = as_json("resolve", iid, "--evidence", "green for 10 min")
    assert isinstance(resolved, dict) and resolved["recovery_confirmation"]["confirmed_by"] == "responder-user"
    report = as_json("postmortem", iid)
    assert isinstance(report, dict) and set(report) == set(PostmortemRead.model_fields)
    assert report["draft"] is True and TITLE in report["markdown"]
    completed = as_json("postmortem", iid, "--complete")
    assert isinstance(completed, dict) and completed["completed_by"] == "responder-user"


def test_unknown_incident_exits_2(cli: RunCli) -> None:
    for args in (["show", "424242"], ["step", "424242", "1", "done"], ["say", "INC-424242", "hi"]):
        result = cli("incident", *args)
        assert result.exit_code == 2, result.output
        assert result.stderr.strip() == "error: no incident with id 424242"
    iid = declare(cli)
    missing_step = cli("incident", "step", iid, "9", "done")
    assert missing_step.exit_code == 2 and "error:" in missing_step.stderr
    missing_item = cli("incident", "action-item-done", iid, "77")
    assert missing_item.exit_code == 2 and "error:" in missing_item.stderr


def test_usage_errors_exit_2(cli: RunCli) -> None:
    assert cli("incident", "show", "abc").exit_code == 2
    assert cli("incident", "step", "1", "1", "finished").exit_code == 2
    bad_due = cli("incident", "action-item", "1", "--title", "t", "--assignee", "a", "--due", "next week")
    assert bad_due.exit_code == 2 and "is not a date" in bad_due.stderr
    assert cli("incident", "--url", "localhost:8080", "show", "1").exit_code == 2


def test_refused_operation_exits_1_with_the_server_message(cli: RunCli) -> None:
    iid = declare(cli)
    invalid = cli("incident", "transition", iid, "closed")
    assert invalid.exit_code == 1
    assert "cannot move an incident from declared to closed" in invalid.stderr
    too_long = cli("incident", "update", iid, "x" * 10_001)
    assert too_long.exit_code == 1 and "body.message" in too_long.stderr


def test_viewer_token_cannot_declare_exits_3(cli: RunCli, tokens: dict[Role, str]) -> None:
    viewer = tokens[Role.VIEWER]
    refused = cli("incident", "--token", viewer, "declare", *DECLARE, token="mc_unused")
    assert refused.exit_code == 3, refused.output
    assert "needs the responder role" in refused.stderr
    assert viewer not in refused.output
    by_env = cli("incident", "declare", *DECLARE, token=viewer)
    assert by_env.exit_code == 3
    assert cli("incident", "list", token=viewer).exit_code == 0
    bad = cli("incident", "list", token="mc_not_a_real_token")
    assert bad.exit_code == 3 and "mc_not_a_real_token" not in bad.output


def test_unreachable_server_exits_4() -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    result = run_missionctl(["incident", "list"], url=url, token="mc_secret_value")
    assert result.exit_code == 4
    assert result.stderr.startswith(f"error: cannot reach Mission Control at {url}: is `missionctl serve` running?")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "mc_secret_value" not in result.output


def test_help_documents_exit_codes() -> None:
    for args in (["incident", "--help"], ["incident", "resolve", "--help"]):
        result = run_missionctl(args, url="http://127.0.0.1:9", token=None)
        assert result.exit_code == 0
        for line in ("Exit codes", "cannot reach the server", "(401/403)", "(409/422"):
            assert line in result.stdout, result.stdout
