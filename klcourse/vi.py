r"""Ground truth for variational inference: Bayesian linear regression in closed form.

The model of chapter 5: weights :math:`\theta \sim \mathcal N(0, \tau^2 I)`, observations
:math:`y \mid \theta \sim \mathcal N(X\theta, \sigma^2 I)` with a known noise scale σ.
Everything about it is Gaussian, so the posterior, the evidence and the ELBO of any
Gaussian approximation have closed forms, against which VI can be checked exactly.

The ELBO here is computed term by term from its definition, independently of
`klcourse.divergence.kl_mvn`, so the identity
:math:`\log p(y) - \mathrm{ELBO}(q) = \mathrm{KL}(q\,\|\,p(\theta\mid y))` is a real
check of both.
"""

import math
from typing import NamedTuple

import numpy as np

from klcourse import _validate

__all__ = [
    "LinearGaussianPosterior",
    "linear_gaussian_posterior",
    "linear_gaussian_elbo",
    "mean_field_optimum",
]


class LinearGaussianPosterior(NamedTuple):
    """Exact posterior N(mean, cov) and log evidence log p(y) of the linear-Gaussian model."""

    mean: np.ndarray
    cov: np.ndarray
    log_evidence: float


def _check(design, y, noise_scale, prior_scale):
    design = _validate.as_float_array(design, "design")
    y = _validate.as_float_array(y, "y")
    if design.ndim != 2:
        raise ValueError(f"`design` must be a matrix [n, d]; got shape {design.shape}")
    if y.shape != (design.shape[0],):
        raise ValueError(
            f"`y` must have shape ({design.shape[0]},) to match `design`; got {y.shape}"
        )
    noise_scale = float(_validate.positive(noise_scale, "noise_scale"))
    prior_scale = float(_validate.positive(prior_scale, "prior_scale"))
    return design, y, noise_scale, prior_scale


def linear_gaussian_posterior(design, y, *, noise_scale, prior_scale=1.0):
    r"""Exact posterior and log evidence of Bayesian linear regression.

    .. math::

       \Sigma_{\text{post}} = \Big(\tfrac{1}{\tau^2} I + \tfrac{1}{\sigma^2} X^\top X\Big)^{-1},
       \qquad \mu_{\text{post}} = \tfrac{1}{\sigma^2}\,\Sigma_{\text{post}} X^\top y,

       \log p(y) = \log \mathcal N\big(y;\ 0,\ \sigma^2 I + \tau^2 X X^\top\big).

    Args:
      design: matrix X, shape ``[n, d]`` (a column of ones for an intercept).
      y: observations, shape ``[n]``.
      noise_scale: σ, the known observation noise standard deviation.
      prior_scale: τ, the prior standard deviation of each weight.

    Returns:
      `LinearGaussianPosterior` ``(mean [d], cov [d, d], log_evidence)``.

    Raises:
      TypeError: if an argument is not numeric.
      ValueError: for non-finite values, mismatched shapes or non-positive scales.
    """
    design, y, noise_scale, prior_scale = _check(design, y, noise_scale, prior_scale)
    d = design.shape[1]
    precision = np.eye(d) / prior_scale**2 + design.T @ design / noise_scale**2
    chol = np.linalg.cholesky(precision)
    cov = np.linalg.solve(chol.T, np.linalg.solve(chol, np.eye(d)))
    mean = cov @ design.T @ y / noise_scale**2
    marginal = noise_scale**2 * np.eye(len(y)) + prior_scale**2 * design @ design.T
    marginal_chol = np.linalg.cholesky(marginal)
    whitened = np.linalg.solve(marginal_chol, y)
    log_evidence = -0.5 * (
        whitened @ whitened
        + 2 * np.sum(np.log(np.diag(marginal_chol)))
        + len(y) * math.log(2 * math.pi)
    )
    return LinearGaussianPosterior(mean, cov, float(log_evidence))


def linear_gaussian_elbo(design, y, q_mean, q_cov, *, noise_scale, prior_scale=1.0):
    r"""Exact ELBO of a Gaussian q(θ) = N(m, S) for the linear-Gaussian model.

    .. math::

       \mathrm{ELBO}(q) = \mathbb E_q[\log p(y\mid\theta)] + \mathbb E_q[\log p(\theta)] + H(q),

    with :math:`\mathbb E_q[\log p(y\mid\theta)] = -\tfrac n2\log(2\pi\sigma^2)
    - \tfrac{1}{2\sigma^2}\big(\|y - Xm\|^2 + \operatorname{tr}(X S X^\top)\big)`,
    :math:`\mathbb E_q[\log p(\theta)] = -\tfrac d2\log(2\pi\tau^2) - \tfrac{1}{2\tau^2}(\|m\|^2 + \operatorname{tr} S)`
    and :math:`H(q) = \tfrac12\log\det(2\pi e S)`.

    Args:
      design, y, noise_scale, prior_scale: as in `linear_gaussian_posterior`.
      q_mean: m, shape ``[d]``.
      q_cov: S, shape ``[d, d]``, symmetric positive definite.

    Returns:
      ``float``.

    Raises:
      TypeError, ValueError: as `linear_gaussian_posterior`, and for a q of the wrong
        dimension or a covariance that is not positive definite.
    """
    design, y, noise_scale, prior_scale = _check(design, y, noise_scale, prior_scale)
    n, d = design.shape
    q_mean = _validate.as_float_array(q_mean, "q_mean")
    q_cov = _validate.as_float_array(q_cov, "q_cov")
    if q_mean.shape != (d,) or q_cov.shape != (d, d):
        raise ValueError(
            f"`q_mean` and `q_cov` must have shapes ({d},) and ({d}, {d}); got {q_mean.shape} and {q_cov.shape}"
        )
    try:
        chol = np.linalg.cholesky(q_cov)
    except np.linalg.LinAlgError as error:
        raise ValueError("`q_cov` must be positive definite") from error
    residual = y - design @ q_mean
    expected_log_likelihood = -0.5 * n * math.log(
        2 * math.pi * noise_scale**2
    ) - 0.5 / noise_scale**2 * (residual @ residual + np.trace(design @ q_cov @ design.T))
    expected_log_prior = -0.5 * d * math.log(
        2 * math.pi * prior_scale**2
    ) - 0.5 / prior_scale**2 * (q_mean @ q_mean + np.trace(q_cov))
    entropy = 0.5 * d * (1 + math.log(2 * math.pi)) + np.sum(np.log(np.diag(chol)))
    return float(expected_log_likelihood + expected_log_prior + entropy)


def mean_field_optimum(cov):
    r"""Covariance of the diagonal Gaussian closest to N(μ, Σ) in reverse KL.

    Among q = N(μ, diag(v)), KL(q‖N(μ, Σ)) is smallest at

    .. math:: v_j = 1 / (\Sigma^{-1})_{jj},

    the conditional variances of p (chapter 3; the mean-field solution of chapter 5).

    Args:
      cov: symmetric positive-definite matrix ``[d, d]``, array-like.

    Returns:
      ``numpy.ndarray`` ``[d, d]``: the diagonal covariance ``diag(v)``.

    Raises:
      ValueError: if ``cov`` is not a square matrix or not positive definite.

    Examples:
      >>> mean_field_optimum([[1.0, 0.5], [0.5, 2.0]]).diagonal()
      array([0.875, 1.75 ])
    """
    cov = _validate.as_float_array(cov, "cov")
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"`cov` must be a square matrix; got shape {cov.shape}")
    try:
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise ValueError("`cov` must be positive definite") from None
    return np.diag(1.0 / np.diag(np.linalg.inv(cov)))
