"""Chapter 2 (why KL is not symmetric): checkers for its code exercises."""

import numpy as np

from klcourse.check import register
from klcourse.divergence import kl_discrete, kl_mvn, kl_normal
from klcourse.exercises._shortcuts import forbidden_calls
from klcourse.hints import close

# For quantities that are the same both ways round, "which distribution comes first"
# is no help; say what usually goes wrong instead.
SYMMETRIC_ADVICE = "Check each term of the definition."


@register("ch2-both-directions", chapter=2, topic="asymmetry of KL", points=1)
def _both_directions(answer):
    expected = [kl_normal(0.0, 1.0, 1.0, 2.0), kl_normal(1.0, 2.0, 0.0, 1.0)]
    if np.shape(answer) == (2,) and close(answer[::-1], expected, rtol=1e-6) is None:
        return "the two values are swapped: the first is KL(p‖q), with p = N(0, 1) first."
    return close(answer, expected, rtol=1e-6, what="your pair (KL(p‖q), KL(q‖p))")


JEFFREYS_P = np.array([0.2, 0.3, 0.5])
JEFFREYS_Q = np.array([0.4, 0.4, 0.2])


@register("ch2-jeffreys", chapter=2, topic="Jeffreys divergence", points=1)
def _jeffreys(answer):
    forward, backward = kl_discrete(JEFFREYS_P, JEFFREYS_Q), kl_discrete(JEFFREYS_Q, JEFFREYS_P)
    if close(answer, forward, rtol=1e-6) is None or close(answer, backward, rtol=1e-6) is None:
        return "that is one direction only; Jeffreys adds both directions."
    if close(answer, (forward + backward) / 2, rtol=1e-6) is None:
        return "that is the average of the two directions; Jeffreys is their sum."
    return close(answer, forward + backward, rtol=1e-6, advice=SYMMETRIC_ADVICE)


# Overlapping supports: JS is neither 0 nor its maximum, and its square root differs
# from it, so the distance cannot pass for the divergence.
JS_P = np.array([0.5, 0.3, 0.2, 0.0])
JS_Q = np.array([0.0, 0.1, 0.3, 0.6])


def _js_parts(base):
    m = (JS_P + JS_Q) / 2
    return kl_discrete(JS_P, m, base=base), kl_discrete(JS_Q, m, base=base)


@register("ch2-js-bits", chapter=2, topic="Jensen-Shannon divergence", points=1)
def _js_bits(answer):
    to_p, to_q = _js_parts(base=2)
    divergence = (to_p + to_q) / 2
    if close(answer, np.sqrt(divergence), rtol=1e-6) is None:
        return "SciPy's `jensenshannon` returns the square root of the divergence: square it."
    if close(answer, to_p + to_q, rtol=1e-6) is None:
        return "you added the two KL terms; JS is their average (each has weight ½)."
    if close(answer, to_p, rtol=1e-6) is None or close(answer, to_q, rtol=1e-6) is None:
        return "that is one of the two KL terms; JS averages KL(p‖m) and KL(q‖m)."
    return close(
        answer,
        divergence,
        rtol=1e-6,
        advice="Compare each distribution with the mixture m = (p + q)/2, not with the other.",
    )


COV_FULL = np.array([[2.0, 1.2], [1.2, 1.0]])
COV_DIAG = np.diag([1.0, 0.5])
ZERO2 = np.zeros(2)


@register("ch2-mvn-direction", chapter=2, topic="multivariate Gaussian KL", points=1)
def _mvn_direction(answer):
    # TFP computes in the dtype it is given (float32 by default): allow float32 rounding.
    expected = kl_mvn(ZERO2, COV_DIAG, ZERO2, COV_FULL)
    mistakes = [
        (
            kl_mvn(ZERO2, COV_FULL, ZERO2, COV_DIAG),
            "that is KL(full‖diagonal); the exercise asks for KL(diagonal‖full).",
        ),
        (
            kl_mvn(ZERO2, COV_DIAG**2, ZERO2, COV_FULL),
            "`scale_diag` takes standard deviations: the square roots of the variances.",
        ),
        (
            kl_mvn(ZERO2, COV_DIAG, ZERO2, COV_FULL @ COV_FULL.T),
            "`scale_tril` is a Cholesky factor L with Σ = L Lᵀ, not Σ itself: pass "
            "np.linalg.cholesky(Σ).",
        ),
    ]
    for wrong, hint in mistakes:
        if close(answer, wrong, rtol=1e-5) is None:
            return hint
    return close(answer, expected, rtol=1e-5)


# Test cases for `my_kl_mvn`: (mu_p, cov_p, mu_q, cov_q), in 1, 2 and 3 dimensions.
MVN_CASES = [
    (np.array([0.5]), np.array([[2.0]]), np.array([-1.0]), np.array([[0.5]])),
    (np.array([1.0, -1.0]), np.array([[1.0, 0.3], [0.3, 2.0]]), ZERO2, COV_FULL),
    (
        np.array([0.0, 1.0, 2.0]),
        np.array([[1.0, 0.6, 0.3], [0.6, 2.0, 0.5], [0.3, 0.5, 1.5]]),
        np.array([1.0, 0.0, -1.0]),
        np.diag([2.0, 1.0, 3.0]),
    ),
]


def _kl_mvn_mistake(mu_p, cov_p, mu_q, cov_q, *, which):
    inv_q = np.linalg.inv(cov_q)
    diff = mu_q - mu_p
    trace, quad = np.trace(inv_q @ cov_p), diff @ inv_q @ diff
    logdet = np.linalg.slogdet(cov_q)[1] - np.linalg.slogdet(cov_p)[1]
    d = len(mu_p)
    if which == "logdet flipped":
        return 0.5 * (trace + quad - d - logdet)
    if which == "no -d":
        return 0.5 * (trace + quad + logdet)
    if which == "no half":
        return trace + quad - d + logdet
    raise ValueError(which)


@register("ch2-my-kl-mvn", chapter=2, topic="implementing the Gaussian KL", points=2)
def _my_kl_mvn(answer):
    if not callable(answer):
        return "pass your function itself, `my_kl_mvn`, not a number."
    shortcuts = forbidden_calls(
        answer, {"kl_mvn", "kl_divergence", "kl_normal", "kl_quadrature"}, (kl_mvn, kl_normal)
    )
    if shortcuts:
        return (
            f"`my_kl_mvn` calls {', '.join(shortcuts)}: write the closed form yourself "
            "with np.trace, np.linalg.solve (or inv) and np.linalg.slogdet."
        )
    values = [answer(*case) for case in MVN_CASES]
    if any(v is None or v is Ellipsis for v in values):
        return "not answered yet: `my_kl_mvn` returns nothing; write its body and run it."
    swapped = [kl_mvn(mq, cq, mp, cp) for mp, cp, mq, cq in MVN_CASES]
    if close(values, swapped, rtol=1e-8) is None:
        return (
            "your function computes KL(q‖p): the expectation is under p, so it is "
            "Σ_q⁻¹ that multiplies Σ_p in the trace and sits in the quadratic form."
        )
    for which, hint in [
        ("logdet flipped", "the log-determinant term is upside down: log(det Σ_q / det Σ_p)."),
        ("no -d", "the −d (the dimension) is missing: KL(p‖p) must be 0."),
        ("no half", "the factor ½ in front of the bracket is missing."),
    ]:
        wrong = [_kl_mvn_mistake(*case, which=which) for case in MVN_CASES]
        if close(values, wrong, rtol=1e-8) is None:
            return hint
    expected = [kl_mvn(*case) for case in MVN_CASES]
    return close(values, expected, rtol=1e-8, what="`my_kl_mvn` on the 1-, 2- and 3-D tests")


# Same covariance, two shifts of the same length: one along the correlation, one across.
SHIFT_COV = np.array([[1.0, 0.8], [0.8, 1.0]])
SHIFTS = np.array([[1.0, 1.0], [1.0, -1.0]])


@register("ch2-shift", chapter=2, topic="Gaussian KL for a shifted copy", points=1)
def _shift(answer):
    expected = [kl_mvn(ZERO2, SHIFT_COV, shift, SHIFT_COV) for shift in SHIFTS]
    if np.shape(answer) == (2,) and close(answer[::-1], expected, rtol=1e-6) is None:
        return "the two values are swapped: the first is for the shift (1, 1)."
    mistakes = [
        (
            [0.5 * shift @ shift for shift in SHIFTS],
            "both shifts have the same length, but KL measures a shift in the units of "
            "Σ: the quadratic form uses Σ⁻¹, not the identity.",
        ),
        (
            [0.5 * shift @ SHIFT_COV @ shift for shift in SHIFTS],
            "the quadratic form uses Σ⁻¹, not Σ: a shift along a direction of large "
            "variance should cost little.",
        ),
        (
            [shift @ np.linalg.solve(SHIFT_COV, shift) for shift in SHIFTS],
            "the factor ½ in front of the quadratic form is missing.",
        ),
    ]
    for wrong, hint in mistakes:
        if close(answer, wrong, rtol=1e-6) is None:
            return hint
    return close(
        answer,
        expected,
        rtol=1e-6,
        what="your pair of KL values",
        advice="With equal covariances only the quadratic form of the shift is left.",
    )
