"""Chapter 7 (KL in training): checkers for its code exercises.

Each checker rebuilds the chapter's problem from `klcourse.policy`'s examples and
computes the reference there, so no expected value is written here.
"""

import functools
import math

import numpy as np
import scipy.optimize
import scipy.special

from klcourse import policy
from klcourse.check import register
from klcourse.divergence import kl_discrete
from klcourse.exercises._shortcuts import forbidden_calls
from klcourse.hints import close

TARGET_KL = 0.25


def _beta_for(kl_of_beta, target):
    return scipy.optimize.brentq(lambda b: kl_of_beta(b) - target, 1e-3, 1e3, xtol=1e-13)


@register("ch7-beta-for-kl", chapter=7, topic="choosing β for a KL budget", points=1)
def _beta_for_kl(answer):
    space, ref_logits, reward = policy.tiny_language_model()
    ref = np.exp(policy.log_probs(space, ref_logits))

    def reverse(b):
        return kl_discrete(policy.optimal_policy(ref, reward, b), ref)

    def forward(b):
        return kl_discrete(ref, policy.optimal_policy(ref, reward, b))

    expected = _beta_for(reverse, TARGET_KL)
    if np.ndim(answer) != 0:
        return "give a single number β."
    bandit_ref, bandit_reward = policy.toy_bandit()
    mistakes = {
        "your β puts KL(π_ref‖π*) at the budget; the leash is KL(π*‖π_ref), π* first.": (
            _beta_for(forward, TARGET_KL)
        ),
        "your β meets the budget in bits; the budget is in nats.": _beta_for(
            reverse, TARGET_KL * math.log(2)
        ),
        "that is the β for the bandit; use the tiny language model.": (
            _beta_for(
                lambda b: kl_discrete(
                    policy.optimal_policy(bandit_ref, bandit_reward, b), bandit_ref
                ),
                TARGET_KL,
            )
        ),
    }
    for hint, value in mistakes.items():
        if np.isclose(answer, value, rtol=1e-4):
            return hint
    if np.isclose(answer, 1 / expected, rtol=1e-4):
        return "that looks like 1/β: β multiplies the KL, it does not divide it."
    hint = close(answer, expected, rtol=1e-5, atol=0, what="your β")
    if hint and "too" in hint:  # the generic hint mentions the order of distributions
        larger = answer > expected
        return (
            f"your β is {'too large' if larger else 'too small'}: its optimum is "
            f"{'closer to' if larger else 'further from'} π_ref than the budget allows."
        )
    return hint


def _expected_gradient(space, logits, ref_logits, estimator, per_token, weights=None):
    grads = policy.estimator_gradients(space, logits, ref_logits, estimator, per_token=per_token)
    if weights is None:
        weights = np.exp(policy.log_probs(space, logits))
    return np.einsum("s,spv->pv", weights, grads)


def _calls(function, name):
    """Whether ``function`` (nested code and helpers beside it too) refers to ``name``.

    Through `_shortcuts.forbidden_calls`, so that it works in a grading sandbox too."""
    return bool(forbidden_calls(function, {name}))


@register("ch7-grpo-k3", chapter=7, topic="per-token k3 as a loss", points=2)
def _grpo_k3(answer):
    if not callable(answer):
        return "store your function itself in `answer` (no parentheses)."
    if _calls(answer, "estimator_gradients"):
        return "build the gradient from `token_log_probs` and `score_vectors` yourself."
    space, ref_logits, reward = policy.tiny_language_model()
    ref = np.exp(policy.log_probs(space, ref_logits))
    tuned = policy.logits_from_probs(space, policy.optimal_policy(ref, reward, 0.5))
    other = np.random.default_rng(7).normal(size=ref_logits.shape)
    for logits in (tuned, other):
        got = answer(logits, ref_logits)
        expected = _expected_gradient(space, logits, ref_logits, "k3", True)
        if np.shape(got) != expected.shape:
            return (
                f"your function returns shape {np.shape(got)}; "
                f"it should have one row per prefix, shape {expected.shape}."
            )
        if np.allclose(got, expected, rtol=1e-6, atol=1e-10):
            continue
        probs = np.exp(policy.log_probs(space, logits))
        mistakes = {
            "that is the gradient of the forward KL(π_ref‖π), what k3 of the whole answer "
            "gives; the exercise sums k3 over the tokens.": policy.kl_gradient(
                space, logits, ref_logits, "forward"
            ),
            "that is the gradient of KL(π‖π_ref); the exercise asks for the k3 loss's.": (
                policy.kl_gradient(space, logits, ref_logits, "reverse")
            ),
            "weight each answer by its probability under π_θ (the samples come from π_θ), "
            "not equally.": _expected_gradient(
                space, logits, ref_logits, "k3", True, np.full(probs.size, 1 / probs.size)
            ),
            "the samples come from π_θ, not π_ref: weight the answers by π_θ(y).": (
                _expected_gradient(space, logits, ref_logits, "k3", True, ref)
            ),
            "that is the gradient of the k2 loss; k3 is r - 1 - log r.": _expected_gradient(
                space, logits, ref_logits, "k2", True
            ),
        }
        for hint, value in mistakes.items():
            if np.allclose(got, value, rtol=1e-6, atol=1e-10):
                return hint
        return close(got, expected, rtol=1e-6, atol=1e-10, what="your gradient")
    return None


def _reference_dpo(chosen, rejected, ref_chosen, ref_rejected, beta):
    margin = beta * ((chosen - ref_chosen) - (rejected - ref_rejected))
    return float(np.mean(np.logaddexp(0.0, -margin)))


@register("ch7-dpo-loss", chapter=7, topic="the DPO loss", points=2)
def _dpo_loss(answer):
    if not callable(answer):
        return "store your function itself in `answer` (no parentheses)."
    if _calls(answer, "dpo_loss"):
        return "write the loss yourself rather than calling `policy.dpo_loss`."
    rng = np.random.default_rng(11)
    chosen, rejected, ref_chosen, ref_rejected = rng.normal(-5.0, 2.0, size=(4, 9))
    beta = 0.3
    got = answer(chosen, rejected, ref_chosen, ref_rejected, beta)
    if np.ndim(got) != 0:
        return "return one number: the loss averaged over the batch."
    expected = _reference_dpo(chosen, rejected, ref_chosen, ref_rejected, beta)
    if not np.isclose(got, expected, rtol=1e-9):
        mistakes = {
            "β is missing: it multiplies each log-ratio.": _reference_dpo(
                chosen, rejected, ref_chosen, ref_rejected, 1.0
            ),
            "chosen and rejected are swapped: the loss rewards the chosen answer's margin.": (
                _reference_dpo(rejected, chosen, ref_rejected, ref_chosen, beta)
            ),
            "the reference model is missing: use log π_θ - log π_ref for each answer.": (
                _reference_dpo(chosen, rejected, 0 * ref_chosen, 0 * ref_rejected, beta)
            ),
            "that is the sum over the batch; the exercise asks for the mean.": 9 * expected,
            "that is log σ(margin); the loss is its negative.": -expected,
        }
        for hint, value in mistakes.items():
            if np.isclose(got, value, rtol=1e-9):
                return hint
        hint = close(got, expected, rtol=1e-9, what="your loss")
        if hint and "too" in hint:  # not a KL: the generic hint's "which comes first" misleads
            return (
                f"your loss is {'too large' if got > expected else 'too small'}: "
                "check −log σ(margin) and the margin β·(Δ log π_θ − Δ log π_ref)."
            )
        return hint
    # Large margins: a naive log(sigmoid(x)) overflows or returns -inf here.
    big = np.array([800.0, -800.0])
    with np.errstate(all="ignore"):
        got = answer(big, -big, np.zeros(2), np.zeros(2), 1.0)
    if not np.isfinite(got) or not np.isclose(got, 800.0, rtol=1e-9):
        return "right for moderate margins, but not stable for large ones: use np.logaddexp."
    return None


TRUST_KL = 0.02
TRUST_SHORTCUTS = ("fisher_information", "natural_gradient_step")


def _trust_cases():
    """``(logits, reward, max_kl)``: the chapter's bandit at π_ref, then one of our own."""
    ref, reward = policy.toy_bandit()
    rng = np.random.default_rng(71)
    return [(np.log(ref), reward, TRUST_KL), (rng.normal(size=6), rng.uniform(0, 1, 6), 0.05)]


def _trust_verdict(got, logits, reward, max_kl):
    """None if ``got`` is the new policy after the natural step, else a hint."""
    space = policy.SequenceSpace(vocab_size=logits.size, length=1)
    pi = scipy.special.softmax(logits)
    score = policy.score_vectors(space, logits[None])[:, 0, 0]
    g = (pi * reward) @ score
    fisher = policy.fisher_information(space, logits[None])
    natural = policy.natural_gradient_step(fisher, g, max_kl)

    def after(delta):
        return scipy.special.softmax(logits + delta)

    expected = after(natural)
    got_array = np.asarray(got, dtype=np.float64) if np.ndim(got) else None
    if got_array is not None and got_array.shape == expected.shape:
        if np.allclose(got_array, natural, rtol=1e-6) or abs(got_array.sum()) < 1e-6:
            return "that looks like the step δ; return the new policy's probabilities."
        if not np.allclose(got_array, expected, rtol=1e-6, atol=1e-9):
            plain = g * math.sqrt(2 * max_kl / (g @ fisher @ g))
            mistakes = {
                "that is the plain gradient scaled to the budget; the step uses F⁺g.": after(plain),
                "your step has δᵀFδ equal to the budget; the budget is on ½δᵀFδ.": after(
                    natural / math.sqrt(2)
                ),
                "your step spends twice the KL budget: the budget is on ½δᵀFδ.": after(
                    natural * math.sqrt(2)
                ),
                "scale the natural gradient F⁺g to the KL budget.": after(
                    np.linalg.pinv(fisher) @ g
                ),
                "your step goes downhill: the reward should rise.": after(-natural),
            }
            for hint, value in mistakes.items():
                if np.allclose(got_array, value, rtol=1e-6, atol=1e-9):
                    return hint
    return close(got, expected, rtol=1e-6, atol=1e-9, what="your new policy")


@register("ch7-trust-step", chapter=7, topic="a natural-gradient step", points=1)
def _trust_step(answer):
    if not callable(answer):
        return "store your function trust_step(logits, reward, max_kl) itself in `answer`."
    for name in TRUST_SHORTCUTS:
        if _calls(answer, name):
            return f"compute g and F from the score yourself rather than calling `policy.{name}`."
    for logits, reward, max_kl in _trust_cases():
        hint = _trust_verdict(answer(logits.copy(), reward.copy(), max_kl), logits, reward, max_kl)
        if hint is not None:
            return hint
    return None


TEMPERATURES = np.arange(1.0, 1.51, 0.05)


@functools.lru_cache(maxsize=1)
def _temperature_candidates():
    """The answer of ch7-temperature-mode, and that of keeping only the first start."""
    teacher, starts = policy.three_bump_teacher()
    found = {}
    for temperature in TEMPERATURES:
        softened = policy.soft_targets(np.log(teacher), temperature)
        fits = policy.fit_student(softened, "reverse", starts)
        best = min(fits, key=lambda fit: fit[2])
        if best[1] > 3:
            found.setdefault("reference", temperature)
        if fits[0][1] > 3:
            found.setdefault("first start", temperature)
    return found


@register("ch7-temperature-mode", chapter=7, topic="temperature and mode seeking", points=1)
def _temperature_mode(answer):
    if np.ndim(answer) != 0:
        return "give a single temperature from the grid."
    found = _temperature_candidates()
    if np.isclose(answer, TEMPERATURES[0]):
        return (
            "at the first temperature the reverse-KL student still sits on one bump "
            "(as in the distillation section); check that you fit KL(student‖teacher)."
        )
    if "first start" in found and np.isclose(answer, found["first start"]):
        return "compare the fits from all four starts and keep the best one."
    if not np.any(np.isclose(answer, TEMPERATURES)):
        return "the answer is one of the temperatures in the grid."
    if np.isclose(answer, found["reference"], rtol=0, atol=1e-9):
        return None
    if answer > found["reference"]:
        return "too large: at a lower temperature of the grid the best student is already broad."
    return "too small: at that temperature the best reverse-KL student still sits on one bump."
