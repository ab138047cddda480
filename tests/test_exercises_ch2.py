"""Chapter 2's checkers: each accepts the right answer and names each common mistake."""

import math

import numpy as np
import scipy.spatial.distance
import tensorflow_probability as tfp

import klcourse as kc

tfd = tfp.distributions


def verdict(exercise_id, answer):
    checker = {e.id: e.checker for e in kc.check.exercises()}[exercise_id]
    return checker(answer)


# ---------------------------------------------------------------- ch2-both-directions
def test_both_directions():
    right = np.array([kc.kl_normal(0, 1, 1, 2), kc.kl_normal(1, 2, 0, 1)])
    assert verdict("ch2-both-directions", right) is None
    assert "swapped" in verdict("ch2-both-directions", right[::-1])
    assert "shape" in verdict("ch2-both-directions", right[0])


# ---------------------------------------------------------------- ch2-jeffreys
def test_jeffreys():
    p, q = np.array([0.2, 0.3, 0.5]), np.array([0.4, 0.4, 0.2])
    right = float(np.sum((p - q) * np.log(p / q)))
    assert verdict("ch2-jeffreys", right) is None
    assert "one direction" in verdict("ch2-jeffreys", kc.kl_discrete(p, q))
    assert "one direction" in verdict("ch2-jeffreys", kc.kl_discrete(q, p))
    assert "average" in verdict("ch2-jeffreys", right / 2)
    assert "bits" in verdict("ch2-jeffreys", right / math.log(2))
    hint = verdict("ch2-jeffreys", right + 0.2)
    # Jeffreys is symmetric: the order of the arguments cannot be the mistake.
    assert "too large" in hint and "comes first" not in hint


# ---------------------------------------------------------------- ch2-js-bits
P_JS, Q_JS = np.array([0.5, 0.3, 0.2, 0.0]), np.array([0.0, 0.1, 0.3, 0.6])


def test_js_bits():
    m = (P_JS + Q_JS) / 2
    to_p, to_q = kc.kl_discrete(P_JS, m, base=2), kc.kl_discrete(Q_JS, m, base=2)
    right = (to_p + to_q) / 2
    assert 0.1 < right < 0.9  # overlapping supports: neither 0 nor the maximum of 1 bit
    distance = scipy.spatial.distance.jensenshannon(P_JS, Q_JS, base=2)
    assert verdict("ch2-js-bits", distance**2) is None
    assert verdict("ch2-js-bits", right) is None
    assert "square it" in verdict("ch2-js-bits", distance)
    assert "average" in verdict("ch2-js-bits", to_p + to_q)
    assert "one of the two" in verdict("ch2-js-bits", to_p)
    assert "bits" in verdict("ch2-js-bits", right * math.log(2))
    hint = verdict("ch2-js-bits", right + 0.05)
    assert "mixture" in hint and "comes first" not in hint


# ---------------------------------------------------------------- ch2-mvn-direction
SIGMA = np.array([[2.0, 1.2], [1.2, 1.0]])


def test_mvn_direction():
    p = tfd.MultivariateNormalTriL(loc=np.zeros(2), scale_tril=np.linalg.cholesky(SIGMA))
    q = tfd.MultivariateNormalDiag(loc=np.zeros(2), scale_diag=np.sqrt([1.0, 0.5]))
    assert verdict("ch2-mvn-direction", float(tfd.kl_divergence(q, p))) is None
    # float32, TFP's default dtype, is accepted too
    p32 = tfd.MultivariateNormalTriL(
        loc=[0.0, 0.0], scale_tril=np.linalg.cholesky(SIGMA).astype("f4")
    )
    q32 = tfd.MultivariateNormalDiag(loc=[0.0, 0.0], scale_diag=np.sqrt([1.0, 0.5]).astype("f4"))
    assert verdict("ch2-mvn-direction", float(tfd.kl_divergence(q32, p32))) is None
    assert "KL(full‖diagonal)" in verdict("ch2-mvn-direction", float(tfd.kl_divergence(p, q)))
    q_variances = tfd.MultivariateNormalDiag(loc=np.zeros(2), scale_diag=[1.0, 0.5])
    assert "standard deviations" in verdict(
        "ch2-mvn-direction", float(tfd.kl_divergence(q_variances, p))
    )
    # Σ itself passed as the scale gives the covariance Σ Σᵀ
    assert "Cholesky" in verdict(
        "ch2-mvn-direction", kc.kl_mvn(np.zeros(2), np.diag([1.0, 0.5]), np.zeros(2), SIGMA @ SIGMA)
    )


# ---------------------------------------------------------------- ch2-my-kl-mvn
def my_kl_mvn(mu_p, cov_p, mu_q, cov_q):
    d = len(mu_p)
    diff = mu_q - mu_p
    trace = np.trace(np.linalg.solve(cov_q, cov_p))
    quad = diff @ np.linalg.solve(cov_q, diff)
    logdet = np.linalg.slogdet(cov_q)[1] - np.linalg.slogdet(cov_p)[1]
    return 0.5 * (trace + quad - d + logdet)


def test_my_kl_mvn():
    assert verdict("ch2-my-kl-mvn", my_kl_mvn) is None
    assert "KL(q‖p)" in verdict("ch2-my-kl-mvn", lambda a, b, c, d: my_kl_mvn(c, d, a, b))

    def flipped(mu_p, cov_p, mu_q, cov_q):
        return my_kl_mvn(mu_p, cov_p, mu_q, cov_q) - (
            np.linalg.slogdet(cov_q)[1] - np.linalg.slogdet(cov_p)[1]
        )

    assert "upside down" in verdict("ch2-my-kl-mvn", flipped)
    assert "−d" in verdict("ch2-my-kl-mvn", lambda a, b, c, d: my_kl_mvn(a, b, c, d) + len(a) / 2)
    assert "½" in verdict("ch2-my-kl-mvn", lambda *args: 2 * my_kl_mvn(*args))
    assert "kl_mvn" in verdict("ch2-my-kl-mvn", lambda *args: kc.kl_mvn(*args))

    def with_tfp(mu_p, cov_p, mu_q, cov_q):
        p = tfd.MultivariateNormalTriL(mu_p, np.linalg.cholesky(cov_p))
        q = tfd.MultivariateNormalTriL(mu_q, np.linalg.cholesky(cov_q))
        return float(tfd.kl_divergence(p, q))

    assert "kl_divergence" in verdict("ch2-my-kl-mvn", with_tfp)


def test_my_kl_mvn_not_a_function_or_unanswered():
    assert "not a number" in verdict("ch2-my-kl-mvn", 0.5)
    assert "returns nothing" in verdict("ch2-my-kl-mvn", lambda mu_p, cov_p, mu_q, cov_q: None)
    assert "returns nothing" in verdict("ch2-my-kl-mvn", lambda *args: ...)


# ---------------------------------------------------------------- ch2-shift
COV = np.array([[1.0, 0.8], [0.8, 1.0]])


def test_shift():
    along, across = np.array([1.0, 1.0]), np.array([1.0, -1.0])
    right = np.array([0.5 * s @ np.linalg.solve(COV, s) for s in (along, across)])
    assert verdict("ch2-shift", right) is None
    assert "swapped" in verdict("ch2-shift", right[::-1])
    assert "identity" in verdict("ch2-shift", np.array([1.0, 1.0]))
    assert "not Σ" in verdict("ch2-shift", np.array([0.5 * s @ COV @ s for s in (along, across)]))
    assert "½" in verdict("ch2-shift", 2 * right)
    hint = verdict("ch2-shift", right + [0.1, 0.0])
    assert "1 of its 2 entries" in hint
