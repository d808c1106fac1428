"""Credit policy parameters: every threshold, cap, rate, bound and scale the decision engine uses.

`PolicyParams` is a frozen, validated value. The database stores it as a versioned row
(`PolicyVersion`, see policy_services.py), so every decision cites the exact parameters it used and
a replay reads them back unchanged. JSON carries Decimals as strings. docs/pricing.md explains the
defaults.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from typing import Any, ClassVar

from underwriting.money import CENT, has_whole_cents
from underwriting.provenance import Provenance

__all__ = ["DEFAULT_PROVENANCE_TERMS", "DEFAULT_SCORE_BANDS", "PolicyError", "PolicyParams", "ProvenanceTerms"]

# (label, lowest score in the band), best band first. With 600 at 50:1 and 20 points to double the
# odds: A >= 640 is PD <= ~0.5%, B >= 620 ~1%, C >= 600 ~2%, D >= 570 ~5%, E the rest.
DEFAULT_SCORE_BANDS: tuple[tuple[str, int], ...] = (("A", 640), ("B", 620), ("C", 600), ("D", 570), ("E", 300))

# The product (docs/pricing.md): 3 to 24 monthly instalments. Policy may narrow it, never widen it.
PRODUCT_MIN_TERM, PRODUCT_MAX_TERM = 3, 24


@dataclass(frozen=True)
class ProvenanceTerms:
    """What the policy lends on a history of one provenance (docs/provenance.md): at most
    `max_amount_share` of the product maximum, `rate_premium` (an annual fraction) added to the
    risk-based rate, and whether an accepted loan may be paid out without the partner confirming."""

    provenance: str
    max_amount_share: Decimal
    rate_premium: Decimal
    auto_disburse: bool

    def as_dict(self) -> dict[str, Any]:
        return {"max_amount_share": str(self.max_amount_share), "rate_premium": str(self.rate_premium),
                "auto_disburse": self.auto_disburse}


DEFAULT_PROVENANCE_TERMS: tuple[ProvenanceTerms, ...] = (
    ProvenanceTerms(Provenance.PARTNER_FEED.value, Decimal("1"), Decimal("0"), True),
    ProvenanceTerms(Provenance.SIMULATED.value, Decimal("1"), Decimal("0"), True),
    # A file anyone can make up: a tenth of the product at most, three points more, and a person at
    # the partner confirms the payout.
    ProvenanceTerms(Provenance.OWNER_UPLOAD.value, Decimal("0.10"), Decimal("0.03"), False),
)


class PolicyError(ValueError):
    """Invalid policy parameters; `errors` lists every problem, one message each."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))


@dataclass(frozen=True)
class PolicyParams:
    # Product bounds (a request outside them is a knock-out).
    min_amount: Decimal = Decimal("1000.00")
    max_amount: Decimal = Decimal("500000.00")
    min_term_months: int = PRODUCT_MIN_TERM
    max_term_months: int = PRODUCT_MAX_TERM
    # Knock-out rules.
    min_history_days: int = 180
    min_business_age_months: int = 12
    max_days_past_due: int = 7
    fraud_spike_ratio: Decimal = Decimal("3.0")
    max_pd: Decimal = Decimal("0.15")
    # Risk-based price (annual fractions).
    cost_of_funds: Decimal = Decimal("0.06")
    operating_cost: Decimal = Decimal("0.05")
    margin: Decimal = Decimal("0.03")
    lgd: Decimal = Decimal("0.85")
    min_apr: Decimal = Decimal("0.12")
    max_apr: Decimal = Decimal("0.36")
    rate_step: Decimal = Decimal("0.0025")
    origination_fee_rate: Decimal = Decimal("0.00")
    # Limit sizing.
    max_instalment_share: Decimal = Decimal("0.35")
    # All debt service (running loans and this one) as a share of monthly revenue: a second proof of
    # capacity besides free cash flow (pricing.instalment_allowance); 0 = not used.
    max_debt_service_share: Decimal = Decimal("0")
    revenue_multiple: Decimal = Decimal("1.5")
    # Exposure (docs/exposure.md): both apply to the business, to all businesses of its owner and to
    # all businesses of its company registration number, within its partner.
    exposure_cap: Decimal = Decimal("500000.00")
    max_open_loans: int = 1
    max_expected_loss: Decimal = Decimal("5000.00")
    amount_step: Decimal = Decimal("100.00")
    # Score scaling and bands.
    score_base: int = 600
    score_base_odds: Decimal = Decimal("50")
    score_pdo: Decimal = Decimal("20")
    score_min: int = 300
    score_max: int = 900
    score_bands: tuple[tuple[str, int], ...] = DEFAULT_SCORE_BANDS
    # Offers and reasons.
    offer_validity_days: int = 30
    max_reasons: int = 4
    # Trust by provenance (docs/provenance.md): terms per provenance, and how many consistency checks
    # an uploaded history may trip before it is declined (KO_HISTORY_CHECKS).
    provenance_terms: tuple[ProvenanceTerms, ...] = DEFAULT_PROVENANCE_TERMS
    max_history_flags: int = 1

    # Field kinds drive parsing and range checks: (kind, min, max, inclusive-min).
    _MONEY: ClassVar[set[str]] = {"min_amount", "max_amount", "exposure_cap", "max_expected_loss", "amount_step"}
    _RANGES: ClassVar[dict[str, tuple[Any, Any, bool]]] = {
        "min_amount": (CENT, None, True),
        "max_amount": (CENT, None, True),
        "min_term_months": (PRODUCT_MIN_TERM, PRODUCT_MAX_TERM, True),
        "max_term_months": (PRODUCT_MIN_TERM, PRODUCT_MAX_TERM, True),
        "min_history_days": (0, 3660, True),
        "min_business_age_months": (0, 600, True),
        "max_days_past_due": (0, 365, True),
        "fraud_spike_ratio": (Decimal(1), Decimal(1000), False),
        "max_pd": (Decimal(0), Decimal(1), False),
        "cost_of_funds": (Decimal(0), Decimal(1), True),
        "operating_cost": (Decimal(0), Decimal(1), True),
        "margin": (Decimal(0), Decimal(1), True),
        "lgd": (Decimal(0), Decimal(1), False),
        "min_apr": (Decimal(0), Decimal(1), True),
        "max_apr": (Decimal(0), Decimal(1), False),
        "rate_step": (Decimal(0), Decimal("0.05"), False),
        "origination_fee_rate": (Decimal(0), Decimal("0.10"), True),
        "max_instalment_share": (Decimal(0), Decimal(1), False),
        "max_debt_service_share": (Decimal(0), Decimal(1), True),
        "revenue_multiple": (Decimal(0), Decimal(24), False),
        "exposure_cap": (CENT, None, True),
        "max_open_loans": (1, 100, True),
        "max_expected_loss": (CENT, None, True),
        "amount_step": (CENT, None, True),
        "score_base": (0, 10000, True),
        "score_base_odds": (Decimal(0), Decimal(100000), False),
        "score_pdo": (Decimal(0), Decimal(1000), False),
        "score_min": (0, 10000, True),
        "score_max": (0, 10000, True),
        "offer_validity_days": (1, 365, True),
        "max_reasons": (1, 4, True),
        "max_history_flags": (0, 10, True),
    }

    def __post_init__(self) -> None:
        errors = self._type_errors()
        if not errors:
            errors = self._range_errors() + self._consistency_errors()
        if errors:
            raise PolicyError(errors)

    # ---- validation -------------------------------------------------------------------------------

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def _kind(cls, name: str) -> type:
        default = cls.__dataclass_fields__[name].default
        return tuple if name in ("score_bands", "provenance_terms") else type(default)

    def _type_errors(self) -> list[str]:
        errors = []
        for name in self.field_names():
            value, kind = getattr(self, name), self._kind(name)
            if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
                errors.append(f"{name}: must be an integer, got {value!r}")
            elif kind is Decimal and not (isinstance(value, Decimal) and value.is_finite()):
                errors.append(f"{name}: must be a finite Decimal, got {value!r}")
        bands = self.score_bands
        if not isinstance(bands, tuple) or not all(
            isinstance(b, tuple) and len(b) == 2 and isinstance(b[0], str) and type(b[1]) is int for b in bands
        ):
            errors.append(f"score_bands: must be a tuple of (label, lowest score) pairs, got {bands!r}")
        errors += self._terms_errors()
        return errors

    def _terms_errors(self) -> list[str]:
        terms = self.provenance_terms
        if not isinstance(terms, tuple) or not all(isinstance(t, ProvenanceTerms) for t in terms):
            return [f"provenance_terms: must be a tuple of ProvenanceTerms, got {terms!r}"]
        errors = []
        names = [t.provenance for t in terms]
        if sorted(names) != sorted(p.value for p in Provenance):
            errors.append(f"provenance_terms: one entry per provenance ({', '.join(p.value for p in Provenance)}), "
                          f"got {names}")
        for t in terms:
            if not (isinstance(t.max_amount_share, Decimal) and Decimal(0) < t.max_amount_share <= 1):
                errors.append(f"provenance_terms.{t.provenance}.max_amount_share: {t.max_amount_share} is not in (0, 1]")
            if not (isinstance(t.rate_premium, Decimal) and Decimal(0) <= t.rate_premium <= Decimal("0.5")):
                errors.append(f"provenance_terms.{t.provenance}.rate_premium: {t.rate_premium} is not in [0, 0.5]")
            if not isinstance(t.auto_disburse, bool):
                errors.append(f"provenance_terms.{t.provenance}.auto_disburse: must be true or false")
        return errors

    def terms_for(self, provenance: str | None) -> ProvenanceTerms:
        """The terms of a provenance; a history whose provenance was never recorded (imported before
        provenance existed, a backtest) lends as a partner feed."""
        wanted = provenance or Provenance.PARTNER_FEED.value
        return next(t for t in self.provenance_terms if t.provenance == wanted)

    def _range_errors(self) -> list[str]:
        errors = []
        for name, (low, high, low_inclusive) in self._RANGES.items():
            value = getattr(self, name)
            if low is not None and (value < low if low_inclusive else value <= low):
                errors.append(f"{name}: {value} is {'below' if low_inclusive else 'not above'} the minimum {low}")
            if high is not None and value > high:
                errors.append(f"{name}: {value} is above the maximum {high}")
        for name in self._MONEY:
            value = getattr(self, name)
            if not has_whole_cents(value):
                errors.append(f"{name}: {value} has more than 2 decimal places")
        return errors

    def _consistency_errors(self) -> list[str]:
        errors = []
        if self.min_amount > self.max_amount:
            errors.append(f"min_amount {self.min_amount} is above max_amount {self.max_amount}")
        if self.min_term_months > self.max_term_months:
            errors.append(f"min_term_months {self.min_term_months} is above max_term_months {self.max_term_months}")
        if self.min_apr > self.max_apr:
            errors.append(f"min_apr {self.min_apr} is above max_apr {self.max_apr}")
        if self.min_amount % self.amount_step:
            errors.append(f"min_amount {self.min_amount} is not a multiple of amount_step {self.amount_step}")
        if self.score_min >= self.score_max:
            errors.append(f"score_min {self.score_min} must be below score_max {self.score_max}")
        bands = self.score_bands
        if not bands:
            errors.append("score_bands: at least one band is needed")
            return errors
        labels = [label for label, _ in bands]
        cuts = [cut for _, cut in bands]
        if len(set(labels)) != len(labels) or not all(label.strip() for label in labels):
            errors.append(f"score_bands: labels must be unique and non-empty, got {labels}")
        if any(a <= b for a, b in pairwise(cuts)):
            errors.append(f"score_bands: lowest scores must fall strictly from the best band, got {cuts}")
        if cuts[-1] > self.score_min:
            errors.append(
                f"score_bands: the last band starts at {cuts[-1]}, above score_min {self.score_min}, "
                "so some scores would have no band"
            )
        return errors

    # ---- serialisation ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: Decimals as strings, integers as numbers, bands as [label, lowest] pairs."""
        out: dict[str, Any] = {}
        for name in self.field_names():
            value = getattr(self, name)
            if isinstance(value, Decimal):
                out[name] = str(value)
            elif name == "score_bands":
                out[name] = [[label, cut] for label, cut in value]
            elif name == "provenance_terms":
                out[name] = {t.provenance: t.as_dict() for t in value}
            else:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PolicyParams:
        """Parses `to_dict()` output (or a partial dict: missing keys take their defaults).

        Accepts Decimals as strings or integers; floats are refused for Decimal fields because a
        binary float is not the number that was meant. `score_bands` may also be a string
        "A:640,B:620,...". Unknown keys and invalid values raise PolicyError listing all problems.
        """
        if not isinstance(data, dict):
            raise PolicyError([f"policy parameters must be a mapping, got {type(data).__name__}"])
        names = set(cls.field_names())
        errors = [f"{key}: unknown parameter" for key in sorted(set(data) - names, key=str)]
        values: dict[str, Any] = {}
        for key in sorted(set(data) & names):
            try:
                values[key] = cls.parse_value(key, data[key])
            except ValueError as exc:
                errors.append(f"{key}: {exc}")
        if errors:
            # Report the range problems of the values that did parse in the same message.
            try:
                cls(**values)
            except PolicyError as exc:
                errors += exc.errors
            raise PolicyError(errors)
        return cls(**values)

    @classmethod
    def parse_value(cls, name: str, raw: Any) -> Any:
        """One parameter from JSON or command-line text, typed like its default."""
        kind = cls._kind(name)
        if kind is Decimal:
            return _decimal_text(raw)
        if kind is int:
            if isinstance(raw, bool):
                raise ValueError(f"expected an integer, got {raw!r}")
            if isinstance(raw, int):
                return raw
            if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
                return int(raw)
            raise ValueError(f"expected an integer, got {raw!r}")
        if name == "score_bands":
            return cls._parse_bands(raw)
        if name == "provenance_terms":
            return cls._parse_terms(raw)
        raise ValueError(f"cannot parse {raw!r}")  # pragma: no cover - every field has a kind above

    @staticmethod
    def _parse_terms(raw: Any) -> tuple[ProvenanceTerms, ...]:
        """{provenance: {max_amount_share, rate_premium, auto_disburse}} (JSON, or its text); a
        provenance left out keeps its default terms, a key left out its default value."""
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raise ValueError(f"expected JSON like {{\"owner_upload\": {{\"rate_premium\": \"0.03\"}}}}, got {raw!r}") from None
        if isinstance(raw, tuple) and all(isinstance(t, ProvenanceTerms) for t in raw):
            return raw
        if not isinstance(raw, dict):
            raise ValueError(f"expected a mapping of provenance to terms, got {raw!r}")
        defaults = {t.provenance: t for t in DEFAULT_PROVENANCE_TERMS}
        unknown = sorted(set(raw) - set(defaults), key=str)
        if unknown:
            raise ValueError(f"unknown provenance(s) {unknown}; expected {sorted(defaults)}")
        out = []
        for name, default in defaults.items():
            given = raw.get(name, {})
            if not isinstance(given, dict):
                raise ValueError(f"{name}: expected a mapping of terms, got {given!r}")
            extra = sorted(set(given) - {"max_amount_share", "rate_premium", "auto_disburse"}, key=str)
            if extra:
                raise ValueError(f"{name}: unknown term(s) {extra}")
            auto = given.get("auto_disburse", default.auto_disburse)
            if not isinstance(auto, bool):
                raise ValueError(f"{name}.auto_disburse: expected true or false, got {auto!r}")
            terms = {}
            for term in ("max_amount_share", "rate_premium"):
                try:
                    terms[term] = _decimal_text(given.get(term, getattr(default, term)))
                except ValueError as exc:
                    raise ValueError(f"{name}.{term}: {exc}") from None
            out.append(ProvenanceTerms(name, terms["max_amount_share"], terms["rate_premium"], auto))
        return tuple(out)

    @staticmethod
    def _parse_bands(raw: Any) -> tuple[tuple[str, int], ...]:
        if isinstance(raw, str):
            pairs = [item.split(":", 1) for item in raw.split(",") if item.strip()]
            if any(len(p) != 2 for p in pairs):
                raise ValueError(f"expected 'A:640,B:620,...', got {raw!r}")
        elif isinstance(raw, (list, tuple)):
            pairs = list(raw)
        else:
            raise ValueError(f"expected a list of [label, lowest score] pairs, got {raw!r}")
        bands = []
        for pair in pairs:
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise ValueError(f"each band must be a [label, lowest score] pair, got {pair!r}")
            label, cut = pair
            if isinstance(cut, str) and cut.strip().lstrip("-").isdigit():
                cut = int(cut)
            if not isinstance(label, str) or isinstance(cut, bool) or not isinstance(cut, int):
                raise ValueError(f"each band must be a [label, lowest score] pair, got {pair!r}")
            bands.append((label.strip(), cut))
        return tuple(bands)

    def replace(self, **changes: Any) -> PolicyParams:
        """A copy with some parameters changed (validated like any other)."""
        return dataclasses.replace(self, **changes)

    def diff(self, other: PolicyParams) -> dict[str, tuple[Any, Any]]:
        """{name: (self's value, other's value)} for every parameter that differs, JSON-ready."""
        mine, theirs = self.to_dict(), other.to_dict()
        return {
            name: (mine[name], theirs[name])
            for name in self.field_names()
            if getattr(self, name) != getattr(other, name)
        }


def _decimal_text(raw: Any) -> Decimal:
    """A Decimal parameter from JSON or command-line text; floats are refused (not the number meant)."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, Decimal)):
        raise ValueError(f"expected a decimal number as a string, got {raw!r}")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{raw!r} is not a finite number")
    return value
