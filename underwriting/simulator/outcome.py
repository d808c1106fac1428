"""The loan outcome process: the true PD and the realised default, drawn consistently.

The realised default logit is L = m + health * W + shock * S + nu, where m is known at origination
and W (future health innovations), S (a sector shock starting during the term) and nu
(idiosyncratic) are not. Given m, W + nu is Gaussian with a known variance and S is Bernoulli with
a known probability, so the true PD, E[sigmoid(L) | m], is a two-point mixture of logit-normal
integrals, each computed exactly (to ~1e-12) by Gauss-Hermite quadrature. D is then drawn as
Bernoulli(sigmoid(L)) with the realised W, S and nu, so E[D | m] = true PD: the PD is calibrated by
construction, and the calibration tests check the code, not luck.
"""

import numpy as np

from underwriting.simulator.params import WorldParams

_GH_X, _GH_W = np.polynomial.hermite.hermgauss(80)
_GH_NODES = np.sqrt(2.0) * _GH_X
_GH_WEIGHTS = _GH_W / np.sqrt(np.pi)


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def logit_normal_mean(mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """E[sigmoid(mean + sd * X)], X ~ N(0, 1), by Gauss-Hermite quadrature (80 nodes)."""
    mean = np.asarray(mean, dtype=float)[..., None]
    sd = np.asarray(sd, dtype=float)[..., None]
    return (sigmoid(mean + sd * _GH_NODES) * _GH_WEIGHTS).sum(axis=-1)


def future_health_weights(params: WorldParams, k: int) -> tuple[float, np.ndarray]:
    """For a term of k periods: the weight of today's deviation u in the mean future health, and
    the weights of the k future innovations z_1..z_k (already multiplied by sigma).

    mean_{j=1..k} u_{t+j} = a * u_t + sum_j w_j z_{t+j}, with u_{t+j} = rho u_{t+j-1} + sigma z_{t+j}.
    """
    rho, sigma = params.health_rho, params.health_sigma
    powers = rho ** np.arange(1, k + 1)
    a = powers.sum() / k
    j = np.arange(1, k + 1)
    w = sigma * (1 - rho ** (k - j + 1)) / ((1 - rho) * k)
    return a, w


def shock_decay_mean(params: WorldParams, k: int) -> float:
    """Mean over the next k periods of a known shock component's decay factor."""
    return float((params.shock_decay ** np.arange(1, k + 1)).sum() / k)


def shock_probability(params: WorldParams, k: int) -> float:
    """P(at least one new shock in a given sector reaches the merchant during k periods)."""
    rate = params.shock_rate_per_day / params.n_sectors
    return float(1.0 - np.exp(-rate * params.period_days * k))


def true_pd(params: WorldParams, m: np.ndarray, term: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True PD for known logits m and terms (periods); also returns the shock probability used."""
    hz = params.hazard
    pd_ = np.empty_like(m, dtype=float)
    q_all = np.empty_like(m, dtype=float)
    for k in np.unique(term):
        sel = term == k
        _, w = future_health_weights(params, int(k))
        sd = np.sqrt((hz.health**2) * float((w**2).sum()) + hz.nu_sd**2)
        q = shock_probability(params, int(k))
        sds = np.full(sel.sum(), sd)
        pd_[sel] = (1 - q) * logit_normal_mean(m[sel], sds) + q * logit_normal_mean(m[sel] + hz.shock, sds)
        q_all[sel] = q
    return pd_, q_all
