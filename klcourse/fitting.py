r"""Fit a trainable distribution to a target by minimising a KL divergence.

``fit`` runs the whole optimisation as one compiled TensorFlow loop
(``tf.function`` around a ``tf.while_loop``): a Python loop of eager steps spends most
of its time in per-step overhead (Keras's ``apply_gradients`` above all), and wrapping
only one step in ``tf.function`` does not remove it. The compiled loop is cached per
trainable distribution and configuration, so a second fit of the same ``q`` reuses
the traced graph; the optimiser's state is reset at the start of every call, so
each call is a fresh, reproducible fit.
"""

import weakref
from typing import NamedTuple

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from klcourse import _validate

__all__ = ["fit", "FitTrace", "trainable_parameters"]

tfd = tfp.distributions

DIVERGENCES = ("reverse", "forward")
OPTIMIZERS = {"adam": tf_keras.optimizers.Adam, "sgd": tf_keras.optimizers.SGD}


class FitTrace(NamedTuple):
    """The history of a fit, one row per step.

    Attributes:
      loss: ``numpy.ndarray`` of shape ``[num_steps + 1]``; ``loss[i]`` is the
        objective at the parameters ``params[name][i]`` (row 0 is the start, the last
        row the end).
      params: ``dict`` from parameter name (``"loc"``, ``"scale"``, ...) to a
        ``numpy.ndarray`` of shape ``[num_steps + 1, *parameter_shape]``, in the
        distribution's own (constrained) parametrisation.
      method: ``"analytic"`` (TFP's closed-form KL), ``"monte_carlo"`` (a
        reparameterised estimate with ``num_samples`` draws per step) or ``"samples"``
        (forward KL to data, up to the data's entropy: the negative mean log-likelihood).
    """

    loss: np.ndarray
    params: dict
    method: str


def trainable_parameters(q, prefix=""):
    """The parameters of ``q`` that hold trainable variables, nested ones included.

    Args:
      q: a ``tfd.Distribution`` built with ``tf.Variable`` or
        ``tfp.util.TransformedVariable`` parameters. Parameters of component
        distributions (a mixture's ``components_distribution``, say) are found too.
      prefix: used in recursion; nested names read ``"components_distribution.loc"``.

    Returns:
      ``dict`` from parameter name to the variable-backed value, in constructor order.
    """
    found = {}
    for name, value in q.parameters.items():
        if isinstance(value, tfd.Distribution):
            found.update(trainable_parameters(value, prefix=f"{prefix}{name}."))
        elif isinstance(value, (tf.Variable, tfp.util.DeferredTensor)) and any(
            v.trainable for v in getattr(value, "trainable_variables", [value])
        ):
            found[prefix + name] = value
    return found


def _loss_fn(q, target, divergence, num_samples):
    """(loss(seed), method) for the chosen direction, analytic when TFP has a closed form."""
    if not isinstance(target, tfd.Distribution):
        data = tf.constant(target, dtype=q.dtype)
        return (lambda seed: -tf.reduce_mean(q.log_prob(data))), "samples"
    first, second = (q, target) if divergence == "reverse" else (target, q)
    try:
        tfd.kl_divergence(first, second)
        return (lambda seed: tfd.kl_divergence(first, second)), "analytic"
    except NotImplementedError:
        pass
    if divergence == "reverse":
        if q.reparameterization_type != tfd.FULLY_REPARAMETERIZED:
            raise ValueError(
                "`q` must be fully reparameterised for a Monte Carlo reverse KL; "
                f"got {type(q).__name__} with {q.reparameterization_type}"
            )

        def reverse(seed):
            x = q.sample(num_samples, seed=seed)
            return tf.reduce_mean(q.log_prob(x) - target.log_prob(x))

        return reverse, "monte_carlo"

    def forward(seed):
        x = tf.stop_gradient(target.sample(num_samples, seed=seed))
        return tf.reduce_mean(target.log_prob(x) - q.log_prob(x))

    return forward, "monte_carlo"


def _compile(q, loss, optimizer, parameters):
    variables = q.trainable_variables
    state = [v for v in optimizer.variables if v is not optimizer.learning_rate]

    def read_parameters():
        return [tf.convert_to_tensor(value) for value in parameters.values()]

    # The loop is an explicit tf.while_loop, so AutoGraph has nothing to convert;
    # skipping its source transformation makes the first (tracing) call faster.
    @tf.function(autograph=False)
    def run(num_steps, seed):
        for variable in state:
            variable.assign(tf.zeros_like(variable))
        losses = tf.TensorArray(q.dtype, size=num_steps + 1)
        traces = [tf.TensorArray(q.dtype, size=num_steps + 1) for _ in parameters]

        def step(i, losses, traces):
            with tf.GradientTape() as tape:
                value = loss(tf.random.experimental.stateless_fold_in(seed, i))
            gradients = tape.gradient(value, variables)
            snapshot = read_parameters()
            losses = losses.write(i, value)
            traces = [trace.write(i, x) for trace, x in zip(traces, snapshot)]
            optimizer.apply_gradients(zip(gradients, variables))
            return i + 1, losses, traces

        _, losses, traces = tf.while_loop(
            lambda i, *_: i < num_steps, step, (tf.constant(0), losses, traces)
        )
        final = loss(tf.random.experimental.stateless_fold_in(seed, num_steps))
        losses = losses.write(num_steps, final)
        traces = [trace.write(num_steps, x) for trace, x in zip(traces, read_parameters())]
        return losses.stack(), [trace.stack() for trace in traces]

    return run


# q -> {configuration: (compiled loop, optimizer, method, parameter names)}
_COMPILED = weakref.WeakKeyDictionary()


def fit(
    q,
    target,
    *,
    divergence="reverse",
    num_steps,
    learning_rate,
    seed=0,
    num_samples=1000,
    optimizer="adam",
):
    r"""Fit the trainable distribution ``q`` to ``target`` by minimising a KL divergence.

    .. math::

       \text{reverse: } \min_\theta D_{\mathrm{KL}}(q_\theta \,\|\, p), \qquad
       \text{forward: } \min_\theta D_{\mathrm{KL}}(p \,\|\, q_\theta)

    The objective is TFP's analytic KL where one is registered for the pair, and
    otherwise a Monte Carlo estimate with ``num_samples`` fresh draws per step:
    reparameterised draws from ``q`` (reverse) or draws from ``p`` (forward). When
    ``target`` is an array of samples, the forward objective is their negative mean
    log-likelihood under ``q``, which differs from KL(p̂‖q) only by a constant:
    maximum likelihood *is* forward-KL fitting (chapter 3).

    The variables of ``q`` are updated in place, so after the call ``q`` is the
    fitted distribution. Equal arguments give equal traces (stateless per-step seeds
    and a freshly reset optimiser on every call).

    Args:
      q: ``tfd.Distribution`` whose parameters are ``tf.Variable`` or
        ``tfp.util.TransformedVariable`` (for example a scale through ``tfb.Exp()``).
      target: the ``tfd.Distribution`` p, or (forward only) an array of samples from
        it with ``q``'s event shape.
      divergence: ``"reverse"`` for KL(q‖p) or ``"forward"`` for KL(p‖q).
      num_steps: positive ``int``, optimiser steps.
      learning_rate: positive float.
      seed: non-negative ``int`` for the Monte Carlo draws.
      num_samples: positive ``int``, draws per step for a Monte Carlo objective.
      optimizer: ``"adam"`` (default) or ``"sgd"``, tf-keras optimisers.

    Returns:
      `FitTrace` with the loss and every trainable parameter at each step.

    Raises:
      TypeError: if ``q`` is not a distribution, ``target`` is neither a distribution
        nor numeric, or a count is not an ``int``.
      ValueError: if ``q`` has no trainable variables, ``divergence`` or ``optimizer``
        is unknown, samples are given with ``divergence="reverse"``, a count or the
        learning rate is not positive, or a Monte Carlo reverse KL is asked of a
        ``q`` that is not reparameterised.

    Examples:
      >>> import tensorflow as tf, tensorflow_probability as tfp
      >>> tfd, tfb = tfp.distributions, tfp.bijectors
      >>> q = tfd.Normal(tf.Variable(-1.0), tfp.util.TransformedVariable(1.0, tfb.Exp()))
      >>> trace = fit(q, tfd.Normal(1.0, 4.0), num_steps=500, learning_rate=0.01)
      >>> trace.loss.shape, trace.method
      ((501,), 'analytic')
    """
    if not isinstance(q, tfd.Distribution):
        raise TypeError(f"`q` must be a tfd.Distribution; got {type(q).__name__}")
    _validate.one_of(divergence, "divergence", DIVERGENCES)
    _validate.one_of(optimizer, "optimizer", OPTIMIZERS)
    num_steps = _validate.positive_int(num_steps, "num_steps")
    num_samples = _validate.positive_int(num_samples, "num_samples")
    learning_rate = _validate.positive_float(learning_rate, "learning_rate")
    stateless_seed = _validate.stateless_seed(seed)
    parameters = trainable_parameters(q)
    if not q.trainable_variables or not parameters:
        raise ValueError(
            "`q` must have trainable parameters (tf.Variable or tfp.util.TransformedVariable); "
            f"got {type(q).__name__} with none"
        )
    if isinstance(target, tfd.Distribution):
        target_key = id(target)
    else:
        if divergence == "reverse":
            raise ValueError(
                "`target` must be a distribution for divergence='reverse' (KL(q‖p) needs "
                "p's density); samples only define the forward KL"
            )
        target = _validate.as_float_array(target, "target")
        target_key = (target.shape, target.tobytes())

    key = (target_key, divergence, num_samples, optimizer)
    cache = _COMPILED.setdefault(q, {})
    if key not in cache:
        loss, method = _loss_fn(q, target, divergence, num_samples)
        opt = OPTIMIZERS[optimizer](learning_rate=learning_rate)
        opt.build(q.trainable_variables)
        # Keep `target` alive with the graph: the key holds only its id.
        cache[key] = (_compile(q, loss, opt, parameters), opt, method, list(parameters), target)
    run, opt, method, names, _ = cache[key]
    opt.learning_rate = learning_rate
    losses, traces = run(tf.constant(num_steps), stateless_seed)
    params = {name: np.asarray(trace, dtype=np.float64) for name, trace in zip(names, traces)}
    return FitTrace(np.asarray(losses, dtype=np.float64), params, method)
