"""The console over HTTP: login walls, CSRF, roles, each page, and working an incident through the forms."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from missionctl.auth.roles import Role
from missionctl.clock import FrozenClock
from missionctl.context import AppContext
from tests.web.conftest import PASSWORD, csrf_of, declare, log_in, make_user

PAGES = ["/", "/incidents", "/incidents/1", "/incidents/1/live", "/runbooks", "/runbooks/RB-001", "/oncall"]
POSTS = [
    "/incidents",
    "/incidents/1/acknowledge",
    "/incidents/1/steps/1",
    "/incidents/1/updates",
    "/incidents/1/roles",
    "/incidents/1/action-items",
    "/incidents/1/action-items/1",
    "/incidents/1/transitions",
    "/incidents/1/resolve",
]


@pytest.mark.parametrize("path", [*PAGES, "/incidents/1/events"])
def test_anonymous_visitors_are_sent_to_log_in_and_back(web: TestClient, path: str) -> None:
    response = web.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={path}"


@pytest.mark.parametrize("path", [*POSTS, "/logout"])
def test_anonymous_posts_change_nothing(web: TestClient, path: str) -> None:
    response = web.post(path, data={"csrf_token": "x"})
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_status_and_login_need_no_login(web: TestClient) -> None:
    for path in ("/status", "/login"):
        response = web.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in response.headers["content-security-policy"]


def test_log_in_sets_a_safe_cookie_and_returns_to_the_page_asked_for(ctx: AppContext, web: TestClient) -> None:
    make_user(ctx, "rita", Role.RESPONDER)
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/login").text)
    assert token is not None
    form = {"username": "rita", "password": PASSWORD, "csrf_token": token.group(1), "next": "/runbooks"}
    response = web.post("/login", data=form)
    assert response.status_code == 303 and response.headers["location"] == "/runbooks"
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("mc_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie  # plain http here
    assert web.get("/runbooks").status_code == 200


def test_cookies_are_secure_behind_https(ctx: AppContext, web: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ctx, "settings", ctx.settings.model_copy(update={"public_url": "https://mc.example.com"}))
    assert "Secure" in web.get("/login").headers["set-cookie"]
    monkeypatch.setattr(ctx, "settings", ctx.settings.model_copy(update={"console_cookie_secure": False}))
    assert "Secure" not in web.get("/login").headers["set-cookie"]


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_log_in_never_redirects_off_site(ctx: AppContext, web: TestClient, target: str) -> None:
    make_user(ctx, "rita", Role.RESPONDER)
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/login").text)
    assert token is not None
    form = {"username": "rita", "password": PASSWORD, "csrf_token": token.group(1), "next": target}
    assert web.post("/login", data=form).headers["location"] == "/"


def test_a_wrong_password_says_so_without_saying_which_part(ctx: AppContext, web: TestClient) -> None:
    make_user(ctx, "rita", Role.RESPONDER)
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/login").text)
    assert token is not None
    for username in ("rita", "nobody"):
        form = {"username": username, "password": "wrong password!", "csrf_token": token.group(1)}
        response = web.post("/login", data=form)
        assert response.status_code == 401
        assert "Wrong username or password" in response.text
        assert "mc_session" not in response.headers.get("set-cookie", "")


def test_log_in_without_its_csrf_token_is_refused(ctx: AppContext, web: TestClient) -> None:
    make_user(ctx, "rita", Role.RESPONDER)
    web.get("/login")
    response = web.post("/login", data={"username": "rita", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 401 and "form expired" in response.text


def test_posts_without_the_sessions_csrf_token_are_refused(ctx: AppContext, web: TestClient, responder: str) -> None:
    for token in ("", "forged"):
        response = web.post("/incidents", data={"csrf_token": token, "runbook": "RB-001", "service": "s", "title": "t"})
        assert response.status_code == 403
        assert "csrf_failed" in response.text
    assert web.post("/incidents", data={"runbook": "RB-001", "service": "s", "title": "t"}).status_code == 403
    # The header works for scripts (fetch) instead of the form field.
    response = web.post(
        "/incidents",
        data={"runbook": "RB-001", "service": "s", "title": "t"},
        headers={"X-CSRF-Token": responder},
    )
    assert response.status_code == 303


def test_viewers_read_but_cannot_change_anything(ctx: AppContext, web: TestClient) -> None:
    make_user(ctx, "rita", Role.RESPONDER)
    make_user(ctx, "vic", Role.VIEWER)
    incident_id = declare(web, log_in(web, "rita"))
    assert incident_id == 1
    web.cookies.clear()
    csrf = log_in(web, "vic")
    room = web.get("/incidents/1")
    assert room.status_code == 200
    assert "Read-only: your role is viewer" in room.text and 'action="/incidents/1/steps/1"' not in room.text
    for path in POSTS:
        response = web.post(path, data={"csrf_token": csrf, "status": "done"})
        assert response.status_code == 403, path
        assert "needs the responder role" in response.text
    assert "declared" in web.get("/incidents/1").text


def test_every_page_renders_for_a_logged_in_user(web: TestClient, responder: str) -> None:
    declare(web, responder)
    for path in [*PAGES, "/status", "/runbooks/RB-002", "/runbooks/RB-003"]:
        response = web.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert response.headers["cache-control"] == "no-store"


def test_unknown_things_get_a_friendly_404_page(web: TestClient, responder: str) -> None:
    for path in ("/incidents/999", "/runbooks/RB-999", "/incidents/999/events"):
        response = web.get(path)
        assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
        assert "Not found" in response.text


def test_logging_out_ends_the_session(web: TestClient, responder: str) -> None:
    assert web.post("/logout", data={"csrf_token": responder}).headers["location"] == "/login"
    assert web.get("/").status_code == 303


def test_working_an_incident_through_the_room(web: TestClient, responder: str, clock: FrozenClock) -> None:
    incident_id = declare(web, responder, commander="")
    room = web.get(f"/incidents/{incident_id}").text
    assert "First 5 minutes" in room and "5m 00s left" in room and "20m 00s left" in room
    assert "rita" in room  # the declarer commands
    clock.advance(timedelta(seconds=90))
    assert "3m 30s left" in web.get(f"/incidents/{incident_id}").text

    def post(path: str, **form: str) -> None:
        response = web.post(f"/incidents/{incident_id}{path}", data=form | {"csrf_token": responder})
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith(f"/incidents/{incident_id}")

    post("/acknowledge")
    for position in (1, 2, 3):
        post(f"/steps/{position}", status="done")
    post("/updates", message="Rolling back checkout to 2.3.0.")
    post("/roles", role="scribe", assignee="sam")
    post("/roles", role="commander", assignee="carol")
    post("/action-items", title="Canary checkout releases", assignee="bob", due="2026-04-01")
    post("/transitions", to="mitigated")
    room = web.get(f"/incidents/{incident_id}").text
    assert "3/3 done" in room and "met" in room
    assert "commander handed over from rita to carol" in room
    assert "Canary checkout releases" in room

    refused = web.post(f"/incidents/{incident_id}/resolve", data={"csrf_token": responder, "evidence": "ok"})
    assert refused.status_code == 422 and "Service has recovered" in refused.text
    post("/resolve", evidence="error rate under 0.1% for 10 minutes", confirmed="yes")
    room = web.get(f"/incidents/{incident_id}").text
    assert "Resolved; recovery SLO met (confirmed by rita)" in room
    assert "error rate under 0.1% for 10 minutes" in room


def test_refused_changes_explain_why(web: TestClient, responder: str) -> None:
    incident_id = declare(web, responder)  # SEV1: needs an action item before resolving
    response = web.post(
        f"/incidents/{incident_id}/resolve",
        data={"csrf_token": responder, "evidence": "fine", "confirmed": "yes"},
        headers={"Referer": f"http://testserver/incidents/{incident_id}"},
    )
    assert response.status_code == 409
    assert "without at least one post-incident action item" in response.text
    assert f'href="http://testserver/incidents/{incident_id}"' in response.text
    bad = web.post("/incidents", data={"csrf_token": responder, "runbook": "nope", "service": "s", "title": "t"})
    assert bad.status_code == 422 and "runbook" in bad.text


def test_the_incident_list_puts_open_incidents_first_and_pages_history(web: TestClient, responder: str) -> None:
    first = declare(web, responder, severity="SEV3", title="Slow search")
    second = declare(web, responder, severity="SEV1", title="Checkout down")
    for _ in range(26):
        done = declare(web, responder, severity="SEV4", title="Old blip")
        web.post(f"/incidents/{done}/resolve", data={"csrf_token": responder, "evidence": "ok", "confirmed": "yes"})
    page = web.get("/incidents").text
    open_part, history_part = page.split("Resolved history", 1)
    assert open_part.index("Checkout down") < open_part.index("Slow search")  # most severe first
    assert f"/incidents/{first}" in open_part and f"/incidents/{second}" in open_part
    assert history_part.count("Old blip") == 25
    older = re.search(r'href="(/incidents\?before=\d+)"', page)
    assert older is not None
    assert web.get(older.group(1)).text.count("Old blip") == 1
    filtered = web.get("/incidents?severity=SEV3").text
    assert "Slow search" in filtered and "Checkout down" not in filtered


def test_home_shows_what_needs_me(ctx: AppContext, web: TestClient, responder: str) -> None:
    declare(web, responder, title="Mine", commander="rita")
    declare(web, responder, title="Nobody on it", commander="someone-else")
    page = web.get("/").text
    assert page.index("You are on these") < page.index("Mine") < page.index("Nobody has acknowledged these yet")
    assert page.index("Nobody has acknowledged these yet") < page.index("Nobody on it")


def test_the_status_page_tells_the_public_only_what_was_said_to_stakeholders(web: TestClient, responder: str) -> None:
    incident_id = declare(web, responder, title="db-7 primary lost, failover to replica 10.0.3.4")
    web.post(f"/incidents/{incident_id}/updates", data={"csrf_token": responder, "message": "Payments are slow."})
    web.cookies.clear()
    page = web.get("/status").text
    assert "Payments are slow." in page and "Major outage" in page and "checkout" in page
    assert "10.0.3.4" not in page and "rita" not in page  # internal titles and people stay inside


def test_runbook_pages_draw_the_path(web: TestClient, responder: str) -> None:
    cards = web.get("/runbooks").text
    for rb in ("RB-001", "RB-002", "RB-003"):
        assert f'href="/runbooks/{rb}"' in cards
    page = web.get("/runbooks/RB-001").text
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="runbook-path"' in page
    assert "Automated: rollback" in page


def test_the_api_still_wants_its_token(web: TestClient, responder: str) -> None:
    assert web.get("/api/v1/incidents").status_code == 401  # a console session is not an API credential
    assert web.get("/healthz").status_code == 200


def test_a_session_cookie_stops_working_after_the_idle_timeout(
    web: TestClient, responder: str, clock: FrozenClock
) -> None:
    clock.advance(timedelta(minutes=61))
    assert web.get("/").status_code == 303
    assert csrf_of  # (imported helper used by other tests)


def test_what_people_type_is_escaped_everywhere(web: TestClient, responder: str) -> None:
    incident_id = declare(web, responder, title="<script>alert(1)</script>")
    web.post(f"/incidents/{incident_id}/updates", data={"csrf_token": responder, "message": "<img src=x onerror=1>"})
    for path in (f"/incidents/{incident_id}", "/incidents", "/", "/status"):
        page = web.get(path).text
        assert "<script>alert(1)" not in page and "<img src=x" not in page, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in web.get(f"/incidents/{incident_id}").text


def test_the_status_page_keeps_90_days_of_history_in_plain_words(
    web: TestClient, responder: str, clock: FrozenClock
) -> None:
    old = declare(web, responder, title="Long ago", severity="SEV3")
    web.post(f"/incidents/{old}/resolve", data={"csrf_token": responder, "evidence": "ok", "confirmed": "yes"})
    clock.advance(timedelta(days=60))
    responder = log_in(web, "rita")  # the session timed out meanwhile
    recent = declare(web, responder, title="Recently", severity="SEV3", service="search")
    web.post(f"/incidents/{recent}/updates", data={"csrf_token": responder, "message": "Search is slow."})
    clock.advance(timedelta(minutes=42))
    web.post(f"/incidents/{recent}/resolve", data={"csrf_token": responder, "evidence": "ok", "confirmed": "yes"})
    web.cookies.clear()
    page = web.get("/status").text
    assert "Past 90 days" in page and "All systems operational." in page
    assert "Degraded performance on search for 42 minutes, resolved" in page
    assert "Degraded performance on checkout for 1 minute, resolved" in page
    assert "What we said (1 update)" in page and "Search is slow." in page
    clock.advance(timedelta(days=31))  # the first one is now 91 days old
    assert "on checkout" not in web.get("/status").text
