"""Fills the audit console and the risk dashboard of a demo install with real decisions.

Submits applications for unowned merchants of a partner through the partner channel and decides them
synchronously with the real engine (the same services the worker runs), accepts some offers (loans
disbursed on simulated channels), and records a few officer reviews. Safe to run again: each run adds
more. Needs an active model (`train_model`) and the demo logins (`setup_demo`).
"""

import random
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Business, PartnerBank, User
from loans.applications.booking import offer_accept
from loans.applications.models import ApplicationStatus, Channel, Purpose
from loans.applications.services import DecisionDeferred, application_decide, application_submit
from loans.applications.transitions import partner_actor
from loans.businesses.selectors import business_suggested_amount
from loans.reviews.services import review_record


class Command(BaseCommand):
    help = "Submit and decide demo applications (and accept some offers, record some reviews) for the audit console."

    def add_arguments(self, parser):
        parser.add_argument("--partner", default="demo")
        parser.add_argument("--applications", type=int, default=60)
        parser.add_argument("--seed", type=int, default=310)
        parser.add_argument("--reviewer", default="officer@demo.example.com")

    def handle(self, *args, partner, applications, seed, reviewer, **options):
        tenant = PartnerBank.objects.filter(slug=partner).first()
        if tenant is None:
            raise CommandError(f"There is no partner {partner!r} (simulate_marketplace --partner {partner}).")
        rng = random.Random(seed)
        businesses = list(Business.objects.filter(partner=tenant, owner__isnull=True).order_by("external_id")[:2000])
        if not businesses:
            raise CommandError(f"Partner {partner!r} has no merchants without an owner.")
        officer = User.objects.filter(email=reviewer).first()
        counts: dict[str, int] = {}
        decided = []
        # Distinct businesses: one application in progress per business (docs/exposure.md).
        for business in rng.sample(businesses, min(applications, len(businesses))):
            term = rng.choice([3, 6, 9, 12, 18, 24])
            amount = Decimal(rng.choice([3000, 5000, 8000, 12000, 20000, 35000, 60000]))
            if rng.random() < 0.6:
                # Most applicants ask for about what the engine would lend them (the form pre-fills it).
                suggestion = business_suggested_amount(business=business, term_months=term)
                if suggestion.amount:
                    step = Decimal(100)
                    amount = max(Decimal(1000), (suggestion.amount * Decimal(str(rng.uniform(0.6, 1.3))) / step)
                                 .quantize(Decimal(1)) * step)
            application = application_submit(business=business, amount=amount, term_months=term,
                                             purpose=rng.choice(Purpose.values), channel=Channel.API,
                                             actor=partner_actor(tenant))
            try:
                application = application_decide(application_id=application.pk)
            except DecisionDeferred as exc:
                raise CommandError(f"The engine could not decide: {exc}") from exc
            counts[application.status] = counts.get(application.status, 0) + 1
            decided.append(application)
            if application.status == ApplicationStatus.APPROVED and rng.random() < 0.5:
                offer_accept(application=application, actor=partner_actor(tenant))
                counts["accepted"] = counts.get("accepted", 0) + 1
        reviews = 0
        if officer is not None:
            verdicts = [("agree", ""), ("agree", ""), ("disagree", "Sales are recovering; the trend reason overstates it."),
                        ("escalate", "Possible related-party inflows: ask the partner for statements."),
                        ("note", "Owner called to ask about the counter-offer amount.")]
            for application in rng.sample(decided, min(len(decided), 8)):
                verdict, note = rng.choice(verdicts)
                review_record(decision=application.decision, reviewer=officer, verdict=verdict, note=note)
                reviews += 1
        summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        self.stdout.write(f"{len(decided)} application(s) decided ({summary}); {reviews} review(s) recorded.")
