"""Notebook plumbing: numbers glued into the prose, and figure defaults.

`glue` is myst-nb's ``glue`` when myst-nb is installed (building the book, running the
tests); elsewhere (plain Colab) it writes the very same output, so a chapter runs
without the book's tool chain and still builds unchanged.
"""

import IPython
import matplotlib as mpl
import numpy as np
import seaborn as sns

__all__ = ["glue", "setup_figures"]

_GLUE_PREFIX = "application/papermill.record/"


def glue(name, value, display=False):
    """Store ``value`` under ``name`` so the prose can show it (``{glue:text}`name```).

    Args:
      name: the key used in the Markdown.
      value: any object; its rich display (text, HTML, figure) is what gets stored.
      display: also show it in the notebook.

    Returns:
      ``None``, like myst-nb's ``glue``: a cell ending in ``kc.glue(...)`` then shows
      nothing, rather than the value a second time.
    """
    # NumPy 2 prints scalars as `np.float64(0.35)`, which myst-nb's `{glue:text}`x:.2f``
    # cannot format; a Python number prints as `0.35`.
    value = value.item() if isinstance(value, np.generic) else value
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        bundle, metadata = IPython.core.formatters.format_display_data(value)
        prefix = "" if display else _GLUE_PREFIX
        metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
        IPython.display.display(
            {prefix + k: v for k, v in bundle.items()}, raw=True, metadata=metadata
        )
    else:
        myst_glue(name, value, display=display)


def setup_figures(dpi=80):
    """Small, readable figures: seaborn's style, perceptually uniform colour maps.

    Small figures keep every notebook under the course's 3 MiB budget.
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
