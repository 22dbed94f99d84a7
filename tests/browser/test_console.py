"""The console in a real browser: the 3 a.m. journey from login to resolve, live updates, accessibility, screenshots."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Server, log_in, new_page, screenshot, serious_violations

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def declare(page: Page, server: Server, *, title: str, severity: str = "SEV1", service: str = "checkout") -> int:
    page.goto(f"{server.url}/incidents")
    summary = page.locator("details.declare > summary")
    if page.locator("details.declare[open]").count() == 0:
        summary.click()
    form = page.locator("details.declare form")
    form.get_by_label("Runbook").select_option("RB-001")
    form.get_by_label("Severity").select_option(severity)
    form.get_by_label("Service").fill(service)
    form.get_by_label("What is happening").fill(title)
    page.get_by_role("button", name="Declare incident").click()
    page.wait_for_url(re.compile(r".*/incidents/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def test_the_on_call_journey(browser: Browser, server: Server) -> None:
    page = new_page(browser)
    page.goto(f"{server.url}/incidents")
    expect(page).to_have_url(re.compile(r"/login\?next=/incidents$"))
    log_in(page, server)

    incident_id = declare(page, server, title="Checkout 500s after 2.3.1")
    expect(page.locator("h1")).to_contain_text("Checkout 500s after 2.3.1")

    # The first-five-minutes countdown moves by itself.
    first_clock = page.locator("#clock-first .countdown")
    before = first_clock.inner_text()
    assert re.fullmatch(r"4m \d\ds left|5m 00s left", before), before
    page.wait_for_timeout(2_100)
    assert first_clock.inner_text() != before

    # A second responder's tab sees every change live, without a reload.
    watcher = new_page(browser)
    log_in(watcher, server)
    watcher.goto(f"{server.url}/incidents/{incident_id}")
    expect(watcher.locator("#live-checklist")).to_contain_text("0/3 done")

    page.get_by_role("button", name="Done (step 1)").click()
    started = time.monotonic()
    expect(watcher.locator("#live-checklist")).to_contain_text("1/3 done", timeout=5_000)
    live_seconds = time.monotonic() - started
    page.get_by_role("button", name="Done (step 2)").click()
    page.get_by_role("button", name="Skip (step 3)").click()
    expect(page.locator("#live-checklist")).to_contain_text("3/3 done")
    expect(page.locator("#clock-first")).to_contain_text("met")
    expect(watcher.locator("#live-checklist")).to_contain_text("3/3 done")
    assert live_seconds < 3, live_seconds  # the bench measures the real figure; this only guards against polling

    page.get_by_role("button", name="Acknowledge: I'm on it").click()
    expect(watcher.locator("#live-people")).to_contain_text("admin at")

    page.get_by_label("Message").fill("Checkout errors after release 2.3.1; rolling back to 2.3.0.")
    page.get_by_role("button", name="Post update").click()
    expect(watcher.locator("#live-updates")).to_contain_text("rolling back to 2.3.0")

    public = new_page(browser)
    public.goto(f"{server.url}/status")
    expect(public.locator("main")).to_contain_text("rolling back to 2.3.0")
    expect(public.locator("main")).to_contain_text("Major outage")
    expect(public.locator("main")).not_to_contain_text("admin")

    page.get_by_label("Follow-up").fill("Canary checkout releases")
    page.get_by_label("Assignee").fill("bob")
    page.get_by_label("Due").fill((datetime.now(UTC) + timedelta(days=14)).strftime("%Y-%m-%d"))
    page.get_by_role("button", name="Add action item").click()
    expect(page.locator("#live-actions")).to_contain_text("Canary checkout releases")

    page.get_by_label("Recovery evidence").fill("Error rate under 0.1% for 10 minutes")
    page.get_by_label("Service has recovered").check()
    page.get_by_role("button", name="Resolve incident").click()
    expect(page.locator("#live-head")).to_contain_text("resolved")
    expect(page.locator("#live-timeline")).to_contain_text("recovery SLO met")
    expect(watcher.locator("#live-head")).to_contain_text("resolved")
    public.reload()
    expect(public.locator(".banner")).to_contain_text("All systems operational")
    for tab in (page, watcher, public):
        tab.context.close()


PAGES = [
    ("now", "/"),
    ("incidents", "/incidents"),
    ("incident-room", "/incidents/{id}"),
    ("runbooks", "/runbooks"),
    ("runbook-rb-001", "/runbooks/RB-001"),
    ("oncall", "/oncall"),
    ("reports", "/reports"),
    ("status", "/status"),
]


@pytest.mark.parametrize(("width", "suffix"), [(1280, "desktop"), (375, "phone")])
def test_every_page_is_accessible_and_fits(browser: Browser, server: Server, width: int, suffix: str) -> None:
    page = new_page(browser, width=width, height=900 if width > 400 else 812)
    page.goto(f"{server.url}/login")
    assert serious_violations(page) == []
    if suffix == "desktop":
        screenshot(page, f"login-{suffix}")
    log_in(page, server)
    incident_id = declare(page, server, title=f"Checkout latency ({suffix})", severity="SEV2")
    page.get_by_role("button", name="Done (step 1)").click()
    expect(page.locator("#live-checklist")).to_contain_text("1/3 done")
    for name, path in PAGES:
        page.goto(server.url + path.format(id=incident_id))
        assert serious_violations(page) == [], name
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{name} scrolls sideways by {overflow}px at {width}px"
        screenshot(page, f"{name}-{suffix}")
    page.context.close()


def test_the_keyboard_alone_reaches_the_checklist(browser: Browser, server: Server) -> None:
    page = new_page(browser)
    log_in(page, server)
    incident_id = declare(page, server, title="Keyboard only", severity="SEV3")
    page.goto(f"{server.url}/incidents/{incident_id}")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.keyboard.press("Enter")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "step-1-done":
            break
    else:
        pytest.fail("Tab never reached the first checklist step")
    page.keyboard.press("Enter")
    expect(page.locator("#live-checklist")).to_contain_text("1/3 done")
    page.context.close()


def test_reports_show_charts_with_tables_and_the_lists_update_live(browser: Browser, server: Server) -> None:
    page = new_page(browser)
    log_in(page, server)
    watcher = new_page(browser)
    log_in(watcher, server)
    watcher.goto(f"{server.url}/incidents")
    incident_id = declare(page, server, title="Reports and live lists", severity="SEV3")
    expect(watcher.locator("#live-tables")).to_contain_text("Reports and live lists", timeout=5_000)
    page.get_by_role("button", name="Acknowledge: I'm on it").click()
    page.goto(f"{server.url}/reports?group_by=severity&weeks=4")
    expect(page.locator("svg.chart")).to_have_count(4)
    expect(page.locator("table.figures")).to_contain_text("SEV3")
    page.get_by_text("MTTA as a table").click()
    expect(page.get_by_role("region", name="MTTA per week")).to_be_visible()
    assert serious_violations(page) == []
    page.get_by_label("Group by").select_option("runbook")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"group_by=runbook"))
    expect(page.locator("table.figures")).to_contain_text("RB-001")
    assert incident_id > 0
    for tab in (page, watcher):
        tab.context.close()


def test_subscribing_on_the_status_page(browser: Browser, server: Server) -> None:
    page = new_page(browser, width=375, height=812)
    page.goto(f"{server.url}/status")
    page.get_by_label("Email address or webhook URL").fill("stakeholder@example.com")
    page.get_by_label("About").select_option(label="Checkout")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.locator("#subscribe")).to_contain_text("Check your inbox")
    assert serious_violations(page) == []
    page.get_by_role("radio", name="Webhook").check()
    page.get_by_label("Email address or webhook URL").fill("https://hooks.example.com/status")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.locator("#subscribe")).to_contain_text("confirm_url")
    page.context.close()
