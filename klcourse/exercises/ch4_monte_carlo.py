"""Chapter 4 (Monte Carlo KL and reparameterisation): checkers for its code exercises."""

import contextlib
import math

import numpy as np
import scipy.special

from klcourse.check import register
from klcourse.examples import tutorial_mixture
from klcourse.exercises._shortcuts import forbidding
from klcourse.hints import close


@contextlib.contextmanager
def _forbidden(module, names, message):
    """Make ``module.<name>`` raise while a student's function runs (a shortcut check).

    Through `_shortcuts.forbidding`, so that it works in a grading sandbox too."""
    with forbidding([f"{module.__name__}:{name}" for name in names], message) as shortcut:
        yield shortcut


def _call(fn, *args):
    """``(value, None)`` or ``(None, hint)`` if calling the student's function fails."""
    try:
        return fn(*args), None
    except Exception as error:  # a student's function may raise anything
        return None, f"calling your function raised {type(error).__name__}: {error}"


@register("ch4-samples-needed", chapter=4, topic="Monte Carlo standard error", points=1)
def _samples_needed(answer):
    import tensorflow_probability as tfp

    from klcourse.divergence import estimator_moments

    q1 = tfp.distributions.Normal(np.float64(3.0), np.float64(1.0))
    _, spread = estimator_moments(q1, tutorial_mixture(), "k1")  # sd of one k1 draw
    expected = math.ceil((spread / 0.01) ** 2)
    if np.ndim(answer) != 0:
        return "give a single number of samples."
    if abs(answer - spread / 0.01) < 0.01 * spread / 0.01:
        return (
            "the standard error falls like 1/√n, so n grows with the square of (spread / target)."
        )
    if abs(answer - math.sqrt(expected)) < 0.01 * math.sqrt(expected):
        return "that is √n; the number of samples is its square."
    return close(answer, expected, rtol=0.01, what="your number of samples")


# ------------------------------------------------------------------ ch4-k3-estimator
def _k3_test_log_ratios():
    """Log-ratios log q(x) - log p(x) for x ~ p = N(0, 1), q = N(0.3, 1.1²): p ≈ q."""
    x = np.random.default_rng(2024).standard_normal(5000)
    log_p = -0.5 * x**2 - 0.5 * math.log(2 * math.pi)
    log_q = -0.5 * ((x - 0.3) / 1.1) ** 2 - math.log(1.1) - 0.5 * math.log(2 * math.pi)
    return log_q - log_p


def _mean_and_se(terms):
    return terms.mean(), terms.std(ddof=1) / math.sqrt(terms.size)


@register("ch4-k3-estimator", chapter=4, topic="the k3 estimator, implemented", points=2)
def _k3_estimator(answer):
    if not callable(answer):
        return "store your function `k3_estimate` itself in `answer`, not a number."
    log_r = _k3_test_log_ratios()
    result, hint = _call(answer, log_r.copy())
    if hint:
        return hint
    if np.shape(result) != (2,):
        return "your function should return a pair (estimate, standard_error)."
    estimate, error = (float(v) for v in result)
    expected, expected_se = _mean_and_se(np.expm1(log_r) - log_r)
    mistakes = {
        "k1": (-log_r, "your estimate looks like k1 = -log r: add the control variate r - 1."),
        "k2": (0.5 * log_r**2, "your estimate looks like k2 = (log r)²/2, which is biased."),
        "inverted": (
            np.expm1(-log_r) + log_r,
            "your ratio is upside down: r = q(x)/p(x) for draws of p, so log r is given.",
        ),
    }
    if not np.isclose(estimate, expected, rtol=1e-6, atol=0):
        for terms, message in mistakes.values():
            if np.isclose(estimate, terms.mean(), rtol=1e-6, atol=0):
                return message
        return close(estimate, expected, rtol=1e-6, atol=0, what="your estimate")
    if np.isclose(error, expected_se * math.sqrt(log_r.size), rtol=1e-3):
        return "your standard error is the spread of one term: divide by √n."
    if np.isclose(error, expected_se**2 * log_r.size, rtol=1e-3):
        return "your standard error looks like a variance: take the square root."
    return close(error, expected_se, rtol=1e-3, atol=0, what="your standard error")


# ------------------------------------------------------------------ ch4-laplace-exact
LAPLACE_SCALES = np.array([0.5, 1.0, 2.0, 3.5])


def _kl_normal_laplace_quadrature(b):
    import tensorflow_probability as tfp

    from klcourse.divergence import kl_quadrature

    tfd = tfp.distributions
    return kl_quadrature(
        tfd.Normal(np.float64(0), np.float64(1)), tfd.Laplace(np.float64(0), np.float64(b))
    ).value


@register("ch4-laplace-exact", chapter=4, topic="a closed form, derived", points=1)
def _laplace_exact(answer):
    if not callable(answer):
        return "store your function `kl_normal_laplace` in `answer`, not a number."
    result, hint = _call(answer, LAPLACE_SCALES.copy())
    if hint or np.shape(result) != LAPLACE_SCALES.shape:
        return (
            "your function must accept a NumPy array of scales and return one KL per "
            "scale: a closed form does (calling quadrature per scale is the shortcut)."
        )
    result = np.asarray(result, dtype=np.float64)
    expected = np.array([_kl_normal_laplace_quadrature(b) for b in LAPLACE_SCALES])
    if np.allclose(result, expected, rtol=1e-8, atol=0):
        return None
    difference = result - expected
    if np.allclose(np.abs(difference), math.log(2), atol=1e-6):
        return "off by log 2 at every scale: check the normalising constant 1/(2b)."
    if np.allclose(difference * LAPLACE_SCALES, difference[0] * LAPLACE_SCALES[0], atol=1e-6):
        return "off by a constant times 1/b: check E|x| under a standard Normal."
    if np.allclose(difference, difference[0], atol=1e-6):
        return "off by the same constant at every scale: check the entropy of N(0, 1)."
    return close(result, expected, rtol=1e-8, atol=0, what="your KL values")


# ------------------------------------------------------------------ ch4-gradient-variance
@register("ch4-gradient-variance", chapter=4, topic="score-function vs reparameterised", points=1)
def _gradient_variance(answer):
    import tensorflow_probability as tfp

    from klcourse.gradients import kl_gradient_moments

    p = tfp.distributions.Normal(np.float64(0.0), np.float64(0.2))
    sd = {
        name: kl_gradient_moments(0.5, 1.0, p, estimator=name)[1]
        for name in ("score_function", "reparameterization")
    }
    expected = (sd["score_function"] / sd["reparameterization"]) ** 2
    if np.shape(answer) != (2,):
        return "give two ratios, [location, log scale]."
    answer = np.asarray(answer, dtype=np.float64)
    # 200 000 draws estimate each variance to a few per cent; allow 10 %.
    if close(answer, expected, rtol=0.1, atol=0) is None:
        return None
    if close(answer, np.sqrt(expected), rtol=0.1, atol=0) is None:
        return "those look like ratios of standard deviations; the exercise asks for variances."
    if close(answer, 1 / expected, rtol=0.1, atol=0) is None:
        return "your ratios are upside down: score-function variance over reparameterised."
    if close(answer[::-1], expected, rtol=0.1, atol=0) is None:
        return "the two ratios are swapped: location first, then log scale."
    return close(answer, expected, rtol=0.1, atol=0, what="your variance ratios")


# ------------------------------------------------------------------ ch4-policy-pitfall
POLICY_CASES = [
    (np.array([0.2, -1.0, 0.7, 0.0, 0.3]), np.array([-0.5, 0.4, 0.1, 0.9, -0.2])),
    (np.array([1.5, 0.0, -0.3]), np.array([0.0, 0.8, 0.2])),
]


@register("ch4-policy-pitfall", chapter=4, topic="the gradient of a sampled KL penalty", points=2)
def _policy_pitfall(answer):
    from klcourse import gradients, policy

    if not callable(answer):
        return "store your function `naive_k3_gradient` in `answer`, not its value."
    message = (
        "your function calls klcourse's gradients; the exercise asks you to write it yourself."
    )
    for logits, ref_logits in POLICY_CASES:
        with (
            _forbidden(
                gradients,
                [
                    "expected_kl_penalty_gradient",
                    "kl_penalty_gradients",
                    "categorical_kl_gradients",
                ],
                message,
            ) as shortcut,
            _forbidden(policy, ["estimator_gradients", "kl_gradient"], message) as shortcut7,
        ):
            try:
                result = answer(logits.copy(), ref_logits.copy())
            except (shortcut, shortcut7):
                return message
            except Exception as error:
                return f"calling your function raised {type(error).__name__}: {error}"
        if np.shape(result) != logits.shape:
            return (
                f"your function should return one gradient entry per logit, shape {logits.shape}."
            )
        result = np.asarray(result, dtype=np.float64)
        pi, ref = scipy.special.softmax(logits), scipy.special.softmax(ref_logits)
        expected = gradients.expected_kl_penalty_gradient(logits, ref_logits, estimator="k3")
        if np.allclose(result, expected, atol=1e-9):
            continue
        exact = gradients.categorical_kl_gradients(logits, ref_logits)
        per_action = gradients.kl_penalty_gradients(
            logits, ref_logits, np.arange(logits.size), estimator="k3"
        )
        inverted = pi @ (np.expm1(np.log(pi / ref))[:, None] * (np.eye(pi.size) - pi))
        if np.allclose(result, exact.reverse, atol=1e-9):
            return (
                "that is the gradient of the reverse KL(π_θ‖π_ref), the one the penalty is "
                "meant to have; differentiate k3 with the action fixed and see what you get."
            )
        if np.allclose(result, 0, atol=1e-9):
            return "that is what k1's gradient averages to; k3's has the extra factor (1 - r)."
        if np.allclose(result, per_action.mean(axis=0), atol=1e-9):
            return "weight each action's gradient by its probability π_θ(a), not equally."
        if np.allclose(result, -expected, atol=1e-9):
            return "your gradient has the wrong sign."
        if np.allclose(result, inverted, atol=1e-9) or np.allclose(result, -inverted, atol=1e-9):
            return "your ratio is upside down: r = π_ref(a) / π_θ(a)."
        return close(result, expected, atol=1e-9, what="your expected gradient")
    return None
