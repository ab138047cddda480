"""Chapter 3 (forward vs reverse KL): checkers for its code exercises.

Each checker returns ``None`` for a right answer and otherwise a hint naming the
mistake the answer looks like, never the expected value.
"""

import numpy as np

from klcourse.check import register
from klcourse.divergence import kl_mvn
from klcourse.examples import bimodal_target
from klcourse.exercises._shortcuts import Shortcut, forbidding
from klcourse.hints import close
from klcourse.vi import mean_field_optimum

SIGMA_EXERCISE = np.array([[2.0, 0.9], [0.9, 1.0]])


def _pair(answer, expected, rtol=1e-4):
    """True when ``answer`` is a numeric array of ``expected``'s shape close to it."""
    try:
        answer = np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    expected = np.asarray(expected, dtype=np.float64)
    return answer.shape == expected.shape and bool(np.allclose(answer, expected, rtol=rtol))


@register(
    "ch3-reverse-optimum", chapter=3, topic="reverse-KL optimum of a diagonal Gaussian", points=1
)
def _reverse_optimum(answer):
    expected = np.diag(mean_field_optimum(SIGMA_EXERCISE))
    precision = np.linalg.inv(SIGMA_EXERCISE)
    mistakes = [
        (
            np.diag(SIGMA_EXERCISE),
            "those are the forward-KL variances, diag(Σ); reverse KL "
            "gives the conditional variances, which are smaller.",
        ),
        (
            np.sqrt(expected),
            "those look like standard deviations; the exercise asks for variances.",
        ),
        (
            1 / np.diag(SIGMA_EXERCISE),
            "that inverts the diagonal entries of Σ; the formula "
            "inverts Σ first and then takes the diagonal of Σ⁻¹.",
        ),
        (
            np.diag(precision),
            "that is the diagonal of Σ⁻¹ itself; the variances are its reciprocals.",
        ),
    ]
    for value, hint in mistakes:
        if _pair(answer, value):
            return hint
    return close(answer, expected, rtol=1e-4, what="your variances")


SIGMA_3D = np.array([[1.0, 0.6, 0.3], [0.6, 2.0, 0.5], [0.3, 0.5, 1.5]])


def _optimal_values_3d():
    zero = np.zeros(3)
    reverse_q, forward_q = mean_field_optimum(SIGMA_3D), np.diag(np.diag(SIGMA_3D))
    return {
        "reverse": kl_mvn(zero, reverse_q, zero, SIGMA_3D),
        "forward": kl_mvn(zero, SIGMA_3D, zero, forward_q),
        # the same optima, each measured in the other direction
        "reverse_flipped": kl_mvn(zero, SIGMA_3D, zero, reverse_q),
        "forward_flipped": kl_mvn(zero, forward_q, zero, SIGMA_3D),
    }


@register("ch3-optimal-values-3d", chapter=3, topic="optimal KL values in 3-D", points=1)
def _optimal_values(answer):
    v = _optimal_values_3d()
    expected = [v["reverse"], v["forward"]]
    if _pair(answer, expected[::-1]):
        return "the two values are swapped: reverse KL first, then forward."
    if np.shape(answer) == (2,) and np.all(np.isfinite(np.asarray(answer, dtype=float))):
        first, second = np.asarray(answer, dtype=float)
        if abs(first - second) <= 1e-6 * max(abs(first), 1e-12):
            return (
                "your two values are equal. The two-dimensional coincidence does not "
                "carry over: evaluate each direction at its own optimum."
            )
        if abs(first - v["reverse_flipped"]) < 1e-4 * v["reverse_flipped"]:
            return (
                "your first value measures KL(p‖q) at the reverse optimum; the reverse "
                "value is KL(q‖p), with q first."
            )
        if abs(second - v["forward_flipped"]) < 1e-4 * v["forward_flipped"]:
            return (
                "your second value measures KL(q‖p) at the forward optimum; the forward "
                "value is KL(p‖q), with p first."
            )
    if np.shape(answer) == (2,):
        return _pair_hint(answer, expected)
    return close(answer, expected, rtol=1e-4, what="your pair (reverse, forward)")


def _pair_hint(answer, expected):
    """Hint for a two-entry answer that matched no named mistake."""
    hint = close(answer, expected, rtol=1e-4, what="your pair (reverse, forward)")
    if hint is None:
        return None
    wrong = [
        name
        for name, a, e in zip(("reverse", "forward"), answer, expected, strict=True)
        if not np.isclose(a, e, rtol=1e-4)
    ]
    if len(wrong) == 2 or "sign" in hint or "bits" in hint or "NaN" in hint or "shape" in hint:
        return hint
    return (
        f"your {wrong[0]} value is not right. Build the optimal diagonal covariance "
        "for that direction, then evaluate the KL in that same direction."
    )


# --- ch3-watershed: where the reverse fit switches from one mode to the other -----------

WATERSHED_STEPS, WATERSHED_OFFSET = 1500, 0.15


def reverse_fit_end(start):
    """Final location of the exercise's reverse-KL fit from ``N(start, 1)``.

    The settings of exercise ch3-watershed: chapter 3's bimodal target, Adam with
    learning rate 0.05 for 1500 steps, 500 reparameterised draws per step, seed 0.
    """
    import tensorflow as tf
    import tensorflow_probability as tfp

    from klcourse.fitting import fit

    q = tfp.distributions.Normal(
        tf.Variable(float(start)), tfp.util.TransformedVariable(1.0, tfp.bijectors.Exp())
    )
    trace = fit(
        q, bimodal_target(), num_steps=WATERSHED_STEPS, learning_rate=0.05, num_samples=500, seed=0
    )
    return trace.params["loc"][-1]


def _mode(loc):
    return "left" if abs(loc + 3.0) < 0.3 else "right" if abs(loc - 3.0) < 0.3 else None


@register("ch3-watershed", chapter=3, topic="reverse KL: which start picks which mode", points=2)
def _watershed(answer):
    try:
        b = float(answer)
    except (TypeError, ValueError):
        return "give one number: the start b where the fit switches modes."
    if np.ndim(answer) != 0 or not np.isfinite(b):
        return "give one finite number: the start b where the fit switches modes."
    left, right = (_mode(reverse_fit_end(b + s * WATERSHED_OFFSET)) for s in (-1, 1))
    if left == "left" and right == "right":
        return None
    if left is None or right is None:
        return (
            "from one of the two starts beside b the fit has not settled on either mode "
            "within the step budget; look at where the two fits end and move b accordingly."
        )
    if left == right == "left":
        return "from just left and right of b both fits end on the left mode: move b right."
    if left == right == "right":
        return "from just left and right of b both fits end on the right mode: move b left."
    return "the fits end the wrong way round (the start left of b on the right mode): look again."


# --- ch3-fit-loop: maximum likelihood with your own GradientTape loop -------------------

FIT_LOOP_STEPS, FIT_LOOP_RATE = 200, 0.1


def fit_loop_data():
    """The exercise's data: 300 skewed points (float32), not Gaussian on purpose."""
    rng = np.random.default_rng(3)
    return (1.0 + rng.gamma(2.0, 1.5, size=300)).astype(np.float32)


def _fresh_normal():
    import tensorflow as tf
    import tensorflow_probability as tfp

    return tfp.distributions.Normal(
        tf.Variable(0.0), tfp.util.TransformedVariable(1.0, tfp.bijectors.Exp())
    )


@register("ch3-fit-loop", chapter=3, topic="maximum likelihood with your own fit loop", points=3)
def _fit_loop(answer):
    import tensorflow as tf

    from klcourse import fitting

    if not callable(answer):
        return "`answer` should be your function my_mle_fit(q, data, num_steps, learning_rate)."
    data = fit_loop_data()
    reference = fitting.fit(
        _fresh_normal(),
        data,
        divergence="forward",
        num_steps=FIT_LOOP_STEPS,
        learning_rate=FIT_LOOP_RATE,
    )
    expected = reference.loss[:-1]
    q = _fresh_normal()
    try:
        # `forbidding` works in the notebook and in a grading sandbox alike
        with (
            forbidding(["klcourse:fit", "klcourse.fitting:fit"], "kc.fit"),
            forbidding(["tensorflow_probability:math.minimize"], "tfp.math.minimize"),
            forbidding(
                ["tensorflow_probability:vi.fit_surrogate_posterior"],
                "tfp.vi.fit_surrogate_posterior",
            ),
        ):
            losses = answer(q, data, FIT_LOOP_STEPS, FIT_LOOP_RATE)
    except Shortcut as shortcut:
        return (
            f"your function calls {shortcut}; the exercise asks for your own loop with "
            "tf.GradientTape and an optimiser."
        )
    except ValueError as error:
        if "No gradients" in str(error):
            return (
                "the optimiser got no gradients: compute the loss inside the "
                "`with tf.GradientTape() as tape:` block, from q's variables."
            )
        raise
    if losses is None or losses is Ellipsis:
        return (
            "not answered yet: `my_mle_fit` returns nothing; write its loop and return "
            "the list of losses, one number per step."
        )
    try:
        losses = np.asarray([float(x) for x in losses], dtype=np.float64)
    except (TypeError, ValueError):
        return "return the list of losses, one number per step."
    if losses.shape != expected.shape:
        return (
            f"your function returned {losses.size} losses for {FIT_LOOP_STEPS} steps: "
            "record one loss per step, computed before that step's update."
        )
    if not np.isfinite(losses[0]):
        return "your first loss is inf or NaN: is the scale kept positive?"
    n, first = data.size, expected[0]
    if np.isclose(losses[0], -first, rtol=1e-4):
        return (
            "your loss is the mean log-likelihood itself; minimise its negative, "
            "−(1/N) Σ log q(xₙ)."
        )
    if np.isclose(losses[0], n * first, rtol=1e-4):
        return "your loss is N times too large: average the log-likelihood (mean), do not sum it."
    if np.isclose(losses[0], expected[1], rtol=1e-4) and not np.isclose(
        losses[0], first, rtol=1e-4
    ):
        return (
            "your losses are shifted by one step: record each step's loss before its "
            "update, starting with the loss at the initial parameters."
        )
    if not np.isclose(losses[0], first, rtol=1e-4):
        return (
            "your first loss is not the negative mean log-likelihood of the data under q: "
            "compute −mean(q.log_prob(data))."
        )
    if np.allclose(losses, first, rtol=1e-6):
        return (
            "the loss never changes: apply the gradients to q.trainable_variables with "
            "optimizer.apply_gradients after each tape.gradient."
        )
    finite = losses[np.isfinite(losses)]
    if finite.size < losses.size or losses[-1] > losses[0]:
        if finite.max() > losses[0]:
            return (
                "the loss grows: you are stepping uphill. apply_gradients already subtracts "
                "the gradient; do not negate it."
            )
        return "your losses turn inf or NaN: is the scale kept positive?"
    if not np.allclose(losses, expected, rtol=1e-3, atol=1e-4):
        return (
            "your first loss is right but the steps differ from the expected ones: use "
            "Adam with the learning_rate argument and one update per step."
        )
    mle = (float(np.mean(data)), float(np.std(data)))
    fitted = (float(tf.convert_to_tensor(q.loc)), float(tf.convert_to_tensor(q.scale)))
    if not np.allclose(fitted, mle, rtol=1e-2):
        return "q's parameters did not end at the maximum-likelihood values: update q itself."
    return None
