"""The owner's pages at phone width and the site's own error pages, in a real browser: every table
fits or scrolls sideways with a visible cue and a keyboard-focusable region, inputs are styled alike,
404/403/500 are the site's pages with a way back, and the favicon is served. Each page is scanned
with axe-core at 1280 and 375 px."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.support import DESKTOP, MOBILE, check_page, log_in, wait_for_decision

pytestmark = pytest.mark.services

BRAND_BLUE = "rgb(11, 95, 255)"


def _styled(page: Page) -> None:
    """The site's stylesheet applies: its button colour and its font, not the browser's defaults."""
    expect(page.locator("a.button").first).to_have_css("background-color", BRAND_BLUE)
    assert "system-ui" in page.evaluate("() => getComputedStyle(document.documentElement).fontFamily")


def _reaches_last_column(page: Page, region_name: str, last_header: str) -> None:
    """At the current width, the table in `region_name` either fits, or scrolls sideways: then a line
    above it says so, the region takes the keyboard focus, and arrow keys bring the last column fully
    into view."""
    region = page.get_by_role("region", name=region_name)
    header = region.get_by_role("columnheader", name=last_header)
    # From its first column, with the header row on screen.
    region.evaluate("(el) => { el.scrollLeft = 0; el.scrollIntoView({block: 'start'}); }")
    overflow = region.evaluate("(el) => el.scrollWidth - el.clientWidth")
    if overflow <= 1:
        expect(header).to_be_in_viewport(ratio=0.98)
        return
    expect(header).not_to_be_in_viewport(ratio=0.98)
    hint = page.locator(".scroll-hint:not([hidden])").filter(has_text="Scroll the table sideways")
    expect(hint.first).to_be_visible()
    region.focus()
    expect(region).to_be_focused()
    for _ in range(40):
        page.keyboard.press("ArrowRight")
        if region.evaluate("(el) => el.scrollLeft + el.clientWidth >= el.scrollWidth - 1"):
            break
    expect(header).to_be_in_viewport(ratio=0.98)


def test_at_phone_width_every_table_fits_or_scrolls_visibly_to_its_last_column(
    new_page, browser_world, make_owner, screenshot_dir
):
    # given an owner with a loan, on a 375 px phone
    page = new_page(MOBILE)
    log_in(page, *make_owner(browser_world.take("approved")))
    page.get_by_role("link", name="Apply for a loan").click()
    page.get_by_role("button", name="Submit application").click()
    assert "Approved" in wait_for_decision(page)

    # then the offer's schedule reaches its Interest and Balance columns
    _reaches_last_column(page, "Monthly repayments of the offer", "Balance after (CNY)")
    page.get_by_role("button", name="Accept offer").click()
    expect(page).to_have_url(re.compile(r"/loans/"))

    # and so does the loan's
    _reaches_last_column(page, "Monthly repayments of this loan", "Interest (CNY)")
    _reaches_last_column(page, "Monthly repayments of this loan", "Balance after (CNY)")
    check_page(page, "loan-schedule-phone", screenshot_dir)

    # and the list of applications reaches its Status column, the list of loans too
    page.goto("/applications/")
    _reaches_last_column(page, "Your applications, newest first", "Status")
    _reaches_last_column(page, "Your loans", "Status")
    page.goto("/")
    _reaches_last_column(page, "Your five most recent applications", "Status")

    # at desktop width they fit
    page.set_viewport_size(DESKTOP)
    page.goto("/applications/")
    expect(page.locator(".scroll-hint:not([hidden])")).to_have_count(0)
    _reaches_last_column(page, "Your applications, newest first", "Status")


def test_the_date_field_is_styled_like_the_other_fields(page, make_owner):
    log_in(page, *make_owner())
    page.goto("/business/new/")

    text, date = page.get_by_label("Business name"), page.get_by_label("Established on")
    for prop in ("border-top-width", "border-top-color", "border-radius", "padding-left", "font-size",
                 "background-color"):
        expect(date).to_have_css(prop, text.evaluate(f"(el) => getComputedStyle(el).getPropertyValue('{prop}')"))
    assert date.bounding_box()["width"] == text.bounding_box()["width"]


def test_error_pages_are_the_sites_own_with_a_way_back(page, server, make_owner, screenshot_dir):
    # given an owner (not staff), signed in
    email, password = make_owner()
    log_in(page, email, password)

    # when they open an address that does not exist
    response = page.goto("/no/such/page/")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    _styled(page)
    check_page(page, "not-found-address", screenshot_dir)

    # when they open the staff-only risk dashboard
    response = page.goto("/risk/dashboard/")
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("This page is not open to your account")
    expect(page.get_by_text(email)).to_be_visible()
    _styled(page)
    check_page(page, "forbidden", screenshot_dir)
    page.get_by_role("link", name="Back to your dashboard").click()
    expect(page).to_have_url(f"{server}/")

    # when the server fails
    response = page.goto("/__test__/500/")
    assert response.status == 500
    expect(page.get_by_role("heading", level=1)).to_have_text("Something went wrong on our side")
    expect(page.get_by_text("SECRET-DETAIL-310")).to_have_count(0)
    expect(page.get_by_text("Traceback")).to_have_count(0)
    _styled(page)
    check_page(page, "server-error", screenshot_dir)
    page.get_by_role("link", name="Back to the start").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your dashboard")


def test_the_favicon_is_linked_and_favicon_ico_is_served(page):
    page.goto("/login/")

    icon = page.locator('link[rel="icon"]')
    expect(icon).to_have_attribute("type", "image/svg+xml")
    linked = page.request.get(icon.get_attribute("href"))
    legacy = page.request.get("/favicon.ico")  # what browsers ask for on their own (redirects followed)

    assert linked.status == 200 and linked.headers["content-type"].startswith("image/svg+xml")
    assert legacy.status == 200 and legacy.body() == linked.body()
