"""klcourse.vae: the VAE of chapter 6, checked against independent routes."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from hypothesis import given, settings
from hypothesis import strategies as st

import klcourse as kc
from klcourse import vae

tfd = tfp.distributions


@pytest.fixture(scope="module")
def digits():
    return vae.load_digits()


@pytest.fixture(scope="module")
def trained(digits):
    """A small 2-D model, trained briefly (shared by the slower tests)."""
    model = vae.VAE(latent_dim=2, hidden=32, seed=0)
    trace = vae.train(model, digits.train, num_steps=300, seed=0)
    return model, trace


# ------------------------------------------------------------------ data
def test_digits_are_binary_split_and_reproducible(digits):
    again = vae.load_digits()
    assert digits.train.shape == (1500, 64) and digits.test.shape == (297, 64)
    assert digits.train.dtype == np.float32
    assert set(np.unique(digits.train)) == {0.0, 1.0}
    np.testing.assert_array_equal(digits.test, again.test)
    assert set(digits.train_labels) == set(range(10))
    # the threshold: grey level >= 8 of 16 is on
    from sklearn.datasets import load_digits

    images = load_digits().data
    assert math.isclose(
        digits.train.mean() * 1500 + digits.test.mean() * 297,
        (images >= 8).mean() * 1797,
        rel_tol=1e-6,
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_test": 1797}, "num_test"),
        ({"num_test": 0}, "num_test"),
        ({"threshold": 0}, "threshold"),
    ],
)
def test_load_digits_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        vae.load_digits(**kwargs)


# ------------------------------------------------------------------ the KL term
@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(-3, 3), min_size=1, max_size=6).flatmap(
        lambda mu: st.tuples(
            st.just(mu), st.lists(st.floats(-3, 3), min_size=len(mu), max_size=len(mu))
        )
    )
)
def test_kl_term_matches_kl_mvn_and_tfp(args):
    mu, log_var = (np.array(a) for a in args)
    closed = float(tf.reduce_sum(vae.gaussian_kl_per_dim(mu, log_var)))
    d = len(mu)
    by_kl_mvn = kc.kl_mvn(mu, np.diag(np.exp(log_var)), np.zeros(d), np.eye(d))
    by_tfp = float(
        tfd.kl_divergence(
            tfd.MultivariateNormalDiag(mu, np.exp(0.5 * log_var)),
            tfd.MultivariateNormalDiag(np.zeros(d), np.ones(d)),
        )
    )
    assert closed >= -1e-6  # KL >= 0
    assert math.isclose(closed, by_kl_mvn, rel_tol=1e-5, abs_tol=1e-5)
    assert math.isclose(by_tfp, by_kl_mvn, rel_tol=1e-9, abs_tol=1e-12)


def test_kl_term_is_zero_at_the_prior_and_matches_monte_carlo():
    assert float(tf.reduce_max(tf.abs(vae.gaussian_kl_per_dim([0.0, 0.0], [0.0, 0.0])))) == 0
    mu, log_var = np.array([0.5, -1.0, 2.0]), np.array([-0.5, 0.3, -2.0])
    q = tfd.MultivariateNormalDiag(mu, np.exp(0.5 * log_var))
    p = tfd.MultivariateNormalDiag(np.zeros(3), np.ones(3))
    estimate = kc.kl_monte_carlo(q, p, num_samples=200_000, seed=1)
    closed = float(tf.reduce_sum(vae.gaussian_kl_per_dim(mu, log_var)))
    assert abs(estimate.value - closed) < 4 * estimate.error, (estimate, closed)


@pytest.mark.slow  # tiers: seconds of work; `make unit` skips it
def test_sampled_rate_is_unbiased_for_the_analytic_one(digits):
    model = vae.VAE(latent_dim=3, hidden=8, seed=1)
    x = digits.test[:5]
    analytic = vae.elbo_terms(model, x, 0).rate.numpy()
    draws = np.stack([vae.elbo_terms(model, x, s, kl="sampled").rate.numpy() for s in range(400)])
    error = draws.std(0) / math.sqrt(400)
    assert np.all(abs(draws.mean(0) - analytic) < 4 * error + 1e-6)


def test_elbo_terms_match_tfp_log_probs(digits):
    model = vae.VAE(latent_dim=2, hidden=8, seed=2)
    x = digits.test[:4]
    terms = vae.elbo_terms(model, x, 5)
    mu, log_var = model.encoder_outputs(tf.constant(x))
    eps = tf.random.stateless_normal(tf.shape(mu), seed=kc.stateless_seed(5))
    z = mu + tf.exp(0.5 * log_var) * eps
    logits = model.logits(z).numpy().astype(np.float64)
    manual = -np.sum(x * logits - np.logaddexp(0, logits), axis=1)
    np.testing.assert_allclose(terms.distortion.numpy(), manual, rtol=1e-5)
    assert terms.rate_per_dim.shape == (4, 2)
    with pytest.raises(ValueError, match="kl"):
        vae.elbo_terms(model, x, 0, kl="exact")


# ------------------------------------------------------------------ training
@pytest.mark.slow  # tiers: trains a VAE; `make test` runs it
def test_training_lowers_the_loss_and_is_reproducible(digits, trained):
    model, trace = trained
    assert trace.loss.shape == (300,)
    assert trace.loss[-50:].mean() < trace.loss[:50].mean() - 3
    np.testing.assert_allclose(trace.loss, trace.distortion + trace.rate, rtol=1e-5)
    again = vae.VAE(latent_dim=2, hidden=32, seed=0)
    np.testing.assert_array_equal(
        vae.train(again, digits.train, num_steps=300, seed=0).loss, trace.loss
    )


@pytest.mark.slow  # tiers: trains a VAE; `make test` runs it
def test_copies_train_like_separate_models(digits):
    pair = vae.VAE(latent_dim=2, hidden=8, seed=3, copies=2)
    trace = vae.train(pair, digits.train, num_steps=40, beta=[1.0, 4.0], seed=3)
    assert trace.rate.shape == (40, 2)
    # copy 1 alone: same initial weights, same minibatches, same objective
    alone = pair.select(1)
    start = vae.VAE(latent_dim=2, hidden=8, seed=3, copies=2).select(1)
    for mine, theirs in zip(alone.trainable_variables, start.trainable_variables, strict=True):
        assert not np.allclose(mine.numpy(), theirs.numpy())  # it did train
    single = vae.VAE(latent_dim=2, hidden=8, seed=3, copies=2).select(1)
    single_trace = vae.train(single, digits.train, num_steps=40, beta=4.0, seed=3)
    np.testing.assert_allclose(single_trace.loss, trace.loss[:, 1], rtol=1e-4)
    for mine, theirs in zip(single.trainable_variables, alone.trainable_variables, strict=True):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-3, atol=1e-5)


@pytest.mark.slow  # tiers: trains a VAE; `make test` runs it
def test_free_bits_and_warm_up(digits):
    model = vae.VAE(latent_dim=2, hidden=8, seed=4, copies=2)
    trace = vae.train(
        model, digits.train, num_steps=30, free_bits=[0.0, 2.0], warmup_steps=[0, 10], seed=4
    )
    np.testing.assert_allclose(trace.beta[:, 0], 1.0)
    np.testing.assert_allclose(trace.beta[:10, 1], np.arange(1, 11) / 10, rtol=1e-6)
    np.testing.assert_allclose(trace.beta[10:, 1], 1.0)
    # with free bits of 2 nats per dimension, the loss charges at least 4 nats of rate
    assert np.all(trace.loss[10:, 1] >= trace.distortion[10:, 1] + 4.0 - 1e-4)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"beta": -1.0}, ValueError, "beta"),
        ({"beta": [1.0, 2.0]}, ValueError, "one entry per copy"),
        ({"beta": "1"}, TypeError, "beta"),
        ({"free_bits": float("nan")}, ValueError, "free_bits"),
        ({"warmup_steps": 1.5}, TypeError, "warmup_steps"),
        ({"num_steps": 0}, ValueError, "num_steps"),
        ({"kl": "exact"}, ValueError, "kl"),
    ],
)
def test_train_validates(digits, kwargs, error, match):
    settings = {"num_steps": 1, **kwargs}
    with pytest.raises(error, match=match):
        vae.train(vae.VAE(latent_dim=2, hidden=4), digits.train, **settings)


def test_train_rejects_bad_model_and_data(digits):
    with pytest.raises(TypeError, match="model"):
        vae.train("vae", digits.train, num_steps=1)
    with pytest.raises(ValueError, match="data"):
        vae.train(vae.VAE(latent_dim=2, hidden=4), digits.train[:, :10], num_steps=1)


def test_single_model_functions_refuse_copies(digits):
    pair = vae.VAE(latent_dim=2, hidden=4, copies=2)
    with pytest.raises(ValueError, match="select"):
        vae.evaluate(pair, digits.test)
    with pytest.raises(ValueError, match="index"):
        pair.select(2)
    with pytest.raises(ValueError, match="index"):
        vae.VAE(latent_dim=2, hidden=4).select(0)


# ------------------------------------------------------------------ bounds
@pytest.mark.slow  # tiers: quadrature and Monte Carlo over a trained VAE; `make test` runs it
def test_quadrature_log_marginal_against_monte_carlo(digits, trained):
    model, _ = trained
    x = digits.test[:10]
    exact = vae.latent_quadrature(model, x, num_points=121)
    coarse = vae.latent_quadrature(model, x, num_points=81)
    np.testing.assert_allclose(coarse.log_marginal, exact.log_marginal, atol=1e-4)
    # log p(x) = log E_p(z)[p(x|z)], by plain Monte Carlo from the prior
    z = np.random.default_rng(0).standard_normal((200_000, 2)).astype(np.float32)
    logits = model.logits(z).numpy().astype(np.float64)
    log_lik = x.astype(np.float64) @ logits.T - np.logaddexp(0, logits).sum(1)
    from scipy.special import logsumexp

    mc = logsumexp(log_lik, axis=1) - math.log(len(z))
    np.testing.assert_allclose(mc, exact.log_marginal, atol=0.05)
    # the identity log p(x) = ELBO + KL(q || posterior), image by image
    np.testing.assert_allclose(exact.log_marginal - exact.elbo, exact.kl_to_posterior, atol=1e-8)
    assert np.all(exact.kl_to_posterior > 0)
    # the quadrature ELBO agrees with the Monte Carlo one
    np.testing.assert_allclose(vae.iwae_bound(model, x, 1, repeats=4000), exact.elbo, atol=0.05)


@pytest.mark.slow  # tiers: seconds of work; `make unit` skips it
def test_iwae_is_ordered_between_elbo_and_log_marginal(digits, trained):
    model, _ = trained
    x = digits.test[:20]
    exact = vae.latent_quadrature(model, x)
    bounds = [vae.iwae_bound(model, x, k, repeats=1000 // k, seed=1).mean() for k in (1, 10, 1000)]
    assert bounds[0] < bounds[1] < bounds[2] < exact.log_marginal.mean()
    # the same draws whatever the chunk size
    np.testing.assert_allclose(
        vae.iwae_bound(model, x, 50, seed=2, chunk=7),
        vae.iwae_bound(model, x, 50, seed=2),
        rtol=1e-6,
    )


def test_latent_quadrature_needs_two_dimensions(digits):
    with pytest.raises(ValueError, match="2-D"):
        vae.latent_quadrature(vae.VAE(latent_dim=3, hidden=4), digits.test[:2])


def test_evaluate_splits_the_elbo(digits, trained):
    model, _ = trained
    result = vae.evaluate(model, digits.test)
    assert math.isclose(result.elbo, -(result.rate + result.distortion))
    assert math.isclose(result.rate, result.rate_per_dim.sum(), rel_tol=1e-9)
    assert result.active.shape == (2,) and np.all(result.active >= 0)


@pytest.mark.slow  # tiers: gradients of a trained VAE; `make test` runs it
def test_gradient_variance_same_mean_less_noise_with_closed_form(digits, trained):
    model, _ = trained
    batch = digits.train[:50]
    analytic = vae.gradient_variance(model, batch, kl="analytic", num_repeats=100, seed=0)
    sampled = vae.gradient_variance(model, batch, kl="sampled", num_repeats=100, seed=0)
    assert math.isclose(analytic.decoder, sampled.decoder, rel_tol=1e-5)
    assert sampled.encoder > analytic.encoder
    error = math.sqrt((analytic.encoder + sampled.encoder) / 100)
    assert np.linalg.norm(analytic.mean - sampled.mean) < 3 * error
    with pytest.raises(ValueError, match="num_repeats"):
        vae.gradient_variance(model, batch, kl="analytic", num_repeats=1)
