"""Bad input on every owner form: the error is shown next to the field it is about (and announced
with it), what was typed is kept, and nothing is stored. Also the CSV history upload, whose row-level
errors are listed by line and which imports all or nothing."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.support import check_page, log_in

pytestmark = pytest.mark.services

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def field_error(page: Page, label: str, exact: bool = False) -> str:
    """The error message attached to the field labelled `label`: the field is marked invalid, its
    aria-describedby names the error, and the error sits in the field's own block."""
    field = page.get_by_label(label, exact=exact)
    expect(field).to_have_attribute("aria-invalid", "true")
    described = field.get_attribute("aria-describedby") or ""
    error_ids = [i for i in described.split() if i.endswith("-error")]
    assert error_ids, f"{label!r} has no error in aria-describedby ({described!r})"
    error = page.locator(f"#{error_ids[0]}")
    expect(error).to_be_visible()
    # Next to the field: the error and the input share the field's wrapper.
    wrapper = page.locator(".field").filter(has=page.locator(f"#{error_ids[0]}"))
    expect(wrapper.get_by_label(label, exact=exact)).to_have_count(1)
    return error.inner_text()


def _new_business(page: Page, name: str) -> str:
    page.goto("/business/new/")
    page.get_by_label("Business name").fill(name)
    page.get_by_label("Sector").fill("grocery")
    page.get_by_label("Region").fill("north")
    page.get_by_label("Established on").fill("2020-02-02")
    page.get_by_role("button", name="Save business").click()
    expect(page).to_have_url(re.compile(rf"/business/{UUID}/history/$"))
    return re.search(UUID, page.url).group(0)


def test_sign_up_errors_are_shown_next_to_their_fields_and_create_nothing(page, make_owner, screenshot_dir):
    from accounts.models import User

    taken, _ = make_owner()
    page.goto("/signup/")

    # when the passwords differ
    page.get_by_label("Email").fill("someone@owners.example.com")
    page.get_by_label("Password", exact=True).fill("a-long-passphrase-310")
    page.get_by_label("Confirm password").fill("a-different-passphrase")
    page.get_by_role("button", name="Create account").click()
    # then the confirmation says so, the email is kept, and no account exists
    assert "match" in field_error(page, "Confirm password").lower()
    expect(page.get_by_label("Email")).to_have_value("someone@owners.example.com")
    expect(page.get_by_role("alert").first).to_be_visible()
    check_page(page, "signup-errors", screenshot_dir)
    assert not User.objects.filter(email="someone@owners.example.com").exists()

    # when the email is not an email and the password is too short
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Confirm password").fill("short")
    page.get_by_role("button", name="Create account").click()
    assert "email" in field_error(page, "Email").lower()
    assert field_error(page, "Password", exact=True)

    # when the email already has an account
    page.get_by_label("Email").fill(taken)
    page.get_by_label("Password", exact=True).fill("a-long-passphrase-310")
    page.get_by_label("Confirm password").fill("a-long-passphrase-310")
    page.get_by_role("button", name="Create account").click()
    assert "already" in field_error(page, "Email").lower()
    assert User.objects.filter(email=taken).count() == 1


def test_a_wrong_password_is_refused_with_a_message(page, make_owner, screenshot_dir):
    email, _ = make_owner()
    page.goto("/login/")
    check_page(page, "login", screenshot_dir)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.get_by_role("alert")).to_contain_text(re.compile("email|password", re.I))
    expect(page.get_by_label("Email")).to_have_value(email)
    check_page(page, "login-error", screenshot_dir)


def test_business_form_errors_are_shown_next_to_their_fields_and_create_nothing(
    page, make_owner, screenshot_dir
):
    from accounts.models import Business, User

    email, password = make_owner()
    log_in(page, email, password)
    page.goto("/business/new/")

    # when the name is missing and the business would start in the future
    page.get_by_label("Registration number").fill("REG-77")
    page.get_by_label("Sector").fill("hardware")
    page.get_by_label("Region").fill("west")
    page.get_by_label("Established on").fill("2999-01-01")
    page.get_by_role("button", name="Save business").click()

    # then both errors sit with their fields, the rest is kept, and no business exists
    expect(page).to_have_url(re.compile(r"/business/new/$"))
    assert field_error(page, "Business name")
    assert "future" in field_error(page, "Established on").lower()
    expect(page.get_by_label("Registration number")).to_have_value("REG-77")
    expect(page.get_by_label("Sector")).to_have_value("hardware")
    check_page(page, "business-new-errors", screenshot_dir)
    assert not Business.objects.filter(owner=User.objects.get(email=email)).exists()


def test_history_page_errors_are_shown_next_to_their_fields(page, make_owner, browser_world):
    from accounts.models import Business, User

    email, password = make_owner()
    log_in(page, email, password)
    _new_business(page, "Corner Hardware")

    # when the demo merchant does not exist
    page.get_by_label("Demo merchant ID").fill("NOPE-404")
    page.get_by_role("button", name="Replace with this demo merchant").click()
    assert "NOPE-404" in field_error(page, "Demo merchant ID")

    # when the upload is sent without a file
    page.get_by_role("button", name="Upload history").click()
    assert field_error(page, "Transactions file (CSV)")

    # when the demo merchant already has an owner
    taken_by_other, _ = make_owner(browser_world.take("declined"))
    other = User.objects.get(email=taken_by_other)
    taken = Business.objects.get(owner=other).external_id
    page.get_by_label("Demo merchant ID").fill(taken)
    page.get_by_role("button", name="Replace with this demo merchant").click()
    assert "another account" in field_error(page, "Demo merchant ID")
    assert Business.objects.get(pk=Business.objects.get(owner=other).pk).owner == other


def _csv(*, bad: bool, other_merchant: str = "M000001") -> bytes:
    """An owner's file: no merchant id to fill in (the column may be left empty). With `bad`, a problem of
    each kind: an amount that is not a number, a repeated id, another currency, another merchant's row."""
    rows = [
        "merchant_id,transaction_id,occurred_at,amount,currency,direction,kind,counterparty",
        ",T1,2026-03-01T09:15:00Z,128.50,CNY,in,sale,",
        ",T2,2026-03-01T18:00:00Z,900.00,CNY,out,rent,Landlord Ltd",
        f",T3,2026-03-02T10:00:00Z,{'twelve' if bad else '12.00'},CNY,in,sale,",
        f",{'T1' if bad else 'T4'},2026-03-02T11:00:00Z,40.00,CNY,in,sale,",
        f",T5,2026-03-02T12:00:00Z,7.50,{'USD' if bad else 'CNY'},in,sale,",
        f"{other_merchant if bad else ''},T6,2026-03-02T13:00:00Z,9.00,CNY,in,sale,",
    ]
    return ("\n".join(rows) + "\n").encode()


def test_a_csv_with_bad_rows_lists_every_problem_at_once_and_imports_nothing_then_the_fixed_file_imports(
    page, make_owner, screenshot_dir
):
    from accounts.models import Business
    from underwriting.history.models import Transaction

    email, password = make_owner()
    log_in(page, email, password)
    business = Business.objects.get(public_id=_new_business(page, "Riverside Bakery"))
    expect(page.get_by_text(business.external_id)).to_have_count(0)  # no internal id to copy into the file

    # when the owner uploads a file with a bad amount, a repeated id, another currency and another
    # merchant's row
    page.get_by_label("Transactions file (CSV)").set_input_files(
        {"name": "transactions.csv", "mimeType": "text/csv", "buffer": _csv(bad=True)}
    )
    page.get_by_role("button", name="Upload history").click()

    # then every problem is listed at once by line and column, the field says nothing was imported, and
    # nothing was
    problems = page.get_by_role("table", name="Rows that could not be imported").locator("tbody tr")
    expect(problems).to_have_count(4)
    listed = [(row.locator("td").nth(0).inner_text(), row.locator("td").nth(1).inner_text()) for row in problems.all()]
    assert listed == [("4", "amount"), ("5", "transaction_id"), ("6", "currency"), ("7", "merchant_id")]
    assert "Nothing was imported: 4 problem(s)" in field_error(page, "Transactions file (CSV)")
    check_page(page, "history-upload-errors", screenshot_dir)
    assert not Transaction.objects.filter(business=business).exists()

    # when the fixed file is uploaded
    page.get_by_label("Transactions file (CSV)").set_input_files(
        {"name": "transactions.csv", "mimeType": "text/csv", "buffer": _csv(bad=False)}
    )
    page.get_by_role("button", name="Upload history").click()

    # then all six transactions are linked
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("status").first).to_contain_text("6 new transaction")
    assert sorted(Transaction.objects.filter(business=business).values_list("transaction_id", flat=True)) == [
        "T1", "T2", "T3", "T4", "T5", "T6"
    ]


def test_application_form_errors_are_shown_next_to_their_fields_and_submit_nothing(
    page, make_owner, browser_world, screenshot_dir
):
    from loans.applications.models import Application

    email, password = make_owner(browser_world.take("approved"))
    log_in(page, email, password)
    page.get_by_role("link", name="Apply for a loan").click()
    apply_url = page.url

    # when the amount is not a number, the term is out of range and no purpose is chosen
    page.get_by_label("Amount").fill("lots")
    page.get_by_label("Term (months)").fill("99")
    page.get_by_label("Purpose").select_option("")
    page.get_by_role("button", name="Submit application").click()

    # then each field carries its error, and no application exists
    assert page.url == apply_url
    assert "number" in field_error(page, "Amount").lower()
    assert field_error(page, "Term (months)")
    assert field_error(page, "Purpose")
    expect(page.get_by_label("Amount")).to_have_value("lots")
    check_page(page, "apply-errors", screenshot_dir)

    # when the amount is outside the product's bounds
    page.get_by_label("Amount").fill("1")
    page.get_by_label("Term (months)").fill("12")
    page.get_by_label("Purpose").select_option("inventory")
    page.get_by_role("button", name="Submit application").click()
    assert field_error(page, "Amount")
    expect(page.get_by_label("Term (months)")).to_have_value("12")

    assert not Application.objects.filter(applicant__email=email).exists()
