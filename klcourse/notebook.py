"""Notebook plumbing: numbers glued into the prose, and figure defaults.

`glue` writes the very output myst-nb's ``glue`` writes (so the book pastes it), without
needing myst-nb (plain Colab), and stores floats at the precision the course claims for
them (`klcourse.precision`).
"""

import IPython
import matplotlib as mpl
import numpy as np
import seaborn as sns

from klcourse.precision import round_significant

__all__ = ["glue", "setup_figures"]

_GLUE_PREFIX = "application/papermill.record/"


def _rounded(value, digits):
    """Floats (alone or in lists, tuples and arrays) rounded to ``digits`` significant."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return np.vectorize(lambda v: round_significant(v, digits), otypes=[float])(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_rounded(v, digits) for v in value)
    if isinstance(value, float):
        return round_significant(value, digits)
    return value


def glue(name, value, display=False, *, digits=6):
    """Store ``value`` under ``name`` so the prose can show it (``{glue:text}`name```).

    Floats are stored rounded to ``digits`` significant digits: that is the precision
    the course claims for the number, and nbval compares it at that precision on every
    machine (`klcourse.precision`). The prose must not format more digits than are
    stored (a test checks). Results of float32 training or sampling carry noise in
    their 5th digit across CPUs and GPUs: glue them with ``digits=3`` or ``4``.

    Args:
      name: the key used in the Markdown.
      value: any object; its rich display (text, HTML, figure) is what gets stored.
        NumPy scalars become Python numbers; floats (also inside lists, tuples and
        float arrays) are rounded to ``digits`` significant digits.
      display: also show it in the notebook.
      digits: significant digits kept for floats (default 6).

    Returns:
      ``None``, like myst-nb's ``glue``: a cell ending in ``kc.glue(...)`` then shows
      nothing, rather than the value a second time.

    Raises:
      ValueError: if ``digits`` is not a positive int.

    Examples:
      In a chapter, ``kc.glue("kl_pq", 0.34939712)`` stores ``0.349397``, which the
      Markdown shows with ``{glue:text}`kl_pq:.4f``` as 0.3494. Outside a notebook the
      output goes to IPython's display machinery, which prints nothing:

      >>> glue("kl_pq", 0.34939712)
    """
    # NumPy 2 prints scalars as `np.float64(0.35)`, which myst-nb's `{glue:text}`x:.2f``
    # cannot format; a Python number prints as `0.35`.
    value = value.item() if isinstance(value, np.generic) else value
    value = _rounded(value, digits)
    # myst-nb's own `glue` writes exactly this output; writing it here works without
    # myst-nb (plain Colab) and records the precision claimed, which a test reads.
    bundle, metadata = IPython.core.formatters.format_display_data(value)
    prefix = "" if display else _GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    metadata["klcourse"] = {"digits": digits}
    IPython.display.display({prefix + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)


def setup_figures(dpi=80):
    """Small, readable figures: seaborn's style, perceptually uniform colour maps.

    Small figures keep every notebook under the course's 3 MiB budget. Every chapter
    calls it once, in its first code cell (chapter 1 onwards).

    Args:
      dpi: dots per inch of the figures (default 80).

    Returns:
      ``None``; matplotlib's ``rcParams`` are updated in place.

    Examples:
      >>> import matplotlib as mpl
      >>> setup_figures()
      >>> mpl.rcParams["figure.dpi"], mpl.rcParams["figure.figsize"]
      (80.0, [6.0, 3.6])
    """
    sns.set_theme(context="notebook", style="ticks")
    mpl.rcParams.update(
        {
            "figure.dpi": dpi,
            "figure.figsize": (6.0, 3.6),
            "image.cmap": "viridis",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "animation.embed_limit": 8,  # MB; animations are kept far below this
            # Opaque white, so axes stay visible when the book is read in dark mode.
            "figure.facecolor": "white",
            "savefig.facecolor": "white",
        }
    )
