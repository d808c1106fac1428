"""The knock-out rules: the policy's hard limits, checked before the model is asked."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal

from underwriting.engine.context import BusinessContext
from underwriting.engine.exposure import SCOPE_WORDS, Exposure
from underwriting.engine.outcomes import KnockOut
from underwriting.engine.policy import PolicyParams


@dataclass(frozen=True)
class RuleResult:
    code: str
    passed: bool
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


def knockout_rules(
    *, context: BusinessContext, amount: Decimal, term_months: int, policy: PolicyParams
) -> list[RuleResult]:
    """Every policy rule, evaluated and recorded whether it passes or not (auditors see both)."""
    in_bounds = (
        policy.min_amount <= amount and policy.min_term_months <= term_months <= policy.max_term_months
    )
    rules = [
        RuleResult(
            KnockOut.REQUEST_BOUNDS,
            in_bounds,
            f"Requested {amount} over {term_months} months; the product lends from {policy.min_amount} "
            f"over {policy.min_term_months} to {policy.max_term_months} months.",
        ),
        RuleResult(
            KnockOut.HISTORY_SHORT,
            context.history_days >= policy.min_history_days,
            f"{context.history_days} days of transaction history; at least {policy.min_history_days} are needed.",
        ),
        _age_rule(context, policy),
        RuleResult(
            KnockOut.BLOCKED,
            not context.is_blocked,
            "The business is on the blocked list." if context.is_blocked else "Not on the blocked list.",
        ),
        _arrears_rule(context, policy),
    ]
    if context.open_platform_loans is not None:
        rules.append(_open_loans_rule(context, policy))
    if context.history_checks is not None:
        rules.append(_history_checks_rule(context, policy))
    rules.append(_fraud_signal_rule(context, policy))
    return rules


def _age_rule(context: BusinessContext, policy: PolicyParams) -> RuleResult:
    min_age_days = policy.min_business_age_months * 30
    age = context.business_age_days
    return RuleResult(
        KnockOut.TOO_YOUNG,
        age is not None and age >= min_age_days,
        f"The business is {'of unknown age' if age is None else f'{age // 30} months old'}; "
        f"at least {policy.min_business_age_months} months are needed.",
    )


def _arrears_rule(context: BusinessContext, policy: PolicyParams) -> RuleResult:
    dpd = context.max_days_past_due or 0.0
    in_arrears = dpd > policy.max_days_past_due or context.recent_defaults > 0
    if context.open_platform_loans is None:  # decided before exposure was read live: its own words
        arrears = (f"Existing loans: {context.open_loans} open, most days past due {dpd:.0f} "
                   f"(at most {policy.max_days_past_due} allowed), {context.recent_defaults} recent default(s).")
    else:
        arrears = (f"Credit record before today: {context.open_loans} loan(s) running, most days past due "
                   f"{dpd:.0f} (at most {policy.max_days_past_due} allowed), {context.recent_defaults} "
                   "default(s) in the last year.")
    return RuleResult(KnockOut.ARREARS, not in_arrears, arrears)


def _fraud_signal_rule(context: BusinessContext, policy: PolicyParams) -> RuleResult:
    spike = context.inflow_spike_ratio
    return RuleResult(
        KnockOut.FRAUD_SIGNAL,
        spike is None or spike <= policy.fraud_spike_ratio,
        "Inflows over the last 14 days were "
        + ("not comparable with an earlier baseline" if spike is None else f"{spike:.1f} times the earlier daily average")
        + f" (above {policy.fraud_spike_ratio} is referred as a fraud signal).",
    )


def _open_loans_rule(context: BusinessContext, policy: PolicyParams) -> RuleResult:
    """At most `max_open_loans` platform loans at a time for the business, its owner's businesses and
    the businesses of its company registration (docs/exposure.md)."""
    parties = Exposure.from_dict(context.exposure or {}).parties
    worst = max(parties, key=lambda p: p.open_platform_loans, default=None)
    count = context.open_platform_loans
    where = SCOPE_WORDS[worst.scope] if worst is not None and worst.open_platform_loans else "this business"
    return RuleResult(
        KnockOut.OPEN_LOANS,
        count < policy.max_open_loans,
        f"{count} open loan(s) with us for {where}; at most {policy.max_open_loans} at a time.",
    )


def _history_checks_rule(context: BusinessContext, policy: PolicyParams) -> RuleResult:
    """Uploaded files that trip more than `max_history_flags` consistency checks are not lent on
    (docs/provenance.md): each check alone has innocent explanations, several together rarely do."""
    tripped = context.history_checks or []
    if not tripped:
        detail = "No uploaded file in this history tripped a consistency check."
    else:
        listed = "; ".join(f"{c.get('title') or c['code']} ({c['code']})" for c in tripped)
        detail = (f"The uploaded history tripped {len(tripped)} consistency check(s): {listed}. More than "
                  f"{policy.max_history_flags} is declined.")
    return RuleResult(KnockOut.HISTORY_CHECKS, len(tripped) <= policy.max_history_flags, detail)
