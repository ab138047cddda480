"""klcourse.vi: posterior, evidence and ELBO against independent routes."""

import numpy as np
import pytest
import scipy.stats
import tensorflow_probability as tfp

import klcourse as kc
from klcourse import vi

tfd = tfp.distributions


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    x = np.linspace(-2, 3, 6)
    design = np.stack([np.ones_like(x), x], axis=1)
    y = design @ np.array([0.5, -1.0]) + 0.7 * rng.normal(size=len(x))
    return design, y


def unnormalised_posterior(theta, design, y, noise_scale, prior_scale):
    """Likelihood times prior at the parameter vectors ``theta`` (shape [..., 2])."""
    theta = np.asarray(theta)
    return np.exp(
        scipy.stats.norm.logpdf(y, theta @ design.T, noise_scale).sum(axis=-1)
        + scipy.stats.norm.logpdf(theta, 0, prior_scale).sum(axis=-1)
    )


def test_evidence_and_posterior_by_2d_quadrature(problem):
    design, y = problem
    exact = vi.linear_gaussian_posterior(design, y, noise_scale=0.7, prior_scale=1.5)
    # A tensor-product Gauss-Legendre rule over +-10 posterior sds: the integrand is
    # smooth and negligible at the box's edge, so 120 nodes per axis reach ~1e-12.
    # (scipy's adaptive dblquad agrees, in about a minute.)
    nodes, weights = np.polynomial.legendre.leggauss(120)
    axes, axis_weights = [], []
    for i in range(2):
        half = 10 * np.sqrt(exact.cov[i, i])
        axes.append(exact.mean[i] + half * nodes)
        axis_weights.append(half * weights)
    a, b = np.meshgrid(*axes, indexing="ij")
    theta = np.stack([a, b], axis=-1)
    density = unnormalised_posterior(theta, design, y, 0.7, 1.5)
    w = np.outer(*axis_weights)

    def integrate(values):
        return np.sum(w * values * density)

    evidence = integrate(1.0)
    assert np.log(evidence) == pytest.approx(exact.log_evidence, abs=1e-8)
    assert integrate(theta[..., 0]) / evidence == pytest.approx(exact.mean[0], abs=1e-8)
    assert integrate((theta[..., 1] - exact.mean[1]) ** 2) / evidence == pytest.approx(
        exact.cov[1, 1], rel=1e-7
    )


def test_elbo_against_monte_carlo(problem):
    design, y = problem
    m, s = np.array([0.3, -0.8]), np.array([[0.2, 0.05], [0.05, 0.1]])
    exact = vi.linear_gaussian_elbo(design, y, m, s, noise_scale=0.7, prior_scale=1.5)
    theta = np.random.default_rng(1).multivariate_normal(m, s, size=400_000)
    terms = (
        scipy.stats.norm.logpdf(y[None, :], theta @ design.T, 0.7).sum(axis=1)
        + scipy.stats.norm.logpdf(theta, 0, 1.5).sum(axis=1)
        - scipy.stats.multivariate_normal(m, s).logpdf(theta)
    )
    standard_error = terms.std() / np.sqrt(len(terms))
    assert abs(terms.mean() - exact) < 4 * standard_error


def test_gap_is_the_kl_to_the_posterior(problem):
    design, y = problem
    exact = vi.linear_gaussian_posterior(design, y, noise_scale=0.7, prior_scale=1.5)
    m, s = np.array([0.3, -0.8]), np.array([[0.2, 0.05], [0.05, 0.1]])
    gap = exact.log_evidence - vi.linear_gaussian_elbo(
        design, y, m, s, noise_scale=0.7, prior_scale=1.5
    )
    assert gap == pytest.approx(kc.kl_mvn(m, s, exact.mean, exact.cov), rel=1e-10)
    at_posterior = vi.linear_gaussian_elbo(
        design, y, exact.mean, exact.cov, noise_scale=0.7, prior_scale=1.5
    )
    assert at_posterior == pytest.approx(exact.log_evidence, abs=1e-10)


def test_bad_input(problem):
    design, y = problem
    with pytest.raises(ValueError, match="`y` must have shape"):
        vi.linear_gaussian_posterior(design, y[:-1], noise_scale=1.0)
    with pytest.raises(ValueError, match="`noise_scale` must be positive"):
        vi.linear_gaussian_posterior(design, y, noise_scale=0.0)
    with pytest.raises(ValueError, match="`design` must be a matrix"):
        vi.linear_gaussian_posterior(y, y, noise_scale=1.0)
    with pytest.raises(ValueError, match="`q_cov` must be positive definite"):
        vi.linear_gaussian_elbo(design, y, [0, 0], [[1, 2], [2, 1]], noise_scale=1.0)
    with pytest.raises(ValueError, match="`q_mean` and `q_cov` must have shapes"):
        vi.linear_gaussian_elbo(design, y, [0, 0, 0], np.eye(2), noise_scale=1.0)


def test_cavi_reaches_the_mean_field_optimum_monotonically(problem):
    design, y = problem
    exact = vi.linear_gaussian_posterior(design, y, noise_scale=0.7, prior_scale=1.5)
    trace = vi.cavi_linear_gaussian(
        design, y, noise_scale=0.7, prior_scale=1.5, num_sweeps=300, init=[3.0, 3.0]
    )
    np.testing.assert_allclose(trace.means[-1], exact.mean, atol=1e-9)
    np.testing.assert_allclose(
        np.diag(vi.mean_field_optimum(exact.cov)), trace.variances, rtol=1e-12
    )
    assert np.all(np.diff(trace.elbo) >= -1e-12)  # coordinate ascent never lowers the ELBO
    # and the gap at the end is the best mean-field KL
    gap = exact.log_evidence - trace.elbo[-1]
    best = kc.kl_mvn(exact.mean, vi.mean_field_optimum(exact.cov), exact.mean, exact.cov)
    assert gap == pytest.approx(best, abs=1e-9)


def test_cavi_on_orthogonal_columns_converges_in_one_sweep():
    x = np.linspace(-1, 1, 9)
    design = np.stack([np.ones_like(x), x], axis=1)  # columns orthogonal: Λ diagonal
    trace = vi.cavi_linear_gaussian(design, x**2, noise_scale=1.0, num_sweeps=3)
    np.testing.assert_allclose(trace.means[1], trace.means[-1], atol=1e-14)


@pytest.mark.slow  # tiers: seconds of work; `make unit` skips it
def test_nuts_matches_a_known_gaussian():
    import tensorflow as tf

    cov = np.array([[1.0, 0.8], [0.8, 1.0]], np.float32)
    target = tfd.MultivariateNormalTriL([1.0, -1.0], np.linalg.cholesky(cov))
    result = vi.sample_nuts(
        target.log_prob, np.zeros((4, 2)), num_results=1000, num_burnin_steps=300, seed=1
    )
    draws = result.samples.reshape(-1, 2)
    se = draws.std(axis=0) / np.sqrt(result.ess)
    assert np.all(np.abs(draws.mean(axis=0) - [1.0, -1.0]) < 4 * se)
    assert np.all(np.abs(result.r_hat - 1) < 0.02) and 0.5 < result.acceptance <= 1
    assert isinstance(tf.constant(0.0), tf.Tensor)


def test_cavi_and_nuts_bad_input(problem):
    design, y = problem
    with pytest.raises(ValueError, match="`init` must have shape"):
        vi.cavi_linear_gaussian(design, y, noise_scale=1.0, init=[0.0])
    with pytest.raises(TypeError, match="`num_sweeps` must be an int"):
        vi.cavi_linear_gaussian(design, y, noise_scale=1.0, num_sweeps=2.5)
    with pytest.raises(TypeError, match="`log_prob_fn` must be callable"):
        vi.sample_nuts(None, np.zeros((1, 1)), num_results=1, num_burnin_steps=1, seed=0)
    with pytest.raises(ValueError, match="`initial_state` must be"):
        vi.sample_nuts(lambda x: x, np.zeros(3), num_results=1, num_burnin_steps=1, seed=0)
