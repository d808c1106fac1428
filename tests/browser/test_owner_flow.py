"""A business owner's way through the site in a real browser: sign up, add the business, link its
history, apply, watch the decision arrive, accept, and find the loan and its schedule. Every page on
the way is scanned with axe-core at desktop and phone width."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.browser.support import (
    check_page,
    interactions,
    log_in,
    mark_document,
    reset_interactions,
    same_document,
    wait_for_decision,
)
from tests.clock import pinned_dates

pytestmark = pytest.mark.services

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _money(value: Decimal) -> str:
    """How the pages print an amount: thousands separated, two decimals."""
    return f"{value:,.2f}"


def _application(public_id: str):
    from loans.applications.models import Application

    return Application.objects.select_related("decision").get(public_id=public_id)


def _public_id(url: str) -> str:
    return re.search(UUID, url).group(0)


@pinned_dates
def test_a_new_owner_signs_up_links_history_applies_and_accepts_the_offer(
    page, server, browser_world, screenshot_dir
):
    from loans.applications.models import ApplicationStatus, Loan

    merchant = browser_world.take("approved")
    email, password = "new-owner@owners.example.com", "a-long-passphrase-310"

    # given a visitor on the landing page
    page.goto("/")
    check_page(page, "landing", screenshot_dir)

    # when they create an account
    page.get_by_role("link", name="Create an account").click()
    expect(page).to_have_url(f"{server}/signup/")
    check_page(page, "signup", screenshot_dir)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Confirm password").fill(password)
    page.get_by_role("button", name="Create account").click()

    # then they are logged in on their (empty) dashboard
    expect(page).to_have_url(f"{server}/")
    expect(page.get_by_text(email)).to_be_visible()
    check_page(page, "dashboard-new-owner", screenshot_dir)

    # when they add their business
    page.get_by_role("link", name="Add your business").click()
    check_page(page, "business-new", screenshot_dir)
    page.get_by_label("Business name").fill("Lotus Tea House")
    page.get_by_label("Registration number").fill("91310000MA1FL0001X")
    page.get_by_label("Sector").fill("restaurant")
    page.get_by_label("Region").fill("east")
    page.get_by_label("Established on").fill("2019-04-01")
    page.get_by_role("button", name="Save business").click()

    # then they are asked to link its history, and claim a simulated merchant
    expect(page).to_have_url(re.compile(rf"/business/{UUID}/history/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Lotus Tea House")
    check_page(page, "history", screenshot_dir)
    page.get_by_label("Demo merchant ID").fill(merchant)
    page.get_by_role("button", name="Replace with this demo merchant").click()

    # then the demo merchant has taken the place of the business they added, and the dashboard offers
    # to apply with it, with a suggested amount
    from accounts.models import Business

    claimed = Business.objects.get(external_id=merchant, partner__slug="demo")
    expect(page).to_have_url(f"{server}/")
    expect(page.get_by_role("status").first).to_contain_text("It replaces Lotus Tea House")
    expect(page.get_by_role("heading", name="Lotus Tea House")).to_have_count(0)
    suggested = browser_world.amounts[merchant]
    card = page.get_by_role("region", name=claimed.legal_name)
    expect(card).to_contain_text("Ready to apply")
    expect(card).to_contain_text(_money(Decimal(suggested)) + " CNY")
    check_page(page, "dashboard", screenshot_dir)

    # when they apply with the suggestion
    page.get_by_role("link", name="Apply for a loan").click()
    expect(page.get_by_label("Amount")).to_have_value(suggested)
    expect(page.get_by_label("Term (months)")).not_to_have_value("")
    check_page(page, "apply", screenshot_dir)
    page.get_by_label("Purpose").select_option(label="Stock and inventory")
    page.get_by_role("button", name="Submit application").click()

    # then the progress page shows the decision by itself, without a reload
    expect(page).to_have_url(re.compile(rf"/applications/{UUID}/$"))
    mark_document(page)
    heading = wait_for_decision(page)
    assert same_document(page), "the page was reloaded or left to show the decision"
    assert "Approved" in heading
    application = _application(_public_id(page.url))
    decision = application.decision
    assert application.status == ApplicationStatus.APPROVED
    assert application.amount == Decimal(suggested)
    assert application.purpose == "inventory"
    assert decision.offered_amount == Decimal(suggested)
    offer = page.get_by_role("region", name="Your offer")
    for figure in (decision.offered_amount, decision.instalment, decision.total_repayable):
        expect(offer).to_contain_text(_money(figure))
    expect(offer).to_contain_text(f"{decision.term_months} months")
    schedule = page.get_by_role("table", name="Monthly repayments of the offer")
    expect(schedule.locator("tbody tr")).to_have_count(decision.term_months)
    expect(page.get_by_role("region", name="What helped").get_by_role("listitem").first).to_be_visible()
    expect(page.get_by_role("button", name="Reject offer")).to_be_visible()
    check_page(page, "decision-approved", screenshot_dir)

    # when they accept the offer
    page.get_by_role("button", name="Accept offer").click()

    # then the loan exists with its schedule, paid out on the demo channel
    expect(page).to_have_url(re.compile(rf"/loans/{UUID}/$"))
    loan = Loan.objects.get(public_id=_public_id(page.url))
    application.refresh_from_db()
    assert application.status in (ApplicationStatus.ACCEPTED, ApplicationStatus.DISBURSED)
    assert loan.application_id == application.pk
    assert loan.principal == decision.offered_amount
    assert loan.total_repayable == decision.total_repayable
    instalments = list(loan.instalments.order_by("number"))
    assert len(instalments) == decision.term_months
    assert sum(i.amount for i in instalments) == loan.total_repayable
    assert sum(i.principal for i in instalments) == loan.principal
    expect(page.get_by_role("heading", level=1)).to_contain_text(_money(loan.principal))
    rows = page.get_by_role("table", name="Monthly repayments of this loan").locator("tbody tr")
    expect(rows).to_have_count(len(instalments))
    first, last = instalments[0], instalments[-1]
    expect(rows.first).to_contain_text(_money(first.amount))
    expect(rows.first).to_contain_text(f"{first.due_on.day} {first.due_on:%b %Y}")
    expect(rows.last).to_contain_text(_money(last.amount))
    check_page(page, "loan", screenshot_dir)

    # and "my applications and loans" lists both
    page.goto("/applications/")
    expect(page.get_by_role("heading", level=1)).to_have_text("My applications and loans")
    loans_table = page.get_by_role("table", name="Your loans")
    expect(loans_table.locator("tbody tr")).to_have_count(1)
    expect(loans_table).to_contain_text(_money(loan.principal))
    applications_table = page.get_by_role("table", name=re.compile("Your applications"))
    expect(applications_table.locator("tbody tr")).to_have_count(1)
    expect(applications_table).to_contain_text(application.get_status_display())
    check_page(page, "applications", screenshot_dir)


def test_an_owner_with_several_businesses_sees_each_with_where_it_stands_and_its_next_step(
    page, server, browser_world, make_owner, screenshot_dir
):
    from accounts.models import Business, User
    from loans.businesses import services

    # given an owner with two demo merchants and a business they added, without history
    first, second = browser_world.take("approved"), browser_world.take("approved")
    email, password = make_owner(first)
    owner = User.objects.get(email=email)
    assert Business.objects.filter(partner__slug="demo", external_id=second, owner__isnull=True).update(owner=owner)
    offered, ready = (Business.objects.get(partner__slug="demo", external_id=m) for m in (first, second))
    empty = services.business_create_for_owner(owner=owner, legal_name="Zhou's New Shop", sector="home_goods",
                                               region="south")
    log_in(page, email, password)

    # when they apply with the first business from its own card, and go back to the dashboard
    page.get_by_role("region", name=offered.legal_name).get_by_role("link", name="Apply for a loan").click()
    expect(page.locator(".card.narrow p").first).to_contain_text(offered.legal_name)
    page.get_by_role("button", name="Submit application").click()
    assert "Approved" in wait_for_decision(page)
    offer_url = page.url
    page.get_by_role("link", name="Dashboard").click()

    # then each business shows where it stands, with its own next step and no internal ids
    card = page.get_by_role("region", name=offered.legal_name)
    expect(card).to_contain_text("Offer waiting for your answer")
    expect(card.get_by_role("link", name="Apply for a loan")).to_have_count(0)
    expect(page.get_by_role("region", name=ready.legal_name).get_by_role("link", name="Apply for a loan")).to_have_attribute(
        "href", f"/business/{ready.public_id}/apply/")
    card = page.get_by_role("region", name=empty.legal_name)
    expect(card).to_contain_text("No history linked")
    expect(card).to_contain_text("Home goods · South")
    expect(card.get_by_role("link", name="Link transaction history")).to_be_visible()
    for business in (offered, ready, empty):
        expect(page.get_by_text(business.external_id)).to_have_count(0)
    check_page(page, "dashboard-several-businesses", screenshot_dir)

    # and the open offer is one click away
    page.get_by_role("region", name=offered.legal_name).get_by_role("link", name="See the offer").click()
    expect(page).to_have_url(offer_url)
    expect(page.get_by_role("button", name="Accept offer")).to_be_visible()


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_a_returning_owner_reaches_a_decision_in_at_most_four_interactions(
    new_page, viewport, browser_world, make_owner, capsys
):
    from tests.browser.support import DESKTOP, MOBILE

    # given a returning owner whose history is linked, on their dashboard
    page = new_page(DESKTOP if viewport == "desktop" else MOBILE)
    email, password = make_owner(browser_world.take("approved"))
    log_in(page, email, password)
    reset_interactions(page)

    # when they apply with what the form suggests (amount, term and purpose are pre-filled)
    page.get_by_role("link", name="Apply for a loan").click()
    page.get_by_role("button", name="Submit application").click()
    heading = wait_for_decision(page)

    # then the decision is on screen after at most four clicks or submissions
    steps = interactions(page)
    with capsys.disabled():
        print(f"\n[{viewport}] dashboard to decision ({heading!r}): {len(steps)} interactions: {steps}")
    assert 2 <= len(steps) <= 4, steps
    assert _application(_public_id(page.url)).decision_id is not None


def test_a_declined_application_shows_its_reasons_and_what_would_help(
    page, browser_world, make_owner, screenshot_dir
):
    from loans.applications.models import ApplicationStatus

    # given an owner whose business the engine declines
    merchant = browser_world.take("declined")
    email, password = make_owner(merchant)
    log_in(page, email, password)

    # when they apply (no amount is suggested to a business the engine would not lend to)
    page.get_by_role("link", name="Apply for a loan").click()
    expect(page.get_by_label("Amount")).to_have_value("")
    page.get_by_label("Amount").fill(browser_world.amounts[merchant])
    page.get_by_label("Purpose").select_option("equipment")
    page.get_by_role("button", name="Submit application").click()
    heading = wait_for_decision(page)

    # then the page says so, with the decision's own reasons in plain language and no offer
    assert "Declined" in heading
    application = _application(_public_id(page.url))
    assert application.status == ApplicationStatus.DECLINED
    reasons = [r["text"] for r in application.decision.reasons]
    assert 1 <= len(reasons) <= 4
    listed = page.locator("ol.reasons > li")
    expect(listed).to_have_count(len(reasons))
    for item, text in zip(listed.all(), reasons, strict=True):
        expect(item).to_contain_text(text)
    expect(page.get_by_role("heading", name="What would most improve the outcome")).to_be_visible()
    expect(page.locator("ul.advice > li").first).to_be_visible()
    expect(page.get_by_role("button", name="Accept offer")).to_have_count(0)
    check_page(page, "decision-declined", screenshot_dir)


def test_a_counter_offer_says_what_was_asked_what_is_offered_and_why_and_can_be_rejected(
    page, browser_world, make_owner, screenshot_dir
):
    from loans.applications.models import ApplicationStatus, Loan

    # given an owner who asks for twice what their sales support
    merchant = browser_world.take("counter_offer")
    asked = Decimal(browser_world.doubled[merchant])
    log_in(page, *make_owner(merchant))
    page.get_by_role("link", name="Apply for a loan").click()
    page.get_by_label("Amount").fill(str(asked))
    page.get_by_role("button", name="Submit application").click()

    # then a smaller amount is offered, with the reasons, and both answers are possible
    assert "Counter-offer" in wait_for_decision(page)
    application = _application(_public_id(page.url))
    decision = application.decision
    assert application.status == ApplicationStatus.COUNTER_OFFERED
    assert decision.requested_amount == asked
    assert Decimal("0") < decision.offered_amount < asked
    expect(page.get_by_text(f"You asked for {_money(asked)}")).to_be_visible()
    expect(page.get_by_role("region", name="Your offer")).to_contain_text(_money(decision.offered_amount))
    expect(page.locator("ol.reasons > li")).to_have_count(len(decision.reasons))
    expect(page.get_by_role("button", name="Accept offer")).to_be_visible()
    check_page(page, "decision-counter-offer", screenshot_dir)

    # when the owner rejects it
    page.get_by_role("button", name="Reject offer").click()

    # then the application is rejected, no loan exists, and the offer can no longer be accepted
    expect(page.get_by_text("You turned this offer down")).to_be_visible()
    application.refresh_from_db()
    assert application.status == ApplicationStatus.REJECTED
    assert not Loan.objects.filter(application=application).exists()
    expect(page.get_by_role("button", name="Accept offer")).to_have_count(0)


def test_a_pending_application_can_be_withdrawn_and_is_never_decided_afterwards(
    page, browser_world, make_owner, celery_worker_process, redis_broker, screenshot_dir
):
    import os
    import signal

    import redis

    from loans.applications.models import ApplicationStatus
    from tests.conftest import wait_for
    from underwriting.decisions.models import Decision

    email, password = make_owner(browser_world.take("approved"))
    log_in(page, email, password)
    page.get_by_role("link", name="Apply for a loan").click()
    page.get_by_label("Purpose").select_option("seasonal")

    # given the worker is paused, so the application stays pending
    os.kill(celery_worker_process.pid, signal.SIGSTOP)
    try:
        page.get_by_role("button", name="Submit application").click()
        expect(page.get_by_role("heading", level=1)).not_to_have_text(re.compile("Approved|Counter-offer|Declined"))
        expect(page.get_by_role("status").filter(has_text="being decided")).to_be_visible()
        check_page(page, "progress", screenshot_dir)

        # when the owner withdraws it
        page.get_by_role("button", name="Withdraw application").click()
        expect(page.get_by_text("You withdrew this application")).to_be_visible()
    finally:
        os.kill(celery_worker_process.pid, signal.SIGCONT)

    # then, once the worker has taken the queued decision task, it is still withdrawn and undecided
    broker = redis.Redis.from_url(redis_broker)
    wait_for(lambda: broker.llen("celery") == 0 and broker.hlen("unacked") == 0, timeout=30)
    application = _application(_public_id(page.url))
    assert application.status == ApplicationStatus.WITHDRAWN
    assert application.decision_id is None
    assert not Decision.objects.filter(application_ref=application.public_id).exists()
    assert list(application.transitions.values_list("to_status", flat=True))[-1] == ApplicationStatus.WITHDRAWN


def test_one_owner_cannot_open_or_act_on_another_owners_application(
    new_page, server, browser_world, make_owner, screenshot_dir
):
    from loans.applications.models import ApplicationStatus

    # given an owner with an open offer
    alice = new_page()
    log_in(alice, *make_owner(browser_world.take("approved")))
    alice.get_by_role("link", name="Apply for a loan").click()
    alice.get_by_label("Purpose").select_option("working_capital")
    alice.get_by_role("button", name="Submit application").click()
    assert "Approved" in wait_for_decision(alice)
    url = alice.url
    public_id = _public_id(url)

    # when another owner opens that address, polls it, or posts an acceptance to it
    bob = new_page()
    log_in(bob, *make_owner())
    token = bob.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    response = bob.goto(url)
    assert response.status == 404
    check_page(bob, "not-found", screenshot_dir)
    assert bob.request.get(f"{url}status/").status == 404
    accepted = bob.request.post(f"{url}accept/", form={"csrfmiddlewaretoken": token})
    assert accepted.status == 404

    # then nothing changed for the owner
    assert _application(public_id).status == ApplicationStatus.APPROVED
    assert alice.goto(url).status == 200
