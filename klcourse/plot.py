"""Figures and animations for the course: densities, contours and fits over time.

Animations are cheap by construction: the densities of every frame are evaluated in
one batched ``prob`` call on a modest grid before any drawing, the target's contours
are drawn once, and each frame only replaces the fitted distribution's artists.
(The TFP lecture notes this course grew from re-evaluated and re-contoured a
1000×1000 grid for every frame: about 0.85 s and 2.25 GB per frame.)
"""

import hashlib
import re

import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from matplotlib import animation

from klcourse import _validate

__all__ = [
    "density_1d",
    "density_grid",
    "contour",
    "frame_indices",
    "animate_fit_1d",
    "animate_fit_2d",
    "to_html",
    "to_gif",
]

TARGET_STYLE = {"color": "0.25", "lw": 2.5}
FIT_STYLE = {"color": "tab:orange", "lw": 2}


def _prob(dist, points):
    return np.asarray(dist.prob(tf.constant(points, dtype=dist.dtype)), dtype=np.float64)


def density_1d(ax, dists, x, *, labels=None, styles=None):
    """Plot the densities of univariate distributions on the points ``x``.

    Args:
      ax: a matplotlib ``Axes``.
      dists: a distribution or a list of them (anything with ``prob``).
      x: 1-D array of evaluation points.
      labels: optional list of legend labels, one per distribution.
      styles: optional list of ``dict`` of line keyword arguments.

    Returns:
      The list of ``Line2D`` artists.
    """
    dists = dists if isinstance(dists, (list, tuple)) else [dists]
    x = _validate.as_float_array(x, "x")
    labels = labels or [None] * len(dists)
    styles = styles or [{}] * len(dists)
    lines = [ax.plot(x, _prob(d, x), label=lab, **sty)[0] for d, lab, sty in zip(dists, labels, styles)]
    ax.set_xlabel("$x$")
    ax.set_ylabel("density")
    if any(labels):
        ax.legend(frameon=False)
    return lines


def density_grid(dist, xlim, ylim, num=100):
    """Density of a bivariate distribution on a ``num`` × ``num`` grid, in one call.

    Args:
      dist: a distribution over ℝ² (``event_shape == [2]``); a batch of them (batch
        shape ``[B]``) gives ``B`` grids at once.
      xlim, ylim: ``(low, high)`` of each axis.
      num: points per axis.

    Returns:
      ``(X, Y, Z)``: meshgrid arrays of shape ``[num, num]`` and the density, of shape
      ``[num, num]`` or ``[B, num, num]``.
    """
    num = _validate.positive_int(num, "num")
    X, Y = np.meshgrid(np.linspace(*xlim, num), np.linspace(*ylim, num))
    points = np.stack([X, Y], axis=-1)
    batch_rank = len(dist.batch_shape)
    # Put the grid axes in front of the batch axes so one `prob` call covers everything.
    points = points.reshape((num, num) + (1,) * batch_rank + (2,))
    Z = _prob(dist, points)
    Z = np.moveaxis(Z, (0, 1), (-2, -1)) if batch_rank else Z
    return X, Y, Z


def contour(ax, dist, xlim, ylim, *, num=100, filled=False, **kwargs):
    """Draw the density contours of a bivariate distribution.

    Args:
      ax: a matplotlib ``Axes``.
      dist: a distribution over ℝ².
      xlim, ylim: ``(low, high)`` of each axis.
      num: grid points per axis.
      filled: ``contourf`` instead of ``contour``.
      **kwargs: passed on to matplotlib (``levels``, ``cmap``, ``colors``, ...).

    Returns:
      The ``ContourSet``.
    """
    X, Y, Z = density_grid(dist, xlim, ylim, num)
    draw = ax.contourf if filled else ax.contour
    result = draw(X, Y, Z, **kwargs)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal")
    return result


def frame_indices(num_rows, frames):
    """``frames`` trace rows spread over ``num_rows``, denser at the start.

    Fits change fastest in their first steps, so frames are spaced evenly in
    √step: the animation shows the early motion without wasting frames on the tail.
    Always includes the first and the last row.
    """
    frames = _validate.positive_int(frames, "frames")
    if frames >= num_rows:
        return np.arange(num_rows)
    rows = np.round(np.linspace(0.0, 1.0, frames) ** 2 * (num_rows - 1)).astype(int)
    return np.unique(rows)


def _freeze_layout(fig):
    """Solve the constrained layout once, then keep it: re-solving it for every frame
    was half of each frame's cost, and the frames share one layout anyway."""
    fig.canvas.draw()
    fig.set_layout_engine("none")


def _batched(make_q, trace, rows):
    return make_q(**{name: values[rows] for name, values in trace.params.items()})


def animate_fit_1d(trace, make_q, target, x, *, frames=40, fps=8, title="fit", ylim=None):
    """Animate a univariate fit: the target's density and q's density at each frame.

    Args:
      trace: a `klcourse.fit.FitTrace`.
      make_q: callable taking the trace's parameters as keyword arrays with a leading
        frame axis (e.g. ``tfd.Normal``) and returning a batch of distributions.
      target: the target distribution (drawn once).
      x: 1-D evaluation points.
      frames: number of frames, spread over the trace by `frame_indices`.
      fps: frames per second.
      title: text before the step counter in the title.
      ylim: optional ``(low, high)``; defaults to fit everything drawn.

    Returns:
      ``matplotlib.animation.FuncAnimation`` (closed figure; show it with `to_html`).
    """
    x = _validate.as_float_array(x, "x")
    rows = frame_indices(len(trace.loss), frames)
    q_densities = _prob(_batched(make_q, trace, rows), x[:, None]).T  # [frames, len(x)]
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=72, layout="constrained")
    density_1d(ax, target, x, labels=["target $p$"], styles=[TARGET_STYLE])
    (line,) = ax.plot(x, q_densities[0], label="$q$", **FIT_STYLE)
    ax.legend(frameon=False, loc="upper right")
    top = max(q_densities.max(), _prob(target, x).max()) * 1.05
    ax.set_ylim(ylim or (0, top))

    def draw(frame):
        line.set_ydata(q_densities[frame])
        ax.set_title(f"{title}: step {rows[frame]}, loss {trace.loss[rows[frame]]:.4f}")
        return (line,)

    draw(0)
    _freeze_layout(fig)
    anim = animation.FuncAnimation(fig, draw, frames=len(rows), interval=1000 / fps, blit=False)
    plt.close(fig)
    return anim


def animate_fit_2d(panels, make_q, target, xlim, ylim, *, frames=30, fps=6, num=90, levels=8):
    """Animate bivariate fits side by side, one panel per trace.

    Args:
      panels: list of ``(trace, title)`` pairs.
      make_q: callable from the traces' parameters (keyword arrays with a leading
        frame axis) to a batch of bivariate distributions (e.g. ``tfd.MultivariateNormalDiag``).
      target: the target distribution; its contours are drawn once per panel.
      xlim, ylim: ``(low, high)`` of each axis.
      frames: frames, spread over each trace by `frame_indices`.
      fps: frames per second.
      num: grid points per axis.
      levels: number of contour levels, shared by target and fit.

    Returns:
      ``matplotlib.animation.FuncAnimation``.
    """
    num_rows = len(panels[0][0].loss)
    rows = frame_indices(num_rows, frames)
    X, Y, target_density = density_grid(target, xlim, ylim, num)
    contour_levels = np.linspace(0, target_density.max(), levels + 1)[1:]
    q_grids = [density_grid(_batched(make_q, trace, rows), xlim, ylim, num)[2] for trace, _ in panels]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.4), dpi=72,
                             layout="constrained", squeeze=False)
    axes = axes[0]
    for ax in axes:
        ax.contour(X, Y, target_density, levels=contour_levels, cmap="Greys", alpha=0.8)
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.set_aspect("equal")
        # Text layout is most of a frame's rendering cost; five ticks an axis suffice.
        ax.locator_params(nbins=4)
    drawn = [None] * len(panels)

    def draw(frame):
        for k, (ax, grid, (trace, title)) in enumerate(zip(axes, q_grids, panels)):
            if drawn[k] is not None:
                drawn[k].remove()
            drawn[k] = ax.contour(X, Y, grid[frame], levels=contour_levels, cmap="viridis")
            ax.set_title(f"{title}\nstep {rows[frame]}, KL {trace.loss[rows[frame]]:.4f}", fontsize=10)
        return drawn

    draw(0)
    _freeze_layout(fig)
    anim = animation.FuncAnimation(fig, draw, frames=len(rows), interval=1000 / fps, blit=False)
    plt.close(fig)
    return anim


def to_html(anim):
    """The animation as self-contained HTML (JavaScript player), for notebooks and the book.

    Matplotlib names the player's elements with a random UUID; here the name is a hash
    of the content instead, so re-running a notebook reproduces its output exactly.

    Returns:
      ``IPython.display.HTML``.
    """
    from IPython.display import HTML

    html = anim.to_jshtml(default_mode="once")
    ids = set(re.findall(r"_anim_img([0-9a-f]{32})", html))
    stable = hashlib.sha1(re.sub(r"[0-9a-f]{32}", "", html).encode()).hexdigest()[:32]
    for old in ids:
        html = html.replace(old, stable)
    return HTML(html)


def to_gif(anim, path, *, fps=8, dpi=72):
    """Save the animation as a GIF with matplotlib's Pillow writer (no ImageMagick).

    Returns:
      The ``path`` written.
    """
    anim.save(path, writer=animation.PillowWriter(fps=fps), dpi=dpi)
    return path
