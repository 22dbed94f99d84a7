"""Automation in a real browser: a rollback under approval between two responders, live; the release ledger and
the analyzer pages, accessible on a desktop and a phone."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    RESPONDER_PASSWORD,
    Server,
    log_in,
    new_page,
    screenshot,
    serious_violations,
)
from tests.browser.test_console import declare

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def responder(browser: Browser, server: Server, username: str, *, width: int = 1280) -> Page:
    page = new_page(browser, width=width, height=900 if width > 400 else 812)
    log_in(page, server, username, RESPONDER_PASSWORD)
    return page


WIDER_THAN_THE_WINDOW = """() => [...document.querySelectorAll("main *")]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(-5).map(e => e.parentElement.tagName + ">" + e.tagName.toLowerCase() + "." + e.className + " "
    + Math.round(e.getBoundingClientRect().right) + " " + e.textContent.slice(0, 40))"""


def fits(page: Page) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{page.url} scrolls sideways by {overflow}px: {page.evaluate(WIDER_THAN_THE_WINDOW)}"


def test_a_rollback_is_requested_by_one_responder_and_approved_by_another(browser: Browser, server: Server) -> None:
    alice = responder(browser, server, "alice")
    incident_id = declare(alice, server, title="Checkout 500s after 2.0.0")
    room = alice.locator("#live-automation")
    expect(room).to_contain_text("Last known healthy: 1.0.0")
    expect(room).to_contain_text("current: 2.0.0")

    # The preview shows exactly what would run, and runs nothing.
    alice.get_by_role("button", name="Preview (dry run) of deploy.rollback").click()
    expect(room).to_contain_text("Would roll back checkout from 2.0.0 to 1.0.0")
    expect(room.locator("dl.preview").first).to_contain_text(str(server.files.marker))
    assert not server.files.marker.exists()

    alice.get_by_role("button", name="Request approval for deploy.rollback").click()
    pending = room.locator("li.execution", has_text="pending approval").first
    expect(pending).to_contain_text("You requested this; another responder must approve.")
    expect(pending.get_by_role("button", name=re.compile("^Approve"))).to_have_count(0)

    bob = responder(browser, server, "bob")
    bob.goto(f"{server.url}/incidents/{incident_id}")
    request = bob.locator("#live-automation li.execution", has_text="pending approval").first
    request.get_by_role("button", name=re.compile("^Approve deploy.rollback")).click()

    # Alice's room follows without a reload: approved, run by the workers, succeeded.
    done = room.locator("li.execution", has_text="Approved by").first
    expect(done).to_contain_text("succeeded", timeout=20_000)
    expect(done).to_contain_text("bob")
    expect(done).to_contain_text("Rolled back checkout from 2.0.0 to 1.0.0")
    assert server.files.marker.read_text() == "1.0.0"
    expect(alice.locator("#live-timeline")).to_contain_text("Rolled back checkout from 2.0.0 to 1.0.0")

    done.get_by_text("Inputs and output").click()
    expect(done.locator("pre.json").first).to_be_visible()
    assert serious_violations(alice) == []
    fits(alice)
    screenshot(alice, "incident-room-actions-desktop")
    for tab in (alice, bob):
        tab.context.close()


@pytest.mark.parametrize(("width", "suffix"), [(1280, "desktop"), (375, "phone")])
def test_automation_pages_are_accessible_and_fit(browser: Browser, server: Server, width: int, suffix: str) -> None:
    page = responder(browser, server, "alice", width=width)
    incident_id = declare(page, server, title=f"Actions panel ({suffix})", severity="SEV2")
    page.get_by_role("button", name="Preview (dry run) of deploy.freeze").click()
    expect(page.locator("#live-automation")).to_contain_text("Would freeze deployments of checkout")
    for name, path in (
        ("incident-room-actions", f"/incidents/{incident_id}"),
        ("releases", "/releases"),
        ("analyzer", "/analyzer"),
        ("analyzer-report", f"/analyzer/{server.report_id}"),
    ):
        page.goto(server.url + path)
        assert serious_violations(page) == [], name
        fits(page)
        if suffix == "phone" or name != "incident-room-actions":
            screenshot(page, f"{name}-{suffix}")
    page.context.close()


def test_freezing_and_lifting_by_hand_and_asking_for_an_index(browser: Browser, server: Server) -> None:
    page = responder(browser, server, "alice")
    page.goto(f"{server.url}/releases?service=checkout")
    expect(page.locator("table.ledger-table")).to_contain_text("2.0.0")
    page.get_by_label("For how many minutes").fill("45")
    page.get_by_label("Reason").fill("Holiday traffic peak")
    page.get_by_role("button", name="Freeze deployments").click()
    expect(page).to_have_url(re.compile(r"/releases\?service=checkout"))
    freeze = page.locator(".freezes li", has_text="Holiday traffic peak")
    expect(freeze).to_contain_text("by alice")
    freeze.get_by_role("button", name=re.compile("^Lift")).click()
    expect(page.locator(".freezes li", has_text="Holiday traffic peak")).to_have_count(0)

    page.goto(f"{server.url}/analyzer")
    page.get_by_role("link", name=re.compile(f"#{server.report_id} ")).click()
    page.get_by_role("button", name=re.compile("^Create index")).click()
    recommendation = page.locator("#rec-0")
    expect(recommendation).to_contain_text("You requested this; another responder must approve.")
    bob = responder(browser, server, "bob")
    bob.goto(f"{server.url}/analyzer/{server.report_id}")
    bob.locator("#rec-0").get_by_role("button", name=re.compile("^Decline")).click()
    expect(bob.locator("#rec-0")).to_contain_text("declined")
    expect(bob).to_have_url(re.compile(rf"/analyzer/{server.report_id}#rec-0$"))
    for tab in (page, bob):
        tab.context.close()
