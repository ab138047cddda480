"""klcourse.policy: every exact quantity against an independent route (finite differences,
direct sums, TensorFlow autodiff, seeded sampling), the chain rule as a property, and
every validation error."""

import math

import numpy as np
import pytest
import scipy.special
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from klcourse import kl_discrete, policy

SPACE = policy.SequenceSpace(3, 3)


def random_logits(seed, space=SPACE, scale=1.0):
    return np.random.default_rng(seed).normal(
        scale=scale, size=(space.num_prefixes, space.vocab_size)
    )


def probs_of(logits, space=SPACE):
    return np.exp(policy.log_probs(space, logits))


def finite_difference(f, x, h=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = h
        grad[i] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


def test_space_enumerates_sequences_and_prefixes():
    space = policy.SequenceSpace(2, 3)
    assert space.sequences.tolist()[:3] == [[0, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert space.num_prefixes == 1 + 2 + 4
    # Prefix (1, 0) is the third of the length-2 prefixes: 1 + 2 + 2 = row 5.
    assert space.prefix_index[
        np.flatnonzero((space.sequences == [1, 0, 1]).all(1))[0]
    ].tolist() == [
        0,
        2,
        5,
    ]
    assert space.prefix_length.tolist() == [0, 1, 1, 2, 2, 2, 2]
    assert space.gather_index.shape == (8, 3, 2)


def test_log_probs_equal_a_direct_product_of_conditionals():
    logits = random_logits(0)
    conditionals = scipy.special.softmax(logits, axis=-1)
    for i, seq in enumerate(SPACE.sequences):
        direct = 1.0
        for t, token in enumerate(seq):
            code = int("".join(map(str, seq[:t])) or "0", 3) if t else 0
            row = sum(3**k for k in range(t)) + code
            direct *= conditionals[row, token]
        assert math.isclose(probs_of(logits)[i], direct, rel_tol=1e-12)


def test_logits_from_probs_round_trips_any_distribution():
    probs = np.random.default_rng(1).dirichlet(np.ones(SPACE.num_sequences))
    logits = policy.logits_from_probs(SPACE, probs)
    np.testing.assert_allclose(probs_of(logits), probs, rtol=1e-12)


def test_optimal_policy_maximises_the_objective():
    rng = np.random.default_rng(2)
    ref = rng.dirichlet(np.ones(6))
    reward = rng.normal(size=6)
    best = policy.optimal_policy(ref, reward, 0.7)
    value = policy.regularised_objective(best, ref, reward, 0.7)
    log_z = math.log(np.sum(ref * np.exp(reward / 0.7)))
    assert math.isclose(value, 0.7 * log_z, rel_tol=1e-12)
    # J(π) = β log Z - β KL(π‖π*) for any π:
    for other in rng.dirichlet(np.ones(6), size=5):
        assert math.isclose(
            policy.regularised_objective(other, ref, reward, 0.7),
            0.7 * log_z - 0.7 * kl_discrete(other, best),
            rel_tol=1e-10,
        )


def test_optimal_policy_is_stable_for_tiny_beta():
    best = policy.optimal_policy([0.5, 0.5], [0.0, 1.0], 1e-4)
    np.testing.assert_allclose(best, [0.0, 1.0], atol=1e-300)


def test_maximise_finds_the_closed_form_optimum():
    ref, reward = policy.toy_bandit()

    def objective(logits):
        log_p = tf.nn.log_softmax(logits)
        kl = tf.reduce_sum(tf.exp(log_p) * (log_p - np.log(ref)))
        return tf.reduce_sum(tf.exp(log_p) * reward) - 0.3 * kl

    logits, value = policy.maximise(objective, np.zeros(5), num_steps=1000, learning_rate=0.1)
    np.testing.assert_allclose(
        scipy.special.softmax(logits), policy.optimal_policy(ref, reward, 0.3), atol=1e-6
    )


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_chain_rule_property(seed):
    logits, ref_logits = random_logits(seed), random_logits(seed + 1)
    positions, _ = policy.token_kls(SPACE, logits, ref_logits)
    assert math.isclose(
        positions.sum(), kl_discrete(probs_of(logits), probs_of(ref_logits)), rel_tol=1e-10
    )
    assert np.all(positions >= 0)


def test_estimator_means_exactly():
    logits, ref_logits = random_logits(3), random_logits(4)
    p = probs_of(logits)
    kl = kl_discrete(p, probs_of(ref_logits))
    for name, per_token in [("k1", True), ("k3", True), ("k3", False), ("analytic", True)]:
        values = policy.estimator_values(SPACE, logits, ref_logits, name, per_token=per_token)
        assert math.isclose(p @ values, kl, rel_tol=1e-10), name
    for per_token in (True, False):
        values = policy.estimator_values(SPACE, logits, ref_logits, "k2", per_token=per_token)
        assert abs(p @ values - kl) > 1e-3  # biased


def test_sampled_estimates_agree_within_standard_error():
    logits, ref_logits = random_logits(5), random_logits(6)
    p = probs_of(logits)
    kl = kl_discrete(p, probs_of(ref_logits))
    draws = policy.sample_sequences(p, 20_000, seed=0)
    values = policy.estimator_values(SPACE, logits, ref_logits, "k3")[draws]
    # 4 standard errors: a false alarm has probability about 1e-4.
    assert abs(values.mean() - kl) < 4 * values.std(ddof=1) / math.sqrt(draws.size)
    np.testing.assert_allclose(np.bincount(draws, minlength=p.size) / draws.size, p, atol=0.01)


def test_score_vectors_match_finite_differences():
    logits = random_logits(7)
    scores = policy.score_vectors(SPACE, logits).sum(axis=1)
    for i in (0, 5, 26):
        fd = finite_difference(lambda x, i=i: policy.log_probs(SPACE, x)[i], logits)
        np.testing.assert_allclose(scores[i], fd, atol=1e-8)


@pytest.mark.parametrize("direction", ["reverse", "forward"])
def test_kl_gradient_matches_finite_differences(direction):
    logits, ref_logits = random_logits(8), random_logits(9)
    ref = probs_of(ref_logits)

    def kl(x):
        p = probs_of(x)
        return kl_discrete(p, ref) if direction == "reverse" else kl_discrete(ref, p)

    np.testing.assert_allclose(
        policy.kl_gradient(SPACE, logits, ref_logits, direction),
        finite_difference(kl, logits),
        atol=1e-8,
    )


def test_estimators_as_losses_against_tensorflow():
    """Per-sequence gradients equal autodiff of the loss with the sequence held fixed."""
    logits, ref_logits = random_logits(10), random_logits(11)
    for name in ("k1", "k2", "k3"):
        for per_token in (True, False):
            grads = policy.estimator_gradients(SPACE, logits, ref_logits, name, per_token=per_token)
            for i in (0, 13):
                variable = tf.Variable(logits)
                ref_lp = policy.token_log_probs(SPACE, ref_logits)[i]
                with tf.GradientTape() as tape:
                    lp = tf.gather_nd(tf.nn.log_softmax(variable), SPACE.gather_index[i])
                    log_r = ref_lp - lp
                    if not per_token:
                        log_r = tf.reduce_sum(log_r)
                    term = {"k1": -log_r, "k2": 0.5 * log_r**2, "k3": tf.exp(log_r) - 1 - log_r}
                    loss = tf.reduce_sum(term[name])
                np.testing.assert_allclose(
                    grads[i], tape.gradient(loss, variable).numpy(), atol=1e-12
                )


def test_expected_estimator_gradients_are_the_kl_gradients():
    logits, ref_logits = random_logits(12), random_logits(13)
    p = probs_of(logits)

    def expected(name, per_token):
        g = policy.estimator_gradients(SPACE, logits, ref_logits, name, per_token=per_token)
        return np.einsum("s,spv->pv", p, g)

    np.testing.assert_allclose(expected("k1", True), 0, atol=1e-14)
    reverse = policy.kl_gradient(SPACE, logits, ref_logits)
    forward = policy.kl_gradient(SPACE, logits, ref_logits, "forward")
    np.testing.assert_allclose(expected("k2", False), reverse, atol=1e-12)
    np.testing.assert_allclose(expected("k3", False), forward, atol=1e-12)
    # The per-token sums are neither (regression: they were once assumed equal).
    assert np.abs(expected("k2", True) - reverse).max() > 1e-3
    assert np.abs(expected("k3", True) - forward).max() > 1e-3
    # On a bandit (one token) per token and per answer coincide.
    bandit = policy.SequenceSpace(4, 1)
    b_logits, b_ref = random_logits(14, bandit), random_logits(15, bandit)
    for name in ("k2", "k3"):
        np.testing.assert_allclose(
            policy.estimator_gradients(bandit, b_logits, b_ref, name),
            policy.estimator_gradients(bandit, b_logits, b_ref, name, per_token=False),
        )


def test_penalty_in_the_reward_gives_the_reverse_kl_gradient():
    logits, ref_logits = random_logits(16), random_logits(17)
    penalty = policy.token_log_probs(SPACE, logits) - policy.token_log_probs(SPACE, ref_logits)
    g = np.einsum("s,spv->pv", probs_of(logits), policy.reinforce_gradients(SPACE, logits, penalty))
    np.testing.assert_allclose(g, policy.kl_gradient(SPACE, logits, ref_logits), atol=1e-12)


def test_forward_regularised_policy_is_stationary_and_optimal():
    ref, reward = policy.toy_bandit()
    found = policy.forward_regularised_policy(ref, reward, 0.3)

    def objective(logits):
        p = scipy.special.softmax(logits)
        return p @ reward - 0.3 * kl_discrete(ref, p)

    grad = finite_difference(objective, np.log(found))
    np.testing.assert_allclose(grad, 0, atol=1e-8)
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert objective(np.log(found) + 0.1 * rng.normal(size=5)) < objective(np.log(found))


def test_dpo_loss_gradient_and_optimum():
    space, ref_logits, reward = policy.tiny_language_model()
    ref_lp = policy.log_probs(space, ref_logits)
    prefs = policy.bradley_terry_preferences(reward, np.outer(np.exp(ref_lp), np.exp(ref_lp)))
    x = np.random.default_rng(0).normal(size=ref_lp.size)
    _, grad = policy.dpo_loss(x, ref_lp, 0.5, prefs)
    fd = finite_difference(lambda y: policy.dpo_loss(y, ref_lp, 0.5, prefs)[0], x)
    np.testing.assert_allclose(grad, fd, atol=1e-8)
    best = np.log(policy.optimal_policy(np.exp(ref_lp), reward, 0.5))
    np.testing.assert_allclose(policy.dpo_loss(best, ref_lp, 0.5, prefs)[1], 0, atol=1e-15)


def test_dpo_loss_matches_a_per_pair_sum():
    ref_lp = np.log([0.2, 0.3, 0.5])
    logits = np.array([0.1, -0.4, 0.3])
    prefs = np.array([[0, 2.0, 0], [0, 0, 1.0], [0.5, 0, 0]])
    h = 0.7 * (scipy.special.log_softmax(logits) - ref_lp)
    direct = -(
        2 * np.log(scipy.special.expit(h[0] - h[1]))
        + np.log(scipy.special.expit(h[1] - h[2]))
        + 0.5 * np.log(scipy.special.expit(h[2] - h[0]))
    )
    assert math.isclose(policy.dpo_loss(logits, ref_lp, 0.7, prefs)[0], direct, rel_tol=1e-12)


def test_fisher_is_the_local_quadratic_of_kl():
    logits = random_logits(18)
    fisher = policy.fisher_information(SPACE, logits)
    # Bandit closed form diag(π) - ππᵀ for each row, weighted by reaching the prefix.
    assert np.allclose(fisher, fisher.T) and np.linalg.eigvalsh(fisher).min() > -1e-12
    direction = np.random.default_rng(0).normal(size=logits.shape)
    errors = []
    for size in (1e-2, 1e-3):
        delta = size * direction
        exact = kl_discrete(probs_of(logits), probs_of(logits + delta))
        errors.append(abs(exact / (0.5 * delta.ravel() @ fisher @ delta.ravel()) - 1))
    assert errors[1] < errors[0] / 5 and errors[1] < 1e-2


def test_fisher_of_a_bandit_is_the_softmax_covariance():
    p = np.array([0.1, 0.2, 0.7])
    fisher = policy.fisher_information(policy.SequenceSpace(3, 1), np.log(p)[None])
    np.testing.assert_allclose(fisher, np.diag(p) - np.outer(p, p), atol=1e-15)


def test_natural_gradient_step_meets_the_budget_and_beats_other_directions():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    fisher = np.diag(p) - np.outer(p, p)
    g = np.array([0.3, -0.1, 0.2, -0.4])
    step = policy.natural_gradient_step(fisher, g, 0.05)
    assert math.isclose(0.5 * step @ fisher @ step, 0.05, rel_tol=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(100):  # any other direction with the same budget gains less
        other = rng.normal(size=4)
        other *= math.sqrt(2 * 0.05 / (other @ fisher @ other))
        assert g @ other <= g @ step + 1e-12


def test_generalised_jsd_limits():
    p, q = np.array([0.1, 0.6, 0.3]), np.array([0.4, 0.4, 0.2])
    m = 0.5 * (p + q)
    assert math.isclose(
        policy.generalised_jsd(p, q, 0.5),
        0.5 * kl_discrete(p, m) + 0.5 * kl_discrete(q, m),
        rel_tol=1e-12,
    )
    assert math.isclose(policy.generalised_jsd(p, q, 1e-6) / 1e-6, kl_discrete(p, q), rel_tol=1e-4)
    assert math.isclose(
        policy.generalised_jsd(p, q, 1 - 1e-6) / 1e-6, kl_discrete(q, p), rel_tol=1e-4
    )


def test_distillation_loss_gradient_and_high_temperature_limit():
    rng = np.random.default_rng(0)
    z, v = rng.normal(size=6), rng.normal(size=6)
    for temperature in (0.5, 2.0):
        _, grad = policy.distillation_loss(z, v, temperature)
        fd = finite_difference(lambda x, t=temperature: policy.distillation_loss(z, x, t)[0], v)
        np.testing.assert_allclose(grad, fd, atol=1e-7)
    z, v = z - z.mean(), v - v.mean()
    _, grad = policy.distillation_loss(z, v, 1e4)
    np.testing.assert_allclose(grad, (v - z) / 6, rtol=1e-3)


def test_students_of_the_three_bump_teacher():
    teacher, starts = policy.three_bump_teacher()
    forward = policy.fit_student(teacher, "forward", starts)
    reverse = policy.fit_student(teacher, "reverse", starts)
    assert min(f[1] for f in forward) > 6  # covers all bumps from every start
    np.testing.assert_allclose([f[0] for f in reverse[:3]], [4, 11, 18], atol=0.05)
    # The forward-KL fit's gradient vanishes: check by a finite-difference probe.
    mu, sigma, value = forward[0]
    for d_mu, d_sigma in [(1e-3, 0), (0, 1e-3), (-1e-3, 0), (0, -1e-3)]:
        q = policy.bump_distribution(mu + d_mu, sigma + d_sigma, teacher.size)
        assert kl_discrete(teacher, q) >= value - 1e-12


def test_bump_distribution_normalised():
    q = policy.bump_distribution(2.5, 1.0, 6)
    assert math.isclose(q.sum(), 1.0, rel_tol=1e-12) and math.isclose(q[2], q[3], rel_tol=1e-12)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: policy.SequenceSpace(1, 2), ValueError, "vocab_size"),
        (lambda: policy.SequenceSpace(3, 0), ValueError, "length"),
        (lambda: policy.SequenceSpace(3.0, 2), TypeError, "vocab_size"),
        (lambda: policy.log_probs(SPACE, np.zeros((3, 3))), ValueError, "logits"),
        (lambda: policy.log_probs(SPACE, "x"), TypeError, "logits"),
        (lambda: policy.logits_from_probs(SPACE, np.ones(5) / 5), ValueError, "probs"),
        (
            lambda: policy.logits_from_probs(SPACE, np.r_[1.0, np.zeros(26)]),
            ValueError,
            "positive",
        ),
        (lambda: policy.optimal_policy([0.5, 0.5], [1.0], 1.0), ValueError, "reward"),
        (lambda: policy.optimal_policy([0.5, 0.5], [1.0, 0.0], 0.0), ValueError, "beta"),
        (lambda: policy.optimal_policy([0.5, 0.6], [1.0, 0.0], 1.0), ValueError, "ref_probs"),
        (
            lambda: policy.regularised_objective([0.5, 0.5], [0.5, 0.5], [0, 1], -1.0),
            ValueError,
            "beta",
        ),
        (
            lambda: policy.regularised_objective([1.0], [0.5, 0.5], [0, 1], 1.0),
            ValueError,
            "same shape",
        ),
        (lambda: policy.sample_sequences([0.5, 0.5], 0, 1), ValueError, "num_samples"),
        (lambda: policy.sample_sequences([0.5, 0.5], 3, -1), ValueError, "seed"),
        (
            lambda: policy.estimator_values(SPACE, random_logits(0), random_logits(1), "k4"),
            ValueError,
            "estimator",
        ),
        (
            lambda: policy.kl_gradient(SPACE, random_logits(0), random_logits(1), "up"),
            ValueError,
            "direction",
        ),
        (
            lambda: policy.reinforce_gradients(SPACE, random_logits(0), np.zeros((27, 2))),
            ValueError,
            "token_rewards",
        ),
        (
            lambda: policy.forward_regularised_policy([1.0, 0.0], [0.0, 1.0], 1.0),
            ValueError,
            "positive",
        ),
        (
            lambda: policy.bradley_terry_preferences([0.0, 1.0], np.ones((3, 3))),
            ValueError,
            "pair_weights",
        ),
        (
            lambda: policy.bradley_terry_preferences([0.0, 1.0], -np.ones((2, 2))),
            ValueError,
            "non-negative",
        ),
        (
            lambda: policy.dpo_loss(np.zeros(2), np.zeros(3), 1.0, np.ones((2, 2))),
            ValueError,
            "logits",
        ),
        (
            lambda: policy.dpo_loss(np.zeros(2), np.zeros(2), 1.0, np.ones((3, 3))),
            ValueError,
            "preferences",
        ),
        (
            lambda: policy.natural_gradient_step(np.eye(3), np.ones(2), 0.1),
            ValueError,
            "fisher",
        ),
        (
            lambda: policy.natural_gradient_step(np.zeros((2, 2)), np.ones(2), 0.1),
            ValueError,
            "no component",
        ),
        (lambda: policy.natural_gradient_step(np.eye(2), np.ones(2), 0.0), ValueError, "max_kl"),
        (lambda: policy.generalised_jsd([0.5, 0.5], [0.5, 0.5], 1.0), ValueError, "beta"),
        (lambda: policy.soft_targets([0.0, 1.0], 0.0), ValueError, "temperature"),
        (
            lambda: policy.distillation_loss([0.0, 1.0], [0.0, 1.0, 2.0], 1.0),
            ValueError,
            "same shape",
        ),
        (lambda: policy.bump_distribution(0.0, 0.0, 5), ValueError, "scale"),
        (lambda: policy.bump_distribution(0.0, 1.0, 1), ValueError, "num_tokens"),
        (lambda: policy.fit_student([0.5, 0.5], "both", [(0, 1)]), ValueError, "loss"),
        (lambda: policy.maximise(3, [0.0]), TypeError, "objective"),
    ],
)
def test_validation_names_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()
