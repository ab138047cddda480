"""klcourse.fitting (kc.fit): optima against closed forms, reproducibility, the compiled
loop and its cache, bad inputs."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import klcourse as kc

tfd, tfb = tfp.distributions, tfp.bijectors
SIGMA = kc.examples.TUTORIAL_2D_COV


def trainable_normal(loc, scale):
    return tfd.Normal(tf.Variable(loc), tfp.util.TransformedVariable(scale, tfb.Exp()))


def trainable_diag(loc, scale):
    return tfd.MultivariateNormalDiag(
        tf.Variable(loc), tfp.util.TransformedVariable(scale, tfb.Exp())
    )


def test_reproduces_tutorial_fit():
    # Source: ERRATA.md: Adam(0.01), 500 steps from N(-1, 1) to N(1, 4):
    # loc 0.988737, scale 3.9999995.
    q = trainable_normal(-1.0, 1.0)
    trace = kc.fit(q, tfd.Normal(1.0, 4.0), num_steps=500, learning_rate=0.01)
    assert trace.method == "analytic"
    assert trace.params["loc"][-1] == pytest.approx(0.988737, abs=2e-6)
    assert trace.params["scale"][-1] == pytest.approx(4.0, abs=1e-5)
    assert trace.loss.shape == (501,) and trace.params["loc"].shape == (501,)
    assert trace.params["loc"][0] == -1.0 and trace.loss[0] > trace.loss[-1]
    # q itself was fitted in place
    assert float(q.loc) == pytest.approx(trace.params["loc"][-1])


def test_trace_loss_matches_its_parameters():
    p = tfd.Normal(1.0, 4.0)
    trace = kc.fit(trainable_normal(-1.0, 1.0), p, num_steps=50, learning_rate=0.05)
    expected = kc.kl_normal(trace.params["loc"], trace.params["scale"], 1.0, 4.0)
    np.testing.assert_allclose(trace.loss, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "divergence, variances",
    [
        ("reverse", 1 / np.diag(np.linalg.inv(SIGMA))),  # q's variances: 1/diag(Σ⁻¹)
        ("forward", np.diag(SIGMA)),  # the marginal variances diag(Σ)
    ],
)
def test_2d_optima_match_closed_forms(divergence, variances):
    p = tfd.MultivariateNormalTriL([0.0, 0.0], tf.linalg.cholesky(SIGMA.astype(np.float32)))
    q = trainable_diag([2.0, -2.0], [1.0, 2.0])
    trace = kc.fit(q, p, divergence=divergence, num_steps=1500, learning_rate=0.05)
    np.testing.assert_allclose(trace.params["scale_diag"][-1] ** 2, variances, atol=5e-4)
    np.testing.assert_allclose(trace.params["loc"][-1], [0.0, 0.0], atol=5e-4)
    # Both optimal values are ½ log(8/7) in this 2-D example (ERRATA.md).
    assert trace.loss[-1] == pytest.approx(0.5 * np.log(8 / 7), abs=1e-5)


def mixture():
    return kc.examples.tutorial_mixture(np.float32)


@pytest.mark.slow  # tiers: a Monte Carlo fit of a second or more; `make test` runs it
def test_monte_carlo_reverse_fit_reaches_quadrature_optimum():
    # ERRATA.md: the best Normal is loc 0.783708, scale 0.617121 (KL 0.499673).
    q = trainable_normal(3.0, 4.0)
    trace = kc.fit(q, mixture(), num_steps=600, learning_rate=0.02, num_samples=4000, seed=1)
    assert trace.method == "monte_carlo"
    fitted = tfd.Normal(np.float64(trace.params["loc"][-1]), np.float64(trace.params["scale"][-1]))
    value, _ = kc.kl_quadrature(fitted, mixture())
    assert value == pytest.approx(0.499673, abs=0.01)
    assert trace.params["loc"][-1] == pytest.approx(0.7837, abs=0.05)


@pytest.mark.slow  # tiers: seconds of work; `make unit` skips it
def test_forward_monte_carlo_and_samples_agree_with_moments():
    target = mixture()
    trace = kc.fit(
        trainable_normal(0.0, 1.0),
        target,
        divergence="forward",
        num_steps=800,
        learning_rate=0.05,
        num_samples=4000,
    )
    assert trace.method == "monte_carlo"
    # Forward KL to a Normal matches moments: mean 0.4, variance ½(0.01 + 0.25) + 0.36.
    assert trace.params["loc"][-1] == pytest.approx(0.4, abs=0.03)
    assert trace.params["scale"][-1] == pytest.approx(np.sqrt(0.13 + 0.36), abs=0.03)
    data = np.random.default_rng(0).normal([1.0, 2.0], [1.0, 3.0], size=(5000, 2))
    q = tfd.MultivariateNormalDiag(
        tf.Variable([0.0, 0.0]), tfp.util.TransformedVariable([1.0, 1.0], tfb.Softplus())
    )
    trace = kc.fit(q, data, divergence="forward", num_steps=1000, learning_rate=0.05)
    assert trace.method == "samples"
    np.testing.assert_allclose(trace.params["loc"][-1], data.mean(0), atol=1e-3)
    np.testing.assert_allclose(trace.params["scale_diag"][-1], data.std(0), atol=1e-3)


def test_same_seed_same_trace_and_warm_reuse():
    q = trainable_normal(3.0, 4.0)
    first = kc.fit(q, mixture(), num_steps=40, learning_rate=0.05, num_samples=200, seed=3)
    q.loc.assign(3.0)
    q.scale.pretransformed_input.assign(np.log(4.0))
    second = kc.fit(q, mixture(), num_steps=40, learning_rate=0.05, num_samples=200, seed=3)
    np.testing.assert_array_equal(first.loss, second.loss)
    other = kc.fit(q, mixture(), num_steps=40, learning_rate=0.05, num_samples=200, seed=4)
    assert not np.array_equal(first.loss, other.loss)


def tracing_counts():
    return [c.run.experimental_get_tracing_count() for c in kc.fitting._COMPILED.values()]


def test_the_loop_is_traced_once_per_structure():
    kc.fitting._COMPILED.clear()
    p = tfd.Normal(1.0, 4.0)
    first = trainable_normal(-1.0, 1.0)
    kc.fit(first, p, num_steps=10, learning_rate=0.01)
    kc.fit(first, p, num_steps=30, learning_rate=0.02)
    # A fresh q of the same structure, and an equal but new target: no new trace.
    fresh = trainable_normal(2.0, 0.5)
    kc.fit(fresh, tfd.Normal(1.0, 4.0), num_steps=20, learning_rate=0.05)
    assert tracing_counts() == [1]
    # Another constant value is another structure.
    kc.fit(trainable_normal(2.0, 0.5), tfd.Normal(1.0, 3.0), num_steps=5, learning_rate=0.1)
    assert tracing_counts() == [1, 1]


def test_a_fresh_q_gets_the_trace_of_its_own_compilation():
    # The cached loop trains a private copy: feeding another q's values in must give
    # exactly what compiling for that q would, and must leave the first q alone.
    p = tfd.Normal(1.0, 4.0)
    first = trainable_normal(-1.0, 1.0)
    kc.fit(first, p, num_steps=50, learning_rate=0.05)
    after_first = float(first.loc)
    fresh = trainable_normal(3.0, 0.3)
    cached = kc.fit(fresh, p, num_steps=50, learning_rate=0.02)
    assert float(first.loc) == after_first
    assert float(fresh.loc) == cached.params["loc"][-1]
    kc.fitting._COMPILED.clear()
    compiled_anew = kc.fit(trainable_normal(3.0, 0.3), p, num_steps=50, learning_rate=0.02)
    np.testing.assert_array_equal(cached.loss, compiled_anew.loss)
    np.testing.assert_array_equal(cached.params["scale"], compiled_anew.params["scale"])


def test_learning_rate_is_fed_not_baked_in():
    p = tfd.Normal(1.0, 4.0)
    slow = kc.fit(trainable_normal(-1.0, 1.0), p, num_steps=5, learning_rate=0.01)
    fast = kc.fit(trainable_normal(-1.0, 1.0), p, num_steps=5, learning_rate=0.1)
    # Adam's first step moves each parameter by about the learning rate.
    assert slow.params["loc"][1] - slow.params["loc"][0] == pytest.approx(0.01, rel=1e-3)
    assert fast.params["loc"][1] - fast.params["loc"][0] == pytest.approx(0.1, rel=1e-3)


def test_bad_inputs():
    q, p = trainable_normal(0.0, 1.0), tfd.Normal(1.0, 4.0)
    with pytest.raises(ValueError, match="`divergence` must be one of"):
        kc.fit(q, p, divergence="sideways", num_steps=1, learning_rate=0.1)
    with pytest.raises(ValueError, match="`num_steps` must be positive"):
        kc.fit(q, p, num_steps=0, learning_rate=0.1)
    with pytest.raises(TypeError, match="`num_steps` must be an int"):
        kc.fit(q, p, num_steps=2.0, learning_rate=0.1)
    with pytest.raises(ValueError, match="`learning_rate` must be positive"):
        kc.fit(q, p, num_steps=1, learning_rate=-0.1)
    with pytest.raises(ValueError, match="`optimizer` must be one of"):
        kc.fit(q, p, num_steps=1, learning_rate=0.1, optimizer="lbfgs")
    with pytest.raises(ValueError, match="`q` must have trainable parameters"):
        kc.fit(tfd.Normal(0.0, 1.0), p, num_steps=1, learning_rate=0.1)
    with pytest.raises(TypeError, match="`q` must be a tfd.Distribution"):
        kc.fit("q", p, num_steps=1, learning_rate=0.1)
    with pytest.raises(
        ValueError, match="`target` must be a distribution for divergence='reverse'"
    ):
        kc.fit(q, np.zeros(10), num_steps=1, learning_rate=0.1)
    mix_q = tfd.MixtureSameFamily(
        tfd.Categorical(logits=tf.Variable([0.0, 0.0])), tfd.Normal([0.0, 1.0], 1.0)
    )
    with pytest.raises(ValueError, match="`q` must be fully reparameterised"):
        kc.fit(mix_q, tfd.Normal(0.0, 1.0), num_steps=1, learning_rate=0.1)


def test_nested_parameters_are_traced():
    q = tfd.MixtureSameFamily(
        tfd.Categorical(logits=tf.Variable([0.0, 0.0])),
        tfd.Normal(tf.Variable([-1.0, 1.0]), 1.0),
    )
    assert list(kc.trainable_parameters(q)) == [
        "mixture_distribution.logits",
        "components_distribution.loc",
    ]
    data = np.concatenate([np.full(300, -2.0), np.full(100, 2.0)])
    trace = kc.fit(q, data, divergence="forward", num_steps=300, learning_rate=0.1)
    assert trace.params["components_distribution.loc"].shape == (301, 2)
