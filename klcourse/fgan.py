r"""Reverse-KL fitting from samples alone: a small f-GAN (Nowozin et al., 2016).

When p is known only through samples, KL(q‖p) = E_q[log q/p] cannot be evaluated. The
f-GAN turns it into a game. For a convex f with f(1) = 0, the *f-divergence* is

.. math:: D_f(P\,\|\,Q) = \int q(x)\, f\!\Big(\frac{p(x)}{q(x)}\Big)\, dx ,

and because f equals the supremum of its tangent lines,
:math:`f(u) = \sup_t\,\{tu - f^*(t)\}` with the convex conjugate
:math:`f^*(t) = \sup_u\,\{ut - f(u)\}`, every function T (the *critic*) gives a lower bound

.. math:: D_f(P\,\|\,Q) \;\ge\; \mathbb{E}_{x\sim P}[T(x)] - \mathbb{E}_{x\sim Q}[f^*(T(x))],

with equality at :math:`T = f'(p/q)`. The reverse KL, :math:`\mathrm{KL}(Q\|P)`, is the
case :math:`f(u) = -\log u`, with conjugate :math:`f^*(t) = -1 - \log(-t)` for
:math:`t < 0`; writing the critic as :math:`T = -e^{-V}` keeps T negative and turns the
bound into

.. math:: F(V) = 1 - \mathbb{E}_{P}\big[e^{-V(x)}\big] - \mathbb{E}_{Q}\big[V(x)\big]
   \;\le\; \mathrm{KL}(Q\,\|\,P),

maximised over the critic V (its optimum is :math:`V = \log p/q`, where F equals
KL(Q‖P)) and minimised over the generator that draws from Q. Chapter 3 derives this
and uses `train_reverse_kl_gan`. `train_sigmoid_critic_gan` ports the GAN of the
course's JAX source tutorial, whose critic is squeezed through a sigmoid, to show how
it fails.
"""

from typing import NamedTuple

import numpy as np
import tensorflow as tf
import tf_keras

from klcourse import _validate

__all__ = [
    "train_reverse_kl_gan",
    "GanResult",
    "reverse_kl_bound",
    "mode_fractions",
    "train_sigmoid_critic_gan",
    "SigmoidGanResult",
]


class GanResult(NamedTuple):
    """What `train_reverse_kl_gan` returns.

    Attributes:
      generator: ``tf_keras.Model`` from noise ``[n, latent_dim]`` to points ``[n, 2]``.
      critic: ``tf_keras.Model`` V from points to scores ``[n, 1]``.
      bound: ``numpy.ndarray`` ``[num_steps]``, the critic's objective F at each step
        (a running lower bound on KL(q‖p) once the critic has caught up).
      sample: callable ``sample(n, seed)`` giving ``n`` generated points as numpy.
    """

    generator: object
    critic: object
    bound: np.ndarray
    sample: object


def reverse_kl_bound(critic_real, critic_fake):
    r"""The f-GAN lower bound on KL(q‖p), estimated from critic outputs.

    .. math:: F(V) = 1 - \frac1n\sum_{i} e^{-V(x_i)} - \frac1m\sum_j V(y_j),
       \qquad x_i \sim p,\; y_j \sim q,

    a Monte Carlo estimate of :math:`1 - \mathbb{E}_p[e^{-V}] - \mathbb{E}_q[V]
    \le \mathrm{KL}(q\,\|\,p)`, with equality at :math:`V = \log(p/q)` (chapter 3,
    section 3.5, derives it from the convex conjugate of :math:`f(u) = -\log u`).

    Args:
      critic_real: critic outputs V on samples of p (any shape, float tensor-like).
      critic_fake: critic outputs V on samples of q.

    Returns:
      Scalar ``tf.Tensor`` of the inputs' dtype (a tensor, so that it can be
      differentiated inside a ``tf.GradientTape``).

    Raises:
      tf.errors.InvalidArgumentError, ValueError: if the inputs are not numeric
        (TensorFlow's own errors).

    Examples:
      A constant critic V = 0 gives the trivial bound 0; the optimal critic
      log p/q for p = N(0, 1), q = N(1, 1) gives KL(q‖p) = 1/2.

      >>> import tensorflow_probability as tfp
      >>> float(reverse_kl_bound(tf.zeros(3), tf.zeros(5)))
      0.0
      >>> p, q = tfp.distributions.Normal(0.0, 1.0), tfp.distributions.Normal(1.0, 1.0)
      >>> x, y = p.sample(200_000, seed=(1, 2)), q.sample(200_000, seed=(3, 4))
      >>> round(float(reverse_kl_bound(p.log_prob(x) - q.log_prob(x),
      ...                              p.log_prob(y) - q.log_prob(y))), 1)
      0.5
    """
    return 1.0 - tf.reduce_mean(tf.exp(-critic_real)) - tf.reduce_mean(critic_fake)


def _mlp(widths, out, seed, activation, name):
    init = tf_keras.initializers.GlorotUniform
    layers = [
        tf_keras.layers.Dense(w, activation=activation, kernel_initializer=init(seed + i))
        for i, w in enumerate(widths)
    ]
    layers.append(tf_keras.layers.Dense(out, kernel_initializer=init(seed + len(widths))))
    return tf_keras.Sequential(layers, name=name)


def train_reverse_kl_gan(
    data,
    *,
    num_steps=3000,
    batch_size=256,
    latent_dim=8,
    generator_widths=(),
    critic_widths=(64, 64),
    generator_learning_rate=2e-3,
    critic_learning_rate=2e-3,
    critic_steps=2,
    seed=0,
):
    r"""Fit a generator to samples by minimising the f-GAN bound on KL(q‖p).

    .. math:: \min_{G}\;\max_{V}\; F(V, G) = 1 - \mathbb{E}_{x\sim p}\big[e^{-V(x)}\big]
       - \mathbb{E}_{z}\big[V(G(z))\big],

    where q is the distribution of :math:`G(z)` for uniform noise z. At the optimal
    critic :math:`V = \log(p/q)` the inner maximum is KL(q‖p), so the generator
    descends the reverse KL (chapter 3, section 3.5).

    Each step takes ``critic_steps`` Adam steps that raise F over the critic, then one
    that lowers it over the generator; the whole loop is one compiled ``tf.function``,
    and all randomness (initial weights, noise, data batches) comes from ``seed``, so a
    run is reproducible on one machine. The generator maps uniform noise on
    :math:`[0,1]^{\text{latent\_dim}}` through a tanh network with
    ``generator_widths`` hidden layers; by default it has none, so it is an affine map
    of the noise: a unimodal, nearly Gaussian family, the situation of variational
    inference, where reverse KL's mode-seeking shows. A flexible generator can cover
    several modes, and then the outcome depends on the run.

    Args:
      data: array ``[n, d]`` of samples from p.
      num_steps: positive ``int``, generator updates.
      batch_size: positive ``int``, points from p and from q per step.
      latent_dim: positive ``int``, dimension of the generator's noise.
      generator_widths, critic_widths: hidden layer widths.
      generator_learning_rate, critic_learning_rate: Adam step sizes.
      critic_steps: positive ``int``, critic updates per generator update.
      seed: non-negative ``int``.

    Returns:
      `GanResult`.

    Raises:
      TypeError: if ``data`` is not numeric or a count is not an ``int``.
      ValueError: if ``data`` is not 2-D or not finite, or a count is not positive.

    Examples:
      Chapter 3 trains it on 20 000 points of a two-cluster mixture (each run
      compiles and trains for a few seconds, so this example is not run here):

      >>> result = train_reverse_kl_gan(data, num_steps=2000, seed=0)  # doctest: +SKIP
      >>> result.bound[-200:].mean()  # ≈ KL(q‖p) once the critic has caught up  # doctest: +SKIP
    """
    data = _validate.as_float_array(data, "data")
    if data.ndim != 2:
        raise ValueError(f"`data` must be a 2-D array [n, d]; got shape {data.shape}")
    num_steps = _validate.positive_int(num_steps, "num_steps")
    batch_size = _validate.positive_int(batch_size, "batch_size")
    latent_dim = _validate.positive_int(latent_dim, "latent_dim")
    critic_steps = _validate.positive_int(critic_steps, "critic_steps")
    seed = _validate.seed(seed)
    dim = data.shape[1]
    # Networks train best on standardised inputs; the generator learns in that frame too.
    centre, spread = data.mean(axis=0), data.std(axis=0)
    standardised = tf.constant((data - centre) / spread, tf.float32)

    generator = _mlp(generator_widths, dim, seed, "tanh", "generator")
    critic = _mlp(critic_widths, 1, seed + 100, tf_keras.layers.LeakyReLU(0.2), "critic")
    generator.build((None, latent_dim))
    critic.build((None, dim))
    generator_opt = tf_keras.optimizers.Adam(generator_learning_rate, beta_1=0.5)
    critic_opt = tf_keras.optimizers.Adam(critic_learning_rate, beta_1=0.5)
    generator_opt.build(generator.trainable_variables)
    critic_opt.build(critic.trainable_variables)
    base_seed = _validate.stateless_seed(seed)

    def batches(step, k):
        step_seed = tf.random.experimental.stateless_fold_in(base_seed, step * 16 + k)
        noise_seed, index_seed = tf.unstack(tf.random.experimental.stateless_split(step_seed, 2))
        noise = tf.random.stateless_uniform([batch_size, latent_dim], noise_seed)
        index = tf.random.stateless_uniform(
            [batch_size], index_seed, 0, data.shape[0], dtype=tf.int32
        )
        return tf.gather(standardised, index), noise

    # XLA compiles the loop into one program that runs its steps in order. Without it,
    # under CPU contention, reads of the critic's weights inside the while_loop body
    # were not reliably ordered after the optimiser's updates: runs that should have
    # been identical differed (tests/test_fgan.py::test_reproducible_under_cpu_contention).
    @tf.function(autograph=False, jit_compile=True)
    def train(num_steps):
        def step(i, bounds):
            for k in range(critic_steps):
                real, noise = batches(i, k)
                with tf.GradientTape() as tape:
                    # the critic ascends F; negate inside the tape so it is recorded
                    critic_loss = -reverse_kl_bound(critic(real), critic(generator(noise)))
                grads = tape.gradient(critic_loss, critic.trainable_variables)
                critic_opt.apply_gradients(zip(grads, critic.trainable_variables, strict=True))
            real, noise = batches(i, critic_steps)
            with tf.GradientTape() as tape:
                bound = reverse_kl_bound(critic(real), critic(generator(noise)))
            grads = tape.gradient(bound, generator.trainable_variables)
            generator_opt.apply_gradients(zip(grads, generator.trainable_variables, strict=True))
            return i + 1, bounds.write(i, bound)

        _, bounds = tf.while_loop(
            lambda i, _: i < num_steps,
            step,
            (tf.constant(0), tf.TensorArray(tf.float32, size=num_steps)),
        )
        return bounds.stack()

    bound = np.asarray(train(tf.constant(num_steps)), dtype=np.float64)

    def sample(n, seed=0):
        noise = tf.random.stateless_uniform([n, latent_dim], _validate.stateless_seed(seed))
        return np.asarray(generator(noise), dtype=np.float64) * spread + centre

    return GanResult(generator, critic, bound, sample)


def mode_fractions(points, means, covariances, radius=3.0):
    r"""Fraction of ``points`` near each mode, and near none.

    A point x is near mode k when its Mahalanobis distance to
    :math:`\mathcal N(\mu_k, \Sigma_k)` is below ``radius``:
    :math:`(x - \mu_k)^\top \Sigma_k^{-1} (x - \mu_k) < r^2`. Chapter 3 uses it to tell
    whether a model covers both clusters, sits on one, or puts its samples between them.

    Args:
      points: array ``[n, d]``.
      means: array ``[k, d]``.
      covariances: array ``[k, d, d]`` of positive-definite matrices.
      radius: positive float, in standard deviations.

    Returns:
      ``numpy.ndarray`` of ``k + 1`` fractions: one per mode, then "near none". A
      point near two modes counts for both.

    Raises:
      TypeError: if an argument is not numeric.
      ValueError: if an argument is not finite or ``radius`` is not positive.
      numpy.linalg.LinAlgError: if a covariance is not positive definite.

    Examples:
      >>> mode_fractions([[0.0, 0.0], [5.0, 5.0], [2.5, 2.5]], [[0.0, 0.0], [5.0, 5.0]],
      ...                [np.eye(2), np.eye(2)]).tolist()
      [0.3333333333333333, 0.3333333333333333, 0.3333333333333333]
    """
    points = _validate.as_float_array(points, "points")
    means = _validate.as_float_array(means, "means")
    covariances = _validate.as_float_array(covariances, "covariances")
    radius = _validate.positive_float(radius, "radius")
    offsets = points[None, :, :] - means[:, None, :]
    whitened = np.linalg.solve(np.linalg.cholesky(covariances)[:, None], offsets[..., None])[..., 0]
    near = np.sum(whitened**2, axis=-1) < radius**2
    return np.append(near.mean(axis=1), np.mean(~near.any(axis=0)))


class SigmoidGanResult(NamedTuple):
    """What `train_sigmoid_critic_gan` returns.

    Attributes:
      sample: callable ``sample(n, seed)`` giving ``n`` generated points (numpy,
        in the data's units).
      gradient_norm: ``numpy.ndarray`` ``[num_steps]``, the global norm of the
        generator's gradient at each step.
      critic_real: ``numpy.ndarray`` ``[num_steps]``, the mean critic output
        (a sigmoid, in (0, 1)) on the step's batch of data, before the step's updates.
      critic_fake: the same on the step's generated batch.
    """

    sample: object
    gradient_norm: np.ndarray
    critic_real: np.ndarray
    critic_fake: np.ndarray


def train_sigmoid_critic_gan(data, *, num_steps=7000, batch_size=64, latent_dim=10, seed=0):
    r"""The GAN of the course's JAX source tutorial, ported to TensorFlow, to show its failure.

    The tutorial's networks and settings: data scaled to [0, 1] by the overall minimum
    and maximum; a generator ``Dense(2)`` + sigmoid on uniform noise of
    ``latent_dim`` dimensions; a critic D with two hidden layers of 32 leaky-ReLU
    units (slope 0.01) and a *sigmoid* output; Adam with step 5e-4 for the critic and
    1e-4 for the generator. Each step the critic takes one step on a data batch and one
    on a generated batch, then the generator one step on the same noise. Its losses,

    .. math:: \text{critic: } \min_D\ \mathbb{E}_p\big[e^{D}\big] \text{ and }
       \min_D\ -\mathbb{E}_q[D + 1], \qquad
       \text{generator: } \min_G\ \mathbb{E}_z\big[e^{D(G(z))}\big],

    make the critic's objective the reverse-KL bound of `reverse_kl_bound` with
    :math:`V = -D`, but the sigmoid confines V to (−1, 0) while the optimal critic
    :math:`\log(p/q)` takes any real value. The critic is pushed against the ends of
    its range, the sigmoid saturates, and the generator's gradient, which flows
    through it, vanishes (chapter 3, section 3.5).

    Initial weights are Glorot-normal, as JAX's ``stax.Dense``; all randomness comes
    from ``seed``, and the loop is one XLA-compiled ``tf.function``.

    Args:
      data: array ``[n, d]`` of samples from p.
      num_steps: positive ``int``, training steps (the tutorial's 7000 by default).
      batch_size: positive ``int`` (the tutorial's 64).
      latent_dim: positive ``int`` (the tutorial's 10).
      seed: non-negative ``int``.

    Returns:
      `SigmoidGanResult`.

    Raises:
      TypeError: if ``data`` is not numeric or a count is not an ``int``.
      ValueError: if ``data`` is not 2-D, not finite or constant, or a count is not
        positive.

    Examples:
      Chapter 3 runs it on its two-cluster data (a few seconds, so not run here):

      >>> result = train_sigmoid_critic_gan(data, seed=0)  # doctest: +SKIP
      >>> result.gradient_norm[-1] < 1e-3 * result.gradient_norm[:100].max()  # doctest: +SKIP
      True
    """
    data = _validate.as_float_array(data, "data")
    if data.ndim != 2:
        raise ValueError(f"`data` must be a 2-D array [n, d]; got shape {data.shape}")
    num_steps = _validate.positive_int(num_steps, "num_steps")
    batch_size = _validate.positive_int(batch_size, "batch_size")
    latent_dim = _validate.positive_int(latent_dim, "latent_dim")
    seed = _validate.seed(seed)
    low, high = float(data.min()), float(data.max())
    if not high > low:
        raise ValueError("`data` must not be constant; got one value everywhere")
    scaled = tf.constant((data - low) / (high - low), tf.float32)
    dim = data.shape[1]

    def init(k):
        return tf_keras.initializers.GlorotNormal(seed + k)

    generator = tf_keras.Sequential(
        [tf_keras.layers.Dense(dim, activation="sigmoid", kernel_initializer=init(0))]
    )
    critic = tf_keras.Sequential(
        [
            tf_keras.layers.Dense(32, kernel_initializer=init(1)),
            tf_keras.layers.LeakyReLU(0.01),
            tf_keras.layers.Dense(32, kernel_initializer=init(2)),
            tf_keras.layers.LeakyReLU(0.01),
            tf_keras.layers.Dense(1, activation="sigmoid", kernel_initializer=init(3)),
        ]
    )
    generator.build((None, latent_dim))
    critic.build((None, dim))
    generator_opt = tf_keras.optimizers.Adam(1e-4)
    critic_opt = tf_keras.optimizers.Adam(5e-4)
    generator_opt.build(generator.trainable_variables)
    critic_opt.build(critic.trainable_variables)
    base_seed = _validate.stateless_seed(seed)

    def critic_step(points, loss_of):
        with tf.GradientTape() as tape:
            output = critic(points)
            loss = loss_of(output)
        grads = tape.gradient(loss, critic.trainable_variables)
        critic_opt.apply_gradients(zip(grads, critic.trainable_variables, strict=True))
        return tf.reduce_mean(output)

    # XLA, as in train_reverse_kl_gan: reads ordered after updates, reproducible runs.
    @tf.function(autograph=False, jit_compile=True)
    def train(num_steps):
        def step(i, norms, real_out, fake_out):
            step_seed = tf.random.experimental.stateless_fold_in(base_seed, i)
            index_seed, noise_seed = tf.unstack(tf.random.experimental.stateless_split(step_seed))
            index = tf.random.stateless_uniform(
                [batch_size], index_seed, 0, scaled.shape[0], dtype=tf.int32
            )
            noise = tf.random.stateless_uniform([batch_size, latent_dim], noise_seed)
            fake = generator(noise)
            # the outputs logged are the critic's on this step's batches, before its updates
            on_real = critic_step(tf.gather(scaled, index), lambda d: tf.reduce_mean(tf.exp(d)))
            on_fake = critic_step(fake, lambda d: -tf.reduce_mean(d + 1.0))
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.exp(critic(generator(noise))))
            grads = tape.gradient(loss, generator.trainable_variables)
            generator_opt.apply_gradients(zip(grads, generator.trainable_variables, strict=True))
            return (
                i + 1,
                norms.write(i, tf.linalg.global_norm(grads)),
                real_out.write(i, on_real),
                fake_out.write(i, on_fake),
            )

        arrays = [tf.TensorArray(tf.float32, size=num_steps) for _ in range(3)]
        _, *arrays = tf.while_loop(lambda i, *_: i < num_steps, step, (tf.constant(0), *arrays))
        return [array.stack() for array in arrays]

    norms, real_out, fake_out = (
        np.asarray(x, dtype=np.float64) for x in train(tf.constant(num_steps))
    )

    def sample(n, seed=0):
        noise = tf.random.stateless_uniform([n, latent_dim], _validate.stateless_seed(seed))
        return np.asarray(generator(noise), dtype=np.float64) * (high - low) + low

    return SigmoidGanResult(sample, norms, real_out, fake_out)
