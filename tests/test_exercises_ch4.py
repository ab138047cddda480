"""Chapter 4's checkers: the right answer passes; each named mistake and shortcut gets its hint."""

import math
import re

import numpy as np
import pytest
import scipy.special
import tensorflow_probability as tfp

import klcourse as kc

tfd = tfp.distributions


def verdict(id, answer):
    return kc.check._REGISTRY[id].checker(answer)


# ---------------------------------------------------------------- ch4-samples-needed
def samples_spread():
    q1 = tfd.Normal(np.float64(3.0), np.float64(1.0))
    mixture = kc.examples.tutorial_mixture()

    def term(x):
        return np.asarray(q1.log_prob(x) - mixture.log_prob(x))

    mean = kc.expectation_quadrature(q1, term).value
    return math.sqrt(kc.expectation_quadrature(q1, lambda x: term(x) ** 2).value - mean**2)


def test_samples_needed():
    s = samples_spread()
    right = math.ceil((s / 0.01) ** 2)
    assert verdict("ch4-samples-needed", right) is None
    assert "square" in verdict("ch4-samples-needed", s / 0.01)  # forgot to square
    assert "√n" in verdict("ch4-samples-needed", math.sqrt(right))
    assert "single number" in verdict("ch4-samples-needed", [right, right])


# ---------------------------------------------------------------- ch4-k3-estimator
def right_k3(log_r):
    terms = np.expm1(log_r) - log_r
    return terms.mean(), terms.std(ddof=1) / np.sqrt(terms.size)


def test_k3_estimator_right_answer_and_mistakes():
    assert verdict("ch4-k3-estimator", right_k3) is None
    # population standard deviation is fine too
    assert (
        verdict(
            "ch4-k3-estimator",
            lambda lr: (np.mean(np.expm1(lr) - lr), np.std(np.expm1(lr) - lr) / np.sqrt(lr.size)),
        )
        is None
    )
    assert "k1" in verdict("ch4-k3-estimator", lambda lr: (np.mean(-lr), 0.1))
    assert "k2" in verdict("ch4-k3-estimator", lambda lr: (np.mean(0.5 * lr**2), 0.1))
    assert "upside down" in verdict(
        "ch4-k3-estimator", lambda lr: (np.mean(np.expm1(-lr) + lr), 0.1)
    )
    no_sqrt_n = verdict(
        "ch4-k3-estimator", lambda lr: (np.mean(np.expm1(lr) - lr), np.std(np.expm1(lr) - lr))
    )
    assert "√n" in no_sqrt_n
    assert "store your function" in verdict("ch4-k3-estimator", 0.05)
    assert "pair" in verdict("ch4-k3-estimator", lambda lr: np.mean(np.expm1(lr) - lr))


def test_k3_estimator_reports_crashes():
    assert "raised ZeroDivisionError" in verdict("ch4-k3-estimator", lambda lr: 1 / 0)


# ---------------------------------------------------------------- ch4-laplace-exact
def right_laplace(b):
    b = np.asarray(b, dtype=np.float64)
    return -0.5 * np.log(2 * np.pi) - 0.5 + np.log(2 * b) + np.sqrt(2 / np.pi) / b


def test_laplace_right_answer_and_mistakes():
    assert verdict("ch4-laplace-exact", right_laplace) is None
    assert "log 2" in verdict("ch4-laplace-exact", lambda b: right_laplace(b) - np.log(2))
    e_abs_one = verdict(
        "ch4-laplace-exact", lambda b: right_laplace(b) + (1 - np.sqrt(2 / np.pi)) / b
    )
    assert "E|x|" in e_abs_one
    assert "entropy" in verdict("ch4-laplace-exact", lambda b: right_laplace(b) + 0.5)
    assert "not a number" in verdict("ch4-laplace-exact", float(right_laplace(1.0)))


def test_laplace_rejects_the_quadrature_shortcut():
    def by_quadrature(b):  # works for one scale only
        return kc.kl_quadrature(
            tfd.Normal(np.float64(0), np.float64(1)), tfd.Laplace(np.float64(0), np.float64(b))
        ).value

    assert "shortcut" in verdict("ch4-laplace-exact", by_quadrature)


# ---------------------------------------------------------------- ch4-gradient-variance
def test_gradient_variance_right_answer_and_mistakes():
    p = tfd.Normal(np.float64(0.0), np.float64(0.2))
    var = {
        name: kc.gradients.kl_gradient_samples(
            0.5, 1.0, p, num_samples=200_000, seed=0, estimator=name
        ).var(axis=0)
        for name in kc.gradients.GRADIENT_ESTIMATORS
    }
    right = var["score_function"] / var["reparameterization"]
    assert verdict("ch4-gradient-variance", right) is None
    assert "standard deviations" in verdict("ch4-gradient-variance", np.sqrt(right))
    assert "upside down" in verdict("ch4-gradient-variance", 1 / right)
    assert "swapped" in verdict("ch4-gradient-variance", right[::-1])
    assert "two ratios" in verdict("ch4-gradient-variance", right[0])


# ---------------------------------------------------------------- ch4-policy-pitfall
def softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def right_policy(logits, ref_logits):
    pi, ref = softmax(logits), softmax(ref_logits)
    gradient = np.zeros_like(pi)
    for a in range(len(pi)):
        gradient += pi[a] * (1 - ref[a] / pi[a]) * (np.eye(len(pi))[a] - pi)
    return gradient


def test_policy_pitfall_right_answer():
    assert verdict("ch4-policy-pitfall", right_policy) is None
    # the closed form a derivation gives is right too
    assert verdict("ch4-policy-pitfall", lambda z, r: softmax(z) - softmax(r)) is None


def test_policy_pitfall_mistakes():
    def reverse(z, r):
        pi, ref = softmax(z), softmax(r)
        return pi * (np.log(pi / ref) - np.sum(pi * np.log(pi / ref)))

    def unweighted(z, r):
        pi, ref = softmax(z), softmax(r)
        return np.mean(
            [(1 - ref[a] / pi[a]) * (np.eye(len(pi))[a] - pi) for a in range(len(pi))], 0
        )

    def inverted(z, r):
        pi, ref = softmax(z), softmax(r)
        return sum(pi[a] * (1 - pi[a] / ref[a]) * (np.eye(len(pi))[a] - pi) for a in range(len(pi)))

    assert "reverse KL" in verdict("ch4-policy-pitfall", reverse)
    assert "k1" in verdict("ch4-policy-pitfall", lambda z, r: np.zeros_like(z))
    assert "probability" in verdict("ch4-policy-pitfall", unweighted)
    assert "wrong sign" in verdict("ch4-policy-pitfall", lambda z, r: softmax(r) - softmax(z))
    assert "upside down" in verdict("ch4-policy-pitfall", inverted)
    assert "not its value" in verdict("ch4-policy-pitfall", np.zeros(4))


def test_policy_pitfall_rejects_the_package_shortcut():
    def shortcut(z, r):
        return kc.gradients.expected_kl_penalty_gradient(z, r, estimator="k3")

    def closed_form_shortcut(z, r):
        return kc.gradients.categorical_kl_gradients(z, r).forward

    assert "write it yourself" in verdict("ch4-policy-pitfall", shortcut)
    assert "write it yourself" in verdict("ch4-policy-pitfall", closed_form_shortcut)

    def chapter7_shortcut(z, r):  # the bandit as a one-token sequence space
        space = kc.policy.SequenceSpace(vocab_size=len(z), length=1)
        pi = scipy.special.softmax(z)
        grads = kc.policy.estimator_gradients(space, z[None], r[None], "k3")
        return pi @ grads[:, 0, :]

    z, r = np.array([0.2, -1.0, 0.7]), np.array([-0.5, 0.4, 0.1])
    np.testing.assert_allclose(  # it would pass if the checker did not stop it
        chapter7_shortcut(z, r),
        kc.gradients.expected_kl_penalty_gradient(z, r, estimator="k3"),
        atol=1e-12,
    )
    assert "write it yourself" in verdict("ch4-policy-pitfall", chapter7_shortcut)
    # and the patch is undone afterwards
    assert callable(kc.gradients.expected_kl_penalty_gradient)
    np.testing.assert_allclose(
        kc.gradients.expected_kl_penalty_gradient([0.0, 1.0], [0.0, 1.0], estimator="k3"), 0.0
    )


@pytest.mark.parametrize(
    "id", ["ch4-k3-estimator", "ch4-laplace-exact", "ch4-gradient-variance", "ch4-policy-pitfall"]
)
def test_hints_do_not_reveal_numbers(id):
    for wrong in (0.123, [0.5, 0.5], lambda *a: 0.0):
        hint = verdict(id, wrong)
        assert hint is not None and not re.search(r"\d\.\d", hint)  # no values shown
