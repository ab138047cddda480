"""Instant feedback on exercises, without giving the answer away.

A chapter's code exercise ends with ``kc.check.exercise("ch1-coins", answer)``. The
checker for that id (registered in `klcourse.exercises`) computes the reference from
the exercise's own data with the course's functions and compares; the message says
*whether* the answer is right and, if not, what kind of mistake it looks like (wrong
shape, wrong sign, nats instead of bits, ...), never the expected value.

Every call is also recorded in `results`, which grading reads.
"""

import dataclasses
import math
import numbers
from typing import Callable, Optional

import numpy as np

__all__ = ["Exercise", "register", "exercise", "exercises", "results", "reset", "close"]


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One checkable exercise: where it lives and what it is worth."""

    id: str
    chapter: int
    topic: str
    points: int
    checker: Callable = dataclasses.field(repr=False, compare=False)


_REGISTRY = {}
_RESULTS = {}


def register(id, *, chapter, topic, points=1):
    """Decorator: register ``checker(answer) -> Optional[str]`` under ``id``.

    The checker returns ``None`` when the answer is right and otherwise a hint that
    does not contain the expected answer.
    """

    def decorate(checker):
        if id in _REGISTRY:
            raise ValueError(f"exercise id {id!r} is registered twice")
        _REGISTRY[id] = Exercise(id, chapter, topic, points, checker)
        return checker

    return decorate


def _load():
    from klcourse import exercises as _  # noqa: F401  (registers the checkers)


def exercises():
    """All registered exercises, ordered by chapter then id."""
    _load()
    return sorted(_REGISTRY.values(), key=lambda e: (e.chapter, e.id))


def _is_stub(answer):
    return answer is None or answer is Ellipsis


def exercise(id, answer):
    """Check a student's ``answer`` to exercise ``id`` and print a short verdict.

    Args:
      id: the exercise id shown in the chapter (``str``).
      answer: the student's value (number, array, function... as the exercise says).

    Returns:
      ``None``; the verdict is printed, and recorded for `results`.

    Raises:
      KeyError: if ``id`` names no exercise (the message lists the known ids).
    """
    _load()
    if id not in _REGISTRY:
        raise KeyError(f"no exercise {id!r}; known ids: {', '.join(sorted(_REGISTRY))}")
    if _is_stub(answer):
        hint = "not answered yet: replace `...` with your answer and run the cell again."
    else:
        try:
            hint = _REGISTRY[id].checker(answer)
        except Exception as error:  # a student's function may raise anything
            hint = f"checking your answer raised {type(error).__name__}: {error}"
    _RESULTS[id] = hint is None
    print(f"✅ {id}: correct." if hint is None else f"❌ {id}: {hint}")


def results():
    """``dict`` from exercise id to ``True``/``False`` for every check run so far."""
    return dict(_RESULTS)


def reset():
    """Forget recorded results (grading runs each notebook in a fresh kernel anyway)."""
    _RESULTS.clear()


def close(answer, expected, *, rtol=1e-3, atol=1e-6, what="your value") -> Optional[str]:
    """Compare a numeric answer with a reference; ``None`` if close, else a hint.

    The hint describes the mismatch (shape, sign, too large or small, a factor of
    ln 2 as between nats and bits) and never prints ``expected``.
    """
    if isinstance(answer, (str, bytes)) or not (
        isinstance(answer, numbers.Number) or hasattr(answer, "__array__") or isinstance(answer, (list, tuple))
    ):
        return f"{what} should be a number or an array; got {type(answer).__name__}."
    try:
        answer = np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError):
        return f"{what} should be numeric; got something NumPy cannot read as numbers."
    expected = np.asarray(expected, dtype=np.float64)
    if answer.shape != expected.shape:
        return f"{what} has shape {answer.shape}, but the exercise asks for shape {expected.shape}."
    if np.any(np.isnan(answer)):
        return f"{what} contains NaN: look for 0·log 0 or a log of a negative number."
    if np.allclose(answer, expected, rtol=rtol, atol=atol, equal_nan=False):
        return None
    if np.all(np.isfinite(expected)) and np.allclose(answer * math.log(2), expected, rtol=rtol, atol=atol):
        return f"{what} looks like it is in bits; the exercise asks for nats (natural log)."
    if np.all(np.isfinite(expected)) and np.allclose(answer / math.log(2), expected, rtol=rtol, atol=atol):
        return f"{what} looks like it is in nats; the exercise asks for bits (log base 2)."
    if np.any(expected != 0) and np.allclose(-answer, expected, rtol=rtol, atol=atol):
        return f"{what} has the wrong sign."
    if answer.size == 1:
        direction = "too large" if answer.item() > expected.item() else "too small"
        return f"{what} is {direction}. Check the formula and which distribution comes first."
    return f"{what} is not right in {int(np.sum(~np.isclose(answer, expected, rtol=rtol, atol=atol)))} entries."
