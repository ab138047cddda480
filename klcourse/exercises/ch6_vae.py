"""Chapter 6 (a variational autoencoder): checkers for its code exercises.

Functions handed in (an ELBO, an IWAE bound) are called on the checker's own data, not
the data shown in the exercise, so an answer that hard-codes the example fails.
"""

import functools
import math

import numpy as np

from klcourse.check import register
from klcourse.exercises._shortcuts import forbidden_calls
from klcourse.hints import close

# ------------------------------------------------------------------ ch6-elbo-batch


class _LinearDecoder:
    """The checker's decoder, z ↦ z·W + b: a module-level class (not a lambda) so that it
    pickles, as grading in a sandbox requires."""

    def __init__(self, weights, bias):
        self.weights, self.bias = weights, bias

    def __call__(self, z):
        return np.asarray(z) @ self.weights + self.bias


def _elbo_problem(seed, batch=7, latent=3, pixels=10):
    """(x, mu, log_var, eps, logits_fn): a small batch and a linear decoder."""
    rng = np.random.default_rng(seed)
    x = (rng.random((batch, pixels)) < 0.4).astype(np.float64)
    mu = rng.normal(0.0, 1.0, (batch, latent))
    log_var = rng.normal(-1.0, 0.5, (batch, latent))
    eps = rng.normal(0.0, 1.0, (batch, latent))
    weights, bias = rng.normal(0.0, 1.5, (latent, pixels)), rng.normal(0.0, 0.5, pixels)
    return x, mu, log_var, eps, _LinearDecoder(weights, bias)


def _elbo_variant(x, mu, log_var, eps, logits_fn, mistake=None):
    """The one-sample ELBO of the batch, or one of its common mistakes."""
    sigma = np.exp(log_var if mistake == "variance-as-scale" else 0.5 * log_var)
    z = mu if mistake == "decoded-mean" else mu + sigma * eps
    logits = logits_fn(z)
    log_lik = np.sum(x * logits - np.logaddexp(0.0, logits), axis=-1)
    kl = -0.5 * np.sum(1.0 + log_var - mu**2 - np.exp(log_var), axis=-1)
    if mistake == "kl-without-half":
        kl = 2 * kl
    sign = {"kl-added": -1.0, "no-kl": 0.0}.get(mistake, 1.0)
    per_example = log_lik - sign * kl
    return np.sum(per_example) if mistake == "batch-sum" else np.mean(per_example)


_ELBO_HINTS = {
    "variance-as-scale": "σ is exp(½·log σ²), not exp(log σ²): the encoder outputs a log-variance.",
    "decoded-mean": "you decoded μ itself; the reparameterised draw is z = μ + σ·ε with the "
    "given ε.",
    "kl-added": "the ELBO subtracts the KL term from the expected log-likelihood.",
    "no-kl": "the KL term (the rate) is missing.",
    "kl-without-half": "the Gaussian KL term has a factor ½ in front of the sum.",
    "batch-sum": "return the mean over the batch, not the sum.",
}


@register("ch6-elbo-batch", chapter=6, topic="the reparameterised ELBO of a batch", points=2)
def _elbo_batch(answer):
    if not callable(answer):
        return "`answer` should be your function elbo_batch(x, mu, log_var, eps, logits_fn)."
    for seed in (61, 62):
        problem = _elbo_problem(seed, batch=7 if seed == 61 else 1)
        value = answer(*problem)
        if np.ndim(value) != 0:
            return (
                f"your function returned shape {np.shape(value)}; it should return one "
                "number, the batch's mean ELBO."
            )
        value = float(value)
        expected = _elbo_variant(*problem)
        if math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-9):
            continue
        for mistake, hint in _ELBO_HINTS.items():
            if math.isclose(value, _elbo_variant(*problem, mistake), rel_tol=1e-9):
                return hint
        if math.isclose(value, expected, rel_tol=1e-5):
            return (
                "close, but only to float32 precision: compute it yourself in float64 "
                "NumPy (kc.vae works in float32)."
            )
        if not math.isfinite(value):
            return "your ELBO is not finite: use np.logaddexp(0, logits) for log(1 + e^logits)."
        direction = "too large" if value > expected else "too small"
        return (
            f"your ELBO is {direction}: check each term, the reparameterised z, the "
            "Bernoulli log-likelihood from logits, and the KL term."
        )
    return None


# ------------------------------------------------------------------ ch6-iwae


# SciPy's, TensorFlow's, PyTorch's and JAX's log-sum-exp, and NumPy's logaddexp.reduce
IWAE_FORBIDDEN = {"logsumexp", "reduce_logsumexp", "logaddexp"}


@register("ch6-iwae", chapter=6, topic="the importance-weighted bound", points=1)
def _iwae(answer):
    if not callable(answer):
        return "`answer` should be your function iwae(log_weights)."
    from scipy.special import logsumexp

    # a library's log-sum-exp returns the same numbers: look at what the code calls
    shortcuts = forbidden_calls(answer, IWAE_FORBIDDEN, (logsumexp, np.logaddexp))
    if shortcuts:
        return (
            f"`iwae` calls {', '.join(shortcuts)}: write the log-sum-exp trick out yourself "
            "(subtract the largest log-weight, exponentiate, average, take the log, add it back)."
        )
    rng = np.random.default_rng(63)
    # log-weights of a 64-pixel image are large and negative: exp underflows to 0
    log_w = rng.normal(0.0, 3.0, (50, 4)) - 800.0

    expected = logsumexp(log_w, axis=0) - math.log(50)
    with np.errstate(all="ignore"):
        value = np.asarray(answer(log_w.copy()), dtype=np.float64)
    if value.shape == (50,):
        return "average over the K draws (axis 0), one bound per image: the result has shape [n]."
    if value.shape == expected.shape:
        if np.any(np.isinf(value)):
            return (
                "exp(log w) underflows to 0 for log-weights near -800: subtract the largest "
                "log-weight before exponentiating (the log-sum-exp trick)."
            )
        if np.allclose(value, log_w.mean(0)):
            return "that is the mean of the log-weights, the ELBO estimate, not the IWAE bound."
        if np.allclose(value, expected + math.log(50)):
            return "you summed the weights; the bound averages them (subtract log K)."
    hint = close(value, expected, rtol=1e-9, what="your bounds")
    if hint is None:
        single = np.asarray(answer(log_w[:1]), dtype=np.float64)
        hint = close(single, log_w[0], rtol=1e-9, what="your bound with K = 1")
    return hint


# ------------------------------------------------------------------ ch6-active-dims


def active_dims_problem():
    """The encoder outputs of exercise ch6-active-dims: ``(mu, log_var)``, ``[1000, 5]``."""
    rng = np.random.default_rng(2024)
    n = 1000
    mu = np.stack(
        [
            rng.normal(0.0, 1.0, n),
            rng.normal(0.0, 0.05, n),
            rng.normal(0.0, 0.6, n),
            np.full(n, 0.9),
            np.zeros(n),
        ],
        axis=1,
    )
    log_var = np.log(np.tile([0.1, 0.99, 0.5, 0.3, 1.0], (n, 1)))
    return mu, log_var


def _information_per_dim():
    """½·log((Var_x μ_j + σ_j²)/σ_j²): what each dimension tells about x (σ_j is fixed)."""
    mu, log_var = active_dims_problem()
    variance = np.exp(log_var[0])
    return 0.5 * np.log((mu.var(0) + variance) / variance)


@register("ch6-active-dims", chapter=6, topic="spotting posterior collapse", points=1)
def _active_dims(answer):
    try:
        chosen = sorted({int(i) for i in np.asarray(answer).ravel()})
    except (TypeError, ValueError):
        return "`answer` should be a list of dimension indices (0 to 4), e.g. [1, 4]."
    if any(not 0 <= i < 5 for i in chosen) or len(chosen) != np.asarray(answer).size:
        return "give each index once, from 0 to 4."
    informative = sorted(np.flatnonzero(_information_per_dim() >= 0.01).tolist())
    if chosen == informative:
        return None
    mu, log_var = active_dims_problem()
    kl = (-0.5 * (1 + log_var - mu**2 - np.exp(log_var))).mean(0)
    if 3 in chosen:
        return (
            "dimension 3 has a large KL term, but its q(z|x) is the same for every image: "
            "a rate paid without carrying information about x. Look at how μ_j varies."
        )
    if 1 in chosen:
        return (
            "dimension 1 varies with x, but so little that it carries far less than "
            "the threshold; compare Var_x(μ_j) with σ_j²."
        )
    missing = [i for i in informative if i not in chosen]
    if missing and all(kl[i] > 0.1 for i in missing):
        return "you left out a dimension whose μ clearly varies from image to image."
    return "not the right set: compute each dimension's KL and Var_x(μ_j)."


# ------------------------------------------------------------------ ch6-beta-rate

BETA_RATE = {"betas": (0.5, 3.0), "latent_dim": 2, "hidden": 32, "seed": 6, "num_steps": 300}


@functools.lru_cache(maxsize=1)
def beta_rate_reference():
    """``(test_rates, train_rates, last_step_rates)`` of exercise ch6-beta-rate's models."""
    from klcourse import vae

    digits = vae.load_digits()
    model = vae.VAE(
        BETA_RATE["latent_dim"],
        hidden=BETA_RATE["hidden"],
        seed=BETA_RATE["seed"],
        copies=len(BETA_RATE["betas"]),
    )
    trace = vae.train(
        model,
        digits.train,
        num_steps=BETA_RATE["num_steps"],
        beta=list(BETA_RATE["betas"]),
        seed=BETA_RATE["seed"],
    )
    singles = [model.select(i) for i in range(len(BETA_RATE["betas"]))]
    test = np.array([vae.evaluate(m, digits.test).rate for m in singles])
    train = np.array([vae.evaluate(m, digits.train).rate for m in singles])
    return test, train, trace.rate[-1]


@register("ch6-beta-rate", chapter=6, topic="rate against β", points=1)
def _beta_rate(answer):
    if np.shape(answer) != (2,):
        return "`answer` should be two rates: the smaller β's first, then the larger β's."
    answer = np.asarray(answer, dtype=np.float64)
    test, train, last_step = beta_rate_reference()
    # float32 training: the same machine reproduces it; allow for reduction order
    if close(answer, test, rtol=2e-3, atol=2e-3) is None:
        return None
    if close(answer[::-1], test, rtol=2e-3, atol=2e-3) is None:
        return "the two rates are swapped: the smaller β's rate comes first."
    if close(answer, train, rtol=2e-3, atol=2e-3) is None:
        return "those are the training images' rates; the exercise asks for the test images."
    if close(answer, last_step, rtol=2e-3, atol=2e-3) is None:
        return (
            "those are the last minibatch's rates from the training trace; evaluate the "
            "trained models on the test images instead."
        )
    return (
        "not the rates of the models the exercise describes: check every setting "
        "(latent_dim, hidden, copies, seeds, num_steps, the βs) and use the test images."
    )
