"""klcourse.gradients: unbiased estimators, exact moments, and the KL-penalty pitfall."""

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


@pytest.mark.parametrize("estimator", gradients.GRADIENT_ESTIMATORS)
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


# ---------------------------------------------------------------- exact references
@pytest.mark.parametrize("estimator", gradients.GRADIENT_ESTIMATORS)
def test_moments_match_sampling(estimator):
    p = tfd.Normal(f64(1.0), f64(2.0))
    mean, sd = gradients.kl_gradient_moments(0.2, 0.7, p, estimator=estimator)
    np.testing.assert_allclose(mean, exact_gradient(0.2, 0.7, p), atol=1e-9)
    samples = gradients.kl_gradient_samples(
        0.2, 0.7, p, num_samples=200_000, seed=4, estimator=estimator
    )
    # the sample sd of 200 000 draws is within a few per cent of the exact one
    np.testing.assert_allclose(samples.std(axis=0), sd, rtol=0.03)


def test_quadrature_gradient_against_autodiff_of_closed_form():
    p = tfd.Normal(f64(1.0), f64(2.0))
    np.testing.assert_allclose(
        gradients.kl_gradient_quadrature(0.2, 0.7, p), exact_gradient(0.2, 0.7, p), atol=1e-7
    )


def test_quadrature_gradient_on_the_mixture_matches_the_sampled_mean():
    from klcourse.examples import tutorial_mixture

    mixture = tutorial_mixture()
    exact = gradients.kl_gradient_quadrature(0.2, 0.7, mixture)
    mean, _ = gradients.kl_gradient_moments(0.2, 0.7, mixture, estimator="score_function")
    np.testing.assert_allclose(mean, exact, atol=1e-6)


# ---------------------------------------------------------------- categorical policies
LOGITS = np.array([0.3, -0.4, 1.1, 0.0])
REF = np.array([-0.2, 0.5, 0.1, 0.4])


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def test_exact_gradients_match_their_formulas():
    pi, ref = softmax(LOGITS), softmax(REF)
    g = gradients.categorical_kl_gradients(LOGITS, REF)
    kl = np.sum(pi * np.log(pi / ref))
    np.testing.assert_allclose(g.reverse, pi * (np.log(pi / ref) - kl), atol=1e-12)
    np.testing.assert_allclose(g.forward, pi - ref, atol=1e-12)


def test_the_pitfall_in_exact_expectation():
    g = gradients.categorical_kl_gradients(LOGITS, REF)

    def expected(name):
        return gradients.expected_kl_penalty_gradient(LOGITS, REF, estimator=name)

    np.testing.assert_allclose(expected("k1"), 0.0, atol=1e-12)  # no gradient at all
    np.testing.assert_allclose(expected("k3"), g.forward, atol=1e-12)  # the wrong KL
    assert np.abs(g.forward - g.reverse).max() > 0.05  # and it is really different
    for name in ("k2", "k1_score", "k3_score"):  # the right one
        np.testing.assert_allclose(expected(name), g.reverse, atol=1e-12)


def test_k2_gradient_is_the_score_function_estimator_per_draw():
    actions = np.array([0, 1, 2, 3, 2, 2])
    np.testing.assert_allclose(
        gradients.kl_penalty_gradients(LOGITS, REF, actions, estimator="k2"),
        gradients.kl_penalty_gradients(LOGITS, REF, actions, estimator="k1_score"),
        atol=1e-12,
    )


def test_sampled_penalty_gradients_average_to_their_expectation():
    actions = tfd.Categorical(logits=LOGITS).sample(100_000, seed=(1, 2)).numpy()
    for name in gradients.KL_PENALTY_ESTIMATORS:
        g = gradients.kl_penalty_gradients(LOGITS, REF, actions, estimator=name)
        se = g.std(axis=0, ddof=1) / np.sqrt(len(g))
        expected = gradients.expected_kl_penalty_gradient(LOGITS, REF, estimator=name)
        assert np.all(np.abs(g.mean(axis=0) - expected) < 4 * se + 1e-12), name


def test_bad_penalty_input():
    with pytest.raises(ValueError, match="`ref_logits` must have the shape"):
        gradients.categorical_kl_gradients([0.0, 1.0], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="`logits` must be a vector"):
        gradients.categorical_kl_gradients([0.0], [0.0])
    with pytest.raises(ValueError, match="`actions` must lie in"):
        gradients.kl_penalty_gradients([0.0, 1.0], [0.0, 1.0], [0, 2], estimator="k1")
    with pytest.raises(TypeError, match="`actions` must be a vector of integers"):
        gradients.kl_penalty_gradients([0.0, 1.0], [0.0, 1.0], [0.5], estimator="k1")
    with pytest.raises(ValueError, match="`estimator` must be one of"):
        gradients.expected_kl_penalty_gradient([0.0, 1.0], [0.0, 1.0], estimator="k4")
    with pytest.raises(ValueError, match="`step` must be positive"):
        gradients.kl_gradient_quadrature(0.0, 1.0, tfd.Normal(f64(0), f64(1)), step=0.0)


def test_closed_form_expected_gradient_matches_autodiff():
    log_ref = np.log(softmax(REF))
    for name in gradients.KL_PENALTY_ESTIMATORS:
        np.testing.assert_allclose(
            gradients._expected_penalty_gradient_closed_form(LOGITS, log_ref, name),
            gradients.expected_kl_penalty_gradient(LOGITS, REF, estimator=name),
            atol=1e-12,
        )


def test_kl_regularised_ascent_finds_the_right_and_the_wrong_optima():
    rewards = np.array([1.0, 0.2, -0.5, 0.0])
    optimum = gradients.kl_regularised_optimum(REF, rewards, 0.5)

    # the optimum maximises E[R] - beta KL: compare with random policies
    def objective(pi):
        return pi @ rewards - 0.5 * np.sum(pi * np.log(pi / softmax(REF)))

    rng = np.random.default_rng(0)
    assert all(objective(optimum) >= objective(rng.dirichlet(np.ones(4))) for _ in range(200))
    for name in ("k2", "k1_score", "k3_score"):
        got = gradients.kl_regularised_policy(REF, rewards, 0.5, estimator=name)
        np.testing.assert_allclose(got, optimum, atol=1e-6)
    collapsed = gradients.kl_regularised_policy(REF, rewards, 0.5, estimator="k1")
    assert collapsed[0] > 0.99  # no penalty at all: all mass on the best action
    forward = gradients.kl_regularised_policy(REF, rewards, 0.5, estimator="k3")
    # stationary point of E[R] - beta KL(pi_ref || pi): pi (R - pi.R) = beta (pi - pi_ref)
    np.testing.assert_allclose(
        forward * (rewards - forward @ rewards), 0.5 * (forward - softmax(REF)), atol=1e-8
    )
    assert np.abs(forward - optimum).max() > 0.02


def test_bad_policy_input():
    with pytest.raises(ValueError, match="`rewards` must have the shape of `ref_logits`"):
        gradients.kl_regularised_optimum([0.0, 1.0], [1.0], 1.0)
    with pytest.raises(ValueError, match="`beta` must be positive"):
        gradients.kl_regularised_policy([0.0, 1.0], [1.0, 0.0], 0.0, estimator="k2")
