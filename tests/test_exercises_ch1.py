"""Chapter 1's checkers: each accepts the right answer and names each common mistake.

Every test feeds a checker what a student might write (the right answer, a named
mistake, the shortcut the exercise forbids) and asserts the verdict. Verdicts are
``None`` (correct) or a hint, which must never contain the expected value.
"""

import math

import numpy as np
import scipy.special
import scipy.stats

import klcourse as kc


def verdict(exercise_id, answer):
    checker = {e.id: e.checker for e in kc.check.exercises()}[exercise_id]
    return checker(answer)


# ---------------------------------------------------------------- ch1-die-bits
LOADED, FAIR = np.array([0.1] * 5 + [0.5]), np.full(6, 1 / 6)


def test_die_bits():
    right = float(np.sum(LOADED * np.log2(LOADED / FAIR)))
    assert verdict("ch1-die-bits", right) is None
    assert "nats" in verdict("ch1-die-bits", right * math.log(2))
    assert "KL(fair‖loaded)" in verdict("ch1-die-bits", np.sum(FAIR * np.log2(FAIR / LOADED)))
    hint = verdict("ch1-die-bits", right + 0.1)
    assert "too large" in hint and f"{right:.3f}" not in hint


# ---------------------------------------------------------------- ch1-my-kl
def my_kl_right(p, q):
    p, q = np.asarray(p, float), np.asarray(q, float)
    support = p > 0
    if np.any(q[support] == 0):
        return np.inf
    return np.sum(p[support] * np.log(p[support] / q[support]))


def test_my_kl_accepts_a_hand_written_kl():
    assert verdict("ch1-my-kl", my_kl_right) is None

    def with_where(p, q):
        return np.sum(np.where(p > 0, p * np.log(p / q), 0.0))

    assert verdict("ch1-my-kl", with_where) is None


def test_my_kl_names_the_mistakes():
    def naive(p, q):
        return np.sum(p * np.log(p / q))

    assert "NaN" in verdict("ch1-my-kl", naive)

    def smoothed(p, q):
        eps = 1e-10
        return np.sum(np.where(p > 0, p * np.log((p + eps) / (q + eps)), 0.0))

    assert "must be inf" in verdict("ch1-my-kl", smoothed)
    assert "KL(q‖p)" in verdict("ch1-my-kl", lambda p, q: my_kl_right(q, p))
    assert "bits" in verdict("ch1-my-kl", lambda p, q: my_kl_right(p, q) / math.log(2))
    assert "not a number" in verdict("ch1-my-kl", 0.08)
    assert "returns nothing" in verdict("ch1-my-kl", lambda p, q: None)


def shortcut_kc(p, q):
    return kc.kl_discrete(p, q)


def shortcut_rel_entr(p, q):
    return np.sum(scipy.special.rel_entr(p, q))


def shortcut_entropy(p, q):
    return scipy.stats.entropy(p, q)


RENAMED = kc.kl_discrete


def shortcut_renamed(p, q):
    return RENAMED(p, q)


def helper(p, q):
    return scipy.special.rel_entr(p, q)


def shortcut_in_helper(p, q):
    return np.sum(helper(p, q))


def test_my_kl_rejects_library_shortcuts():
    # Each returns exactly the right values: only its code gives it away.
    for shortcut, name in [
        (shortcut_kc, "kl_discrete"),
        (shortcut_rel_entr, "rel_entr"),
        (shortcut_entropy, "entropy"),
        (shortcut_renamed, "kl_discrete"),
        (shortcut_in_helper, "rel_entr"),
    ]:
        hint = verdict("ch1-my-kl", shortcut)
        assert hint is not None and name in hint, (shortcut.__name__, hint)


# ---------------------------------------------------------------- ch1-normal-closed-form
def kl_normal_by_hand(mu_p, sigma_p, mu_q, sigma_q):
    return np.log(sigma_q / sigma_p) + (sigma_p**2 + (mu_p - mu_q) ** 2) / (2 * sigma_q**2) - 0.5


def test_normal_closed_form():
    assert verdict("ch1-normal-closed-form", kl_normal_by_hand) is None
    swapped = verdict("ch1-normal-closed-form", lambda a, b, c, d: kl_normal_by_hand(c, d, a, b))
    assert "KL(q‖p)" in swapped

    def variances(mp, sp, mq, sq):
        return np.log(sq**2 / sp**2) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5

    assert "standard deviations" in verdict("ch1-normal-closed-form", variances)
    no_half = verdict("ch1-normal-closed-form", lambda *a: kl_normal_by_hand(*a) + 0.5)
    assert "−½" in no_half
    assert "kl_normal" in verdict("ch1-normal-closed-form", lambda *a: kc.kl_normal(*a))
    assert "not a number" in verdict("ch1-normal-closed-form", 1.0)


def test_normal_closed_form_unanswered():
    # A stub whose body is still empty returns None; one left as `...` returns Ellipsis.
    assert "returns nothing" in verdict("ch1-normal-closed-form", lambda *a: None)
    assert "returns nothing" in verdict("ch1-normal-closed-form", lambda *a: ...)


# ---------------------------------------------------------------- ch1-grid-dx
def grid_kl(lo, hi, dx):
    x = np.arange(lo, hi, dx)
    p, q = scipy.stats.norm.pdf(x, 0, 1), scipy.stats.norm.pdf(x, 1, 2)
    return np.sum(scipy.special.rel_entr(p, q)) * dx


def test_grid_dx_accepts_the_riemann_sum():
    assert verdict("ch1-grid-dx", grid_kl) is None


def test_grid_dx_rejects_the_closed_form_and_a_fixed_grid():
    # The closed form agrees with the exercise's grid to about 13 digits: only a second
    # grid tells them apart.
    assert math.isclose(grid_kl(-8, 8, 0.01), kc.kl_normal(0, 1, 1, 2), rel_tol=1e-12)
    assert "same value on two different grids" in verdict(
        "ch1-grid-dx", lambda lo, hi, dx: kc.kl_normal(0, 1, 1, 2)
    )
    assert "same value" in verdict("ch1-grid-dx", lambda lo, hi, dx: grid_kl(-8, 8, 0.01))


def test_grid_dx_names_the_mistakes():
    assert "multiply by the grid spacing" in verdict(
        "ch1-grid-dx", lambda lo, hi, dx: grid_kl(lo, hi, dx) / dx
    )

    def trapezoid(lo, hi, dx):
        x = np.arange(lo, hi, dx)
        p, q = scipy.stats.norm.pdf(x, 0, 1), scipy.stats.norm.pdf(x, 1, 2)
        return np.trapezoid(scipy.special.rel_entr(p, q), dx=dx)

    assert "trapezoid" in verdict("ch1-grid-dx", trapezoid)

    def reversed_integrand(lo, hi, dx):
        x = np.arange(lo, hi, dx)
        p, q = scipy.stats.norm.pdf(x, 0, 1), scipy.stats.norm.pdf(x, 1, 2)
        return np.sum(scipy.special.rel_entr(q, p)) * dx

    assert "q·log(q/p)" in verdict("ch1-grid-dx", reversed_integrand)
    assert "not a number" in verdict("ch1-grid-dx", 0.44)


def test_grid_dx_unanswered():
    assert "returns nothing" in verdict("ch1-grid-dx", lambda lo, hi, dx: None)
    assert "returns nothing" in verdict("ch1-grid-dx", lambda lo, hi, dx: ...)


# ---------------------------------------------------------------- ch1-blocks
def test_blocks():
    p, q = np.array([0.7, 0.3]), np.array([0.5, 0.5])
    one = kc.kl_discrete(p, q)
    # The verification a student writes: all 2**10 sequences of ten tosses.
    block_p, block_q = np.ones(1), np.ones(1)
    for _ in range(10):
        block_p, block_q = np.kron(block_p, p), np.kron(block_q, q)
    assert verdict("ch1-blocks", kc.kl_discrete(block_p, block_q)) is None
    assert "single toss" in verdict("ch1-blocks", one)
    assert "bits" in verdict("ch1-blocks", 10 * one / math.log(2))
    hint = verdict("ch1-blocks", one**10)
    assert "too small" in hint and "single toss" in hint
