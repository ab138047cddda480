"""Hints that say what kind of mistake an answer looks like, never the expected value.

The checkers in `klcourse.exercises` compare an answer with a reference through
`close`, whose messages describe the mismatch (shape, sign, too large or too small, a
factor of ln 2 between nats and bits) without printing the reference.
"""

import math
import numbers

import numpy as np

__all__ = ["close"]


def close(
    answer,
    expected,
    *,
    rtol=1e-3,
    atol=1e-6,
    what="your value",
    advice="Check the formula and which distribution comes first.",
) -> str | None:
    r"""Compare a numeric answer with a reference; ``None`` if close, else a hint.

    Close means ``numpy.allclose``: :math:`|a - e| \le \text{atol} + \text{rtol}\,|e|`
    elementwise. Otherwise the hint describes the mismatch (shape, NaN, a factor of
    ln 2 as between nats and bits, sign, too large or too small) and never prints
    ``expected``. Every chapter's checkers answer through it.

    Args:
      answer: the student's number or array-like.
      expected: the reference, of the shape the exercise asks for.
      rtol, atol: relative and absolute tolerance.
      what: how the hint names the answer ("your value", "your number of samples").
      advice: ends the "too large / too small" hint: pass one that fits the exercise
        (the default's "which distribution comes first" means nothing for a
        symmetric quantity).

    Returns:
      ``None`` if the answer is close, else a ``str`` hint without the reference value.

    Raises:
      Nothing: an answer of the wrong type gets a hint, not an exception.

    Examples:
      >>> close(0.3494, 0.349397) is None
      True
      >>> close(-0.349397, 0.349397)
      'your value has the wrong sign.'
    """
    if isinstance(answer, (str, bytes)) or not (
        isinstance(answer, numbers.Number)
        or hasattr(answer, "__array__")
        or isinstance(answer, (list, tuple))
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
    if np.all(np.isfinite(expected)) and np.allclose(
        answer * math.log(2), expected, rtol=rtol, atol=atol
    ):
        return f"{what} looks like it is in bits; the exercise asks for nats (natural log)."
    if np.all(np.isfinite(expected)) and np.allclose(
        answer / math.log(2), expected, rtol=rtol, atol=atol
    ):
        return f"{what} looks like it is in nats; the exercise asks for bits (log base 2)."
    if np.any(expected != 0) and np.allclose(-answer, expected, rtol=rtol, atol=atol):
        return f"{what} has the wrong sign."
    if answer.size == 1:
        direction = "too large" if answer.item() > expected.item() else "too small"
        return f"{what} is {direction}. {advice}".rstrip()
    wrong = int(np.sum(~np.isclose(answer, expected, rtol=rtol, atol=atol)))
    return f"{what} is not right in {wrong} of its {answer.size} entries."
