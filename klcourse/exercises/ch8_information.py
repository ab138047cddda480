"""Chapter 8 (KL among the divergences and in information theory): checkers."""

import math

import numpy as np

from klcourse.check import register
from klcourse.divergence import kl_discrete, kl_normal
from klcourse.exercises._shortcuts import forbidden_calls
from klcourse.fdivergence import GENERATORS, f_divergence, f_divergence_quadrature
from klcourse.hints import close
from klcourse.information import neyman_pearson_type2_normal

# (p, q, generator name): zeros in q where p > 0 test the f'(∞) term; a zero in p the
# 0·f(0) term. Each case is passed to the student's function with f and f'(∞).
MY_F_CASES = [
    ([0.2, 0.3, 0.5], [0.4, 0.4, 0.2], "kl"),
    ([0.2, 0.3, 0.5], [0.4, 0.4, 0.2], "squared_hellinger"),
    ([0.5, 0.5, 0.0], [0.25, 0.25, 0.5], "chi_square"),
    ([0.5, 0.5], [1.0, 0.0], "total_variation"),
    ([0.5, 0.5], [1.0, 0.0], "jensen_shannon"),
    ([0.5, 0.5], [1.0, 0.0], "reverse_kl"),
]


def _reference_f_divergence(p, q, name):
    f, at_infinity = GENERATORS[name]
    p, q = np.asarray(p, float), np.asarray(q, float)
    inside = q > 0
    value = float(np.sum(q[inside] * f(p[inside] / q[inside])))
    outside = p[~inside].sum()
    return value + (at_infinity * outside if outside > 0 else 0.0)


# What the exercise forbids: the package's own f-divergence, by any name it is reached.
MY_F_FORBIDDEN = {"f_divergence", "f_divergence_quadrature", "fdivergence"}


@register("ch8-my-f-divergence", chapter=8, topic="implementing an f-divergence", points=2)
def _my_f_divergence(answer):
    if not callable(answer):
        return "pass your function itself, `my_f_divergence`, not a number."
    shortcuts = forbidden_calls(answer, MY_F_FORBIDDEN, (f_divergence, f_divergence_quadrature))
    if shortcuts:
        return (
            f"`my_f_divergence` calls {', '.join(shortcuts)}: the exercise is to write "
            "the sum yourself, with a mask for q > 0, np.sum and the f'(∞) term."
        )
    for number, (p, q, name) in enumerate(MY_F_CASES, start=1):
        f, at_infinity = GENERATORS[name]
        value = answer(np.array(p), np.array(q), f, at_infinity)
        if value is None or value is Ellipsis:
            return "not answered yet: `my_f_divergence` returns nothing; write its body."
        expected = _reference_f_divergence(p, q, name)
        where = f"my_f_divergence on test case {number} ({name})"
        if np.ndim(value) != 0:
            return f"{where} should return one number."
        if math.isinf(expected):
            if not (np.isinf(value) and value > 0):
                return f"{where}: q = 0 where p > 0 and f'(∞) = ∞, so the value is infinite."
            continue
        if np.isnan(value):
            return f"{where} gives NaN: handle q = 0 apart, with the term p·f'(∞)."
        dropped = float(np.sum([qi * f(pi / qi) for pi, qi in zip(p, q, strict=True) if qi > 0]))
        if (
            0 in q
            and math.isclose(value, dropped, rel_tol=1e-9)
            and not math.isclose(dropped, expected, rel_tol=1e-9)
        ):
            return f"{where}: you dropped the outcomes where q = 0; they add p·f'(∞)."
        hint = close(
            value,
            expected,
            rtol=1e-9,
            atol=1e-12,
            what=where,
            advice="Check the weighting: each term is q_i·f(p_i/q_i), summed where q_i > 0.",
        )
        if hint:
            return hint
    return None


DPI_P = np.array([0.7, 0.2, 0.1])
DPI_Q = np.array([0.1, 0.3, 0.6])
# A noisy channel: row i is the distribution of the output given input i.
DPI_CHANNEL = np.array([[0.8, 0.2], [0.5, 0.5], [0.1, 0.9]])


@register("ch8-dpi", chapter=8, topic="the data-processing inequality", points=1)
def _dpi(answer):
    before = kl_discrete(DPI_P, DPI_Q)
    after = kl_discrete(DPI_P @ DPI_CHANNEL, DPI_Q @ DPI_CHANNEL)
    if np.ndim(answer) == 0 and np.isfinite(answer) and math.isclose(answer, before, rel_tol=1e-6):
        return "that is KL(p‖q) before the channel; push both through it first (p @ K)."
    reversed_ = kl_discrete(DPI_Q @ DPI_CHANNEL, DPI_P @ DPI_CHANNEL)
    if np.ndim(answer) == 0 and math.isclose(answer, reversed_, rel_tol=1e-6):
        return "that is KL(q K‖p K): the exercise asks for KL(p K‖q K), p first."
    return close(answer, after, rtol=1e-6, what="your KL after the channel")


STEIN = {"mu_p": 0.0, "mu_q": 0.3, "sigma": 1.0, "type1": 0.05, "type2": 1e-3}


def stein_samples_needed():
    """Smallest n with β_n ≤ 1e-3 for N(0, 1) against N(0.3, 1) at type-I error 0.05."""
    n = np.arange(1, 2000)
    beta = neyman_pearson_type2_normal(
        n, STEIN["mu_p"], STEIN["mu_q"], STEIN["sigma"], STEIN["type1"]
    )
    return int(n[np.argmax(beta <= STEIN["type2"])])


@register("ch8-stein-samples", chapter=8, topic="how many samples a test needs", points=1)
def _stein_samples(answer):
    if np.ndim(answer) != 0 or not np.isfinite(answer):
        return "give one number of observations."
    if float(answer) != int(answer):
        return "a number of observations is a whole number: round up."
    expected = stein_samples_needed()
    kl = kl_normal(STEIN["mu_p"], STEIN["sigma"], STEIN["mu_q"], STEIN["sigma"])
    first_order = math.log(1 / STEIN["type2"]) / kl
    if abs(answer - first_order) < 2:
        return (
            "that is Stein's first-order estimate log(1/β)/KL; the exercise asks for the "
            "exact smallest n, from the test's error at each n."
        )
    if answer == expected - 1:
        return "one short: at that n the type-II error is still above 1e-3."
    return close(
        float(answer),
        float(expected),
        rtol=0,
        atol=0.5,
        what="your number of observations",
        advice="Take the smallest n at which the type-II error is at most 1e-3.",
    )
