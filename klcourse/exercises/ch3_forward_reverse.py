"""Chapter 3 (forward vs reverse KL): checkers for its code exercises."""

import numpy as np

from klcourse.check import register
from klcourse.divergence import kl_mvn
from klcourse.examples import bimodal_target
from klcourse.hints import close
from klcourse.vi import mean_field_optimum

SIGMA_EXERCISE = np.array([[2.0, 0.9], [0.9, 1.0]])


@register(
    "ch3-reverse-optimum", chapter=3, topic="reverse-KL optimum of a diagonal Gaussian", points=1
)
def _reverse_optimum(answer):
    expected = np.diag(mean_field_optimum(SIGMA_EXERCISE))
    if np.shape(answer) == (2,) and close(answer, np.diag(SIGMA_EXERCISE), rtol=1e-4) is None:
        return "those are the forward-KL variances, diag(Σ); reverse KL gives smaller ones."
    if np.shape(answer) == (2,) and close(answer, np.sqrt(expected), rtol=1e-4) is None:
        return "those look like standard deviations; the exercise asks for variances."
    return close(answer, expected, rtol=1e-4, what="your variances")


SIGMA_3D = np.array([[1.0, 0.6, 0.3], [0.6, 2.0, 0.5], [0.3, 0.5, 1.5]])


@register("ch3-optimal-values-3d", chapter=3, topic="optimal KL values in 3-D", points=1)
def _optimal_values(answer):
    reverse = kl_mvn(np.zeros(3), mean_field_optimum(SIGMA_3D), np.zeros(3), SIGMA_3D)
    forward = kl_mvn(np.zeros(3), SIGMA_3D, np.zeros(3), np.diag(np.diag(SIGMA_3D)))
    if np.shape(answer) == (2,) and close(answer[::-1], [reverse, forward], rtol=1e-4) is None:
        return "the two values are swapped: reverse KL first, then forward."
    return close(answer, [reverse, forward], rtol=1e-4, what="your pair (reverse, forward)")


@register("ch3-other-mode", chapter=3, topic="reverse KL picks a mode", points=2)
def _other_mode(answer):
    import tensorflow as tf
    import tensorflow_probability as tfp

    from klcourse.fitting import fit

    if np.ndim(answer) != 0 or not np.isfinite(answer):
        return "give one starting location, a finite number."
    q = tfp.distributions.Normal(
        tf.Variable(float(answer)), tfp.util.TransformedVariable(1.0, tfp.bijectors.Exp())
    )
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
