"""Checkers for the chapters' code exercises, registered with `klcourse.check`.

Each checker recomputes the reference from the exercise's own data with the course's
functions, so no expected value is written here, and answers with `check.close`, whose
hints never contain the expected value.
"""

import math

import numpy as np
import scipy.spatial.distance
import scipy.stats

from klcourse.check import close, register
from klcourse.divergence import kl_discrete, kl_mvn, kl_normal

# ---------------------------------------------------------------- chapter 1
LOADED_DIE = np.array([0.1, 0.1, 0.1, 0.1, 0.1, 0.5])
FAIR_DIE = np.full(6, 1 / 6)


@register("ch1-die-bits", chapter=1, topic="discrete KL in bits", points=1)
def _die_bits(answer):
    return close(answer, kl_discrete(LOADED_DIE, FAIR_DIE, base=2), rtol=1e-4)


MY_KL_CASES = [
    ([0.7, 0.3], [0.5, 0.5]),
    ([0.2, 0.3, 0.5], [0.1, 0.6, 0.3]),
    ([1.0, 0.0], [0.5, 0.5]),  # 0·log 0 = 0
    ([0.5, 0.5], [1.0, 0.0]),  # q = 0 where p > 0: infinite
]


@register("ch1-my-kl", chapter=1, topic="implementing discrete KL", points=2)
def _my_kl(answer):
    if not callable(answer):
        return "pass your function itself, `my_kl`, not a number."
    for number, (p, q) in enumerate(MY_KL_CASES, start=1):
        value = answer(np.array(p), np.array(q))
        if value is None or value is Ellipsis:
            return "not answered yet: `my_kl` returns nothing; write its body and run the cell again."
        expected = kl_discrete(p, q)
        if math.isinf(expected):
            if not (np.ndim(value) == 0 and np.isinf(value) and value > 0):
                return f"test case {number} has q = 0 where p > 0; KL should be infinite there."
            continue
        hint = close(value, expected, rtol=1e-9, atol=1e-12, what=f"my_kl on test case {number}")
        if hint:
            if np.isnan(value):
                return f"test case {number} gives NaN: 0·log(0/q) must count as 0 (try scipy.special.rel_entr)."
            return hint
    return None


@register("ch1-normal-closed-form", chapter=1, topic="Gaussian closed form", points=1)
def _normal_closed_form(answer):
    return close(answer, kl_normal(2.0, 1.0, 0.0, 3.0), rtol=1e-6)


@register("ch1-grid-dx", chapter=1, topic="KL on a grid", points=1)
def _grid_dx(answer):
    x = np.arange(-8, 8, 0.01)
    p, q = scipy.stats.norm.pdf(x, 0, 1), scipy.stats.norm.pdf(x, 1, 2)
    grid = np.sum(scipy.special.rel_entr(p, q))
    if np.ndim(answer) == 0 and np.isfinite(answer) and abs(answer - grid) < 1e-6 * grid:
        return "you summed density values: multiply by the grid spacing dx to approximate the integral."
    return close(answer, grid * 0.01, rtol=1e-6)


# ---------------------------------------------------------------- chapter 2
@register("ch2-both-directions", chapter=2, topic="asymmetry of KL", points=1)
def _both_directions(answer):
    expected = [kl_normal(0.0, 1.0, 1.0, 2.0), kl_normal(1.0, 2.0, 0.0, 1.0)]
    if np.shape(answer) == (2,) and close(answer[::-1], expected, rtol=1e-6) is None:
        return "the two values are swapped: the first is KL(p‖q), with p = N(0, 1) first."
    return close(answer, expected, rtol=1e-6, what="your pair (KL(p‖q), KL(q‖p))")


JEFFREYS_P = np.array([0.2, 0.3, 0.5])
JEFFREYS_Q = np.array([0.4, 0.4, 0.2])


@register("ch2-jeffreys", chapter=2, topic="Jeffreys divergence", points=1)
def _jeffreys(answer):
    one_way = kl_discrete(JEFFREYS_P, JEFFREYS_Q)
    if close(answer, one_way, rtol=1e-6) is None:
        return "that is one direction only; Jeffreys adds both directions."
    return close(answer, one_way + kl_discrete(JEFFREYS_Q, JEFFREYS_P), rtol=1e-6)


@register("ch2-js-disjoint", chapter=2, topic="Jensen-Shannon divergence", points=1)
def _js_disjoint(answer):
    p, q = np.array([0.5, 0.5, 0.0, 0.0]), np.array([0.0, 0.0, 0.25, 0.75])
    distance = scipy.spatial.distance.jensenshannon(p, q, base=2)
    if close(answer, distance, rtol=1e-6) is None and distance != distance**2:
        return "SciPy's `jensenshannon` returns the square root of the divergence: square it."
    return close(answer, distance**2, rtol=1e-6)


COV_FULL = np.array([[2.0, 1.2], [1.2, 1.0]])
COV_DIAG = np.diag([1.0, 0.5])


@register("ch2-mvn-direction", chapter=2, topic="multivariate Gaussian KL", points=1)
def _mvn_direction(answer):
    expected = kl_mvn([0.0, 0.0], COV_DIAG, [0.0, 0.0], COV_FULL)
    if close(answer, kl_mvn([0.0, 0.0], COV_FULL, [0.0, 0.0], COV_DIAG), rtol=1e-6) is None:
        return "that is KL(full‖diagonal); the exercise asks for KL(diagonal‖full)."
    return close(answer, expected, rtol=1e-6)


# ---------------------------------------------------------------- chapter 3
def _mean_field_optimum(cov):
    """Chapter 3's reverse-KL optimum among diagonal Gaussians: variances 1/diag(Σ⁻¹)."""
    return np.diag(1 / np.diag(np.linalg.inv(cov)))


SIGMA_EXERCISE = np.array([[2.0, 0.9], [0.9, 1.0]])


@register("ch3-reverse-optimum", chapter=3, topic="reverse-KL optimum of a diagonal Gaussian", points=1)
def _reverse_optimum(answer):
    expected = np.diag(_mean_field_optimum(SIGMA_EXERCISE))
    if np.shape(answer) == (2,) and close(answer, np.diag(SIGMA_EXERCISE), rtol=1e-4) is None:
        return "those are the forward-KL variances, diag(Σ); reverse KL gives smaller ones."
    if np.shape(answer) == (2,) and close(answer, np.sqrt(expected), rtol=1e-4) is None:
        return "those look like standard deviations; the exercise asks for variances."
    return close(answer, expected, rtol=1e-4, what="your variances")


SIGMA_3D = np.array([[1.0, 0.6, 0.3], [0.6, 2.0, 0.5], [0.3, 0.5, 1.5]])


@register("ch3-optimal-values-3d", chapter=3, topic="optimal KL values in 3-D", points=1)
def _optimal_values(answer):
    reverse = kl_mvn(np.zeros(3), _mean_field_optimum(SIGMA_3D), np.zeros(3), SIGMA_3D)
    forward = kl_mvn(np.zeros(3), SIGMA_3D, np.zeros(3), np.diag(np.diag(SIGMA_3D)))
    if np.shape(answer) == (2,) and close(answer[::-1], [reverse, forward], rtol=1e-4) is None:
        return "the two values are swapped: reverse KL first, then forward."
    return close(answer, [reverse, forward], rtol=1e-4, what="your pair (reverse, forward)")


def bimodal_target():
    """The chapter-3 target: 0.6 N(-3, 0.6²) + 0.4 N(3, 0.6²)."""
    import tensorflow_probability as tfp

    tfd = tfp.distributions
    return tfd.MixtureSameFamily(tfd.Categorical(probs=[0.6, 0.4]), tfd.Normal([-3.0, 3.0], [0.6, 0.6]))


@register("ch3-other-mode", chapter=3, topic="reverse KL picks a mode", points=2)
def _other_mode(answer):
    import tensorflow as tf
    import tensorflow_probability as tfp

    from klcourse.fit import fit

    if np.ndim(answer) != 0 or not np.isfinite(answer):
        return "give one starting location, a finite number."
    q = tfp.distributions.Normal(tf.Variable(float(answer)), tfp.util.TransformedVariable(1.0, tfp.bijectors.Exp()))
    trace = fit(q, bimodal_target(), num_steps=400, learning_rate=0.05, num_samples=500, seed=0)
    final = trace.params["loc"][-1]
    if abs(final + 3.0) < 0.3:
        return "from that start the fit ends on the heavier (left) mode; try elsewhere."
    if abs(final - 3.0) > 0.3:
        return "from that start the fit has not settled on a mode within 400 steps; start further from the middle."
    return None


MLE_DATA = np.array([[0.0, 1.0], [2.0, 0.0], [1.0, 3.0], [3.0, 2.0], [-1.0, 1.5]])


@register("ch3-mle-covariance", chapter=3, topic="maximum likelihood is forward KL", points=1)
def _mle_covariance(answer):
    expected = np.cov(MLE_DATA.T, bias=True)
    if np.shape(answer) == (2, 2) and close(answer, np.cov(MLE_DATA.T), rtol=1e-6) is None:
        return "that divides by N - 1; the maximum-likelihood estimate divides by N (np.cov(..., bias=True))."
    return close(answer, expected, rtol=1e-6, what="your covariance")


# ---------------------------------------------------------------- chapter 4
def tutorial_mixture():
    """The chapter-4 target: ½ N(-0.2, 0.1²) + ½ N(1, 0.5²), in float64."""
    import tensorflow_probability as tfp

    tfd = tfp.distributions
    return tfd.MixtureSameFamily(tfd.Categorical(probs=np.array([0.5, 0.5])),
                                 tfd.Normal(np.array([-0.2, 1.0]), np.array([0.1, 0.5])))


@register("ch4-samples-needed", chapter=4, topic="Monte Carlo standard error", points=1)
def _samples_needed(answer):
    import tensorflow_probability as tfp

    from klcourse.divergence import expectation_quadrature

    q1 = tfp.distributions.Normal(np.float64(3.0), np.float64(1.0))
    mixture = tutorial_mixture()

    def k1(x):
        return np.asarray(q1.log_prob(x) - mixture.log_prob(x))

    mean = expectation_quadrature(q1, k1).value
    spread = math.sqrt(expectation_quadrature(q1, lambda x: k1(x) ** 2).value - mean**2)
    expected = math.ceil((spread / 0.01) ** 2)
    if np.ndim(answer) != 0:
        return "give a single number of samples."
    if abs(answer - spread / 0.01) < 0.01 * spread / 0.01:
        return "the standard error falls like 1/√n, so n grows with the square of (spread / target)."
    return close(answer, expected, rtol=0.01, what="your number of samples")


@register("ch4-laplace-exact", chapter=4, topic="quadrature vs Monte Carlo", points=1)
def _laplace_exact(answer):
    import tensorflow_probability as tfp

    from klcourse.divergence import kl_quadrature

    tfd = tfp.distributions
    expected = kl_quadrature(tfd.Normal(np.float64(0), np.float64(1)), tfd.Laplace(np.float64(0), np.float64(1))).value
    if np.ndim(answer) == 0 and np.isfinite(answer) and 1e-6 < abs(answer - expected) < 0.02:
        return "close, but not exact: that looks like a Monte Carlo estimate; use quadrature or the closed form."
    return close(answer, expected, rtol=1e-6)


REPARAM_NOISE_SEED = 0


@register("ch4-reparam-gradient", chapter=4, topic="the reparameterisation trick", points=1)
def _reparam_gradient(answer):
    noise = np.random.default_rng(REPARAM_NOISE_SEED).standard_normal(10_000)
    mu, sigma = 1.5, 0.5
    expected = np.mean(2 * (mu + sigma * noise))
    if np.ndim(answer) == 0 and abs(answer - 2 * mu) < 1e-12:
        return "that is the exact gradient 2μ; the exercise asks for the estimate from the given draws."
    return close(answer, expected, rtol=1e-9)


# ---------------------------------------------------------------- chapter 5
EX5_X = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
EX5_Y = np.array([-1.2, -0.1, 0.4, 1.6, 2.3])
EX5_DESIGN = np.stack([np.ones_like(EX5_X), EX5_X], axis=1)
EX5_Q_MEAN = np.array([0.5, 0.8])
EX5_Q_COV = np.diag([0.05, 0.02])


def _ex5_posterior():
    from klcourse.vi import linear_gaussian_posterior

    return linear_gaussian_posterior(EX5_DESIGN, EX5_Y, noise_scale=0.5, prior_scale=1.0)


@register("ch5-posterior-mean", chapter=5, topic="exact Bayesian linear regression", points=1)
def _posterior_mean(answer):
    return close(answer, _ex5_posterior().mean, rtol=1e-6, what="your posterior mean")


@register("ch5-elbo-gap", chapter=5, topic="the ELBO gap is a KL", points=1)
def _elbo_gap(answer):
    from klcourse.vi import linear_gaussian_elbo

    posterior = _ex5_posterior()
    elbo = linear_gaussian_elbo(EX5_DESIGN, EX5_Y, EX5_Q_MEAN, EX5_Q_COV, noise_scale=0.5, prior_scale=1.0)
    if np.ndim(answer) == 0 and np.isfinite(answer) and abs(answer - elbo) < 1e-6 * abs(elbo):
        return "that is the ELBO itself; the exercise asks for log p(y) minus the ELBO."
    return close(answer, posterior.log_evidence - elbo, rtol=1e-6, what="your gap")


def mean_field_error(noise_scale, x=np.linspace(0.0, 10.0, 21)):
    """KL of the best mean-field Gaussian to the posterior, for inputs `x` (y does not matter)."""
    from klcourse.vi import linear_gaussian_posterior

    design = np.stack([np.ones_like(x), x], axis=1)
    cov = linear_gaussian_posterior(design, np.zeros_like(x), noise_scale=noise_scale).cov
    return kl_mvn(np.zeros(2), _mean_field_optimum(cov), np.zeros(2), cov)


@register("ch5-noise-mean-field", chapter=5, topic="when mean-field fails", points=2)
def _noise_mean_field(answer):
    expected = [mean_field_error(1.0), mean_field_error(3.0)]
    if np.shape(answer) == (2,) and close(answer[::-1], expected, rtol=1e-6) is None:
        return "the two values are swapped: noise 1 first, then noise 3."
    return close(answer, expected, rtol=1e-6, what="your pair of KL values")
