"""Chapter 8's checkers: the right answer passes; the shortcut and each named mistake get
the hint meant for them."""

import math

import numpy as np
import pytest

import klcourse as kc
from klcourse.exercises import ch8_information as ch8


def verdict(exercise_id, answer):
    return {e.id: e for e in kc.check.exercises()}[exercise_id].checker(answer)


def right_f_divergence(p, q, f, f_inf):
    inside = q > 0
    value = float(np.sum(q[inside] * f(p[inside] / q[inside])))
    outside = p[~inside].sum()
    return value + (math.inf if math.isinf(f_inf) else f_inf * outside) if outside else value


def test_my_f_divergence(capsys):
    assert verdict("ch8-my-f-divergence", right_f_divergence) is None

    # The shortcut: the library function cannot take a callable with q = 0 < p.
    def shortcut(p, q, f, f_inf):
        return kc.fdivergence.f_divergence(p, q, f)

    kc.check.exercise("ch8-my-f-divergence", shortcut)  # as a student sees it
    assert "❌" in capsys.readouterr().out
    assert "calls f_divergence" in verdict("ch8-my-f-divergence", shortcut)

    # The shortcut under another name, bound outside the function.
    library = kc.fdivergence.f_divergence_quadrature

    def renamed(p, q, f, f_inf):
        return library(p, q, f)

    assert "calls f_divergence_quadrature" in verdict("ch8-my-f-divergence", renamed)

    def wrong_weight(p, q, f, f_inf):  # p_i f(p_i/q_i) instead of q_i f(p_i/q_i)
        inside = q > 0
        value = float(np.sum(p[inside] * f(p[inside] / q[inside])))
        outside = p[~inside].sum()
        return value + (math.inf if math.isinf(f_inf) else f_inf * outside) if outside else value

    hint = verdict("ch8-my-f-divergence", wrong_weight)
    assert "q_i·f(p_i/q_i)" in hint and "distribution comes first" not in hint

    def drops_zeros(p, q, f, f_inf):
        inside = q > 0
        return float(np.sum(q[inside] * f(p[inside] / q[inside])))

    assert "dropped the outcomes where q = 0" in verdict("ch8-my-f-divergence", drops_zeros)

    def naive(p, q, f, f_inf):
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.sum(q * f(p / q)))

    assert "NaN" in verdict("ch8-my-f-divergence", naive) or "infinite" in verdict(
        "ch8-my-f-divergence", naive
    )
    assert "not a number" in verdict("ch8-my-f-divergence", 0.3)
    assert "returns nothing" in verdict("ch8-my-f-divergence", lambda p, q, f, i: None)


def test_dpi():
    p, q, k = ch8.DPI_P, ch8.DPI_Q, ch8.DPI_CHANNEL
    assert verdict("ch8-dpi", kc.kl_discrete(p @ k, q @ k)) is None
    assert "before the channel" in verdict("ch8-dpi", kc.kl_discrete(p, q))
    assert "p first" in verdict("ch8-dpi", kc.kl_discrete(q @ k, p @ k))
    assert verdict("ch8-dpi", kc.kl_discrete(p @ k, q @ k) / math.log(2)) is not None


def test_stein_samples():
    n = ch8.stein_samples_needed()
    assert verdict("ch8-stein-samples", n) is None
    first_order = math.log(1e3) / kc.kl_normal(0.0, 1.0, 0.3, 1.0)
    assert "first-order" in verdict("ch8-stein-samples", math.ceil(first_order))
    assert "one short" in verdict("ch8-stein-samples", n - 1)
    assert "whole number" in verdict("ch8-stein-samples", n + 0.5)
    hint = verdict("ch8-stein-samples", n + 5)
    assert "too large" in hint and "smallest n at which the type-II error" in hint
    assert "distribution comes first" not in hint
    assert "too small" in verdict("ch8-stein-samples", n - 5)
    assert "one number" in verdict("ch8-stein-samples", [n, n])


@pytest.mark.parametrize("exercise_id", ["ch8-my-f-divergence", "ch8-dpi", "ch8-stein-samples"])
def test_hints_never_reveal_the_answer(exercise_id):
    wrong = {
        "ch8-my-f-divergence": lambda p, q, f, i: 0.123,
        "ch8-dpi": 0.123,
        "ch8-stein-samples": 100,
    }[exercise_id]
    hint = verdict(exercise_id, wrong)
    assert hint is not None
    assert str(ch8.stein_samples_needed()) not in hint
