"""Chapter 1 (what KL measures): checkers for its code exercises."""

import math

import numpy as np
import scipy.stats

from klcourse.check import register
from klcourse.divergence import kl_discrete, kl_normal
from klcourse.hints import close

LOADED_DIE = np.array([0.1, 0.1, 0.1, 0.1, 0.1, 0.5])
FAIR_DIE = np.full(6, 1 / 6)


@register("ch1-die-bits", chapter=1, topic="discrete KL in bits", points=1)
def _die_bits(answer):
    return close(answer, kl_discrete(LOADED_DIE, FAIR_DIE, base=2), rtol=1e-4)


MY_KL_CASES = [
    ([0.7, 0.3], [0.5, 0.5]),
    ([0.2, 0.3, 0.5], [0.1, 0.6, 0.3]),
    ([1.0, 0.0], [0.5, 0.5]),  # 0·log 0 = 0
    ([0.5, 0.5], [1.0, 0.0]),  # q = 0 where p > 0: infinite
]


@register("ch1-my-kl", chapter=1, topic="implementing discrete KL", points=2)
def _my_kl(answer):
    if not callable(answer):
        return "pass your function itself, `my_kl`, not a number."
    for number, (p, q) in enumerate(MY_KL_CASES, start=1):
        value = answer(np.array(p), np.array(q))
        if value is None or value is Ellipsis:
            return (
                "not answered yet: `my_kl` returns nothing; write its body and run the cell again."
            )
        expected = kl_discrete(p, q)
        if math.isinf(expected):
            if not (np.ndim(value) == 0 and np.isinf(value) and value > 0):
                return f"test case {number} has q = 0 where p > 0; KL should be infinite there."
            continue
        hint = close(value, expected, rtol=1e-9, atol=1e-12, what=f"my_kl on test case {number}")
        if hint:
            if np.isnan(value):
                return f"test case {number} gives NaN: 0·log(0/q) must count as 0 (try scipy.special.rel_entr)."
            return hint
    return None


@register("ch1-normal-closed-form", chapter=1, topic="Gaussian closed form", points=1)
def _normal_closed_form(answer):
    return close(answer, kl_normal(2.0, 1.0, 0.0, 3.0), rtol=1e-6)


@register("ch1-grid-dx", chapter=1, topic="KL on a grid", points=1)
def _grid_dx(answer):
    x = np.arange(-8, 8, 0.01)
    p, q = scipy.stats.norm.pdf(x, 0, 1), scipy.stats.norm.pdf(x, 1, 2)
    grid = np.sum(scipy.special.rel_entr(p, q))
    if np.ndim(answer) == 0 and np.isfinite(answer) and abs(answer - grid) < 1e-6 * grid:
        return "you summed density values: multiply by the grid spacing dx to approximate the integral."
    return close(answer, grid * 0.01, rtol=1e-6)
