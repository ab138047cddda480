r"""The quadrature engine behind `kl_quadrature`, `expectation_quadrature` and
`estimator_moments` (private: the public functions live in `klcourse.divergence`).

It integrates :math:`\int h(x; \log p(x), \log q(x))\, dx` for univariate ``p`` and ``q``.
What it does, with the strategies of SciPy's ``quad`` (QUADPACK) for comparison:

* **Breakpoints.** ``quad(points=...)`` splits the range where the caller knows the
  integrand misbehaves. Here the range is split at quantiles of p and of q (exact
  quantiles, a mixture's components' quantiles, or quantiles of seeded draws) and at
  the ends of both supports, so a kink (Laplace's median), a narrow mixture component or
  most of the mass never hides inside one piece; callers may add ``points`` of their own.
* **Endpoint singularities.** ``quad``'s ``weight='alg'`` integrates
  :math:`(x-a)^\alpha (b-x)^\beta f(x)` exactly but must be told the exponents, and QAGS
  extrapolates its way through. Tanh-sinh (``scipy.integrate.tanhsinh``, run on every
  piece at once) clusters its nodes double-exponentially at both ends of a piece and so
  integrates :math:`x^{\alpha-1}` or :math:`\log x` singularities to full precision
  without knowing the exponent, *provided the points near the end can be represented*.
  Near 0 they can (down to about 1e-300). Near 1 they cannot: neighbouring float64
  numbers there are 1.1e-16 apart, and Beta(0.3, 0.3) has about 1e-5 of its mass above
  the largest float below 1. So the piece that ends at a finite upper end ``b`` is
  integrated in :math:`t = b - x`, with the log density of :math:`b - X` written in
  closed form where the family allows (Beta(α, β) → Beta(β, α), Kumaraswamy,
  LogitNormal, and mixtures of these). Other families are evaluated at ``b - t`` and lose
  only the points that round to ``b``.
* **Infinite ranges** use tanh-sinh's own change of variables.
* **Divergent integrals.** Before integrating, each end of p's support is probed at
  two points 30 decades apart (1e30 and 1e60 times the landmarks' scale beyond them, or
  1e-30 and 1e-60 times the last piece's width from a finite end). An integrand that
  falls no faster than 1/distance there has an infinite integral: KL(Cauchy‖Normal) and
  KL(Cauchy‖Laplace) are infinite, KL(Cauchy‖StudentT(3)) is not.
* **Cancellation.** `kl_quadrature` integrates q - p + p log(p/q) over both supports,
  which is never negative, so a relative tolerance holds even for a tiny KL.
* **Precision.** Distributions are rebuilt with float64 parameters (a float32
  parameter keeps its exact float32 value), so float32 and float64 distributions are
  integrated alike. Objects that cannot be rebuilt are integrated in their own dtype,
  with a tolerance to match.
"""

import math
from typing import NamedTuple

import numpy as np
import scipy.integrate
import scipy.special
import scipy.stats
import tensorflow as tf
import tensorflow_probability as tfp

from klcourse import _validate

tfd = tfp.distributions

# Quantile levels whose points become breakpoints, for p and for q (and per component).
LEVELS = np.array([1e-4, 0.02, 0.25, 0.5, 0.75, 0.98, 1 - 1e-4])
# An integrand times distance that keeps at least this share of its size over the
# 30 decades between two probes decays no faster than distance^-0.01: divergent.
_PROBE_RATIO = 0.5
_FLAGS = ("validate_args", "allow_nan_stats", "name", "force_probs_to_zero_outside_support")
_SAMPLE_SEED = 20240101


class Outcome(NamedTuple):
    """What `integrate` found.

    ``status`` is ``"ok"`` (``value`` and ``error`` hold the integral and its error
    estimate), ``"mismatch"`` (q's density is 0 where p's is not, at ``where``),
    ``"divergent"`` (``value`` is ``±inf``; ``where`` names the end), ``"nan"`` (a
    ``log_prob`` returned NaN inside its support, at ``where``) or ``"failed"`` (the
    piece ``where`` did not reach the tolerance; ``value`` and ``error`` hold the
    best estimate).
    """

    status: str
    value: float
    error: float
    where: str = ""


# ------------------------------------------------------------------ distributions
def as_float64(dist):
    """``dist`` rebuilt with float64 parameters, or ``dist`` itself if that fails.

    A float32 parameter is cast, not re-read from a literal, so the rebuilt
    distribution has exactly the float32 distribution's parameters.
    """
    if not isinstance(dist, tfd.Distribution) or dist.dtype == tf.float64:
        return dist
    try:
        copy = _float64_copy(dist)
        if copy.dtype != tf.float64:
            return dist
        copy.log_prob(tf.constant(_probe_point(dist), tf.float64))  # builds and evaluates
    except Exception:  # a family we cannot rebuild: keep it as it is
        return dist
    return copy


def _probe_point(dist):
    low, high = support(dist)
    if np.isfinite(low) and np.isfinite(high):
        return 0.5 * (low + high)
    if np.isfinite(low):
        return low + 1.0
    if np.isfinite(high):
        return high - 1.0
    return 0.0


def _float64_copy(dist):
    params = {}
    for name, value in dist.parameters.items():
        if name in _FLAGS or value is None or isinstance(value, (bool, str)):
            continue
        if isinstance(value, tfd.Distribution):
            params[name] = _float64_copy(value)
        elif isinstance(value, (list, tuple)) and any(
            isinstance(v, tfd.Distribution) for v in value
        ):
            params[name] = [_float64_copy(v) for v in value]
        elif isinstance(value, tfp.bijectors.Bijector):
            raise TypeError("bijector parameters are not rebuilt")
        elif name == "dtype" or isinstance(value, tf.dtypes.DType):
            if tf.as_dtype(value).is_floating:
                params[name] = tf.float64
        else:
            floating = dist.dtype is not None and tf.as_dtype(dist.dtype).is_floating
            tensor = tf.convert_to_tensor(value, dtype_hint=dist.dtype if floating else None)
            if tensor.dtype.is_floating:
                params[name] = tf.cast(tensor, tf.float64)
    return dist.copy(**params)


def numpy_dtype(dist):
    dtype = getattr(dist, "dtype", None)
    return getattr(dtype, "as_numpy_dtype", np.float64) if dtype is not None else np.float64


def log_prob(dist, x):
    """``dist.log_prob`` at the float64 points ``x``, as float64 NumPy (batch axes kept)."""
    dtype = numpy_dtype(dist)
    if not np.issubdtype(dtype, np.floating):
        dtype = np.float64
    values = dist.log_prob(tf.constant(np.asarray(x, dtype=dtype)))
    return np.asarray(values, dtype=np.float64)


def _batch_rank(dist):
    rank = getattr(getattr(dist, "batch_shape", None), "rank", 0)
    return rank or 0


def support(dist):
    """``(low, high)`` of a univariate distribution's support; the real line if unknown.

    Read from TFP's event-space bijector (its images of ±∞). A mixture's support is the
    hull of its components' supports.
    """
    try:
        if isinstance(dist, tfd.MixtureSameFamily):
            return support(dist.components_distribution)
        if isinstance(dist, tfd.Mixture):
            ends = np.array([support(c) for c in dist.components])
            return float(ends[:, 0].min()), float(ends[:, 1].max())
        bijector = dist.experimental_default_event_space_bijector()
        shape = [2] + [1] * _batch_rank(dist)
        points = tf.constant(np.array([-np.inf, np.inf]).reshape(shape), dtype=dist.dtype)
        ends = np.asarray(bijector.forward(points), dtype=np.float64)
    except Exception:  # not a TFP distribution, or no bijector: assume the real line
        return -math.inf, math.inf
    if np.any(np.isnan(ends)):
        return -math.inf, math.inf
    return float(ends.min()), float(ends.max())


def landmarks(dist, levels=LEVELS):
    """Points where ``dist`` has its mass and its kinks: quantiles at ``levels``.

    Exact quantiles where the family has them; a mixture's components' quantiles (a
    narrow component is never stepped over); else quantiles of seeded draws.
    """
    if isinstance(dist, tfd.MixtureSameFamily):
        return landmarks(dist.components_distribution, levels)
    if isinstance(dist, tfd.Mixture):
        return np.concatenate([landmarks(c, levels) for c in dist.components])
    shape = [len(levels)] + [1] * _batch_rank(dist)
    try:
        points = _scipy_quantiles(dist, levels.reshape(shape))
        if points is None:
            points = dist.quantile(tf.constant(levels.reshape(shape), dtype=dist.dtype))
    except Exception:  # no quantile (Pareto, VonMises, user objects): use draws
        if not callable(getattr(dist, "sample", None)):
            return np.array([])
        try:
            draws = np.asarray(
                dist.sample(4096, seed=_validate.stateless_seed(_SAMPLE_SEED)), np.float64
            )
        except Exception:
            return np.array([])
        points = np.quantile(draws, levels, axis=0)
    points = np.asarray(points, dtype=np.float64).ravel()
    return points[np.isfinite(points)]


def _numpy(value):
    return np.asarray(tf.convert_to_tensor(value), dtype=np.float64)


def _scipy_quantiles(dist, levels):
    """Quantiles from ``scipy.stats`` for families whose TFP quantile is slow, else None.

    TFP inverts the regularised incomplete beta and gamma functions with eager loops
    that take about 0.1 s a call; SciPy's ``ppf`` takes microseconds. Landmarks are only
    breakpoints, so the two agreeing to a few digits is all that matters.
    """
    if isinstance(dist, tfd.Beta):
        law = scipy.stats.beta(_numpy(dist.concentration1), _numpy(dist.concentration0))
    elif isinstance(dist, tfd.Gamma):  # Exponential too
        law = scipy.stats.gamma(_numpy(dist.concentration), scale=1 / _numpy(dist.rate))
    elif isinstance(dist, tfd.InverseGamma):
        law = scipy.stats.invgamma(_numpy(dist.concentration), scale=_numpy(dist.scale))
    elif isinstance(dist, tfd.Chi2):
        law = scipy.stats.chi2(_numpy(dist.df))
    elif isinstance(dist, tfd.Chi):
        law = scipy.stats.chi(_numpy(dist.df))
    elif isinstance(dist, tfd.StudentT):
        law = scipy.stats.t(_numpy(dist.df), _numpy(dist.loc), _numpy(dist.scale))
    else:
        return None
    return law.ppf(levels)


def near_upper_end(dist, end):
    """``t ↦ log density of dist at end - t``, exact for small t, or ``None``.

    Only for families whose density at ``end - t`` has a closed form in ``t`` (so the
    points within 1e-16 of ``end``, which float64 cannot tell apart from ``end``, are
    still seen): Beta, Kumaraswamy, LogitNormal (all ending at 1) and mixtures of them.
    """
    if numpy_dtype(dist) != np.float64:
        return None
    if end == 1.0 and isinstance(dist, tfd.Beta):
        mirrored = tfd.Beta(
            dist.concentration0, dist.concentration1, validate_args=dist.validate_args
        )
        return lambda t: log_prob(mirrored, t)
    if end == 1.0 and isinstance(dist, tfd.LogitNormal):
        mirrored = tfd.LogitNormal(
            -tf.convert_to_tensor(dist.loc), dist.scale, validate_args=dist.validate_args
        )
        return lambda t: log_prob(mirrored, t)
    if end == 1.0 and isinstance(dist, tfd.Kumaraswamy):
        a = np.asarray(tf.convert_to_tensor(dist.concentration1), np.float64)
        b = np.asarray(tf.convert_to_tensor(dist.concentration0), np.float64)

        # density a b x^(a-1) (1 - x^a)^(b-1) at x = 1 - t, with 1 - x^a = -expm1(a log1p(-t))
        def kumaraswamy(t):
            log_x = np.log1p(-t)
            return np.log(a) + np.log(b) + (a - 1) * log_x + (b - 1) * np.log(-np.expm1(a * log_x))

        return kumaraswamy
    if isinstance(dist, tfd.MixtureSameFamily):
        components = near_upper_end(dist.components_distribution, end)
        if components is None:
            return None
        log_weights = _log_weights(dist.mixture_distribution)
        return lambda t: scipy.special.logsumexp(
            log_weights + components(np.asarray(t)[..., None]), axis=-1
        )
    if isinstance(dist, tfd.Mixture):
        parts = [near_upper_end(c, end) for c in dist.components]
        if any(part is None for part in parts):
            return None
        log_weights = _log_weights(dist.cat)
        return lambda t: scipy.special.logsumexp(
            np.stack([w + part(t) for w, part in zip(log_weights, parts, strict=True)]), axis=0
        )
    return None


def _log_weights(categorical):
    logits = np.asarray(categorical.logits_parameter(), np.float64)
    return logits - scipy.special.logsumexp(logits)


# ------------------------------------------------------------------ the integral
class _Side:
    """One distribution as the integrand sees it: support, evaluation, mirrored end."""

    def __init__(self, dist, low=-math.inf, high=math.inf):
        self.dist = dist
        own_low, own_high = support(dist)
        self.low, self.high = max(own_low, low), min(own_high, high)
        self.mirrored = near_upper_end(dist, own_high) if own_high == self.high else None

    def log_density(self, x, t, mirror_at):
        """Log density at x, where x = e - t on pieces mirrored at e (``mirror_at``).

        There x may round onto e. A family with an exact mirrored density ending at e is
        evaluated at t; any other at x, but at most the largest float below e, which is
        exact for a density that is smooth there (Uniform, Pareto, ...). Outside the
        open support the density is 0 (log -inf): ``log_prob`` is not called there,
        since many families return NaN outside their support.
        """
        out = np.full(x.shape, -np.inf)
        mirrored = ~np.isnan(mirror_at)
        at_top = (mirror_at == self.high) & (t > 0) & (x > self.low)
        inside = ((x > self.low) & (x < self.high)) | at_top
        exact = at_top if self.mirrored is not None else np.zeros_like(at_top)
        direct = inside & ~exact
        if np.any(direct):
            below = np.nextafter(np.where(mirrored, mirror_at, np.inf), -np.inf)
            out[direct] = log_prob(self.dist, np.minimum(x, below)[direct])
        if np.any(exact):
            out[exact] = self.mirrored(t[exact])
        return out


def integrate(p, q, integrand, *, lower, upper, points=(), over_q=False, eps=None):
    r"""Integrate ``integrand(x, log_p, log_q)`` over the support of p (and of q).

    Args:
      p, q: univariate distributions (``q`` may be ``None``); p is taken to be 0 outside
        ``[lower, upper]``.
      integrand: vectorised ``(x, log_p, log_q) -> values``, 0 where the integrand
        vanishes; ``log_q`` is ``None`` when ``q`` is.
      lower, upper: the range of p.
      points: extra breakpoints.
      over_q: integrate over the hull of both supports (for an integrand that is not 0
        where p is), instead of p's support only.
      eps: the precision the integrand carries (its tolerance is ``eps**0.75``); by
        default that of the densities as evaluated (float64 unless one cannot be).

    Returns:
      `Outcome`.
    """
    p = as_float64(p)
    q = as_float64(q) if q is not None else None
    dists = [d for d in (p, q) if d is not None]
    exact = all(numpy_dtype(d) == np.float64 for d in dists)
    if eps is None:
        eps = np.finfo(np.float64 if exact else np.float32).eps
    sides = [_Side(p, lower, upper), _Side(q) if q is not None else None]
    p_low, p_high = sides[0].low, sides[0].high
    if not p_low < p_high:
        raise ValueError(
            f"`lower`..`upper` ({lower:g}, {upper:g}) must overlap the support of `p` {support(p)}"
        )
    low, high, ends = p_low, p_high, [p_low, p_high]
    if q is not None:
        q_low, q_high = sides[1].low, sides[1].high
        if p_low < q_low or p_high > q_high:
            return Outcome(
                "mismatch",
                math.inf,
                0.0,
                f"q's support ({q_low:g}, {q_high:g}) leaves out part of p's "
                f"({p_low:g}, {p_high:g})",
            )
        if over_q:
            low, high = min(low, q_low), max(high, q_high)
            ends += [q_low, q_high]
    marks = np.concatenate(
        [landmarks(d) for d in dists] + [np.asarray(points, dtype=np.float64).ravel()]
    )
    edges = _edges(low, high, ends, marks)
    problem = _Problem(sides, integrand, edges, ends, exact)
    divergent = problem.probe()
    if divergent is not None:
        return divergent
    starts, stops, mirror_at = problem.pieces
    result = scipy.integrate.tanhsinh(
        problem, starts, stops, args=(mirror_at,), rtol=eps**0.75, atol=1e-300, minlevel=3
    )
    if problem.trouble is not None:
        return problem.trouble
    value, error = float(np.sum(result.integral)), float(np.sum(result.error))
    if not (np.all(result.success) or error <= 10 * eps**0.75 * abs(value)):
        worst = int(np.argmax(np.where(result.success, -np.inf, result.error)))
        end = mirror_at[worst]
        piece = (starts[worst], stops[worst]) if np.isnan(end) else (end - stops[worst], end)
        return Outcome("failed", value, error, f"({piece[0]:.6g}, {piece[1]:.6g})")
    return Outcome("ok", value, error)


def _edges(low, high, ends, marks):
    """Sorted breakpoints from ``low`` to ``high``: support ends and landmarks inside.

    Landmarks closer to a finite end than 1e-6 of its size are dropped: the piece
    between would be a sliver whose points float64 cannot resolve, and the end's own
    piece (mirrored, at a top end) covers them.
    """
    ends = np.unique(np.asarray(ends, np.float64))
    ends = ends[np.isfinite(ends) & (ends > low) & (ends < high)]
    marks = marks[np.isfinite(marks) & (marks > low) & (marks < high)]
    for end in np.concatenate([ends, [low, high]]):
        if np.isfinite(end) and end != 0:
            marks = marks[np.abs(marks - end) > 1e-6 * abs(end)]
    inner = np.unique(np.concatenate([ends, marks]))
    if inner.size > 1:  # drop near-duplicate landmarks, never a support end
        gap = np.diff(inner) > 1e-12 * np.maximum(np.abs(inner[1:]), np.abs(inner[:-1]))
        inner = inner[np.concatenate([[True], gap]) | np.isin(inner, ends)]
    if inner.size == 0:
        if np.isfinite(low) and np.isfinite(high):
            inner = np.array([0.5 * (low + high)])
        elif np.isfinite(low):
            inner = np.array([low + 1.0])
        else:
            inner = np.array([high - 1.0 if np.isfinite(high) else 0.0])
    return np.concatenate([[low], inner, [high]])


class _Problem:
    """The pieces, and the integrand as tanh-sinh calls it, noting mismatches and NaNs.

    A piece that ends at a finite support end e is integrated in t = e - x (its
    ``mirror_at`` is e; NaN for a piece integrated in x). Points beyond what float64 can
    evaluate are left out (integrand 0): farther than ``10**far`` times the landmarks'
    scale from them, or closer to a piece's start (in x or t) than ``10**-near`` of its
    width (TensorFlow flushes subnormal numbers to 0, and far out a narrow
    distribution's standardised x overflows). The mass there is below 1e-100 for any
    distribution whose tails fall at least as fast as Cauchy's.
    """

    def __init__(self, sides, integrand, edges, ends, exact):
        self.sides, self.integrand, self.edges = sides, integrand, edges
        self.ends = {float(e) for e in ends if np.isfinite(e)}
        inner = edges[1:-1]
        self.scale = max(float(np.max(np.abs(inner))), float(np.ptp(inner)), 1e-300)
        if exact:
            self.far, self.near, self.probes = 100.0, 280.0, np.array([30.0, 60.0])
        else:
            self.far, self.near, self.probes = 12.0, 30.0, np.array([4.0, 8.0])
        starts, stops = edges[:-1].copy(), edges[1:].copy()
        mirror_at = np.where(np.isin(stops, list(self.ends)), stops, np.nan)
        starts, stops = (
            np.where(np.isnan(mirror_at), starts, 0.0),
            np.where(np.isnan(mirror_at), stops, stops - starts),
        )
        self.pieces = (starts, stops, mirror_at)
        self.trouble = None

    def _unseen(self, x, u, mirror_at, start, width):
        edges, far = self.edges, self.scale * 10.0**self.far
        unseen = (x < edges[1] - far) | (x > edges[-2] + far)
        unseen |= np.isfinite(start + width) & (u - start < width * 10.0**-self.near)
        return unseen

    def values(self, u, mirror_at):
        """Integrand at the points ``u`` (x, or t = e - x where ``mirror_at`` is e)."""
        u = np.asarray(u, dtype=np.float64)
        mirror_at = np.broadcast_to(mirror_at, u.shape)
        mirrored = ~np.isnan(mirror_at)
        with np.errstate(all="ignore"):
            x = np.where(mirrored, mirror_at - u, u)
            piece = np.searchsorted(self.edges, np.where(mirrored, mirror_at, u), "left")
            piece = np.clip(piece - 1, 0, len(self.edges) - 2)
            width = self.edges[piece + 1] - self.edges[piece]
            start = np.where(mirrored, 0.0, self.edges[piece])
            unseen = self._unseen(x, u, mirror_at, start, width)
            p, q = self.sides
            log_p = np.where(unseen, -np.inf, p.log_density(x, u, mirror_at))
            log_q = None
            if q is not None:
                log_q = np.where(unseen, -np.inf, q.log_density(x, u, mirror_at))
            self._check(x, log_p, log_q, unseen)
            values = np.asarray(self.integrand(x, log_p, log_q), dtype=np.float64)
        return np.where(unseen, 0.0, values)

    __call__ = values

    def _check(self, x, log_p, log_q, unseen):
        if self.trouble is not None:
            return
        for name, values in (("p", log_p), ("q", log_q)):
            if values is not None and np.any(np.isnan(values) & ~unseen):
                at = x[np.isnan(values) & ~unseen].ravel()[0]
                self.trouble = Outcome(
                    "nan", math.nan, math.nan, f"{name}.log_prob is NaN at x = {at:.6g}"
                )
                return
        if log_q is not None:
            # p > 0 in float64 (not just a finite log) where q is exactly 0.
            density_p = np.exp(np.where(np.isfinite(log_p), log_p, -np.inf))
            lost = (density_p > 0) & (log_q == -np.inf) & ~unseen
            if np.any(lost):
                at = x[lost].ravel()[0]
                self.trouble = Outcome("mismatch", math.inf, 0.0, f"q is 0 at x = {at:.6g}")

    def probe(self):
        """`Outcome` "divergent" if the integrand decays too slowly at an end, else None.

        At each end of p's support the integrand times the distance (to the end, or to
        the landmarks for an infinite end) is evaluated at two distances ``10**probes``
        apart: if it has not fallen to half, the integrand decays no faster than about
        1/distance and its integral diverges.
        """
        edges, decades = self.edges, self.probes
        p_low, p_high = self.sides[0].low, self.sides[0].high
        checks = []
        if p_low == -math.inf:
            distance = self.scale * 10.0**decades
            checks.append(("-inf", edges[1] - distance, distance, math.nan))
        else:
            first = edges[np.searchsorted(edges, p_low, "right")]
            distance = (first - p_low) * 10.0**-decades
            if np.all(p_low + distance > p_low):  # representable: probe it
                checks.append((f"{p_low:g}", p_low + distance, distance, math.nan))
        if p_high == math.inf:
            distance = self.scale * 10.0**decades
            checks.append(("+inf", edges[-2] + distance, distance, math.nan))
        else:
            last = edges[np.searchsorted(edges, p_high, "left") - 1]
            distance = (p_high - last) * 10.0**-decades
            checks.append((f"{p_high:g}", distance, distance, p_high))
        # One evaluation for all ends (each TensorFlow call has a fixed cost).
        u = np.concatenate([check[1] for check in checks])
        mirror_at = np.repeat([check[3] for check in checks], len(decades))
        all_values = self.values(u, mirror_at).reshape(len(checks), len(decades))
        self.trouble = None  # far out, a NaN or a 0 of q is no evidence against p
        for (name, _, distance, _), values in zip(checks, all_values, strict=True):
            with np.errstate(all="ignore"):
                size = np.abs(values) * distance
            if np.any(np.isnan(size)) or not size[1] > 1e-200:
                continue
            if np.isinf(size[1]) or size[1] >= _PROBE_RATIO * size[0]:
                return Outcome("divergent", math.copysign(math.inf, values[1]), math.inf, name)
        return None
