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
def samples_moments():
    q = tfd.Normal(np.float64(1.0), np.float64(0.8))
    mixture = kc.examples.tutorial_mixture()

    def term(x):
        return np.asarray(q.log_prob(x) - mixture.log_prob(x))

    mean = kc.expectation_quadrature(q, term).value
    second = kc.expectation_quadrature(q, lambda x: term(x) ** 2).value
    return mean, second


def test_samples_needed():
    mean, second = samples_moments()
    s = math.sqrt(second - mean**2)
    right = math.ceil((s / 0.005) ** 2)
    assert verdict("ch4-samples-needed", right) is None
    assert "square" in verdict("ch4-samples-needed", s / 0.005)  # forgot to square
    assert "√n" in verdict("ch4-samples-needed", math.sqrt(right))
    assert "second moment" in verdict("ch4-samples-needed", math.ceil(second / 0.005**2))
    assert "single number" in verdict("ch4-samples-needed", [right, right])


def test_samples_needed_is_not_the_printed_q1_rescaled():
    # cell 7 prints q1's standard error at n = 100 000; rescaling it must not pass
    q1 = tfd.Normal(np.float64(3.0), np.float64(1.0))
    _, s1 = kc.estimator_moments(q1, kc.examples.tutorial_mixture(), "k1")
    for target in (0.01, 0.005):
        assert verdict("ch4-samples-needed", math.ceil((s1 / target) ** 2)) is not None


def test_samples_needed_hints_fit_a_sample_size():
    right = math.ceil((math.sqrt(samples_moments()[1] - samples_moments()[0] ** 2) / 0.005) ** 2)
    for wrong in (right * 3, right // 3):
        hint = verdict("ch4-samples-needed", wrong)
        assert "comes first" not in hint and "√n" in hint


# ---------------------------------------------------------------- ch4-k3-estimator
def right_k3(x):
    log_p = -0.5 * x**2 - 0.5 * np.log(2 * np.pi)
    log_q = -0.5 * ((x - 0.3) / 1.1) ** 2 - np.log(1.1) - 0.5 * np.log(2 * np.pi)
    log_r = log_q - log_p
    terms = np.expm1(log_r) - log_r
    return terms.mean(), terms.std(ddof=1) / np.sqrt(terms.size)


def k3_with(x, scale=1.1, normalised=True, terms=None, spread=None):
    """A k3 estimate with one named mistake."""
    log_q = -0.5 * ((x - 0.3) / scale) ** 2 - 0.5 * np.log(2 * np.pi)
    if normalised:
        log_q = log_q - np.log(scale)
    log_r = log_q - (-0.5 * x**2 - 0.5 * np.log(2 * np.pi))
    values = (terms or (lambda lr: np.expm1(lr) - lr))(log_r)
    error = (spread or (lambda t: t.std(ddof=1) / np.sqrt(t.size)))(values)
    return values.mean(), error


def test_k3_estimator_right_answer_and_mistakes():
    assert verdict("ch4-k3-estimator", right_k3) is None
    # population standard deviation is fine too
    assert (
        verdict(
            "ch4-k3-estimator", lambda x: k3_with(x, spread=lambda t: t.std() / np.sqrt(t.size))
        )
        is None
    )
    assert "k1" in verdict("ch4-k3-estimator", lambda x: k3_with(x, terms=lambda lr: -lr))
    assert "k2" in verdict("ch4-k3-estimator", lambda x: k3_with(x, terms=lambda lr: lr**2 / 2))
    upside_down = verdict(
        "ch4-k3-estimator", lambda x: k3_with(x, terms=lambda lr: np.expm1(-lr) + lr)
    )
    assert "upside down" in upside_down
    assert "variance" in verdict("ch4-k3-estimator", lambda x: k3_with(x, scale=np.sqrt(1.1)))
    assert "do not square" in verdict("ch4-k3-estimator", lambda x: k3_with(x, scale=1.21))
    assert "normalising" in verdict("ch4-k3-estimator", lambda x: k3_with(x, normalised=False))
    no_sqrt_n = verdict("ch4-k3-estimator", lambda x: k3_with(x, spread=lambda t: t.std(ddof=1)))
    assert "√n" in no_sqrt_n
    variance = verdict("ch4-k3-estimator", lambda x: k3_with(x, spread=lambda t: t.var(ddof=1)))
    assert "square root" in variance
    assert "store your function" in verdict("ch4-k3-estimator", 0.05)
    assert "pair" in verdict("ch4-k3-estimator", lambda x: right_k3(x)[0])
    assert "not answered" in verdict("ch4-k3-estimator", lambda x: None)


def test_k3_estimator_hints_fit_the_mistake():
    far_off = verdict("ch4-k3-estimator", lambda x: (right_k3(x)[0] * 3, right_k3(x)[1]))
    wrong_se = verdict("ch4-k3-estimator", lambda x: (right_k3(x)[0], right_k3(x)[1] * 3))
    for hint in (far_off, wrong_se):
        assert "comes first" not in hint
    assert "k3 terms" in far_off and "√n" in wrong_se


def test_k3_estimator_rejects_library_shortcuts():
    p, q = tfd.Normal(np.float64(0), np.float64(1)), tfd.Normal(np.float64(0.3), np.float64(1.1))

    def with_log_prob(x):  # right values, but TFP computes the densities
        log_r = q.log_prob(x).numpy() - p.log_prob(x).numpy()
        terms = np.expm1(log_r) - log_r
        return terms.mean(), terms.std(ddof=1) / np.sqrt(terms.size)

    def with_kc(x):
        estimate = kc.kl_monte_carlo(p, q, num_samples=x.size, seed=0, estimator="k3")
        return estimate.value, estimate.error

    def with_moments(x):
        mean, sd = kc.estimator_moments(p, q, "k3")
        return mean, sd / np.sqrt(x.size)

    assert "log_prob" in verdict("ch4-k3-estimator", with_log_prob)
    assert "kl_monte_carlo" in verdict("ch4-k3-estimator", with_kc)
    assert "estimator_moments" in verdict("ch4-k3-estimator", with_moments)


def test_k3_estimator_reports_crashes():
    assert "raised ZeroDivisionError" in verdict("ch4-k3-estimator", lambda x: 1 / 0)


def test_k3_pair_has_finite_variance():
    # E_p[r²] = ∫ q²/p is finite when σ_q² < 2σ_p²; the quadrature moments agree with sampling
    p, q = tfd.Normal(np.float64(0), np.float64(1)), tfd.Normal(np.float64(0.3), np.float64(1.1))
    assert 1.1**2 < 2
    mean, sd = kc.estimator_moments(p, q, "k3")
    assert np.isfinite(sd) and abs(mean - float(tfd.kl_divergence(p, q))) < 1e-9


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


def by_quadrature(b):  # works for one scale only
    return kc.kl_quadrature(
        tfd.Normal(np.float64(0), np.float64(1)), tfd.Laplace(np.float64(0), np.float64(b))
    ).value


def test_laplace_rejects_the_quadrature_shortcut():
    assert "shortcut" in verdict("ch4-laplace-exact", by_quadrature)

    def vectorised(b):  # right values at every scale, by quadrature
        return np.array([by_quadrature(scale) for scale in np.atleast_1d(b)])

    np.testing.assert_allclose(vectorised(np.array([1.0])), right_laplace(1.0), rtol=1e-9)
    assert "shortcut" in verdict("ch4-laplace-exact", vectorised)
    assert "shortcut" in verdict("ch4-laplace-exact", np.vectorize(by_quadrature))

    def expectation(b):
        p = tfd.Normal(np.float64(0), np.float64(1))
        return np.array(
            [
                kc.expectation_quadrature(
                    p,
                    lambda x, s=s: (
                        p.log_prob(x).numpy()
                        - tfd.Laplace(np.float64(0), np.float64(s)).log_prob(x).numpy()
                    ),
                ).value
                for s in b
            ]
        )

    assert "shortcut" in verdict("ch4-laplace-exact", expectation)

    def scipy_quad(b):
        import scipy.integrate

        def integrand(x, s):
            log_p = -0.5 * x**2 - 0.5 * np.log(2 * np.pi)
            return np.exp(log_p) * (log_p + np.log(2 * s) + abs(x) / s)

        return np.array([scipy.integrate.quad(integrand, -np.inf, np.inf, (s,))[0] for s in b])

    assert "shortcut" in verdict("ch4-laplace-exact", scipy_quad)

    def hidden_call(b):  # the name is out of sight; the call is caught while it runs
        quadrature = getattr(kc, "kl_" + "quadrature")
        p = tfd.Normal(np.float64(0), np.float64(1))
        return np.array([quadrature(p, tfd.Laplace(np.float64(0), np.float64(s))).value for s in b])

    assert "shortcut" in verdict("ch4-laplace-exact", hidden_call)
    assert callable(kc.kl_quadrature) and kc.kl_quadrature is kc.divergence.kl_quadrature


def test_laplace_reports_the_real_error():
    def scalar_only(b):  # fails on arrays with its own error, not a shortcut
        if b > 0:
            return right_laplace(b)
        return 0.0

    hint = verdict("ch4-laplace-exact", scalar_only)
    assert "raised ValueError" in hint and "shortcut" not in hint
    assert "one KL per scale" in verdict("ch4-laplace-exact", lambda b: right_laplace(b)[:2])
    assert "comes first" not in verdict("ch4-laplace-exact", lambda b: right_laplace(b) * 2)


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
