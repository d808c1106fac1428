"""The owner's pages through Django's test client: what each page shows, forms' errors next to
their field, and that nobody opens another owner's business, application or loan."""

import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.models import Business
from loans.applications import booking as applications_booking
from loans.applications import services as applications_services
from loans.applications.models import Application, ApplicationStatus, Loan
from loans.businesses import services as businesses_services
from tests.factories import BusinessFactory, PartnerFactory, UserFactory
from underwriting.history.models import Transaction

S = ApplicationStatus


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def _field_error(html: str, field_id: str) -> str:
    """The error rendered next to a field, and check the input points at it (aria-describedby)."""
    match = re.search(rf'<ul class="errorlist" id="{field_id}-error"><li>(.*?)</li>', html)
    assert match, f"no error next to {field_id}"
    tag = re.search(rf'<(?:input|select)[^>]*id="{field_id}"[^>]*>', html).group(0)
    assert f"{field_id}-error" in re.search(r'aria-describedby="([^"]*)"', tag).group(1)
    assert 'aria-invalid="true"' in tag
    return match.group(1)


def _owned(world, owner, business) -> Business:
    Business.objects.filter(pk=business.pk).update(owner=owner)
    business.refresh_from_db()
    return business


# ---- dashboard and business ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_new_owner_is_asked_to_add_a_business():
    response = _client(UserFactory()).get("/")

    assert response.status_code == 200
    assert '<a class="button" href="/business/new/">Add your business</a>' in _text(response)
    assert "Apply for a loan" not in _text(response)


@pytest.mark.django_db
def test_adding_a_business_puts_it_on_the_own_channel_and_leads_to_linking_history():
    owner = UserFactory()

    response = _client(owner).post("/business/new/", {
        "legal_name": "Golden Noodle House", "registration_number": "91310000-7",
        "sector": "restaurant", "region": "east", "established_on": "2019-06-15",
    })

    business = Business.objects.get(owner=owner)
    assert response.status_code == 302
    assert response["Location"] == f"/business/{business.public_id}/history/"
    assert (business.partner.slug, business.legal_name, str(business.established_on)) == (
        "demo", "Golden Noodle House", "2019-06-15",
    )


@pytest.mark.django_db
def test_a_business_form_with_bad_input_shows_each_error_next_to_its_field_and_saves_nothing():
    owner = UserFactory()

    response = _client(owner).post("/business/new/", {
        "legal_name": "", "sector": "retail", "region": "north", "established_on": "2999-01-01",
    })

    html = _text(response)
    assert response.status_code == 200
    assert _field_error(html, "id_legal_name") == "This field is required."
    assert _field_error(html, "id_established_on") == "The date the business started cannot be in the future."
    assert not Business.objects.filter(owner=owner).exists()


# ---- linking history -------------------------------------------------------------------------------


def _csv(business, rows):
    header = "merchant_id,transaction_id,occurred_at,amount,currency,direction,kind,counterparty,balance_after\n"
    return SimpleUploadedFile("tx.csv", (header + "".join(r + "\n" for r in rows)).encode(), "text/csv")


@pytest.mark.django_db
def test_uploading_a_valid_transactions_file_links_the_history():
    owner = UserFactory()
    business = businesses_services.business_create_for_owner(owner=owner, legal_name="Lin's Hardware", sector="retail")
    m = business.external_id

    response = _client(owner).post(f"/business/{business.public_id}/history/", {
        "action": "upload",
        "transactions": _csv(business, [
            f"{m},T1,2026-03-01T09:15:00Z,128.50,CNY,in,sale,,5128.50",
            f"{m},T2,2026-03-02T18:00:00Z,900.00,CNY,out,rent,Landlord Ltd,4228.50",
        ]),
    })

    assert response.status_code == 302
    assert Transaction.objects.filter(business=business).count() == 2


@pytest.mark.django_db
def test_an_invalid_file_is_refused_whole_with_its_row_errors_on_the_page():
    owner = UserFactory()
    business = businesses_services.business_create_for_owner(owner=owner, legal_name="Lin's Hardware", sector="retail")
    m = business.external_id

    response = _client(owner).post(f"/business/{business.public_id}/history/", {
        "action": "upload",
        "transactions": _csv(business, [
            f"{m},T1,2026-03-01T09:15:00Z,128.50,CNY,in,sale,,",
            f"{m},T2,not-a-date,900.00,CNY,out,rent,,",
            f"{m},T3,2026-03-02,-5,CNY,sideways,rent,,",
        ]),
    })

    html = _text(response)
    assert response.status_code == 200
    assert _field_error(html, "id_transactions").startswith("Nothing was imported:")
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>', html)
    assert {(line, column) for line, column, _ in rows} >= {("3", "occurred_at"), ("4", "amount"), ("4", "direction")}
    assert Transaction.objects.count() == 0


def _problems(html: str) -> list[tuple[str, str, str]]:
    return re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>', html)


@pytest.mark.django_db
def test_a_file_with_another_merchants_rows_is_refused_so_nobody_writes_into_another_history():
    owner = UserFactory()
    business = businesses_services.business_create_for_owner(owner=owner, legal_name="Mine", sector="retail")
    victim = businesses_services.business_create_for_owner(owner=UserFactory(), legal_name="Theirs", sector="retail")

    response = _client(owner).post(f"/business/{business.public_id}/history/", {
        "action": "upload",
        "transactions": _csv(business, [f"{victim.external_id},T1,2026-03-01,10.00,CNY,in,sale,,"]),
    })

    assert response.status_code == 200
    assert _problems(_text(response)) == [("2", "merchant_id", (
        f"&#x27;{victim.external_id}&#x27; is another merchant&#x27;s id: every row of this file is taken as this "
        "business&#x27;s, so leave the merchant_id column empty or out"))]
    assert business.external_id not in _text(response)
    assert Transaction.objects.count() == 0


@pytest.mark.django_db
def test_one_upload_lists_every_problem_of_the_file_at_once_and_imports_nothing():
    # given an owner's business with two transactions already linked
    owner = UserFactory()
    business = businesses_services.business_create_for_owner(owner=owner, legal_name="Lin's Hardware", sector="retail")
    other = businesses_services.business_create_for_owner(owner=UserFactory(), legal_name="Theirs", sector="retail")
    m = business.external_id
    client = _client(owner)
    url = f"/business/{business.public_id}/history/"
    client.post(url, {"action": "upload", "transactions": _csv(business, [
        f"{m},S1,2026-02-01T09:00:00Z,50.00,CNY,in,sale,,",
        f"{m},S2,2026-02-02T09:00:00Z,60.00,CNY,in,sale,,",
    ])})
    assert Transaction.objects.filter(business=business).count() == 2

    # when they upload a file with a problem of every kind: a bad date, a repeated id, another merchant's
    # row, a wrong currency, a repeat of a row that has a bad amount, a clash with the stored history,
    # a missing field
    rows = [
        f"{m},T1,2026-03-01T09:15:00Z,128.50,CNY,in,sale,,",
        f"{m},T2,not-a-date,900.00,CNY,out,rent,,",
        f"{m},T1,2026-03-02T09:15:00Z,12.00,CNY,in,sale,,",
        f"{other.external_id},T9,2026-03-02T09:15:00Z,12.00,CNY,in,sale,,",
        f"{m},T3,2026-03-02,1e5,CNY,in,sale,,",
        f"{m},T3,2026-03-02,5.00,CNY,in,sale,,",
        f"{m},T4,2026-03-02,5.00,USD,in,sale,,",
        f"{m},S1,2026-02-01T09:00:00Z,51.00,CNY,in,sale,,",
        f"{m},T5,2026-03-03,5.00,CNY,in,sale",
        f"{m},T6,2026-03-03,7.00,CNY,in,sale,,",
    ]
    response = client.post(url, {"action": "upload", "transactions": _csv(business, rows)})

    # then the page lists all of them, by line, in one pass, and nothing was imported
    html = _text(response)
    listed = [(line, column) for line, column, _ in _problems(html)]
    assert listed == [("3", "occurred_at"), ("4", "transaction_id"), ("5", "merchant_id"), ("6", "amount"),
                      ("7", "transaction_id"), ("8", "currency"), ("9", "amount"), ("10", "—")]
    assert _field_error(html, "id_transactions").startswith("Nothing was imported: 8 problem(s) in the file.")
    assert f'"{m}"' not in html and "interchange" not in html
    assert Transaction.objects.filter(business=business).count() == 2

    # and when every listed row is fixed or left out, the file imports: nothing new was hiding behind
    fixed = [rows[0], rows[1].replace("not-a-date", "2026-03-01"), rows[5], rows[6].replace("USD", "CNY"),
             rows[8] + ",,", rows[9]]
    response = client.post(url, {"action": "upload", "transactions": _csv(business, fixed)})
    assert response.status_code == 302
    assert Transaction.objects.filter(business=business).count() == 2 + 6


@pytest.mark.django_db
def test_a_file_without_a_merchant_column_is_the_businesss_own_history():
    owner = UserFactory()
    business = businesses_services.business_create_for_owner(owner=owner, legal_name="Mine", sector="retail")
    upload = SimpleUploadedFile("tx.csv", (
        "\ufefftransaction_id,occurred_at,amount,currency,direction,kind,counterparty\r\n"
        'T1,2026-03-01T09:15:00Z,128.50,CNY,in,sale,"Two-line\r\nname"\r\n'
        "\r\n"
        "T2,2026-03-02,oops,CNY,in,sale,\r\n"
        "T3,2026-03-02,4.00,CNY,in\r\n"
    ).encode(), "text/csv")

    response = _client(owner).post(f"/business/{business.public_id}/history/",
                                   {"action": "upload", "transactions": upload})

    # the problems name the owner's own lines (a quoted line break and a blank line count as lines)
    assert [(line, column) for line, column, _ in _problems(_text(response))] == [("5", "amount"), ("6", "—")]
    assert "the row has 5 fields but the header has 7" in _text(response)
    upload = SimpleUploadedFile("tx.csv", b"transaction_id,occurred_at,amount,currency,direction,kind\n"
                                          b"T1,2026-03-01,128.50,CNY,in,sale\n", "text/csv")
    response = _client(owner).post(f"/business/{business.public_id}/history/",
                                   {"action": "upload", "transactions": upload})
    assert response.status_code == 302
    assert list(Transaction.objects.filter(business=business).values_list("transaction_id", flat=True)) == ["T1"]


@pytest.mark.django_db
def test_the_page_lists_the_first_50_problems_and_says_how_many_there_are():
    owner = UserFactory()
    business = businesses_services.business_create_for_owner(owner=owner, legal_name="Mine", sector="retail")

    response = _client(owner).post(f"/business/{business.public_id}/history/", {
        "action": "upload",
        "transactions": _csv(business, [f",T{i},2026-03-01,{i}.00,USD,in,sale,," for i in range(1, 61)]),
    })

    html = _text(response)
    assert len(_problems(html)) == businesses_services.MAX_UPLOAD_ERRORS == 50
    assert "Problems found (60, the first 50 shown)" in html
    assert Transaction.objects.count() == 0


@pytest.mark.django_db
def test_claiming_a_demo_merchant_from_a_business_page_replaces_that_business_and_only_once():
    demo = PartnerFactory(slug="demo")
    merchant = BusinessFactory(partner=demo, external_id="M000042", legal_name="Huaxin Market")
    owner, other = UserFactory(), UserFactory()
    placeholder = businesses_services.business_create_for_owner(owner=owner, legal_name="My shop", sector="retail")
    other_placeholder = businesses_services.business_create_for_owner(owner=other, legal_name="Their shop", sector="retail")
    url = f"/business/{placeholder.public_id}/history/"
    page = _text(_client(owner).get(url))
    assert "replaces My shop</strong> on your dashboard" in page

    response = _client(owner).post(url, {"action": "claim", "merchant_id": " M000042 "}, follow=True)

    # the demo merchant, with its history, takes the place of the business the page was for
    merchant.refresh_from_db()
    assert merchant.owner == owner
    assert not Business.objects.filter(pk=placeholder.pk).exists()
    assert list(Business.objects.filter(owner=owner)) == [merchant]
    assert response.redirect_chain == [("/", 302)]
    assert "Demo merchant M000042, Huaxin Market, is linked to your account with its transaction history. " \
           "It replaces My shop." in _text(response)

    # someone else cannot take it over, and an unknown id is named; their own business stays
    response = _client(other).post(f"/business/{other_placeholder.public_id}/history/",
                                   {"action": "claim", "merchant_id": "M000042"})
    assert _field_error(_text(response), "id_merchant_id") == "This demo merchant is already linked to another account."
    response = _client(other).post(f"/business/{other_placeholder.public_id}/history/",
                                   {"action": "claim", "merchant_id": "M999999"})
    assert _field_error(_text(response), "id_merchant_id") == "There is no demo merchant with the ID &#x27;M999999&#x27;."
    merchant.refresh_from_db()
    assert merchant.owner == owner
    assert Business.objects.filter(pk=other_placeholder.pk, owner=other).exists()


@pytest.mark.django_db
def test_a_business_with_its_own_history_is_not_replaced_by_a_demo_merchant():
    demo = PartnerFactory(slug="demo")
    merchant = BusinessFactory(partner=demo, external_id="M000042")
    owner = UserFactory()
    business = businesses_services.business_create_for_owner(owner=owner, legal_name="Lin's Hardware", sector="retail")
    url = f"/business/{business.public_id}/history/"
    _client(owner).post(url, {"action": "upload", "transactions": _csv(business, [
        f"{business.external_id},T1,2026-03-01T09:15:00Z,128.50,CNY,in,sale,,"])})

    page = _text(_client(owner).get(url))
    response = _client(owner).post(url, {"action": "claim", "merchant_id": "M000042"})

    assert "Replace with this demo merchant" not in page
    assert "already has its own history or applications, so a demo merchant cannot replace it" in page
    assert ("Lin&#x27;s Hardware already has its own history or applications, so a demo merchant cannot replace "
            "it. Add a new business to try a demo merchant.") in _text(response)
    merchant.refresh_from_db()
    assert merchant.owner is None
    assert Transaction.objects.filter(business=business).count() == 1


def _region(html: str, business) -> str:
    """The dashboard card of `business`."""
    match = re.search(rf'<section class="card business[^"]*" aria-labelledby="b-{business.public_id}" '
                      rf'data-state="(\w+)">(.*?)</section>', html)
    assert match, f"no card for {business.legal_name}"
    return match.group(1) + " " + match.group(2)


def test_the_dashboard_shows_every_business_with_where_it_stands_and_its_next_step(world, owner):
    from loans.businesses.selectors import business_suggested_amount

    # given an owner with five businesses: one deciding, one with an open offer, one with a loan, one ready
    # to apply and one without history
    approvable = [b for b in world if business_suggested_amount(business=b).amount][:4]
    deciding, offered, borrowing, ready = (_owned(None, owner, b) for b in approvable)
    empty = businesses_services.business_create_for_owner(owner=owner, legal_name="Zhou's New Shop", sector="home_goods",
                                               region="south")

    amounts = {b.pk: business_suggested_amount(business=b).amount for b in approvable}

    def apply(business):
        return applications_services.application_submit(business=business, amount=amounts[business.pk], term_months=12,
                                           purpose="inventory", channel="web", applicant=owner, actor="owner:x")

    offer = applications_services.application_decide(application_id=apply(offered).pk)
    loan = applications_booking.offer_accept(application=applications_services.application_decide(application_id=apply(borrowing).pk),
                                 actor="owner:x")
    pending = apply(deciding)

    # when they open their dashboard
    html = _text(_client(owner).get("/"))

    # then each business says where it stands, with the one next step that is open to it
    card = _region(html, deciding)
    assert card.startswith("deciding") and "Decision pending" in card
    assert f'href="/applications/{pending.public_id}/">See the application</a>' in card
    card = _region(html, offered)
    assert card.startswith("offer") and "Offer waiting for your answer" in card
    assert f"{offer.decision.offered_amount:,.2f} CNY" in card
    assert f'href="/applications/{offer.public_id}/">See the offer</a>' in card
    card = _region(html, borrowing)
    assert card.startswith("loan") and "Loan running" in card and f"{loan.principal:,.2f} CNY" in card
    assert f'href="/loans/{loan.public_id}/">See your loan</a>' in card
    card = _region(html, ready)
    assert card.startswith("ready") and f'href="/business/{ready.public_id}/apply/">Apply for a loan</a>' in card
    card = _region(html, empty)
    assert card.startswith("no_history") and "Home goods · South" in card
    assert f'href="/business/{empty.public_id}/history/">Link transaction history</a>' in card
    # "Apply" only where an application would be taken; no internal ids or channel names
    assert html.count(">Apply for a loan</a>") == 1
    for business in (deciding, offered, borrowing, ready, empty):
        assert business.external_id not in html
    assert "via " not in html and "merchant ID" not in html


# ---- applying and the decision pages ---------------------------------------------------------------


def test_the_dashboard_suggests_an_amount_and_the_form_is_prefilled_with_it(approvable, owner):
    business, amount = approvable
    _owned(None, owner, business)
    client = _client(owner)

    home = _text(client.get("/"))
    form = _text(client.get("/apply/", follow=True))

    assert f'href="/business/{business.public_id}/apply/">Apply for a loan</a>' in home
    assert f"{amount:,.2f} CNY" in home
    assert f'name="amount" value="{amount:.2f}"' in form


def test_applying_redirects_to_a_progress_page_that_polls_until_the_decision_exists(approvable, owner):
    business, amount = approvable
    _owned(None, owner, business)
    client = _client(owner)

    response = client.post(f"/business/{business.public_id}/apply/",
                           {"amount": f"{amount:,.2f}", "term_months": "12", "purpose": "inventory"})

    application = Application.objects.get(business=business)
    assert response.status_code == 302
    assert response["Location"] == f"/applications/{application.public_id}/"
    page = _text(client.get(response["Location"]))
    assert '<h1 id="application-heading">Deciding…</h1>' in page
    assert "Withdraw application" in page
    assert "js/progress.js" in page
    status = client.get(f"/applications/{application.public_id}/status/").json()
    assert status == {"status": "submitted", "pending": True, "heading": "Deciding…"}

    applications_services.application_decide(application_id=application.pk)

    assert client.get(f"/applications/{application.public_id}/status/").json()["pending"] is False
    page = _text(client.get(f"/applications/{application.public_id}/"))
    decision = Application.objects.get(pk=application.pk).decision
    assert '<h1 id="application-heading">Approved</h1>' in page
    assert f"{decision.instalment:,.2f} CNY" in page
    assert f"{decision.total_repayable:,.2f} CNY" in page
    assert f"{decision.effective_apr}%" in page
    assert "What helped" in page
    assert page.count('<tr><td class="num">') == 12
    assert "Accept offer" in page and "Reject offer" in page
    assert "Withdraw application" not in page


def test_applying_again_while_an_offer_is_open_shows_why_links_to_it_and_submits_nothing(approvable, owner):
    # given an owner whose business holds an open offer
    business, amount = approvable
    _owned(None, owner, business)
    client = _client(owner)
    client.post(f"/business/{business.public_id}/apply/", {"amount": f"{amount}", "term_months": "12",
                                                           "purpose": "inventory"})
    offer = Application.objects.get(business=business)
    applications_services.application_decide(application_id=offer.pk)
    offer.refresh_from_db()

    # when the owner submits the form again
    response = client.post(f"/business/{business.public_id}/apply/",
                           {"amount": f"{amount}", "term_months": "6", "purpose": "inventory"})

    # then the form says why, links to the open offer, and nothing new is stored
    html = _text(response)
    assert response.status_code == 200
    assert (f'<ul class="errorlist form-errors"><li>This business already has an open offer (valid until '
            f'{offer.offer_expires_at:%d %B %Y}). Accept, reject or withdraw it before applying again.</li>') in html
    assert f'href="/applications/{offer.public_id}/">See the application in progress</a>' in html
    assert Application.objects.filter(business=business).count() == 1

    # and the form says so before it is filled in, too
    html = _text(client.get(f"/business/{business.public_id}/apply/"))
    assert (f'<p class="notice" role="status">This business already has an open offer (valid until '
            f'{offer.offer_expires_at:%d %B %Y}).') in html
    assert f'href="/applications/{offer.public_id}/">See the application in progress</a>' in html


def test_an_application_form_with_bad_input_shows_errors_next_to_the_fields_and_submits_nothing(approvable, owner):
    business, _ = approvable
    _owned(None, owner, business)

    response = _client(owner).post(f"/business/{business.public_id}/apply/",
                                   {"amount": "12,000.505", "term_months": "36", "purpose": ""})

    html = _text(response)
    assert response.status_code == 200
    assert _field_error(html, "id_term_months") == "Choose a term from 3 to 24 months."
    assert _field_error(html, "id_purpose") == "This field is required."
    response = _client(owner).post(f"/business/{business.public_id}/apply/",
                                   {"amount": "lots", "term_months": "12", "purpose": "inventory"})
    assert _field_error(_text(response), "id_amount") == "Enter the amount as a number, for example 12000 or 12000.50."
    response = _client(owner).post(f"/business/{business.public_id}/apply/",
                                   {"amount": "12000.505", "term_months": "12", "purpose": "inventory"})
    assert _field_error(_text(response), "id_amount") == "Enter the amount with at most 2 decimal places."
    assert Application.objects.count() == 0


@pytest.mark.parametrize(("typed", "message"), [
    ("1e5", "Write the amount out in full, for example 100000 rather than 1e5."),
    ("inf", "Enter the amount as a number, for example 12000 or 12000.50."),
    ("NaN", "Enter the amount as a number, for example 12000 or 12000.50."),
    ("-5000", "Enter the amount without a sign, for example 12000."),
    ("+5000", "Enter the amount without a sign, for example 12000."),
    ("5,00", "Use commas only between groups of three digits, for example 12,000.50."),
])
def test_an_amount_that_is_not_a_plain_decimal_is_refused_next_to_the_field(approvable, owner, typed, message):
    # given an owner on the application form
    business, _ = approvable
    _owned(None, owner, business)

    # when they type an amount with an exponent, a sign, "inf" or "nan", or commas out of place
    response = _client(owner).post(f"/business/{business.public_id}/apply/",
                                   {"amount": typed, "term_months": "12", "purpose": "inventory"})

    # then the amount field says what to write, keeps what was typed, and nothing is submitted
    html = _text(response)
    assert response.status_code == 200
    assert _field_error(html, "id_amount") == message
    assert f'name="amount" value="{typed}"' in html
    assert Application.objects.count() == 0


def test_an_amount_with_thousands_commas_is_accepted(approvable, owner):
    business, _ = approvable
    _owned(None, owner, business)

    response = _client(owner).post(f"/business/{business.public_id}/apply/",
                                   {"amount": "12,000.50", "term_months": "12", "purpose": "inventory"})

    assert response.status_code == 302
    assert Application.objects.get(business=business).amount == Decimal("12000.50")


def test_accepting_from_the_page_shows_the_loan_and_its_schedule(approvable, owner):
    business, amount = approvable
    _owned(None, owner, business)
    client = _client(owner)
    application = applications_services.application_submit(business=business, amount=amount, term_months=12,
                                              purpose="inventory", channel="web", applicant=owner, actor="owner:x")
    applications_services.application_decide(application_id=application.pk)

    response = client.post(f"/applications/{application.public_id}/accept/")

    loan = Loan.objects.get(application=application)
    assert response.status_code == 302 and response["Location"] == f"/loans/{loan.public_id}/"
    page = _text(client.get(response["Location"]))
    assert "Disbursed" in page
    assert page.count('<tr><td class="num">') == 12
    assert f"{loan.total_repayable:,.2f}" in page
    listing = _text(client.get("/applications/"))
    assert "My applications and loans" in listing and "Disbursed" in listing

    # accepting again is refused with a message, not an error page
    again = client.post(f"/applications/{application.public_id}/accept/", follow=True)
    assert again.status_code == 200
    assert "cannot become accepted" in _text(again)
    assert Loan.objects.count() == 1


def test_a_declined_application_shows_its_reasons_and_what_would_help(approvable, owner):
    business, amount = approvable
    _owned(None, owner, business)
    Business.objects.filter(pk=business.pk).update(is_blocked=True)
    business.refresh_from_db()
    application = applications_services.application_submit(business=business, amount=amount, term_months=12,
                                              purpose="inventory", channel="web", applicant=owner, actor="owner:x")
    applications_services.application_decide(application_id=application.pk)

    page = _text(_client(owner).get(f"/applications/{application.public_id}/"))

    assert '<h1 id="application-heading">Declined</h1>' in page
    assert "The business is on the blocked list." in page
    assert "What would most improve the outcome" in page
    assert "contact support to review it" in page
    assert "Accept offer" not in page


def test_a_counter_offer_shows_the_smaller_amount_and_why(approvable, owner):
    business, amount = approvable
    _owned(None, owner, business)
    application = applications_services.application_submit(business=business, amount=amount * 3, term_months=12,
                                              purpose="inventory", channel="web", applicant=owner, actor="owner:x")
    decided = applications_services.application_decide(application_id=application.pk)

    page = _text(_client(owner).get(f"/applications/{application.public_id}/"))

    assert '<h1 id="application-heading">Counter-offer</h1>' in page
    assert f"We can offer <strong>{decided.decision.offered_amount:,.2f} CNY</strong>" in page
    assert "Why a smaller amount" in page
    assert "Accept offer" in page and "Reject offer" in page


@pytest.mark.django_db
def test_a_pending_application_can_be_withdrawn_from_its_page():
    owner = UserFactory()
    business = businesses_services.business_create_for_owner(owner=owner, legal_name="Mine", sector="retail")
    application = applications_services.application_submit(business=business, amount=Decimal("5000"), term_months=6,
                                              purpose="inventory", channel="web", applicant=owner, actor="owner:x")

    response = _client(owner).post(f"/applications/{application.public_id}/withdraw/", follow=True)

    application.refresh_from_db()
    assert application.status == S.WITHDRAWN
    assert "Your application is withdrawn." in _text(response)


def _visible_text(response) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style|title)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_owners_read_no_jargon_no_internal_ids_and_every_amount_with_its_currency(approvable, owner):
    # given an owner whose demo merchant (a simulator sector slug) has a loan
    business, amount = approvable
    Business.objects.filter(pk=business.pk).update(owner=owner, sector="home_goods", region="south")
    business.refresh_from_db()
    application = applications_services.application_submit(business=business, amount=amount, term_months=12,
                                              purpose="inventory", channel="web", applicant=owner, actor="owner:x")
    applications_services.application_decide(application_id=application.pk)
    loan = applications_booking.offer_accept(application=Application.objects.get(pk=application.pk), actor="owner:x")
    client = _client(owner)

    pages = {url: client.get(url) for url in (
        "/", f"/business/{business.public_id}/history/", f"/business/{business.public_id}/apply/",
        f"/applications/{application.public_id}/", f"/loans/{loan.public_id}/", "/applications/",
    )}

    assert "Home goods · South" in _visible_text(pages["/"])
    for url, response in pages.items():
        assert response.status_code == 200, url
        text = _visible_text(response)
        for jargon in ("home_goods", "interchange", "merchant ID", "via ", business.external_id, "Web (owner)",
                       "partner"):
            assert jargon not in text, (url, jargon)
        for pk in (business.pk, application.pk, loan.pk):  # addresses carry public ids, never database ids
            assert f"/{pk}/" not in response.content.decode(), (url, pk)
        # every amount outside a table names its currency (a table names it in its column headers; an
        # example file is a file; the decision's reasons are the engine's own statements of ratios too)
        html = re.sub(r"<(table|pre)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
        html = re.sub(r'<(ol|ul) class="reasons">.*?</\1>', " ", html, flags=re.S)
        bare = re.findall(r"\d[\d,]*\.\d\d(?!\d| CNY|%)", _visible_text(type(response)(html)))
        assert not bare, (url, bare)
    # the tables put the currency in their headers, and the history is phrased for the owner
    for url in (f"/applications/{application.public_id}/", f"/loans/{loan.public_id}/"):
        assert "Payment (CNY)" in _text(pages[url]) and "Balance after (CNY)" in _text(pages[url])
    timeline = _visible_text(pages[f"/applications/{application.public_id}/"])
    assert f"You applied for {amount:,.2f} CNY over 12 months." in timeline
    assert f"{loan.disbursed_amount:,.2f} CNY paid out." in timeline


def test_the_status_poll_reads_one_row_and_keeps_the_offers_heading_after_it_is_taken(
        approvable, owner, django_assert_num_queries):
    # given an owner whose approved offer was accepted
    business, amount = approvable
    _owned(None, owner, business)
    application = applications_services.application_submit(business=business, amount=amount, term_months=12,
                                              purpose="inventory", channel="web", applicant=owner, actor="owner:x")
    applications_services.application_decide(application_id=application.pk)
    applications_booking.offer_accept(application=Application.objects.get(pk=application.pk), actor="owner:x")
    client = _client(owner)
    client.get("/applications/")  # the session's first request

    # when the progress page polls
    with django_assert_num_queries(3):  # the session, the user, the application with its outcome
        status = client.get(f"/applications/{application.public_id}/status/")

    # then it says what the application is now, under the heading of what was offered
    assert status["Cache-Control"] == "no-store"
    assert status.json() == {"status": Application.objects.get(pk=application.pk).status, "pending": False,
                             "heading": "Approved"}


# ---- isolation and CSRF ----------------------------------------------------------------------------


def test_another_owner_gets_404_for_every_page_and_action(approvable, owner):
    business, amount = approvable
    _owned(None, owner, business)
    application = applications_services.application_submit(business=business, amount=amount, term_months=12,
                                              purpose="inventory", channel="web", applicant=owner, actor="owner:x")
    applications_services.application_decide(application_id=application.pk)
    loan = applications_booking.offer_accept(application=Application.objects.get(pk=application.pk), actor="owner:x")
    intruder = _client(UserFactory(email="intruder@example.com"))
    a = application.public_id

    for url in (f"/applications/{a}/", f"/applications/{a}/status/", f"/loans/{loan.public_id}/",
                f"/business/{business.public_id}/history/", f"/business/{business.public_id}/apply/"):
        assert intruder.get(url).status_code == 404, url
    for url in (f"/applications/{a}/withdraw/", f"/applications/{a}/accept/", f"/applications/{a}/reject/"):
        assert intruder.post(url).status_code == 404, url
    assert intruder.post(f"/business/{business.public_id}/apply/",
                         {"amount": "5000", "term_months": "12", "purpose": "inventory"}).status_code == 404
    assert Application.objects.count() == 1
    assert str(a) not in _text(intruder.get("/applications/"))


@pytest.mark.django_db
def test_pages_need_a_login_and_posts_need_a_csrf_token():
    owner = UserFactory()
    business = businesses_services.business_create_for_owner(owner=owner, legal_name="Mine", sector="retail")
    application = applications_services.application_submit(business=business, amount=Decimal("5000"), term_months=6,
                                              purpose="inventory", channel="web", applicant=owner, actor="owner:x")

    anonymous = Client().get(f"/applications/{application.public_id}/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    assert strict.post(f"/applications/{application.public_id}/withdraw/").status_code == 403
    application.refresh_from_db()
    assert application.status == S.SUBMITTED
