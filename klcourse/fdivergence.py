r"""KL's family: f-divergences and Rényi divergences (chapter 8).

An f-divergence compares p with q through a convex function f with f(1) = 0:

.. math:: D_f(p \,\|\, q) = \sum_i q_i\, f\!\left(\frac{p_i}{q_i}\right)
          \quad\text{or}\quad \int q(x)\, f\!\left(\frac{p(x)}{q(x)}\right) dx .

Each member is a choice of f (`GENERATORS`): u log u gives KL(p‖q), −log u gives the
reverse KL(q‖p), ½|u − 1| total variation, ½(√u − 1)² the squared Hellinger distance,
(u − 1)² Pearson's χ², and ½[u log u − (u + 1) log((u + 1)/2)] Jensen–Shannon. Where
q_i = 0 < p_i the term is p_i·f′(∞) with f′(∞) = lim f(u)/u (infinite for KL and χ²,
finite for TV, Hellinger and JS, 0 for the reverse KL).

The Rényi divergence of order α > 0, α ≠ 1,

.. math:: D_\alpha(p \,\|\, q) = \frac{1}{\alpha - 1} \log \sum_i p_i^\alpha q_i^{1-\alpha},

is a monotone function of an f-divergence and tends to KL(p‖q) as α → 1. That
f-divergence is Amari's α-divergence,

.. math:: A_\alpha(p \,\|\, q) = \frac{\sum_i p_i^\alpha q_i^{1-\alpha} - 1}{\alpha(\alpha - 1)}
          = \frac{e^{(\alpha - 1) D_\alpha(p \| q)} - 1}{\alpha(\alpha - 1)},

increasing in D_α for each α (so both have the same minimisers), with
f(u) = (u^α − 1 − α(u − 1))/(α(α − 1)) (`alpha_generator`): KL(p‖q) as α → 1, KL(q‖p)
as α → 0, 4H² at α = ½ and ½χ² at α = 2.

All functions take p first, like every ``kl_*`` of the course. Discrete versions take
probability vectors; ``*_quadrature`` versions take 1-D TFP distributions and integrate
with `klcourse.divergence.expectation_quadrature`.
"""

import math

import numpy as np
import scipy.special

from klcourse import _validate
from klcourse.divergence import expectation_quadrature

__all__ = [
    "GENERATORS",
    "f_divergence",
    "f_divergence_quadrature",
    "total_variation",
    "total_variation_normal",
    "squared_hellinger",
    "chi_square",
    "jensen_shannon",
    "renyi",
    "renyi_normal",
    "renyi_quadrature",
    "alpha_generator",
    "alpha_divergence",
    "alpha_divergence_normal",
    "fit_normal_renyi",
]


def _kl(u):
    return scipy.special.xlogy(u, u)


def _reverse_kl(u):
    with np.errstate(divide="ignore"):
        return -np.log(u)


def _total_variation(u):
    return 0.5 * np.abs(u - 1)


def _squared_hellinger(u):
    return 0.5 * (np.sqrt(u) - 1) ** 2


def _chi_square(u):
    return (u - 1) ** 2


def _jensen_shannon(u):
    return 0.5 * (scipy.special.xlogy(u, u) - scipy.special.xlogy(u + 1, (u + 1) / 2))


#: name -> (f, f'(∞) = lim f(u)/u): the generator and the cost of mass where q = 0.
GENERATORS = {
    "kl": (_kl, math.inf),
    "reverse_kl": (_reverse_kl, 0.0),
    "total_variation": (_total_variation, 0.5),
    "squared_hellinger": (_squared_hellinger, 0.5),
    "chi_square": (_chi_square, math.inf),
    "jensen_shannon": (_jensen_shannon, 0.5 * math.log(2)),
}


def _pair(p, q):
    p = _validate.probability_vectors(p, "p", -1)
    q = _validate.probability_vectors(q, "q", -1)
    if p.shape != q.shape:
        raise ValueError(f"`p` and `q` must have the same shape; got {p.shape} and {q.shape}")
    return p, q


def _generator(f):
    if callable(f):
        return f, None
    _validate.one_of(f, "f", GENERATORS)
    return GENERATORS[f]


def f_divergence(p, q, f):
    r"""D_f(p‖q) = Σ q_i f(p_i/q_i) of probability vectors.

    .. math:: D_f(p \,\|\, q) = \sum_{q_i > 0} q_i f(p_i / q_i)
              + f'(\infty) \sum_{q_i = 0} p_i

    Introduced in chapter 8 (chapter 3 used its variational form in the f-GAN).

    Args:
      p: probability vector (array-like, sums to 1).
      q: probability vector of the same length.
      f: a name from `GENERATORS` (``"kl"``, ``"reverse_kl"``, ``"total_variation"``,
        ``"squared_hellinger"``, ``"chi_square"``, ``"jensen_shannon"``), or a convex
        callable with f(1) = 0 (then ``q`` must be positive wherever ``p`` is).

    Returns:
      ``float``: the divergence, ``inf`` where the generator makes it so.

    Raises:
      TypeError: if ``p`` or ``q`` is not numeric.
      ValueError: if ``p`` or ``q`` is not a probability vector, their shapes differ,
        ``f`` names no generator, or a callable ``f`` meets q = 0 < p.

    Examples:
      >>> round(f_divergence([0.5, 0.5], [0.9, 0.1], "kl"), 6)
      0.510826
      >>> f_divergence([0.5, 0.5], [1.0, 0.0], "total_variation")
      0.5
    """
    p, q = _pair(p, q)
    fn, at_infinity = _generator(f)
    support = q > 0
    outside = p[~support].sum()
    if outside > 0 and at_infinity is None:
        raise ValueError("`q` is 0 where `p` is not; a callable `f` needs f'(∞): use a name")
    value = float(np.sum(q[support] * fn(p[support] / q[support])))
    if outside > 0:
        value += math.inf if math.isinf(at_infinity) else at_infinity * outside
    return float(value)


def total_variation(p, q):
    r"""Total variation distance TV(p, q) = ½ Σ |p_i − q_i| (symmetric, in [0, 1]).

    .. math:: \mathrm{TV}(p, q) = \tfrac12 \sum_i |p_i - q_i| = \max_A |p(A) - q(A)|

    Chapter 8 (Pinsker: TV ≤ √(KL/2)).

    Args:
      p: probability vector.
      q: probability vector of the same length.

    Returns:
      ``float`` in [0, 1].

    Raises:
      TypeError, ValueError: as `f_divergence`.

    Examples:
      >>> total_variation([0.5, 0.5], [0.9, 0.1])
      0.4
    """
    p, q = _pair(p, q)
    return float(0.5 * np.abs(p - q).sum())


def _normal_args(mu_p, sigma_p, mu_q, sigma_q):
    mu_p = float(_validate.as_float_array(mu_p, "mu_p"))
    mu_q = float(_validate.as_float_array(mu_q, "mu_q"))
    sigma_p = _validate.positive_float(sigma_p, "sigma_p")
    sigma_q = _validate.positive_float(sigma_q, "sigma_q")
    return mu_p, sigma_p, mu_q, sigma_q


def total_variation_normal(mu_p, sigma_p, mu_q, sigma_q):
    r"""TV(N(μ_p, σ_p²), N(μ_q, σ_q²)) in closed form, through the densities' crossings.

    .. math:: \mathrm{TV}(p, q) = \tfrac12 \sum_k \big|\,[F_p - F_q]_{r_{k-1}}^{r_k}\big|,
              \qquad r_0 = -\infty < r_1 \le \dots < r_{K+1} = \infty ,

    where the r_k are the points where p(x) = q(x) (the real roots of the quadratic
    log p(x) − log q(x) = 0: one if σ_p = σ_q, two otherwise), so that p − q keeps its
    sign between them, and F_p, F_q are the CDFs. For σ_p = σ_q = σ this is
    2Φ(|μ_p − μ_q|/(2σ)) − 1. Chapter 8 (the family table; Pinsker's bound).

    Args:
      mu_p, sigma_p: mean and standard deviation (> 0) of p.
      mu_q, sigma_q: mean and standard deviation (> 0) of q.

    Returns:
      ``float`` in [0, 1] (symmetric in p and q).

    Raises:
      TypeError: if an argument is not a number.
      ValueError: if a scale is not positive.

    Examples:
      >>> import scipy.stats
      >>> tv = total_variation_normal(0.0, 1.0, 1.0, 1.0)
      >>> round(tv, 6), round(float(2 * scipy.stats.norm.cdf(0.5) - 1), 6)
      (0.382925, 0.382925)
    """
    mu_p, sigma_p, mu_q, sigma_q = _normal_args(mu_p, sigma_p, mu_q, sigma_q)
    # log p(x) - log q(x) = a x² + b x + c
    a = 0.5 / sigma_q**2 - 0.5 / sigma_p**2
    b = mu_p / sigma_p**2 - mu_q / sigma_q**2
    c = mu_q**2 / (2 * sigma_q**2) - mu_p**2 / (2 * sigma_p**2) + math.log(sigma_q / sigma_p)
    if a == 0.0:
        if b == 0.0:
            return 0.0  # the same distribution
        roots = [-c / b]
    else:
        disc = max(b * b - 4 * a * c, 0.0)  # > 0 in exact arithmetic: two crossings
        t = -0.5 * (b + math.copysign(math.sqrt(disc), b))  # no cancellation
        roots = sorted([t / a, c / t] if t != 0.0 else [-math.sqrt(-c / a), math.sqrt(-c / a)])

    def cdf_gap(r):  # F_p(r) - F_q(r), from the tail where both are small
        zp, zq = (r - mu_p) / sigma_p, (r - mu_q) / sigma_q
        if zp + zq <= 0:
            return float(scipy.special.ndtr(zp) - scipy.special.ndtr(zq))
        return float(scipy.special.ndtr(-zq) - scipy.special.ndtr(-zp))

    gaps = [0.0] + [cdf_gap(r) for r in roots] + [0.0]
    tv = 0.5 * sum(abs(hi - lo) for lo, hi in zip(gaps, gaps[1:], strict=False))
    return float(min(max(tv, 0.0), 1.0))


def squared_hellinger(p, q):
    r"""Squared Hellinger distance H²(p, q) = ½ Σ (√p_i − √q_i)² (symmetric, in [0, 1]).

    .. math:: H^2(p, q) = \tfrac12 \sum_i (\sqrt{p_i} - \sqrt{q_i})^2 = 1 - \sum_i \sqrt{p_i q_i}

    Chapter 8.

    Args:
      p: probability vector.
      q: probability vector of the same length.

    Returns:
      ``float`` in [0, 1].

    Raises:
      TypeError, ValueError: as `f_divergence`.

    Examples:
      >>> round(squared_hellinger([0.5, 0.5], [0.9, 0.1]), 6)
      0.105573
    """
    p, q = _pair(p, q)
    return float(max(0.0, 1.0 - np.sqrt(p * q).sum()))


def chi_square(p, q):
    r"""Pearson's χ²(p‖q) = Σ (p_i − q_i)² / q_i (``inf`` where q_i = 0 < p_i).

    .. math:: \chi^2(p \,\|\, q) = \sum_i \frac{(p_i - q_i)^2}{q_i}
              = \sum_i \frac{p_i^2}{q_i} - 1

    Chapter 8 (KL ≤ log(1 + χ²)).

    Args:
      p: probability vector.
      q: probability vector of the same length.

    Returns:
      ``float``, possibly ``inf``.

    Raises:
      TypeError, ValueError: as `f_divergence`.

    Examples:
      >>> round(chi_square([0.5, 0.5], [0.9, 0.1]), 6)
      1.777778
    """
    return f_divergence(p, q, "chi_square")


def jensen_shannon(p, q, *, base=None):
    r"""Jensen–Shannon divergence JS(p, q) = ½ KL(p‖m) + ½ KL(q‖m), m = ½(p + q).

    .. math:: \mathrm{JS}(p, q) = \tfrac12 \mathrm{KL}(p \,\|\, m)
              + \tfrac12 \mathrm{KL}(q \,\|\, m)

    Symmetric, at most log 2 (1 bit). Chapter 2; SciPy's ``jensenshannon`` returns its
    square root, the JS *distance*.

    Args:
      p: probability vector.
      q: probability vector of the same length.
      base: ``None`` for nats, ``2`` for bits.

    Returns:
      ``float`` in [0, log 2] (nats) or [0, 1] (bits).

    Raises:
      TypeError, ValueError: as `f_divergence`; also if ``base`` is not positive or is 1.

    Examples:
      >>> jensen_shannon([1.0, 0.0], [0.0, 1.0], base=2)
      1.0
    """
    value = f_divergence(p, q, "jensen_shannon")
    if base is not None:
        base = _validate.positive_float(base, "base")
        if base == 1.0:
            raise ValueError("`base` must differ from 1; got 1")
        value /= math.log(base)
    return float(value)


def _alpha(alpha):
    alpha = _validate.positive_float(alpha, "alpha")
    if alpha == 1.0:
        raise ValueError("`alpha` must differ from 1 (its limit is KL: use kc.kl_discrete)")
    return alpha


def renyi(p, q, alpha):
    r"""Rényi divergence of order α: D_α(p‖q) = log(Σ p_i^α q_i^{1−α}) / (α − 1).

    .. math:: D_\alpha(p \,\|\, q) = \frac{1}{\alpha - 1} \log \sum_i p_i^\alpha q_i^{1-\alpha}

    Increasing in α; tends to KL(p‖q) as α → 1; D_½ = −2 log(1 − H²). Chapter 8.

    Args:
      p: probability vector.
      q: probability vector of the same length.
      alpha: order, a positive number other than 1.

    Returns:
      ``float``, ``inf`` for α > 1 where q_i = 0 < p_i.

    Raises:
      TypeError, ValueError: as `f_divergence`; also if ``alpha`` is not positive or is 1.

    Examples:
      >>> round(renyi([0.5, 0.5], [0.9, 0.1], 2.0), 6)  # log Σ p²/q = log(25/9)
      1.021651
    """
    p, q = _pair(p, q)
    alpha = _alpha(alpha)
    with np.errstate(divide="ignore"):
        log_terms = scipy.special.xlogy(alpha, p) + scipy.special.xlogy(1 - alpha, q)
    log_terms = np.where(p > 0, log_terms, -np.inf)  # terms with p_i = 0 vanish
    if alpha < 1:
        log_terms = np.where(q > 0, log_terms, -np.inf)
    total = scipy.special.logsumexp(log_terms)
    return float(total / (alpha - 1))


def renyi_normal(mu_p, sigma_p, mu_q, sigma_q, alpha):
    r"""D_α(N(μ_p, σ_p²) ‖ N(μ_q, σ_q²)) in closed form (Gil, Alajaji and Linder, 2013).

    .. math:: D_\alpha = \log\frac{\sigma_q}{\sigma_p}
              + \frac{1}{2(\alpha - 1)} \log\frac{\sigma_q^2}{\sigma_\alpha^2}
              + \frac{\alpha (\mu_p - \mu_q)^2}{2 \sigma_\alpha^2},
              \qquad \sigma_\alpha^2 = \alpha \sigma_q^2 + (1 - \alpha) \sigma_p^2,

    and ``inf`` when σ_α² ≤ 0 (possible for α > 1 when σ_p > σ_q). Chapter 8.

    Args:
      mu_p, sigma_p: mean and standard deviation (> 0) of p.
      mu_q, sigma_q: mean and standard deviation (> 0) of q.
      alpha: order, a positive number other than 1.

    Returns:
      ``float``, possibly ``inf``.

    Raises:
      TypeError: if an argument is not a number.
      ValueError: if a scale or ``alpha`` is not positive, or ``alpha`` is 1.

    Examples:
      >>> round(renyi_normal(0.0, 1.0, 1.0, 1.0, 2.0), 6)  # α (Δμ)² / 2
      1.0
    """
    mu_p, sigma_p, mu_q, sigma_q = _normal_args(mu_p, sigma_p, mu_q, sigma_q)
    alpha = _alpha(alpha)
    var_alpha = alpha * sigma_q**2 + (1 - alpha) * sigma_p**2
    if var_alpha <= 0:
        return math.inf
    return (
        math.log(sigma_q / sigma_p)
        + math.log(sigma_q**2 / var_alpha) / (2 * (alpha - 1))
        + alpha * (mu_p - mu_q) ** 2 / (2 * var_alpha)
    )


def _log_ratio(p, q):
    _validate.has_log_prob(p, "p")
    _validate.has_log_prob(q, "q")

    def log_ratio(x):
        return np.asarray(p.log_prob(x), np.float64) - np.asarray(q.log_prob(x), np.float64)

    return log_ratio


def f_divergence_quadrature(p, q, f, *, points=()):
    r"""D_f(p‖q) = E_q[f(p(x)/q(x))] of 1-D continuous distributions, by quadrature.

    .. math:: D_f(p \,\|\, q) = \int q(x)\, f\!\left(\frac{p(x)}{q(x)}\right) dx

    Integrated over q's support with `klcourse.divergence.expectation_quadrature`;
    assumes p is absolutely continuous with respect to q (p = 0 wherever q = 0). Chapter 8.

    Args:
      p: 1-D TFP distribution (anything with ``log_prob``).
      q: 1-D TFP distribution whose support contains p's.
      f: a name from `GENERATORS` or a convex callable with f(1) = 0.
      points: where the integrand has kinks, passed on to the quadrature; total
        variation's ½|u − 1| has one wherever p(x) = q(x).

    Returns:
      ``float``.

    Raises:
      TypeError: if ``p`` or ``q`` has no ``log_prob``.
      ValueError: if ``f`` names no generator; quadrature errors as in
        `klcourse.divergence.expectation_quadrature`.

    Examples:
      >>> import tensorflow_probability as tfp
      >>> tfd = tfp.distributions
      >>> p, q = tfd.Normal(0.0, 1.0), tfd.Normal(1.0, 1.0)
      >>> round(f_divergence_quadrature(p, q, "kl"), 6)  # (Δμ)² / 2
      0.5
    """
    fn, _ = _generator(f)
    log_ratio = _log_ratio(p, q)

    def integrand(x):
        return fn(np.exp(log_ratio(x)))

    return float(expectation_quadrature(q, integrand, points=points).value)


def renyi_quadrature(p, q, alpha):
    r"""D_α(p‖q) of 1-D continuous distributions, by quadrature over q's support.

    .. math:: D_\alpha(p \,\|\, q) = \frac{1}{\alpha - 1}
              \log \int q(x) \left(\frac{p(x)}{q(x)}\right)^{\alpha} dx

    Chapter 8: fitted to chapter 3's bimodal target, D_α(q‖p) moves from covering both
    modes (small α) to sitting on one (α near 1 and above).

    Args:
      p: 1-D TFP distribution.
      q: 1-D TFP distribution whose support contains p's.
      alpha: order, a positive number other than 1.

    Returns:
      ``float``, ``inf`` if the integral diverges.

    Raises:
      TypeError: if ``p`` or ``q`` has no ``log_prob``.
      ValueError: if ``alpha`` is not positive or is 1.

    Examples:
      >>> import tensorflow_probability as tfp
      >>> tfd = tfp.distributions
      >>> p, q = tfd.Normal(0.0, 1.0), tfd.Normal(1.0, 1.0)
      >>> round(renyi_quadrature(p, q, 2.0), 6)  # α (Δμ)² / 2
      1.0
    """
    alpha = _alpha(alpha)
    log_ratio = _log_ratio(p, q)
    integral = expectation_quadrature(q, lambda x: np.exp(alpha * log_ratio(x))).value
    if not np.isfinite(integral):
        return math.inf
    return float(math.log(integral) / (alpha - 1))


def alpha_generator(alpha):
    r"""Amari's α-divergence generator f_α(u) = (u^α − 1 − α(u − 1)) / (α(α − 1)).

    .. math:: f_\alpha(u) = \frac{u^\alpha - 1 - \alpha (u - 1)}{\alpha(\alpha - 1)},
              \qquad f_\alpha''(u) = u^{\alpha - 2} > 0 ,

    convex with f_α(1) = 0, so D_{f_α} = `alpha_divergence`. Pass it to `f_divergence`
    (q > 0 wherever p is) or `f_divergence_quadrature`. Chapter 8.

    Args:
      alpha: order, a positive number other than 1.

    Returns:
      a NumPy function of the ratio u = p/q.

    Raises:
      TypeError, ValueError: if ``alpha`` is not a positive number or is 1.

    Examples:
      >>> f = alpha_generator(2.0)
      >>> float(f(1.0)), float(f(3.0))  # ½(u − 1)²: half of Pearson's χ²
      (0.0, 2.0)
    """
    alpha = _alpha(alpha)

    def f(u):
        u = np.asarray(u, np.float64)
        return (np.power(u, alpha) - 1 - alpha * (u - 1)) / (alpha * (alpha - 1))

    return f


def _amari_from_renyi(renyi_value, alpha):
    return float(np.expm1((alpha - 1) * renyi_value) / (alpha * (alpha - 1)))


def alpha_divergence(p, q, alpha):
    r"""Amari's α-divergence A_α(p‖q) = (Σ p_i^α q_i^{1−α} − 1) / (α(α − 1)).

    .. math:: A_\alpha(p \,\|\, q) = \frac{\sum_i p_i^\alpha q_i^{1-\alpha} - 1}
              {\alpha(\alpha - 1)}
              = \frac{e^{(\alpha - 1) D_\alpha(p \| q)} - 1}{\alpha(\alpha - 1)}

    The f-divergence of `alpha_generator`; an increasing function of the Rényi
    divergence D_α (`renyi`) of the same order, so both have the same minimisers. Tends
    to KL(p‖q) as α → 1 and to KL(q‖p) as α → 0; A_½ = 4H², A_2 = ½χ². Chapter 8.

    Args:
      p: probability vector.
      q: probability vector of the same length.
      alpha: order, a positive number other than 1.

    Returns:
      ``float``: at most 1/(α(1 − α)) for α < 1, possibly ``inf`` for α > 1.

    Raises:
      TypeError, ValueError: as `renyi`.

    Examples:
      >>> round(alpha_divergence([0.5, 0.5], [0.9, 0.1], 2.0), 6)  # ½χ²
      0.888889
    """
    alpha = _alpha(alpha)
    return _amari_from_renyi(renyi(p, q, alpha), alpha)


def alpha_divergence_normal(mu_p, sigma_p, mu_q, sigma_q, alpha):
    r"""A_α(N(μ_p, σ_p²) ‖ N(μ_q, σ_q²)) in closed form, from `renyi_normal`.

    .. math:: A_\alpha = \frac{e^{(\alpha - 1) D_\alpha} - 1}{\alpha(\alpha - 1)}

    with D_α the closed-form Rényi divergence of the two Normals; ``inf`` where that is
    (α > 1 and ασ_q² + (1 − α)σ_p² ≤ 0). Chapter 8.

    Args:
      mu_p, sigma_p: mean and standard deviation (> 0) of p.
      mu_q, sigma_q: mean and standard deviation (> 0) of q.
      alpha: order, a positive number other than 1.

    Returns:
      ``float``, possibly ``inf``.

    Raises:
      TypeError: if an argument is not a number.
      ValueError: if a scale or ``alpha`` is not positive, or ``alpha`` is 1.

    Examples:
      >>> import math
      >>> value = alpha_divergence_normal(0.0, 1.0, 1.0, 1.0, 2.0)
      >>> round(value, 6), round((math.e - 1) / 2, 6)  # ½χ² = ½(e^{Δμ²} − 1)
      (0.859141, 0.859141)
    """
    alpha = _alpha(alpha)
    return _amari_from_renyi(renyi_normal(mu_p, sigma_p, mu_q, sigma_q, alpha), alpha)


def fit_normal_renyi(log_p, x, alpha, *, starts=(-3.0, 0.0, 3.0)):
    r"""The Normal q = N(μ, σ²) minimising D_α(q‖p) for a 1-D target given on a grid.

    .. math:: \min_{\mu, \sigma} \frac{1}{\alpha - 1}
              \log \sum_i q(x_i)^\alpha p(x_i)^{1-\alpha}\, \Delta x

    (α = 1: the reverse KL, Σ q log(q/p) Δx). A Riemann sum on a fine uniform grid is
    accurate for smooth, fast-decaying integrands (chapter 1) and fast enough to run an
    optimiser from several starts; check the optimum with `renyi_quadrature`.
    Nelder–Mead over (μ, log σ) from each start; the best end point wins. Chapter 8:
    small α covers every mode of p, α near 1 and above sits on one.

    Args:
      log_p: log density of the target at ``x`` (array).
      x: uniform grid, wide enough to hold p and q.
      alpha: order, positive (1 gives the reverse KL).
      starts: initial means to try (σ starts at 1).

    Returns:
      ``(mu, sigma, value)`` of the best fit, as ``float``s.

    Raises:
      ValueError: if ``x`` is not a uniform grid matching ``log_p`` or ``alpha`` is not
        positive.

    Examples:
      >>> import scipy.stats
      >>> x = np.linspace(-25, 25, 10001)
      >>> mu, sigma, value = fit_normal_renyi(scipy.stats.norm.logpdf(x, 1, 2), x, 0.5)
      >>> round(mu, 4), round(sigma, 4), abs(value) < 1e-8
      (1.0, 2.0, True)
    """
    import scipy.optimize
    import scipy.stats

    log_p = (
        _validate.as_float_array(log_p, "log_p")
        if np.all(np.isfinite(log_p))
        else (np.asarray(log_p, np.float64))
    )
    x = _validate.as_float_array(x, "x")
    if x.ndim != 1 or x.shape != log_p.shape or x.size < 3:
        raise ValueError(f"`x` must be a 1-D grid matching `log_p`; got {x.shape}, {log_p.shape}")
    dx = np.diff(x)
    if not np.allclose(dx, dx[0], rtol=1e-9, atol=0):
        raise ValueError("`x` must be a uniform grid")
    alpha = _validate.positive_float(alpha, "alpha")
    step = dx[0]

    def objective(theta):
        log_q = scipy.stats.norm.logpdf(x, theta[0], np.exp(theta[1]))
        if alpha == 1.0:
            return float(np.sum(np.exp(log_q) * (log_q - log_p)) * step)
        log_terms = alpha * log_q + (1 - alpha) * log_p
        return float(scipy.special.logsumexp(log_terms) + math.log(step)) / (alpha - 1)

    best = None
    for start in starts:
        result = scipy.optimize.minimize(
            objective,
            [float(start), 0.0],
            method="Nelder-Mead",
            options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 4000},
        )
        if best is None or result.fun < best.fun:
            best = result
    return float(best.x[0]), float(np.exp(best.x[1])), float(best.fun)
