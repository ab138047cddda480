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

from klcourse import _quadrature, _validate

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
    "KL_ESTIMATORS",
]

tfd = tfp.distributions

# The per-draw terms of `kl_monte_carlo` (see `_terms_from_log_ratio`).
KL_ESTIMATORS = ("k1", "k2", "k3")


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
    return _quadrature.log_prob(dist, x).reshape(np.shape(x))


def _univariate(dist, name):
    """Raise unless `dist` is one distribution over the real line (no batch, no event)."""
    _validate.has_log_prob(dist, name)
    for what in ("batch_shape", "event_shape"):
        shape = getattr(dist, what, None)
        if shape is not None and shape.rank is not None and shape.rank > 0:
            raise ValueError(
                f"`{name}` must be a single univariate distribution ({what} []); got {what} {shape}"
            )


def _kl_integrand(x, log_p, log_q):
    """q - p + p log(p/q), which integrates to KL(p‖q) and is never negative.

    Where p > 0 it is p·k3(log r) with r = q/p, the k3 term of `kl_monte_carlo`,
    computed in logs (`_log_weighted_terms`) so that it cannot overflow where q ≫ p.
    Where p = 0 it is q: the mass q puts where p puts none.
    """
    has_p = np.isfinite(log_p)
    log_value, _ = _log_weighted_terms(np.where(has_p, log_p, 0.0), log_q, "k3")
    return np.where(has_p, np.exp(log_value), np.exp(log_q))


def _quadrature_error(outcome, what):
    if outcome.status == "nan":
        return ValueError(
            f"{outcome.where}, inside its support: a log density must be a number or -inf "
            "there; check the distribution's parameters"
        )
    if outcome.status == "range":
        return ValueError(
            f"the quadrature for {what} cannot reach its tolerance: mass outside the float64 "
            f"range, {outcome.where} (the integral without it is {outcome.value:.6g}); the "
            "family has no closed form of its density in the log of the distance to that "
            "end (see klcourse._quadrature.near_end)"
        )
    return ValueError(
        f"the quadrature for {what} did not reach its tolerance on the piece "
        f"{outcome.where} (integral {outcome.value:.6g}, error estimate {outcome.error:.2g}): "
        "the integrand has a kink, jump or narrow spike there that no breakpoint marks; "
        "pass its location in `points`"
    )


def kl_quadrature(p, q, *, lower=-np.inf, upper=np.inf, points=()):
    r"""KL(p‖q) of two univariate continuous distributions by numerical integration.

    .. math:: D_{\mathrm{KL}}(p \,\|\, q) = \int p(x) \log\frac{p(x)}{q(x)}\, dx
              = \int \big[q(x) - p(x) + p(x) \log\tfrac{p(x)}{q(x)}\big]\, dx

    The second integrand (over both supports) is never negative, so a relative tolerance
    holds even when KL is tiny. The range is split at quantiles of p and q and at the ends
    of both supports, and all pieces are integrated at once by SciPy's vectorised
    tanh-sinh rule (``scipy.integrate.tanhsinh``), whose nodes crowd into the ends of each
    piece: densities that vanish or blow up at an end (Beta, Gamma with shape < 1,
    Kumaraswamy), kinks (Laplace), half-lines and heavy tails (Student t, Cauchy) are
    integrated to about 1e-12 relative. Pieces beside a finite end of a support are
    integrated in the log of the distance to that end, with the densities in closed form
    there for Beta, Kumaraswamy, LogitNormal, Gamma, Chi2, InverseGamma and LogNormal,
    since float64 cannot represent the points within 1e-16 of 1, nor those below 1e-308
    (shapes near 0.01 put 1e-3 of their mass there). float32
    distributions are evaluated with their parameters cast to float64. Introduced in
    chapter 4.

    Args:
      p, q: univariate ``tfd.Distribution`` objects (batch and event shape ``[]``), or
        any objects with a ``log_prob`` method that accepts an array of points (a
        ``quantile`` or ``sample(n, seed=...)`` method then places breakpoints).
      lower, upper: the range of p; the default is p's support. Use a narrower range
        only when p has no mass outside it.
      points: extra breakpoints (array-like), where p or q has a kink or spike that
        their quantiles do not mark (as ``scipy.integrate.quad``'s ``points``).

    Returns:
      `Estimate` ``(value, error)`` of floats: the divergence and the quadrature's
      error estimate. ``value`` is ``inf`` (error 0) when the divergence is infinite:
      q is 0 on part of p's support, or p's tails are so much heavier than q's that
      the integral diverges (KL(Cauchy‖Normal)).

    Raises:
      TypeError: if ``p`` or ``q`` has no ``log_prob``.
      ValueError: if ``p`` or ``q`` has a batch or event shape, ``lower``..``upper``
        misses p's support, a ``log_prob`` is NaN inside its support, a piece of the
        integral does not reach its tolerance (the message names the piece), or a
        share of the integral lies where float64 cannot evaluate p's or q's family
        (the message says "mass outside the float64 range").

    Examples:
      >>> import numpy as np, tensorflow_probability as tfp
      >>> tfd = tfp.distributions
      >>> value, error = kl_quadrature(tfd.Normal(0.0, 2.0), tfd.Normal(1.0, 4.0))
      >>> round(value, 6)  # kl_normal(0, 2, 1, 4)
      0.349397
      >>> beta = kl_quadrature(tfd.Beta(1.0, 1.0), tfd.Beta(2.0, 3.0)).value
      >>> round(beta, 6)  # 3 - log 12: q(x) = 12 x (1 - x)², and E_p[log x] = -1
      0.515093
      >>> kl_quadrature(tfd.Cauchy(0.0, 1.0), tfd.Normal(0.0, 1.0)).value
      inf
    """
    _univariate(p, "p")
    _univariate(q, "q")
    lower, upper = _range(lower, upper)
    outcome = _quadrature.integrate(
        p, q, _kl_integrand, lower=lower, upper=upper, points=_points(points), over_q=True
    )
    if outcome.status in ("mismatch", "divergent"):
        return Estimate(math.inf, 0.0)
    if outcome.status != "ok":
        raise _quadrature_error(outcome, "KL(p‖q)")
    return Estimate(outcome.value, outcome.error)


def _range(lower, upper):
    lower, upper = float(lower), float(upper)
    if not lower < upper:
        raise ValueError(f"`lower` must be below `upper`; got lower={lower}, upper={upper}")
    return lower, upper


def _points(points):
    points = np.asarray(points, dtype=np.float64).ravel()
    if np.any(np.isnan(points)):
        raise ValueError(f"`points` must be numbers; got {points}")
    return points


def expectation_quadrature(p, fn, *, lower=-np.inf, upper=np.inf, points=()):
    r"""E_p[fn(x)] for a univariate continuous p, by the quadrature of `kl_quadrature`.

    .. math:: \mathbb{E}_{x\sim p}[f(x)] = \int p(x)\, f(x)\, dx

    Chapter 4 uses it for the exact mean and variance of Monte Carlo estimators.

    Args:
      p: univariate ``tfd.Distribution`` (or an object with ``log_prob``).
      fn: vectorised callable from a float64 array of points to an array of values.
      lower, upper: the range of p.
      points: extra breakpoints, where ``fn`` has a kink or jump.

    Returns:
      `Estimate` ``(value, error)``.

    Raises:
      TypeError: if ``p`` has no ``log_prob`` or ``fn`` is not callable.
      ValueError: if ``p`` has a batch or event shape, ``lower``..``upper`` misses p's
        support, the expectation is infinite or undefined (p(x) fn(x) falls no faster
        than 1/|x| in a tail; the message names the end), or a piece does not reach its
        tolerance.

    Examples:
      >>> import tensorflow_probability as tfp
      >>> normal = tfp.distributions.Normal(1.0, 2.0)
      >>> round(expectation_quadrature(normal, lambda x: x**2).value, 6)  # 1² + 2²
      5.0
    """
    _univariate(p, "p")
    if not callable(fn):
        raise TypeError(f"`fn` must be callable; got {type(fn).__name__}")
    lower, upper = _range(lower, upper)

    def integrand(x, log_p, log_q):
        has_p = np.isfinite(log_p)
        values = np.asarray(fn(np.where(has_p, x, 0.0)), dtype=np.float64)
        return np.where(has_p, np.exp(np.where(has_p, log_p, 0.0)) * values, 0.0)

    # fn may compute in p's own dtype (a float32 log_prob, say): ask for no more
    # accuracy than that dtype carries.
    eps = float(np.finfo(_quadrature.numpy_dtype(p)).eps)
    outcome = _quadrature.integrate(
        p, None, integrand, lower=lower, upper=upper, points=_points(points), eps=eps
    )
    if outcome.status == "divergent":
        raise ValueError(
            f"E_p[fn] is infinite or undefined: p(x)·fn(x) falls no faster than "
            f"1/distance as x → {outcome.where}, so its integral diverges"
        )
    if outcome.status != "ok":
        raise _quadrature_error(outcome, "E_p[fn]")
    return Estimate(outcome.value, outcome.error)


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

    Examples:
      >>> import numpy as np, tensorflow_probability as tfp
      >>> tfd = tfp.distributions
      >>> p, q = tfd.Normal(np.float64(0), 1.0), tfd.Normal(np.float64(1), 1.0)
      >>> value, error = kl_monte_carlo(p, q, num_samples=100_000, seed=0, estimator="k3")
      >>> abs(value - 0.5) < 4 * error  # exact: kl_normal(0, 1, 1, 1) = 0.5
      True
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
    _validate.one_of(estimator, "estimator", KL_ESTIMATORS)
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


def _slopes_from_log_ratio(log_r, estimator):
    """The derivative dk/d(log r) of each term of `_terms_from_log_ratio` (NumPy).

    k1 = -log r gives -1, k2 = (log r)^2 / 2 gives log r, k3 = r - 1 - log r gives r - 1.
    With the draw held fixed, the gradient of a term with respect to the fitted
    distribution's parameters is this slope times the gradient of log r, so the
    penalty gradients of chapters 4 and 7 (`gradients`, `policy`) share it.
    """
    log_r = np.asarray(log_r, dtype=np.float64)
    if estimator == "k1":
        return -np.ones_like(log_r)
    if estimator == "k2":
        return log_r
    return np.expm1(log_r)


def _log_weighted_terms(log_p, log_q, estimator, power=1):
    """``(log(p·|k|^power), sign(k)^power)`` for the terms k of `_terms_from_log_ratio`.

    The same terms, weighted by p's density and taken in logs, for NumPy arrays of
    log densities with p > 0. k3 = r - 1 - log r grows like r = q/p, which overflows
    float64 long before p·k3 does, and log p + log r loses log q to cancellation when
    both are huge; so for log r > 1 the log is written
    (1 - power) log p + power·(log q + log1p(-(1 + log r)/r)).
    """
    log_r = log_q - log_p
    safe = np.minimum(log_r, 1.0) if estimator == "k3" else log_r
    with np.errstate(all="ignore"):
        terms = _terms_from_log_ratio(safe, estimator)
        log_value = log_p + power * np.log(np.abs(terms))
        if estimator == "k3":
            tail = np.log1p(-(1.0 + log_r) * np.exp(-log_r))
            large = (1 - power) * log_p + power * (log_q + tail)
            log_value = np.where(log_r > 1.0, large, log_value)
    return log_value, np.sign(terms) ** power


def _estimator_terms(p, q, num_samples, seed, estimator):
    x = p.sample(num_samples, seed=seed)
    return _terms_from_log_ratio(q.log_prob(x) - p.log_prob(x), estimator)


def estimator_moments(p, q, estimator):
    r"""Exact mean and per-draw standard deviation of a Monte Carlo KL estimator.

    For the term :math:`k(x)` of ``estimator`` (see `kl_monte_carlo`) with
    :math:`x \sim p`,

    .. math:: \mu = \mathbb{E}_p[k], \qquad
              \sigma = \sqrt{\mathbb{E}_p[k^2] - \mu^2},

    both by the quadrature of `kl_quadrature` (no sampling), from the same term
    function that `kl_monte_carlo` averages. The bias of the estimator is
    :math:`\mu - D_{\mathrm{KL}}(p\|q)`; an n-draw estimate has standard error
    :math:`\sigma/\sqrt n`. Chapter 4 uses it.

    Args:
      p, q: univariate ``tfd.Distribution`` objects (batch and event shape ``[]``).
      estimator: ``"k1"``, ``"k2"`` or ``"k3"`` (see `KL_ESTIMATORS`).

    Returns:
      ``(mean, standard_deviation)`` as floats. The mean is ``inf`` when KL(p‖q) is;
      the standard deviation is ``inf`` when :math:`\mathbb{E}_p[k^2]` diverges (for
      ``k3`` whenever :math:`\mathbb{E}_p[r^2] = \int q^2/p` does, e.g. two Normals
      with :math:`\sigma_q^2 \ge 2\sigma_p^2`).

    Raises:
      TypeError: if ``p`` or ``q`` has no ``log_prob``.
      ValueError: if ``estimator`` is unknown, ``p`` or ``q`` has a batch or event
        shape, or a piece of an integral does not reach its tolerance.

    Examples:
      >>> import numpy as np, tensorflow_probability as tfp
      >>> tfd = tfp.distributions
      >>> p, q = tfd.Normal(np.float64(0), 1.0), tfd.Normal(np.float64(0.1), 1.0)
      >>> mean, sd = estimator_moments(p, q, "k1")  # log r = 0.1 x - 0.005 is linear
      >>> round(mean, 12), round(sd, 12)  # KL = 0.1²/2 and sd(0.1 x) = 0.1
      (0.005, 0.1)
    """
    _univariate(p, "p")
    _univariate(q, "q")
    _validate.one_of(estimator, "estimator", KL_ESTIMATORS)

    def moment(power):
        def integrand(x, log_p, log_q):
            # p·k^power, in logs: p underflows where k overflows, far in the tails.
            has_p = np.isfinite(log_p)
            log_value, sign = _log_weighted_terms(
                np.where(has_p, log_p, 0.0), log_q, estimator, power
            )
            return np.where(has_p, sign * np.exp(log_value), 0.0)

        outcome = _quadrature.integrate(p, q, integrand, lower=-math.inf, upper=math.inf, points=())
        if outcome.status in ("mismatch", "divergent"):
            return math.copysign(math.inf, outcome.value)
        if outcome.status != "ok":
            raise _quadrature_error(outcome, f"E_p[{estimator}^{power}]")
        return outcome.value

    mean = moment(1)
    if not math.isfinite(mean):
        return mean, math.inf
    second = moment(2)
    return mean, math.sqrt(max(second - mean**2, 0.0))


def kl(p, q, *, num_samples=100_000, seed=0):
    r"""KL(p‖q) by the best route available, saying which route it took.

    .. math:: D_{\mathrm{KL}}(p \,\|\, q) = \mathbb{E}_{x \sim p}\left[\log
              \frac{p(x)}{q(x)}\right]

    1. ``analytic``: TFP's registered closed form (``tfd.kl_divergence``).
    2. ``quadrature``: `kl_quadrature`, for one univariate distribution each (batch
       and event shape ``[]``) with no closed form.
    3. ``monte_carlo``: `kl_monte_carlo` with the ``k1`` estimator otherwise.

    Chapter 1 introduces the routes; chapter 4 compares the last two.

    Args:
      p, q: ``tfd.Distribution`` objects over the same space.
      num_samples, seed: used by the Monte Carlo route only.

    Returns:
      `KLResult` ``(value, method, error)``: ``error`` is 0 for the analytic route,
      the quadrature error estimate, or the Monte Carlo standard error.

    Raises:
      TypeError: if ``p`` or ``q`` is not a ``tfd.Distribution``.
      ValueError: from the route taken (`kl_quadrature`, `kl_monte_carlo`).

    Examples:
      >>> import numpy as np, tensorflow_probability as tfp
      >>> tfd = tfp.distributions
      >>> kl(tfd.Normal(0.0, 2.0), tfd.Normal(1.0, 4.0)).method
      'analytic'
      >>> result = kl(tfd.Normal(np.float64(0), 1.0), tfd.StudentT(np.float64(3), 0.0, 1.0))
      >>> result.method, round(result.value, 6)  # scipy.integrate.quad: 0.0691516
      ('quadrature', 0.069152)
    """
    for name, value in (("p", p), ("q", q)):
        if not isinstance(value, tfd.Distribution):
            raise TypeError(f"`{name}` must be a tfd.Distribution; got {type(value).__name__}")
    try:
        value = tfd.kl_divergence(p, q)
        return KLResult(float(value), "analytic", 0.0)
    except NotImplementedError:
        pass
    scalar = [d.event_shape.rank == 0 and d.batch_shape.rank == 0 for d in (p, q)]
    if all(scalar):
        estimate = kl_quadrature(p, q)
        return KLResult(estimate.value, "quadrature", estimate.error)
    estimate = kl_monte_carlo(p, q, num_samples=num_samples, seed=seed)
    return KLResult(estimate.value, "monte_carlo", estimate.error)
