r"""Reverse-KL fitting from samples alone: a small f-GAN (Nowozin et al., 2016).

When p is known only through samples, KL(q‖p) = E_q[log q/p] cannot be evaluated. The
f-GAN turns it into a game. For an f-divergence
:math:`D_f(P\|Q) = \int q\, f(p/q)` and any function T,

.. math:: D_f(P\,\|\,Q) \;\ge\; \mathbb{E}_{x\sim P}[T(x)] - \mathbb{E}_{x\sim Q}[f^*(T(x))],

with equality at :math:`T = f'(p/q)`. The reverse KL, :math:`\mathrm{KL}(Q\|P)`, is the
case :math:`f(u) = -\log u`, with conjugate :math:`f^*(t) = -1 - \log(-t)` and the
output activation :math:`T = -e^{-V}` that keeps T negative. The bound becomes

.. math:: F(V, G) = 1 - \mathbb{E}_{P}\big[e^{-V(x)}\big] - \mathbb{E}_{Q}\big[V(x)\big],

maximised over the critic V (its optimum is :math:`V = \log p/q`, where F equals
KL(Q‖P)) and minimised over the generator G that draws from Q. Chapter 3 uses it.
"""

from typing import NamedTuple

import numpy as np
import tensorflow as tf
import tf_keras

from klcourse import _validate

__all__ = ["train_reverse_kl_gan", "GanResult", "reverse_kl_bound", "mode_fractions"]


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
    r"""The f-GAN objective for reverse KL: :math:`1 - \mathbb{E}_p[e^{-V}] - \mathbb{E}_q[V]`.

    Args:
      critic_real: critic outputs V on samples of p.
      critic_fake: critic outputs V on samples of q.

    Returns:
      Scalar ``tf.Tensor``.
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
      TypeError, ValueError: for a non-numeric or non-2-D ``data`` or bad counts.
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
                critic_opt.apply_gradients(zip(grads, critic.trainable_variables))
            real, noise = batches(i, critic_steps)
            with tf.GradientTape() as tape:
                bound = reverse_kl_bound(critic(real), critic(generator(noise)))
            grads = tape.gradient(bound, generator.trainable_variables)
            generator_opt.apply_gradients(zip(grads, generator.trainable_variables))
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
    """Fraction of ``points`` near each mode, and near none.

    A point is near mode k when its Mahalanobis distance to
    ``N(means[k], covariances[k])`` is below ``radius``.

    Args:
      points: array ``[n, d]``.
      means: array ``[k, d]``.
      covariances: array ``[k, d, d]``.
      radius: positive float, in standard deviations.

    Returns:
      ``numpy.ndarray`` of ``k + 1`` fractions: one per mode, then "near none".
    """
    points = _validate.as_float_array(points, "points")
    means = _validate.as_float_array(means, "means")
    covariances = _validate.as_float_array(covariances, "covariances")
    offsets = points[None, :, :] - means[:, None, :]
    whitened = np.linalg.solve(np.linalg.cholesky(covariances)[:, None], offsets[..., None])[..., 0]
    near = np.sum(whitened**2, axis=-1) < radius**2
    return np.append(near.mean(axis=1), np.mean(~near.any(axis=0)))
