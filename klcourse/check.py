"""Instant feedback on exercises, without giving the answer away.

A chapter's code exercise ends with ``kc.check.exercise("ch1-coins", answer)``. The
checker for that id computes the reference from the exercise's own data with the
course's functions and compares; the message says *whether* the answer is right and, if
not, what kind of mistake it looks like (wrong shape, wrong sign, nats instead of bits,
...), never the expected value.

This module is the registry only. The checkers live in `klcourse.exercises` (one module
per chapter), which registers them when the package loads, and they build their hints
with `klcourse.hints`. Nothing here imports either, so the dependency runs one way.

Every call is also recorded in `results`, which grading reads.
"""

import dataclasses
import os
from collections.abc import Callable

__all__ = ["Exercise", "register", "exercise", "exercises", "results", "reset"]


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
    does not contain the expected answer (build it with `klcourse.hints.close`). Each
    chapter's module in `klcourse.exercises` registers its checkers this way.

    Args:
      id: the exercise id the chapter shows, e.g. ``"ch1-coins"``.
      chapter: the chapter number (``int``).
      topic: a few words for the grading report.
      points: what the exercise is worth when graded.

    Returns:
      The decorator, which returns the checker unchanged.

    Raises:
      ValueError: (when decorating) if ``id`` is already registered.

    Examples:
      >>> @register("doc-example", chapter=0, topic="doctest")
      ... def _check(answer):
      ...     return None if answer == 42 else "not 42."
      >>> exercise("doc-example", 41)
      ❌ doc-example: not 42.
      >>> _ = _REGISTRY.pop("doc-example"), _RESULTS.pop("doc-example")
    """

    def decorate(checker):
        if id in _REGISTRY:
            raise ValueError(f"exercise id {id!r} is registered twice")
        _REGISTRY[id] = Exercise(id, chapter, topic, points, checker)
        return checker

    return decorate


def exercises():
    """All registered exercises, ordered by chapter then id.

    Returns:
      ``list`` of `Exercise`.

    Examples:
      >>> import klcourse
      >>> min(e.chapter for e in exercises())
      1
    """
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
      AssertionError: under nbgrader (``NBGRADER_EXECUTION`` set), if the answer is
        wrong or missing, so that nbgrader's autograder fails the test cell.

    Examples:
      >>> import klcourse
      >>> exercise("ch1-my-kl", ...)  # the stub a chapter's solution cell starts with
      ❌ ch1-my-kl: not answered yet: replace `...` with your answer and run the cell again.
      >>> reset()
    """
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
    if hint is not None and os.environ.get("NBGRADER_EXECUTION"):
        # nbgrader's autograde and validate count a test cell as failed only if it raises.
        raise AssertionError(f"{id}: {hint}")


def results():
    """Every check run so far in this session, as grading reads it.

    Returns:
      ``dict`` from exercise id to ``True`` (right) or ``False`` (wrong or unanswered).

    Examples:
      >>> import klcourse
      >>> reset()
      >>> exercise("ch1-my-kl", ...)
      ❌ ch1-my-kl: not answered yet: replace `...` with your answer and run the cell again.
      >>> results()
      {'ch1-my-kl': False}
      >>> reset()
    """
    return dict(_RESULTS)


def reset():
    """Forget recorded results (grading runs each notebook in a fresh kernel anyway).

    Returns:
      ``None``; `results` is empty afterwards.

    Examples:
      >>> reset()
      >>> results()
      {}
    """
    _RESULTS.clear()
