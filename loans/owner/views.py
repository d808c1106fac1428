"""The business owner's pages. Views validate input, call one service or selector, and render.

Someone else's business, application or loan is a 404 (the selectors scope every read by owner), and
every refused action comes back as a message or a field error, never a server error."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Business
from loans.applications import booking as applications_booking
from loans.applications import selectors as applications_selectors
from loans.applications import services as applications_services
from loans.applications import transitions as applications_transitions
from loans.applications.models import Application, Channel, Loan, Purpose
from loans.businesses import selectors as businesses_selectors
from loans.businesses import services as businesses_services
from loans.owner.forms import ApplicationForm, BusinessForm, ClaimDemoForm, HistoryUploadForm
from loans.owner.presentation import (
    application_heading,
    application_timeline,
    decision_advice,
    decision_reasons,
    offer_schedule,
)
from underwriting.engine.outcomes import Outcome
from underwriting.history.selectors import business_history_summary
from underwriting.money import amount_text, money_text
from underwriting.policies.services import policy_active


def _business_or_404(request, public_id) -> Business:
    try:
        return businesses_selectors.business_get_for_owner(user=request.user, public_id=public_id)
    except Business.DoesNotExist:
        raise Http404("No such business") from None


def _application_or_404(request, public_id) -> Application:
    try:
        return applications_selectors.application_get_for_owner(user=request.user, public_id=public_id)
    except Application.DoesNotExist:
        raise Http404("No such application") from None


def _loan_or_404(request, public_id) -> Loan:
    try:
        return applications_selectors.loan_get_for_owner(user=request.user, public_id=public_id)
    except Loan.DoesNotExist:
        raise Http404("No such loan") from None


def home(request):
    if not request.user.is_authenticated:
        return render(request, "loans/home.html", {"businesses": []})
    applications = list(applications_selectors.application_list_for_owner(user=request.user)[:5])
    return render(
        request,
        "loans/home.html",
        {"businesses": businesses_selectors.business_overview_for_owner(user=request.user), "applications": applications,
         "states": businesses_selectors.BusinessState},
    )


@login_required
@require_http_methods(["GET", "POST"])
def business_create(request):
    form = BusinessForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            business = businesses_services.business_create_for_owner(owner=request.user, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"{business.legal_name} is saved. Now link its transaction history.")
            return redirect("loans:business_history", public_id=business.public_id)
    return render(request, "loans/business_form.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def business_history(request, public_id):
    business = _business_or_404(request, public_id)
    upload_form, claim_form = HistoryUploadForm(), ClaimDemoForm()
    import_errors, import_error_count = [], 0
    if request.method == "POST" and request.POST.get("action") == "claim":
        claim_form = ClaimDemoForm(request.POST)
        if claim_form.is_valid():
            try:
                claimed = businesses_services.business_claim_demo(
                    owner=request.user, merchant_id=claim_form.cleaned_data["merchant_id"], replacing=business
                )
            except ValidationError as exc:
                claim_form.add_error("merchant_id", exc.message_dict.get("merchant_id", exc.messages))
            else:
                replaced = "" if claimed.pk == business.pk else f" It replaces {business.legal_name}."
                messages.success(
                    request,
                    f"Demo merchant {claimed.external_id}, {claimed.legal_name}, is linked to your account with its "
                    f"transaction history.{replaced} You can apply with it now.",
                )
                return redirect("home")
    elif request.method == "POST":
        upload_form = HistoryUploadForm(request.POST, request.FILES)
        if upload_form.is_valid():
            try:
                result = businesses_services.business_history_upload(
                    business=business,
                    upload=upload_form.cleaned_data["transactions"],
                    actor=applications_transitions.owner_actor(request.user),
                )
            except businesses_services.HistoryLinkError as exc:
                import_errors, import_error_count = exc.errors, exc.error_count
                upload_form.add_error(
                    "transactions",
                    f"Nothing was imported: {exc.error_count} problem(s) in the file. Fix the rows listed below "
                    "and upload it again." if exc.errors else str(exc),
                )
            else:
                counts = result.files.get("transactions")
                messages.success(
                    request,
                    f"History linked: {counts.inserted if counts else 0} new transaction(s) imported"
                    + (f", {counts.unchanged} already on record." if counts and counts.unchanged else "."),
                )
                return redirect("home")
    _mark_errors(upload_form)
    _mark_errors(claim_form)
    return render(
        request,
        "loans/business_history.html",
        {
            "business": business,
            "history": business_history_summary(business_id=business.pk),
            "replaceable": businesses_selectors.business_replaceable_by_demo(business=business),
            "upload_form": upload_form,
            "claim_form": claim_form,
            "import_errors": import_errors,
            "import_error_count": import_error_count,
        },
    )


def _mark_errors(form) -> None:
    # Errors added after validation (by a service) need the same aria attributes as form errors.
    if form.is_bound:
        for name in form.errors:
            if name in form.fields:
                widget = form.fields[name].widget
                widget.attrs["aria-invalid"] = "true"
                ids = [f"{form[name].auto_id}-error"]
                if form.fields[name].help_text:
                    ids.insert(0, f"{form[name].auto_id}-help")
                widget.attrs["aria-describedby"] = " ".join(ids)


@login_required
def apply_start(request):
    """"Apply for a loan" without a business: the one business that can apply now, else the dashboard,
    which shows each business's next step."""
    overview = businesses_selectors.business_overview_for_owner(user=request.user, suggest=False)
    ready = [item.business for item in overview if item.state == businesses_selectors.BusinessState.READY]
    if len(ready) == 1:
        return redirect("loans:apply", public_id=ready[0].public_id)
    if ready:
        messages.info(request, "Choose the business to apply for.")
    elif all(item.state == businesses_selectors.BusinessState.NO_HISTORY for item in overview):
        messages.info(request, "Link your business's transaction history first; the decision is made from it.")
    else:
        messages.info(request, "None of your businesses can apply right now; each shows where it stands below.")
    return redirect("home")


@login_required
@require_http_methods(["GET", "POST"])
def apply(request, public_id):
    business = _business_or_404(request, public_id)
    _, policy = policy_active()
    form_kwargs = {
        "min_term": policy.min_term_months,
        "max_term": policy.max_term_months,
        "amount_help": f"From {money_text(policy.min_amount, business.partner.currency)} to "
                       f"{money_text(policy.max_amount, business.partner.currency)}.",
    }
    in_progress = None
    if request.method == "POST":
        form = ApplicationForm(request.POST, **form_kwargs)
        if form.is_valid():
            try:
                application = applications_services.application_submit(
                    business=business,
                    amount=form.cleaned_data["amount"],
                    term_months=form.cleaned_data["term_months"],
                    purpose=form.cleaned_data["purpose"],
                    channel=Channel.WEB,
                    applicant=request.user,
                    actor=applications_transitions.owner_actor(request.user),
                    policy=policy,
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
                _mark_errors(form)
            except applications_services.ApplicationInProgress as exc:
                form.add_error(None, str(exc))
                in_progress = exc.existing
            else:
                # No suggestion is computed on this path: it would only add to the time to a decision.
                return redirect("loans:application", public_id=application.public_id)
        suggestion = businesses_selectors.business_suggested_amount(business=business)
    else:
        # Said before the form is filled in, not only once it is refused (docs/exposure.md).
        in_progress = applications_selectors.application_in_progress(business=business)
        suggestion = businesses_selectors.business_suggested_amount(business=business)
        form = ApplicationForm(
            initial={
                "amount": amount_text(suggestion.amount) if suggestion.amount else "",
                "term_months": suggestion.term_months,
                "purpose": Purpose.WORKING_CAPITAL,
            },
            **form_kwargs,
        )
    return render(
        request,
        "loans/apply.html",
        {"business": business, "form": form, "suggestion": suggestion, "policy": policy, "in_progress": in_progress,
         "in_progress_notice": str(applications_services.ApplicationInProgress(in_progress))
         if in_progress is not None and request.method == "GET" else ""},
    )


@login_required
def application_list(request):
    return render(
        request,
        "loans/applications.html",
        {
            "applications": applications_selectors.application_list_for_owner(user=request.user).select_related("loan"),
            "loans": applications_selectors.loan_list_for_owner(user=request.user),
        },
    )


@login_required
def application_detail(request, public_id):
    application = _application_or_404(request, public_id)
    decision = application.decision
    loan = Loan.objects.filter(application=application).first()
    context = {
        "application": application,
        "heading": application_heading(application),
        "decision": decision,
        "currency": application.partner.currency,
        "loan": loan,
        "timeline": application_timeline(application, application.transitions.order_by("at", "id"), loan),
    }
    if decision is not None:
        context["advice"] = decision_advice(decision) if decision.outcome != Outcome.APPROVED else []
        context["reasons"] = decision_reasons(decision)
        if decision.offered_amount:
            context["schedule"] = offer_schedule(decision)
    return render(request, "loans/application_detail.html", context)


@login_required
@require_GET
def application_status(request, public_id):
    """What the progress page polls: the status, and whether the decision exists yet."""
    try:
        application = applications_selectors.application_status_for_owner(user=request.user, public_id=public_id)
    except Application.DoesNotExist:
        raise Http404("No such application") from None
    return JsonResponse(
        {
            "status": application.status,
            "pending": application.is_pending,
            "heading": application_heading(application),
        },
        headers={"Cache-Control": "no-store"},
    )


def _act(request, public_id, action, done_message: str):
    application = _application_or_404(request, public_id)
    try:
        result = action(application)
    except applications_transitions.IllegalTransition as exc:
        messages.error(request, str(exc))
        return redirect("loans:application", public_id=application.public_id), None
    messages.success(request, done_message)
    return None, result


@login_required
@require_POST
def application_withdraw(request, public_id):
    redirect_to, _ = _act(
        request,
        public_id,
        lambda a: applications_services.application_withdraw(
            application=a, actor=applications_transitions.owner_actor(request.user), user=request.user
        ),
        "Your application is withdrawn.",
    )
    return redirect_to or redirect("loans:application", public_id=public_id)


@login_required
@require_POST
def offer_accept(request, public_id):
    redirect_to, loan = _act(
        request,
        public_id,
        lambda a: applications_booking.offer_accept(application=a, actor=applications_transitions.owner_actor(request.user), user=request.user),
        "Offer accepted. Your loan is set up; the repayment schedule is below.",
    )
    return redirect_to or redirect("loans:loan", public_id=loan.public_id)


@login_required
@require_POST
def offer_reject(request, public_id):
    redirect_to, _ = _act(
        request,
        public_id,
        lambda a: applications_services.offer_reject(application=a, actor=applications_transitions.owner_actor(request.user), user=request.user),
        "You turned the offer down. Nothing more will happen with this application.",
    )
    return redirect_to or redirect("loans:application", public_id=public_id)


@login_required
def loan_detail(request, public_id):
    loan = _loan_or_404(request, public_id)
    return render(
        request,
        "loans/loan_detail.html",
        {"loan": loan, "instalments": loan.instalments.all(), "currency": loan.currency,
         "application_url": reverse("loans:application", kwargs={"public_id": loan.application.public_id})},
    )

