"""Chapter 7's checkers: each accepts the right answer and names each common mistake and
shortcut, without revealing the expected value."""

import math

import numpy as np
import pytest
import scipy.optimize
import scipy.special

import klcourse as kc
from klcourse import policy
from klcourse.check import _REGISTRY


def verdict(id, answer):
    return _REGISTRY[id].checker(answer)


# ------------------------------------------------------------------ ch7-beta-for-kl
def lm():
    space, ref_logits, reward = policy.tiny_language_model()
    return space, np.exp(policy.log_probs(space, ref_logits)), reward


def beta_for(kl_fn, target):
    return scipy.optimize.brentq(lambda b: kl_fn(b) - target, 1e-3, 1e3, xtol=1e-13)


def reverse_kl(b):
    _, ref, reward = lm()
    return kc.kl_discrete(policy.optimal_policy(ref, reward, b), ref)


def test_beta_for_kl_accepts_the_root():
    assert verdict("ch7-beta-for-kl", beta_for(reverse_kl, 0.25)) is None


def test_beta_for_kl_names_the_mistakes():
    _, ref, reward = lm()
    forward = beta_for(lambda b: kc.kl_discrete(ref, policy.optimal_policy(ref, reward, b)), 0.25)
    assert "KL(π*‖π_ref)" in verdict("ch7-beta-for-kl", forward)
    assert "bits" in verdict("ch7-beta-for-kl", beta_for(reverse_kl, 0.25 * math.log(2)))
    bandit_ref, bandit_reward = policy.toy_bandit()
    bandit = beta_for(
        lambda b: kc.kl_discrete(policy.optimal_policy(bandit_ref, bandit_reward, b), bandit_ref),
        0.25,
    )
    assert "bandit" in verdict("ch7-beta-for-kl", bandit)
    assert "1/β" in verdict("ch7-beta-for-kl", 1 / beta_for(reverse_kl, 0.25))
    right = beta_for(reverse_kl, 0.25)
    assert "too large" in verdict("ch7-beta-for-kl", 1.5 * right)
    assert "too small" in verdict("ch7-beta-for-kl", 0.7 * right)
    assert "single number" in verdict("ch7-beta-for-kl", [right, right])
    for shown in (f"{right:.3f}", f"{right:.2f}"):
        assert shown not in verdict("ch7-beta-for-kl", 1.5 * right)


# ------------------------------------------------------------------ ch7-grpo-k3
def per_token_k3(logits, ref_logits, weights="policy", estimator="k3"):
    space = policy.tiny_language_model()[0]
    log_r = policy.token_log_probs(space, ref_logits) - policy.token_log_probs(space, logits)
    slope = {"k3": np.expm1(log_r), "k2": log_r}[estimator]
    per_answer = -np.einsum("st,stpv->spv", slope, policy.score_vectors(space, logits))
    w = {
        "policy": np.exp(policy.log_probs(space, logits)),
        "uniform": np.full(space.num_sequences, 1 / space.num_sequences),
        "reference": np.exp(policy.log_probs(space, ref_logits)),
    }[weights]
    return np.einsum("s,spv->pv", w, per_answer)


def test_grpo_k3_accepts_a_hand_built_gradient():
    assert verdict("ch7-grpo-k3", per_token_k3) is None


def test_grpo_k3_names_the_mistakes():
    space = policy.tiny_language_model()[0]

    def forward(logits, ref_logits):
        return policy.kl_gradient(space, logits, ref_logits, "forward")

    def reverse(logits, ref_logits):
        return policy.kl_gradient(space, logits, ref_logits, "reverse")

    assert "forward KL" in verdict("ch7-grpo-k3", forward)
    assert "KL(π‖π_ref)" in verdict("ch7-grpo-k3", reverse)
    assert "not equally" in verdict(
        "ch7-grpo-k3", lambda a, b: per_token_k3(a, b, weights="uniform")
    )
    assert "not π_ref" in verdict(
        "ch7-grpo-k3", lambda a, b: per_token_k3(a, b, weights="reference")
    )
    assert "k2" in verdict("ch7-grpo-k3", lambda a, b: per_token_k3(a, b, estimator="k2"))
    assert "wrong sign" in verdict("ch7-grpo-k3", lambda a, b: -per_token_k3(a, b))
    assert "shape" in verdict("ch7-grpo-k3", lambda a, b: per_token_k3(a, b).ravel())
    assert "function itself" in verdict("ch7-grpo-k3", per_token_k3(*lm_logits()))


def lm_logits():
    space, ref_logits, reward = policy.tiny_language_model()
    ref = np.exp(policy.log_probs(space, ref_logits))
    return policy.logits_from_probs(space, policy.optimal_policy(ref, reward, 0.5)), ref_logits


def test_grpo_k3_rejects_the_shortcut():
    space = policy.tiny_language_model()[0]

    def shortcut(logits, ref_logits):
        grads = policy.estimator_gradients(space, logits, ref_logits, "k3")
        return np.einsum("s,spv->pv", np.exp(policy.log_probs(space, logits)), grads)

    assert "yourself" in verdict("ch7-grpo-k3", shortcut)


# ------------------------------------------------------------------ ch7-dpo-loss
def dpo(chosen, rejected, ref_chosen, ref_rejected, beta):
    margin = beta * ((chosen - ref_chosen) - (rejected - ref_rejected))
    return float(np.mean(np.logaddexp(0.0, -margin)))


def test_dpo_accepts_a_stable_loss():
    assert verdict("ch7-dpo-loss", dpo) is None


def test_dpo_names_the_mistakes():
    assert "β is missing" in verdict("ch7-dpo-loss", lambda c, r, rc, rr, b: dpo(c, r, rc, rr, 1))
    assert "swapped" in verdict("ch7-dpo-loss", lambda c, r, rc, rr, b: dpo(r, c, rr, rc, b))
    assert "reference" in verdict(
        "ch7-dpo-loss", lambda c, r, rc, rr, b: dpo(c, r, 0 * rc, 0 * rr, b)
    )
    assert "sum" in verdict("ch7-dpo-loss", lambda c, r, rc, rr, b: len(c) * dpo(c, r, rc, rr, b))
    assert "negative" in verdict("ch7-dpo-loss", lambda c, r, rc, rr, b: -dpo(c, r, rc, rr, b))
    assert "one number" in verdict(
        "ch7-dpo-loss", lambda c, r, rc, rr, b: np.logaddexp(0, -b * ((c - rc) - (r - rr)))
    )
    assert "function itself" in verdict("ch7-dpo-loss", 0.7)
    assert "too large" in verdict("ch7-dpo-loss", lambda c, r, rc, rr, b: 2 * dpo(c, r, rc, rr, b))


def test_dpo_rejects_an_unstable_loss():
    def naive(chosen, rejected, ref_chosen, ref_rejected, beta):
        margin = beta * ((chosen - ref_chosen) - (rejected - ref_rejected))
        return float(np.mean(-np.log(1 / (1 + np.exp(-margin)))))

    assert "stable" in verdict("ch7-dpo-loss", naive)


def test_dpo_rejects_the_shortcut():
    def shortcut(chosen, rejected, ref_chosen, ref_rejected, beta):
        policy.dpo_loss  # noqa: B018  (the reference is what the checker looks for)
        return dpo(chosen, rejected, ref_chosen, ref_rejected, beta)

    assert "yourself" in verdict("ch7-dpo-loss", shortcut)


# ------------------------------------------------------------------ ch7-trust-step
def trust_step(logits, reward, max_kl, mistake=None):
    pi = scipy.special.softmax(logits)
    score = np.eye(pi.size) - pi
    g = (pi * reward) @ score
    fisher = np.diag(pi) - np.outer(pi, pi)
    direction = np.linalg.pinv(fisher) @ g
    natural = math.sqrt(2 * max_kl / (g @ direction)) * direction
    if mistake == "delta":
        return natural
    if mistake == "short":
        return scipy.special.softmax(logits + natural)[:-1]
    delta = {
        None: natural,
        "plain": g * math.sqrt(2 * max_kl / (g @ fisher @ g)),
        "no-half": natural / math.sqrt(2),
        "twice": natural * math.sqrt(2),
        "unscaled": direction,
        "downhill": -natural,
    }[mistake]
    return scipy.special.softmax(logits + delta)


def test_trust_step_accepts_the_natural_step():
    assert verdict("ch7-trust-step", trust_step) is None


@pytest.mark.parametrize(
    "mistake, hint",
    [
        ("plain", "plain gradient"),
        ("no-half", "δᵀFδ equal to the budget"),
        ("twice", "twice the KL budget"),
        ("unscaled", "scale"),
        ("downhill", "downhill"),
        ("delta", "the step δ"),
        ("short", "shape"),
    ],
)
def test_trust_step_names_the_mistakes(mistake, hint):
    result = verdict("ch7-trust-step", lambda *args: trust_step(*args, mistake=mistake))
    assert result is not None and hint in result, result


def library_step(logits, reward, max_kl):  # the shortcut: right values, library code
    space = policy.SequenceSpace(vocab_size=logits.size, length=1)
    score = policy.score_vectors(space, logits[None])[:, 0, 0]
    g = (scipy.special.softmax(logits) * reward) @ score
    fisher = policy.fisher_information(space, logits[None])
    return scipy.special.softmax(logits + policy.natural_gradient_step(fisher, g, max_kl))


def test_trust_step_rejects_the_library_and_hard_coded_answers():
    ref, reward = policy.toy_bandit()
    assert np.allclose(
        library_step(np.log(ref), reward, 0.02), trust_step(np.log(ref), reward, 0.02)
    )
    result = verdict("ch7-trust-step", library_step)
    assert result is not None and "yourself" in result, result
    fixed = trust_step(np.log(ref), reward, 0.02)  # right on the chapter's bandit only
    assert verdict("ch7-trust-step", lambda *args: fixed) is not None
    assert "function" in verdict("ch7-trust-step", fixed)


# ------------------------------------------------------------------ ch7-temperature-mode
def temperature_answer(first_start_only=False):
    teacher, starts = policy.three_bump_teacher()
    for temperature in np.arange(1.0, 1.51, 0.05):
        softened = policy.soft_targets(np.log(teacher), temperature)
        fits = policy.fit_student(softened, "reverse", starts)
        fit = fits[0] if first_start_only else min(fits, key=lambda f: f[2])
        if fit[1] > 3:
            return temperature
    return None


def test_temperature_accepts_the_first_broad_temperature():
    assert verdict("ch7-temperature-mode", temperature_answer()) is None


def test_temperature_names_the_mistakes():
    assert "KL(student‖teacher)" in verdict("ch7-temperature-mode", 1.0)  # a forward fit
    first = temperature_answer(first_start_only=True)
    if first is not None and not np.isclose(first, temperature_answer()):
        assert "all four starts" in verdict("ch7-temperature-mode", first)
    assert "grid" in verdict("ch7-temperature-mode", 1.234)
    assert "too large" in verdict("ch7-temperature-mode", 1.5)
    assert "too small" in verdict("ch7-temperature-mode", 1.05)
    assert "single temperature" in verdict("ch7-temperature-mode", [1.1, 1.2])


@pytest.mark.parametrize("id", [e.id for e in kc.check.exercises() if e.chapter == 7])
def test_every_chapter7_checker_handles_a_stub(id, capsys):
    kc.check.exercise(id, ...)
    assert "not answered yet" in capsys.readouterr().out
