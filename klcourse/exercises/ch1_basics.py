"""Chapter 1 (what KL measures): checkers for its code exercises."""

import math

import numpy as np
import scipy.special
import scipy.stats

from klcourse.check import register
from klcourse.divergence import kl_discrete, kl_mvn, kl_normal
from klcourse.exercises._shortcuts import forbidden_calls
from klcourse.hints import close

LOADED_DIE = np.array([0.1, 0.1, 0.1, 0.1, 0.1, 0.5])
FAIR_DIE = np.full(6, 1 / 6)


@register("ch1-die-bits", chapter=1, topic="discrete KL in bits", points=1)
def _die_bits(answer):
    if close(answer, kl_discrete(FAIR_DIE, LOADED_DIE, base=2), rtol=1e-4) is None:
        return (
            "that is KL(fair‖loaded). The rolls come from the loaded die, so it is "
            "the distribution we average over: it comes first."
        )
    return close(answer, kl_discrete(LOADED_DIE, FAIR_DIE, base=2), rtol=1e-4)


# (p, q) pairs; the comments say which rule each one tests.
MY_KL_CASES = [
    ([0.7, 0.3], [0.5, 0.5]),
    ([0.2, 0.3, 0.5], [0.1, 0.6, 0.3]),
    ([1.0, 0.0], [0.5, 0.5]),  # p = 0: the term 0·log(0/q) counts as 0
    ([0.5, 0.5, 0.0], [0.25, 0.75, 0.0]),  # p = q = 0: 0·log(0/0) counts as 0 too
    ([0.5, 0.5], [1.0, 0.0]),  # q = 0 where p > 0: infinite
]
# What the exercise forbids: any ready-made KL or relative-entropy function.
MY_KL_FORBIDDEN = {"kl_discrete", "rel_entr", "kl_div", "entropy", "xlogy", "kl_divergence"}


@register("ch1-my-kl", chapter=1, topic="implementing discrete KL", points=2)
def _my_kl(answer):
    if not callable(answer):
        return "pass your function itself, `my_kl`, not a number."
    shortcuts = forbidden_calls(
        answer, MY_KL_FORBIDDEN, (kl_discrete, scipy.special.rel_entr, scipy.stats.entropy)
    )
    if shortcuts:
        return (
            f"`my_kl` calls {', '.join(shortcuts)}: the exercise is to write the sum "
            "and its two rules yourself, with np.log, a mask or np.where, and np.sum."
        )
    for number, (p, q) in enumerate(MY_KL_CASES, start=1):
        p, q = np.array(p), np.array(q)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = answer(p, q)
        if value is None or value is Ellipsis:
            return "not answered yet: `my_kl` returns nothing; write its body and run it."
        expected = kl_discrete(p, q)
        if math.isinf(expected):
            if not (np.ndim(value) == 0 and np.isinf(value) and value > 0):
                return (
                    f"test case {number} has q = 0 where p > 0: KL must be inf there. "
                    "A small ε added to q hides exactly the failure KL is meant to report."
                )
            continue
        if np.ndim(value) == 0 and np.isnan(value):
            return (
                f"test case {number} gives NaN, from 0·log(0/q): terms with p = 0 must "
                "count as 0, so leave them out of the sum."
            )
        swapped = kl_discrete(q, p)
        if math.isfinite(swapped) and close(value, swapped, rtol=1e-9, atol=1e-12) is None:
            return (
                f"on test case {number} `my_kl(p, q)` returns KL(q‖p): p is the "
                "distribution we average over, so the terms are p·log(p/q)."
            )
        hint = close(value, expected, rtol=1e-9, atol=1e-12, what=f"my_kl on test case {number}")
        if hint:
            return hint
    return None


NORMAL_CASES = [(2.0, 1.0, 0.0, 3.0), (0.0, 2.0, 1.0, 4.0), (1.0, 3.0, -1.0, 1.5)]


def _kl_normal_variances(mu_p, sigma_p, mu_q, sigma_q):
    # The mistake of taking the log of the variance ratio without the factor 1/2.
    return (
        math.log(sigma_q**2 / sigma_p**2)
        + (sigma_p**2 + (mu_p - mu_q) ** 2) / (2 * sigma_q**2)
        - 0.5
    )


def _kl_normal_no_half(mu_p, sigma_p, mu_q, sigma_q):
    return kl_normal(mu_p, sigma_p, mu_q, sigma_q) + 0.5


@register("ch1-normal-closed-form", chapter=1, topic="Gaussian closed form", points=1)
def _normal_closed_form(answer):
    if not callable(answer):
        return "pass your function itself, `kl_normal_by_hand`, not a number."
    shortcuts = forbidden_calls(
        answer, {"kl_normal", "kl_mvn", "kl_divergence", "kl_quadrature"}, (kl_normal, kl_mvn)
    )
    if shortcuts:
        return f"`kl_normal_by_hand` calls {', '.join(shortcuts)}: type the formula instead."
    values = [answer(*case) for case in NORMAL_CASES]
    if any(v is None or v is Ellipsis for v in values):
        return "not answered yet: your function returns nothing; write its body and run it."
    mistakes = [
        (
            lambda mp, sp, mq, sq: kl_normal(mq, sq, mp, sp),
            "your function computes KL(q‖p): the expectation is under p, the first "
            "argument, so σ_p² and (μ_p − μ_q)² go over 2σ_q².",
        ),
        (
            _kl_normal_variances,
            "the log term is log(σ_q/σ_p), a ratio of standard deviations; with "
            "variances it needs a factor ½.",
        ),
        (_kl_normal_no_half, "the constant −½ is missing: KL(p‖p) must be 0."),
    ]
    for formula, hint in mistakes:
        wrong = [formula(*case) for case in NORMAL_CASES]
        if close(values, wrong, rtol=1e-9) is None:
            return hint
    expected = [kl_normal(*case) for case in NORMAL_CASES]
    return close(values, expected, rtol=1e-9, what="your function on the three test pairs")


# (lo, hi, dx) grids: the exercise's own, then a coarse, truncated one on which the grid
# estimate differs clearly from the closed form (and the mistakes from each other).
GRID_CASES = [(-8.0, 8.0, 0.01), (-3.0, 3.0, 0.5)]


def _grid_terms(lo, hi, dx, first=(0, 1), second=(1, 2)):
    x = np.arange(lo, hi, dx)
    return scipy.special.rel_entr(scipy.stats.norm.pdf(x, *first), scipy.stats.norm.pdf(x, *second))


@register("ch1-grid-dx", chapter=1, topic="KL on a grid", points=1)
def _grid_dx(answer):
    if not callable(answer):
        return "pass your function itself, `grid_kl`, not a number."
    values = [answer(*case) for case in GRID_CASES]
    if any(v is None or v is Ellipsis for v in values):
        return "not answered yet: `grid_kl` returns nothing; write its body and run it."
    if np.ndim(values[0]) == 0 and close(values[0], values[1], rtol=1e-9) is None:
        return (
            "`grid_kl` returns the same value on two different grids. A grid estimate "
            "depends on its grid (the closed form does not): build x from lo, hi and dx."
        )
    mistakes = [
        (
            [np.sum(_grid_terms(*case)) for case in GRID_CASES],
            "you summed density values: multiply by the grid spacing dx to approximate "
            "the integral.",
        ),
        (
            [np.trapezoid(_grid_terms(*case), dx=case[2]) for case in GRID_CASES],
            "that is the trapezoid rule; the exercise asks for the plain Riemann sum of "
            "section 1.4, the sum of the terms times dx.",
        ),
        (
            [np.sum(_grid_terms(*case, (1, 2), (0, 1))) * case[2] for case in GRID_CASES],
            "you integrated q·log(q/p): KL(p‖q) weights the log ratio by p = N(0, 1).",
        ),
    ]
    for wrong, hint in mistakes:
        if close(values, wrong, rtol=1e-9) is None:
            return hint
    expected = [np.sum(_grid_terms(*case)) * case[2] for case in GRID_CASES]
    return close(values, expected, rtol=1e-9, what="`grid_kl` on the two test grids")


COIN_P, COIN_Q, BLOCK = np.array([0.7, 0.3]), np.array([0.5, 0.5]), 10


@register("ch1-blocks", chapter=1, topic="KL of independent blocks", points=1)
def _blocks(answer):
    one_toss = kl_discrete(COIN_P, COIN_Q)
    if close(answer, one_toss, rtol=1e-6) is None:
        return "that is the KL of a single toss; the outcomes here are blocks of ten."
    return close(
        answer,
        BLOCK * one_toss,
        rtol=1e-6,
        advice="Compare it with the KL of a single toss: how should ten tosses relate to one?",
    )
