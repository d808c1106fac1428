"""The risk dashboard page: who may see it, what it shows, time ranges, vintages and calibration."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.roles import APPLICANT, LOAN_OFFICER, RISK_OPERATOR
from config import clock
from loans.applications.booking import loan_disburse, offer_accept
from loans.applications.models import ApplicationStatus, Channel, Purpose
from loans.applications.services import application_decide, application_submit
from loans.reviews.dashboard import calibration_by_band
from tests.audit_fixtures import decide
from underwriting.history.models import LoanRecord, LoanRecordSource, LoanRecordStatus
from underwriting.modeling.models import ModelVersion
from underwriting.monitoring.models import DecisionDailySummary, DecisionSummaryWatermark
from underwriting.monitoring.services import summaries_catch_up
from underwriting.policies.services import policy_version_from_appetite

pytestmark = pytest.mark.usefixtures("require_postgres")
URL = "/risk/dashboard/"


def test_the_dashboard_is_for_officers_and_operators_only(client, audit_world, audit_users):
    assert reverse("risk:dashboard") == URL
    anonymous = client.get(URL)
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]
    client.force_login(audit_users[APPLICANT])
    assert client.get(URL).status_code == 403
    for role in (LOAN_OFFICER, RISK_OPERATOR):
        client.force_login(audit_users[role])
        assert client.get(URL).status_code == 200


def test_the_dashboard_shows_volumes_rates_latency_drift_and_outcomes(client, audit_world, audit_users):
    decisions = [decide(b) for b in audit_world[:16]]
    summaries_catch_up()  # beat's periodic count
    client.force_login(audit_users[LOAN_OFFICER])

    html = client.get(URL, {"range": "7d"}).content.decode()

    assert f'<span class="v" id="kpi-decisions">{len(decisions)}</span>' in html
    approvals = sum(1 for d in decisions if d.outcome in ("approved", "counter_offer"))
    assert f'id="kpi-approval">{100 * approvals / len(decisions):.1f}%' in html
    for panel in ("panel-volume", "panel-approval", "panel-latency", "panel-score", "panel-outcomes", "panel-psi",
                  "panel-vintage", "panel-bands"):
        assert f'id="{panel}"' in html, panel
    assert html.count("<svg") >= 4  # volume, approval rate, latency, score distribution
    assert "Score distribution: training data vs decisions in range" in html
    assert "Business inflows over the last 90 days" in html  # the PSI table names features plainly
    assert 'id="psi-table"' in html
    assert 'class="flag flag-' in html


def test_the_time_range_selects_the_days_shown(client, audit_world, audit_users):
    decide(audit_world[0])
    summaries_catch_up()
    client.force_login(audit_users[RISK_OPERATOR])
    today = clock.today()

    past = client.get(URL, {"range": "custom", "start": "2020-01-01", "end": "2020-01-31"}).content.decode()
    bad = client.get(URL, {"range": "custom", "start": "2020-02-01", "end": "2020-01-01"})
    year = client.get(URL, {"range": "365d"}).content.decode()

    assert '<span class="v" id="kpi-decisions">0</span>' in past
    assert "No model" not in past and "has made no scored decision in this range" in past
    assert bad.status_code == 200  # an inverted range falls back to the default 30 days
    assert f'value="{(today - timedelta(days=29)).isoformat()}"' in bad.content.decode()
    assert '<span class="v" id="kpi-decisions">1</span>' in year


def test_the_partner_filter_scopes_the_decisions(client, audit_world, audit_users):
    from tests.factories import BusinessFactory, PartnerFactory

    decide(audit_world[0])
    summaries_catch_up()
    other = PartnerFactory(slug="elsewhere")
    BusinessFactory(partner=other)
    client.force_login(audit_users[LOAN_OFFICER])

    assert '<span class="v" id="kpi-decisions">1</span>' in client.get(URL, {"partner": "audit"}).content.decode()
    assert '<span class="v" id="kpi-decisions">0</span>' in client.get(URL, {"partner": "elsewhere"}).content.decode()


def test_vintages_and_predicted_vs_observed_appear_once_loans_have_outcomes(client, audit_world, audit_users):
    approved = None
    for business in audit_world:
        application = application_submit(business=business, amount=Decimal("5000.00"), term_months=12,
                                         purpose=Purpose.WORKING_CAPITAL, channel=Channel.WEB, actor="owner:test")
        application = application_decide(application_id=application.pk)
        if application.status == ApplicationStatus.APPROVED:
            approved = application
            break
    assert approved is not None, "one of the merchants should be approved for 5,000"
    loan = offer_accept(application=approved, actor="owner:test")
    loan.refresh_from_db()
    if loan.status != "disbursed":
        loan = loan_disburse(loan=loan, actor="system:test")
    record = LoanRecord.objects.get(source=LoanRecordSource.PLATFORM, loan_id=f"310-{loan.public_id.hex}")
    LoanRecord.objects.filter(pk=record.pk).update(status=LoanRecordStatus.DEFAULTED, days_past_due=95)

    bands = calibration_by_band()

    assert bands == [{"band": approved.decision.score_band, "loans": 1, "pd_sum": approved.decision.pd,
                      "defaults": 1, "predicted": approved.decision.pd, "observed": 1.0}]
    client.force_login(audit_users[LOAN_OFFICER])
    html = client.get(URL).content.decode()
    month = record.originated_on.replace(day=1)
    assert f"<td>{month:%Y-%m}</td><td class=\"num\">1</td><td class=\"num\">1</td><td class=\"num\">100.0%</td>" in html
    assert "Predicted vs observed default by score band" in html and "No platform loan has been disbursed" not in html
    from underwriting.monitoring.selectors import vintage_default_rates

    vintages = vintage_default_rates(source=LoanRecordSource.IMPORTED)
    book = LoanRecord.objects.filter(source=LoanRecordSource.IMPORTED, originated_on__gte=vintages[0]["month"])
    assert sum(v["loans"] for v in vintages) == book.count()
    assert sum(v["defaults"] for v in vintages) == book.filter(status=LoanRecordStatus.DEFAULTED).count() + book.filter(
        days_past_due__gte=90).exclude(status=LoanRecordStatus.DEFAULTED).count()
    imported = client.get(URL, {"book": "imported"}).content.decode()
    first = vintages[0]
    assert f"<td>{first['month']:%Y-%m}</td><td class=\"num\">{first['loans']}</td>" in imported


def test_opening_the_dashboard_writes_nothing_and_says_what_is_not_counted_yet(client, audit_world, audit_users):
    # Given two decisions beat has not counted yet
    decide(audit_world[0])
    decide(audit_world[1])
    client.force_login(audit_users[LOAN_OFFICER])

    # When an officer opens the dashboard
    html = client.get(URL, {"range": "7d"}).content.decode()

    # Then the figures are the counted ones, the page says two are missing, and nothing was written
    assert '<span class="v" id="kpi-decisions">0</span>' in html
    assert "2 decisions made since the figures were last counted are not in them yet" in " ".join(html.split())
    assert not DecisionSummaryWatermark.objects.exists()
    assert not DecisionDailySummary.objects.exists()


def test_count_them_now_counts_the_new_decisions_and_returns_to_the_same_view(client, audit_world, audit_users):
    decide(audit_world[0])
    client.force_login(audit_users[RISK_OPERATOR])

    response = client.post(f"{URL}?range=7d&book=all")

    assert response.status_code == 302 and response["Location"] == f"{URL}?range=7d&book=all"
    assert DecisionSummaryWatermark.objects.get().last_decision_id > 0
    html = client.get(response["Location"]).content.decode()
    assert '<span class="v" id="kpi-decisions">1</span>' in html
    assert 'id="summaries-backlog"' not in html


def test_an_applicant_cannot_make_the_dashboard_count(client, audit_world, audit_users):
    decide(audit_world[0])
    client.force_login(audit_users[APPLICANT])

    assert client.post(URL).status_code == 403
    assert not DecisionSummaryWatermark.objects.exists()


def test_the_risk_appetite_panel_shows_what_each_cut_off_costs_and_marks_the_policy(client, audit_world, audit_users):
    # given the active model's out-of-fold curve and a policy derived from a 6% appetite on it
    model = ModelVersion.objects.get(is_active=True)
    record = model.metrics["appetite"]
    row = policy_version_from_appetite(target_bad_rate=Decimal("0.06"), record=record, model_version=model.version)
    client.force_login(audit_users[RISK_OPERATOR])

    # when the risk operator opens the dashboard
    html = client.get(URL).content.decode()

    # then every approval rate is a row, and the one the policy's cut-off sits in is marked
    assert 'id="panel-appetite"' in html and f"Model {model.version}, scored out of fold on {record['loans']} loans" in html
    assert html.count("<tr", html.index('id="appetite-table"'), html.index("</table>", html.index('id="appetite-table"'))) == 21
    chosen = row.derivation["approval_rate"]
    assert f'<tr class="selected"><td class="num">{100 * chosen:.0f}%</td>' in html
    assert "the active policy&#x27;s cut-off" in html or "the active policy's cut-off" in html
    assert f"Policy version {row.version} approves up to PD" in html and "derived from a target bad rate of 0.06" in html
