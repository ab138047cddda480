"""Chapter 3's checkers: each accepts the right answer and names each common mistake.

Every test feeds a checker what a student might write (the right answer, a named
mistake, the shortcut the exercise forbids) and asserts the verdict: ``None`` for
correct, otherwise a hint that must not contain the expected value.
"""

import numpy as np
import pytest
import tensorflow as tf

import klcourse as kc
from klcourse.exercises import ch3_forward_reverse as ch3
from klcourse.vi import mean_field_optimum


def verdict(exercise_id, answer):
    checker = {e.id: e.checker for e in kc.check.exercises()}[exercise_id]
    return checker(answer)


# ---------------------------------------------------------------- ch3-reverse-optimum
SIGMA = np.array([[2.0, 0.9], [0.9, 1.0]])
RIGHT_VARIANCES = 1 / np.diag(np.linalg.inv(SIGMA))


def test_reverse_optimum():
    assert verdict("ch3-reverse-optimum", RIGHT_VARIANCES) is None
    assert "forward-KL" in verdict("ch3-reverse-optimum", np.diag(SIGMA))
    assert "standard deviations" in verdict("ch3-reverse-optimum", np.sqrt(RIGHT_VARIANCES))
    assert "inverts the diagonal" in verdict("ch3-reverse-optimum", 1 / np.diag(SIGMA))
    assert "reciprocals" in verdict("ch3-reverse-optimum", np.diag(np.linalg.inv(SIGMA)))
    hint = verdict("ch3-reverse-optimum", RIGHT_VARIANCES * 1.1)
    assert hint and f"{RIGHT_VARIANCES[0]:.3f}" not in hint
    assert "shape" in verdict("ch3-reverse-optimum", RIGHT_VARIANCES[0])


# ---------------------------------------------------------------- ch3-optimal-values-3d
SIGMA_3D = np.array([[1.0, 0.6, 0.3], [0.6, 2.0, 0.5], [0.3, 0.5, 1.5]])


def _kl(cov_p, cov_q):
    return kc.kl_mvn(np.zeros(3), cov_p, np.zeros(3), cov_q)


def test_optimal_values_3d():
    reverse_q, forward_q = mean_field_optimum(SIGMA_3D), np.diag(np.diag(SIGMA_3D))
    reverse, forward = _kl(reverse_q, SIGMA_3D), _kl(SIGMA_3D, forward_q)
    assert abs(reverse - forward) > 1e-3  # the exercise's point: no 3-D coincidence
    assert verdict("ch3-optimal-values-3d", [reverse, forward]) is None
    assert "swapped" in verdict("ch3-optimal-values-3d", [forward, reverse])
    assert "equal" in verdict("ch3-optimal-values-3d", [forward, forward])
    assert "with q first" in verdict("ch3-optimal-values-3d", [_kl(SIGMA_3D, reverse_q), forward])
    assert "with p first" in verdict("ch3-optimal-values-3d", [reverse, _kl(forward_q, SIGMA_3D)])
    hint = verdict("ch3-optimal-values-3d", [reverse, 1.2 * forward])
    assert "forward value" in hint and f"{forward:.3f}" not in hint
    assert "shape" in verdict("ch3-optimal-values-3d", reverse)


# ---------------------------------------------------------------- ch3-watershed
@pytest.mark.slow  # tiers: seconds of work; `make unit` skips it
def test_watershed():
    # The switch lies between 0.30 and 0.35 for these settings; 0.325 tests 0.175, 0.475.
    assert ch3._mode(ch3.reverse_fit_end(0.30)) == "left"
    assert ch3._mode(ch3.reverse_fit_end(0.35)) == "right"
    assert verdict("ch3-watershed", 0.325) is None
    assert "move b right" in verdict("ch3-watershed", 0.0)  # "by symmetry": wrong
    assert "move b left" in verdict("ch3-watershed", 0.8)
    assert "one number" in verdict("ch3-watershed", [0.3, 0.4])
    assert "one finite number" in verdict("ch3-watershed", float("nan"))


@pytest.mark.slow  # tiers: seconds of work; `make unit` skips it
def test_watershed_start_too_far_out():
    # From 100, Adam's steps of about the learning rate cannot reach either mode in
    # 1500 steps: neither fit settles, and the hint says so.
    assert ch3._mode(ch3.reverse_fit_end(100.0)) is None
    assert "not settled on either mode" in verdict("ch3-watershed", 100.0)


# ---------------------------------------------------------------- ch3-fit-loop
def make_loop(
    *,
    sign=-1.0,
    reduce=tf.reduce_mean,
    optimizer="adam",
    apply=True,
    record_after=False,
    outside_tape=False,
):
    """A student's my_mle_fit, right by default, with one mistake switched on."""

    def my_mle_fit(q, data, num_steps, learning_rate):
        opt = (
            tf.keras.optimizers.Adam(learning_rate)
            if optimizer == "adam"
            else tf.keras.optimizers.SGD(learning_rate)
        )

        def objective():
            return sign * reduce(q.log_prob(data))

        @tf.function
        def step():
            if outside_tape:
                loss = objective()
                with tf.GradientTape() as tape:
                    pass
            else:
                with tf.GradientTape() as tape:
                    loss = objective()
            grads = tape.gradient(loss, q.trainable_variables)
            if apply:
                opt.apply_gradients(zip(grads, q.trainable_variables, strict=True))
            return objective() if record_after else loss

        return [float(step()) for _ in range(num_steps)]

    return my_mle_fit


def nan_from(step):
    """The right loop, but its losses turn NaN from ``step`` on (0: from the start)."""

    def my_mle_fit(q, data, num_steps, learning_rate):
        losses = make_loop()(q, data, num_steps, learning_rate)
        return losses[:step] + [float("nan")] * (num_steps - step)

    return my_mle_fit


def offset_loss(q, data, num_steps, learning_rate):
    # minimises -mean log q + 1: same steps, but not the loss the exercise asks for
    return [loss + 1.0 for loss in make_loop()(q, data, num_steps, learning_rate)]


def fits_a_copy(q, data, num_steps, learning_rate):
    # the right losses, from a fresh Normal of its own: the q it was given never moves
    return make_loop()(ch3._fresh_normal(), data, num_steps, learning_rate)


def shortcut(q, data, num_steps, learning_rate):
    trace = kc.fit(q, data, divergence="forward", num_steps=num_steps, learning_rate=learning_rate)
    return list(trace.loss[:-1])


@pytest.mark.parametrize(
    "answer, expected_hint",
    [
        (make_loop(), None),
        (shortcut, "calls kc.fit"),
        (make_loop(sign=1.0), "minimise its negative"),
        (make_loop(reduce=tf.reduce_sum), "average"),
        (make_loop(optimizer="sgd"), "use Adam"),
        (make_loop(apply=False), "never changes"),
        (make_loop(record_after=True), "shifted by one step"),
        (make_loop(outside_tape=True), "inside the"),
        (lambda q, data, n, lr: [0.0] * (n + 1), "returned 201 losses"),
        (3.0, "should be your function"),
        (nan_from(0), "first loss is inf or NaN"),
        (nan_from(50), "losses turn inf or NaN"),
        (offset_loss, "first loss is not the negative mean log-likelihood"),
        (lambda q, data, n, lr: None, "list of losses, one number per step"),
        (lambda q, data, n, lr: ["low"] * n, "list of losses, one number per step"),
        (fits_a_copy, "did not end at the maximum-likelihood values"),
    ],
)
def test_fit_loop(answer, expected_hint):
    hint = verdict("ch3-fit-loop", answer)
    if expected_hint is None:
        assert hint is None
    else:
        assert hint is not None and expected_hint in hint, hint
    assert kc.fit is kc.fitting.fit  # the checker puts kc.fit back


@pytest.mark.slow  # tiers: seconds of work; `make unit` skips it
def test_fit_loop_uphill():
    # Ascending the loss (negated gradients) is caught as "uphill".
    def uphill(q, data, num_steps, learning_rate):
        opt = tf.keras.optimizers.Adam(learning_rate)
        losses = []
        for _ in range(num_steps):
            with tf.GradientTape() as tape:
                loss = -tf.reduce_mean(q.log_prob(data))
            grads = tape.gradient(loss, q.trainable_variables)
            opt.apply_gradients(zip([-g for g in grads], q.trainable_variables, strict=True))
            losses.append(float(loss))
        return losses

    assert "uphill" in verdict("ch3-fit-loop", uphill)
