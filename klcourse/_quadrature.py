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
  piece at once) clusters its nodes double-exponentially at both ends of a piece, but
  only as far as float64 can represent the points: near 1 they are 1.1e-16 apart (Beta(0.3,
  0.3) has about 1e-5 of its mass above the largest float below 1), and Gamma(0.01, 1)
  has 1.6e-3 of its mass below 1e-280. So every piece beside a finite support end e (all
  pieces of a half-line, the halves of a bounded support) is integrated in
  :math:`s = \log|x - e|`, where :math:`x^{a-1}` becomes the smooth, slowly decaying
  :math:`e^{a s}` and the points within 1e-300 of e, or beyond 1e300 on a half-line, are
  ordinary values of s. The densities there are written in closed form in s where the
  family allows (`near_end`: Beta, Kumaraswamy, LogitNormal at 0 and 1; Gamma,
  Exponential, Chi2, InverseGamma, LogNormal at 0; mixtures of these); other families
  are evaluated at x and lose only the points float64 cannot reach, which
  `_Problem.beyond_range` checks hold a negligible share of the integral (else the
  error says "mass outside the float64 range"). Pieces on the real line, away from any
  finite end, are integrated in x, as before.
* **Infinite ranges** use tanh-sinh's own change of variables (in x, or in s).
* **Divergent integrals.** Before integrating, each end of p's support is probed at
  two points 30 decades apart (1e30 and 1e60 times the landmarks' scale beyond them):
  an integrand that falls no faster than 1/distance there has an infinite integral:
  KL(Cauchy‖Normal) and KL(Cauchy‖Laplace) are infinite, KL(Cauchy‖StudentT(3)) is not.
  A finite end is an infinite end of s and is probed the same way in s where the
  densities have closed forms; elsewhere at 1e-30 and 1e-60 of the piece's width from
  it, and only an integrand in s that does not fall at all counts as divergent.
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


def _params(dist, *names):
    return [np.asarray(tf.convert_to_tensor(getattr(dist, n)), np.float64) for n in names]


def _log1m_exp(s):
    """log(1 - e^s) for s < 0, accurate at both ends."""
    return np.where(s > -math.log(2), np.log(-np.expm1(s)), np.log1p(-np.exp(s)))


def _normal_log_pdf(z, loc, scale):
    return -0.5 * ((z - loc) / scale) ** 2 - np.log(scale) - 0.5 * math.log(2 * math.pi)


def near_end(dist, end, direction):
    """``s ↦ log density of dist at x = end + direction·e^s``, in closed form, or ``None``.

    For the families whose density near a finite end of their support is a power of the
    distance to it (or, for LogNormal, a Normal in log x): written in s = log(distance)
    the density is smooth, and it is evaluated for every s, also where e^s underflows
    (Gamma(0.01, 1) has 1.6e-3 of its mass below 1e-280, LogNormal(0, 1e3) a quarter of
    its mass beyond float64's range). Beta, Kumaraswamy, LogitNormal at 0 and 1; Gamma
    (Exponential), Chi2, InverseGamma, LogNormal at 0; mixtures of these.
    """
    if numpy_dtype(dist) != np.float64:
        return None
    at_low, at_high = (end, direction) == (0.0, 1), (end, direction) == (1.0, -1)
    if isinstance(dist, tfd.Beta) and (at_low or at_high):
        a, b = _params(dist, "concentration1", "concentration0")
        a, b = (a, b) if at_low else (b, a)  # 1 - X is Beta(b, a)
        norm = scipy.special.betaln(a, b)
        return lambda s: (a - 1) * s + (b - 1) * _log1m_exp(np.minimum(s, 0.0)) - norm
    if isinstance(dist, tfd.Kumaraswamy) and (at_low or at_high):
        a, b = _params(dist, "concentration1", "concentration0")
        const = np.log(a) + np.log(b)
        if at_low:  # a b x^(a-1) (1 - x^a)^(b-1), x = e^s
            return lambda s: const + (a - 1) * s + (b - 1) * _log1m_exp(np.minimum(a * s, 0.0))

        def kumaraswamy_top(s):  # x = 1 - e^s, 1 - x^a = -expm1(a log1p(-e^s)) ≈ a e^s
            s = np.minimum(s, 0.0)
            log_x = _log1m_exp(s)
            with np.errstate(all="ignore"):
                exact = np.log(-np.expm1(a * log_x))
            tail = np.where(s < -40.0, np.log(a) + s, exact)
            return const + (a - 1) * log_x + (b - 1) * tail

        return kumaraswamy_top
    if isinstance(dist, tfd.LogitNormal) and (at_low or at_high):
        loc, scale = _params(dist, "loc", "scale")
        loc = loc if at_low else -loc  # 1 - X is LogitNormal(-loc, scale)

        def logit_normal(s):
            s = np.minimum(s, 0.0)
            log_1mx = _log1m_exp(s)
            return _normal_log_pdf(s - log_1mx, loc, scale) - s - log_1mx

        return logit_normal
    if not at_low:
        pass
    elif isinstance(dist, tfd.Chi2):
        (df,) = _params(dist, "df")
        return _gamma_log_pdf(0.5 * df, 0.5 + 0 * df)
    elif isinstance(dist, tfd.Gamma):  # Exponential too
        a, rate = _params(dist, "concentration", "rate")
        return _gamma_log_pdf(a, rate)
    elif isinstance(dist, tfd.InverseGamma):
        a, scale = _params(dist, "concentration", "scale")
        const = a * np.log(scale) - scipy.special.gammaln(a)
        return lambda s: const - (a + 1) * s - scale * np.exp(-s)
    elif isinstance(dist, tfd.LogNormal):
        loc, scale = _params(dist, "loc", "scale")
        return lambda s: _normal_log_pdf(s, loc, scale) - s
    if isinstance(dist, tfd.MixtureSameFamily):
        components = near_end(dist.components_distribution, end, direction)
        if components is None:
            return None
        log_weights = _log_weights(dist.mixture_distribution)
        return lambda s: scipy.special.logsumexp(
            log_weights + components(np.asarray(s)[..., None]), axis=-1
        )
    if isinstance(dist, tfd.Mixture):
        parts = [near_end(c, end, direction) for c in dist.components]
        if any(part is None for part in parts):
            return None
        log_weights = _log_weights(dist.cat)
        return lambda s: scipy.special.logsumexp(
            np.stack([w + part(s) for w, part in zip(log_weights, parts, strict=True)]), axis=0
        )
    return None


def _gamma_log_pdf(a, rate):
    const = a * np.log(rate) - scipy.special.gammaln(a)
    return lambda s: const + (a - 1) * s - rate * np.exp(s)


def _log_weights(categorical):
    logits = np.asarray(categorical.logits_parameter(), np.float64)
    return logits - scipy.special.logsumexp(logits)


# ------------------------------------------------------------------ the integral
class _Side:
    """One distribution as the integrand sees it: support, evaluation, closed forms at ends."""

    def __init__(self, dist, low=-math.inf, high=math.inf):
        self.dist = dist
        own_low, own_high = support(dist)
        self.low, self.high = max(own_low, low), min(own_high, high)
        self.closed = {}  # (end, direction) -> s ↦ log density at end + direction·e^s
        if np.isfinite(own_low) and own_low == self.low:
            self.closed[(own_low, 1)] = near_end(dist, own_low, 1)
        if np.isfinite(own_high) and own_high == self.high:
            self.closed[(own_high, -1)] = near_end(dist, own_high, -1)
        self.closed = {key: f for key, f in self.closed.items() if f is not None}
        # the closed form at own_low holds up to own_high (and the reverse)
        self.reach = own_high - own_low

    def has_closed(self, anchor, direction):
        return (anchor, direction) in self.closed

    def log_density(self, x, s, anchor, direction):
        """Log density at x; on pieces in log coordinates x = anchor + direction·e^s.

        There x may round onto the anchor. A family with a closed form at that end is
        evaluated at s; any other at x, but at least one float away from the anchor,
        which is exact for a density that is smooth there (Uniform, Pareto, ...). Outside
        the open support the density is 0 (log -inf): ``log_prob`` is not called there,
        since many families return NaN outside their support.
        """
        out = np.full(x.shape, -np.inf)
        done = np.zeros(x.shape, dtype=bool)
        for (end, way), closed in self.closed.items():
            here = (anchor == end) & (direction == way)
            if np.any(here):
                done |= here
                valid = here & (s < math.log(self.reach) if np.isfinite(self.reach) else here)
                if np.any(valid):
                    out[valid] = closed(s[valid])
        logc = ~np.isnan(anchor)
        onto = logc & (x == anchor)
        toward = np.where(direction > 0, np.inf, -np.inf)
        x = np.where(onto, np.nextafter(np.where(logc, anchor, 0.0), toward), x)
        direct = ~done & (x > self.low) & (x < self.high)
        if np.any(direct):
            out[direct] = log_prob(self.dist, x[direct])
        return out


def integrate(p, q, integrand, *, lower, upper, points=(), over_q=False, eps=None):
    r"""Integrate ``integrand(x, log_p, log_q)`` over the support of p (and of q).

    Args:
      p, q: univariate distributions (``q`` may be ``None``); p is taken to be 0 outside
        ``[lower, upper]``.
      integrand: vectorised ``(x, log_p, log_q) -> values``, 0 where the integrand
        vanishes; ``log_q`` is ``None`` when ``q`` is. It must be linear in the two
        densities together (``integrand(x, log_p + c, log_q + c)`` is ``e^c`` times
        ``integrand(x, log_p, log_q)``), as every integral of the package is: pieces in
        log coordinates pass the log densities of ``s = log|x - end|``.
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
    starts, stops, index = problem.pieces
    rtol = eps**0.75
    result = scipy.integrate.tanhsinh(
        problem, starts, stops, args=(index,), rtol=rtol, atol=1e-300, minlevel=3
    )
    if problem.trouble is not None:
        return problem.trouble
    value, error = float(np.sum(result.integral)), float(np.sum(result.error))
    # first: a piece cut short where float64 ends also fails to converge (a jump)
    beyond = problem.beyond_range(rtol * abs(value))
    if beyond is not None:
        return Outcome("range", value, error, beyond)
    if not (np.all(result.success) or error <= 10 * rtol * abs(value)):
        worst = int(np.argmax(np.where(result.success, -np.inf, result.error)))
        return Outcome("failed", value, error, problem.piece_name(worst))
    return Outcome("ok", value, error)


def _edges(low, high, ends, marks):
    """Sorted breakpoints from ``low`` to ``high``: support ends and landmarks inside.

    Landmarks closer to a finite end than 1e-6 of its size are dropped: the piece
    between would be a sliver whose points float64 cannot resolve, and the end's own
    piece (in log coordinates) covers them.
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


def _anchors(edges, ends):
    """For each piece, the finite support end it is integrated from, and the direction.

    A piece between two support ends is anchored at the nearer one; one beside a single
    finite end (a half-line) at that end; a piece with no finite end about (the real
    line) at none (NaN, direction 0): it is integrated in x.
    """
    ends = np.sort(np.array(sorted(e for e in ends if np.isfinite(e)), np.float64))
    starts, stops = edges[:-1], edges[1:]
    anchor = np.full(starts.shape, np.nan)
    direction = np.zeros(starts.shape)
    for i, (a, b) in enumerate(zip(starts, stops, strict=True)):
        below, above = ends[ends <= a], ends[ends >= b]
        lo = below.max() if below.size else -math.inf
        hi = above.min() if above.size else math.inf
        if not (np.isfinite(lo) or np.isfinite(hi)):
            continue
        use_low = np.isfinite(lo) and (not np.isfinite(hi) or a - lo <= hi - b)
        anchor[i], direction[i] = (lo, 1.0) if use_low else (hi, -1.0)
    return anchor, direction


class _Problem:
    """The pieces, and the integrand as tanh-sinh calls it, noting mismatches and NaNs.

    A piece near a finite support end e is integrated in s = log|x - e| (``anchor`` e,
    ``direction`` the sign of x - e), so that the points within 1e-300 of e, and on a
    half-line the points beyond 1e300, are still seen where a family's density has a
    closed form in s (`near_end`); the integrand there is the one in x times e^s. A
    piece with no finite end about is integrated in x. Points beyond what float64 can
    evaluate are left out (integrand 0): farther than ``10**far`` times the landmarks'
    scale from them, or closer to a piece's start (in x) or to its anchor than
    ``10**-near`` of its width (TensorFlow flushes subnormal numbers to 0, and far out a
    narrow distribution's standardised x overflows), unless every side has a closed
    form there. `beyond_range` checks that the mass left out is negligible.
    """

    def __init__(self, sides, integrand, edges, ends, exact):
        self.sides, self.integrand, self.edges = sides, integrand, edges
        inner = edges[1:-1]
        self.scale = max(float(np.max(np.abs(inner))), float(np.ptp(inner)), 1e-300)
        self.log_tiny = math.log(np.finfo(np.float64 if exact else np.float32).tiny) + 1.0
        if exact:
            self.far, self.near, self.probes = 100.0, 280.0, np.array([30.0, 60.0])
        else:
            self.far, self.near, self.probes = 12.0, 30.0, np.array([4.0, 8.0])
        self.anchor, self.direction = _anchors(edges, ends)
        self.logc = ~np.isnan(self.anchor)
        self.width = edges[1:] - edges[:-1]
        self.closed = np.array(
            [
                self.logc[i]
                and all(s is None or s.has_closed(self.anchor[i], self.direction[i]) for s in sides)
                for i in range(len(self.width))
            ],
            dtype=bool,
        )
        starts, stops = edges[:-1].copy(), edges[1:].copy()
        with np.errstate(divide="ignore"):
            near = np.log(np.abs(np.where(self.direction > 0, starts, stops) - self.anchor))
            far = np.log(np.abs(np.where(self.direction > 0, stops, starts) - self.anchor))
        starts = np.where(self.logc, near, starts)
        stops = np.where(self.logc, far, stops)
        self.pieces = (starts, stops, np.arange(len(starts), dtype=np.float64))
        self.trouble = None

    def piece_name(self, i):
        return f"({self.edges[i]:.6g}, {self.edges[i + 1]:.6g})"

    def _unseen(self, x, u, i):
        edges, far = self.edges, self.scale * 10.0**self.far
        unseen = ~self.closed[i] & ((x < edges[1] - far) | (x > edges[-2] + far))
        start = np.where(self.logc[i], -np.inf, edges[i])
        unseen |= np.isfinite(start + self.width[i]) & (
            u - start < self.width[i] * 10.0**-self.near
        )
        # in log coordinates: closer to the anchor than 10**-near of the width
        cutoff = self._cutoff(i)
        touching = self.logc[i] & np.isneginf(self.pieces[0][i])
        unseen |= touching & ~self.closed[i] & (u < cutoff)
        # |s| > 1e100 is e^(±1e100) from the anchor: nothing there is representable, and
        # a power of the distance, a·s, may overflow to ±inf
        unseen |= self.logc[i] & (np.abs(u) > 1e100)
        return unseen | np.isnan(x)

    def _cutoff(self, i):
        """The s below which a piece without closed forms is left out (see the class).

        10**-near of the piece's width, and, at an anchor 0, no closer than the smallest
        normal float (TensorFlow flushes subnormal numbers to 0).
        """
        cutoff = np.log(np.minimum(self.width[i], 1e300)) - self.near * math.log(10.0)
        return np.where(self.anchor[i] == 0.0, np.maximum(cutoff, self.log_tiny), cutoff)

    def values(self, u, index):
        """Integrand at the points ``u`` (x, or s = log|x - anchor| on log pieces)."""
        u = np.asarray(u, dtype=np.float64)
        i = np.broadcast_to(index, u.shape).astype(int)
        anchor, direction, logc = self.anchor[i], self.direction[i], self.logc[i]
        with np.errstate(all="ignore"):
            x = np.where(logc, np.where(logc, anchor, 0.0) + direction * np.exp(u), u)
            jacobian = np.where(logc, u, 0.0)
            unseen = self._unseen(x, u, i)
            p, q = self.sides
            log_p = np.where(unseen, -np.inf, p.log_density(x, u, anchor, direction))
            log_q = None
            if q is not None:
                log_q = np.where(unseen, -np.inf, q.log_density(x, u, anchor, direction))
            self._check(x, log_p, log_q, unseen)
            log_p = np.where(np.isfinite(jacobian), log_p + jacobian, log_p)
            if log_q is not None:
                log_q = np.where(np.isfinite(jacobian), log_q + jacobian, log_q)
            values = np.asarray(self.integrand(x, log_p, log_q), dtype=np.float64)
        return np.where(unseen | np.isinf(u), 0.0, values)

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

    def _end_checks(self):
        """``(name, u, piece, weight, ratio)`` for each end of p's support to probe.

        ``u`` are two probe points; ``weight`` turns the integrand there into its size
        (integrand times distance); divergent if the size at the second point keeps
        ``ratio`` of the size at the first.
        """
        edges, decades = self.edges, self.probes
        p_low, p_high = self.sides[0].low, self.sides[0].high
        checks = []
        for end, i, outward in (
            (p_low, int(np.searchsorted(edges, p_low, "right")) - 1, -1.0),
            (p_high, int(np.searchsorted(edges, p_high, "left")) - 1, 1.0),
        ):
            name = f"{end:g}" if np.isfinite(end) else ("+inf" if outward > 0 else "-inf")
            if not self.logc[i]:  # an infinite end of the real line, in x
                distance = self.scale * 10.0**decades
                x = (edges[-2] + distance) if outward > 0 else (edges[1] - distance)
                checks.append((name, x, i, distance, _PROBE_RATIO))
                continue
            anchor, s_start, s_stop = self.anchor[i], *(self.pieces[j][i] for j in (0, 1))
            toward_anchor = np.isfinite(end)  # else: the far end of a half-line
            if toward_anchor and anchor != end:  # a piece from one end to another
                continue
            if self.closed[i]:  # s itself can go as far as needed
                base = s_stop if toward_anchor else s_start
                distance = max(1.0, abs(base)) * 10.0**decades
                s = base - distance if toward_anchor else base + distance
                checks.append((name, s, i, distance, _PROBE_RATIO))
            elif toward_anchor:  # 10**-decades of the piece's width from the end
                s = math.log(self.width[i]) - decades * math.log(10.0)
                checks.append((name, s, i, np.ones(2), 1.0))
            else:  # as in x: the size is the integrand in x times the distance
                distance = self.scale * 10.0**decades
                x = (edges[-2] + distance) if outward > 0 else (edges[1] - distance)
                gap = np.abs(x - anchor)
                checks.append((name, np.log(gap), i, distance / gap, _PROBE_RATIO))
        return checks

    def probe(self):
        """`Outcome` "divergent" if the integrand decays too slowly at an end, else None.

        At an infinite end the integrand times the distance (to the landmarks) is
        evaluated at two distances ``10**probes`` apart: if it has not fallen to half,
        the integrand decays no faster than about 1/distance and its integral diverges.
        A finite end, in s = log of the distance to it, is an infinite end of s: where
        the densities have closed forms in s the same test runs in s (a density like
        x^(a-1) is e^(a s) there, which falls however small a is); elsewhere the
        integrand in s is compared at ``10**-probes`` of the piece's width from the end,
        and only one that does not fall at all is divergent (`beyond_range` catches one
        that falls too slowly to be integrated within float64's range).
        """
        with np.errstate(over="ignore"):  # 1e60 times a scale of 1e300 is inf: no probe
            checks = self._end_checks()
        u = np.concatenate([np.asarray(c[1], np.float64) for c in checks])
        index = np.repeat([c[2] for c in checks], len(self.probes)).astype(np.float64)
        all_values = self.values(u, index).reshape(len(checks), len(self.probes))
        self.trouble = None  # far out, a NaN or a 0 of q is no evidence against p
        for (name, _, _, weight, ratio), values in zip(checks, all_values, strict=True):
            with np.errstate(all="ignore"):
                size = np.abs(values) * weight
            if np.any(np.isnan(size)) or not size[1] > 1e-200:
                continue
            if np.isinf(size[1]) or size[1] >= ratio * size[0]:
                return Outcome("divergent", math.copysign(math.inf, values[1]), math.inf, name)
        return None

    def beyond_range(self, tolerance):
        """Where mass left out near a finite end exceeds ``tolerance``, else None.

        On a piece in log coordinates with no closed form, the points closer to the end
        than 10**-near of the width are left out. The integrand in s just inside the
        cutoff, h, and its decay rate r there (from a second point 10 decades
        farther in) give the mass beyond as h / r.
        """
        cut = self.logc & ~self.closed & np.isinf(self.pieces[0])
        if not np.any(cut):
            return None
        pieces = np.flatnonzero(cut)
        base = self._cutoff(pieces)
        step = 10.0 * math.log(10.0)
        u = np.concatenate([base + 1e-9 * np.maximum(1.0, np.abs(base)), base + step])
        index = np.concatenate([pieces, pieces]).astype(np.float64)
        trouble = self.trouble
        h = np.abs(self.values(u, index)).reshape(2, -1)
        self.trouble = trouble
        with np.errstate(all="ignore"):
            rate = np.log(h[1] / h[0]) / step
            mass = np.where(h[0] > 0, h[0] / np.maximum(rate, 0.0), 0.0)
        for piece, left in zip(pieces, mass, strict=True):
            if not left <= max(tolerance, 1e-300):
                end = self.anchor[piece]
                return (
                    f"near x = {end:g} (piece {self.piece_name(piece)}): about {left:.2g} "
                    "of the integral lies closer to the end than float64 can resolve"
                )
        return None
