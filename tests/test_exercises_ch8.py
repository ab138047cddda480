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
    assert verdict("ch8-stein-samples", n + 5) is not None
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
