r"""Explorers: interactive figures that recompute KL in the reader's browser (issue 20).

Each function returns an `Explorer`, a Bokeh layout whose sliders drive a ``CustomJS``
callback: every number and curve is computed by JavaScript in the page, so the
explorer works in the static HTML book (no kernel, no network), in JupyterLab and in
Colab alike. The NumPy/SciPy twins below (`grid_kl`, `skewnorm_kl`, `reverse_kl_optima`,
`estimator_spread`, ...) compute what the page shows; the browser tests
(``tests/test_explorers.py``) move the sliders and compare.

Where BokehJS comes from:

* In the book, ``_ext/klcourse_sphinx.py`` copies ``bokeh.min.js`` and
  ``bokeh-widgets.min.js`` from the ``bokeh`` wheel into ``_static`` and loads them once
  on each page that holds an explorer; the notebook output holds only the plot's JSON and
  a few lines of loader. Set ``KLCOURSE_EXPLORE_JS=book`` when executing notebooks for
  the book (``make execute`` does) to get that small output.
* Anywhere else (JupyterLab, Colab, VS Code) the output also carries BokehJS itself
  (about 1.7 MB, inert text), which the loader runs only when the page has no Bokeh yet:
  no CDN, no server extension.

Chapters 1-4 each insert one explorer before their summary with
``python -m klcourse.explore insert chapters/`` (see `insert_cells`).
"""

import html
import itertools
import json
import math
import os
import pathlib
import re
import sys

import numpy as np
import scipy.optimize
import scipy.stats

from klcourse import _validate

__all__ = [
    "Explorer",
    "divergence",
    "fits",
    "estimators",
    "grid_kl",
    "skewnorm_kl",
    "forward_fit",
    "reverse_kl",
    "reverse_kl_optima",
    "uniform_draws",
    "estimator_spread",
    "bokehjs_files",
    "insert_cells",
]

#: The grid of chapter 1, section 1.4: ``np.arange(-10, 10, spacing)``.
GRID_LOWER, GRID_UPPER = -10.0, 10.0
#: E_q[log p] for q = N(m, s²) in the chapter 3 explorer: the trapezoidal rule in
#: z = (x - m)/s on [-8, 8]. (Gauss-Hermite is off by 4e-3 here: log p of well-separated
#: narrow modes bends sharply between them.)
_Z_NODES = 1601


def _z_rule():
    z = np.linspace(-8.0, 8.0, _Z_NODES)
    g = scipy.stats.norm.pdf(z) * (z[1] - z[0])
    g[[0, -1]] /= 2
    return z, g


#: Repetitions of the n-draw estimate in the chapter 4 explorer.
REPETITIONS = 400


def bokehjs_files():
    """Paths of the BokehJS files the explorers need, from the installed ``bokeh`` wheel.

    Returns:
      list of ``pathlib.Path``: ``bokeh.min.js`` then ``bokeh-widgets.min.js``.

    Examples:
      >>> [path.name for path in bokehjs_files()]
      ['bokeh.min.js', 'bokeh-widgets.min.js']
    """
    from bokeh.util.paths import bokehjs_path

    folder = pathlib.Path(bokehjs_path()) / "js"
    return [folder / "bokeh.min.js", folder / "bokeh-widgets.min.js"]


def _script_json(obj):
    # JSON inside <script>: "</" must not close the element.
    return json.dumps(obj, separators=(",", ":")).replace("</", "<\\/")


_LOADER = r"""
(function () {
  var out = document.getElementById("%(id)s");
  if (!(window.Bokeh && window.Bokeh.embed && window.Bokeh.Widgets)) {
    var sources = out.parentNode.querySelectorAll("script[type='text/x-bokehjs']");
    for (var i = 0; i < sources.length; i++) {
      var s = document.createElement("script");
      s.textContent = sources[i].textContent;
      document.head.appendChild(s);
    }
  }
  if (!window.Bokeh) {
    out.textContent = "This explorer needs BokehJS, which this page did not load.";
    return;
  }
  var item = JSON.parse(document.getElementById("%(id)s-item").textContent);
  // Bokeh's controls have no accessible names: slider handles get their title, and a
  // button group the text of the [data-group-label] element before it. Each Bokeh view
  // sits in its own shadow root, so aria-labelledby (an id in the same root) cannot
  // reach the label: the group gets its text as aria-label instead.
  var groupLabel = null;
  function label(node) {
    var root = node.shadowRoot;
    if (root) {
      var title = root.querySelector(".bk-slider-title");
      if (title) {
        var name = title.textContent.replace(/:\s*[^:]*$/, "");
        root.querySelectorAll("[role='slider']").forEach(function (h) {
          h.setAttribute("aria-label", name);
        });
      }
      var text = root.querySelector("[data-group-label]");
      if (text) groupLabel = text.textContent.trim();
      root.querySelectorAll(".bk-btn-group").forEach(function (g) {
        g.setAttribute("role", "group");
        if (groupLabel) g.setAttribute("aria-label", groupLabel);
      });
      Array.prototype.forEach.call(root.children, label);
    }
    Array.prototype.forEach.call(node.children, label);
  }
  Bokeh.embed.embed_item(item, "%(id)s").then(function () {
    label(out);
    out.setAttribute("data-ready", "1");
  });
})();
"""


class Explorer:
    """A Bokeh explorer that displays in Jupyter, Colab and the HTML book.

    Args:
      layout: the Bokeh layout (its callbacks must be ``CustomJS``).
      name: a short name, used in the element ids and the plain-text output.
      description: one sentence for screen readers (``aria-label`` of the container).
    """

    _count = itertools.count()

    def __init__(self, layout, name, description):
        self.layout, self.name, self.description = layout, name, description

    def html(self, inline_js=None):
        """The HTML output: a container, the plot's JSON and a loader script.

        Args:
          inline_js: include BokehJS itself (for Jupyter and Colab); ``None`` decides
            from ``KLCOURSE_EXPLORE_JS`` (``"book"``: no, the default: yes).

        Returns:
          str.
        """
        from bokeh.embed import json_item

        if inline_js is None:
            inline_js = os.environ.get("KLCOURSE_EXPLORE_JS", "inline") != "book"
        element = f"klcourse-explorer-{self.name}-{next(self._count)}"
        parts = [
            f'<div class="klcourse-explorer" data-explorer="{self.name}">',
            f'<div id="{element}" role="group" aria-label="{html.escape(self.description)}"></div>',
            f'<script type="application/json" id="{element}-item">'
            f"{_script_json(json_item(self.layout))}</script>",
        ]
        if inline_js:
            for path in bokehjs_files():
                parts.append(f'<script type="text/x-bokehjs">{path.read_text()}</script>')
        parts.append(f"<script>{_LOADER % {'id': element}}</script></div>")
        return "\n".join(parts)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self.html(), "text/plain": f"<klcourse explorer: {self.name}>"}


# --------------------------------------------------------------------------------------
# JavaScript shared by the explorers. Its numbers match the NumPy twins below to far more
# digits than the page shows (tests/test_explorers.py compares them in a real browser).
_JS_LIB = r"""
const LN2PI = Math.log(2 * Math.PI);
function normLogPdf(x, m, s) {
  const z = (x - m) / s; return -0.5 * z * z - Math.log(s) - 0.5 * LN2PI;
}
// log erfc(z) for z >= 0 (Numerical Recipes' erfcc: relative error < 1.2e-7), in log space.
function logErfcPos(z) {
  const t = 1 / (1 + 0.5 * z);
  return Math.log(t) - z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
    + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
    + t * (-0.82215223 + t * 0.17087277))))))));
}
function logNormCdf(x) {
  const z = x / Math.SQRT2;
  if (z <= 0) return Math.log(0.5) + logErfcPos(-z);
  return Math.log1p(-0.5 * Math.exp(logErfcPos(z)));
}
// Skew-normal log density (Azzalini): log 2 + log phi(z) + log Phi(alpha z) - log s.
function skewLogPdf(x, m, s, a) {
  const base = normLogPdf(x, m, s);
  return a === 0 ? base : Math.LN2 + base + logNormCdf(a * (x - m) / s);
}
function fmt(x, d) { return isFinite(x) ? x.toFixed(d) : (x > 0 ? "∞" : "−∞"); }
"""


def _slider(title, start, end, value, step, fmt="0[.]00"):
    from bokeh.models import Slider

    return Slider(
        title=title,
        start=start,
        end=end,
        value=value,
        step=step,
        format=fmt,
        sizing_mode="stretch_width",
    )


def _finish(layout, callback, widgets):
    from bokeh.document import Document

    for widget in widgets:
        widget.js_on_change("value", callback)
    document = Document()
    document.add_root(layout)
    document.js_on_event("document_ready", callback)
    return layout


# --------------------------------------------------------------------------------------
# Chapters 1-2: two densities, both directions, the integrands, the grid estimate.


def _skew_logpdf(x, loc, scale, shape):
    return scipy.stats.skewnorm.logpdf(x, shape, loc, scale)


def grid_kl(p, q, spacing):
    r"""KL(p‖q) by the grid sum of chapter 1: ``Σ p log(p/q) Δx`` on ``arange(-10, 10, Δx)``.

    .. math:: \widehat{D}_{\Delta x} = \sum_{k} p(x_k) \log\frac{p(x_k)}{q(x_k)}\,\Delta x,
              \qquad x_k = -10 + k\,\Delta x < 10 .

    p and q are skew-normals given as ``(loc, scale, shape)``; shape 0 is a Normal.
    The chapters 1-2 explorer shows this beside the exact value.

    Args:
      p, q: ``(loc, scale, shape)`` triples of floats, scale > 0.
      spacing: the grid spacing Δx > 0.

    Returns:
      float.

    Raises:
      ValueError: if ``spacing`` or a scale is not positive.

    Examples:
      >>> round(grid_kl((0, 2, 0), (2, 2, 0), 0.1), 6)  # exact: 0.5
      0.5
    """
    spacing = _validate.positive_float(spacing, "spacing")
    _validate.positive_float(p[1], "p's scale")
    _validate.positive_float(q[1], "q's scale")
    x = GRID_LOWER + spacing * np.arange(math.ceil((GRID_UPPER - GRID_LOWER) / spacing))
    log_p, log_q = _skew_logpdf(x, *p), _skew_logpdf(x, *q)
    return float(np.sum(np.exp(log_p) * (log_p - log_q)) * spacing)


def skewnorm_kl(p, q):
    r"""KL(p‖q) of two skew-normals ``(loc, scale, shape)``, exactly: closed form or quadrature.

    .. math:: D_{\mathrm{KL}}(p \,\|\, q) = \int p(x) \log\frac{p(x)}{q(x)}\, dx,\qquad
              p(x) = \frac{2}{\sigma}\,\varphi\!\Big(\frac{x-\mu}{\sigma}\Big)\,
              \Phi\!\Big(\alpha\frac{x-\mu}{\sigma}\Big).

    Two Normals (both shapes 0) use `klcourse.kl_normal`; otherwise
    `klcourse.kl_quadrature` integrates SciPy's ``skewnorm`` densities.

    Args:
      p, q: ``(loc, scale, shape)`` triples, scale > 0.

    Returns:
      float.

    Examples:
      >>> round(skewnorm_kl((0, 2, 0), (1, 4, 0)), 6)
      0.349397
    """
    from klcourse.divergence import kl_normal, kl_quadrature

    if p[2] == 0 and q[2] == 0:
        return float(kl_normal(p[0], p[1], q[0], q[1]))

    class _Skew:
        def __init__(self, loc, scale, shape):
            self.args = (loc, scale, shape)

        def log_prob(self, x):
            return _skew_logpdf(np.asarray(x, dtype=np.float64), *self.args)

        def sample(self, n, seed=None):
            return scipy.stats.skewnorm.rvs(
                self.args[2],
                self.args[0],
                self.args[1],
                size=n,
                random_state=np.random.default_rng(0),
            )

    return kl_quadrature(_Skew(*p), _Skew(*q)).value


_DIVERGENCE_JS = r"""
const P = [mp.value, sp.value, ap.value], Q = [mq.value, sq.value, aq.value], h = dx.value;
const xs = curves.data.x, n = xs.length;
const lp = xs.map(x => skewLogPdf(x, ...P)), lq = xs.map(x => skewLogPdf(x, ...Q));
curves.data = {x: xs, p: lp.map(Math.exp), q: lq.map(Math.exp),
  fwd: xs.map((x, i) => Math.exp(lp[i]) * (lp[i] - lq[i])),
  rev: xs.map((x, i) => Math.exp(lq[i]) * (lq[i] - lp[i]))};
// Exact: closed form for two Normals, else Simpson's rule on a fine grid over the mass.
function exact(A, B) {
  if (A[2] === 0 && B[2] === 0) {
    const r = A[1] / B[1], d = (A[0] - B[0]) / B[1];
    return 0.5 * (Math.expm1(2 * Math.log(r)) - 2 * Math.log(r)) + 0.5 * d * d;
  }
  const lo = Math.min(A[0] - 14 * A[1], B[0] - 14 * B[1]);
  const hi = Math.max(A[0] + 14 * A[1], B[0] + 14 * B[1]);
  const N = 20000, w = (hi - lo) / N; let s = 0;
  for (let i = 0; i <= N; i++) {
    const x = lo + i * w, la = skewLogPdf(x, ...A), lb = skewLogPdf(x, ...B);
    const f = la > -745 ? Math.exp(la) * (la - lb) : 0;
    s += f * (i === 0 || i === N ? 1 : (i % 2 ? 4 : 2));
  }
  return s * w / 3;
}
function grid(A, B) {
  const m = Math.ceil((10 - (-10)) / h); let s = 0;
  for (let k = 0; k < m; k++) {
    const x = -10 + h * k, la = skewLogPdf(x, ...A), lb = skewLogPdf(x, ...B);
    if (la > -745) s += Math.exp(la) * (la - lb);
  }
  return s * h;
}
const normals = P[2] === 0 && Q[2] === 0;
const how = normals ? "closed form" : "quadrature";
const row = (name, A, B) => "<tr><th scope='row'>" + name + "</th><td data-kl='exact'>" +
  fmt(exact(A, B), 4) + "</td><td data-kl='grid'>" + fmt(grid(A, B), 4) + "</td></tr>";
readout.text = "<table class='klcourse-readout'><tr><th></th><th>exact (" + how +
  ")</th><th>grid, Δx = " + fmt(h, 2) + "</th></tr>" + row("KL(p‖q)", P, Q) +
  row("KL(q‖p)", Q, P) + "</table>";
"""


def divergence(p=(0.0, 1.0, 0.0), q=(1.0, 1.5, 0.0), spacing=0.5):
    r"""Explorer for chapters 1-2: two skew-normals, both KL directions and their integrands.

    Sliders set each density's location μ, scale σ and skew α (α = 0: a Normal) and the
    grid spacing Δx. The page shows KL(p‖q) and KL(q‖p), exact (closed form for two
    Normals, else quadrature: `skewnorm_kl`) beside the grid sum of chapter 1
    (`grid_kl`), and draws the integrands p·log(p/q) and q·log(q/p): the area under each
    is that direction's KL.

    Args:
      p, q: initial ``(loc, scale, shape)`` of p and q.
      spacing: initial grid spacing Δx.

    Returns:
      `Explorer`.

    Examples:
      Building the layout is cheap; the numbers are computed in the page.

      >>> explorer = divergence(p=(0, 1, 0), q=(1, 1.5, 2))
      >>> explorer.name, type(explorer.layout).__name__
      ('divergence', 'Row')
    """
    from bokeh.layouts import column, row
    from bokeh.models import ColumnDataSource, CustomJS, Div
    from bokeh.plotting import figure

    x = np.linspace(-8, 8, 641)
    curves = ColumnDataSource(
        {key: x.tolist() if key == "x" else [0.0] * x.size for key in ("x", "p", "q", "fwd", "rev")}
    )
    densities = figure(
        height=230,
        sizing_mode="stretch_width",
        title="Densities",
        x_axis_label="x",
        y_axis_label="density",
        toolbar_location=None,
    )
    densities.line("x", "p", source=curves, line_width=2, color="#1f77b4", legend_label="p")
    densities.line(
        "x", "q", source=curves, line_width=2, color="#ff7f0e", legend_label="q", line_dash="dashed"
    )
    integrands = figure(
        height=230,
        sizing_mode="stretch_width",
        x_range=densities.x_range,
        title="Integrands: the area under each is its KL",
        x_axis_label="x",
        toolbar_location=None,
    )
    integrands.varea(x="x", y1=0, y2="fwd", source=curves, fill_alpha=0.25, color="#1f77b4")
    integrands.line(
        "x", "fwd", source=curves, line_width=2, color="#1f77b4", legend_label="p·log(p/q)"
    )
    integrands.varea(x="x", y1=0, y2="rev", source=curves, fill_alpha=0.25, color="#ff7f0e")
    integrands.line(
        "x",
        "rev",
        source=curves,
        line_width=2,
        color="#ff7f0e",
        line_dash="dashed",
        legend_label="q·log(q/p)",
    )
    for fig in (densities, integrands):
        fig.legend.location = "top_left"
    mp, sp, ap = (
        _slider("p: location μ", -3, 3, p[0], 0.1),
        _slider("p: scale σ", 0.3, 3, p[1], 0.05),
        _slider("p: skew α (0 = Normal)", -8, 8, p[2], 0.5, "0[.]0"),
    )
    mq, sq, aq = (
        _slider("q: location μ", -3, 3, q[0], 0.1),
        _slider("q: scale σ", 0.3, 3, q[1], 0.05),
        _slider("q: skew α (0 = Normal)", -8, 8, q[2], 0.5, "0[.]0"),
    )
    dx = _slider("grid spacing Δx", 0.05, 2, spacing, 0.05)
    readout = Div(text="", name="readout")
    widgets = [mp, sp, ap, mq, sq, aq, dx]
    callback = CustomJS(
        args=dict(mp=mp, sp=sp, ap=ap, mq=mq, sq=sq, aq=aq, dx=dx, curves=curves, readout=readout),
        code=_JS_LIB + _DIVERGENCE_JS,
    )
    layout = row(
        column(mp, sp, ap, mq, sq, aq, dx, readout, width=300),
        column(densities, integrands, sizing_mode="stretch_width"),
        sizing_mode="stretch_width",
    )
    return Explorer(
        _finish(layout, callback, widgets),
        "divergence",
        "Two densities p and q set by sliders; both KL directions and their integrands",
    )


# --------------------------------------------------------------------------------------
# Chapter 3: the best Normal for a bimodal target, forward and reverse.


def _mixture(weight, separation, width1, width2):
    return (
        np.array([weight, 1 - weight]),
        np.array([-separation / 2, separation / 2]),
        np.array([width1, width2]),
    )


def forward_fit(weight, separation, width1, width2):
    r"""The Normal minimising forward KL(p‖q) for the two-Normal mixture: moment matching.

    .. math:: m = \sum_k w_k \mu_k, \qquad s^2 = \sum_k w_k (\sigma_k^2 + \mu_k^2) - m^2,

    with p = w N(−d/2, σ₁²) + (1 − w) N(d/2, σ₂²).

    Args:
      weight: w, the left component's weight in (0, 1).
      separation: d, the distance between the component means.
      width1, width2: σ₁, σ₂ > 0.

    Returns:
      ``(m, s)`` floats.

    Examples:
      >>> forward_fit(0.5, 2.0, 1.0, 1.0)
      (0.0, 1.4142135623730951)
    """
    w, mu, sd = _mixture(weight, separation, width1, width2)
    m = float(w @ mu)
    return m, float(np.sqrt(w @ (sd**2 + mu**2) - m**2))


def _log_mixture(x, w, mu, sd):
    return scipy.special.logsumexp(
        np.log(w) + scipy.stats.norm.logpdf(np.asarray(x)[..., None], mu, sd), axis=-1
    )


def reverse_kl(m, s, weight, separation, width1, width2):
    r"""Reverse KL(q‖p) of q = N(m, s²) from the two-Normal mixture p, by Gauss-Hermite.

    .. math:: D_{\mathrm{KL}}(q \,\|\, p) = -\tfrac12\log(2\pi e s^2)
              - \mathbb{E}_{q}[\log p(x)],

    the expectation by the trapezoidal rule in z = (x − m)/s on [−8, 8], 1601 nodes
    (the page uses the same rule).

    Args:
      m, s: q's mean and standard deviation (s > 0).
      weight, separation, width1, width2: the target, as in `forward_fit`.

    Returns:
      float.

    Examples:
      q on the first of two far-apart modes of weight 0.6 misses only the log of that
      weight: KL(q‖p) ≈ −log 0.6 ≈ 0.5108.

      >>> round(reverse_kl(-5.0, 0.7, 0.6, 10.0, 0.7, 0.7), 4)
      0.5108
    """
    z, g = _z_rule()
    w, mu, sd = _mixture(weight, separation, width1, width2)
    expectation = g @ _log_mixture(m + s * z, w, mu, sd)
    return float(-0.5 * math.log(2 * math.pi * math.e * s * s) - expectation)


def _starts(separation):
    return np.linspace(-separation / 2 - 2, separation / 2 + 2, 21)


def reverse_kl_optima(weight, separation, width1, width2):
    r"""Every local minimum of reverse KL(q‖p) over Normals q, and the starts reaching it.

    Runs BFGS on (m, log s) with exact gradients from 21 starting means spread over the
    target, each with s = 1, as the chapter 3 explorer's page does (its own BFGS), and
    groups the end points.

    Args:
      weight, separation, width1, width2: the target, as in `forward_fit`.

    Returns:
      list of dicts ``{"m", "s", "kl", "starts"}``, sorted by m; ``starts`` lists the
      starting means that end there.

    Examples:
      The chapter 3 explorer's default target has a local optimum near each mode (the
      heavier one, on the left, is the better) and a wide one between them:

      >>> optima = reverse_kl_optima(0.6, 4.0, 0.7, 0.7)
      >>> [(round(o["m"], 1), round(o["s"], 1)) for o in optima]
      [(-2.0, 0.7), (-0.3, 1.8), (2.0, 0.7)]
      >>> optima[0]["kl"] < optima[2]["kl"], sum(len(o["starts"]) for o in optima)
      (True, 21)
    """
    z, g = _z_rule()
    w, mu, sd = _mixture(weight, separation, width1, width2)

    def value_and_gradient(v):  # in (m, u = log s), as on the page
        s = math.exp(v[1])
        x = v[0] + s * z
        log_terms = np.log(w) + scipy.stats.norm.logpdf(x[:, None], mu, sd)
        log_p = scipy.special.logsumexp(log_terms, axis=-1)
        resp = np.exp(log_terms - log_p[:, None])
        score = np.sum(resp * -(x[:, None] - mu) / sd**2, axis=-1)  # d/dx log p
        value = -0.5 * math.log(2 * math.pi * math.e * s * s) - g @ log_p
        return value, np.array([-(g @ score), -1 - s * (g @ (score * z))])

    optima = []
    for start in _starts(separation):
        res = scipy.optimize.minimize(
            value_and_gradient, x0=[start, 0.0], jac=True, method="BFGS", options={"gtol": 1e-10}
        )
        m, s = float(res.x[0]), math.exp(res.x[1])
        for optimum in optima:
            if abs(optimum["m"] - m) < 1e-2 and abs(optimum["s"] - s) < 1e-2:
                optimum["starts"].append(float(start))
                break
        else:
            optima.append({"m": m, "s": s, "kl": float(res.fun), "starts": [float(start)]})
    return sorted(optima, key=lambda o: o["m"])


_FITS_JS = r"""
const W = [wt.value, 1 - wt.value], MU = [-sep.value / 2, sep.value / 2];
const SD = [s1.value, s2.value];
function logp(x) {
  const a = Math.log(W[0]) + normLogPdf(x, MU[0], SD[0]);
  const b = Math.log(W[1]) + normLogPdf(x, MU[1], SD[1]);
  const c = Math.max(a, b); return c + Math.log(Math.exp(a - c) + Math.exp(b - c));
}
function dlogp(x) {  // d/dx log p
  const a = Math.log(W[0]) + normLogPdf(x, MU[0], SD[0]);
  const b = Math.log(W[1]) + normLogPdf(x, MU[1], SD[1]);
  const c = Math.max(a, b), ea = Math.exp(a - c), eb = Math.exp(b - c);
  return (ea * -(x - MU[0]) / (SD[0] * SD[0]) + eb * -(x - MU[1]) / (SD[1] * SD[1])) / (ea + eb);
}
const Z = gh.data.z, G = gh.data.g;
function rkl(m, s) {
  let e = 0; for (let i = 0; i < Z.length; i++) e += G[i] * logp(m + s * Z[i]);
  return -0.5 * Math.log(2 * Math.PI * Math.E * s * s) - e;
}
function grad(m, u) {  // gradient in (m, u = log s)
  const s = Math.exp(u); let gm = 0, gu = 0;
  for (let i = 0; i < Z.length; i++) {
    const d = G[i] * dlogp(m + s * Z[i]); gm += d; gu += d * Z[i] * s;
  }
  return [-gm, -1 - gu];
}
function descend(m, u) {  // BFGS in (m, u = log s) with backtracking
  let f = rkl(m, Math.exp(u)), g = grad(m, u), H = [1, 0, 1];  // H = [h11, h12, h22]
  for (let it = 0; it < 200; it++) {
    if (g[0] * g[0] + g[1] * g[1] < 1e-18) break;
    let d0 = -(H[0] * g[0] + H[1] * g[1]), d1 = -(H[1] * g[0] + H[2] * g[1]);
    let slope = d0 * g[0] + d1 * g[1];
    if (slope >= 0) { H = [1, 0, 1]; d0 = -g[0]; d1 = -g[1]; slope = d0 * g[0] + d1 * g[1]; }
    let t = 1, m2, u2, f2;
    while (true) {
      m2 = m + t * d0; u2 = u + t * d1; f2 = rkl(m2, Math.exp(u2));
      if (f2 <= f + 1e-4 * t * slope || t < 1e-6) break;
      t /= 2;
    }
    if (t < 1e-6) break;
    const g2 = grad(m2, u2), s0 = m2 - m, s1 = u2 - u, y0 = g2[0] - g[0], y1 = g2[1] - g[1];
    const sy = s0 * y0 + s1 * y1;
    if (sy > 1e-16) {  // H <- (I - r s y')H(I - r y s') + r s s'
      const r = 1 / sy, Hy0 = H[0] * y0 + H[1] * y1, Hy1 = H[1] * y0 + H[2] * y1;
      const yHy = y0 * Hy0 + y1 * Hy1, c = (1 + r * yHy) * r;
      H = [H[0] - r * 2 * s0 * Hy0 + c * s0 * s0, H[1] - r * (s0 * Hy1 + s1 * Hy0) + c * s0 * s1,
           H[2] - r * 2 * s1 * Hy1 + c * s1 * s1];
    }
    m = m2; u = u2; f = f2; g = g2;
  }
  return [m, Math.exp(u), f];
}
const xs = curves.data.x;
// Forward KL: moment matching.
const fm = W[0] * MU[0] + W[1] * MU[1];
const fs = Math.sqrt(W[0] * (SD[0] ** 2 + MU[0] ** 2) + W[1] * (SD[1] ** 2 + MU[1] ** 2) - fm * fm);
const optima = [], sx = [], sc = [];
const lo = -sep.value / 2 - 2, hi = sep.value / 2 + 2;
const COLORS = ["#d62728", "#2ca02c", "#9467bd", "#8c564b"];
for (let k = 0; k <= 20; k++) {
  const start = lo + (hi - lo) * k / 20, [m, s, f] = descend(start, 0);
  let j = optima.findIndex(o => Math.abs(o.m - m) < 1e-2 && Math.abs(o.s - s) < 1e-2);
  if (j < 0) { optima.push({m: m, s: s, kl: f, starts: []}); j = optima.length - 1; }
  optima[j].starts.push(start); sx.push(start);
}
optima.sort((a, b) => a.m - b.m);
for (const start of sx) {
  sc.push(COLORS[optima.findIndex(o => o.starts.includes(start)) % COLORS.length]);
}
const data = {x: xs, p: xs.map(x => Math.exp(logp(x))),
  fwd: xs.map(x => Math.exp(normLogPdf(x, fm, fs)))};
for (let j = 0; j < 4; j++) {
  const o = optima[j];
  data["r" + j] = o ? xs.map(x => Math.exp(normLogPdf(x, o.m, o.s))) : xs.map(x => NaN);
}
curves.data = data;
starts.data = {x: sx, y: sx.map(x => 0), color: sc};
let text = "<p><b>Forward KL(p‖q)</b> best Normal: m = " + fmt(fm, 3) + ", s = " + fmt(fs, 3) +
  "</p><p><b>Reverse KL(q‖p)</b> local optima (" + optima.length + "):</p><ul>";
optima.forEach((o, j) => {
  text += "<li data-optimum='" + j + "'><span style='color:" + COLORS[j % 4] + "'>■</span> m = " +
    fmt(o.m, 3) + ", s = " + fmt(o.s, 3) + ", KL(q‖p) = <span data-kl>" + fmt(o.kl, 4) +
    "</span>; reached from " + o.starts.length + " of 21 starts (▲ in its colour)</li>";
});
readout.text = text + "</ul>";
"""


def fits(weight=0.6, separation=4.0, width1=0.7, width2=0.7):
    r"""Explorer for chapter 3: the best Normal for a bimodal target, forward and reverse.

    Sliders set the target p = w N(−d/2, σ₁²) + (1 − w) N(d/2, σ₂²). The page draws the
    forward-KL optimum (moment matching, `forward_fit`) and every local optimum of
    reverse KL (`reverse_kl_optima`): gradient descent in the page from 21 starting
    means, with s = 1, each start marked on the x axis in the colour of the optimum it
    reaches.

    Args:
      weight, separation, width1, width2: the initial target.

    Returns:
      `Explorer`.

    Examples:
      >>> explorer = fits(weight=0.5, separation=3.0)
      >>> explorer.name, type(explorer.layout).__name__
      ('fits', 'Row')
    """
    from bokeh.layouts import column, row
    from bokeh.models import ColumnDataSource, CustomJS, Div
    from bokeh.plotting import figure

    x = np.linspace(-8, 8, 481)
    keys = ("p", "fwd", "r0", "r1", "r2", "r3")
    curves = ColumnDataSource({"x": x.tolist(), **{k: [0.0] * x.size for k in keys}})
    starts = ColumnDataSource({"x": [], "y": [], "color": []})
    z, g = _z_rule()
    gh = ColumnDataSource({"z": z.tolist(), "g": g.tolist()})
    fig = figure(
        height=360,
        sizing_mode="stretch_width",
        x_axis_label="x",
        y_axis_label="density",
        toolbar_location=None,
        title="Target p and its best-fitting Normals",
    )
    fig.varea(
        x="x",
        y1=0,
        y2="p",
        source=curves,
        color="#7f7f7f",
        fill_alpha=0.35,
        legend_label="target p",
    )
    fig.line(
        "x", "fwd", source=curves, line_width=3, color="#1f77b4", legend_label="forward KL fit"
    )
    colours = ["#d62728", "#2ca02c", "#9467bd", "#8c564b"]
    for j in range(4):
        fig.line(
            "x",
            f"r{j}",
            source=curves,
            line_width=2,
            line_dash="dashed",
            color=colours[j],
            legend_label="reverse KL optima",
        )
    fig.scatter(
        "x",
        "y",
        source=starts,
        color="color",
        size=7,
        marker="triangle",
        legend_label="starts (colour: where they go)",
    )
    # Below the plot, not on it: inside, the legend hid the top of the curves.
    legend = fig.legend[0]
    fig.add_layout(legend, "below")
    legend.ncols = 2
    wt = _slider("weight of the left mode w", 0.05, 0.95, weight, 0.05)
    sep = _slider("separation d", 0, 8, separation, 0.1, "0[.]0")
    s1 = _slider("left width σ₁", 0.2, 2, width1, 0.05)
    s2 = _slider("right width σ₂", 0.2, 2, width2, 0.05)
    readout = Div(text="", name="readout")
    callback = CustomJS(
        args=dict(
            wt=wt, sep=sep, s1=s1, s2=s2, gh=gh, curves=curves, starts=starts, readout=readout
        ),
        code=_JS_LIB + _FITS_JS,
    )
    layout = row(
        column(wt, sep, s1, s2, readout, width=320),
        column(fig, sizing_mode="stretch_width"),
        sizing_mode="stretch_width",
    )
    return Explorer(
        _finish(layout, callback, [wt, sep, s1, s2]),
        "fits",
        "A bimodal target set by sliders with its best Normal under forward and reverse KL",
    )


# --------------------------------------------------------------------------------------
# Chapter 4: the spread of Monte Carlo estimates.


def uniform_draws(seed, count):
    """The page's seeded uniforms in [0, 1): mulberry32, vectorised (its state is a counter).

    Args:
      seed: an integer in [0, 2³²).
      count: how many draws.

    Returns:
      ``numpy.ndarray`` of float64, the same numbers the page's JavaScript draws.

    Examples:
      >>> uniform_draws(1, 2).round(6).tolist()
      [0.627074, 0.002736]
    """
    a = np.uint64(seed) + np.uint64(0x6D2B79F5) * np.arange(1, count + 1, dtype=np.uint64)
    mask = np.uint64(0xFFFFFFFF)
    t = a & mask
    t = ((t ^ (t >> np.uint64(15))) * (t | np.uint64(1))) & mask
    t = (t ^ ((t + (((t ^ (t >> np.uint64(7))) * (t | np.uint64(61))) & mask)) & mask)) & mask
    return ((t ^ (t >> np.uint64(14))) & mask).astype(np.float64) / 2.0**32


def _normal_draws(seed, count):
    u = uniform_draws(seed, 2 * count).reshape(count, 2)
    return np.sqrt(-2 * np.log(1 - u[:, 0])) * np.cos(2 * np.pi * u[:, 1])


def estimator_spread(num_samples, estimator, mu_q, sigma_q, seed=2024):
    r"""The chapter 4 explorer's estimates of KL(p‖q), p = N(0, 1), q = N(μ_q, σ_q²).

    Draws ``REPETITIONS`` independent samples of size n from p (seeded, exactly as the
    page does) and returns each sample's estimate by k1, k2 or k3 (see
    `klcourse.kl_monte_carlo`): with :math:`\log r = \log q(x) - \log p(x)`,

    .. math:: k_1 = -\log r,\qquad k_2 = \tfrac12 (\log r)^2,\qquad k_3 = (r - 1) - \log r .

    Args:
      num_samples: n, draws per estimate.
      estimator: ``"k1"``, ``"k2"`` or ``"k3"``.
      mu_q, sigma_q: q's mean and standard deviation.
      seed: the page's seed.

    Returns:
      ``numpy.ndarray`` of ``REPETITIONS`` estimates.

    Raises:
      ValueError: if ``estimator`` is not ``"k1"``, ``"k2"`` or ``"k3"``.

    Examples:
      k3 is never negative and its estimates centre on the true KL(p‖q) = μ_q²/2 = 0.125:

      >>> spread = estimator_spread(100, "k3", 0.5, 1.0)
      >>> spread.shape, bool((spread >= 0).all()), round(float(spread.mean()), 2)
      ((400,), True, 0.13)
    """
    from klcourse.divergence import KL_ESTIMATORS, _terms_from_log_ratio

    _validate.one_of(estimator, "estimator", KL_ESTIMATORS)
    x = _normal_draws(seed, REPETITIONS * num_samples).reshape(REPETITIONS, num_samples)
    log_r = scipy.stats.norm.logpdf(x, mu_q, sigma_q) - scipy.stats.norm.logpdf(x)
    terms = _terms_from_log_ratio(log_r, estimator)
    return terms.mean(axis=1)


_ESTIMATORS_JS = r"""
const n = Math.round(ns.value), est = ["k1", "k2", "k3"][choice.active];
const mq = muq.value, sq = sdq.value, R = %(reps)d;
let a = %(seed)d >>> 0;
function uniform() {
  a = (a + 0x6D2B79F5) | 0; let t = a;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const values = new Float64Array(R);
for (let r = 0; r < R; r++) {
  let s = 0;
  for (let i = 0; i < n; i++) {
    const u1 = uniform(), u2 = uniform();
    const x = Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
    const lr = normLogPdf(x, mq, sq) - normLogPdf(x, 0, 1);
    s += est === "k1" ? -lr : (est === "k2" ? 0.5 * lr * lr : Math.expm1(lr) - lr);
  }
  values[r] = s / n;
}
const ratio = 1 / sq, d = mq / sq;  // KL(N(0,1) || N(mq, sq^2))
const truth = 0.5 * (Math.expm1(2 * Math.log(ratio)) - 2 * Math.log(ratio)) + 0.5 * d * d;
let mean = 0; for (const v of values) mean += v; mean /= R;
let v2 = 0; for (const v of values) v2 += (v - mean) ** 2; const sd = Math.sqrt(v2 / (R - 1));
const vmin = Math.min(...values, truth), vmax = Math.max(...values, truth);
const B = 30, width = (vmax - vmin) / B || 1, counts = new Array(B).fill(0);
for (const v of values) counts[Math.min(B - 1, Math.floor((v - vmin) / width))]++;
hist.data = {left: counts.map((c, i) => vmin + i * width),
  right: counts.map((c, i) => vmin + (i + 1) * width), top: counts};
line.data = {x: [truth, truth], y: [0, Math.max(...counts)]};
readout.text = "<p>" + R + " estimates, each from n = " + n + " draws of p, by " + est +
  "</p><table class='klcourse-readout'>" +
  "<tr><th scope='row'>true KL(p‖q)</th><td data-kl='true'>" + fmt(truth, 4) + "</td></tr>" +
  "<tr><th scope='row'>mean of the estimates</th><td data-kl='mean'>" + fmt(mean, 4) +
  "</td></tr><tr><th scope='row'>standard deviation</th><td data-kl='sd'>" + fmt(sd, 4) +
  "</td></tr><tr><th scope='row'>estimates below 0</th><td data-kl='negative'>" +
  values.filter(v => v < 0).length + "</td></tr></table>";
"""


def estimators(num_samples=100, estimator="k1", mu_q=0.5, sigma_q=1.0, seed=2024):
    r"""Explorer for chapter 4: the spread of k1, k2, k3 estimates of KL(p‖q).

    p = N(0, 1) and q = N(μ_q, σ_q²) (μ_q, σ_q set by sliders). The page draws 400
    seeded samples of size n (slider) from p, computes the chosen estimator on each
    (`estimator_spread` gives the same numbers) and shows their histogram against the
    true value (`klcourse.kl_normal`), with their mean and standard deviation.

    Args:
      num_samples: initial n.
      estimator: initial ``"k1"``, ``"k2"`` or ``"k3"``.
      mu_q, sigma_q: initial q.
      seed: the sampling seed (the same seed gives the same draws on every page load).

    Returns:
      `Explorer`.

    Raises:
      ValueError: if ``estimator`` is not ``"k1"``, ``"k2"`` or ``"k3"``.

    Examples:
      >>> explorer = estimators(num_samples=10, estimator="k3")
      >>> explorer.name, type(explorer.layout).__name__
      ('estimators', 'Row')
    """
    from bokeh.layouts import column, row
    from bokeh.models import ColumnDataSource, CustomJS, Div, RadioButtonGroup
    from bokeh.plotting import figure

    _validate.one_of(estimator, "estimator", ("k1", "k2", "k3"))
    hist = ColumnDataSource({"left": [], "right": [], "top": []})
    line = ColumnDataSource({"x": [], "y": []})
    fig = figure(
        height=320,
        sizing_mode="stretch_width",
        toolbar_location=None,
        title="400 estimates of KL(p‖q) and the true value",
        x_axis_label="estimate",
        y_axis_label="count",
    )
    fig.quad(
        left="left",
        right="right",
        top="top",
        bottom=0,
        source=hist,
        fill_alpha=0.6,
        legend_label="estimates",
    )
    fig.line("x", "y", source=line, color="#d62728", line_width=3, legend_label="true KL")
    fig.legend.location = "top_right"
    ns = _slider("sample size n", 10, 1000, num_samples, 10, "0")
    label = Div(text="<span data-group-label>estimator</span>")  # names the buttons
    choice = RadioButtonGroup(labels=["k1", "k2", "k3"], active=["k1", "k2", "k3"].index(estimator))
    muq = _slider("q: mean μ_q", 0, 2, mu_q, 0.1, "0[.]0")
    sdq = _slider("q: standard deviation σ_q", 0.6, 1.4, sigma_q, 0.05)
    readout = Div(text="", name="readout")
    callback = CustomJS(
        args=dict(ns=ns, choice=choice, muq=muq, sdq=sdq, hist=hist, line=line, readout=readout),
        code=_JS_LIB + _ESTIMATORS_JS % {"reps": REPETITIONS, "seed": seed},
    )
    choice.js_on_change("active", callback)
    layout = row(
        column(ns, label, choice, muq, sdq, readout, width=320),
        column(fig, sizing_mode="stretch_width"),
        sizing_mode="stretch_width",
    )
    return Explorer(
        _finish(layout, callback, [ns, muq, sdq]),
        "estimators",
        "Sample size and estimator chosen by the reader; the spread of the "
        "estimates against the true KL",
    )


# --------------------------------------------------------------------------------------
# Inserting the explorers into chapters 1-4.

#: chapter file prefix -> (lead-in sentence, call)
CELLS = {
    "01_": (
        "Move the sliders: both directions, their integrands and the grid estimate "
        "respond at once (computed in your browser).",
        "kc.explore.divergence(p=(0.0, 2.0, 0.0), q=(2.0, 2.0, 0.0), spacing=0.5)",
    ),
    "02_": (
        "Make the two densities differ in width or skew and watch KL(p‖q) and KL(q‖p) part ways.",
        "kc.explore.divergence(p=(0.0, 1.0, 0.0), q=(0.0, 2.0, 4.0), spacing=0.25)",
    ),
    "03_": (
        "Set the target's weights, separation and widths: the forward fit covers "
        "both modes, while reverse KL settles on one mode or the other, "
        "depending on where it starts.",
        "kc.explore.fits(weight=0.6, separation=4.0, width1=0.7, width2=0.7)",
    ),
    "04_": (
        "Choose the sample size and the estimator and watch the spread of 400 "
        "estimates around the true KL.",
        'kc.explore.estimators(num_samples=100, estimator="k1", mu_q=0.5)',
    ),
}
MARKER = "klcourse-explorer"


def insert_cells(notebook_path):
    """Insert the chapter's explorer (lead-in + one code cell) before ``## Summary``.

    Idempotent: a notebook that already holds a cell tagged ``klcourse-explorer`` is left
    alone. The code cell is tagged ``nbval-ignore-output`` (its output is the plot's JSON
    with random ids; the browser tests check its numbers) and has no output until the
    chapter is executed again (``make execute``).

    Args:
      notebook_path: a chapter notebook whose name starts with ``01_`` ... ``04_``.

    Returns:
      bool: whether the notebook changed.

    Raises:
      ValueError: if the notebook is not one of chapters 1-4 or has no ``## Summary``.

    Examples:
      On a two-cell notebook in a temporary folder (a second call changes nothing):

      >>> import tempfile, nbformat
      >>> nb = nbformat.v4.new_notebook()
      >>> nb.cells = [nbformat.v4.new_markdown_cell(t) for t in ("# KL", "## Summary")]
      >>> with tempfile.TemporaryDirectory() as folder:
      ...     path = pathlib.Path(folder) / "01_kl_basics.ipynb"
      ...     nbformat.write(nb, path)
      ...     first, again = insert_cells(path), insert_cells(path)
      ...     cells = nbformat.read(path, as_version=4).cells
      >>> first, again, [c.cell_type for c in cells]
      (True, False, ['markdown', 'markdown', 'code', 'markdown'])
      >>> insert_cells("notes.ipynb")
      Traceback (most recent call last):
      ...
      ValueError: `notebook_path` must be chapter 1-4 (01_...04_); got notes.ipynb
    """
    import nbformat

    path = pathlib.Path(notebook_path)
    key = next((k for k in CELLS if path.name.startswith(k)), None)
    if key is None:
        raise ValueError(f"`notebook_path` must be chapter 1-4 (01_...04_); got {path.name}")
    nb = nbformat.read(path, as_version=4)
    if any(MARKER in c.metadata.get("tags", []) for c in nb.cells):
        return False
    index = next(
        (
            i
            for i, c in enumerate(nb.cells)
            if c.cell_type == "markdown" and re.search(r"^## Summary\b", c.source, re.M)
        ),
        None,
    )
    if index is None:
        raise ValueError(f"{path.name} has no '## Summary' heading to insert before")
    lead, call = CELLS[key]
    text = nbformat.v4.new_markdown_cell(f"### Explore\n\n{lead}")
    text.metadata["tags"] = [MARKER]
    code = nbformat.v4.new_code_cell(call)
    code.metadata["tags"] = [MARKER, "nbval-ignore-output"]
    nb.cells[index:index] = [text, code]
    nbformat.write(nb, path)
    return True


def main(argv=None):
    """``python -m klcourse.explore insert chapters/``: add the explorers to chapters 1-4."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] != "insert":
        print("usage: python -m klcourse.explore insert CHAPTERS_FOLDER", file=sys.stderr)
        return 2
    for path in sorted(pathlib.Path(argv[1]).glob("0[1-4]_*.ipynb")):
        print(f"{path}: {'explorer inserted' if insert_cells(path) else 'already has one'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
