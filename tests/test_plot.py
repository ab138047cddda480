"""klcourse.plot: grids against direct evaluation, animations, reproducible HTML, GIFs."""

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf
import tensorflow_probability as tfp
from PIL import Image

import klcourse as kc

tfd, tfb = tfp.distributions, tfp.bijectors
COV = kc.examples.TUTORIAL_2D_COV


def target():
    return tfd.MultivariateNormalTriL(np.zeros(2), np.linalg.cholesky(COV))


def test_density_grid_matches_scipy():
    X, Y, Z = kc.plot.density_grid(target(), (-3, 3), (-4, 4), num=31)
    expected = scipy.stats.multivariate_normal(np.zeros(2), COV).pdf(np.stack([X, Y], -1))
    np.testing.assert_allclose(Z, expected, rtol=1e-10)


def test_density_grid_batches():
    batch = tfd.MultivariateNormalDiag(np.array([[0.0, 0.0], [1.0, -1.0]]), np.ones((2, 2)))
    X, Y, Z = kc.plot.density_grid(batch, (-3, 3), (-3, 3), num=21)
    assert Z.shape == (2, 21, 21)
    _, _, second = kc.plot.density_grid(
        tfd.MultivariateNormalDiag([1.0, -1.0], [1.0, 1.0]), (-3, 3), (-3, 3), num=21
    )
    np.testing.assert_allclose(Z[1], second, rtol=1e-6)


def test_frame_indices_cover_first_and_last_rows():
    rows = kc.plot.frame_indices(501, 40)
    assert rows[0] == 0 and rows[-1] == 500 and np.all(np.diff(rows) > 0)
    assert len(kc.plot.frame_indices(5, 40)) == 5


def fitted_traces():
    q = tfd.MultivariateNormalDiag(
        tf.Variable([2.0, -2.0]), tfp.util.TransformedVariable([1.0, 2.0], tfb.Exp())
    )
    p = tfd.MultivariateNormalTriL([0.0, 0.0], tf.linalg.cholesky(COV.astype(np.float32)))
    return [(kc.fit(q, p, num_steps=60, learning_rate=0.05), "reverse")]


@pytest.mark.slow  # tiers: renders two animations; `make test` runs it
def test_animations_render_and_html_is_reproducible(tmp_path):
    q = tfd.Normal(tf.Variable(-1.0), tfp.util.TransformedVariable(1.0, tfb.Exp()))
    trace = kc.fit(q, tfd.Normal(1.0, 4.0), num_steps=100, learning_rate=0.05)
    x = np.linspace(-10, 12, 100)
    anim = kc.plot.animate_fit_1d(trace, tfd.Normal, tfd.Normal(1.0, 4.0), x, frames=5)
    html = [kc.plot.to_html(anim).data, anim._repr_html_()]
    assert html[0] == html[1]
    assert html[0].count("data:image/png;base64") == 5
    frames = list(anim.frames_rgba())
    assert len(frames) == 5 and not np.array_equal(frames[0], frames[-1])
    anim = kc.plot.animate_fit_2d(
        fitted_traces(), tfd.MultivariateNormalDiag, target(), (-4, 4), (-4, 4), frames=4
    )
    path = kc.plot.to_gif(anim, tmp_path / "fit.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == 4


def test_density_1d_and_contour_draw():
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2)
    lines = kc.plot.density_1d(
        left,
        [tfd.Normal(0.0, 1.0), tfd.Normal(1.0, 2.0)],
        np.linspace(-3, 3, 50),
        labels=["p", "q"],
    )
    assert len(lines) == 2
    np.testing.assert_allclose(
        lines[0].get_ydata(), scipy.stats.norm.pdf(np.linspace(-3, 3, 50)), rtol=1e-5
    )
    assert kc.plot.contour(right, target(), (-3, 3), (-3, 3), num=30, levels=5) is not None
    plt.close(fig)


def test_bad_grid_size():
    with pytest.raises(ValueError, match="`num` must be positive"):
        kc.plot.density_grid(target(), (-1, 1), (-1, 1), num=0)


def test_blitted_frame_matches_a_full_redraw():
    # The cached background plus the animated artists must give the same picture as
    # drawing the whole figure for that frame.
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    anim = kc.plot.animate_fit_2d(
        fitted_traces(), tfd.MultivariateNormalDiag, target(), (-4, 4), (-4, 4), frames=4
    )
    blitted = list(anim.frames_rgba())[2]
    for artist in anim._update(2):
        artist.set_animated(False)
    canvas = FigureCanvasAgg(anim.figure)
    canvas.draw()
    full = np.asarray(canvas.buffer_rgba())
    assert blitted.shape == full.shape
    assert np.mean(np.any(blitted != full, axis=-1)) < 0.002  # antialiasing at a few edges at most


def test_player_works_offline():
    # Regression: matplotlib's player loads Font Awesome from a CDN; offline its buttons were blank.
    q = tfd.Normal(tf.Variable(0.0), tfp.util.TransformedVariable(1.0, tfb.Exp()))
    trace = kc.fit(q, tfd.Normal(1.0, 2.0), num_steps=20, learning_rate=0.1)
    html = (
        kc.plot.animate_fit_1d(
            trace, tfd.Normal, tfd.Normal(1.0, 2.0), np.linspace(-5, 5, 50), frames=3
        )
        .to_html()
        .data
    )
    assert "http" not in html.replace("http://www.w3.org", "")
    assert 'class="fa ' not in html and "\u25b6" in html
    assert 'alt="Animation of the fit' in html
