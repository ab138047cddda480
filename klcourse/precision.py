r"""The course's precision rule: numbers are compared at the precision they are shown with.

A notebook's stored outputs are re-computed by nbval on every test run, on whatever CPU,
thread count or GPU runs it. The last bits of a floating-point result depend on all three
(OpenBLAS picks its kernels by CPU, TensorFlow sums in another order on another thread
count, a GPU sums float32 in its own order), so comparing outputs as text would make the
tests pass only on the machine that stored them. Instead, every number in a text output
is compared *as a number*, at the precision it is written with:

* a number written with decimals or an exponent (``0.3494``, ``-153.2127``, ``3.1e-08``)
  matches if it differs from the stored one by at most **one unit in its last written
  digit** (rounding can flip that digit when the true value sits on a boundary); digits
  beyond the 9th significant one are never compared (a full-precision ``repr`` is float
  noise there);
* an integer (``100``, ``2``) must match exactly;
* all other text must match exactly (runs of spaces count as one, and spaces next to a
  number are padding, since NumPy pads arrays to the width of their widest number).

So a chapter states its precision by how it prints: ``f"{kl:.4f}"`` claims four
decimals, `klcourse.glue` stores a float rounded to ``digits`` significant digits
(default 6). Exactly: a number shown with at most 7 significant digits passes a change
of one unit in its last shown digit (by design) and fails a change of two or more units
there, or any change in an earlier digit. So a glued float (6 digits) fails on any change
in its 4th significant digit, while ``f"{kl:.3f}"`` showing ``0.349`` passes ``0.350``
and fails ``0.351``: a number shown with 3 or 4 significant digits is checked to 2 units
in its last one, not to its 4th digit.

`numbers_agree` is the comparison; `klcourse.nbval_plugin` makes nbval use it.
"""

import math
import re

__all__ = ["round_significant", "numbers_agree", "tokenize", "SIGNIFICANT_DIGITS_COMPARED"]

#: Digits beyond this many significant ones are never compared.
SIGNIFICANT_DIGITS_COMPARED = 9

# A number not glued to a word: `k1`, `float64`, `x2`, `ch3-x` stay text.
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w])")
_SPACES = re.compile(r"\s+")


def round_significant(value, digits):
    """``value`` rounded to ``digits`` significant digits (a Python ``float``).

    Args:
      value: a real number (Python or NumPy scalar).
      digits: number of significant digits to keep, an ``int`` >= 1.

    Returns:
      ``float``; ``0.0``, ``inf`` and ``nan`` are returned unchanged.

    Raises:
      ValueError: if ``digits`` is not a positive integer.

    Examples:
      >>> round_significant(0.3493971234, 4)
      0.3494
      >>> round_significant(-153.2127038895184, 7)
      -153.2127
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ValueError(f"`digits` must be a positive int; got {digits!r}")
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits - 1}e}")


def tokenize(text):
    """Split ``text`` into its numbers and the text between them.

    Args:
      text: ``str``.

    Returns:
      ``(parts, numbers)``: ``parts`` is the list of text pieces between numbers (one
      more than the numbers; whitespace runs collapsed to one space, and dropped next to
      a number), ``numbers`` the list of number strings as written.

    Examples:
      >>> tokenize("KL(p||q) = 0.3494 nats, k1 over 100 draws")
      (['KL(p||q) =', 'nats, k1 over', 'draws'], ['0.3494', '100'])
    """
    numbers = _NUMBER.findall(text)
    # Spaces next to a number are padding (NumPy aligns arrays by their widest entry).
    parts = [_SPACES.sub(" ", part).strip(" ") for part in _NUMBER.split(text)]
    return parts, numbers


def _unit(written):
    """One unit in the last written digit of a decimal number string."""
    mantissa, _, exponent = written.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def _number_agrees(stored, new):
    stored_is_int = not re.search(r"[.eE]", stored)
    new_is_int = not re.search(r"[.eE]", new)
    if stored_is_int or new_is_int:
        return stored_is_int and new_is_int and int(stored) == int(new)
    a, b = float(stored), float(new)
    if a == b:
        return True
    tolerance = max(_unit(stored), _unit(new))
    noise_floor = abs(a) * 10.0 ** (1 - SIGNIFICANT_DIGITS_COMPARED)
    return abs(a - b) <= (tolerance + noise_floor) * (1 + 1e-9)


def numbers_agree(stored, new):
    """Whether two output texts agree under the course's precision rule.

    Args:
      stored: the text stored in the notebook (``str``).
      new: the text the re-run produced (``str``).

    Returns:
      ``True`` if the texts are the same apart from numbers, and each number agrees with
      the stored one to within one unit in its last written digit (integers exactly;
      nothing beyond the 9th significant digit).

    Examples:
      >>> numbers_agree("log evidence -153.2127", "log evidence -153.2128")
      True
      >>> numbers_agree("KL 0.349397", "KL 0.349497")
      False
      >>> numbers_agree("KL 0.3494 nats", "KL 0.3494 bits")
      False
    """
    if stored == new:
        return True
    if not isinstance(stored, str) or not isinstance(new, str):
        return False
    stored_parts, stored_numbers = tokenize(stored)
    new_parts, new_numbers = tokenize(new)
    if stored_parts != new_parts or len(stored_numbers) != len(new_numbers):
        return False
    return all(_number_agrees(s, n) for s, n in zip(stored_numbers, new_numbers, strict=True))
