"""Chapter 5 (the ELBO and variational inference): checkers for its code exercises."""

import numpy as np

from klcourse.check import register
from klcourse.divergence import kl_mvn
from klcourse.hints import close
from klcourse.vi import linear_gaussian_elbo, linear_gaussian_posterior, mean_field_optimum

EX5_X = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
EX5_Y = np.array([-1.2, -0.1, 0.4, 1.6, 2.3])
EX5_DESIGN = np.stack([np.ones_like(EX5_X), EX5_X], axis=1)
EX5_Q_MEAN = np.array([0.5, 0.8])
EX5_Q_COV = np.diag([0.05, 0.02])


def _ex5_posterior():
    return linear_gaussian_posterior(EX5_DESIGN, EX5_Y, noise_scale=0.5, prior_scale=1.0)


@register("ch5-posterior-mean", chapter=5, topic="exact Bayesian linear regression", points=1)
def _posterior_mean(answer):
    return close(answer, _ex5_posterior().mean, rtol=1e-6, what="your posterior mean")


@register("ch5-elbo-gap", chapter=5, topic="the ELBO gap is a KL", points=1)
def _elbo_gap(answer):
    posterior = _ex5_posterior()
    elbo = linear_gaussian_elbo(
        EX5_DESIGN, EX5_Y, EX5_Q_MEAN, EX5_Q_COV, noise_scale=0.5, prior_scale=1.0
    )
    if np.ndim(answer) == 0 and np.isfinite(answer) and abs(answer - elbo) < 1e-6 * abs(elbo):
        return "that is the ELBO itself; the exercise asks for log p(y) minus the ELBO."
    return close(answer, posterior.log_evidence - elbo, rtol=1e-6, what="your gap")


def mean_field_error(noise_scale, x=np.linspace(0.0, 10.0, 21)):
    """KL of the best mean-field Gaussian to the posterior, for inputs `x` (y does not matter)."""
    design = np.stack([np.ones_like(x), x], axis=1)
    cov = linear_gaussian_posterior(design, np.zeros_like(x), noise_scale=noise_scale).cov
    return kl_mvn(np.zeros(2), mean_field_optimum(cov), np.zeros(2), cov)


@register("ch5-noise-mean-field", chapter=5, topic="when mean-field fails", points=2)
def _noise_mean_field(answer):
    expected = [mean_field_error(1.0), mean_field_error(3.0)]
    if np.shape(answer) == (2,) and close(answer[::-1], expected, rtol=1e-6) is None:
        return "the two values are swapped: noise 1 first, then noise 3."
    return close(answer, expected, rtol=1e-6, what="your pair of KL values")
