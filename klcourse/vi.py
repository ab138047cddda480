r"""Ground truth for variational inference: Bayesian linear regression in closed form, CAVI, NUTS.

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
    "CAVITrace",
    "cavi_linear_gaussian",
    "MCMCResult",
    "sample_nuts",
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

    Chapter 5 uses it as the ground truth for VI.

    Examples:
      One weight, one observation y = 2 with σ = τ = 1: precision 2, mean 1,
      evidence N(2; 0, 2).

      >>> post = linear_gaussian_posterior([[1.0]], [2.0], noise_scale=1.0)
      >>> post.mean, post.cov, round(post.log_evidence, 6)
      (array([1.]), array([[0.5]]), -2.265512)
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
    :math:`\mathbb E_q[\log p(\theta)] = -\tfrac d2\log(2\pi\tau^2)
    - \tfrac{1}{2\tau^2}(\|m\|^2 + \operatorname{tr} S)`
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

    Chapter 5 sets log p(y) − ELBO(q) against KL(q‖posterior).

    Examples:
      At the exact posterior the ELBO equals the log evidence:

      >>> round(linear_gaussian_elbo([[1.0]], [2.0], [1.0], [[0.5]], noise_scale=1.0), 6)
      -2.265512
    """
    design, y, noise_scale, prior_scale = _check(design, y, noise_scale, prior_scale)
    n, d = design.shape
    q_mean = _validate.as_float_array(q_mean, "q_mean")
    q_cov = _validate.as_float_array(q_cov, "q_cov")
    if q_mean.shape != (d,) or q_cov.shape != (d, d):
        raise ValueError(
            f"`q_mean` and `q_cov` must have shapes ({d},) and ({d}, {d}); "
            f"got {q_mean.shape} and {q_cov.shape}"
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


class CAVITrace(NamedTuple):
    """History of coordinate-ascent mean-field VI (`cavi_linear_gaussian`).

    Attributes:
      means: ``numpy.ndarray`` ``[num_sweeps + 1, d]``, the means of q after each sweep
        (row 0 is the start).
      variances: ``numpy.ndarray`` ``[d]``, the variances of the factors (set by the
        first update and never changed after it).
      elbo: ``numpy.ndarray`` ``[num_sweeps + 1]``, the exact ELBO after each sweep.
    """

    means: np.ndarray
    variances: np.ndarray
    elbo: np.ndarray


def cavi_linear_gaussian(design, y, *, noise_scale, prior_scale=1.0, num_sweeps=50, init=None):
    r"""Coordinate-ascent VI (CAVI) with a fully factorised Gaussian, for linear regression.

    The mean-field family is :math:`q(\theta) = \prod_j q_j(\theta_j)`. Holding every
    factor but one fixed, the best :math:`q_j` satisfies

    .. math:: \log q_j^*(\theta_j) = \mathbb E_{q_{-j}}[\log p(y, \theta)] + \text{const}.

    Here :math:`\log p(y, \theta) = -\tfrac12\theta^\top\Lambda\theta + b^\top\theta + \text{const}`
    with :math:`\Lambda = I/\tau^2 + X^\top X/\sigma^2` and :math:`b = X^\top y/\sigma^2`, so
    :math:`q_j^*` is Gaussian with

    .. math::

       \operatorname{Var}(\theta_j) = 1/\Lambda_{jj}, \qquad
       m_j = \Big(b_j - \sum_{k\ne j}\Lambda_{jk} m_k\Big) \Big/ \Lambda_{jj},

    updated one coordinate at a time (Gauss–Seidel), each update using the newest
    means. Every update can only raise the ELBO; the fixed point has the exact posterior
    mean and the conditional variances of `mean_field_optimum` (chapter 5).

    Args:
      design, y, noise_scale, prior_scale: as in `linear_gaussian_posterior`.
      num_sweeps: positive ``int``, passes over all coordinates.
      init: starting means, shape ``[d]`` (default zeros).

    Returns:
      `CAVITrace` ``(means, variances, elbo)``.

    Raises:
      TypeError, ValueError: as `linear_gaussian_posterior`, and for a bad
        ``num_sweeps`` or an ``init`` of the wrong shape.

    Examples:
      >>> x = np.linspace(0.0, 10.0, 11)
      >>> design = np.stack([np.ones_like(x), x], axis=1)
      >>> trace = cavi_linear_gaussian(design, 0.5 * x, noise_scale=1.0, num_sweeps=200)
      >>> exact = linear_gaussian_posterior(design, 0.5 * x, noise_scale=1.0)
      >>> bool(np.allclose(trace.means[-1], exact.mean)), bool(np.all(np.diff(trace.elbo) >= 0))
      (True, True)
    """
    design, y, noise_scale, prior_scale = _check(design, y, noise_scale, prior_scale)
    num_sweeps = _validate.positive_int(num_sweeps, "num_sweeps")
    d = design.shape[1]
    means = np.zeros(d) if init is None else _validate.as_float_array(init, "init").copy()
    if means.shape != (d,):
        raise ValueError(f"`init` must have shape ({d},); got {means.shape}")
    precision = np.eye(d) / prior_scale**2 + design.T @ design / noise_scale**2
    shift = design.T @ y / noise_scale**2
    variances = 1.0 / np.diag(precision)

    def elbo(m):
        return linear_gaussian_elbo(
            design, y, m, np.diag(variances), noise_scale=noise_scale, prior_scale=prior_scale
        )

    history, elbos = [means.copy()], [elbo(means)]
    for _ in range(num_sweeps):
        for j in range(d):
            others = precision[j] @ means - precision[j, j] * means[j]
            means[j] = (shift[j] - others) / precision[j, j]
        history.append(means.copy())
        elbos.append(elbo(means))
    return CAVITrace(np.array(history), variances, np.array(elbos))


class MCMCResult(NamedTuple):
    """Draws from `sample_nuts`, with the diagnostics that say whether to trust them.

    Attributes:
      samples: ``numpy.ndarray`` ``[num_results, num_chains, d]``.
      acceptance: mean acceptance probability after burn-in (``float``).
      r_hat: ``numpy.ndarray`` ``[d]``, the potential scale reduction across chains
        (close to 1 when the chains agree).
      ess: ``numpy.ndarray`` ``[d]``, the effective sample size over all chains.
    """

    samples: np.ndarray
    acceptance: float
    r_hat: np.ndarray
    ess: np.ndarray


def sample_nuts(
    log_prob_fn,
    initial_state,
    *,
    num_results,
    num_burnin_steps,
    seed,
    step_size=0.1,
    jit_compile=False,
):
    r"""Draw from an unnormalised density with TFP's No-U-Turn Sampler (NUTS).

    Hamiltonian Monte Carlo moves along the gradient of :math:`\log p`; NUTS chooses the
    trajectory length itself (Hoffman and Gelman, 2014), and the step size is tuned
    during burn-in by dual averaging. The whole chain runs inside one ``tf.function``.
    With ``jit_compile=True`` it is compiled by XLA, which adds a compile step before the
    first draw (chapter 5 uses the default, ``False``).

    Args:
      log_prob_fn: callable mapping a state ``[num_chains, d]`` to ``[num_chains]``
        log densities (up to a constant), in TensorFlow.
      initial_state: ``[num_chains, d]`` starting points, array-like (float32).
      num_results: positive ``int``, draws kept per chain.
      num_burnin_steps: positive ``int``, draws discarded per chain (step-size tuning
        uses 80 % of them).
      seed: non-negative ``int``.
      step_size: positive float, the initial leapfrog step.
      jit_compile: ``bool``, compile with XLA.

    Returns:
      `MCMCResult` ``(samples, acceptance, r_hat, ess)``.

    Raises:
      TypeError, ValueError: for a non-callable ``log_prob_fn``, an initial state that is
        not a matrix, or bad counts, seed or step size.

    Examples:
      >>> import tensorflow as tf
      >>> result = sample_nuts(lambda x: -0.5 * tf.reduce_sum(x**2, -1), np.zeros((2, 1)),
      ...                      num_results=200, num_burnin_steps=100, seed=0)
      >>> result.samples.shape, bool(abs(result.samples.std() - 1) < 0.15)
      ((200, 2, 1), True)
    """
    import tensorflow as tf
    import tensorflow_probability as tfp

    if not callable(log_prob_fn):
        raise TypeError(f"`log_prob_fn` must be callable; got {type(log_prob_fn).__name__}")
    state = _validate.as_float_array(initial_state, "initial_state").astype(np.float32)
    if state.ndim != 2:
        raise ValueError(f"`initial_state` must be [num_chains, d]; got shape {state.shape}")
    num_results = _validate.positive_int(num_results, "num_results")
    num_burnin_steps = _validate.positive_int(num_burnin_steps, "num_burnin_steps")
    step_size = _validate.positive_float(step_size, "step_size")
    kernel = tfp.mcmc.DualAveragingStepSizeAdaptation(
        tfp.mcmc.NoUTurnSampler(log_prob_fn, step_size=step_size),
        num_adaptation_steps=int(0.8 * num_burnin_steps),
    )

    def run(stateless_seed):
        return tfp.mcmc.sample_chain(
            num_results=num_results,
            num_burnin_steps=num_burnin_steps,
            current_state=tf.constant(state),
            kernel=kernel,
            trace_fn=lambda _, results: results.inner_results.log_accept_ratio,
            seed=stateless_seed,
        )

    samples, log_accept = tf.function(run, jit_compile=bool(jit_compile))(
        _validate.stateless_seed(seed)
    )
    acceptance = float(tf.reduce_mean(tf.exp(tf.minimum(log_accept, 0.0))))
    r_hat = np.asarray(tfp.mcmc.potential_scale_reduction(samples), np.float64)
    ess = np.asarray(tfp.mcmc.effective_sample_size(samples, cross_chain_dims=1), np.float64)
    return MCMCResult(np.asarray(samples, np.float64), acceptance, r_hat, ess)
