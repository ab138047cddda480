"""klcourse.fdivergence: each member against an independent route, and its properties."""

import math

import hypothesis.strategies as st
import numpy as np
import pytest
import scipy.integrate
import scipy.optimize
import scipy.spatial.distance
import scipy.stats
import tensorflow_probability as tfp
from hypothesis import given

import klcourse as kc
from klcourse import fdivergence as fd

tfd = tfp.distributions

P = np.array([0.1, 0.2, 0.3, 0.4])
Q = np.array([0.25, 0.25, 0.4, 0.1])


def probability_vectors(size=4):
    weights = st.lists(st.floats(0.01, 1.0), min_size=size, max_size=size)
    return weights.map(lambda w: np.array(w) / np.sum(w))


def test_generators_agree_with_direct_formulas():
    assert fd.f_divergence(P, Q, "kl") == pytest.approx(kc.kl_discrete(P, Q), rel=1e-12)
    assert fd.f_divergence(P, Q, "reverse_kl") == pytest.approx(kc.kl_discrete(Q, P), rel=1e-12)
    assert fd.f_divergence(P, Q, "total_variation") == pytest.approx(fd.total_variation(P, Q))
    assert fd.f_divergence(P, Q, "squared_hellinger") == pytest.approx(
        fd.squared_hellinger(P, Q), rel=1e-12
    )
    assert fd.chi_square(P, Q) == pytest.approx(np.sum((P - Q) ** 2 / Q), rel=1e-12)
    # SciPy's jensenshannon is the square root of the divergence (the JS distance).
    assert fd.jensen_shannon(P, Q) == pytest.approx(
        scipy.spatial.distance.jensenshannon(P, Q) ** 2, rel=1e-10
    )


def test_mass_where_q_is_zero_costs_f_prime_at_infinity():
    p, q = [0.5, 0.5], [1.0, 0.0]
    assert fd.f_divergence(p, q, "kl") == math.inf
    assert fd.chi_square(p, q) == math.inf
    assert fd.f_divergence(p, q, "total_variation") == pytest.approx(0.5)
    assert fd.jensen_shannon([1.0, 0.0], [0.0, 1.0], base=2) == pytest.approx(1.0)
    assert fd.squared_hellinger([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)
    assert fd.f_divergence(p, q, "reverse_kl") == pytest.approx(kc.kl_discrete(q, p), rel=1e-12)


def test_callable_generator_and_its_limit():
    assert fd.f_divergence(P, Q, lambda u: (u - 1) ** 2) == pytest.approx(fd.chi_square(P, Q))
    with pytest.raises(ValueError, match="f'"):
        fd.f_divergence([0.5, 0.5], [1.0, 0.0], lambda u: (u - 1) ** 2)


@given(probability_vectors(), probability_vectors())
def test_properties(p, q):
    tv, kl = fd.total_variation(p, q), kc.kl_discrete(p, q)
    h2 = fd.squared_hellinger(p, q)
    assert 0 <= tv <= 1 and 0 <= h2 <= 1
    assert h2 <= tv + 1e-12 <= math.sqrt(2 * h2) + 1e-9  # Le Cam's inequalities
    assert tv <= math.sqrt(kl / 2) + 1e-12  # Pinsker
    assert kl <= math.log1p(fd.chi_square(p, q)) + 1e-12
    assert fd.jensen_shannon(p, q) <= math.log(2) + 1e-12
    assert fd.jensen_shannon(p, q) == pytest.approx(fd.jensen_shannon(q, p), abs=1e-12)
    alphas = [0.25, 0.5, 0.75, 1.5, 2.0]
    values = [fd.renyi(p, q, a) for a in alphas]
    assert all(a <= b + 1e-12 for a, b in zip(values, values[1:], strict=False))  # monotone
    assert values[2] <= kl + 1e-12 and kl <= values[3] + 1e-12


def test_renyi_limits_and_half():
    assert fd.renyi(P, Q, 1 - 1e-7) == pytest.approx(kc.kl_discrete(P, Q), rel=1e-5)
    assert fd.renyi(P, Q, 0.5) == pytest.approx(
        -2 * math.log(1 - fd.squared_hellinger(P, Q)), rel=1e-12
    )
    assert fd.renyi([0.5, 0.5], [1.0, 0.0], 2.0) == math.inf
    assert fd.renyi([0.5, 0.5], [1.0, 0.0], 0.5) == pytest.approx(-2 * math.log(math.sqrt(0.5)))


@pytest.mark.parametrize("alpha", [0.2, 0.5, 0.9, 1.5, 3.0])
@pytest.mark.parametrize(("mu_p", "s_p", "mu_q", "s_q"), [(0, 1, 1, 1), (0.5, 0.7, -1, 2)])
def test_renyi_normal_against_quadrature(alpha, mu_p, s_p, mu_q, s_q):
    p = tfd.Normal(np.float64(mu_p), np.float64(s_p))
    q = tfd.Normal(np.float64(mu_q), np.float64(s_q))
    exact = fd.renyi_normal(mu_p, s_p, mu_q, s_q, alpha)
    assert fd.renyi_quadrature(p, q, alpha) == pytest.approx(exact, rel=1e-7)


def test_renyi_normal_infinite_and_kl_limit():
    assert fd.renyi_normal(0.0, 3.0, 0.0, 1.0, 2.0) == math.inf  # σ_α² < 0
    assert fd.renyi_normal(0.0, 2.0, 1.0, 4.0, 1 + 1e-7) == pytest.approx(
        kc.kl_normal(0.0, 2.0, 1.0, 4.0), rel=1e-5
    )


# Total variation's integrand has kinks where p = q, which adaptive quadrature resolves
# only slowly; test_total_variation_normal_against_quadrature checks TV's closed form
# for Normals (which chapter 8 uses) with the kinks located independently.
@pytest.mark.parametrize("name", [g for g in fd.GENERATORS if g != "total_variation"])
def test_quadrature_against_discretisation_free_values(name):
    p = tfd.Normal(np.float64(0.0), np.float64(1.0))
    q = tfd.Normal(np.float64(0.5), np.float64(1.5))
    value = fd.f_divergence_quadrature(p, q, name)
    x = np.linspace(-15, 15, 300_001)
    dx = x[1] - x[0]
    pd, qd = scipy.stats.norm.pdf(x, 0, 1) * dx, scipy.stats.norm.pdf(x, 0.5, 1.5) * dx
    reference = fd.f_divergence(pd / pd.sum(), qd / qd.sum(), name)
    assert value == pytest.approx(reference, rel=1e-6)


def test_validation_names_the_argument():
    with pytest.raises(ValueError, match="`p` and `q` must have the same shape"):
        fd.total_variation([0.5, 0.5], [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="`f` must be one of"):
        fd.f_divergence(P, Q, "hamming")
    with pytest.raises(ValueError, match="`alpha` must differ from 1"):
        fd.renyi(P, Q, 1.0)
    with pytest.raises(ValueError, match="`alpha` must be positive"):
        fd.renyi_normal(0, 1, 0, 1, -1.0)
    with pytest.raises(ValueError, match="`base` must differ from 1"):
        fd.jensen_shannon(P, Q, base=1)
    with pytest.raises(TypeError, match="`q`"):
        fd.f_divergence_quadrature(tfd.Normal(0.0, 1.0), "normal", "kl")


NORMAL_PAIRS = [(0, 1, 1, 1), (0.5, 0.7, -1, 2), (0, 1, 0, 3), (2, 0.3, 2.1, 0.31), (0, 1, 8, 1)]


def _tv_by_quadrature(mu_p, s_p, mu_q, s_q):
    """½∫|p − q| by scipy quad on a wide interval, the kinks found by a bracketing search."""

    def gap(x):
        return scipy.stats.norm.logpdf(x, mu_p, s_p) - scipy.stats.norm.logpdf(x, mu_q, s_q)

    lo = min(mu_p - 40 * s_p, mu_q - 40 * s_q)
    hi = max(mu_p + 40 * s_p, mu_q + 40 * s_q)
    grid = np.linspace(lo, hi, 200_001)
    values = gap(grid)
    flips = np.nonzero(np.sign(values[:-1]) != np.sign(values[1:]))[0]
    kinks = [scipy.optimize.brentq(gap, grid[i], grid[i + 1], xtol=1e-14) for i in flips]
    edges = [lo, *kinks, hi]

    def integrand(x):
        return 0.5 * abs(scipy.stats.norm.pdf(x, mu_p, s_p) - scipy.stats.norm.pdf(x, mu_q, s_q))

    return sum(
        scipy.integrate.quad(integrand, a, b, epsabs=1e-14, epsrel=1e-12, limit=200)[0]
        for a, b in zip(edges, edges[1:], strict=False)
    )


@pytest.mark.parametrize(("mu_p", "s_p", "mu_q", "s_q"), NORMAL_PAIRS)
def test_total_variation_normal_against_quadrature(mu_p, s_p, mu_q, s_q):
    exact = fd.total_variation_normal(mu_p, s_p, mu_q, s_q)
    assert exact == pytest.approx(_tv_by_quadrature(mu_p, s_p, mu_q, s_q), rel=1e-9, abs=1e-12)
    assert exact == pytest.approx(fd.total_variation_normal(mu_q, s_q, mu_p, s_p), abs=1e-14)


def test_total_variation_quadrature_with_the_kinks_marked():
    p = tfd.Normal(np.float64(0.0), np.float64(1.0))
    q = tfd.Normal(np.float64(1.0), np.float64(1.5))

    def gap(x):
        return float(p.log_prob(x) - q.log_prob(x))

    kinks = [scipy.optimize.brentq(gap, a, b) for a, b in ((-5.0, 0.0), (0.0, 5.0))]
    value = fd.f_divergence_quadrature(p, q, "total_variation", points=kinks)
    assert value == pytest.approx(fd.total_variation_normal(0.0, 1.0, 1.0, 1.5), rel=1e-9)


def test_total_variation_normal_equal_scales_and_limits():
    for delta in (0.0, 0.1, 1.0, 5.0):
        expected = 2 * scipy.stats.norm.cdf(delta / 2) - 1
        assert fd.total_variation_normal(0.0, 1.0, delta, 1.0) == pytest.approx(expected, abs=1e-15)
    assert fd.total_variation_normal(0.0, 1.0, 40.0, 1.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="`sigma_q` must be positive"):
        fd.total_variation_normal(0.0, 1.0, 0.0, 0.0)


@given(st.floats(-3, 3), st.floats(0.2, 3), st.floats(-3, 3), st.floats(0.2, 3))
def test_total_variation_normal_properties(mu_p, s_p, mu_q, s_q):
    tv = fd.total_variation_normal(mu_p, s_p, mu_q, s_q)
    kl = kc.kl_normal(mu_p, s_p, mu_q, s_q)
    h2 = 1 - math.sqrt(2 * s_p * s_q / (s_p**2 + s_q**2)) * math.exp(
        -((mu_p - mu_q) ** 2) / (4 * (s_p**2 + s_q**2))
    )
    assert 0 <= tv <= 1
    assert tv <= math.sqrt(kl / 2) + 1e-12  # Pinsker
    assert h2 - 1e-12 <= tv <= math.sqrt(2 * h2) + 1e-12  # Le Cam


@pytest.mark.parametrize("alpha", [0.2, 0.5, 0.9, 1.5, 2.0])
def test_alpha_divergence_is_the_f_divergence_of_its_generator(alpha):
    f = fd.alpha_generator(alpha)
    assert fd.alpha_divergence(P, Q, alpha) == pytest.approx(fd.f_divergence(P, Q, f), rel=1e-12)
    direct = (np.sum(P**alpha * Q ** (1 - alpha)) - 1) / (alpha * (alpha - 1))
    assert fd.alpha_divergence(P, Q, alpha) == pytest.approx(direct, rel=1e-12)


@pytest.mark.parametrize("alpha", [0.2, 0.5, 0.9, 1.5, 3.0])
@pytest.mark.parametrize(("mu_p", "s_p", "mu_q", "s_q"), [(0, 1, 1, 1), (0.5, 0.7, -1, 2)])
def test_alpha_divergence_normal_against_quadrature(alpha, mu_p, s_p, mu_q, s_q):
    p = tfd.Normal(np.float64(mu_p), np.float64(s_p))
    q = tfd.Normal(np.float64(mu_q), np.float64(s_q))
    exact = fd.alpha_divergence_normal(mu_p, s_p, mu_q, s_q, alpha)
    value = fd.f_divergence_quadrature(p, q, fd.alpha_generator(alpha))
    assert value == pytest.approx(exact, rel=1e-7)


def test_alpha_divergence_limits_and_special_orders():
    assert fd.alpha_divergence(P, Q, 1 - 1e-7) == pytest.approx(kc.kl_discrete(P, Q), rel=1e-5)
    assert fd.alpha_divergence(P, Q, 1e-7) == pytest.approx(kc.kl_discrete(Q, P), rel=1e-5)
    assert fd.alpha_divergence(P, Q, 0.5) == pytest.approx(
        4 * fd.squared_hellinger(P, Q), rel=1e-12
    )
    assert fd.alpha_divergence(P, Q, 2.0) == pytest.approx(fd.chi_square(P, Q) / 2, rel=1e-12)
    # Mass where q = 0: infinite for α > 1, p·f'(∞) = p/(1 − α) for α < 1.
    assert fd.alpha_divergence([0.5, 0.5], [1.0, 0.0], 2.0) == math.inf
    f = fd.alpha_generator(0.5)
    assert fd.alpha_divergence([0.5, 0.5], [1.0, 0.0], 0.5) == pytest.approx(
        float(f(0.5)) + 0.5 / (1 - 0.5), rel=1e-12
    )
    assert fd.alpha_divergence([1.0, 0.0], [0.0, 1.0], 0.5) == pytest.approx(4.0)
    assert fd.alpha_divergence_normal(0.0, 3.0, 0.0, 1.0, 2.0) == math.inf
    with pytest.raises(ValueError, match="`alpha` must differ from 1"):
        fd.alpha_generator(1.0)


@given(probability_vectors(), probability_vectors())
def test_alpha_divergence_increases_with_renyi(p, q):
    for alpha in (0.3, 0.7, 1.5):
        amari, renyi = fd.alpha_divergence(p, q, alpha), fd.renyi(p, q, alpha)
        assert amari >= -1e-12
        # The link: one is an increasing function of the other, for each order.
        assert amari == pytest.approx(
            math.expm1((alpha - 1) * renyi) / (alpha * (alpha - 1)), rel=1e-9, abs=1e-14
        )
        # Same order on every pair: what makes their minimisers the same.
        uniform = np.full(len(p), 1 / len(p))
        renyi_u, amari_u = fd.renyi(p, uniform, alpha), fd.alpha_divergence(p, uniform, alpha)
        assert (renyi <= renyi_u) == (amari <= amari_u) or abs(renyi - renyi_u) < 1e-12
