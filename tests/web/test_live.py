"""Live updates: the room's and the lists' event streams say "change" soon after anything changes."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from missionctl.app import create_app
from missionctl.context import AppContext
from missionctl.incidents import service
from missionctl.settings import Settings
from missionctl.web import live, queries
from tests.web.conftest import declare, declare_directly


def _events(body: str) -> list[tuple[str, str]]:
    found = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            found.append((fields["event"], fields["data"]))
    return found


def test_the_version_moves_with_every_change(ctx: AppContext, web: TestClient, responder: str) -> None:
    incident_id = declare(web, responder)
    with ctx.read() as session:
        before = queries.live_version(session, incident_id=incident_id)
    web.post(f"/incidents/{incident_id}/steps/1", data={"csrf_token": responder, "status": "done"})
    with ctx.read() as session:
        after_step = queries.live_version(session, incident_id=incident_id)
    with ctx.write() as session:
        service.post_message(session, incident_id=incident_id, body="on it", actor="x", now=ctx.clock.now())
    with ctx.read() as session:
        after_message = queries.live_version(session, incident_id=incident_id)
    assert len({before, after_step, after_message}) == 3


def _change_after_hello(monkeypatch: pytest.MonkeyPatch, versions: str, change: Callable[[], object]) -> None:
    """Make `change` right after the stream's first read of the version (the one its `hello` reports), so the
    change always falls inside the stream, however slowly the stream opens."""
    real = getattr(live, versions)

    def reading_then_changing(ctx: AppContext, *args: int) -> Callable[[], str]:
        read = real(ctx, *args)
        first = True

        def version() -> str:
            nonlocal first
            current: str = read()
            if first:
                first = False
                change()
            return current

        return version

    monkeypatch.setattr(live, versions, reading_then_changing)


def test_the_stream_says_hello_then_change(
    ctx: AppContext, web: TestClient, responder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident_id = declare(web, responder)

    def acknowledge() -> None:
        with ctx.write() as session:
            service.acknowledge(session, incident_id=incident_id, actor="rita", now=ctx.clock.now())

    _change_after_hello(monkeypatch, "_incident_version", acknowledge)
    response = web.get(f"/incidents/{incident_id}/events")  # the stream ends after 0.6 s in tests
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.text)
    assert [name for name, _ in events] == ["hello", "change"]
    assert events[0][1] != events[1][1]
    assert response.text.startswith("retry: ")


def test_a_reconnect_with_an_old_version_hears_about_the_change_at_once(web: TestClient, responder: str) -> None:
    incident_id = declare(web, responder)
    response = web.get(f"/incidents/{incident_id}/events", headers={"Last-Event-ID": "0.0.0.0"})
    assert [name for name, _ in _events(response.text)] == ["hello", "change"]
    response = web.get(f"/incidents/{incident_id}/events")
    assert [name for name, _ in _events(response.text)] == ["hello"]


def test_the_fragment_holds_every_live_section(web: TestClient, responder: str) -> None:
    incident_id = declare(web, responder)
    fragment = web.get(f"/incidents/{incident_id}/live").text
    room = web.get(f"/incidents/{incident_id}").text
    for section in ("head", "clocks", "checklist", "people", "paging", "updates", "actions", "controls", "timeline"):
        assert f'id="live-{section}"' in fragment and f'id="live-{section}"' in room
    assert 'id="room-fragment"' in fragment and "<html" not in fragment


def test_the_list_version_moves_when_any_incident_changes(ctx: AppContext, web: TestClient, responder: str) -> None:
    with ctx.read() as session:
        empty = queries.list_version(session)
    incident_id = declare(web, responder)
    with ctx.read() as session:
        declared = queries.list_version(session)
    web.post(f"/incidents/{incident_id}/acknowledge", data={"csrf_token": responder})
    with ctx.read() as session:
        acknowledged = queries.list_version(session)
    assert len({empty, declared, acknowledged}) == 3
    assert declared.endswith(".1")  # one open incident


def test_the_list_stream_hears_a_new_incident(
    ctx: AppContext, web: TestClient, responder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _change_after_hello(monkeypatch, "_list_version", lambda: declare_directly(ctx))
    response = web.get("/events")
    assert [name for name, _ in _events(response.text)] == ["hello", "change"]


@pytest.mark.parametrize("path", ["/", "/incidents"])
def test_the_lists_are_live(web: TestClient, responder: str, path: str) -> None:
    declare(web, responder)
    page = web.get(path).text
    assert 'data-events="/events"' in page and 'id="live-tables" data-live' in page
    assert re.search(r'id="live-list" data-events="/events" data-version="\d+\.1"', page)


def test_the_list_stream_needs_a_login(ctx: AppContext, settings: Settings) -> None:
    with TestClient(create_app(settings, context=ctx), follow_redirects=False) as anonymous:
        assert anonymous.get("/events").headers["location"] == "/login?next=/events"
