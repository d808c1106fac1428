"""The merchant population: static traits, the counterparty network and the latent health paths."""

from dataclasses import dataclass

import numpy as np

from underwriting.simulator.params import WorldParams

_SYLLABLES_A = ("Hua", "Xin", "Jin", "Long", "Feng", "Tian", "Kang", "Da", "Hong", "Sheng", "Ming",
                "Yong", "Rui", "Bao", "Fu", "Heng", "Jia", "Li", "Mei", "Qing", "Shun", "Wan", "Xiang",
                "Yi", "Zhong")
_SYLLABLES_B = ("xin", "da", "li", "tai", "feng", "yuan", "hui", "cheng", "an", "heng", "sheng",
                "fa", "long", "mei", "tong", "xing", "yu", "kang", "rui", "jia")
_SURNAMES = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu",
             "Sun", "Ma", "Zhu", "Hu", "Guo", "He", "Lin", "Gao", "Luo")
_GIVEN = ("Wei", "Fang", "Na", "Min", "Jing", "Lei", "Jun", "Yan", "Tao", "Ping", "Hui", "Qiang",
          "Xiu", "Gang", "Yun", "Bin", "Hong", "Chao", "Lan", "Ning")
_SHOP_WORD = {
    "grocery": "Market", "restaurants": "Kitchen", "apparel": "Fashion", "electronics": "Digital",
    "beauty": "Beauty", "home_goods": "Home", "services": "Services", "pharmacy": "Pharmacy",
    "travel": "Travel",
}
_USCC_ALPHABET = np.array(list("0123456789ABCDEFGHJKLMNPQRTUWXY"))

CHANNELS = ("Jade Market settlement", "Alipay settlement", "WeChat Pay settlement", "UnionPay settlement")
LENDER = "Jade Capital"
TAX_OFFICE = "State Taxation Administration"
EXTERNAL_LENDERS = ("ICBC loan", "China Construction Bank loan", "Bank of China loan", "WeBank loan",
                    "Ping An Bank loan", "Agricultural Bank loan")
UTILITIES = ("State Grid", "China Telecom", "China Mobile", "DingTalk", "Kingdee Cloud")


class Counterparties:
    """Counterparty names, interned: rows carry an index (-1 = no counterparty)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}

    def add(self, name: str) -> int:
        idx = self._index.get(name)
        if idx is None:
            idx = len(self.names)
            self.names.append(name)
            self._index[name] = idx
        return idx

    def add_many(self, names) -> np.ndarray:
        return np.array([self.add(n) for n in names], dtype=np.int32)


def _company(i: int, j: int, word: str, city: str) -> str:
    return f"{_SYLLABLES_A[i % len(_SYLLABLES_A)]}{_SYLLABLES_B[j % len(_SYLLABLES_B)]} {word} ({city})"


@dataclass
class Population:
    n: int
    sector: np.ndarray
    region: np.ndarray
    name: list[str]
    registration_number: list[str]
    onboard_day: np.ndarray  # first day with data (day index, may be 0)
    onboarded_on_offset: np.ndarray  # onboarded_on relative to start (days, <= onboard_day)
    established_offset: np.ndarray  # established_on relative to start (days, negative = before)
    period_offset: np.ndarray  # health periods start on days where (day + offset) % 30 == 0
    base_daily: np.ndarray  # CNY per day at health 0, trend 1, season 1
    growth: np.ndarray  # monthly log growth
    volatility: np.ndarray
    mu: np.ndarray  # long-run health
    buffer_months: np.ndarray
    lateness: np.ndarray  # habitual lateness trait (standard normal)
    late_prob: np.ndarray
    cogs: np.ndarray
    payroll_ratio: np.ndarray
    rent_ratio: np.ndarray
    cash_share: np.ndarray
    b2b_share: np.ndarray
    marketplace: np.ndarray  # bool: has marketplace metrics
    channel: np.ndarray  # counterparty index of its settlement channel
    suppliers: np.ndarray  # (n, 3) counterparty indices (repeats when fewer than 3)
    supplier_interval: np.ndarray
    customers: np.ndarray  # (n, 3) big customers (b2b)
    landlord: np.ndarray
    owner: np.ndarray
    utility: np.ndarray
    external_lender: np.ndarray  # -1 = no external debt
    external_ratio: np.ndarray
    fraud: np.ndarray  # bool
    ring: np.ndarray  # fraud ring id, -1
    ring_counterparties: np.ndarray  # (n, 2) counterparty indices of the ring's fake buyers
    rating_offset: np.ndarray
    listings: np.ndarray
    review_rate: np.ndarray
    phase: np.ndarray  # (n, 8) small integers: weekday / day-of-month choices


def build_population(rng: np.random.Generator, params: WorldParams, n: int, days: int,
                     cps: Counterparties) -> Population:
    """The merchants. The helpers draw in the order they are called here, and interning the
    counterparties in that order fixes their indices: both are part of the world."""
    f = _basics(rng, params, n, days)
    sector, region = f["sector"], f["region"]
    f.update(_trade(rng, params, sector, n, cps))
    f.update(_suppliers(rng, params, sector, region, n, cps))
    f.update(_customers_and_landlords(rng, params, region, n, cps))
    f.update(_owners_and_debt(rng, params, n, cps))
    f.update(_fraud_rings(rng, params, n, cps))
    f.update(_identity(rng, params, sector, n))
    # Drawn last, in this order.
    f["period_offset"] = rng.integers(0, params.period_days, size=n).astype(np.int32)
    f["rating_offset"] = rng.normal(0, 0.08, n)
    f["review_rate"] = rng.uniform(0.01, 0.04, n)
    f["phase"] = rng.integers(0, 1000, size=(n, 8)).astype(np.int32)
    return Population(n=n, **f)


def _basics(rng: np.random.Generator, params: WorldParams, n: int, days: int) -> dict:
    """Sector, region, onboarding and age, size, growth, volatility, health level, buffer, lateness."""
    sectors, regions = params.sectors, params.regions
    S, R = len(sectors), len(regions)
    sw = np.array([s.weight for s in sectors])
    rw = np.array([r.weight for r in regions])
    sector = rng.choice(S, size=n, p=sw / sw.sum()).astype(np.int16)
    region = rng.choice(R, size=n, p=rw / rw.sum()).astype(np.int16)

    # Onboarding: some merchants have the whole window, the rest join uniformly until two
    # months before the end (younger ones are the thin-file cases).
    full = rng.random(n) < params.full_history_share
    join = rng.integers(0, max(days - 60, 1), size=n)
    onboard_day = np.where(full, 0, join).astype(np.int32)
    onboarded_offset = np.where(full, -rng.integers(1, 3 * 365, size=n), onboard_day).astype(np.int32)
    age_at_onboarding = np.exp(rng.normal(np.log(2.5 * 365), 0.9, size=n)).clip(60, 25 * 365)
    established_offset = (onboarded_offset - age_at_onboarding).astype(np.int32)

    median = np.array([s.median_monthly_sales for s in sectors])[sector]
    monthly = median * np.exp(rng.normal(0.0, params.size_sd, size=n))
    growth = rng.normal(params.growth_mean, params.growth_sd, size=n).clip(-0.05, 0.06)
    vol_s = np.array([s.volatility for s in sectors])[sector]
    volatility = vol_s * np.exp(rng.normal(0.0, params.volatility_spread, size=n))
    mu = rng.normal(0.0, params.health_mu_sd, size=n)
    buffer_months = params.buffer_months_median * np.exp(rng.normal(0.0, 0.6, size=n))
    lateness = rng.normal(0.0, 1.0, size=n)
    late_prob = 1.0 / (1.0 + np.exp(-(params.lateness_base + params.lateness_slope * lateness)))
    return {"sector": sector, "region": region, "onboard_day": onboard_day, "onboarded_on_offset": onboarded_offset,
            "established_offset": established_offset, "base_daily": monthly / 30.44, "growth": growth,
            "volatility": volatility, "mu": mu, "buffer_months": buffer_months, "lateness": lateness,
            "late_prob": late_prob}


def _trade(rng: np.random.Generator, params: WorldParams, sector: np.ndarray, n: int,
           cps: Counterparties) -> dict:
    """Cost structure, cash / b2b shares, marketplace presence and the settlement channel."""
    sectors = params.sectors
    margin = np.array([s.gross_margin for s in sectors])[sector]
    cogs = (1 - margin) * np.exp(rng.normal(0.0, 0.06, size=n))
    payroll_ratio = np.array([s.payroll_ratio for s in sectors])[sector] * np.exp(rng.normal(0, 0.2, n))
    rent_ratio = np.array([s.rent_ratio for s in sectors])[sector] * np.exp(rng.normal(0, 0.25, n))
    cash_share = np.where(rng.random(n) < np.array([s.cash_share for s in sectors])[sector],
                          rng.uniform(0.15, 0.45, n), 0.0)
    b2b_share = np.where(rng.random(n) < np.array([s.b2b_share for s in sectors])[sector],
                         rng.uniform(0.1, 0.4, n), 0.0)
    marketplace = rng.random(n) < np.array([s.marketplace_share for s in sectors])[sector]

    channel_names = cps.add_many(CHANNELS)
    # Marketplace sellers settle through the marketplace; the others through a payment app.
    channel = np.where(marketplace, channel_names[0], channel_names[rng.integers(1, 4, size=n)])
    return {"cogs": cogs, "payroll_ratio": payroll_ratio, "rent_ratio": rent_ratio, "cash_share": cash_share,
            "b2b_share": b2b_share, "marketplace": marketplace, "channel": channel.astype(np.int32)}


def _suppliers(rng: np.random.Generator, params: WorldParams, sector: np.ndarray, region: np.ndarray, n: int,
               cps: Counterparties) -> dict:
    """Supply network: each sector x region has a pool of suppliers; popularity is Zipf-like, so
    a few suppliers serve many merchants (the hubs a network feature can see)."""
    suppliers = np.zeros((n, 3), dtype=np.int32)
    supplier_pools = {}
    for si, s in enumerate(params.sectors):
        for ri, r in enumerate(params.regions):
            k = 10 + int(40 * s.weight * r.weight * 4)
            names = [_company(si * 7 + ri * 3 + j, j * 3 + si, s.supplier_word, r.city) for j in range(k)]
            supplier_pools[si, ri] = cps.add_many(names)
    for (si, ri), pool in supplier_pools.items():
        members = np.flatnonzero((sector == si) & (region == ri))
        if members.size == 0:
            continue
        pop = 1.0 / np.arange(1, pool.size + 1) ** 1.1
        picks = rng.choice(pool.size, size=(members.size, 3), p=pop / pop.sum())
        nsup = rng.integers(1, 4, size=members.size)
        picks[nsup < 2, 1] = picks[nsup < 2, 0]
        picks[nsup < 3, 2] = picks[nsup < 3, 1]
        suppliers[members] = pool[picks]
    supplier_interval = rng.choice(np.array([10, 14, 15]), size=n, p=[0.3, 0.4, 0.3]).astype(np.int32)
    return {"suppliers": suppliers, "supplier_interval": supplier_interval}


def _customers_and_landlords(rng: np.random.Generator, params: WorldParams, region: np.ndarray, n: int,
                             cps: Counterparties) -> dict:
    """Big (b2b) customers and landlords, from each region's pools."""
    customers = np.zeros((n, 3), dtype=np.int32)
    landlord = np.zeros(n, dtype=np.int32)
    for ri, r in enumerate(params.regions):
        members = np.flatnonzero(region == ri)
        pool = cps.add_many([_company(j * 5 + ri, j + ri * 2, "Group", r.city) for j in range(25)])
        pop = 1.0 / np.arange(1, pool.size + 1)
        customers[members] = pool[rng.choice(pool.size, size=(members.size, 3), p=pop / pop.sum())]
        landlords = cps.add_many([_company(j * 3 + ri * 5, j * 7 + ri, "Property", r.city) for j in range(15)])
        landlord[members] = landlords[rng.integers(0, landlords.size, size=members.size)]
    return {"customers": customers, "landlord": landlord}


def _owners_and_debt(rng: np.random.Generator, params: WorldParams, n: int, cps: Counterparties) -> dict:
    """The utility, the owner (a person) and external debt (another lender, or none)."""
    utility = cps.add_many(UTILITIES)[rng.integers(0, len(UTILITIES), size=n)]
    owner_names = [f"{_SURNAMES[a]} {_GIVEN[b]}{_GIVEN[c].lower()}" for a, b, c in
                   rng.integers(0, 20, size=(n, 3)).tolist()]
    owner = cps.add_many(owner_names)
    lenders = cps.add_many(EXTERNAL_LENDERS)
    has_external = rng.random(n) < params.external_debt_share
    external_lender = np.where(has_external, lenders[rng.integers(0, len(lenders), size=n)], -1)
    external_ratio = np.where(has_external, rng.uniform(0.02, 0.1, size=n), 0.0)
    return {"utility": utility.astype(np.int32), "owner": owner, "external_lender": external_lender.astype(np.int32),
            "external_ratio": external_ratio}


def _fraud_rings(rng: np.random.Generator, params: WorldParams, n: int, cps: Counterparties) -> dict:
    """Bust-out fraud comes in rings that wash money through the same few accounts."""
    fraud = rng.random(n) < params.fraud_share
    ring = np.full(n, -1, dtype=np.int32)
    ring_cps = np.full((n, 2), -1, dtype=np.int32)
    fraudsters = np.flatnonzero(fraud)
    rng.shuffle(fraudsters)
    pos, rid = 0, 0
    while pos < fraudsters.size:
        size = int(rng.integers(params.fraud_ring_size[0], params.fraud_ring_size[1] + 1))
        members = fraudsters[pos:pos + size]
        ring[members] = rid
        people = rng.integers(0, 20, size=(2, 2))
        ring_cps[members, 0] = cps.add(f"{_SURNAMES[people[0, 0]]} {_GIVEN[people[0, 1]]} trading {rid}")
        ring_cps[members, 1] = cps.add(f"{_SURNAMES[people[1, 0]]} {_GIVEN[people[1, 1]]} trading {rid}")
        pos += size
        rid += 1
    return {"fraud": fraud, "ring": ring, "ring_counterparties": ring_cps}


def _identity(rng: np.random.Generator, params: WorldParams, sector: np.ndarray, n: int) -> dict:
    """Shop names, registration numbers (15% have none) and marketplace listings."""
    sectors = params.sectors
    name_idx = rng.integers(0, 500, size=(n, 2))
    shop_words = [_SHOP_WORD.get(s.name, s.name.title()) for s in sectors]
    name = [f"{_SYLLABLES_A[a % 25]}{_SYLLABLES_B[b % 20]} {shop_words[s]}"
            for (a, b), s in zip(name_idx.tolist(), sector.tolist(), strict=True)]
    has_reg = rng.random(n) < 0.85
    chars = _USCC_ALPHABET[rng.integers(0, _USCC_ALPHABET.size, size=(n, 16))]
    registration_number = ["91" + "".join(row) if ok else "" for row, ok in zip(chars.tolist(), has_reg.tolist(),
                                                                                 strict=True)]
    listings = np.array([s.listings for s in sectors])[sector] * np.exp(rng.normal(0, 0.7, n))
    return {"name": name, "registration_number": registration_number, "listings": listings}


@dataclass
class Latent:
    """Health paths per 30-day period: u (idiosyncratic AR(1)), c (sector shocks), z (innovations)."""

    z: np.ndarray  # (n, P) standard normal innovations
    u: np.ndarray  # (n, P)
    c: np.ndarray  # (n, P) shock component (<= 0)
    shock_day: np.ndarray  # world shocks: arrival day (float, may be < 0 or > days)
    shock_sector: np.ndarray
    shock_severity: np.ndarray


def build_latent(rng: np.random.Generator, params: WorldParams, pop: Population, periods: int,
                 days: int) -> Latent:
    n = pop.n
    rho, sigma = params.health_rho, params.health_sigma
    z = rng.standard_normal((n, periods))
    u = np.empty((n, periods))
    prev = rng.normal(0.0, sigma / np.sqrt(1 - rho**2), size=n)
    for p in range(periods):
        prev = rho * prev + sigma * z[:, p]
        u[:, p] = prev

    # World shocks over [-200 days, the end of the extended horizon]: Poisson arrivals, each in
    # one uniformly chosen sector. Arrivals before the window leave a decaying trace at its start.
    t0, t1 = -200.0, float(periods * params.period_days)
    count = rng.poisson(params.shock_rate_per_day * (t1 - t0))
    shock_day = np.sort(rng.uniform(t0, t1, size=count))
    shock_sector = rng.integers(0, params.n_sectors, size=count)
    severity = rng.uniform(*params.shock_severity, size=count)
    c = np.zeros((n, periods))
    pidx = np.arange(periods)
    pd_ = params.period_days
    for tau, s, sev in zip(shock_day, shock_sector, severity, strict=True):
        members = np.flatnonzero(pop.sector == s)
        # The shock reaches a merchant's health at its first period starting on or after tau.
        first = np.ceil((tau + pop.period_offset[members]) / pd_).astype(int)
        lag = pidx[None, :] - first[:, None]
        c[members] += np.where(lag >= 0, -sev * params.shock_decay ** np.maximum(lag, 0), 0.0)
    return Latent(z=z, u=u, c=c, shock_day=shock_day, shock_sector=shock_sector, shock_severity=severity)
