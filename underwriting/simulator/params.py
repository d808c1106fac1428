"""Every knob of the simulated marketplace, in one place, with the reason for its value.

docs/simulator.md explains how these produce the calibration targets (default rate ~9%, oracle
AUC ~0.85 on the latest originations). Changing a value here changes the world: rerun
`tests/underwriting/simulator/test_world.py` and the bench.
"""

from dataclasses import dataclass, field

from underwriting.kinds import KIND_NAMES

# Month factors are normalised to mean 1 when the world is built, so they shift sales between
# months without changing the yearly level the hazard's "burden" is measured against.


@dataclass(frozen=True)
class Sector:
    name: str
    weight: float  # share of the population
    median_monthly_sales: float  # CNY, log-normal across merchants
    ticket: float  # typical order value (chargeback size, orders per month)
    gross_margin: float  # 1 - cost of goods sold share (supplier payments)
    payroll_ratio: float  # payroll / sales
    rent_ratio: float  # rent / sales
    fee_rate: float  # platform / acquiring fee on last month's sales
    refund_rate: float  # refunds / sales for an average-health merchant
    chargebacks_per_month: float  # for an average-health merchant
    volatility: float  # log-sd of daily sales (merchant-level spread around it)
    closed_weekday: int  # 0=Mon..6=Sun with a high closing probability; -1 none
    season: tuple[float, ...]  # 12 month factors, January first
    weekend_factor: float
    cash_share: float  # share of merchants taking part of their sales in cash
    b2b_share: float  # share of merchants with big business customers paying by transfer
    marketplace_share: float  # share of merchants selling on the marketplace (they get metrics)
    promo_days: bool  # 6.18 / 11.11 / 12.12 shopping festivals
    risk: float  # sector offset on the default logit (restaurants fail more often than pharmacies)
    supplier_word: str
    listings: float  # median active listings


SECTORS: tuple[Sector, ...] = (
    Sector("grocery", 0.17, 39_000, 45, 0.24, 0.08, 0.06, 0.006, 0.006, 0.125, 0.18, -1,
           (1.25, 1.2, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 1.0, 1.05, 0.95, 1.05), 1.15,
           0.55, 0.12, 0.5, False, -0.15, "Foods Wholesale", 400),
    Sector("restaurants", 0.15, 32_000, 70, 0.62, 0.27, 0.12, 0.02, 0.012, 0.175, 0.25, 0,
           (1.1, 1.05, 0.9, 0.95, 1.0, 1.0, 1.05, 1.05, 1.0, 1.1, 0.9, 0.95), 1.3,
           0.5, 0.05, 0.75, False, 0.35, "Catering Supply", 60),
    Sector("apparel", 0.13, 29_000, 180, 0.5, 0.1, 0.08, 0.03, 0.08, 0.3, 0.35, -1,
           (1.1, 0.75, 0.9, 0.95, 0.95, 1.15, 0.9, 0.85, 0.95, 1.0, 1.45, 1.2), 1.05,
           0.05, 0.05, 0.95, True, 0.2, "Textile", 300),
    Sector("electronics", 0.09, 58_000, 900, 0.2, 0.06, 0.04, 0.02, 0.04, 0.5, 0.4, -1,
           (1.0, 0.8, 0.9, 0.95, 0.95, 1.2, 0.95, 0.95, 1.0, 1.0, 1.35, 1.0), 1.0,
           0.0, 0.35, 0.9, True, 0.05, "Electronics Supply", 500),
    Sector("beauty", 0.09, 23_000, 150, 0.6, 0.14, 0.07, 0.03, 0.05, 0.25, 0.3, -1,
           (1.0, 0.85, 1.15, 0.95, 0.95, 1.1, 0.9, 0.9, 0.95, 1.0, 1.3, 1.0), 1.05,
           0.05, 0.05, 0.95, True, 0.1, "Cosmetics Trading", 200),
    Sector("home_goods", 0.1, 36_000, 300, 0.36, 0.08, 0.07, 0.025, 0.04, 0.2, 0.35, -1,
           (0.95, 0.8, 1.0, 1.0, 1.0, 1.1, 0.95, 0.95, 1.05, 1.05, 1.2, 1.0), 1.1,
           0.05, 0.3, 0.9, True, 0.0, "Furniture Factory", 350),
    Sector("services", 0.12, 26_000, 250, 0.72, 0.38, 0.08, 0.01, 0.01, 0.1, 0.3, 6,
           (1.0, 0.8, 1.0, 1.0, 1.0, 1.0, 1.0, 0.95, 1.05, 1.05, 1.05, 1.1), 0.7,
           0.2, 0.45, 0.35, False, -0.15, "Equipment Rental", 30),
    Sector("pharmacy", 0.07, 46_000, 60, 0.28, 0.09, 0.06, 0.008, 0.005, 0.075, 0.15, -1,
           (1.15, 1.1, 1.0, 0.95, 0.95, 0.9, 0.9, 0.9, 0.95, 1.0, 1.05, 1.15), 1.0,
           0.4, 0.1, 0.6, False, -0.4, "Pharma Distribution", 800),
    Sector("travel", 0.08, 39_000, 1500, 0.18, 0.06, 0.04, 0.02, 0.05, 0.4, 0.5, -1,
           (1.0, 1.2, 0.8, 0.9, 1.0, 1.0, 1.3, 1.3, 0.9, 1.2, 0.7, 0.7), 1.0,
           0.0, 0.25, 0.8, False, 0.25, "Tour Operator", 120),
)


@dataclass(frozen=True)
class Region:
    name: str
    weight: float
    risk: float
    city: str


REGIONS: tuple[Region, ...] = (
    Region("east", 0.28, -0.1, "Hangzhou"),
    Region("south", 0.22, -0.05, "Guangzhou"),
    Region("north", 0.16, 0.0, "Tianjin"),
    Region("central", 0.14, 0.05, "Wuhan"),
    Region("southwest", 0.12, 0.1, "Chengdu"),
    Region("northeast", 0.08, 0.2, "Shenyang"),
)


@dataclass(frozen=True)
class Hazard:
    """The causal model of default: the realised logit of a loan (docs/simulator.md, "Default").

    L = intercept + sector + region + health * E[mean future health] + burden * log(burden / 0.15)
        + volatility * (sigma - 0.3) + cash terms + lateness * trait + youth + growth
        + repeat * min(prior repaid loans, 2) + fraud * F
        + health * W (future health innovations, unforeseeable) + shock * S (a sector shock
        starting during the term, unforeseeable) + nu (idiosyncratic, unforeseeable)
    D ~ Bernoulli(sigmoid(L)); true PD = E[sigmoid(L) | origination] over W, S and nu.
    """

    intercept: float = -2.9
    health: float = -1.7
    burden: float = 1.6
    burden_ref: float = 0.15
    volatility: float = 4.0
    cash_cover: float = -1.0  # times log(1 + positive balance / monthly expenses)
    overdrawn: float = 0.6  # balance below zero at origination
    lateness: float = 0.25  # times the habitual-lateness trait (standard normal)
    youth: float = 0.7  # times max(0, 1 - business age / 3 years)
    growth: float = -4.0  # times the merchant's long-run monthly growth rate (weakly observable)
    repeat: float = -0.1  # per prior loan repaid to this lender (at most two)
    fraud: float = 6.0
    shock: float = 0.6
    nu_sd: float = 0.25


@dataclass(frozen=True)
class WorldParams:
    sectors: tuple[Sector, ...] = SECTORS
    regions: tuple[Region, ...] = REGIONS
    hazard: Hazard = field(default_factory=Hazard)

    # Latent health: h = mu + u + c (+ distress after a default). u is AR(1) per 30-day period.
    health_mu_sd: float = 0.45
    health_rho: float = 0.97
    health_sigma: float = 0.15
    period_days: int = 30
    # How strongly health moves what can be observed.
    sales_health: float = 0.3  # log daily sales per unit of health
    refund_health: float = -0.7  # log refund rate per unit of health
    chargeback_health: float = -1.0
    rating_health: float = 0.3

    # Sector shocks: a Poisson process over the world (one sector per shock, uniform), so each
    # sector sees an independent Poisson process at rate shock_rate / len(sectors).
    shock_rate_per_day: float = 1 / 180
    shock_severity: tuple[float, float] = (0.8, 1.5)
    shock_decay: float = 0.75  # per period

    # Population.
    full_history_share: float = 0.6  # merchants onboarded before the history starts
    fraud_share: float = 0.015
    fraud_ring_size: tuple[int, int] = (2, 4)
    growth_sd: float = 0.015  # monthly log growth
    growth_mean: float = 0.003
    size_sd: float = 0.8
    volatility_spread: float = 0.35
    buffer_months_median: float = 0.6
    external_debt_share: float = 0.25
    lateness_base: float = -2.2  # logit of a habitual delay per obligation for trait 0
    lateness_slope: float = 1.5
    marketplace_rating_mean: float = 4.45

    # Loans.
    min_history_days: int = 60
    demand_per_period: float = 0.55  # chance an eligible merchant borrows at a period start
    renewal_per_period: float = 0.6  # chance a performing loan past half term is renewed
    terms: tuple[int, ...] = (3, 6, 9, 12, 18, 24)
    term_weights: tuple[float, ...] = (0.35, 0.35, 0.1, 0.12, 0.04, 0.04)
    apr_range: tuple[float, float] = (0.12, 0.3)
    max_instalment_share: float = 0.35  # lender cap: instalment / observed monthly revenue
    default_dpd_days: int = 90
    post_default_close_share: float = 0.55

    @property
    def n_sectors(self) -> int:
        return len(self.sectors)


DEFAULT_PARAMS = WorldParams()

# The simulator codes kinds from 0 in its own arrays; the names are the platform's (underwriting/kinds.py).
TRANSACTION_KINDS: tuple[str, ...] = KIND_NAMES
KIND = {name: i for i, name in enumerate(TRANSACTION_KINDS)}
METRICS: tuple[str, ...] = (
    "rating", "reviews", "dispute_rate", "return_rate", "late_shipment_rate", "active_listings",
)
