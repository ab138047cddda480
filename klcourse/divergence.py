r"""Kullback-Leibler divergence: closed forms, quadrature and Monte Carlo.

Every function here computes KL(p‖q), the divergence *of* ``q`` *from* ``p``,

.. math:: D_{\mathrm{KL}}(p \,\|\, q) = \mathbb{E}_{x \sim p}\left[\log \frac{p(x)}{q(x)}\right],

with ``p`` first, as in ``scipy.stats.entropy(p, q)`` and ``tfd.kl_divergence(p, q)``.
Results are NumPy ``float64`` values. A KL divergence is infinite when ``q`` puts no
mass where ``p`` does; the functions return ``inf`` then, never ``nan``.
"""

import math
from typing import NamedTuple

import numpy as np
import scipy.integrate
import scipy.special
import tensorflow as tf
import tensorflow_probability as tfp

from klcourse import _validate

__all__ = [
    "kl_discrete",
    "kl_normal",
    "kl_mvn",
    "kl_quadrature",
    "expectation_quadrature",
    "estimator_moments",
    "kl_monte_carlo",
    "kl",
    "Estimate",
    "KLResult",
    "ESTIMATORS",
]

tfd = tfp.distributions

ESTIMATORS = ("k1", "k2", "k3")


class Estimate(NamedTuple):
    """A numerical estimate with its uncertainty (an error bound or a standard error)."""

    value: float
    error: float


class KLResult(NamedTuple):
    """What `kl` computed and how: ``method`` is analytic, quadrature or monte_carlo."""

    value: float
    method: str
    error: float


def kl_discrete(p, q, *, base=None, axis=-1):
    r"""KL(p‖q) of discrete distributions given as probability vectors.

    .. math:: D_{\mathrm{KL}}(p \,\|\, q) = \sum_i p_i \log \frac{p_i}{q_i}

    with the conventions :math:`0 \log(0/q) = 0` and :math:`p \log(p/0) = \infty` for
    :math:`p > 0` (SciPy's ``rel_entr``). Introduced in chapter 1.

    Args:
      p: array-like of probabilities summing to 1 along ``axis``; leading axes broadcast.
      q: array-like of the same length along ``axis``, broadcastable with ``p``.
      base: logarithm base; ``None`` for nats, ``2`` for bits.
      axis: the axis that holds the outcomes.

    Returns:
      ``float`` (or ``numpy.ndarray`` over the broadcast leading axes): the divergence,
      ``inf`` where ``q`` is 0 and ``p`` is not.

    Raises:
      TypeError: if ``p`` or ``q`` is not numeric.
      ValueError: if an entry is negative or not finite, if a vector does not sum to 1
        within 1e-6, if the shapes do not match, or if ``base`` is not positive and
        different from 1.

    Examples:
      >>> round(float(kl_discrete([0.5, 0.5], [0.9, 0.1], base=2)), 6)
      0.736966
    """
    p = _validate.probability_vectors(p, "p", axis)
    q = _validate.probability_vectors(q, "q", axis)
    if p.shape[axis] != q.shape[axis]:
        raise ValueError(
            f"`p` and `q` must have the same number of outcomes along axis {axis}; "
            f"got {p.shape[axis]} and {q.shape[axis]}"
        )
    try:
        terms = scipy.special.rel_entr(*np.broadcast_arrays(p, q))
    except ValueError as error:
        raise ValueError(
            f"`p` and `q` must broadcast; got shapes {p.shape} and {q.shape}"
        ) from error
    divergence = terms.sum(axis=axis)
    if base is not None:
        base = _validate.positive_float(base, "base")
        if base == 1.0:
            raise ValueError("`base` must differ from 1; got 1")
        divergence = divergence / math.log(base)
    return divergence[()] if divergence.ndim == 0 else divergence


def kl_normal(mu_p, sigma_p, mu_q, sigma_q):
    r"""KL(p‖q) between univariate Normals p = N(μ_p, σ_p²) and q = N(μ_q, σ_q²).

    .. math::

       D_{\mathrm{KL}}(p \,\|\, q) = \log\frac{\sigma_q}{\sigma_p}
         + \frac{\sigma_p^2 + (\mu_p - \mu_q)^2}{2\sigma_q^2} - \frac12 .

    Introduced (and derived) in chapter 1. Arguments are standard deviations, not
    variances, as in ``scipy.stats.norm`` and ``tfd.Normal``.

    Args:
      mu_p, sigma_p: mean and standard deviation of p (array-likes, broadcast).
      mu_q, sigma_q: mean and standard deviation of q.

    Returns:
      ``float`` or ``numpy.ndarray`` (float64) of the broadcast shape.

    Raises:
      TypeError: if an argument is not numeric.
      ValueError: if an argument is not finite or a standard deviation is not positive.

    Examples:
      >>> round(float(kl_normal(0.0, 2.0, 1.0, 4.0)), 6)
      0.349397
    """
    mu_p = _validate.as_float_array(mu_p, "mu_p")
    mu_q = _validate.as_float_array(mu_q, "mu_q")
    sigma_p = _validate.positive(sigma_p, "sigma_p")
    sigma_q = _validate.positive(sigma_q, "sigma_q")
    ratio = sigma_p / sigma_q
    # log(σq/σp) + (ratio² - 1)/2 loses digits when σp ≈ σq; log1p/expm1 keep them.
    scale_part = 0.5 * (np.expm1(2 * np.log(ratio)) - 2 * np.log(ratio))
    divergence = scale_part + 0.5 * ((mu_p - mu_q) / sigma_q) ** 2
    return divergence[()] if divergence.ndim == 0 else divergence


def _cholesky(cov, name):
    if cov.ndim < 2 or cov.shape[-1] != cov.shape[-2]:
        raise ValueError(
            f"`{name}` must be a square matrix (or a batch of them); got shape {cov.shape}"
        )
    asymmetry = np.abs(cov - np.swapaxes(cov, -1, -2)).max()
    if asymmetry > 1e-8 * max(1.0, np.abs(cov).max()):
        raise ValueError(f"`{name}` must be symmetric; largest |Σ - Σᵀ| is {asymmetry:.3g}")
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError as error:
        raise ValueError(
            f"`{name}` must be positive definite; its Cholesky factorisation failed"
        ) from error


def kl_mvn(mu_p, cov_p, mu_q, cov_q):
    r"""KL(p‖q) between multivariate Normals p = N(μ_p, Σ_p) and q = N(μ_q, Σ_q).

    .. math::

       D_{\mathrm{KL}}(p \,\|\, q) = \frac12\Big[\operatorname{tr}(\Sigma_q^{-1}\Sigma_p)
         + (\mu_q - \mu_p)^\top \Sigma_q^{-1} (\mu_q - \mu_p) - d
         + \log\frac{\det \Sigma_q}{\det \Sigma_p}\Big]

    computed from Cholesky factors :math:`\Sigma = L L^\top`: the trace is
    :math:`\|L_q^{-1} L_p\|_F^2`, the quadratic form :math:`\|L_q^{-1}(\mu_q-\mu_p)\|^2`
    and the log-determinants :math:`2\sum_i \log L_{ii}`, which stays accurate in ten
    and more dimensions where forming :math:`\Sigma_q^{-1}` or determinants does not.
    Introduced in chapter 2.

    Args:
      mu_p, mu_q: means, shape ``[..., d]``.
      cov_p, cov_q: covariance matrices, shape ``[..., d, d]``; leading axes broadcast.

    Returns:
      ``float`` or ``numpy.ndarray`` (float64) over the broadcast batch shape.

    Raises:
      TypeError: if an argument is not numeric.
      ValueError: if an argument is not finite, a covariance is not square, symmetric
        and positive definite, or the dimensions disagree.

    Examples:
      >>> round(float(kl_mvn([0, 0], [[1, 0], [0, 1]], [1, 0], [[1, 0], [0, 1]])), 6)
      0.5
    """
    mu_p = _validate.as_float_array(mu_p, "mu_p")
    mu_q = _validate.as_float_array(mu_q, "mu_q")
    cov_p = _validate.as_float_array(cov_p, "cov_p")
    cov_q = _validate.as_float_array(cov_q, "cov_q")
    chol_p = _cholesky(cov_p, "cov_p")
    chol_q = _cholesky(cov_q, "cov_q")
    dim = cov_q.shape[-1]
    for name, value, expected in (
        ("cov_p", cov_p.shape[-1], dim),
        ("mu_p", mu_p.shape[-1] if mu_p.ndim else None, dim),
        ("mu_q", mu_q.shape[-1] if mu_q.ndim else None, dim),
    ):
        if value != expected:
            raise ValueError(
                f"`{name}` must have dimension {expected} (that of `cov_q`); got {value}"
            )
    batch = np.broadcast_shapes(
        mu_p.shape[:-1], mu_q.shape[:-1], cov_p.shape[:-2], cov_q.shape[:-2]
    )
    chol_q = np.broadcast_to(chol_q, batch + (dim, dim))
    chol_p = np.broadcast_to(chol_p, batch + (dim, dim))
    difference = np.broadcast_to(mu_q - mu_p, batch + (dim,))[..., None]
    whitened = np.linalg.solve(chol_q, np.concatenate([chol_p, difference], axis=-1))
    trace = np.sum(whitened[..., :dim] ** 2, axis=(-2, -1))
    mahalanobis = np.sum(whitened[..., dim:] ** 2, axis=(-2, -1))
    log_det_ratio = 2 * np.sum(
        np.log(np.diagonal(chol_q, axis1=-2, axis2=-1))
        - np.log(np.diagonal(chol_p, axis1=-2, axis2=-1)),
        axis=-1,
    )
    divergence = 0.5 * (trace + mahalanobis - dim + log_det_ratio)
    return divergence[()] if divergence.ndim == 0 else divergence


def _log_prob_numpy(dist, x):
    """log density of `dist` at the float64 points `x`, as float64 numpy."""
    dtype = getattr(dist, "dtype", None) or tf.float64
    values = dist.log_prob(tf.constant(x, dtype=dtype))
    return np.asarray(values, dtype=np.float64).reshape(np.shape(x))


_BREAK_QUANTILES = np.array([1e-4, 1e-3, 1e-2, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999, 0.9999])


def _breakpoints(p, lower, upper, num_samples=4096, seed=20240101):
    """Interior points at which to split the range: quantiles of p.

    Splitting at p's own quantiles puts nodes where p has its mass, so a narrow
    mixture component far from 0 is not stepped over by the quadrature. Exact
    quantiles are used where the distribution has them (Normal, Student t, ...);
    otherwise they are estimated from seeded draws (mixtures).
    """
    try:
        points = np.asarray(p.quantile(_BREAK_QUANTILES.astype(p.dtype.as_numpy_dtype)), np.float64)
    except (AttributeError, NotImplementedError, TypeError):
        if not callable(getattr(p, "sample", None)):
            return np.array([])
        draws = np.asarray(p.sample(num_samples, seed=_validate.stateless_seed(seed)), np.float64)
        points = np.quantile(draws.ravel(), _BREAK_QUANTILES)
    points = points[np.isfinite(points)]
    return np.unique(points[(points > lower) & (points < upper)])


def _integration_range(p, lower, upper):
    lower, upper = float(lower), float(upper)
    if not lower < upper:
        raise ValueError(f"`lower` must be below `upper`; got lower={lower}, upper={upper}")
    support_low, support_high = _support(p)
    lower, upper = max(lower, support_low), min(upper, support_high)
    return np.concatenate([[lower], _breakpoints(p, lower, upper), [upper]])


def _integrate(integrand, edges, eps):
    """Integrate over every piece between `edges` at once (vectorised tanh-sinh)."""
    # Ask for no more accuracy than the densities carry: float32 log_prob values are
    # noisy at the 1e-7 level, and tanh-sinh would never meet a float64 tolerance.
    return scipy.integrate.tanhsinh(integrand, edges[:-1], edges[1:], rtol=eps**0.75, atol=eps)


def _machine_epsilon(dist):
    dtype = getattr(dist, "dtype", None)
    return float(np.finfo(getattr(dtype, "as_numpy_dtype", np.float64)).eps)


def _support(dist):
    """(low, high) of a TFP distribution's support, from its event-space bijector.

    A density that jumps to 0 at the end of its support (Uniform, Exponential) breaks
    the smoothness a quadrature rule relies on, so the range is clipped there.
    """
    try:
        bijector = dist.experimental_default_event_space_bijector()
        ends = bijector.forward(tf.constant([-np.inf, np.inf], dtype=dist.dtype))
        low, high = np.asarray(ends, dtype=np.float64)
    except Exception:  # not a TFP distribution, or no bijector: assume the real line
        return -np.inf, np.inf
    if not (np.isfinite(low) or low == -np.inf) or not (np.isfinite(high) or high == np.inf):
        return -np.inf, np.inf
    return float(low), float(high)


def kl_quadrature(p, q, *, lower=-np.inf, upper=np.inf):
    r"""KL(p‖q) of two univariate continuous distributions by numerical integration.

    .. math:: D_{\mathrm{KL}}(p \,\|\, q) = \int_{\text{lower}}^{\text{upper}} p(x)\,
              \big(\log p(x) - \log q(x)\big)\, dx

    The range is split at quantiles of p (exact, or estimated from seeded draws), and every
    piece, the two infinite tails included, is integrated at once by SciPy's
    vectorised tanh-sinh rule (``scipy.integrate.tanhsinh``), so the integrand is
    evaluated in a few batched ``log_prob`` calls. Mixtures with narrow components and
    heavy-tailed distributions are handled. Introduced in chapter 4.

    Args:
      p, q: ``tfd.Distribution`` objects with scalar events, or any objects with a
        ``log_prob`` method that accepts an array of points (``p`` may also have a
        ``sample(n, seed=...)`` method, used to place breakpoints).
      lower, upper: the integration range; the default is the real line. Use a
        narrower range only when p has no mass outside it.

    Returns:
      `Estimate` ``(value, error)`` of floats: the divergence and the quadrature's
      error estimate. ``value`` is ``inf`` (error 0) when q vanishes somewhere p does
      not, including points found among p's draws.

    Raises:
      TypeError: if ``p`` or ``q`` has no ``log_prob``.
      ValueError: if ``lower >= upper``, or the integral does not converge (the
        message says so; this happens when KL(p‖q) is infinite because p's tails
        are heavier than q's, e.g. p Cauchy and q Normal).

    Examples:
      >>> import tensorflow_probability as tfp
      >>> tfd = tfp.distributions
      >>> value, error = kl_quadrature(tfd.Normal(0.0, 2.0), tfd.Normal(1.0, 4.0))
      >>> round(value, 5)
      0.3494
    """
    _validate.has_log_prob(p, "p")
    _validate.has_log_prob(q, "q")
    edges = _integration_range(p, lower, upper)
    if edges.size > 2 and np.any(~np.isfinite(_log_prob_numpy(q, edges[1:-1]))):
        return Estimate(math.inf, 0.0)
    support_mismatch = False

    def integrand(x):
        nonlocal support_mismatch
        log_p = _log_prob_numpy(p, x)
        log_q = _log_prob_numpy(q, x)
        has_mass = np.isfinite(log_p)
        # Only where p's density is positive in float64: far out in the tails a float32
        # log_q can overflow to -inf where p's contribution is exactly 0 anyway.
        if np.any((np.exp(np.where(has_mass, log_p, -np.inf)) > 0) & ~np.isfinite(log_q)):
            support_mismatch = True
        log_ratio = np.where(has_mass & np.isfinite(log_q), log_p - log_q, 0.0)
        return np.where(has_mass, np.exp(np.where(has_mass, log_p, 0.0)) * log_ratio, 0.0)

    result = _integrate(integrand, edges, max(_machine_epsilon(p), _machine_epsilon(q)))
    if support_mismatch:
        return Estimate(math.inf, 0.0)
    if not np.all(result.success):
        raise ValueError(
            "the integral for KL(p‖q) did not converge: p's tails may be heavier than "
            "q's, which makes the divergence infinite"
        )
    return Estimate(float(np.sum(result.integral)), float(np.sum(result.error)))


def expectation_quadrature(p, fn, *, lower=-np.inf, upper=np.inf):
    r"""E_p[fn(x)] for a univariate continuous p, by the quadrature of `kl_quadrature`.

    .. math:: \mathbb{E}_{x\sim p}[f(x)] = \int p(x)\, f(x)\, dx

    Chapter 4 uses it for the exact mean and variance of Monte Carlo estimators.

    Args:
      p: ``tfd.Distribution`` with scalar events (or an object with ``log_prob``).
      fn: vectorised callable from a float64 array of points to an array of values.
      lower, upper: the integration range.

    Returns:
      `Estimate` ``(value, error)``.

    Raises:
      TypeError: if ``p`` has no ``log_prob`` or ``fn`` is not callable.
      ValueError: if ``lower >= upper`` or the integral does not converge.

    Examples:
      >>> import tensorflow_probability as tfp
      >>> second_moment = expectation_quadrature(tfp.distributions.Normal(1.0, 2.0), lambda x: x**2)
      >>> round(second_moment.value, 5)
      5.0
    """
    _validate.has_log_prob(p, "p")
    if not callable(fn):
        raise TypeError(f"`fn` must be callable; got {type(fn).__name__}")
    edges = _integration_range(p, lower, upper)

    def integrand(x):
        log_p = _log_prob_numpy(p, x)
        has_mass = np.isfinite(log_p)
        values = np.asarray(fn(np.where(has_mass, x, 0.0)), dtype=np.float64)
        return np.where(has_mass, np.exp(np.where(has_mass, log_p, 0.0)) * values, 0.0)

    result = _integrate(integrand, edges, _machine_epsilon(p))
    if not np.all(result.success):
        raise ValueError("the integral E_p[fn] did not converge: fn may grow faster than p decays")
    return Estimate(float(np.sum(result.integral)), float(np.sum(result.error)))


def kl_monte_carlo(p, q, *, num_samples, seed, estimator="k1"):
    r"""Monte Carlo estimate of KL(p‖q) from draws of p, with its standard error.

    With :math:`x_i \sim p` and :math:`r = q(x)/p(x)`, the estimators average

    .. math::

       k_1 = -\log r, \qquad k_2 = \tfrac12 (\log r)^2, \qquad k_3 = (r - 1) - \log r .

    ``k1`` and ``k3`` are unbiased (:math:`\mathbb{E}_p[r - 1] = 0`, so k3 adds a
    control variate that is zero in expectation); ``k3`` is also never negative and
    has low variance when p and q are close. ``k2`` is biased, but its bias is small
    and its variance low when p ≈ q (Schulman, 2020). Chapter 4 compares them.

    A standard error is only meaningful when the terms have finite variance. For
    ``k3`` that needs :math:`\mathbb{E}_p[r^2] = \int q^2/p < \infty`, which fails
    when q is much wider than p (for Normals, when :math:`\sigma_q^2 \ge 2\sigma_p^2`):
    the estimate is then still unbiased but its reported error is unreliable.

    The draws use a stateless seed, so equal seeds give equal estimates, and the work
    is one vectorised TensorFlow computation (on a GPU when there is one).

    Args:
      p: ``tfd.Distribution`` to sample from.
      q: ``tfd.Distribution`` (or object with ``log_prob``) over the same space.
      num_samples: positive ``int``, at least 2.
      seed: non-negative ``int``.
      estimator: ``"k1"``, ``"k2"`` or ``"k3"``.

    Returns:
      `Estimate` ``(value, error)``: the sample mean and its standard error
      (sample standard deviation / √n), as floats. ``inf`` with error ``inf`` if
      q is 0 at a draw from p.

    Raises:
      TypeError: if ``p`` cannot be sampled or ``q`` has no ``log_prob``, or
        ``num_samples`` or ``seed`` is not an int.
      ValueError: if ``num_samples < 2``, ``seed`` is negative or ``estimator`` is
        unknown.

    References:
      J. Schulman, "Approximating KL divergence", 2020.
    """
    if not callable(getattr(p, "sample", None)):
        raise TypeError(
            f"`p` must be a distribution with a `sample` method; got {type(p).__name__}"
        )
    _validate.has_log_prob(p, "p")
    _validate.has_log_prob(q, "q")
    num_samples = _validate.positive_int(num_samples, "num_samples")
    if num_samples < 2:
        raise ValueError(
            f"`num_samples` must be at least 2 for a standard error; got {num_samples}"
        )
    _validate.one_of(estimator, "estimator", ESTIMATORS)
    terms = _estimator_terms(p, q, num_samples, _validate.stateless_seed(seed), estimator)
    terms = np.asarray(terms, dtype=np.float64)
    if np.any(np.isinf(terms)):
        return Estimate(math.inf, math.inf)
    return Estimate(float(terms.mean()), float(terms.std(ddof=1) / math.sqrt(num_samples)))


def _terms_from_log_ratio(log_r, estimator):
    """One draw's term of each estimator, from log r = log q(x) - log p(x).

    Works on TensorFlow tensors and NumPy arrays alike, so sampling (`kl_monte_carlo`)
    and exact integration (`estimator_moments`) share one definition.
    """
    if estimator == "k1":
        return -log_r
    if estimator == "k2":
        return 0.5 * log_r**2
    return (np.expm1(log_r) if isinstance(log_r, np.ndarray) else tf.math.expm1(log_r)) - log_r


def _estimator_terms(p, q, num_samples, seed, estimator):
    x = p.sample(num_samples, seed=seed)
    return _terms_from_log_ratio(q.log_prob(x) - p.log_prob(x), estimator)


def estimator_moments(p, q, estimator):
    r"""Exact mean and per-draw standard deviation of a Monte Carlo KL estimator.

    For the term :math:`k(x)` of ``estimator`` (see `kl_monte_carlo`) with
    :math:`x \sim p`, computes :math:`\mathbb{E}_p[k]` and
    :math:`\sqrt{\mathbb{E}_p[k^2] - \mathbb{E}_p[k]^2}` by `expectation_quadrature`:
    no sampling. The bias of the estimator is the mean minus KL(p‖q); the standard
    error of an n-draw estimate is the standard deviation over √n. Chapter 4 uses it.

    Args:
      p, q: univariate ``tfd.Distribution`` objects (float64 for full precision).
      estimator: ``"k1"``, ``"k2"`` or ``"k3"``.

    Returns:
      ``(mean, standard_deviation)`` as floats.

    Raises:
      TypeError: if ``p`` or ``q`` has no ``log_prob``.
      ValueError: if ``estimator`` is unknown or an integral does not converge (for
        example ``k3`` when q is much wider than p, whose variance is infinite).
    """
    _validate.has_log_prob(p, "p")
    _validate.has_log_prob(q, "q")
    _validate.one_of(estimator, "estimator", ESTIMATORS)

    def term(x):
        return _terms_from_log_ratio(_log_prob_numpy(q, x) - _log_prob_numpy(p, x), estimator)

    mean = expectation_quadrature(p, term).value
    second = expectation_quadrature(p, lambda x: term(x) ** 2).value
    return mean, math.sqrt(max(second - mean**2, 0.0))


def kl(p, q, *, num_samples=100_000, seed=0):
    """KL(p‖q) by the best route available, saying which route it took.

    1. ``analytic``: TFP's registered closed form (``tfd.kl_divergence``).
    2. ``quadrature``: `kl_quadrature`, for scalar events with no closed form.
    3. ``monte_carlo``: `kl_monte_carlo` with the ``k1`` estimator otherwise.

    Args:
      p, q: ``tfd.Distribution`` objects over the same space.
      num_samples, seed: used by the Monte Carlo route only.

    Returns:
      `KLResult` ``(value, method, error)``: ``error`` is 0 for the analytic route,
      the quadrature error estimate, or the Monte Carlo standard error.

    Raises:
      TypeError: if ``p`` or ``q`` is not a ``tfd.Distribution``.
    """
    for name, value in (("p", p), ("q", q)):
        if not isinstance(value, tfd.Distribution):
            raise TypeError(f"`{name}` must be a tfd.Distribution; got {type(value).__name__}")
    try:
        value = tfd.kl_divergence(p, q)
        return KLResult(float(value), "analytic", 0.0)
    except NotImplementedError:
        pass
    if p.event_shape.rank == 0 and q.event_shape.rank == 0:
        estimate = kl_quadrature(p, q)
        return KLResult(estimate.value, "quadrature", estimate.error)
    estimate = kl_monte_carlo(p, q, num_samples=num_samples, seed=seed)
    return KLResult(estimate.value, "monte_carlo", estimate.error)
