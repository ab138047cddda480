"""klcourse.divergence: every value by two independent routes, properties, bad inputs.

The quadrature (kl_quadrature, expectation_quadrature, estimator_moments) is tested in
test_quadrature.py.
"""

import math

import numpy as np
import pytest
import scipy.stats
import tensorflow_probability as tfp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import klcourse as kc

tfd = tfp.distributions
f64 = np.float64


def normal(loc, scale):
    return tfd.Normal(f64(loc), f64(scale))


# ---------------------------------------------------------------- reference numbers
# Source: tutorial 001 prints 0.35 and 0.07; shared/seeds/ERRATA.md gives 0.349397, 0.068932.
@pytest.mark.parametrize(
    "args, printed, exact",
    [((0, 2, 1, 4), 0.35, 0.349397), ((1, 3, 1, 4), 0.07, 0.068932)],
)
def test_tutorial_normal_pair(args, printed, exact):
    value = kc.kl_normal(*args)
    assert round(float(value), 2) == printed
    assert value == pytest.approx(exact, abs=5e-7)


def test_grid_pitfall_reference():
    # Source: tutorial 003 reports 500 for N(0,2) vs N(2,2) (a raw-density sum without dx);
    # ERRATA.md: 499.9997 raw, 0.49999972 with dx, exact 0.5.
    x = np.arange(-10, 10, 0.001)
    p, q = scipy.stats.norm.pdf(x, 0, 2), scipy.stats.norm.pdf(x, 2, 2)
    raw = np.sum(scipy.special.rel_entr(p, q))
    assert raw == pytest.approx(499.9997, abs=1e-4)
    assert raw * 0.001 == pytest.approx(0.49999972, abs=1e-8)
    assert kc.kl_normal(0, 2, 2, 2) == pytest.approx(0.5, abs=1e-15)


def test_2d_reference_value():
    # Source: tutorial 001 and ERRATA.md: KL(q‖p) = 4.8723750 before the 2-D fit.
    value = kc.kl_mvn([2, -2], np.diag([1.0, 4.0]), [0, 0], [[1, 0.5], [0.5, 2]])
    assert value == pytest.approx(4.872375, abs=1e-6)


# ---------------------------------------------------------------- discrete
def test_discrete_matches_scipy_entropy():
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(7), size=5), rng.dirichlet(np.ones(7), size=5)
    expected = scipy.stats.entropy(p, q, axis=-1)
    np.testing.assert_allclose(kc.kl_discrete(p, q), expected, rtol=1e-12)
    np.testing.assert_allclose(kc.kl_discrete(p, q, base=2), expected / math.log(2), rtol=1e-12)


def test_discrete_zero_conventions():
    assert kc.kl_discrete([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2))
    assert kc.kl_discrete([0.5, 0.5], [1.0, 0.0]) == math.inf


def test_discrete_axis_and_broadcast():
    p = np.array([[0.2, 0.8], [0.5, 0.5]])
    q = np.array([0.4, 0.6])
    np.testing.assert_allclose(
        kc.kl_discrete(p, q), scipy.stats.entropy(p.T, q[:, None]), rtol=1e-12
    )
    np.testing.assert_allclose(
        kc.kl_discrete(p.T, q[:, None], axis=0), scipy.stats.entropy(p.T, q[:, None])
    )


probability = hnp.arrays(np.float64, st.integers(2, 6), elements=st.floats(0.01, 1.0)).map(
    lambda a: a / a.sum()
)


@settings(max_examples=60, deadline=None)
@given(probability, st.data())
def test_discrete_gibbs_inequality_and_identity(p, data):
    q = data.draw(
        hnp.arrays(np.float64, p.shape, elements=st.floats(0.01, 1.0)).map(lambda a: a / a.sum())
    )
    assert kc.kl_discrete(p, q) >= -1e-15
    assert kc.kl_discrete(p, p) == pytest.approx(0.0, abs=1e-15)
    # cross-entropy = entropy + KL
    cross_entropy = -np.sum(p * np.log(q))
    assert cross_entropy == pytest.approx(scipy.stats.entropy(p) + kc.kl_discrete(p, q), abs=1e-12)


def simplex(size):
    return hnp.arrays(np.float64, size, elements=st.floats(0.01, 1.0)).map(lambda a: a / a.sum())


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 5), st.integers(2, 5), st.data())
def test_discrete_chain_rule_for_products(n, m, data):
    # KL of independent pairs adds: KL(p1 p2 ‖ q1 q2) = KL(p1‖q1) + KL(p2‖q2).
    p1, q1 = data.draw(simplex(n)), data.draw(simplex(n))
    p2, q2 = data.draw(simplex(m)), data.draw(simplex(m))
    joint = kc.kl_discrete(np.outer(p1, p2).ravel(), np.outer(q1, q2).ravel())
    assert joint == pytest.approx(
        kc.kl_discrete(p1, q1) + kc.kl_discrete(p2, q2), rel=1e-9, abs=1e-12
    )


@pytest.mark.parametrize(
    "p, q, message",
    [
        ([0.5, -0.1, 0.6], [0.3, 0.3, 0.4], "`p` must be non-negative"),
        ([0.5, 0.5], [0.3, 0.3], "`q` must sum to 1"),
        ([0.5, np.nan], [0.5, 0.5], "`p` must be finite"),
        ([0.5, 0.5], [0.2, 0.3, 0.5], "same number of outcomes"),
        (0.5, [0.5, 0.5], "`p` must have at least one axis"),
        ([[0.5, 0.5]] * 2, [[0.5, 0.5]] * 3, "must broadcast"),
    ],
)
def test_discrete_bad_input(p, q, message):
    with pytest.raises(ValueError, match=message):
        kc.kl_discrete(p, q)


def test_discrete_bad_types_and_base():
    with pytest.raises(TypeError, match="`p` must be numeric"):
        kc.kl_discrete("ab", [0.5, 0.5])
    with pytest.raises(ValueError, match="`base` must differ from 1"):
        kc.kl_discrete([0.5, 0.5], [0.5, 0.5], base=1)
    with pytest.raises(ValueError, match="`base` must be positive"):
        kc.kl_discrete([0.5, 0.5], [0.5, 0.5], base=-2)


# ---------------------------------------------------------------- normal and mvn
@settings(max_examples=60, deadline=None)
@given(
    st.floats(-5, 5),
    st.floats(0.2, 5),
    st.floats(-5, 5),
    st.floats(0.2, 5),
)
def test_normal_closed_form_matches_tfp(mu_p, s_p, mu_q, s_q):
    expected = float(tfd.kl_divergence(normal(mu_p, s_p), normal(mu_q, s_q)))
    assert kc.kl_normal(mu_p, s_p, mu_q, s_q) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert kc.kl_normal(mu_p, s_p, mu_q, s_q) >= 0


def test_normal_matches_quadrature():
    value, error = kc.kl_quadrature(normal(0.3, 0.7), normal(-1.0, 2.5))
    assert value == pytest.approx(kc.kl_normal(0.3, 0.7, -1.0, 2.5), abs=1e-10)


def test_normal_accurate_for_nearly_equal_scales():
    # log(σq/σp) + σp²/2σq² - 1/2 cancels catastrophically near σp = σq;
    # the series gives ε² for σq = σp(1+ε).
    eps = 1e-7
    assert kc.kl_normal(0.0, 1.0, 0.0, 1.0 + eps) == pytest.approx(
        eps**2 * (1 - 1.5 * eps), rel=1e-6
    )


@settings(max_examples=40, deadline=None)
@given(
    st.floats(-3, 3),
    st.floats(0.3, 3),
    st.floats(-3, 3),
    st.floats(0.3, 3),
    st.floats(0.2, 5),
    st.floats(-5, 5),
)
def test_normal_invariant_under_affine_map(mu_p, s_p, mu_q, s_q, a, b):
    # KL is invariant under invertible maps of x, here x -> a x + b.
    before = kc.kl_normal(mu_p, s_p, mu_q, s_q)
    after = kc.kl_normal(a * mu_p + b, a * s_p, a * mu_q + b, a * s_q)
    assert after == pytest.approx(before, rel=1e-9, abs=1e-12)


def test_normal_broadcasts():
    values = kc.kl_normal(np.zeros((3, 1)), 1.0, np.arange(4.0), 2.0)
    assert values.shape == (3, 4)
    assert values[0, 2] == pytest.approx(kc.kl_normal(0, 1, 2, 2))


@pytest.mark.parametrize(
    "name, args",
    [
        ("sigma_p", (0, 0.0, 0, 1)),
        ("sigma_q", (0, 1, 0, -1)),
        ("mu_p", (np.inf, 1, 0, 1)),
    ],
)
def test_normal_bad_input(name, args):
    with pytest.raises(ValueError, match=f"`{name}`"):
        kc.kl_normal(*args)


def random_spd(rng, dim, batch=()):
    a = rng.normal(size=batch + (dim, dim))
    return a @ np.swapaxes(a, -1, -2) + dim * np.eye(dim)


@pytest.mark.parametrize("dim", [1, 2, 5, 12])
def test_mvn_matches_tfp(dim):
    rng = np.random.default_rng(dim)
    mu_p, mu_q = rng.normal(size=dim), rng.normal(size=dim)
    cov_p, cov_q = random_spd(rng, dim), random_spd(rng, dim)
    p = tfd.MultivariateNormalTriL(mu_p, np.linalg.cholesky(cov_p))
    q = tfd.MultivariateNormalTriL(mu_q, np.linalg.cholesky(cov_q))
    assert kc.kl_mvn(mu_p, cov_p, mu_q, cov_q) == pytest.approx(
        float(tfd.kl_divergence(p, q)), rel=1e-10
    )


def test_mvn_one_dimension_is_kl_normal():
    assert kc.kl_mvn([0.3], [[0.49]], [-1.0], [[6.25]]) == pytest.approx(
        kc.kl_normal(0.3, 0.7, -1.0, 2.5)
    )


def test_mvn_batches_and_matches_monte_carlo():
    rng = np.random.default_rng(1)
    cov_p, cov_q = random_spd(rng, 3, (4,)), random_spd(rng, 3)
    values = kc.kl_mvn(np.zeros(3), cov_p, np.ones(3), cov_q)
    assert values.shape == (4,)
    p = tfd.MultivariateNormalTriL(np.zeros(3), np.linalg.cholesky(cov_p[0]))
    q = tfd.MultivariateNormalTriL(np.ones(3), np.linalg.cholesky(cov_q))
    estimate = kc.kl_monte_carlo(p, q, num_samples=200_000, seed=3)
    assert abs(estimate.value - values[0]) < 4 * estimate.error


def test_mvn_stable_in_high_dimension():
    # Ill-conditioned 40-D covariances where inverting Σq loses digits; compare with TFP in float64.
    rng = np.random.default_rng(7)
    dim = 40
    basis = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
    cov_q = basis @ np.diag(np.logspace(-4, 4, dim)) @ basis.T
    cov_q = (cov_q + cov_q.T) / 2
    cov_p = random_spd(rng, dim)
    p = tfd.MultivariateNormalTriL(np.zeros(dim), np.linalg.cholesky(cov_p))
    q = tfd.MultivariateNormalTriL(np.ones(dim), np.linalg.cholesky(cov_q))
    assert kc.kl_mvn(np.zeros(dim), cov_p, np.ones(dim), cov_q) == pytest.approx(
        float(tfd.kl_divergence(p, q)), rel=1e-8
    )


@pytest.mark.parametrize(
    "cov_q, message",
    [
        ([[1.0, 0.5], [0.4, 1.0]], "`cov_q` must be symmetric"),
        ([[1.0, 2.0], [2.0, 1.0]], "`cov_q` must be positive definite"),
        ([1.0, 1.0], "`cov_q` must be a square matrix"),
    ],
)
def test_mvn_bad_covariance(cov_q, message):
    with pytest.raises(ValueError, match=message):
        kc.kl_mvn([0, 0], np.eye(2), [0, 0], cov_q)


def test_mvn_dimension_mismatch():
    with pytest.raises(ValueError, match="`mu_p` must have dimension 2"):
        kc.kl_mvn([0, 0, 0], np.eye(2), [0, 0], np.eye(2))
    with pytest.raises(ValueError, match="`cov_p` must have dimension 2"):
        kc.kl_mvn([0, 0], np.eye(3), [0, 0], np.eye(2))


# ---------------------------------------------------------------- monte carlo
NEAR = (normal(0, 1), normal(0.3, 1.2))
FAR = (normal(0, 1), normal(2.0, 0.8))
# KL ≈ 0.005, the regime of Schulman's comparison, where k2 and k3 pay off.
VERY_NEAR = (normal(0, 1), normal(0.1, 1.02))


@pytest.mark.parametrize("pair", [NEAR, FAR], ids=["near", "far"])
@pytest.mark.parametrize("estimator", ["k1", "k3"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unbiased_estimators_within_standard_error(pair, estimator, seed):
    p, q = pair
    exact = float(tfd.kl_divergence(p, q))
    estimate = kc.kl_monte_carlo(p, q, num_samples=50_000, seed=seed, estimator=estimator)
    # 4 standard errors: a false alarm has probability about 6e-5 per case.
    assert abs(estimate.value - exact) < 4 * estimate.error, (exact, estimate, 50_000)


def test_k2_bias_vanishes_as_the_pair_gets_closer():
    def relative_bias(pair):
        exact = float(tfd.kl_divergence(*pair))
        estimate = kc.kl_monte_carlo(*pair, num_samples=400_000, seed=0, estimator="k2")
        return abs(estimate.value - exact) / exact, estimate.error / exact

    very_near, very_near_se = relative_bias(VERY_NEAR)
    far, far_se = relative_bias(FAR)
    assert very_near < 0.05
    assert far > 0.2 and far > 10 * far_se


def test_k3_has_lower_variance_than_k1_when_very_near():
    k1 = kc.kl_monte_carlo(*VERY_NEAR, num_samples=20_000, seed=5, estimator="k1")
    k3 = kc.kl_monte_carlo(*VERY_NEAR, num_samples=20_000, seed=5, estimator="k3")
    assert k3.error < 0.2 * k1.error


def test_monte_carlo_is_deterministic_per_seed():
    a = kc.kl_monte_carlo(*NEAR, num_samples=1000, seed=4)
    b = kc.kl_monte_carlo(*NEAR, num_samples=1000, seed=4)
    c = kc.kl_monte_carlo(*NEAR, num_samples=1000, seed=5)
    assert a == b and a != c


def test_monte_carlo_support_mismatch_is_inf():
    estimate = kc.kl_monte_carlo(
        normal(0, 1), tfd.Uniform(f64(-1), f64(1)), num_samples=100, seed=0
    )
    assert estimate.value == math.inf


def test_monte_carlo_bad_input():
    with pytest.raises(ValueError, match="`estimator` must be one of"):
        kc.kl_monte_carlo(*NEAR, num_samples=10, seed=0, estimator="k4")
    with pytest.raises(ValueError, match="`num_samples` must be at least 2"):
        kc.kl_monte_carlo(*NEAR, num_samples=1, seed=0)
    with pytest.raises(TypeError, match="`num_samples` must be an int"):
        kc.kl_monte_carlo(*NEAR, num_samples=10.5, seed=0)
    with pytest.raises(ValueError, match="`seed` must be non-negative"):
        kc.kl_monte_carlo(*NEAR, num_samples=10, seed=-1)
    with pytest.raises(TypeError, match="`p` must be a distribution with a `sample`"):
        kc.kl_monte_carlo(object(), NEAR[1], num_samples=10, seed=0)


# ---------------------------------------------------------------- kl dispatcher
def test_kl_picks_the_route():
    mixture = kc.examples.tutorial_mixture()
    assert kc.kl(normal(0, 2), normal(1, 4)).method == "analytic"
    result = kc.kl(normal(3, 1), mixture)
    assert result.method == "quadrature" and result.value == pytest.approx(9.495432, abs=1e-6)
    p = tfd.MultivariateNormalDiag(np.zeros(2))
    q = tfd.Independent(tfd.StudentT(f64(3), np.zeros(2), 1.0), 1)
    result = kc.kl(p, q, num_samples=20_000)
    assert result.method == "monte_carlo" and result.error > 0
    with pytest.raises(TypeError, match="`q` must be a tfd.Distribution"):
        kc.kl(p, "q")
