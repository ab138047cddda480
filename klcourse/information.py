r"""KL in information theory and statistics (chapter 8).

- What a small KL guarantees about total variation: `pinsker_bound` and
  `bretagnolle_huber_bound`.
- Mutual information as a KL: `mutual_information` (discrete joint tables),
  `gaussian_mutual_information`, and `nwj_bound`, the variational lower bound of
  Nguyen, Wainwright and Jordan (2010) estimated from samples with a critic.
- Hypothesis testing: `neyman_pearson_type2_normal`, the exact type-II error of the best
  test between two Normals with known variance, whose exponent is KL (Stein's lemma).
- t-SNE: `tsne_affinities` (the perplexity-calibrated P of van der Maaten and Hinton,
  2008), `tsne_similarities` (the Student-t Q of an embedding) and `tsne_kl`.
"""

import math

import numpy as np
import scipy.optimize
import scipy.special
import scipy.stats
from scipy.spatial.distance import pdist, squareform

from klcourse import _validate
from klcourse.divergence import kl_discrete

__all__ = [
    "pinsker_bound",
    "bretagnolle_huber_bound",
    "mutual_information",
    "gaussian_mutual_information",
    "nwj_bound",
    "fit_nwj_critic",
    "neyman_pearson_type2_normal",
    "tsne_affinities",
    "tsne_similarities",
    "tsne_kl",
]


def _kl_values(kl):
    try:
        kl = np.asarray(kl, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`kl` must be numeric; got {type(kl).__name__}") from None
    if np.any(np.isnan(kl)) or np.any(kl < 0):
        raise ValueError(f"`kl` must be non-negative; got {kl}")
    return kl


def pinsker_bound(kl):
    r"""Pinsker's inequality: TV(p, q) ≤ √(KL(p‖q) / 2).

    .. math:: \mathrm{TV}(p, q) \le \sqrt{\tfrac12 \mathrm{KL}(p \,\|\, q)}

    Tight as KL → 0 (Bernoulli pairs near ½); useless above KL = 2, where it exceeds 1.
    Chapter 8.

    Args:
      kl: KL(p‖q) in nats, a non-negative number or array.

    Returns:
      ``float`` or ``numpy.ndarray``: the bound (not capped at 1).

    Raises:
      ValueError: if ``kl`` is negative or NaN.

    Examples:
      >>> pinsker_bound(0.02)
      0.1
    """
    value = np.sqrt(_kl_values(kl) / 2)
    return float(value) if value.ndim == 0 else value


def bretagnolle_huber_bound(kl):
    r"""The Bretagnolle–Huber inequality: TV(p, q) ≤ √(1 − exp(−KL(p‖q))).

    .. math:: \mathrm{TV}(p, q) \le \sqrt{1 - e^{-\mathrm{KL}(p \,\|\, q)}}

    Always below 1, so still informative when KL is large, where Pinsker's is not.
    Chapter 8.

    Args:
      kl: KL(p‖q) in nats, a non-negative number or array (``inf`` allowed).

    Returns:
      ``float`` or ``numpy.ndarray`` in [0, 1].

    Raises:
      ValueError: if ``kl`` is negative or NaN.

    Examples:
      >>> round(bretagnolle_huber_bound(math.log(4)), 6)  # √(1 − 1/4)
      0.866025
    """
    value = np.sqrt(-np.expm1(-_kl_values(kl)))
    return float(value) if value.ndim == 0 else value


def mutual_information(joint, *, base=None):
    r"""I(X; Y) = KL(p(x, y) ‖ p(x) p(y)) of a discrete joint probability table.

    .. math:: I(X; Y) = \sum_{x, y} p(x, y) \log \frac{p(x, y)}{p(x)\, p(y)}

    Chapter 8.

    Args:
      joint: 2-D array-like of probabilities summing to 1, rows for x, columns for y.
      base: ``None`` for nats, ``2`` for bits.

    Returns:
      ``float``, between 0 and min(H(X), H(Y)).

    Raises:
      TypeError: if ``joint`` is not numeric.
      ValueError: if ``joint`` is not a 2-D table of probabilities summing to 1.

    Examples:
      >>> mutual_information([[0.5, 0.0], [0.0, 0.5]], base=2)  # Y = X: one bit
      1.0
    """
    joint = _validate.as_float_array(joint, "joint")
    if joint.ndim != 2:
        raise ValueError(f"`joint` must be a 2-D table; got shape {joint.shape}")
    flat = _validate.probability_vectors(joint.ravel(), "joint", -1)
    product = np.outer(joint.sum(axis=1), joint.sum(axis=0)).ravel()
    return float(kl_discrete(flat, product, base=base))


def gaussian_mutual_information(rho):
    r"""I(X; Y) of a bivariate Normal with correlation ρ: −½ log(1 − ρ²).

    .. math:: I(X; Y) = -\tfrac12 \log(1 - \rho^2)

    The value both 2-D optima of chapter 3 and the best mean-field KL of chapter 5 equal.
    Chapter 8.

    Args:
      rho: correlation in (−1, 1), a number or array.

    Returns:
      ``float`` or ``numpy.ndarray`` in nats.

    Raises:
      ValueError: if ``|rho| >= 1``.

    Examples:
      >>> round(gaussian_mutual_information(0.5), 6)
      0.143841
    """
    rho = _validate.as_float_array(rho, "rho")
    if np.any(np.abs(rho) >= 1):
        raise ValueError(f"`rho` must lie strictly between -1 and 1; got {rho}")
    value = -0.5 * np.log1p(-(rho**2))
    return float(value) if value.ndim == 0 else value


def nwj_bound(critic_joint, critic_product):
    r"""The NWJ lower bound on KL(P‖Q) from critic values on samples of P and of Q.

    .. math:: \mathrm{KL}(P \,\|\, Q) \ge \mathbb E_P[T] - \mathbb E_Q[e^{T - 1}]

    the f-GAN bound of chapter 3 with f(u) = u log u, whose conjugate is
    f*(t) = e^{t − 1}; equality at T = 1 + log(dP/dQ). With P = p(x, y) and
    Q = p(x)p(y) it bounds the mutual information (Nguyen, Wainwright and Jordan, 2010).
    Chapter 8.

    Args:
      critic_joint: critic values T(x, y) on samples of P, array-like.
      critic_product: critic values on samples of Q, array-like.

    Returns:
      ``float``: the Monte Carlo estimate of the bound.

    Raises:
      TypeError, ValueError: if either input is not a finite numeric array.

    Examples:
      >>> nwj_bound([1.0, 1.0], [1.0, 1.0])  # T = 1 where P = Q: bound 0
      0.0
    """
    joint = _validate.as_float_array(critic_joint, "critic_joint")
    product = _validate.as_float_array(critic_product, "critic_product")
    return float(joint.mean() - np.exp(product - 1).mean())


def _quadratic_features(x, y):
    return np.stack([np.ones_like(x), x * y, x**2 + y**2], axis=-1)


def fit_nwj_critic(joint_samples, product_samples, *, features="quadratic"):
    r"""The critic maximising the NWJ bound over a linear family T(x, y) = wᵀφ(x, y).

    .. math:: \hat w = \arg\max_w \; \tfrac1n \sum_i w^\top \phi(x_i, y_i)
              - \tfrac1m \sum_j e^{w^\top \phi(x'_j, y'_j) - 1}

    a concave problem, solved with SciPy's BFGS. ``"quadratic"`` features
    φ = (1, xy, x² + y²) contain the optimal critic of a standard bivariate Normal;
    ``"product"`` features φ = (1, xy) do not, and give a looser bound. Chapter 8.

    Args:
      joint_samples: array ``[n, 2]`` of draws (x, y) from the joint.
      product_samples: array ``[m, 2]`` of draws from the product of marginals.
      features: ``"quadratic"`` or ``"product"``.

    Returns:
      ``(bound, weights)``: the NWJ bound at the fitted critic (``float``) and ``w``.

    Raises:
      ValueError: if the samples are not ``[n, 2]`` arrays or ``features`` is unknown.

    Examples:
      >>> rng = np.random.default_rng(0)
      >>> joint = rng.standard_normal((2000, 2))  # independent: I = 0
      >>> bound, _ = fit_nwj_critic(joint, rng.standard_normal((2000, 2)))
      >>> abs(bound) < 0.01
      True
    """
    _validate.one_of(features, "features", ("quadratic", "product"))
    joint = _validate.as_float_array(joint_samples, "joint_samples")
    product = _validate.as_float_array(product_samples, "product_samples")
    for name, array in (("joint_samples", joint), ("product_samples", product)):
        if array.ndim != 2 or array.shape[1] != 2:
            raise ValueError(f"`{name}` must have shape [n, 2]; got {array.shape}")
    phi_joint = _quadratic_features(joint[:, 0], joint[:, 1])
    phi_product = _quadratic_features(product[:, 0], product[:, 1])
    if features == "product":
        phi_joint, phi_product = phi_joint[:, :2], phi_product[:, :2]
    mean_joint = phi_joint.mean(axis=0)

    def negative_bound(w):
        exp_terms = np.exp(phi_product @ w - 1)
        value = mean_joint @ w - exp_terms.mean()
        gradient = mean_joint - (exp_terms[:, None] * phi_product).mean(axis=0)
        return -value, -gradient

    start = np.zeros(phi_joint.shape[1])
    start[0] = 1.0
    result = scipy.optimize.minimize(negative_bound, start, jac=True, method="BFGS")
    return float(-result.fun), result.x


def neyman_pearson_type2_normal(n, mu_p, mu_q, sigma, type1, *, log=False):
    r"""Type-II error of the most powerful test of p = N(μ_p, σ²) against q = N(μ_q, σ²).

    With n observations and type-I error ``type1`` (rejecting p when p is true), the
    Neyman–Pearson test thresholds the sample mean, and its type-II error (accepting p
    when q is true) is

    .. math:: \beta_n = \Phi\!\left(z_{1-\alpha} - \sqrt n\, \frac{|\mu_p - \mu_q|}{\sigma}\right),

    which decays like exp(−n·KL(p‖q)) to first order in the exponent (Stein's lemma),
    KL(p‖q) = (μ_p − μ_q)²/(2σ²). Chapter 8.

    Args:
      n: number of observations, a positive int or int array.
      mu_p, mu_q: the two means (different).
      sigma: the common standard deviation, positive.
      type1: the type-I error α in (0, 1).
      log: return log β_n instead (β_n underflows for large n; its logarithm does not).

    Returns:
      ``float`` or ``numpy.ndarray``: β_n, or log β_n.

    Raises:
      ValueError: if ``n`` is not positive, ``sigma`` is not positive, ``type1`` is not
        in (0, 1), or the means are equal.

    Examples:
      >>> round(neyman_pearson_type2_normal(1, 0.0, 1.0, 1.0, 0.5), 6)  # Φ(−1)
      0.158655
    """
    n = np.asarray(n)
    if not np.issubdtype(n.dtype, np.integer) or np.any(n < 1):
        raise ValueError(f"`n` must be a positive int or int array; got {n}")
    sigma = _validate.positive_float(sigma, "sigma")
    if not 0 < type1 < 1:
        raise ValueError(f"`type1` must lie in (0, 1); got {type1}")
    if mu_p == mu_q:
        raise ValueError("`mu_p` and `mu_q` must differ: equal Normals cannot be told apart")
    shift = np.sqrt(n) * abs(mu_p - mu_q) / sigma
    cdf = scipy.stats.norm.logcdf if log else scipy.stats.norm.cdf
    value = cdf(scipy.stats.norm.ppf(1 - type1) - shift)
    return float(value) if np.ndim(value) == 0 else value


def _conditional_row(distances, perplexity, tol=1e-10, max_iter=200):
    """p_{j|i} ∝ exp(−β d_ij) with β set so that 2^{H} equals the perplexity."""
    target = math.log(perplexity)
    low, high, beta = 0.0, math.inf, 1.0
    for _ in range(max_iter):
        logits = -beta * distances
        logits -= logits.max()
        probs = np.exp(logits)
        probs /= probs.sum()
        entropy = -np.sum(scipy.special.xlogy(probs, probs))
        if abs(entropy - target) < tol:
            break
        if entropy > target:
            low = beta
            beta = beta * 2 if math.isinf(high) else (beta + high) / 2
        else:
            high = beta
            beta = (beta + low) / 2
    return probs


def tsne_affinities(data, perplexity=30.0):
    r"""t-SNE's symmetric input affinities P (van der Maaten and Hinton, 2008).

    .. math:: p_{j|i} = \frac{e^{-\beta_i \|x_i - x_j\|^2}}
                             {\sum_{k \ne i} e^{-\beta_i \|x_i - x_k\|^2}},
              \qquad p_{ij} = \frac{p_{j|i} + p_{i|j}}{2n},

    with each β_i found by bisection so that the perplexity exp(H(p_{·|i})) equals
    ``perplexity``. This is the exact P that scikit-learn's ``TSNE(method="exact")``
    uses. Chapter 8.

    Args:
      data: array ``[n, d]`` of points.
      perplexity: effective number of neighbours, in (1, n − 1).

    Returns:
      ``numpy.ndarray`` ``[n, n]``, symmetric, zero diagonal, summing to 1.

    Raises:
      ValueError: if ``data`` is not 2-D or ``perplexity`` is out of range.

    Examples:
      >>> P = tsne_affinities(np.arange(8.0).reshape(4, 2), perplexity=2.0)
      >>> round(float(P.sum()), 12), bool(np.allclose(P, P.T))
      (1.0, True)
    """
    data = _validate.as_float_array(data, "data")
    if data.ndim != 2:
        raise ValueError(f"`data` must have shape [n, d]; got {data.shape}")
    n = data.shape[0]
    perplexity = _validate.positive_float(perplexity, "perplexity")
    if not 1 < perplexity < n - 1:
        raise ValueError(f"`perplexity` must lie in (1, {n - 1}); got {perplexity}")
    distances = squareform(pdist(data, "sqeuclidean"))
    conditional = np.zeros((n, n))
    for i in range(n):
        others = np.arange(n) != i
        conditional[i, others] = _conditional_row(distances[i, others], perplexity)
    return (conditional + conditional.T) / (2 * n)


def tsne_similarities(embedding):
    r"""t-SNE's output similarities Q of an embedding (Student-t with one degree of freedom).

    .. math:: q_{ij} = \frac{(1 + \|y_i - y_j\|^2)^{-1}}{\sum_{k \ne l} (1 + \|y_k - y_l\|^2)^{-1}}

    Chapter 8.

    Args:
      embedding: array ``[n, k]`` of embedded points.

    Returns:
      ``numpy.ndarray`` ``[n, n]``, symmetric, zero diagonal, summing to 1.

    Raises:
      ValueError: if ``embedding`` is not 2-D.

    Examples:
      >>> tsne_similarities(np.array([[0.0], [1.0]]))
      array([[0. , 0.5],
             [0.5, 0. ]])
    """
    embedding = _validate.as_float_array(embedding, "embedding")
    if embedding.ndim != 2:
        raise ValueError(f"`embedding` must have shape [n, k]; got {embedding.shape}")
    kernel = 1.0 / (1.0 + squareform(pdist(embedding, "sqeuclidean")))
    np.fill_diagonal(kernel, 0.0)
    return kernel / kernel.sum()


def tsne_kl(affinities, embedding):
    r"""t-SNE's objective KL(P‖Q) for input affinities P and an embedding.

    .. math:: \mathrm{KL}(P \,\|\, Q) = \sum_{i \ne j} p_{ij} \log \frac{p_{ij}}{q_{ij}}

    Chapter 8: a pair of neighbours (large p_ij) drawn far apart (small q_ij) costs a
    lot; a pair of distant points (small p_ij) drawn close costs little.

    Args:
      affinities: P from `tsne_affinities`, ``[n, n]``.
      embedding: array ``[n, k]``.

    Returns:
      ``float`` in nats.

    Raises:
      ValueError: if the shapes disagree.

    Examples:
      >>> P = tsne_affinities(np.arange(8.0).reshape(4, 2), perplexity=2.0)
      >>> tsne_kl(P, np.arange(8.0).reshape(4, 2)) >= 0
      True
    """
    affinities = _validate.as_float_array(affinities, "affinities")
    similarities = tsne_similarities(embedding)
    if affinities.shape != similarities.shape:
        raise ValueError(
            f"`affinities` {affinities.shape} and `embedding` with "
            f"{similarities.shape[0]} points disagree"
        )
    off = ~np.eye(affinities.shape[0], dtype=bool)
    return float(kl_discrete(affinities[off], similarities[off]))
