"""Chapter 4 (Monte Carlo KL and reparameterisation): checkers for its code exercises."""

import contextlib
import functools
import math

import numpy as np
import scipy.special

from klcourse.check import register
from klcourse.examples import tutorial_mixture
from klcourse.exercises._shortcuts import forbidden_calls, forbidding
from klcourse.hints import close

SQRT_N_ADVICE = "The standard error is the spread of one term over √n."


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


SAMPLES_Q = (1.0, 0.8)  # q = N(1, 0.8²) against the tutorial's mixture: printed nowhere
SAMPLES_TARGET = 0.005  # the standard error asked for


@register("ch4-samples-needed", chapter=4, topic="Monte Carlo standard error", points=1)
def _samples_needed(answer):
    import tensorflow_probability as tfp

    from klcourse.divergence import estimator_moments

    q = tfp.distributions.Normal(np.float64(SAMPLES_Q[0]), np.float64(SAMPLES_Q[1]))
    kl, spread = estimator_moments(q, tutorial_mixture(), "k1")  # mean, sd of one k1 term
    expected = math.ceil((spread / SAMPLES_TARGET) ** 2)
    if np.ndim(answer) != 0:
        return "give a single number of samples."
    ratio = spread / SAMPLES_TARGET
    if abs(answer - ratio) < 0.01 * ratio:
        return (
            "the standard error falls like 1/√n, so n grows with the square of (spread / target)."
        )
    if abs(answer - math.sqrt(expected)) < 0.01 * math.sqrt(expected):
        return "that is √n; the number of samples is its square."
    second_moment = (spread**2 + kl**2) / SAMPLES_TARGET**2
    if abs(answer - second_moment) < 0.01 * second_moment:
        return (
            "that uses the second moment E[term²] as the variance: subtract the squared "
            "mean (the KL) first."
        )
    return close(
        answer,
        expected,
        rtol=0.01,
        what="your number of samples",
        advice="The standard error is s/√n: solve it for n with s the spread of one term.",
    )


# ------------------------------------------------------------------ ch4-k3-estimator
K3_Q = (0.3, 1.1)  # q = N(0.3, 1.1²) against p = N(0, 1): σ_q² < 2σ_p², so k3's variance is finite
K3_FORBIDDEN = {
    "kl_monte_carlo",
    "estimator_moments",
    "kl_quadrature",
    "expectation_quadrature",
    "kl_divergence",
    "kl_normal",
    "log_prob",
    "logpdf",
}


def _k3_test_draws():
    """The checker's own draws of p = N(0, 1)."""
    return np.random.default_rng(2024).standard_normal(5000)


def _log_normal(x, loc, scale, normalised=True):
    value = -0.5 * ((x - loc) / scale) ** 2 - 0.5 * math.log(2 * math.pi)
    return value - math.log(scale) if normalised else value


def _k3_log_ratios(x, scale=K3_Q[1], normalised=True):
    """log r = log q(x) - log p(x), r = q/p."""
    return _log_normal(x, K3_Q[0], scale, normalised) - _log_normal(x, 0.0, 1.0)


def _mean_and_se(terms):
    return terms.mean(), terms.std(ddof=1) / math.sqrt(terms.size)


@register("ch4-k3-estimator", chapter=4, topic="the k3 estimator, implemented", points=2)
def _k3_estimator(answer):
    from klcourse import divergence

    if not callable(answer):
        return "store your function `k3_estimate` itself in `answer`, not a number."
    shortcuts = forbidden_calls(
        answer,
        K3_FORBIDDEN,
        (divergence.kl_monte_carlo, divergence.estimator_moments, divergence.kl_quadrature),
    )
    if shortcuts:
        return (
            f"`k3_estimate` calls {', '.join(shortcuts)}: write both log densities, the "
            "k3 terms and their standard error yourself in NumPy."
        )
    x = _k3_test_draws()
    result, hint = _call(answer, x.copy())
    if hint:
        return hint
    if result is None or result is Ellipsis:
        return "not answered yet: `k3_estimate` returns nothing; write its body and run it."
    if np.shape(result) != (2,):
        return "your function should return a pair (estimate, standard_error)."
    estimate, error = (float(v) for v in result)
    log_r = _k3_log_ratios(x)
    k1, k2, k3 = (
        functools.partial(divergence._terms_from_log_ratio, estimator=name)
        for name in ("k1", "k2", "k3")
    )
    expected, expected_se = _mean_and_se(k3(log_r))
    variance_as_scale = _k3_log_ratios(x, scale=math.sqrt(K3_Q[1]))
    squared_scale = _k3_log_ratios(x, scale=K3_Q[1] ** 2)
    unnormalised = _k3_log_ratios(x, normalised=False)
    mistakes = [
        (k1(log_r), "your estimate looks like k1 = -log r: add the control variate r - 1."),
        (k2(log_r), "your estimate looks like k2 = (log r)²/2, which is biased."),
        (
            k3(-log_r),
            "your ratio is upside down: r = q(x)/p(x) for draws of p.",
        ),
        (
            k3(variance_as_scale),
            "q's second parameter is its standard deviation, not its variance.",
        ),
        (
            k3(squared_scale),
            "q's second parameter is its standard deviation: do not square it in the density.",
        ),
        (
            k3(unnormalised),
            "your log q misses its normalising term −log σ_q (the two σ's differ here).",
        ),
    ]
    if not np.isclose(estimate, expected, rtol=1e-6, atol=0):
        for terms, message in mistakes:
            if np.isclose(estimate, terms.mean(), rtol=1e-6, atol=0):
                return message
        return close(
            estimate,
            expected,
            rtol=1e-6,
            atol=0,
            what="your estimate",
            advice="Check log r = log q(x) − log p(x) and the k3 terms (r − 1) − log r.",
        )
    if np.isclose(error, expected_se * math.sqrt(x.size), rtol=1e-3):
        return "your standard error is the spread of one term: divide by √n."
    if np.isclose(error, expected_se**2 * x.size, rtol=1e-3):
        return "your standard error looks like a variance: take the square root."
    return close(
        error, expected_se, rtol=1e-3, atol=0, what="your standard error", advice=SQRT_N_ADVICE
    )


# ------------------------------------------------------------------ ch4-laplace-exact
LAPLACE_SCALES = np.array([0.5, 1.0, 2.0, 3.5])


def _kl_normal_laplace_quadrature(b):
    import tensorflow_probability as tfp

    from klcourse.divergence import kl_quadrature

    tfd = tfp.distributions
    return kl_quadrature(
        tfd.Normal(np.float64(0), np.float64(1)), tfd.Laplace(np.float64(0), np.float64(b))
    ).value


LAPLACE_FORBIDDEN = {"kl_quadrature", "expectation_quadrature", "quad", "quad_vec", "kl_divergence"}
QUADRATURE_MESSAGE = "quadrature shortcut"


def _quadrature_functions():
    import scipy.integrate

    from klcourse import divergence

    return {
        "divergence": (divergence, ["kl_quadrature", "expectation_quadrature"]),
        "integrate": (scipy.integrate, ["quad", "quad_vec"]),
    }


def _laplace_shortcuts(answer):
    function = getattr(answer, "pyfunc", answer)  # np.vectorize wraps the function
    objects = [
        getattr(module, name)
        for module, names in _quadrature_functions().values()
        for name in names
    ]
    return forbidden_calls(function, LAPLACE_FORBIDDEN, objects)


def _call_without_quadrature(fn, *args):
    """Like `_call`, but quadrature raises while ``fn`` runs (a shortcut hidden deeper)."""
    import klcourse

    modules = list(_quadrature_functions().values()) + [
        (klcourse, ["kl_quadrature", "expectation_quadrature"])
    ]
    with contextlib.ExitStack() as stack:
        shortcuts = [
            stack.enter_context(_forbidden(module, names, QUADRATURE_MESSAGE))
            for module, names in modules
        ]
        try:
            return fn(*args), None
        except tuple(shortcuts):
            return None, "your function runs quadrature, the shortcut: type the closed form."
        except Exception as error:  # a student's function may raise anything
            return None, (
                "calling your function with a NumPy array of scales raised "
                f"{type(error).__name__}: {error}"
            )


@register("ch4-laplace-exact", chapter=4, topic="a closed form, derived", points=1)
def _laplace_exact(answer):
    if not callable(answer):
        return "store your function `kl_normal_laplace` in `answer`, not a number."
    shortcuts = _laplace_shortcuts(answer)
    if shortcuts:
        return (
            f"`kl_normal_laplace` calls {', '.join(shortcuts)}: that is quadrature, the "
            "shortcut; derive the closed form and type it."
        )
    expected = np.array([_kl_normal_laplace_quadrature(b) for b in LAPLACE_SCALES])
    result, hint = _call_without_quadrature(answer, LAPLACE_SCALES.copy())
    if hint:
        return hint
    if result is None or result is Ellipsis:
        return "not answered yet: `kl_normal_laplace` returns nothing; write its body and run it."
    if np.shape(result) != LAPLACE_SCALES.shape:
        return (
            f"your function returned shape {np.shape(result)} for {LAPLACE_SCALES.size} "
            "scales: it must return one KL per scale."
        )
    result = np.asarray(result, dtype=np.float64)
    if np.allclose(result, expected, rtol=1e-8, atol=0):
        return None
    difference = result - expected
    if np.allclose(np.abs(difference), math.log(2), atol=1e-6):
        return "off by log 2 at every scale: check the normalising constant 1/(2b)."
    if np.allclose(difference * LAPLACE_SCALES, difference[0] * LAPLACE_SCALES[0], atol=1e-6):
        return "off by a constant times 1/b: check E|x| under a standard Normal."
    if np.allclose(difference, difference[0], atol=1e-6):
        return "off by the same constant at every scale: check the entropy of N(0, 1)."
    return close(
        result,
        expected,
        rtol=1e-8,
        atol=0,
        what="your KL values",
        advice="Check each expectation under N(0, 1).",
    )


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
