"""Chapter 2 (why KL is not symmetric): checkers for its code exercises."""

import numpy as np
import scipy.spatial.distance

from klcourse.check import register
from klcourse.divergence import kl_discrete, kl_mvn, kl_normal
from klcourse.hints import close


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
    one_way = kl_discrete(JEFFREYS_P, JEFFREYS_Q)
    if close(answer, one_way, rtol=1e-6) is None:
        return "that is one direction only; Jeffreys adds both directions."
    return close(answer, one_way + kl_discrete(JEFFREYS_Q, JEFFREYS_P), rtol=1e-6)


@register("ch2-js-disjoint", chapter=2, topic="Jensen-Shannon divergence", points=1)
def _js_disjoint(answer):
    p, q = np.array([0.5, 0.5, 0.0, 0.0]), np.array([0.0, 0.0, 0.25, 0.75])
    distance = scipy.spatial.distance.jensenshannon(p, q, base=2)
    if close(answer, distance, rtol=1e-6) is None and distance != distance**2:
        return "SciPy's `jensenshannon` returns the square root of the divergence: square it."
    return close(answer, distance**2, rtol=1e-6)


COV_FULL = np.array([[2.0, 1.2], [1.2, 1.0]])
COV_DIAG = np.diag([1.0, 0.5])


@register("ch2-mvn-direction", chapter=2, topic="multivariate Gaussian KL", points=1)
def _mvn_direction(answer):
    expected = kl_mvn([0.0, 0.0], COV_DIAG, [0.0, 0.0], COV_FULL)
    if close(answer, kl_mvn([0.0, 0.0], COV_FULL, [0.0, 0.0], COV_DIAG), rtol=1e-6) is None:
        return "that is KL(full‖diagonal); the exercise asks for KL(diagonal‖full)."
    return close(answer, expected, rtol=1e-6)
