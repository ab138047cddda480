"""Chapter 6's checkers: the right answer passes; each named mistake and shortcut gets its hint."""

import pickle

import numpy as np
import pytest
from scipy.special import logsumexp

import klcourse as kc
from klcourse.exercises import ch6_vae


def verdict(id, answer):
    return kc.check._REGISTRY[id].checker(answer)


# ------------------------------------------------------------------ ch6-elbo-batch
def elbo_batch(x, mu, log_var, eps, logits_fn, mistake=None):
    sigma = np.exp(log_var) if mistake == "scale" else np.exp(0.5 * log_var)
    z = mu if mistake == "mean" else mu + sigma * eps
    logits = logits_fn(z)
    log_lik = np.sum(x * logits - np.logaddexp(0.0, logits), axis=-1)
    kl = -0.5 * np.sum(1.0 + log_var - mu**2 - np.exp(log_var), axis=-1)
    if mistake == "no-half":
        kl = 2 * kl
    if mistake == "plus":
        return np.mean(log_lik + kl)
    if mistake == "no-kl":
        return np.mean(log_lik)
    if mistake == "sum":
        return np.sum(log_lik - kl)
    if mistake == "float32":
        return np.float32(np.mean((log_lik - kl).astype(np.float32)) * np.float32(1 + 3e-7))
    if mistake == "offset":
        return np.mean(log_lik - kl) + 1.0
    if mistake == "vector":
        return log_lik - kl
    return np.mean(log_lik - kl)


def test_elbo_batch_right_answer():
    assert verdict("ch6-elbo-batch", elbo_batch) is None


@pytest.mark.parametrize(
    "mistake, hint",
    [
        ("scale", "exp(½·log σ²)"),
        ("mean", "decoded μ"),
        ("plus", "subtracts the KL"),
        ("no-kl", "missing"),
        ("no-half", "factor ½"),
        ("sum", "mean over the batch"),
        ("float32", "float32 precision"),
        ("vector", "one number"),
        ("offset", "too large"),
    ],
)
def test_elbo_batch_mistakes(mistake, hint):
    result = verdict("ch6-elbo-batch", lambda *args: elbo_batch(*args, mistake=mistake))
    assert result is not None and hint in result, result


def test_elbo_batch_problem_pickles():  # `make grade` sends the arguments to a sandbox
    problem = ch6_vae._elbo_problem(61)
    again = pickle.loads(pickle.dumps(problem))
    assert np.array_equal(again[4](problem[1]), problem[4](problem[1]))


def test_elbo_batch_rejects_a_hard_coded_number_and_non_functions():
    x, mu, log_var, eps, logits_fn = ch6_vae._elbo_problem(61)
    value = elbo_batch(x, mu, log_var, eps, logits_fn)  # right on one data set only
    assert verdict("ch6-elbo-batch", lambda *args: value) is not None
    assert "function" in verdict("ch6-elbo-batch", value)


# ------------------------------------------------------------------ ch6-iwae
def stable(log_w):
    top = log_w.max(axis=0)
    return top + np.log(np.mean(np.exp(log_w - top), axis=0))


def test_iwae_right_answer():
    assert verdict("ch6-iwae", stable) is None


def library_logsumexp(w):
    return logsumexp(w, axis=0) - np.log(len(w))


def logaddexp_reduce(w):
    return np.logaddexp.reduce(w, axis=0) - np.log(len(w))


hidden_shortcut = logsumexp  # bound to another name: still found


@pytest.mark.parametrize(
    "answer",
    [
        library_logsumexp,
        logaddexp_reduce,
        lambda w: hidden_shortcut(w, axis=0) - np.log(len(w)),
        lambda w: library_logsumexp(w),  # through a helper defined beside it
    ],
)
def test_iwae_rejects_a_library_logsumexp(answer):
    assert np.allclose(answer(np.zeros((3, 2))), 0.0)  # the values alone are right
    result = verdict("ch6-iwae", answer)
    assert result is not None and "yourself" in result, result


@pytest.mark.parametrize(
    "answer, hint",
    [
        (lambda w: np.log(np.mean(np.exp(w), axis=0)), "underflows"),  # the shortcut
        (lambda w: np.mean(w, axis=0), "ELBO"),
        (lambda w: stable(w) + np.log(len(w)), "subtract log K"),
        (lambda w: stable(w.T), "axis 0"),
        (lambda w: stable(w) + 0.1, "not right"),
    ],
)
def test_iwae_mistakes(answer, hint):
    result = verdict("ch6-iwae", answer)
    assert result is not None and hint in result, result


# ------------------------------------------------------------------ ch6-active-dims
def test_active_dims_right_answer_and_mistakes():
    assert verdict("ch6-active-dims", [0, 2]) is None
    assert verdict("ch6-active-dims", np.array([2, 0])) is None
    assert "dimension 3" in verdict("ch6-active-dims", [0, 2, 3])  # KL threshold
    assert "dimension 1" in verdict("ch6-active-dims", [0, 1, 2])  # any variation
    assert "left out" in verdict("ch6-active-dims", [0])
    assert "once" in verdict("ch6-active-dims", [0, 0, 2])
    assert "once" in verdict("ch6-active-dims", [7])
    assert "list" in verdict("ch6-active-dims", "0, 2")


def test_active_dims_reference_is_what_the_solution_computes():
    mu, log_var = ch6_vae.active_dims_problem()
    information = 0.5 * np.log((mu.var(0) + np.exp(log_var[0])) / np.exp(log_var[0]))
    assert list(np.flatnonzero(information >= 0.01)) == [0, 2]
    kl = (-0.5 * (1 + log_var - mu**2 - np.exp(log_var))).mean(0)
    assert kl[3] > 0.5  # the trap: large KL, no information


# ------------------------------------------------------------------ ch6-beta-rate
def test_beta_rate_right_answer_and_mistakes():
    test, train, last_step = ch6_vae.beta_rate_reference()
    # what the solution says: the rate falls as β grows, and at β = 3 the code has all
    # but collapsed (like with like: both models share every other setting)
    assert test[1] < 0.1 * test[0] and test[0] > 1.0
    assert test[1] < 0.1
    assert verdict("ch6-beta-rate", list(test)) is None
    assert "swapped" in verdict("ch6-beta-rate", list(test[::-1]))
    assert "training images" in verdict("ch6-beta-rate", list(train))
    assert "last minibatch" in verdict("ch6-beta-rate", list(last_step))
    assert "check every setting" in verdict("ch6-beta-rate", [test[0] * 1.2, test[1]])
    assert "two rates" in verdict("ch6-beta-rate", test[0])


@pytest.mark.slow  # tiers: trains the chapter's VAE; `make test` runs it
def test_beta_rate_matches_a_student_run():
    digits = kc.vae.load_digits()
    pair = kc.vae.VAE(latent_dim=2, hidden=32, seed=6, copies=2)
    kc.vae.train(pair, digits.train, num_steps=300, beta=[0.5, 3.0], seed=6)
    answer = [kc.vae.evaluate(pair.select(i), digits.test).rate for i in range(2)]
    assert verdict("ch6-beta-rate", answer) is None
