"""Live updates: the room's event stream says "change" soon after anything in the incident changes."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient

from missionctl.context import AppContext
from missionctl.incidents import service
from missionctl.web import queries
from tests.web.conftest import declare


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


def test_the_stream_says_hello_then_change(ctx: AppContext, web: TestClient, responder: str) -> None:
    incident_id = declare(web, responder)

    def change_soon() -> None:
        time.sleep(0.25)
        with ctx.write() as session:
            service.acknowledge(session, incident_id=incident_id, actor="rita", now=ctx.clock.now())

    worker = threading.Thread(target=change_soon)
    worker.start()
    response = web.get(f"/incidents/{incident_id}/events")  # the stream ends after 0.6 s in tests
    worker.join()
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
