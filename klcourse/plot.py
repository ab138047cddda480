"""Figures and animations for the course: densities, contours and fits over time.

Animations are cheap by construction: the densities of every frame are evaluated in
one batched ``prob`` call on a modest grid before any drawing, and frames are drawn by
blitting: the static figure (axes, ticks, the target's contours) is rendered once and
each frame draws only the fitted distribution's artists and the title.
(The TFP lecture notes this course grew from re-evaluated and re-contoured a
1000×1000 grid for every frame: about 0.85 s and 2.25 GB per frame.)
"""

import base64
import hashlib
import io
import pathlib
import re
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from matplotlib import animation
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from klcourse import _validate

__all__ = [
    "density_1d",
    "density_grid",
    "contour",
    "frame_indices",
    "animate_fit_1d",
    "animate_fit_2d",
    "FitAnimation",
    "to_html",
    "to_gif",
]

TARGET_STYLE = {"color": "0.25", "lw": 2.5}
FIT_STYLE = {"color": "tab:orange", "lw": 2}


def _prob(dist, points):
    return np.asarray(dist.prob(tf.constant(points, dtype=dist.dtype)), dtype=np.float64)


def density_1d(ax, dists, x, *, labels=None, styles=None):
    """Plot the densities of univariate distributions on the points ``x`` (chapter 1).

    Args:
      ax: a matplotlib ``Axes``.
      dists: a distribution or a list of them (anything with ``prob``).
      x: 1-D array of evaluation points.
      labels: optional list of legend labels, one per distribution.
      styles: optional list of ``dict`` of line keyword arguments.

    Returns:
      The list of ``Line2D`` artists.

    Raises:
      TypeError, ValueError: if ``x`` is not a finite numeric array.

    Examples:
      >>> import matplotlib.pyplot as plt, numpy as np, tensorflow_probability as tfp
      >>> fig, ax = plt.subplots()
      >>> lines = density_1d(ax, tfp.distributions.Normal(0.0, 1.0), np.linspace(-3, 3, 7))
      >>> round(float(lines[0].get_ydata()[3]), 6)  # 1/√(2π) at x = 0
      0.398942
      >>> plt.close(fig)
    """
    dists = dists if isinstance(dists, (list, tuple)) else [dists]
    x = _validate.as_float_array(x, "x")
    labels = labels or [None] * len(dists)
    styles = styles or [{}] * len(dists)
    lines = [
        ax.plot(x, _prob(d, x), label=lab, **sty)[0]
        for d, lab, sty in zip(dists, labels, styles, strict=True)
    ]
    ax.set_xlabel("$x$")
    ax.set_ylabel("density")
    if any(labels):
        ax.legend(frameon=False)
    return lines


def density_grid(dist, xlim, ylim, num=100):
    """Density of a bivariate distribution on a ``num`` × ``num`` grid, in one call.

    One batched ``prob`` call covers the whole grid (and a batch of distributions),
    which is what makes the animations of chapters 2 and 3 cheap.

    Args:
      dist: a distribution over ℝ² (``event_shape == [2]``); a batch of them (batch
        shape ``[B]``) gives ``B`` grids at once.
      xlim, ylim: ``(low, high)`` of each axis.
      num: points per axis.

    Returns:
      ``(X, Y, Z)``: meshgrid arrays of shape ``[num, num]`` and the density, of shape
      ``[num, num]`` or ``[B, num, num]``.

    Raises:
      TypeError, ValueError: if ``num`` is not a positive int.

    Examples:
      >>> import tensorflow_probability as tfp
      >>> standard = tfp.distributions.MultivariateNormalDiag([0.0, 0.0], [1.0, 1.0])
      >>> X, Y, Z = density_grid(standard, (-1, 1), (-1, 1), num=3)
      >>> Z.shape, round(float(Z[1, 1]), 6)  # 1/2π at the origin
      ((3, 3), 0.159155)
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
    """Draw the density contours of a bivariate distribution (chapters 2 and 3).

    Args:
      ax: a matplotlib ``Axes``.
      dist: a distribution over ℝ².
      xlim, ylim: ``(low, high)`` of each axis.
      num: grid points per axis.
      filled: ``contourf`` instead of ``contour``.
      **kwargs: passed on to matplotlib (``levels``, ``cmap``, ``colors``, ...).

    Returns:
      The ``ContourSet``.

    Raises:
      TypeError, ValueError: if ``num`` is not a positive int.

    Examples:
      >>> import matplotlib.pyplot as plt, tensorflow_probability as tfp
      >>> fig, ax = plt.subplots()
      >>> standard = tfp.distributions.MultivariateNormalDiag([0.0, 0.0], [1.0, 1.0])
      >>> contours = contour(ax, standard, (-3, 3), (-3, 3), num=30, levels=4)
      >>> type(contours).__name__
      'QuadContourSet'
      >>> plt.close(fig)
    """
    X, Y, Z = density_grid(dist, xlim, ylim, num)
    draw = ax.contourf if filled else ax.contour
    result = draw(X, Y, Z, **kwargs)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal")
    return result


def frame_indices(num_rows, frames):
    r"""``frames`` trace rows spread over ``num_rows``, denser at the start.

    .. math:: \text{row}_k = \operatorname{round}\Big(\big(\tfrac{k}{F-1}\big)^2 (N-1)\Big),
              \quad k = 0, \dots, F-1

    Fits change fastest in their first steps, so frames are spaced evenly in
    √step: the animation shows the early motion without wasting frames on the tail.
    Always includes the first and the last row; duplicates are dropped.

    Args:
      num_rows: rows of the trace (``num_steps + 1``).
      frames: positive ``int``, the most frames wanted.

    Returns:
      Sorted ``numpy.ndarray`` of distinct row indices.

    Raises:
      TypeError, ValueError: if ``frames`` is not a positive int.

    Examples:
      >>> frame_indices(101, 5).tolist()
      [0, 6, 25, 56, 100]
    """
    frames = _validate.positive_int(frames, "frames")
    if frames >= num_rows:
        return np.arange(num_rows)
    rows = np.round(np.linspace(0.0, 1.0, frames) ** 2 * (num_rows - 1)).astype(int)
    return np.unique(rows)


def _batched(make_q, trace, rows):
    return make_q(**{name: values[rows] for name, values in trace.params.items()})


class FitAnimation:
    """The frames of a fit, drawn by blitting onto a cached background.

    The static part of the figure (axes, ticks, labels, the target's contours) is
    rendered once; each frame restores that image and draws only the artists that
    change. A full ``savefig`` per frame, as ``FuncAnimation.to_jshtml`` does, spends
    most of its time laying out the same tick labels again.

    In a notebook the object displays itself as matplotlib's JavaScript player
    (`to_html`); `to_gif` writes a GIF with matplotlib's Pillow writer.

    Attributes:
      figure: the matplotlib ``Figure`` (closed, so it is not shown twice).
      num_frames: number of frames.
      fps: frames per second of the player and the GIF.
    """

    def __init__(self, figure, update, num_frames, fps):
        self.figure, self._update, self.num_frames, self.fps = figure, update, num_frames, fps

    def frames_rgba(self):
        """Yield each frame as an ``[height, width, 4]`` uint8 array."""
        canvas = FigureCanvasAgg(self.figure)
        for artist in self._update(0):
            artist.set_animated(True)  # animated artists are left out of canvas.draw()
        canvas.draw()
        background = canvas.copy_from_bbox(self.figure.bbox)
        for frame in range(self.num_frames):
            canvas.restore_region(background)
            for artist in self._update(frame):
                artist.set_animated(True)
                self.figure.draw_artist(artist)
            yield np.array(canvas.buffer_rgba())

    def _write(self, writer, path):
        writer.setup(self.figure, path, dpi=self.figure.dpi)
        for rgba in self.frames_rgba():
            writer.grab_rgba(rgba)
        writer.finish()

    def to_html(self):
        """Self-contained HTML player (matplotlib's ``to_jshtml`` player), reproducible.

        Returns:
          ``IPython.display.HTML``.
        """
        from IPython.display import HTML

        with tempfile.TemporaryDirectory() as folder:
            path = pathlib.Path(folder, "animation.html")
            self._write(_BlitHTMLWriter(fps=self.fps, embed_frames=True, default_mode="once"), path)
            html = path.read_text()
        html = _offline_player(html)
        # matplotlib names the player's elements with a random UUID; a hash of the
        # frames instead makes a re-run notebook reproduce its output exactly.
        ids = set(re.findall(r"_anim_img([0-9a-f]{32})", html))
        stable = hashlib.sha1(re.sub(r"[0-9a-f]{32}", "", html).encode()).hexdigest()[:32]
        for old in ids:
            html = html.replace(old, stable)
        return HTML(html)

    def _repr_html_(self):
        return self.to_html().data

    def to_gif(self, path):
        """Write the frames as a looping GIF with matplotlib's Pillow writer.

        Returns:
          ``path``.
        """
        self._write(_BlitPillowWriter(fps=self.fps), path)
        return path


# matplotlib's player draws its buttons with Font Awesome 4 icons loaded from a CDN,
# which leaves blank buttons offline (a classroom without internet) and outside a page
# that happens to load it. Plain Unicode symbols work everywhere.
_PLAYER_ICONS = {
    "fa fa-minus": "\u2212",
    "fa fa-plus": "+",
    "fa fa-fast-backward": "\u21e4",
    "fa fa-step-backward": "\u25c1",
    "fa fa-play fa-flip-horizontal": "\u25c0",
    "fa fa-pause": "\u275a\u275a",
    "fa fa-play": "\u25b6",
    "fa fa-step-forward": "\u25b7",
    "fa fa-fast-forward": "\u21e5",
}


def _offline_player(html):
    html = re.sub(r'<link rel="stylesheet"[^>]*font-awesome[^>]*>', "", html)
    for icon, symbol in _PLAYER_ICONS.items():
        html = html.replace(f'<i class="{icon}"></i>', f'<span aria-hidden="true">{symbol}</span>')
    # Frames are images: give them alternative text.
    return re.sub(
        r'<img id="(_anim_img\w+)">',
        r'<img id="\1" alt="Animation of the fit, one frame per step shown">',
        html,
    )


class _BlitHTMLWriter(animation.HTMLWriter):
    """matplotlib's HTML writer, fed with ready frames instead of calling savefig."""

    def grab_rgba(self, rgba):
        buffer = io.BytesIO()
        # A 64-colour palette is indistinguishable for these line plots and makes the
        # PNGs about a quarter of the size, which keeps notebooks under their budget.
        Image.fromarray(rgba).convert("RGB").quantize(64).save(buffer, format="png")
        self._saved_frames.append(base64.encodebytes(buffer.getvalue()).decode("ascii"))


class _BlitPillowWriter(animation.PillowWriter):
    """matplotlib's Pillow (GIF) writer, fed with ready frames."""

    def grab_rgba(self, rgba):
        self._frames.append(Image.fromarray(rgba))


def animate_fit_1d(trace, make_q, target, x, *, frames=40, fps=8, title="fit", ylim=None):
    """Animate a univariate fit: the target's density and q's density at each frame.

    Args:
      trace: a `klcourse.fitting.FitTrace`.
      make_q: callable taking the trace's parameters as keyword arrays with a leading
        frame axis (e.g. ``tfd.Normal``) and returning a batch of distributions.
      target: the target distribution (drawn once).
      x: 1-D evaluation points.
      frames: number of frames, spread over the trace by `frame_indices`.
      fps: frames per second.
      title: text before the step counter in the title.
      ylim: optional ``(low, high)``; defaults to fit everything drawn.

    Returns:
      `FitAnimation`.

    Raises:
      TypeError, ValueError: if ``x`` is not a finite numeric array or ``frames`` is
        not a positive int.

    Examples:
      >>> import numpy as np, tensorflow_probability as tfp
      >>> from klcourse.fitting import FitTrace
      >>> trace = FitTrace(np.zeros(3), {"loc": np.array([0.0, 0.5, 1.0]),
      ...                                "scale": np.ones(3)}, "analytic")
      >>> target = tfp.distributions.Normal(1.0, 1.0)
      >>> animate_fit_1d(trace, tfp.distributions.Normal, target, np.linspace(-3, 4, 50)).num_frames
      3
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
    ax.set_title(f"{title}: step 0000000, loss 0.0000")  # widest title, for the layout

    def update(frame):
        line.set_ydata(q_densities[frame])
        ax.title.set_text(f"{title}: step {rows[frame]}, loss {trace.loss[rows[frame]]:.4f}")
        return [line, ax.title]

    fig.canvas.draw()  # solve the constrained layout once, then keep it
    fig.set_layout_engine("none")
    plt.close(fig)
    return FitAnimation(fig, update, len(rows), fps)


def animate_fit_2d(panels, make_q, target, xlim, ylim, *, frames=30, fps=6, num=90, levels=8):
    """Animate bivariate fits side by side, one panel per trace.

    Args:
      panels: list of ``(trace, title)`` pairs.
      make_q: callable from the traces' parameters (keyword arrays with a leading
        frame axis) to a batch of bivariate distributions (e.g. ``tfd.MultivariateNormalDiag``).
      target: the target distribution, drawn once per panel as grey filled contours
        under q's coloured contour lines.
      xlim, ylim: ``(low, high)`` of each axis.
      frames: frames, spread over each trace by `frame_indices`.
      fps: frames per second.
      num: grid points per axis.
      levels: number of contour levels, shared by target and fit.

    Returns:
      `FitAnimation`.

    Raises:
      TypeError, ValueError: if ``frames`` or ``num`` is not a positive int.

    Examples:
      >>> import numpy as np, tensorflow_probability as tfp
      >>> from klcourse.fitting import FitTrace
      >>> tfd = tfp.distributions
      >>> trace = FitTrace(np.zeros(2), {"loc": np.array([[1.0, 1.0], [0.0, 0.0]]),
      ...                                "scale_diag": np.ones((2, 2))}, "analytic")
      >>> target = tfd.MultivariateNormalDiag([0.0, 0.0], [1.0, 1.0])
      >>> anim = animate_fit_2d([(trace, "reverse")], tfd.MultivariateNormalDiag, target,
      ...                       (-3, 3), (-3, 3), num=20)
      >>> anim.num_frames
      2
    """
    num_rows = len(panels[0][0].loss)
    rows = frame_indices(num_rows, frames)
    X, Y, target_density = density_grid(target, xlim, ylim, num)
    contour_levels = np.linspace(0, target_density.max(), levels + 1)[1:]
    q_grids = [
        density_grid(_batched(make_q, trace, rows), xlim, ylim, num)[2] for trace, _ in panels
    ]
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(3.4 * len(panels), 3.6),
        dpi=72,
        layout="constrained",
        squeeze=False,
    )
    axes = axes[0]
    for ax, (_, title) in zip(axes, panels, strict=True):
        ax.contourf(
            X,
            Y,
            target_density,
            levels=np.append(contour_levels, target_density.max() * 1.01),
            cmap="Greys",
            alpha=0.45,
        )
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.set_aspect("equal")
        ax.set_title(f"{title}\nstep 0000000, KL 0.0000", fontsize=10)  # widest, for the layout
    drawn = [None] * len(panels)

    def update(frame):
        for k, (ax, grid, (trace, title)) in enumerate(zip(axes, q_grids, panels, strict=True)):
            if drawn[k] is not None:
                drawn[k].remove()
            drawn[k] = ax.contour(X, Y, grid[frame], levels=contour_levels, cmap="viridis")
            ax.title.set_text(f"{title}\nstep {rows[frame]}, KL {trace.loss[rows[frame]]:.4f}")
        return drawn + [ax.title for ax in axes]

    fig.canvas.draw()  # solve the constrained layout once, then keep it
    fig.set_layout_engine("none")
    plt.close(fig)
    return FitAnimation(fig, update, len(rows), fps)


def to_html(anim):
    """``anim.to_html()``: a `FitAnimation` as a self-contained JavaScript player.

    Args:
      anim: a `FitAnimation` (from `animate_fit_1d` or `animate_fit_2d`).

    Returns:
      ``IPython.display.HTML``; equal frames give equal HTML (no random ids).

    Examples:
      Chapter 3 shows its fits this way (an animation takes seconds to render):

      >>> anim = animate_fit_1d(trace, make_q, target, x)  # doctest: +SKIP
      >>> to_html(anim)  # doctest: +SKIP
      <IPython.core.display.HTML object>
    """
    return anim.to_html()


def to_gif(anim, path):
    """``anim.to_gif(path)``: write a `FitAnimation` as a GIF (Pillow, no ImageMagick).

    Args:
      anim: a `FitAnimation`.
      path: file to write.

    Returns:
      ``path``.

    Raises:
      OSError: if ``path`` cannot be written.

    Examples:
      For a slide or a page that runs no JavaScript:

      >>> to_gif(animate_fit_1d(trace, make_q, target, x), "fit.gif")  # doctest: +SKIP
      'fit.gif'
    """
    return anim.to_gif(path)
