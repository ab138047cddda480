"""kl_quadrature, expectation_quadrature and estimator_moments (klcourse/_quadrature.py).

Every univariate pair TFP has a closed-form KL for, over a spread of shapes (< 1 and > 1)
and scales (1e-3 to 1e3), in float64 and float32; the common pairs TFP lacks against
closed forms derived here; infinite divergences; the failures of issue 12 by name.
"""

import functools
import math

import numpy as np
import pytest
import scipy.integrate
import scipy.special
import scipy.stats
import tensorflow_probability as tfp

import klcourse as kc

tfd = tfp.distributions


def as64(value):
    return np.float64(value)


def as32(value):
    return np.float32(value)


def exact32(value):
    """A float32 parameter's exact value, as float64: the reference for float32 pairs."""
    return np.float64(np.float32(value))


def pair(name, family_p, args_p, family_q, args_q, *, slow=True):
    """A test case: ``make(c)`` builds (p, q), ``c`` making each parameter's dtype.

    ``slow`` cases widen the sweep and run in the slow tier only (`make test`).
    """

    def make(c):
        return family_p(*map(c, args_p)), family_q(*map(c, args_q))

    return pytest.param(name, make, id=name, marks=[pytest.mark.slow] if slow else [])


# Every univariate pair with a KL registered in TFP: shapes below and above 1, scales
# from 1e-3 to 1e3. The fast tier keeps one case per difficulty.
TFP_PAIRS = [
    pair("Beta(0.3,0.7)|Beta(0.7,0.3)", tfd.Beta, (0.3, 0.7), tfd.Beta, (0.7, 0.3), slow=False),
    pair("Beta(0.1,0.2)|Beta(0.2,0.1)", tfd.Beta, (0.1, 0.2), tfd.Beta, (0.2, 0.1)),
    pair("Beta(50,0.5)|Beta(0.5,50)", tfd.Beta, (50, 0.5), tfd.Beta, (0.5, 50)),
    pair("Beta(2.5,10)|Beta(0.3,0.7)", tfd.Beta, (2.5, 10), tfd.Beta, (0.3, 0.7)),
    pair("N(0,1e-3)|N(1e-3,1e3)", tfd.Normal, (0, 1e-3), tfd.Normal, (1e-3, 1e3), slow=False),
    pair("N(0,1e3)|N(1,1e-3)", tfd.Normal, (0, 1e3), tfd.Normal, (1, 1e-3)),
    pair("Laplace(0,1e3)|Laplace(1e3,1e-3)", tfd.Laplace, (0, 1e3), tfd.Laplace, (1e3, 1e-3)),
    pair("Cauchy(0,1e-3)|Cauchy(1,1)", tfd.Cauchy, (0, 1e-3), tfd.Cauchy, (1, 1), slow=False),
    pair("Cauchy(0,1e3)|Cauchy(1e-3,1e-3)", tfd.Cauchy, (0, 1e3), tfd.Cauchy, (1e-3, 1e-3)),
    pair("Gamma(0.5,1e-3)|Gamma(2,1e3)", tfd.Gamma, (0.5, 1e-3), tfd.Gamma, (2, 1e3), slow=False),
    pair("Gamma(3,1)|Gamma(0.3,2)", tfd.Gamma, (3, 1), tfd.Gamma, (0.3, 2)),
    pair("Exponential(1e3)|Exponential(1e-3)", tfd.Exponential, (1e3,), tfd.Exponential, (1e-3,)),
    pair("Exponential(1)|Gamma(0.5,2)", tfd.Exponential, (1,), tfd.Gamma, (0.5, 2)),
    pair("LogNormal(0,1e-3)|LogNormal(1,3)", tfd.LogNormal, (0, 1e-3), tfd.LogNormal, (1, 3)),
    pair("Uniform(0,1e-3)|Uniform(-1,1e3)", tfd.Uniform, (0, 1e-3), tfd.Uniform, (-1, 1e3)),
    pair("HalfNormal(1e-3)|HalfNormal(1e3)", tfd.HalfNormal, (1e-3,), tfd.HalfNormal, (1e3,)),
    pair("Gumbel(0,1)|Gumbel(1,1e3)", tfd.Gumbel, (0, 1), tfd.Gumbel, (1, 1e3)),
    pair("Weibull(0.3,1)|Weibull(2,2)", tfd.Weibull, (0.3, 1), tfd.Weibull, (2, 2)),
    pair("Weibull(2,1)|Gamma(0.7,2)", tfd.Weibull, (2, 1), tfd.Gamma, (0.7, 2)),
    pair("Chi(0.3)|Chi(2)", tfd.Chi, (0.3,), tfd.Chi, (2,)),
    pair("Chi2(0.3)|Gamma(2,0.5)", tfd.Chi2, (0.3,), tfd.Gamma, (2, 0.5)),
    pair("Pareto(0.3,1)|Pareto(2,0.5)", tfd.Pareto, (0.3, 1), tfd.Pareto, (2, 0.5)),
    pair("VonMises(0,0.3)|VonMises(1,5)", tfd.VonMises, (0, 0.3), tfd.VonMises, (1, 5)),
    pair("LogitNormal(0,3)|LogitNormal(1,0.5)", tfd.LogitNormal, (0, 3), tfd.LogitNormal, (1, 0.5)),
    pair("Moyal(0,0.3)|Moyal(1,2)", tfd.Moyal, (0, 0.3), tfd.Moyal, (1, 2)),
    pair("ExpGamma(0.3,1)|ExpGamma(2,2)", tfd.ExpGamma, (0.3, 1), tfd.ExpGamma, (2, 2)),
    pair("ExpInvGamma(2,1)|(0.7,2)", tfd.ExpInverseGamma, (2, 1), tfd.ExpInverseGamma, (0.7, 2)),
    pair(
        "ContinuousBernoulli(0.05)|(0.8)",
        lambda x: tfd.ContinuousBernoulli(probs=x),
        (0.05,),
        lambda x: tfd.ContinuousBernoulli(probs=x),
        (0.8,),
    ),
]
# float32 repeats the families whose float32 evaluation would otherwise lose digits.
FLOAT32_PAIRS = [
    pair("Beta(0.3,0.7)|Beta(0.7,0.3)", tfd.Beta, (0.3, 0.7), tfd.Beta, (0.7, 0.3), slow=False),
    pair("Beta(0.1,0.2)|Beta(0.2,0.1)", tfd.Beta, (0.1, 0.2), tfd.Beta, (0.2, 0.1)),
    pair("N(0,1e3)|N(1,1e-3)", tfd.Normal, (0, 1e3), tfd.Normal, (1, 1e-3), slow=False),
    pair("Cauchy(0,1e3)|Cauchy(1e-3,1e-3)", tfd.Cauchy, (0, 1e3), tfd.Cauchy, (1e-3, 1e-3)),
    pair("Gamma(0.5,1e-3)|Gamma(2,1e3)", tfd.Gamma, (0.5, 1e-3), tfd.Gamma, (2, 1e3)),
    pair("LogitNormal(0,3)|LogitNormal(1,0.5)", tfd.LogitNormal, (0, 3), tfd.LogitNormal, (1, 0.5)),
]


def assert_matches_tfp(make, dtype):
    p, q = make(as64 if dtype == "float64" else as32)
    p64, q64 = make(as64 if dtype == "float64" else exact32)
    expected = float(tfd.kl_divergence(p64, q64))
    value, error = kc.kl_quadrature(p, q)
    assert value == pytest.approx(expected, rel=1e-6), (expected, value, error)
    assert error <= 1e-9 * expected


@pytest.mark.parametrize("name, make", TFP_PAIRS)
def test_matches_tfp_closed_forms_float64(name, make):
    assert_matches_tfp(make, "float64")


@pytest.mark.parametrize("name, make", FLOAT32_PAIRS)
def test_matches_tfp_closed_forms_float32(name, make):
    # A float32 distribution is integrated with its (exact) parameters in float64.
    assert_matches_tfp(make, "float32")


def beta_entropy(a, b):
    return float(scipy.stats.beta(a, b).entropy())


def normal_laplace(mu, s, m, b):
    # KL(N(μ, s²) ‖ Laplace(m, b)) = -H(N) + log 2b + E|X - m| / b, with the folded
    # normal's mean E|X - m| = s √(2/π) exp(-δ²/2s²) + δ (1 - 2Φ(-δ/s)), δ = μ - m.
    d = mu - m
    mean_abs = s * math.sqrt(2 / math.pi) * math.exp(-(d**2) / (2 * s**2)) + d * (
        1 - 2 * scipy.stats.norm.cdf(-d / s)
    )
    return -scipy.stats.norm(0, s).entropy() + math.log(2 * b) + mean_abs / b


def student_normal(nu, s):
    # KL(t_ν ‖ N(0, s²)) = -H(t_ν) + ½ log 2πs² + E[x²]/2s², E[x²] = ν/(ν - 2).
    return (
        -scipy.stats.t(nu).entropy()
        + 0.5 * math.log(2 * math.pi * s**2)
        + nu / (nu - 2) / (2 * s**2)
    )


def beta_normal(a, b, m, s):
    beta = scipy.stats.beta(a, b)
    second = beta.var() + (beta.mean() - m) ** 2
    return -beta.entropy() + 0.5 * math.log(2 * math.pi * s**2) + second / (2 * s**2)


def tfp_beta(a, b, c, d):
    return float(tfd.kl_divergence(tfd.Beta(as64(a), as64(b)), tfd.Beta(as64(c), as64(d))))


def mixture_of(component, weights=(0.3, 0.7)):
    """A mixture of two copies of `component`, which is `component` itself."""
    return tfd.MixtureSameFamily(
        tfd.Categorical(probs=np.array(weights)),
        type(component)(**{k: np.stack([v, v]) for k, v in _floats(component).items()}),
    )


def _floats(dist):
    return {k: np.float64(v) for k, v in dist.parameters.items() if isinstance(v, np.floating)}


B, U, N = tfd.Beta, tfd.Uniform, tfd.Normal


def derived(name, p, q, exact, *, slow=True):
    return pytest.param(p, q, exact, id=name, marks=[pytest.mark.slow] if slow else [])


# Pairs without a TFP closed form, each against one derived here.
OTHER_PAIRS = [
    # KL(U(0,1) ‖ Beta(a, b)) = log B(a, b) - (a - 1) E_U[log x] - (b - 1) E_U[log(1 - x)],
    # with E_U[log x] = -1; KL(Beta ‖ U(0, 1)) = -H(Beta).
    derived(
        "U(0,1)|Beta(0.3,0.7)",
        U(as64(0), as64(1)),
        B(as64(0.3), as64(0.7)),
        -0.7 - 0.3 + scipy.special.betaln(0.3, 0.7),
        slow=False,
    ),
    derived(
        "Beta(2,0.3)|U(0,1)", B(as64(2), as64(0.3)), U(as64(0), as64(1)), -beta_entropy(2, 0.3)
    ),
    derived(
        "Beta(0.5,0.5)|U(-1,2)",
        B(as64(0.5), as64(0.5)),
        U(as64(-1), as64(2)),
        -beta_entropy(0.5, 0.5) + math.log(3),
    ),
    # Kumaraswamy(1, b) is Beta(1, b) and Kumaraswamy(a, 1) is Beta(a, 1).
    derived(
        "Kumaraswamy(1,0.3)|Beta(2,0.3)",
        tfd.Kumaraswamy(as64(1), as64(0.3)),
        B(as64(2), as64(0.3)),
        tfp_beta(1, 0.3, 2, 0.3),
        slow=False,
    ),
    derived(
        "Beta(0.5,0.7)|Kumaraswamy(0.5,1)",
        B(as64(0.5), as64(0.7)),
        tfd.Kumaraswamy(as64(0.5), as64(1)),
        tfp_beta(0.5, 0.7, 0.5, 1),
    ),
    derived(
        "Kumaraswamy(0.3,0.5)|U(0,1)",
        tfd.Kumaraswamy(as64(0.3), as64(0.5)),
        U(as64(0), as64(1)),
        -float(tfd.Kumaraswamy(as64(0.3), as64(0.5)).entropy()),
    ),
    # A mixture of two copies of a distribution is that distribution.
    derived(
        "Mixture(Beta(0.3,0.7))|Beta(2,3)",
        mixture_of(B(as64(0.3), as64(0.7))),
        B(as64(2), as64(3)),
        tfp_beta(0.3, 0.7, 2, 3),
        slow=False,
    ),
    derived(
        "Beta(2,3)|Mixture(Beta(2,0.3))",
        B(as64(2), as64(3)),
        mixture_of(B(as64(2), as64(0.3))),
        tfp_beta(2, 3, 2, 0.3),
    ),
    derived(
        "N(0,1)|Mixture(N(0,1e-3))",
        N(as64(0), as64(1)),
        mixture_of(N(as64(0), as64(1e-3))),
        float(kc.kl_normal(0, 1, 0, 1e-3)),
    ),
    derived(
        "N(1,2)|Laplace(0,0.5)",
        N(as64(1), as64(2)),
        tfd.Laplace(as64(0), as64(0.5)),
        normal_laplace(1, 2, 0, 0.5),
        slow=False,
    ),
    derived(
        "N(0,1e3)|Laplace(5,1e-3)",
        N(as64(0), as64(1e3)),
        tfd.Laplace(as64(5), as64(1e-3)),
        normal_laplace(0, 1e3, 5, 1e-3),
    ),
    derived(
        "StudentT(2.5)|N(0,2)",
        tfd.StudentT(as64(2.5), as64(0), as64(1)),
        N(as64(0), as64(2)),
        student_normal(2.5, 2),
        slow=False,
    ),
    derived(
        "Beta(0.3,0.4)|N(0.5,2)",
        B(as64(0.3), as64(0.4)),
        N(as64(0.5), as64(2)),
        beta_normal(0.3, 0.4, 0.5, 2),
    ),
]


@pytest.mark.parametrize("p, q, exact", OTHER_PAIRS)
def test_matches_derived_closed_forms(p, q, exact):
    value, error = kc.kl_quadrature(p, q)
    assert value == pytest.approx(exact, rel=1e-6), (exact, value, error)


INFINITE = [
    # p's tails are heavier than q's: p log(p/q) falls no faster than 1/x.
    ("Cauchy|Normal", tfd.Cauchy(as64(0), as64(1)), tfd.Normal(as64(0), as64(1))),
    ("Cauchy|Laplace", tfd.Cauchy(as64(0), as64(1)), tfd.Laplace(as64(0), as64(1))),
    ("StudentT(2)|Normal", tfd.StudentT(as64(2), as64(0), as64(1)), tfd.Normal(as64(0), as64(1))),
    ("Cauchy32|Normal32", tfd.Cauchy(0.0, 1.0), tfd.Normal(0.0, 1.0)),
    # q vanishes faster than exp(-1/x) at 0, where p does not vanish.
    ("Exponential|InverseGamma", tfd.Exponential(as64(1)), tfd.InverseGamma(as64(2), as64(1))),
    # q is 0 on part of p's support.
    ("Uniform(0,2)|Uniform(0,1)", tfd.Uniform(as64(0), as64(2)), tfd.Uniform(as64(0), as64(1))),
    ("Normal|Uniform", tfd.Normal(as64(0), as64(1)), tfd.Uniform(as64(-1), as64(1))),
    ("Normal|Gamma", tfd.Normal(as64(0), as64(1)), tfd.Gamma(as64(2), as64(1))),
]


@pytest.mark.parametrize("name, p, q", INFINITE, ids=[case[0] for case in INFINITE])
def test_infinite_divergences_are_inf(name, p, q):
    assert kc.kl_quadrature(p, q) == (math.inf, 0.0)


def test_finite_although_p_has_the_heavier_tail():
    # Cauchy against t_3: log(p/q) grows like 2 log x, and ∫ log x / x² converges.
    p, q = tfd.Cauchy(as64(0), as64(1)), tfd.StudentT(as64(3), as64(0), as64(1))
    value, _ = kc.kl_quadrature(p, q)
    estimate = kc.kl_monte_carlo(p, q, num_samples=400_000, seed=11)
    assert math.isfinite(value) and abs(estimate.value - value) < 4 * estimate.error


# ---------------------------------------------------------------- issue 12, by name
def test_regression_beta_density_vanishing_at_an_end_is_no_support_mismatch():
    # Was inf: q = 12 x (1 - x)² is 0 only at the end points, where p = 1.
    assert kc.kl_quadrature(B(as64(1), as64(1)), B(as64(2), as64(3))).value == pytest.approx(
        3 - math.log(12), rel=1e-12
    )
    assert kc.kl_quadrature(B(10.0, 1.0), B(1.0, 10.0)).value == pytest.approx(
        tfp_beta(10, 1, 1, 10), rel=1e-6
    )


@pytest.mark.parametrize("dtype", [as64, as32])
def test_regression_beta_density_infinite_at_the_ends_converges(dtype):
    # Was "did not converge: p's tails may be heavier than q's".
    for a, b, c, d in [(0.5, 0.5, 2, 2), (0.3, 0.7, 0.7, 0.3)]:
        value = kc.kl_quadrature(B(dtype(a), dtype(b)), B(dtype(c), dtype(d))).value
        assert value == pytest.approx(tfp_beta(a, b, c, d), rel=1e-6)


# ---------------------------------------------------------------- extreme parameters
# Shapes 0.01-0.05 put up to 1.6e-3 of the mass below 1e-280, and LogNormal(·, 1e3) a
# quarter of it beyond float64's range: integrated in log(distance to the end) with the
# densities in closed form there (`near_end`). Each was inf or raised before.
EXTREME_PAIRS = [
    pair("Gamma(0.01,1)|Gamma(0.5,1)", tfd.Gamma, (0.01, 1), tfd.Gamma, (0.5, 1), slow=False),
    pair("Gamma(0.02,1)|Gamma(2,1)", tfd.Gamma, (0.02, 1), tfd.Gamma, (2, 1)),
    pair("Gamma(0.05,1e3)|Gamma(2,1e-3)", tfd.Gamma, (0.05, 1e3), tfd.Gamma, (2, 1e-3)),
    pair("Gamma(3,2)|Gamma(0.01,1)", tfd.Gamma, (3, 2), tfd.Gamma, (0.01, 1)),
    pair("Beta(0.01,1)|Beta(2,2)", tfd.Beta, (0.01, 1), tfd.Beta, (2, 2), slow=False),
    pair("Beta(0.03,0.5)|Beta(2,2)", tfd.Beta, (0.03, 0.5), tfd.Beta, (2, 2)),
    pair("Beta(0.02,0.02)|Beta(2,2)", tfd.Beta, (0.02, 0.02), tfd.Beta, (2, 2)),
    pair("Beta(1,0.01)|Beta(0.05,3)", tfd.Beta, (1, 0.01), tfd.Beta, (0.05, 3)),
    pair("Exponential(1)|Gamma(0.01,1)", tfd.Exponential, (1,), tfd.Gamma, (0.01, 1)),
    # TFP registers KL(Gamma‖Chi2) through Chi2's Gamma base class.
    pair("Gamma(2,0.5)|Chi2(3)", tfd.Gamma, (2, 0.5), tfd.Chi2, (3,), slow=False),
    pair("Gamma(0.3,0.5)|Chi2(0.5)", tfd.Gamma, (0.3, 0.5), tfd.Chi2, (0.5,)),
    pair("Chi2(0.04)|Gamma(0.5,2)", tfd.Chi2, (0.04,), tfd.Gamma, (0.5, 2)),
    pair("LogNormal(0,1)|(0.5,1e3)", tfd.LogNormal, (0, 1), tfd.LogNormal, (0.5, 1e3), slow=False),
    pair("LogNormal(0,1e3)|(0.5,1)", tfd.LogNormal, (0, 1e3), tfd.LogNormal, (0.5, 1), slow=False),
    pair("LogNormal(0,100)|(0.5,1)", tfd.LogNormal, (0, 100), tfd.LogNormal, (0.5, 1)),
    pair("LogNormal(0,1)|(0.5,100)", tfd.LogNormal, (0, 1), tfd.LogNormal, (0.5, 100)),
]


@pytest.mark.parametrize("name, make", EXTREME_PAIRS)
def test_extreme_shapes_and_scales_match_tfp(name, make):
    assert_matches_tfp(make, "float64")


@pytest.mark.slow  # tiers: SciPy quad over a thousand log-density calls
@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")  # near x = 1
def test_extreme_pairs_without_tfp_closed_forms_match_scipy():
    # Kumaraswamy and InverseGamma have closed forms near their ends, TFP no KL for them.
    # SciPy's quad integrates p log(p/q) in s = log x (where p·e^s is smooth), and near 1
    # in x, with the log densities written in x here (SciPy's for InverseGamma); the mass
    # it cannot reach (below e^-700, above e^700, within 1e-16 of 1) is below 1e-8 of
    # each KL.
    def kumaraswamy(a, b):
        return lambda x: math.log(a * b) + (a - 1) * np.log(x) + (b - 1) * np.log1p(-(x**a))

    def reference(log_p, log_q, pieces, top=None):
        def in_log(s):
            x = math.exp(s)
            return math.exp(log_p(x) + s) * (log_p(x) - log_q(x))

        def in_x(x):
            return math.exp(log_p(x)) * (log_p(x) - log_q(x))

        quad = functools.partial(scipy.integrate.quad, limit=400, epsabs=0, epsrel=1e-11)
        total = sum(quad(in_log, a, b)[0] for a, b in pieces)
        return total + (quad(in_x, top, 1.0)[0] if top is not None else 0.0)

    low = [(-700, -60), (-60, -5), (-5, math.log(0.5))]
    high = [(-30, -3), (-3, 3), (3, 60), (60, 700)]
    cases = [
        (
            (tfd.Kumaraswamy(as64(0.05), as64(0.5)), tfd.Kumaraswamy(as64(2), as64(3))),
            reference(kumaraswamy(0.05, 0.5), kumaraswamy(2, 3), low, top=0.5),
        ),
        (
            (tfd.InverseGamma(as64(0.05), as64(1)), tfd.InverseGamma(as64(2), as64(1))),
            reference(
                lambda x: scipy.stats.invgamma.logpdf(x, 0.05),
                lambda x: scipy.stats.invgamma.logpdf(x, 2),
                high,
            ),
        ),
    ]
    for (p, q), expected in cases:
        assert kc.kl_quadrature(p, q).value == pytest.approx(expected, rel=1e-6)


def test_mass_beyond_float64_range_is_named():
    # Weibull's density near 0 has no closed form in log x: with shape 0.01, 8.5e-4 of
    # the mass lies below 1e-307, where TensorFlow's log_prob cannot be evaluated.
    weibull = tfd.Weibull(as64(0.01), as64(1))
    with pytest.raises(ValueError, match="mass outside the float64 range, near x = 0"):
        kc.expectation_quadrature(weibull, np.ones_like)


def test_regression_laplace_kink_in_float64():
    # Was "did not converge" in float64 (the float32 version worked): q's kink at 1.
    value = kc.kl_quadrature(tfd.Laplace(as64(0), as64(1)), tfd.Laplace(as64(1), as64(2))).value
    expected = float(
        tfd.kl_divergence(tfd.Laplace(as64(0), as64(1)), tfd.Laplace(as64(1), as64(2)))
    )
    assert value == pytest.approx(expected, rel=1e-12)


def test_regression_float32_tails_do_not_fake_a_mismatch():
    # float32 log_prob overflows to -inf far in the tails where p's density is 0.
    value, _ = kc.kl_quadrature(tfd.Normal(3.0, 1.0), kc.examples.tutorial_mixture(np.float32))
    assert value == pytest.approx(9.495432, abs=1e-5)  # ERRATA.md, float32 parameters exact


def test_tiny_divergences_keep_their_relative_accuracy():
    # The integrand q - p + p log(p/q) never cancels: KL = 1e-14 to 1e-9 relative.
    scale = 1 + 1e-7
    value = kc.kl_quadrature(tfd.Normal(as64(0), as64(1)), tfd.Normal(as64(0), as64(scale))).value
    assert value == pytest.approx(kc.kl_normal(0, 1, 0, scale), rel=1e-8)


def test_mixture_reference_values():
    # Source: ERRATA.md, exact values 9.495432 and 46.357932 for the tutorial's mixture.
    for scale, exact in ((1.0, 9.495432), (4.5, 46.357932)):
        value, error = kc.kl_quadrature(
            tfd.Normal(as64(3), as64(scale)), kc.examples.tutorial_mixture()
        )
        assert value == pytest.approx(exact, abs=5e-7)
        assert error < 1e-8


# ---------------------------------------------------------------- error messages
class StepDensity:
    """A density on (0, 1) with a jump at 0.3 that no quantile marks; only log_prob."""

    def log_prob(self, x):
        x = np.asarray(x)
        inside = np.where(x < 0.3, math.log(0.5), math.log(1 + 0.15 / 0.7))
        return np.where((x > 0) & (x < 1), inside, -np.inf)


def test_an_unmarked_jump_is_named_and_points_fix_it():
    p = tfd.Uniform(as64(0), as64(1))
    with pytest.raises(
        ValueError, match=r"did not reach its tolerance on the piece \(0\.25, 0\.5\)"
    ):
        kc.kl_quadrature(p, StepDensity())
    value, _ = kc.kl_quadrature(p, StepDensity(), points=[0.3])
    exact = 0.3 * math.log(2) + 0.7 * math.log(1 / (1 + 0.15 / 0.7))
    assert value == pytest.approx(exact, rel=1e-12)


def test_a_nan_log_density_is_named():
    class NaNBeyond2:
        def log_prob(self, x):
            x = np.asarray(x)
            return np.where(x > 2, np.nan, -0.5 * x**2 - 0.5 * math.log(2 * math.pi))

    with pytest.raises(ValueError, match=r"q\.log_prob is NaN at x = .*inside its support"):
        kc.kl_quadrature(tfd.Normal(as64(0), as64(1)), NaNBeyond2())


def test_bad_input():
    normal = tfd.Normal(as64(0), as64(1))
    with pytest.raises(TypeError, match="`q` must be a distribution with a `log_prob`"):
        kc.kl_quadrature(normal, 3.0)
    with pytest.raises(ValueError, match="`lower` must be below `upper`"):
        kc.kl_quadrature(normal, normal, lower=1, upper=0)
    with pytest.raises(ValueError, match="must overlap the support of `p`"):
        kc.kl_quadrature(tfd.Exponential(as64(1)), normal, lower=-3, upper=-1)
    with pytest.raises(ValueError, match=r"`p` must be a single univariate distribution"):
        kc.kl_quadrature(tfd.Normal(np.zeros(2), 1.0), normal)
    with pytest.raises(ValueError, match="`points` must be numbers"):
        kc.kl_quadrature(normal, normal, points=[np.nan])


def test_narrower_range_for_a_p_without_mass_outside_it():
    value, _ = kc.kl_quadrature(
        tfd.Uniform(as64(0), as64(1)), tfd.Uniform(as64(0), as64(2)), lower=0, upper=1
    )
    assert value == pytest.approx(math.log(2), abs=1e-12)


# ---------------------------------------------------------------- expectation_quadrature
def test_expectations_against_moments():
    p = tfd.Normal(as64(1), as64(2))
    assert kc.expectation_quadrature(p, lambda x: x).value == pytest.approx(1.0, abs=1e-12)
    assert kc.expectation_quadrature(p, lambda x: x**2).value == pytest.approx(5.0, abs=1e-11)
    t = tfd.StudentT(as64(5), as64(0), as64(1))
    assert kc.expectation_quadrature(t, lambda x: x**2).value == pytest.approx(5 / 3, abs=1e-9)
    # Most of Beta(0.3, 0.2)'s mass sits within 1e-16 of 1, where x rounds to 1.
    beta = B(as64(0.3), as64(0.2))
    assert kc.expectation_quadrature(beta, lambda x: x).value == pytest.approx(0.6, rel=1e-12)


def test_expectation_bad_input():
    normal = tfd.Normal(as64(0), as64(1))
    with pytest.raises(TypeError, match="`fn` must be callable"):
        kc.expectation_quadrature(normal, 3.0)
    with pytest.raises(ValueError, match=r"E_p\[fn\] is infinite or undefined.*x → [-+]inf"):
        kc.expectation_quadrature(tfd.Cauchy(as64(0), as64(1)), lambda x: x**2)


# ---------------------------------------------------------------- estimator_moments
def normal_log_ratio_coefficients(mu, sigma):
    """log r = log q - log p = A + B x + C x² for p = N(0, 1), q = N(μ, σ²)."""
    return -math.log(sigma) - mu**2 / (2 * sigma**2), mu / sigma**2, (1 - 1 / sigma**2) / 2


def test_estimator_moments_match_closed_forms():
    # p = N(0, 1), q = N(0.3, 1.2²), so log r = A + Bx + Cx² with x standard normal:
    # E[log r] = A + C, E[(log r)²] = A² + B² + 3C² + 2AC, Var(log r) = B² + 2C².
    mu, sigma = 0.3, 1.2
    p, q = tfd.Normal(as64(0), as64(1)), tfd.Normal(as64(mu), as64(sigma))
    a, b, c = normal_log_ratio_coefficients(mu, sigma)
    kl_pq, kl_qp = kc.kl_normal(0, 1, mu, sigma), kc.kl_normal(mu, sigma, 0, 1)
    log_r_mean, log_r_square = a + c, a**2 + b**2 + 3 * c**2 + 2 * a * c
    assert log_r_mean == pytest.approx(-kl_pq, rel=1e-12)  # the coefficients are right

    mean, sd = kc.estimator_moments(p, q, "k1")
    assert mean == pytest.approx(kl_pq, rel=1e-10)
    assert sd == pytest.approx(math.sqrt(b**2 + 2 * c**2), rel=1e-10)

    mean, _ = kc.estimator_moments(p, q, "k2")
    assert mean == pytest.approx(log_r_square / 2, rel=1e-10)

    # k3 = r - 1 - log r, with E[r] = 1, E[r log r] = KL(q‖p) and
    # E[r²] = ∫ q²/p = exp(μ²/(2 - σ²)) / (σ √(2 - σ²)) for σ² < 2:
    # E[k3²] = E[r²] - 1 + E[(log r)²] - 2 KL(q‖p) + 2 E[log r].
    r_square = math.exp(mu**2 / (2 - sigma**2)) / (sigma * math.sqrt(2 - sigma**2))
    k3_square = r_square - 1 + log_r_square - 2 * kl_qp + 2 * log_r_mean
    mean, sd = kc.estimator_moments(p, q, "k3")
    assert mean == pytest.approx(kl_pq, rel=1e-10)
    assert sd == pytest.approx(math.sqrt(k3_square - kl_pq**2), rel=1e-8)


def test_estimator_moments_agree_with_sampling():
    p, q = tfd.Normal(as64(0), as64(1)), tfd.Normal(as64(1), as64(1))
    sampled = kc.kl_monte_carlo(p, q, num_samples=200_000, seed=3, estimator="k3")
    mean, sd = kc.estimator_moments(p, q, "k3")
    assert abs(sampled.value - mean) < 4 * sampled.error
    assert sampled.error * math.sqrt(200_000) == pytest.approx(sd, rel=0.05)


def test_estimator_moments_infinite():
    # k3's variance needs ∫ q²/p < ∞, which fails for σ_q² ≥ 2σ_p².
    p = tfd.Normal(as64(0), as64(1))
    mean, sd = kc.estimator_moments(p, tfd.Normal(as64(0), as64(2)), "k3")
    assert mean == pytest.approx(kc.kl_normal(0, 1, 0, 2), rel=1e-10) and sd == math.inf
    assert kc.estimator_moments(tfd.Cauchy(as64(0), as64(1)), p, "k1") == (math.inf, math.inf)
    with pytest.raises(ValueError, match="`estimator` must be one of"):
        kc.estimator_moments(p, p, "k9")
