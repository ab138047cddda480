"""Chapter 4 (Monte Carlo KL and reparameterisation): checkers for its code exercises."""

import math

import numpy as np

from klcourse.check import register
from klcourse.examples import tutorial_mixture
from klcourse.hints import close


@register("ch4-samples-needed", chapter=4, topic="Monte Carlo standard error", points=1)
def _samples_needed(answer):
    import tensorflow_probability as tfp

    from klcourse.divergence import estimator_moments

    q1 = tfp.distributions.Normal(np.float64(3.0), np.float64(1.0))
    _, spread = estimator_moments(q1, tutorial_mixture(), "k1")  # sd of one k1 draw
    expected = math.ceil((spread / 0.01) ** 2)
    if np.ndim(answer) != 0:
        return "give a single number of samples."
    if abs(answer - spread / 0.01) < 0.01 * spread / 0.01:
        return (
            "the standard error falls like 1/√n, so n grows with the square of (spread / target)."
        )
    return close(answer, expected, rtol=0.01, what="your number of samples")


@register("ch4-laplace-exact", chapter=4, topic="quadrature vs Monte Carlo", points=1)
def _laplace_exact(answer):
    import tensorflow_probability as tfp

    from klcourse.divergence import kl_quadrature

    tfd = tfp.distributions
    expected = kl_quadrature(
        tfd.Normal(np.float64(0), np.float64(1)), tfd.Laplace(np.float64(0), np.float64(1))
    ).value
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
