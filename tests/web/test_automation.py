"""The console's automation: step buttons and dry-run previews, approvals between two responders, the release
ledger with freezes, and analyzer reports with their approval-only index builds."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from missionctl.actions import workers
from missionctl.actions.models import ActionExecution
from missionctl.auth.roles import Role
from missionctl.clock import FrozenClock
from missionctl.context import AppContext
from missionctl.deployments.models import Deployment
from missionctl.settings import Settings
from missionctl.web import queries
from tests.engine.conftest import load_catalog
from tests.web.automation import CATALOG, V1, Files, seed_ledger, seed_report, write_files
from tests.web.conftest import declare, log_in, make_user

PAGES = ["/releases", "/releases?service=checkout", "/analyzer", "/analyzer/1"]
POSTS = [
    "/incidents/1/actions",
    "/actions/executions/1/approve",
    "/actions/executions/1/decline",
    "/releases/freezes",
    "/releases/freezes/1/lift",
    "/analyzer/1/recommendations/0",
]


@pytest.fixture
def files(tmp_path: Path) -> Files:
    return write_files(tmp_path / "automation")


@pytest.fixture
def settings(database_url: str, files: Files) -> Settings:
    return Settings(
        database_url=database_url,
        runbook_dirs=[],
        console_live_stream_seconds=0.6,
        actions_file=files.actions,
        releases_file=files.releases,
    )


@pytest.fixture
def seeded(ctx: AppContext, tmp_path: Path) -> None:
    load_catalog(ctx, CATALOG, tmp_path)
    with ctx.write() as session:
        seed_ledger(session, now=ctx.clock.now())


def executions(ctx: AppContext) -> list[ActionExecution]:
    with ctx.read() as session:
        rows = list(session.scalars(select(ActionExecution).order_by(ActionExecution.id)))
        session.expunge_all()
        return rows


def latest(ctx: AppContext, action: str) -> ActionExecution:
    return [row for row in executions(ctx) if row.action == action][-1]


def post(client: TestClient, path: str, csrf: str, **form: str) -> str:
    response = client.post(path, data=form | {"csrf_token": csrf})
    assert response.status_code == 303, response.text[:2000]
    return response.headers["location"]


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitors_are_sent_to_log_in(web: TestClient, path: str) -> None:
    response = web.get(path)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=/")


@pytest.mark.parametrize("path", POSTS)
def test_anonymous_posts_change_nothing(web: TestClient, path: str) -> None:
    response = web.post(path, data={"csrf_token": "x", "action": "deploy.freeze"})
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_the_room_offers_each_steps_action_with_a_preview(
    ctx: AppContext, web: TestClient, responder: str, seeded: None
) -> None:
    incident_id = declare(web, responder)
    room = web.get(f"/incidents/{incident_id}").text
    assert "Run deploy.freeze" in room and "Run synthetic.check" in room
    assert 'Request approval<span class="visually-hidden"> for deploy.rollback' in room  # approval mode
    assert room.count("Preview (dry run)") == 3
    assert "Last known healthy: <strong>1.0.0</strong>" in room and "current: <strong>2.0.0</strong>" in room
    assert 'href="/releases?service=checkout"' in room
    # The declaration's own work is listed: the freeze it set is on the timeline, synthetic checks are queued.
    assert 'id="live-automation"' in room and "synthetic.check" in room


def test_a_dry_run_shows_the_exact_command_and_changes_nothing(
    ctx: AppContext, web: TestClient, responder: str, seeded: None, files: Files
) -> None:
    incident_id = declare(web, responder)
    location = post(
        web, f"/incidents/{incident_id}/actions", responder, action="deploy.rollback", step_position="3", dry_run="1"
    )
    row = latest(ctx, "deploy.rollback")
    assert location == f"/incidents/{incident_id}#execution-{row.id}"
    assert (row.status, row.dry_run, row.requested_by) == ("dry_run", True, "rita")
    room = web.get(f"/incidents/{incident_id}").text
    assert f'id="execution-{row.id}"' in room
    assert str(files.marker) in room and "1.0.0" in room  # the argv, with the last known healthy version filled in
    assert "Would roll back checkout from 2.0.0 to 1.0.0" in room
    assert "2.0.0 (sha256:222222222222…) → 1.0.0 (sha256:111111111111…)" in room
    assert not files.marker.exists()
    with ctx.read() as session:
        assert session.scalar(select(func.count()).select_from(Deployment)) == 2  # no rollback release recorded


def test_a_rollback_needs_a_second_responder(
    ctx: AppContext, web: TestClient, responder: str, seeded: None, files: Files, clock: FrozenClock
) -> None:
    incident_id = declare(web, responder)
    post(web, f"/incidents/{incident_id}/actions", responder, action="deploy.rollback", step_position="3")
    row = latest(ctx, "deploy.rollback")
    assert (row.status, row.mode) == ("pending_approval", "approval")
    room = web.get(f"/incidents/{incident_id}").text
    assert "You requested this; another responder must approve." in room
    assert f'action="/actions/executions/{row.id}/approve"' not in room
    refused = web.post(f"/actions/executions/{row.id}/approve", data={"csrf_token": responder})
    assert refused.status_code == 409
    assert "You requested this action, so you cannot approve or decline it" in refused.text
    assert latest(ctx, "deploy.rollback").status == "pending_approval"

    make_user(ctx, "bob", Role.RESPONDER)
    web.cookies.clear()
    bob = log_in(web, "bob")
    room = web.get(f"/incidents/{incident_id}").text
    assert f'action="/actions/executions/{row.id}/approve"' in room and "1 waiting for approval" in room
    assert post(web, f"/actions/executions/{row.id}/approve", bob) == f"/incidents/{incident_id}#execution-{row.id}"
    assert latest(ctx, "deploy.rollback").approved_by == "bob"
    workers.run_pending(ctx)
    done = latest(ctx, "deploy.rollback")
    assert done.status == "succeeded", (done.summary, done.output)
    assert files.marker.read_text() == "1.0.0"
    room = web.get(f"/incidents/{incident_id}").text
    assert "Approved by</dt><dd>bob" in room and "Rolled back checkout from 2.0.0 to 1.0.0" in room
    # A decision already taken cannot be taken again.
    again = web.post(f"/actions/executions/{row.id}/decline", data={"csrf_token": bob})
    assert again.status_code == 409 and "no longer waiting for approval" in again.text


def test_declining_and_the_approval_window(
    ctx: AppContext, web: TestClient, responder: str, seeded: None, files: Files, clock: FrozenClock
) -> None:
    incident_id = declare(web, responder)
    post(web, f"/incidents/{incident_id}/actions", responder, action="deploy.rollback")
    first = latest(ctx, "deploy.rollback")
    make_user(ctx, "bob", Role.RESPONDER)
    web.cookies.clear()
    bob = log_in(web, "bob")
    post(web, f"/actions/executions/{first.id}/decline", bob)
    assert (latest(ctx, "deploy.rollback").status, latest(ctx, "deploy.rollback").declined_by) == ("declined", "bob")

    post(web, f"/incidents/{incident_id}/actions", bob, action="deploy.rollback")
    second = latest(ctx, "deploy.rollback")
    clock.advance(timedelta(minutes=16))
    web.cookies.clear()
    rita = log_in(web, "rita")
    late = web.post(f"/actions/executions/{second.id}/approve", data={"csrf_token": rita})
    assert late.status_code == 409 and "approval window of this request has closed" in late.text
    workers.run_pending(ctx)
    assert not files.marker.exists()


def test_viewers_read_but_cannot_act(ctx: AppContext, web: TestClient, responder: str, seeded: None) -> None:
    incident_id = declare(web, responder)
    post(web, f"/incidents/{incident_id}/actions", responder, action="deploy.rollback")
    with ctx.write() as session:
        seed_report(session, now=ctx.clock.now(), incident_id=None)
    make_user(ctx, "vic", Role.VIEWER)
    web.cookies.clear()
    csrf = log_in(web, "vic")
    room = web.get(f"/incidents/{incident_id}").text
    assert "Run deploy.freeze" not in room and "you are a viewer" in room
    for path in ("/releases", "/analyzer", "/analyzer/1"):
        assert web.get(path).status_code == 200, path
    for path in [f"/incidents/{incident_id}/actions", *POSTS[1:]]:
        response = web.post(path, data={"csrf_token": csrf, "action": "deploy.freeze", "service": "checkout"})
        assert response.status_code == 403 and "needs the responder role" in response.text, path
    assert len([r for r in executions(ctx) if r.action == "deploy.rollback"]) == 1


def test_posts_need_the_sessions_csrf_token(ctx: AppContext, web: TestClient, responder: str, seeded: None) -> None:
    incident_id = declare(web, responder)
    before = len(executions(ctx))
    for path in (f"/incidents/{incident_id}/actions", "/actions/executions/1/approve", "/releases/freezes"):
        response = web.post(path, data={"action": "deploy.freeze", "service": "checkout", "minutes": "5"})
        assert response.status_code == 403 and "csrf_failed" in response.text, path
    assert len(executions(ctx)) == before


def test_a_step_action_runs_with_its_parameters(ctx: AppContext, web: TestClient, responder: str, seeded: None) -> None:
    incident_id = declare(web, responder)
    room = web.get(f"/incidents/{incident_id}").text
    assert 'name="param.reason"' in room and 'name="param.minutes"' in room  # deploy.freeze's parameters
    bad = web.post(
        f"/incidents/{incident_id}/actions",
        data={"csrf_token": responder, "action": "deploy.freeze", "param.minutes": "soon"},
    )
    assert bad.status_code == 422 and "minutes" in bad.text
    post(web, f"/incidents/{incident_id}/actions", responder, action="deploy.freeze", **{"param.minutes": "30"})
    row = latest(ctx, "deploy.freeze")
    assert (row.status, row.params["minutes"], row.triggered_by) == ("queued", 30, "person:rita")
    workers.run_pending(ctx)
    room = web.get(f"/incidents/{incident_id}").text
    assert "already frozen" in room  # the declaration froze deployments already: the action had nothing to do


def test_the_room_version_moves_when_an_execution_starts(
    ctx: AppContext, web: TestClient, responder: str, seeded: None
) -> None:
    incident_id = declare(web, responder)
    post(web, f"/incidents/{incident_id}/actions", responder, action="synthetic.check")
    row = latest(ctx, "synthetic.check")
    with ctx.read() as session:
        before = queries.live_version(session, incident_id=incident_id)
    with ctx.write() as session:
        session.get_one(ActionExecution, row.id).started_at = ctx.clock.now()  # claimed: no timeline entry
    with ctx.read() as session:
        assert queries.live_version(session, incident_id=incident_id) != before


def test_the_release_ledger_and_freezes(ctx: AppContext, web: TestClient, responder: str, seeded: None) -> None:
    page = web.get("/releases").text
    assert "Checkout" in page and "1.0.0" in page and "2.0.0" in page
    assert 'class="lkh"' in page and "last known healthy" in page
    assert "Not frozen: deployments may go out." in page
    location = post(web, "/releases/freezes", responder, service="checkout", minutes="90", reason="Peak traffic")
    assert location.startswith("/releases?service=checkout")
    page = web.get("/releases?service=checkout").text
    assert "Peak traffic" in page and "by rita" in page
    freeze_id = re.search(r'action="/releases/freezes/(\d+)/lift"', page)
    assert freeze_id is not None
    post(web, f"/releases/freezes/{freeze_id.group(1)}/lift", responder)
    assert "Peak traffic" not in web.get("/releases?service=checkout").text
    unknown = web.post(
        "/releases/freezes", data={"csrf_token": responder, "service": "nope", "minutes": "5", "reason": "x"}
    )
    assert unknown.status_code == 404


def test_an_incident_freeze_shows_with_a_link_to_its_room(web: TestClient, responder: str, seeded: None) -> None:
    incident_id = declare(web, responder)
    page = web.get("/releases").text
    assert f'href="/incidents/{incident_id}"' in page and "until the incident resolves" in page


def test_analyzer_reports_and_an_index_build_under_approval(
    ctx: AppContext, web: TestClient, responder: str, seeded: None
) -> None:
    incident_id = declare(web, responder, runbook="RB-002", service="database", title="Slow orders")
    with ctx.write() as session:
        report_id = seed_report(session, now=ctx.clock.now(), incident_id=incident_id)
    listing = web.get("/analyzer").text
    assert f'href="/analyzer/{report_id}"' in listing and 'data-label="Statements analyzed">2<' in listing
    assert f'href="/analyzer/{report_id}"' in web.get(f"/analyzer?incident={incident_id}").text
    room = web.get(f"/incidents/{incident_id}").text
    assert f'href="/analyzer/{report_id}"' in room and f'href="/analyzer?incident={incident_id}"' in room
    page = web.get(f"/analyzer/{report_id}").text
    assert "SELECT * FROM orders WHERE customer_id = $1" in page
    assert "Index Scan → <strong>Seq Scan</strong>" in page and "224.024" in page
    assert "99.6% lower" in page and "Create index (needs approval)" in page

    post(web, f"/analyzer/{report_id}/recommendations/0", responder)
    row = latest(ctx, "pg.create_index")
    assert (row.status, row.incident_id, row.service) == ("pending_approval", incident_id, "database")
    page = web.get(f"/analyzer/{report_id}").text
    assert "Create index (needs approval)" not in page and "You requested this; another responder must approve." in page
    make_user(ctx, "bob", Role.RESPONDER)
    web.cookies.clear()
    bob = log_in(web, "bob")
    next_path = f"/analyzer/{report_id}#rec-0"
    assert post(web, f"/actions/executions/{row.id}/approve", bob, next=next_path) == next_path
    assert latest(ctx, "pg.create_index").approved_by == "bob"
    assert web.post(f"/analyzer/{report_id}/recommendations/5", data={"csrf_token": bob}).status_code == 404


def test_a_report_without_an_incident_is_approved_on_the_analyzer_page(
    ctx: AppContext, web: TestClient, responder: str, seeded: None
) -> None:
    with ctx.write() as session:
        report_id = seed_report(session, now=ctx.clock.now(), incident_id=None)
    post(web, f"/analyzer/{report_id}/recommendations/0", responder)
    row = latest(ctx, "pg.create_index")
    assert (row.status, row.incident_id) == ("pending_approval", None)
    make_user(ctx, "bob", Role.RESPONDER)
    web.cookies.clear()
    bob = log_in(web, "bob")
    assert f'action="/actions/executions/{row.id}/approve"' in web.get(f"/analyzer/{report_id}").text
    assert post(web, f"/actions/executions/{row.id}/decline", bob) == "/analyzer"


def test_pages_escape_what_they_show(ctx: AppContext, web: TestClient, responder: str, seeded: None) -> None:
    post(web, "/releases/freezes", responder, service="checkout", minutes="5", reason="<script>x</script>")
    assert "<script>x</script>" not in web.get("/releases").text
    assert V1[:19] in web.get("/releases").text  # digests are shortened, never dropped


def test_the_overview_finds_the_running_release_behind_newer_ones_elsewhere(
    ctx: AppContext, web: TestClient, responder: str, seeded: None
) -> None:
    from missionctl.deployments import service as deployments

    with ctx.write() as session:
        for n in range(10):  # more staging releases than the overview shows per service
            deployments.record(
                session,
                service_id="checkout",
                version=f"3.0.{n}",
                artifact_digest=f"sha256:{n:064x}",
                environment="staging",
                deployed_by="ci",
                deployed_at=ctx.clock.now() - timedelta(minutes=5 - n * 0.1),
                url=None,
                now=ctx.clock.now(),
            )
    page = web.get("/releases").text
    assert "2.0.0" not in page.split("<table", 1)[1]  # not among the rows shown…
    running, healthy = page.split("Running now", 1)[1].split("Last known healthy", 1)
    assert "<strong>2.0.0</strong>" in running and "<strong>1.0.0</strong>" in healthy  # …but found all the same
    assert "not judged (staging is not watched)" in page
