"""klcourse.gradients: both estimators are unbiased; reparameterisation has less variance."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from klcourse import gradients

tfd = tfp.distributions
f64 = np.float64


def exact_gradient(loc, scale, p):
    """d KL(q‖p) / d(loc, log scale) by automatic differentiation of TFP's closed form."""
    params = tf.Variable([loc, np.log(scale)], dtype=tf.float64)
    with tf.GradientTape() as tape:
        kl = tfd.kl_divergence(tfd.Normal(params[0], tf.exp(params[1])), p)
    return tape.gradient(kl, params).numpy()


@pytest.mark.parametrize("estimator", gradients.ESTIMATORS)
def test_unbiased_within_standard_error(estimator):
    p = tfd.Normal(f64(1.0), f64(2.0))
    samples = gradients.kl_gradient_samples(
        0.2, 0.7, p, num_samples=200_000, seed=0, estimator=estimator
    )
    mean = samples.mean(axis=0)
    standard_error = samples.std(axis=0, ddof=1) / np.sqrt(len(samples))
    expected = exact_gradient(0.2, 0.7, p)
    # 4 standard errors per component: a false alarm has probability about 1e-4.
    assert np.all(np.abs(mean - expected) < 4 * standard_error), (mean, expected, standard_error)


def test_reparameterization_has_lower_variance():
    p = tfd.Normal(f64(1.0), f64(2.0))
    score = gradients.kl_gradient_samples(
        0.2, 0.7, p, num_samples=50_000, seed=1, estimator="score_function"
    )
    reparam = gradients.kl_gradient_samples(0.2, 0.7, p, num_samples=50_000, seed=1)
    assert np.all(reparam.var(axis=0) < 0.2 * score.var(axis=0))


def test_behaviour_at_the_optimum():
    p = tfd.Normal(f64(1.0), f64(2.0))
    # Score function: log q - log p is 0 everywhere when q = p, so every draw gives 0.
    score = gradients.kl_gradient_samples(
        1.0, 2.0, p, num_samples=1000, seed=2, estimator="score_function"
    )
    np.testing.assert_array_equal(score, 0.0)
    # Reparameterisation: each draw is noise, zero only on average (the path-derivative
    # variant of Roeder et al., 2017, would be zero per draw).
    reparam = gradients.kl_gradient_samples(1.0, 2.0, p, num_samples=100_000, seed=2)
    standard_error = reparam.std(axis=0, ddof=1) / np.sqrt(len(reparam))
    assert np.all(np.abs(reparam.mean(axis=0)) < 4 * standard_error)
    assert np.all(reparam.std(axis=0) > 0.1)


def test_bad_input():
    p = tfd.Normal(f64(0.0), f64(1.0))
    with pytest.raises(ValueError, match="`scale` must be positive"):
        gradients.kl_gradient_samples(0.0, 0.0, p, num_samples=10, seed=0)
    with pytest.raises(ValueError, match="`estimator` must be one of"):
        gradients.kl_gradient_samples(0.0, 1.0, p, num_samples=10, seed=0, estimator="finite")
