r"""Two ways to differentiate an expectation through sampling (chapter 4).

For :math:`L(\theta) = \mathbb{E}_{x\sim q_\theta}[\ell_\theta(x)]` with
:math:`\ell_\theta = \log q_\theta - \log p`, i.e. :math:`L = \mathrm{KL}(q_\theta\|p)`:

* **score function** (REINFORCE): :math:`\nabla L = \mathbb{E}_q[\ell(x)\,\nabla\log q_\theta(x)]`
  (the other term, :math:`\mathbb{E}_q[\nabla\log q_\theta] = 0`, is left out). It needs
  only :math:`\log q_\theta` to be differentiable in θ, not the sampler.
* **reparameterisation**: write :math:`x = \mu + \sigma\varepsilon`,
  :math:`\varepsilon\sim\mathcal N(0,1)`, so
  :math:`\nabla L = \mathbb{E}_\varepsilon[\nabla_\theta\, \ell_\theta(\mu + \sigma\varepsilon)]`.
  It needs a differentiable sampler and usually has far lower variance.

Both return one gradient per draw, so their means and variances can be compared.
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from klcourse import _validate

__all__ = ["kl_gradient_samples", "ESTIMATORS"]

tfd = tfp.distributions
ESTIMATORS = ("score_function", "reparameterization")


def kl_gradient_samples(loc, scale, p, *, num_samples, seed, estimator="reparameterization"):
    r"""Per-draw estimates of the gradient of KL(q‖p) for q = N(loc, scale²).

    The gradient is taken with respect to θ = (loc, log scale), the unconstrained
    parameters a fit would use.

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
    """
    loc = float(_validate.as_float_array(loc, "loc"))
    scale = float(_validate.positive(scale, "scale"))
    _validate.has_log_prob(p, "p")
    num_samples = _validate.positive_int(num_samples, "num_samples")
    _validate.one_of(estimator, "estimator", ESTIMATORS)
    dtype = p.dtype
    # One copy of the parameters per draw: the gradient of the summed loss with
    # respect to these vectors is the vector of per-draw gradients.
    locs = tf.fill([num_samples], tf.constant(loc, dtype))
    log_scales = tf.fill([num_samples], tf.constant(np.log(scale), dtype))
    noise = tf.random.stateless_normal([num_samples], _validate.stateless_seed(seed), dtype=dtype)
    with tf.GradientTape() as tape:
        tape.watch([locs, log_scales])
        q = tfd.Normal(locs, tf.exp(log_scales))
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
