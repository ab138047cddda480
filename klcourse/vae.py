r"""A small variational autoencoder on scikit-learn's 8×8 digits (chapter 6).

The model: a standard Normal prior :math:`p(z) = \mathcal N(0, I)`, an encoder
:math:`q_\phi(z\mid x) = \mathcal N(\mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x))` and a
decoder :math:`p_\theta(x\mid z) = \prod_i \mathrm{Bernoulli}(x_i; \operatorname{sigmoid}
\ell_\theta(z)_i)` over the 64 binarised pixels, each a one-hidden-layer network. Training
maximises the (β-weighted) ELBO

.. math::

   \mathcal L_\beta(x) = \underbrace{\mathbb E_{q_\phi(z\mid x)}[\log p_\theta(x\mid z)]}_{
   -\text{distortion}} - \beta\,\underbrace{\mathrm{KL}(q_\phi(z\mid x)\,\|\,p(z))}_{\text{rate}}

with the whole optimisation compiled into one TensorFlow graph (``tf.function`` around a
``tf.while_loop``, as `klcourse.fitting.fit` does). Every draw is stateless-seeded, so
equal arguments give equal results on one machine.

References: Kingma & Welling (2014); Rezende, Mohamed & Wierstra (2014); Higgins et al.
(2017); Burda, Grosse & Salakhutdinov (2016); Alemi et al. (2018).
"""

import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from klcourse import _validate

__all__ = [
    "Digits",
    "load_digits",
    "VAE",
    "gaussian_kl_per_dim",
    "ElboTerms",
    "elbo_terms",
    "TrainTrace",
    "train",
    "Evaluation",
    "evaluate",
    "iwae_bound",
    "LatentQuadrature",
    "latent_quadrature",
    "GradientVariance",
    "gradient_variance",
]

tfd = tfp.distributions

KL_METHODS = ("analytic", "sampled")


# ------------------------------------------------------------------ data
class Digits(NamedTuple):
    """Binarised 8×8 digits split into a training and a test set.

    Attributes:
      train, test: ``float32`` arrays of shape ``[n, 64]`` with entries 0 or 1.
      train_labels, test_labels: ``int`` arrays of the digit shown (0-9).
    """

    train: np.ndarray
    test: np.ndarray
    train_labels: np.ndarray
    test_labels: np.ndarray


def load_digits(num_test=297, threshold=8, seed=0):
    """scikit-learn's 1 797 handwritten digits (8×8, grey levels 0-16), binarised.

    A pixel is 1 when its grey level is at least ``threshold``: a Bernoulli likelihood
    is then a proper probability of the image, so ELBOs and log-likelihoods are
    log-probabilities (at most 0). The data ship with scikit-learn; nothing is
    downloaded.

    Args:
      num_test: ``int`` in ``[1, 1796]``, images held out for testing.
      threshold: grey level (1-16) from which a pixel counts as on.
      seed: non-negative ``int``; the split is a permutation drawn with it.

    Returns:
      `Digits`.

    Raises:
      ValueError: if ``num_test`` or ``threshold`` is out of range.

    Examples:
      >>> digits = load_digits()
      >>> digits.train.shape, digits.test.shape, sorted(set(digits.train.ravel().tolist()))
      ((1500, 64), (297, 64), [0.0, 1.0])
    """
    from sklearn.datasets import load_digits as sklearn_digits

    num_test = _validate.positive_int(num_test, "num_test")
    if num_test >= 1797:
        raise ValueError(f"`num_test` must leave training images (at most 1796); got {num_test}")
    if not 1 <= threshold <= 16:
        raise ValueError(f"`threshold` must be a grey level in [1, 16]; got {threshold}")
    images, labels = sklearn_digits(return_X_y=True)
    binary = (images >= threshold).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(binary))
    test, train = order[:num_test], order[num_test:]
    return Digits(binary[train], binary[test], labels[train], labels[test])


# ------------------------------------------------------------------ model
def _dense(shape, seed, copies):
    """Glorot-uniform weights from a stateless seed, and zero biases (``copies`` stacked)."""
    limit = math.sqrt(6.0 / (shape[0] + shape[1]))
    lead = [] if copies is None else [copies]
    weights = tf.random.stateless_uniform(lead + shape, seed=seed, minval=-limit, maxval=limit)
    return tf.Variable(weights), tf.Variable(tf.zeros(lead + [1] * bool(lead) + shape[1:]))


class VAE(tf.Module):
    r"""Gaussian encoder and Bernoulli decoder, each with one hidden ``tanh`` layer.

    ``encode(x)`` returns :math:`q(z\mid x) = \mathcal N(\mu(x), \operatorname{diag}
    \sigma^2(x))` as a ``tfd.MultivariateNormalDiag``; the network outputs
    :math:`\mu` and :math:`\log\sigma^2`, so every real output is a valid variance.
    ``decode(z)`` returns :math:`p(x\mid z)`, 64 independent Bernoullis given by logits.

    Args:
      latent_dim: positive ``int``, the dimension of :math:`z`.
      hidden: positive ``int``, units of each hidden layer.
      num_pixels: positive ``int``, the dimension of :math:`x`.
      seed: non-negative ``int`` for the initial weights.
      copies: ``None``, or a positive ``int`` :math:`M`: then every weight has a leading
        axis of length :math:`M` and the object holds :math:`M` independent models
        (differently initialised), trained side by side in one loop by `train` (each
        step of a small model costs mostly overhead, so :math:`M` models cost little
        more than one). Their outputs have a leading axis :math:`M`; `select` takes one out.

    Raises:
      ValueError: if a size is not a positive ``int``.

    Examples:
      >>> model = VAE(latent_dim=2)
      >>> model.encode(tf.zeros([3, 64])).event_shape, model.decode(tf.zeros([3, 2])).event_shape
      (TensorShape([2]), TensorShape([64]))
    """

    def __init__(self, latent_dim, hidden=64, num_pixels=64, seed=0, copies=None):
        super().__init__(name="vae")
        self.latent_dim = _validate.positive_int(latent_dim, "latent_dim")
        self.hidden = _validate.positive_int(hidden, "hidden")
        self.num_pixels = _validate.positive_int(num_pixels, "num_pixels")
        self.copies = None if copies is None else _validate.positive_int(copies, "copies")
        self.seed = seed
        seeds = tf.random.experimental.stateless_split(_validate.stateless_seed(seed), 4)
        self.encoder_hidden = _dense([num_pixels, hidden], seeds[0], self.copies)
        self.encoder_out = _dense([hidden, 2 * latent_dim], seeds[1], self.copies)
        self.decoder_hidden = _dense([latent_dim, hidden], seeds[2], self.copies)
        self.decoder_out = _dense([hidden, num_pixels], seeds[3], self.copies)

    def select(self, index):
        """Copy ``index`` of a model built with ``copies``, as a stand-alone `VAE`.

        Raises:
          ValueError: if the model has no copies or ``index`` is out of range.
        """
        if self.copies is None or not 0 <= index < self.copies:
            raise ValueError(
                f"`index` must be in [0, copies) of a model with copies; got {index} "
                f"for copies={self.copies}"
            )
        single = VAE(self.latent_dim, self.hidden, self.num_pixels)
        for mine, theirs in zip(single.trainable_variables, self.trainable_variables, strict=True):
            mine.assign(tf.reshape(theirs[index], mine.shape))
        return single

    @property
    def encoder_variables(self):
        """The encoder's weights and biases (the decoder's are the rest)."""
        return (*self.encoder_hidden, *self.encoder_out)

    def encoder_outputs(self, x):
        """``(mu, log_var)``, each of shape ``[..., latent_dim]``."""
        (w1, b1), (w2, b2) = self.encoder_hidden, self.encoder_out
        out = tf.tanh(x @ w1 + b1) @ w2 + b2
        return out[..., : self.latent_dim], out[..., self.latent_dim :]

    def encode(self, x):
        """:math:`q(z\\mid x)`, a ``tfd.MultivariateNormalDiag`` with batch shape of ``x``."""
        mu, log_var = self.encoder_outputs(tf.convert_to_tensor(x, tf.float32))
        # validated: `train` never calls `encode` (it works on `encoder_outputs`)
        return tfd.MultivariateNormalDiag(mu, tf.exp(0.5 * log_var), validate_args=True)

    def logits(self, z):
        """Decoder logits ``[..., num_pixels]`` of the latent points ``z``."""
        (w1, b1), (w2, b2) = self.decoder_hidden, self.decoder_out
        z = tf.convert_to_tensor(z, tf.float32)
        return tf.tanh(z @ w1 + b1) @ w2 + b2

    def decode(self, z):
        """:math:`p(x\\mid z)`: ``tfd.Independent`` Bernoullis over the pixels."""
        # No validate_args: `elbo_terms` decodes inside `train`'s compiled loop, where
        # Bernoulli's checks (finite logits; each x in {0, 1} at log_prob) would add
        # assertion ops to every step. Logits of any real value are a valid Bernoulli.
        return tfd.Independent(tfd.Bernoulli(logits=self.logits(z)), reinterpreted_batch_ndims=1)

    def prior(self):
        """:math:`p(z) = \\mathcal N(0, I)`."""
        return tfd.MultivariateNormalDiag(
            tf.zeros(self.latent_dim), tf.ones(self.latent_dim), validate_args=True
        )


# ------------------------------------------------------------------ the ELBO
def gaussian_kl_per_dim(mu, log_var):
    r"""KL(N(μ, σ²) ‖ N(0, 1)) for each coordinate: the VAE's rate, one term per dimension.

    .. math::

       \mathrm{KL}\big(\mathcal N(\mu, \operatorname{diag}\sigma^2)\,\|\,\mathcal N(0, I)\big)
       = \sum_j -\tfrac12\big(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\big)

    This function returns the summands. It is chapter 2's multivariate formula with
    :math:`\Sigma_1 = I`, :math:`\mu_1 = 0` and a diagonal :math:`\Sigma_0`.

    Args:
      mu: means, any shape (tensor or array).
      log_var: log-variances :math:`\log\sigma^2`, same shape.

    Returns:
      ``tf.Tensor`` of that shape (differentiable; sum over the last axis for the KL).

    Examples:
      >>> float(tf.reduce_sum(gaussian_kl_per_dim([1.0, 0.0], [0.0, 0.0])))
      0.5
    """
    mu = tf.convert_to_tensor(mu, tf.float32)
    log_var = tf.convert_to_tensor(log_var, tf.float32)
    return -0.5 * (1.0 + log_var - tf.square(mu) - tf.exp(log_var))


class ElboTerms(NamedTuple):
    """One-sample ELBO terms per example (``tf.Tensor``).

    Attributes:
      distortion: :math:`-\\log p(x\\mid z)` at one reparameterised draw, shape ``[batch]``.
      rate: KL(q(z|x) ‖ p(z)) per example, ``[batch]``: analytic, or the single-sample
        estimate :math:`\\log q(z\\mid x) - \\log p(z)` at the same draw.
      rate_per_dim: its summands, ``[batch, latent_dim]``.
    """

    distortion: tf.Tensor
    rate: tf.Tensor
    rate_per_dim: tf.Tensor


def elbo_terms(model, x, seed, kl="analytic"):
    r"""Distortion and rate of a batch at one reparameterised draw of :math:`z` (chapter 6).

    .. math::

       z = \mu(x) + \sigma(x)\odot\varepsilon,\quad \varepsilon\sim\mathcal N(0, I),
       \qquad D(x) = -\log p(x\mid z),

       R(x) = \sum_j -\tfrac12\big(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\big)
       \quad\text{or}\quad \log q(z\mid x) - \log p(z),

    one :math:`\varepsilon` per example (shared by a model's copies). The one-sample
    ELBO of each example is :math:`-(D + R)`; both choices of :math:`R` are unbiased for
    :math:`\mathrm{KL}(q(z\mid x)\,\|\,p(z))`, the closed form without noise.

    Args:
      model: a `VAE` (with or without copies).
      x: ``[batch, num_pixels]`` images (0/1).
      seed: stateless seed (``int`` or shape-``[2]`` tensor) for :math:`\varepsilon`.
      kl: ``"analytic"`` (closed form, `gaussian_kl_per_dim`) or ``"sampled"`` (the
        one-draw estimate at the same :math:`z`).

    Returns:
      `ElboTerms` of ``tf.Tensor`` in nats: ``distortion`` and ``rate`` of shape
      ``[batch]``, ``rate_per_dim`` of shape ``[batch, latent_dim]`` (a leading axis of
      length ``copies`` for a model with copies).

    Raises:
      ValueError: if ``kl`` is unknown.

    Examples:
      >>> model, x = VAE(latent_dim=2), load_digits().test[:4]
      >>> terms = elbo_terms(model, x, seed=0)
      >>> terms.distortion.shape, terms.rate_per_dim.shape
      (TensorShape([4]), TensorShape([4, 2]))
      >>> bool(tf.reduce_all(terms.rate >= 0))  # a KL in closed form: never negative
      True
      >>> sampled = elbo_terms(model, x, seed=0, kl="sampled")
      >>> bool(tf.reduce_all(sampled.distortion == terms.distortion))  # the same z
      True
    """
    _validate.one_of(kl, "kl", KL_METHODS)
    x = tf.convert_to_tensor(x, tf.float32)
    mu, log_var = model.encoder_outputs(x)
    sigma = tf.exp(0.5 * log_var)
    seed = _validate.stateless_seed(seed) if isinstance(seed, int) else seed
    # one ε per example, shared by a model's copies: [batch, latent_dim] broadcasts
    eps = tf.random.stateless_normal(tf.shape(mu)[-2:], seed=seed)
    z = mu + sigma * eps
    distortion = -model.decode(z).log_prob(x)
    if kl == "analytic":
        per_dim = gaussian_kl_per_dim(mu, log_var)
    else:  # log q(z|x) - log p(z), coordinate by coordinate (both factorise)
        # no validate_args: this runs in `train`'s compiled loop (kl="sampled"), and
        # sigma = exp(·) is positive by construction
        per_dim = tfd.Normal(mu, sigma).log_prob(z) - tfd.Normal(0.0, 1.0).log_prob(z)
    return ElboTerms(distortion, tf.reduce_sum(per_dim, -1), per_dim)


# ------------------------------------------------------------------ training
class TrainTrace(NamedTuple):
    """Per-step history of `train` (``numpy`` arrays of shape ``[num_steps]``).

    Attributes:
      loss: the minimised objective, distortion + β·(rate, or free-bits rate).
      rate: mean KL(q(z|x) ‖ p(z)) of the batch, in nats.
      distortion: mean :math:`-\\log p(x\\mid z)` of the batch, in nats.
      beta: the weight of the rate at each step (constant unless ``warmup_steps``).
    """

    loss: np.ndarray
    rate: np.ndarray
    distortion: np.ndarray
    beta: np.ndarray


def train(
    model,
    data,
    *,
    num_steps,
    beta=1.0,
    batch_size=100,
    learning_rate=3e-3,
    seed=0,
    free_bits=0.0,
    warmup_steps=0,
    kl="analytic",
    jit_compile=None,
):
    r"""Maximise the β-ELBO of ``data`` with Adam, in one compiled loop; updates ``model``.

    Each step draws a minibatch (with replacement) and one :math:`\varepsilon` per
    example from stateless seeds, and minimises

    .. math::

       \text{distortion} + \beta_t \sum_j \max\big(\lambda, \overline{\mathrm{KL}}_j\big),
       \qquad \beta_t = \beta \min(1, t / T_{\text{warm-up}}),

    where :math:`\overline{\mathrm{KL}}_j` is the batch mean of the rate in dimension
    :math:`j` and :math:`\lambda` = ``free_bits`` (Kingma et al., 2016). With the
    defaults (:math:`\lambda = 0`, no warm-up) it is the plain β-VAE objective.

    For a model with ``copies``, ``beta``, ``free_bits`` and ``warmup_steps`` may be
    sequences with one entry per copy. Every copy sees the same minibatches and the same
    :math:`\varepsilon`, and the copies' objectives are summed; they share no parameter,
    and Adam works parameter by parameter, so each copy is trained as it would be alone
    (up to floating-point rounding).

    Args:
      model: a `VAE` (its variables are trained in place).
      data: ``[n, num_pixels]`` array of 0/1 images.
      num_steps: positive ``int``.
      beta: non-negative ``float`` (or one per copy), the weight of the rate (1: ELBO).
      batch_size: positive ``int``.
      learning_rate: positive ``float``.
      seed: non-negative ``int``.
      free_bits: non-negative ``float`` :math:`\lambda` (or one per copy), nats per
        latent dimension.
      warmup_steps: non-negative ``int`` (or one per copy): β rises linearly from 0
        over these steps (KL annealing, Bowman et al. 2016); 0 for no warm-up.
      kl: ``"analytic"`` or ``"sampled"`` rate (see `elbo_terms`).
      jit_compile: passed to ``tf.function`` (XLA); ``None`` lets TensorFlow decide.

    Returns:
      `TrainTrace`; with copies, each array has shape ``[num_steps, copies]``.

    Raises:
      TypeError: if ``model`` is not a `VAE` or a count is not an ``int``.
      ValueError: if a number is out of range, a per-copy setting has the wrong length,
        or ``data`` has the wrong width.

    Examples:
      >>> model = VAE(latent_dim=2, hidden=16)
      >>> trace = train(model, load_digits().train, num_steps=20)
      >>> trace.loss.shape, bool(trace.loss[-1] < trace.loss[0])
      ((20,), True)
    """
    if not isinstance(model, VAE):
        raise TypeError(f"`model` must be a klcourse.vae.VAE; got {type(model).__name__}")
    num_steps = _validate.positive_int(num_steps, "num_steps")
    batch_size = _validate.positive_int(batch_size, "batch_size")
    learning_rate = _validate.positive_float(learning_rate, "learning_rate")
    beta = _per_copy(beta, "beta", model)
    free_bits = _per_copy(free_bits, "free_bits", model)
    warmup = _per_copy(warmup_steps, "warmup_steps", model, integer=True)
    _validate.one_of(kl, "kl", KL_METHODS)
    data = _images(data, model)
    base_seed = _validate.stateless_seed(seed)

    optimizer = tf_keras.optimizers.Adam(learning_rate=learning_rate)
    variables = model.trainable_variables
    optimizer.build(variables)
    size = data.shape[0]

    # The loop is an explicit tf.while_loop: AutoGraph has nothing to convert.
    @tf.function(autograph=False, jit_compile=jit_compile)
    def run(data, beta, free_bits, warmup):
        def step(i, *arrays):
            seeds = tf.random.experimental.stateless_split(
                tf.random.experimental.stateless_fold_in(base_seed, i), 2
            )
            index = tf.random.stateless_uniform(
                [batch_size], seeds[0], minval=0, maxval=size, dtype=tf.int32
            )
            batch = tf.gather(data, index)
            ramp = tf.minimum(1.0, tf.cast(i + 1, tf.float32) / tf.maximum(warmup, 1.0))
            beta_t = beta * tf.where(warmup > 0, ramp, 1.0)
            with tf.GradientTape() as tape:
                terms = elbo_terms(model, batch, seeds[1], kl)
                distortion = tf.reduce_mean(terms.distortion, -1)
                per_dim = tf.reduce_mean(terms.rate_per_dim, -2)
                clipped = tf.reduce_sum(tf.maximum(free_bits[..., None], per_dim), -1)
                loss = distortion + beta_t * clipped
                total = tf.reduce_sum(loss)  # copies are independent: sum their losses
            gradients = tape.gradient(total, variables)
            optimizer.apply_gradients(zip(gradients, variables, strict=True))
            values = (loss, tf.reduce_sum(per_dim, -1), distortion, beta_t)
            return (i + 1, *(a.write(i, v) for a, v in zip(arrays, values, strict=True)))

        arrays = [tf.TensorArray(tf.float32, size=num_steps) for _ in range(4)]
        _, *arrays = tf.while_loop(lambda i, *_: i < num_steps, step, (tf.constant(0), *arrays))
        return [a.stack() for a in arrays]

    out = run(tf.constant(data), beta, free_bits, warmup)
    return TrainTrace(*(np.asarray(a, dtype=np.float64) for a in out))


def _per_copy(value, name, model, integer=False):
    """A float32 tensor: a scalar, or one entry per copy of ``model``."""
    values = np.asarray(value)
    kind = np.integer if integer else np.number
    if values.dtype == bool or not np.issubdtype(values.dtype, kind):
        expected = "an int" if integer else "a number"
        raise TypeError(f"`{name}` must be {expected} (or one per copy); got {value!r}")
    if values.ndim > 1 or (values.ndim == 1 and values.shape[0] != (model.copies or -1)):
        raise ValueError(
            f"`{name}` must be a scalar or have one entry per copy ({model.copies}); "
            f"got shape {values.shape}"
        )
    if not (np.all(values >= 0) and np.all(np.isfinite(values))):
        raise ValueError(f"`{name}` must be finite and >= 0; got {value!r}")
    return tf.constant(values, tf.float32)


def _images(data, model):
    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 2 or data.shape[1] != model.num_pixels:
        raise ValueError(
            f"`data` must have shape [n, {model.num_pixels}] (one image a row); got {data.shape}"
        )
    return data


# ------------------------------------------------------------------ evaluation
class Evaluation(NamedTuple):
    """Averages over a data set (``float`` nats, per image).

    Attributes:
      elbo: mean ELBO, :math:`-(\\text{distortion} + \\text{rate})` (β = 1).
      rate: mean KL(q(z|x) ‖ p(z)) (analytic).
      distortion: mean :math:`-\\log p(x\\mid z)`, averaged over ``num_samples`` draws.
      rate_per_dim: ``numpy`` array ``[latent_dim]``, the mean rate of each dimension.
      active: ``numpy`` array ``[latent_dim]``, :math:`\\operatorname{Var}_x(\\mu_j(x))`,
        the activity of each dimension (Burda et al. 2016 count it active above 0.01).
    """

    elbo: float
    rate: float
    distortion: float
    rate_per_dim: np.ndarray
    active: np.ndarray


def evaluate(model, data, *, num_samples=10, seed=0):
    """The ELBO of ``data`` split into rate and distortion, and per-dimension statistics.

    Args:
      model: a `VAE`.
      data: ``[n, num_pixels]`` 0/1 images.
      num_samples: positive ``int``, draws of :math:`z` per image for the distortion.
      seed: non-negative ``int``.

    Returns:
      `Evaluation`.

    Examples:
      >>> result = evaluate(VAE(latent_dim=2), load_digits().test)
      >>> bool(result.elbo < 0), result.rate_per_dim.shape
      (True, (2,))
    """
    _single(model)
    data = _images(data, model)
    num_samples = _validate.positive_int(num_samples, "num_samples")
    seeds = tf.random.experimental.stateless_split(_validate.stateless_seed(seed), num_samples)
    distortions = [elbo_terms(model, data, s).distortion for s in seeds]
    mu, log_var = model.encoder_outputs(tf.constant(data))
    per_dim = gaussian_kl_per_dim(mu, log_var).numpy().astype(np.float64).mean(0)
    distortion = float(np.mean([d.numpy().astype(np.float64).mean() for d in distortions]))
    rate = float(per_dim.sum())
    return Evaluation(
        -(distortion + rate), rate, distortion, per_dim, mu.numpy().astype(np.float64).var(0)
    )


def iwae_bound(model, data, num_samples, *, repeats=1, seed=0, chunk=1000):
    r"""The importance-weighted bound :math:`\mathcal L_K` of each image (Burda et al. 2016).

    .. math::

       \mathcal L_K(x) = \mathbb E\Big[\log \frac1K\sum_{k=1}^K
       \frac{p(x, z_k)}{q(z_k\mid x)}\Big], \quad z_k \sim q(z\mid x),

    estimated by the average of ``repeats`` independent :math:`K`-draw estimates.
    :math:`\mathcal L_1` is the ELBO, and
    :math:`\mathcal L_K \le \mathcal L_{K+1} \le \log p(x)`. The draws are the first
    ``num_samples * repeats`` of one stream for the given seed, so calls with the same
    product share their draws (common random numbers: differences between two
    :math:`K` are then far less noisy than either estimate).

    Args:
      model: a `VAE` without copies.
      data: ``[n, num_pixels]`` 0/1 images.
      num_samples: positive ``int`` :math:`K`.
      repeats: positive ``int``, estimates averaged.
      seed: non-negative ``int``.
      chunk: positive ``int``, draws decoded per pass (memory only).

    Returns:
      ``numpy`` array ``[n]`` of float64 bounds, in nats.

    Examples:
      >>> model, x = VAE(latent_dim=2), load_digits().test[:5]
      >>> elbo = iwae_bound(model, x, 1, repeats=100)
      >>> bool(np.all(iwae_bound(model, x, 100) > elbo))
      True
    """
    _single(model)
    data = tf.constant(_images(data, model))
    num_samples = _validate.positive_int(num_samples, "num_samples")
    repeats = _validate.positive_int(repeats, "repeats")
    chunk = _validate.positive_int(chunk, "chunk")
    total = num_samples * repeats
    q = model.encode(data)
    # one stream of draws: [total, n, latent_dim], decoded chunk by chunk
    z = q.sample(total, seed=_validate.stateless_seed(seed))
    parts = []
    for start in range(0, total, chunk):
        zc = z[start : start + chunk]
        log_w = model.decode(zc).log_prob(data) + model.prior().log_prob(zc) - q.log_prob(zc)
        parts.append(log_w.numpy().astype(np.float64))
    log_w = np.concatenate(parts, axis=0).reshape(repeats, num_samples, -1)
    from scipy.special import logsumexp

    return (logsumexp(log_w, axis=1) - math.log(num_samples)).mean(axis=0)


class LatentQuadrature(NamedTuple):
    """Exact (quadrature) quantities of a 2-D latent model, per image (``numpy`` float64).

    Attributes:
      log_marginal: :math:`\\log p(x) = \\log\\int p(x\\mid z)p(z)\\,dz`.
      kl_to_posterior: KL(q(z|x) ‖ p(z|x)).
      elbo: :math:`\\mathbb E_q[\\log p(x, z) - \\log q(z\\mid x)]` by the same quadrature.
    """

    log_marginal: np.ndarray
    kl_to_posterior: np.ndarray
    elbo: np.ndarray


def latent_quadrature(model, data, *, limit=6.0, num_points=241):
    r"""log p(x), the ELBO and KL(q(z|x) ‖ p(z|x)) by quadrature over a 2-D latent grid.

    .. math::

       \log p(x) \approx \log \sum_{g} p(x\mid z_g)\,p(z_g)\,\Delta^2,\qquad
       p(z_g\mid x) = p(x\mid z_g)p(z_g)/p(x)

    on a square grid :math:`z_g \in [-L, L]^2` with spacing :math:`\Delta`. The prior
    puts less than :math:`10^{-7}` of its mass outside :math:`[-6, 6]^2`. Each image's
    grid sum runs in float64.

    Args:
      model: a `VAE` with ``latent_dim == 2``.
      data: ``[n, num_pixels]`` 0/1 images.
      limit: positive ``float`` :math:`L`.
      num_points: ``int`` ≥ 3, grid points per axis.

    Returns:
      `LatentQuadrature` of ``numpy`` float64 arrays ``[n]``, in nats: ``log_marginal``
      (:math:`\log p(x)`), ``kl_to_posterior`` (KL(q(z|x) ‖ p(z|x))) and ``elbo``; by
      chapter 5's identity ``log_marginal - elbo`` equals ``kl_to_posterior``.

    Raises:
      TypeError: if ``model`` is not a `VAE`.
      ValueError: if the model has copies or its latent space is not 2-D, if ``data``
        is not ``[n, num_pixels]``, or if ``limit`` or ``num_points`` is not positive.

    Examples:
      >>> model, x = VAE(latent_dim=2), load_digits().test[:3]
      >>> exact = latent_quadrature(model, x, num_points=81)
      >>> bool(np.all(exact.log_marginal <= 0))  # a probability of binary images
      True
      >>> gap = exact.log_marginal - exact.elbo  # = KL, up to q's mass off the grid
      >>> bool(np.allclose(gap, exact.kl_to_posterior, atol=1e-3)), bool(np.all(gap >= 0))
      (True, True)
      >>> latent_quadrature(VAE(latent_dim=3), x)
      Traceback (most recent call last):
      ...
      ValueError: `model` must have a 2-D latent space for quadrature; got 3
    """
    _single(model)
    if model.latent_dim != 2:
        raise ValueError(
            f"`model` must have a 2-D latent space for quadrature; got {model.latent_dim}"
        )
    data = _images(data, model)
    limit = _validate.positive_float(limit, "limit")
    num_points = _validate.positive_int(num_points, "num_points")
    axis = np.linspace(-limit, limit, num_points)
    cell = (axis[1] - axis[0]) ** 2
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    logits = model.logits(tf.constant(grid, tf.float32)).numpy().astype(np.float64)
    # log p(x|z_g) for every image and grid point: x·l − softplus(l), summed over pixels
    log_lik = data.astype(np.float64) @ logits.T - np.logaddexp(0, logits).sum(1)
    log_prior = -0.5 * (grid**2).sum(1) - math.log(2 * math.pi)
    log_joint = log_lik + log_prior + math.log(cell)
    from scipy.special import logsumexp

    log_marginal = logsumexp(log_joint, axis=1)
    q = model.encode(data)
    mu = q.mean().numpy().astype(np.float64)
    sd = q.stddev().numpy().astype(np.float64)
    log_q = (
        -0.5 * (((grid[None] - mu[:, None]) / sd[:, None]) ** 2).sum(-1)
        - np.log(2 * math.pi * sd.prod(-1))[:, None]
    )
    weight_q = np.exp(log_q) * cell  # q's mass in each cell
    log_posterior = log_joint - math.log(cell) - log_marginal[:, None]
    kl = (weight_q * (log_q - log_posterior)).sum(1)
    elbo = (weight_q * (log_lik + log_prior - log_q)).sum(1)
    return LatentQuadrature(log_marginal, kl, elbo)


class GradientVariance(NamedTuple):
    """Total variance of a stochastic gradient, split by network (``float``).

    Attributes:
      encoder, decoder: summed over the parameters of each network.
      mean: the flattened mean gradient (``numpy`` float64), to compare estimators.
    """

    encoder: float
    decoder: float
    mean: np.ndarray


def gradient_variance(model, data, *, kl, num_repeats=200, seed=0):
    r"""Total variance of the one-sample ELBO gradient over fresh draws of :math:`\varepsilon`.

    .. math::

       \sum_\theta \operatorname{Var}_\varepsilon\big[\partial_\theta
       \widehat{\mathcal L}(x; \varepsilon)\big]

    for the batch ``data`` (the mean ELBO of the batch), with the rate in closed form
    (``kl="analytic"``) or estimated at the same draw (``"sampled"``). Both estimators
    have the same mean; only the encoder's gradient depends on which rate is used.

    Args:
      model: a `VAE` without copies.
      data: ``[batch, num_pixels]`` 0/1 images (the same batch every repeat).
      kl: ``"analytic"`` or ``"sampled"``.
      num_repeats: ``int`` ≥ 2, independent gradient draws.
      seed: non-negative ``int``.

    Returns:
      `GradientVariance`.

    Raises:
      ValueError: if ``kl`` is unknown or ``num_repeats`` < 2.

    Examples:
      >>> model, x = VAE(latent_dim=2, hidden=8), load_digits().test[:20]
      >>> result = gradient_variance(model, x, kl="analytic", num_repeats=10)
      >>> result.encoder > 0, result.decoder > 0
      (True, True)
    """
    _single(model)
    _validate.one_of(kl, "kl", KL_METHODS)
    data = tf.constant(_images(data, model))
    num_repeats = _validate.positive_int(num_repeats, "num_repeats")
    if num_repeats < 2:
        raise ValueError(f"`num_repeats` must be at least 2 for a variance; got {num_repeats}")
    seeds = tf.random.experimental.stateless_split(_validate.stateless_seed(seed), num_repeats)
    variables = model.trainable_variables
    encoder = [any(v is e for e in model.encoder_variables) for v in variables]

    @tf.function(autograph=False)
    def all_gradients(seeds):
        def one(seed):
            with tf.GradientTape() as tape:
                terms = elbo_terms(model, data, seed, kl)
                elbo = -tf.reduce_mean(terms.distortion + terms.rate)
            return [tf.reshape(g, [-1]) for g in tape.gradient(elbo, variables)]

        return tf.map_fn(one, seeds, fn_output_signature=[tf.float32] * len(variables))

    grads = [g.numpy().astype(np.float64) for g in all_gradients(seeds)]
    total = [g.var(0, ddof=1).sum() for g in grads]
    return GradientVariance(
        float(sum(t for t, e in zip(total, encoder, strict=True) if e)),
        float(sum(t for t, e in zip(total, encoder, strict=True) if not e)),
        np.concatenate([g.mean(0) for g in grads]),
    )


def _single(model):
    if not isinstance(model, VAE):
        raise TypeError(f"`model` must be a klcourse.vae.VAE; got {type(model).__name__}")
    if model.copies is not None:
        raise ValueError(
            f"`model` must be a single model; it has copies={model.copies}: "
            "take one out with model.select(i)"
        )
