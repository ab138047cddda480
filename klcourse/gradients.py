r"""Gradients of KL through sampling, and the pitfall of differentiating an estimate (chapter 4).

**Fitting a continuous q.** For :math:`L(\theta) = \mathbb{E}_{x\sim q_\theta}[\ell_\theta(x)]`
with :math:`\ell_\theta = \log q_\theta - \log p`, i.e. :math:`L = \mathrm{KL}(q_\theta\|p)`:

* **score function** (REINFORCE): :math:`\nabla L = \mathbb{E}_q[\ell(x)\,\nabla\log q_\theta(x)]`
  (the other term, :math:`\mathbb{E}_q[\nabla\log q_\theta] = 0`, is left out). It needs
  only :math:`\log q_\theta` to be differentiable in θ, not the sampler.
* **reparameterisation**: write :math:`x = \mu + \sigma\varepsilon`,
  :math:`\varepsilon\sim\mathcal N(0,1)`, so
  :math:`\nabla L = \mathbb{E}_\varepsilon[\nabla_\theta\, \ell_\theta(\mu + \sigma\varepsilon)]`.
  It needs a differentiable sampler and often has far lower variance.

`kl_gradient_samples` returns one gradient per draw, `kl_gradient_moments` the exact
mean and spread of those per-draw gradients (by quadrature), and
`kl_gradient_quadrature` the exact gradient itself (central differences of the
quadrature KL), so estimators can be checked without sampling noise.

**A KL penalty on a categorical policy** (the setting of KL-regularised policy
optimisation): actions :math:`a \sim \pi_\theta = \mathrm{softmax}(\theta)`, a fixed
reference :math:`\pi_{\text{ref}}`, :math:`r(a) = \pi_{\text{ref}}(a)/\pi_\theta(a)`, and
the per-draw value estimators :math:`k_1 = -\log r`, :math:`k_2 = \tfrac12(\log r)^2`,
:math:`k_3 = (r - 1) - \log r` of :math:`\mathrm{KL}(\pi_\theta\|\pi_{\text{ref}})`.
Differentiating a value estimate with the drawn actions held fixed is **not** an
estimate of the gradient of the KL:

.. math::

   \mathbb E_{\pi_\theta}[\nabla k_1] = 0, \qquad
   \mathbb E_{\pi_\theta}[\nabla k_3] = \nabla_\theta \mathrm{KL}(\pi_{\text{ref}}\|\pi_\theta)
   \ \text{(the forward KL)}, \qquad
   \mathbb E_{\pi_\theta}[\nabla k_2] = \nabla_\theta \mathrm{KL}(\pi_\theta\|\pi_{\text{ref}}).

`kl_penalty_gradients`, `expected_kl_penalty_gradient` and `categorical_kl_gradients`
compute these per draw, in exact expectation and in closed form.
"""

from typing import NamedTuple

import numpy as np
import scipy.special
import tensorflow as tf
import tensorflow_probability as tfp

from klcourse import _validate, policy
from klcourse.divergence import KL_ESTIMATORS, _slopes_from_log_ratio, _terms_from_log_ratio

__all__ = [
    "GRADIENT_ESTIMATORS",
    "KL_PENALTY_ESTIMATORS",
    "kl_gradient_samples",
    "kl_gradient_moments",
    "kl_gradient_quadrature",
    "CategoricalKLGradients",
    "categorical_kl_gradients",
    "kl_penalty_gradients",
    "expected_kl_penalty_gradient",
    "kl_regularised_policy",
    "kl_regularised_optimum",
]

tfd = tfp.distributions
GRADIENT_ESTIMATORS = ("score_function", "reparameterization")
KL_PENALTY_ESTIMATORS = ("k1", "k2", "k3", "k1_score", "k3_score")


def _check_normal(loc, scale, p):
    loc = float(_validate.as_float_array(loc, "loc"))
    scale = float(_validate.positive(scale, "scale"))
    _validate.has_log_prob(p, "p")
    return loc, scale


def kl_gradient_samples(loc, scale, p, *, num_samples, seed, estimator="reparameterization"):
    r"""Per-draw estimates of the gradient of KL(q‖p) for q = N(loc, scale²).

    The gradient is taken with respect to θ = (loc, log scale), the unconstrained
    parameters a fit would use:

    .. math::

       g_{\text{score}}(x) = \ell_\theta(x)\,\nabla_\theta \log q_\theta(x), \qquad
       g_{\text{reparam}}(\varepsilon) = \nabla_\theta\,\ell_\theta(\mu + \sigma\varepsilon),

    with :math:`\ell_\theta = \log q_\theta - \log p`. Both have mean
    :math:`\nabla_\theta \mathrm{KL}(q_\theta\|p)`. Chapter 4 compares their variances.

    Args:
      loc, scale: floats, the parameters of q (``scale > 0``).
      p: the target, a scalar-event distribution with ``log_prob``.
      num_samples: positive ``int``.
      seed: non-negative ``int``.
      estimator: ``"score_function"`` or ``"reparameterization"``.

    Returns:
      ``numpy.ndarray`` ``[num_samples, 2]``: one gradient (d/d loc, d/d log scale) per
      draw; their mean estimates the gradient, their variance is the estimator's
      per-draw variance.

    Raises:
      TypeError, ValueError: for non-numeric parameters, ``scale <= 0``, bad counts or
        an unknown ``estimator``.

    Examples:
      >>> p = tfd.Normal(np.float64(0.0), np.float64(1.0))
      >>> g = kl_gradient_samples(0.0, 1.0, p, num_samples=5, seed=0,
      ...                         estimator="score_function")
      >>> g.shape, float(abs(g).max())  # q = p: log q - log p is 0 at every draw
      ((5, 2), 0.0)
    """
    loc, scale = _check_normal(loc, scale, p)
    num_samples = _validate.positive_int(num_samples, "num_samples")
    _validate.one_of(estimator, "estimator", GRADIENT_ESTIMATORS)
    dtype = p.dtype
    # One copy of the parameters per draw: the gradient of the summed loss with
    # respect to these vectors is the vector of per-draw gradients.
    locs = tf.fill([num_samples], tf.constant(loc, dtype))
    log_scales = tf.fill([num_samples], tf.constant(np.log(scale), dtype))
    noise = tf.random.stateless_normal([num_samples], _validate.stateless_seed(seed), dtype=dtype)
    with tf.GradientTape() as tape:
        tape.watch([locs, log_scales])
        q = tfd.Normal(locs, tf.exp(log_scales), validate_args=True)
        if estimator == "reparameterization":
            x = locs + tf.exp(log_scales) * noise
            surrogate = q.log_prob(x) - p.log_prob(x)
        else:
            x = tf.stop_gradient(loc + scale * noise)
            log_ratio = tf.stop_gradient(q.log_prob(x) - p.log_prob(x))
            surrogate = log_ratio * q.log_prob(x)
        total = tf.reduce_sum(surrogate)
    d_loc, d_log_scale = tape.gradient(total, [locs, log_scales])
    return np.stack([np.asarray(d_loc, np.float64), np.asarray(d_log_scale, np.float64)], axis=-1)


def _per_draw_gradient(x, loc, scale, p, estimator):
    """The per-draw gradient of `kl_gradient_samples` as a function of the draw x."""
    x_tensor = tf.constant(np.asarray(x, np.float64))
    with tf.GradientTape() as tape:
        tape.watch(x_tensor)
        log_p = p.log_prob(x_tensor)
    dlog_p = np.asarray(tape.gradient(log_p, x_tensor), np.float64)
    log_p = np.asarray(log_p, np.float64)
    eps = (np.asarray(x, np.float64) - loc) / scale
    if estimator == "reparameterization":
        # log q(mu + sigma*eps) = -log sigma - eps^2/2 - log(2 pi)/2 does not depend on mu.
        return -dlog_p, -1.0 - dlog_p * scale * eps
    log_q = -np.log(scale) - 0.5 * eps**2 - 0.5 * np.log(2 * np.pi)
    ell = log_q - log_p
    return ell * eps / scale, ell * (eps**2 - 1.0)


def kl_gradient_moments(loc, scale, p, *, estimator="reparameterization"):
    r"""Exact mean and per-draw standard deviation of a `kl_gradient_samples` estimator.

    Each per-draw gradient is a function of the draw :math:`x \sim q = \mathcal N(\mu, \sigma^2)`:
    with :math:`\varepsilon = (x - \mu)/\sigma` and :math:`\ell = \log q - \log p`,

    .. math::

       g_{\text{reparam}} = \big(-(\log p)'(x),\ -1 - \sigma\varepsilon\,(\log p)'(x)\big),
       \qquad
       g_{\text{score}} = \ell(x)\,\big(\varepsilon/\sigma,\ \varepsilon^2 - 1\big),

    so its mean and variance are one-dimensional integrals against q, computed by
    `klcourse.divergence.expectation_quadrature`: no sampling noise. The estimator's
    variance ratio is then exact (chapter 4).

    Args:
      loc, scale: floats, the parameters of q (``scale > 0``).
      p: the target, a float64 scalar-event distribution with ``log_prob``.
      estimator: ``"score_function"`` or ``"reparameterization"``.

    Returns:
      ``(mean, sd)``: two ``numpy.ndarray`` of shape ``[2]``, over (loc, log scale).

    Raises:
      TypeError, ValueError: for non-numeric parameters, ``scale <= 0`` or an unknown
        ``estimator``; ValueError if an integral does not converge.

    Examples:
      >>> p = tfd.Normal(np.float64(1.0), np.float64(2.0))
      >>> mean, sd = kl_gradient_moments(0.0, 2.0, p)
      >>> mean.round(6) + 0.0, sd.round(6)  # per draw (x - 1)/4 and eps**2 - eps/2 - 1
      (array([-0.25,  0.  ]), array([0.5, 1.5]))
    """
    from klcourse.divergence import expectation_quadrature

    loc, scale = _check_normal(loc, scale, p)
    _validate.one_of(estimator, "estimator", GRADIENT_ESTIMATORS)
    q = tfd.Normal(np.float64(loc), np.float64(scale), validate_args=True)
    means, sds = np.zeros(2), np.zeros(2)
    for i in range(2):

        def component(x, i=i):
            return _per_draw_gradient(x, loc, scale, p, estimator)[i]

        mean = expectation_quadrature(q, component).value
        second = expectation_quadrature(q, lambda x: component(x) ** 2).value
        means[i], sds[i] = mean, np.sqrt(max(second - mean**2, 0.0))
    return means, sds


def kl_gradient_quadrature(loc, scale, p, *, step=1e-5):
    r"""Exact gradient of KL(q‖p), q = N(loc, scale²), by central differences of quadrature.

    .. math::

       \frac{\partial\,\mathrm{KL}}{\partial\theta_i} \approx
       \frac{\mathrm{KL}(\theta + h e_i) - \mathrm{KL}(\theta - h e_i)}{2h},
       \qquad \theta = (\mu, \log\sigma),

    with each KL from `klcourse.divergence.kl_quadrature` (accurate to about 1e-12), so
    the result is accurate to about :math:`h^2 + 10^{-12}/h`: 1e-7 for the default
    ``step``. Chapter 4 uses it as the reference for both gradient estimators on a
    target with no closed-form KL.

    Args:
      loc, scale: floats, the parameters of q (``scale > 0``).
      p: the target, a float64 scalar-event distribution with ``log_prob``.
      step: h, a positive float.

    Returns:
      ``numpy.ndarray`` ``[2]``: (d/d loc, d/d log scale).

    Raises:
      TypeError, ValueError: for non-numeric parameters, ``scale <= 0`` or ``step <= 0``.

    Examples:
      >>> p = tfd.Normal(np.float64(1.0), np.float64(2.0))
      >>> kl_gradient_quadrature(0.0, 2.0, p).round(6)   # closed form: (-1/4, 0)
      array([-0.25,  0.  ])
    """
    from klcourse.divergence import kl_quadrature

    loc, scale = _check_normal(loc, scale, p)
    step = _validate.positive_float(step, "step")

    def kl_at(theta):
        q = tfd.Normal(np.float64(theta[0]), np.float64(np.exp(theta[1])), validate_args=True)
        return kl_quadrature(q, p).value

    theta = np.array([loc, np.log(scale)])
    return np.array(
        [(kl_at(theta + step * e) - kl_at(theta - step * e)) / (2 * step) for e in np.eye(2)]
    )


# ------------------------------------------------------------------ categorical policies
class CategoricalKLGradients(NamedTuple):
    """Exact gradients of both KL directions with respect to the logits θ of π_θ."""

    reverse: np.ndarray
    forward: np.ndarray


def _check_logits(logits, ref_logits, names=("logits", "ref_logits")):
    logits = _validate.as_float_array(logits, names[0])
    ref_logits = _validate.as_float_array(ref_logits, names[1])
    if logits.ndim != 1 or logits.size < 2:
        raise ValueError(
            f"`{names[0]}` must be a vector of at least 2 entries; got shape {logits.shape}"
        )
    if ref_logits.shape != logits.shape:
        raise ValueError(
            f"`{names[1]}` must have the shape of `{names[0]}`, {logits.shape}; "
            f"got {ref_logits.shape}"
        )
    return logits, ref_logits


def categorical_kl_gradients(logits, ref_logits):
    r"""Exact gradients of KL(π_θ‖π_ref) and KL(π_ref‖π_θ) with respect to the logits θ.

    With :math:`\pi_\theta = \mathrm{softmax}(\theta)`, by automatic differentiation of the
    closed forms; they equal

    .. math::

       \nabla_\theta \mathrm{KL}(\pi_\theta\|\pi_{\text{ref}})
         = \pi_\theta \odot \big(\log\tfrac{\pi_\theta}{\pi_{\text{ref}}}
           - \mathrm{KL}(\pi_\theta\|\pi_{\text{ref}})\big),
       \qquad
       \nabla_\theta \mathrm{KL}(\pi_{\text{ref}}\|\pi_\theta) = \pi_\theta - \pi_{\text{ref}}.

    Chapter 4 sets the penalty estimators of `kl_penalty_gradients` against them.

    Args:
      logits: θ, a vector ``[K]`` of real numbers (K ≥ 2).
      ref_logits: the reference policy's logits, shape ``[K]``.

    Returns:
      `CategoricalKLGradients` ``(reverse, forward)``, two ``numpy.ndarray`` ``[K]``.

    Raises:
      TypeError: if an argument is not numeric.
      ValueError: for non-finite values or mismatched shapes.

    Examples:
      >>> g = categorical_kl_gradients([0.0, 0.0], [np.log(3.0), 0.0])
      >>> g.forward.round(6)   # pi - pi_ref = (1/2 - 3/4, 1/2 - 1/4)
      array([-0.25,  0.25])
    """
    logits, ref_logits = _check_logits(logits, ref_logits)
    theta = tf.constant(logits)
    log_ref = tf.nn.log_softmax(tf.constant(ref_logits))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(theta)
        log_pi = tf.nn.log_softmax(theta)
        reverse = tf.reduce_sum(tf.exp(log_pi) * (log_pi - log_ref))
        forward = tf.reduce_sum(tf.exp(log_ref) * (log_ref - log_pi))
    return CategoricalKLGradients(
        np.asarray(tape.gradient(reverse, theta), np.float64),
        np.asarray(tape.gradient(forward, theta), np.float64),
    )


def kl_penalty_gradients(logits, ref_logits, actions, *, estimator):
    r"""Per-draw gradients, with respect to the logits, of a sampled KL penalty.

    For drawn actions :math:`a_n` (held fixed, as an automatic-differentiation loss
    ``penalty(a).mean()`` holds them), :math:`\log r = \log\pi_{\text{ref}}(a) -
    \log\pi_\theta(a)` and :math:`s = \nabla_\theta \log\pi_\theta(a)`, the per-draw
    gradient of

    * ``"k1"``: :math:`k_1 = -\log r`, giving :math:`s` (mean 0: no gradient at all);
    * ``"k2"``: :math:`k_2 = \tfrac12(\log r)^2`, giving :math:`k_1 s` (mean: the gradient
      of the reverse KL(π_θ‖π_ref), the one a penalty on π_θ wants);
    * ``"k3"``: :math:`k_3 = (r-1) - \log r`, giving :math:`(1 - r)\,s` (mean: the gradient
      of the *forward* KL(π_ref‖π_θ));
    * ``"k1_score"``: the score-function (REINFORCE) surrogate
      :math:`\bar k_1 \log\pi_\theta(a)` with :math:`\bar k_1` a constant, giving
      :math:`k_1 s`, the same as k2;
    * ``"k3_score"``: :math:`\bar k_3\log\pi_\theta(a) + k_3`, the score-function term of k3
      plus its own dependence on θ, giving :math:`(k_3 + 1 - r)\,s`, whose mean is the
      reverse-KL gradient.

    Args:
      logits: θ of :math:`\pi_\theta = \mathrm{softmax}(\theta)`, a vector ``[K]``.
      ref_logits: logits of the reference policy, ``[K]``.
      actions: drawn actions, integers in ``[0, K)``, shape ``[N]``.
      estimator: one of `KL_PENALTY_ESTIMATORS`.

    Returns:
      ``numpy.ndarray`` ``[N, K]``: the gradient of each draw's term.

    Raises:
      TypeError, ValueError: for non-numeric or non-finite logits, mismatched shapes,
        actions that are not integers in range, or an unknown ``estimator``.

    Examples:
      >>> g = kl_penalty_gradients([0.0, 0.0], [0.0, 0.0], [0, 1], estimator="k3")
      >>> g.round(6) + 0.0   # pi = pi_ref: r = 1 and the k3 gradient vanishes
      array([[0., 0.],
             [0., 0.]])
    """
    logits, ref_logits = _check_logits(logits, ref_logits)
    _validate.one_of(estimator, "estimator", KL_PENALTY_ESTIMATORS)
    actions = np.asarray(actions)
    if actions.ndim != 1 or not np.issubdtype(actions.dtype, np.integer):
        raise TypeError(
            f"`actions` must be a vector of integers; got {actions.dtype} {actions.shape}"
        )
    if np.any(actions < 0) or np.any(actions >= logits.size):
        raise ValueError(
            f"`actions` must lie in [0, {logits.size}); got {actions.min()}..{actions.max()}"
        )
    theta = tf.constant(np.tile(logits, (actions.size, 1)))  # one copy per draw
    log_ref = tf.gather(tf.nn.log_softmax(tf.constant(ref_logits)), actions)
    with tf.GradientTape() as tape:
        tape.watch(theta)
        log_pi = tf.gather(tf.nn.log_softmax(theta), actions[:, None], batch_dims=1)[:, 0]
        log_r = log_ref - log_pi
        k = {name: _terms_from_log_ratio(log_r, name) for name in KL_ESTIMATORS}
        terms = {
            **k,
            "k1_score": tf.stop_gradient(k["k1"]) * log_pi,
            "k3_score": tf.stop_gradient(k["k3"]) * log_pi + k["k3"],
        }[estimator]
        total = tf.reduce_sum(terms)
    return np.asarray(tape.gradient(total, theta), np.float64)


def expected_kl_penalty_gradient(logits, ref_logits, *, estimator):
    r"""Exact expectation over :math:`a \sim \pi_\theta` of a `kl_penalty_gradients` estimator.

    .. math:: \mathbb E_{a\sim\pi_\theta}[g(a)] = \sum_{a=0}^{K-1} \pi_\theta(a)\, g(a),

    a finite sum, so no sampling is involved: the mean every Monte Carlo average of
    that estimator converges to. Compare with `categorical_kl_gradients` (chapter 4).

    Args:
      logits, ref_logits: as in `kl_penalty_gradients`.
      estimator: one of `KL_PENALTY_ESTIMATORS`.

    Returns:
      ``numpy.ndarray`` ``[K]``.

    Raises:
      TypeError, ValueError: as `kl_penalty_gradients`.

    Examples:
      >>> expected_kl_penalty_gradient([0.0, 1.0], [1.0, 0.0], estimator="k1").round(12) + 0.0
      array([0., 0.])
    """
    logits, ref_logits = _check_logits(logits, ref_logits)
    per_action = kl_penalty_gradients(
        logits, ref_logits, np.arange(logits.size), estimator=estimator
    )
    return scipy.special.softmax(logits) @ per_action


def _expected_penalty_gradient_closed_form(logits, log_ref, estimator):
    """E_pi[c(a) (e_a - pi)] = pi*c - pi (pi . c), with the per-action coefficient c(a).

    A term k(log r) held at its draw has gradient -k'(log r) s (the shared slopes of
    `divergence`); a score-function surrogate k̄ log pi has gradient k̄ s.
    """
    probs = scipy.special.softmax(logits)
    log_r = log_ref - np.log(probs)
    base = estimator.removesuffix("_score")
    coefficient = -_slopes_from_log_ratio(log_r, base)  # k1, k2, k3: the pathwise term
    if estimator == "k1_score":
        coefficient = _terms_from_log_ratio(log_r, "k1")  # the surrogate alone
    elif estimator == "k3_score":
        coefficient = _terms_from_log_ratio(log_r, "k3") + coefficient  # surrogate + k3
    return probs * coefficient - probs * (probs @ coefficient)


def kl_regularised_policy(
    ref_logits, rewards, beta, *, estimator, num_steps=3000, learning_rate=0.5
):
    r"""Maximise expected reward minus a KL penalty whose gradient comes from ``estimator``.

    Gradient ascent on the logits θ of :math:`\pi_\theta = \mathrm{softmax}(\theta)`, started
    at the reference, for the objective

    .. math::

       J(\theta) = \mathbb E_{a\sim\pi_\theta}[R(a)]
                   - \beta\,\mathrm{KL}(\pi_\theta\|\pi_{\text{ref}}),

    where the penalty's gradient is replaced by the *exact expectation* of the chosen
    `kl_penalty_gradients` estimator (so no sampling noise: any difference from the
    true optimum is bias). With ``"k2"``, ``"k1_score"`` or ``"k3_score"`` it converges to
    `kl_regularised_optimum`; with ``"k1"`` the penalty vanishes and the policy
    collapses onto the best action; with ``"k3"`` it solves the problem with the
    *forward* KL instead (chapter 4).

    Args:
      ref_logits: logits of π_ref, a vector ``[K]``.
      rewards: R(a), a vector ``[K]``.
      beta: the penalty weight, a positive float.
      estimator: one of `KL_PENALTY_ESTIMATORS`.
      num_steps: positive ``int``.
      learning_rate: positive float, the step size on the logits.

    Returns:
      ``numpy.ndarray`` ``[K]``: the probabilities of the final policy.

    Raises:
      TypeError, ValueError: for non-numeric or mismatched inputs, a non-positive
        ``beta``, count or learning rate, or an unknown ``estimator``.

    Examples:
      >>> ref, rewards = np.zeros(3), np.array([1.0, 0.0, 0.0])
      >>> kl_regularised_policy(ref, rewards, 1.0, estimator="k2").round(4)
      array([0.5761, 0.2119, 0.2119])
      >>> kl_regularised_optimum(ref, rewards, 1.0).round(4)
      array([0.5761, 0.2119, 0.2119])
    """
    ref_logits, rewards = _check_logits(ref_logits, rewards, ("ref_logits", "rewards"))
    beta = _validate.positive_float(beta, "beta")
    _validate.one_of(estimator, "estimator", KL_PENALTY_ESTIMATORS)
    num_steps = _validate.positive_int(num_steps, "num_steps")
    learning_rate = _validate.positive_float(learning_rate, "learning_rate")
    log_ref = np.log(scipy.special.softmax(ref_logits))
    logits = log_ref.copy()
    for _ in range(num_steps):
        probs = scipy.special.softmax(logits)
        reward_gradient = probs * (rewards - probs @ rewards)
        penalty = _expected_penalty_gradient_closed_form(logits, log_ref, estimator)
        logits = logits + learning_rate * (reward_gradient - beta * penalty)
    return scipy.special.softmax(logits)


def kl_regularised_optimum(ref_logits, rewards, beta):
    r"""The maximiser of :math:`\mathbb E_\pi[R] - \beta\,\mathrm{KL}(\pi\|\pi_{\text{ref}})`.

    .. math:: \pi^*(a) = \pi_{\text{ref}}(a)\, e^{R(a)/\beta} \big/ Z,

    a Gibbs (Boltzmann) reweighting of the reference policy.

    Args:
      ref_logits: logits of π_ref, a vector ``[K]``.
      rewards: R(a), a vector ``[K]``.
      beta: positive float.

    Returns:
      ``numpy.ndarray`` ``[K]``: π*.

    Raises:
      TypeError, ValueError: for non-numeric or mismatched inputs or ``beta <= 0``.

    Examples:
      >>> kl_regularised_optimum([0.0, 0.0], [np.log(3.0), 0.0], 1.0).round(6)
      array([0.75, 0.25])
    """
    ref_logits, rewards = _check_logits(ref_logits, rewards, ("ref_logits", "rewards"))
    # The bandit case of chapter 7's optimum: one definition of the Gibbs reweighting.
    return policy.optimal_policy(scipy.special.softmax(ref_logits), rewards, beta)
