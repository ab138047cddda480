r"""Fit a trainable distribution to a target by minimising a KL divergence.

``fit`` runs the whole optimisation as one compiled TensorFlow loop
(``tf.function`` around a ``tf.while_loop``): a Python loop of eager steps spends most
of its time in per-step overhead (Keras's ``apply_gradients`` above all), and wrapping
only one step in ``tf.function`` does not remove it.

The compiled loop is cached per *structure*: the family of ``q`` and the shapes,
dtypes and bijectors of its parameters (and the values of its constant ones), the
target, the divergence, the number of draws and the optimiser. It runs on a private
copy of ``q`` whose variables receive ``q``'s values before the loop and hand the
results back after it, so a fresh ``q`` of a structure already seen runs at once,
without tracing again. The optimiser's state is reset at the start of every call, so
each call is a fresh, reproducible fit.
"""

import collections
from typing import NamedTuple

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from klcourse import _validate
from klcourse.divergence import _terms_from_log_ratio

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

    These are what `fit` records at every step, in ``q``'s own (constrained)
    parametrisation: a scale held by ``TransformedVariable(1.0, tfb.Exp())`` is traced
    as the scale, not its logarithm. Introduced in chapter 3.

    Args:
      q: a ``tfd.Distribution`` built with ``tf.Variable`` or
        ``tfp.util.TransformedVariable`` parameters. Parameters of component
        distributions (a mixture's ``components_distribution``, say) are found too.
      prefix: used in recursion; nested names read ``"components_distribution.loc"``.

    Returns:
      ``dict`` from parameter name to the variable-backed value, in constructor order;
      empty when nothing in ``q`` is trainable.

    Raises:
      AttributeError: if ``q`` has no ``parameters`` (is not a TFP distribution).

    Examples:
      >>> import tensorflow as tf, tensorflow_probability as tfp
      >>> tfd, tfb = tfp.distributions, tfp.bijectors
      >>> q = tfd.Normal(tf.Variable(0.0), tfp.util.TransformedVariable(1.0, tfb.Exp()))
      >>> list(trainable_parameters(q))
      ['loc', 'scale']
      >>> list(trainable_parameters(tfd.Normal(0.0, 1.0)))
      []
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
            # KL(q‖p) = E_q[k1] with log r = log p - log q (`kl_monte_carlo`'s k1).
            x = q.sample(num_samples, seed=seed)
            return tf.reduce_mean(_terms_from_log_ratio(target.log_prob(x) - q.log_prob(x), "k1"))

        return reverse, "monte_carlo"

    def forward(seed):
        # KL(p‖q) = E_p[k1] with log r = log q - log p.
        x = tf.stop_gradient(target.sample(num_samples, seed=seed))
        return tf.reduce_mean(_terms_from_log_ratio(q.log_prob(x) - target.log_prob(x), "k1"))

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
            traces = [trace.write(i, x) for trace, x in zip(traces, snapshot, strict=True)]
            optimizer.apply_gradients(zip(gradients, variables, strict=True))
            return i + 1, losses, traces

        _, losses, traces = tf.while_loop(
            lambda i, *_: i < num_steps, step, (tf.constant(0), losses, traces)
        )
        final = loss(tf.random.experimental.stateless_fold_in(seed, num_steps))
        losses = losses.write(num_steps, final)
        last = read_parameters()
        traces = [trace.write(num_steps, x) for trace, x in zip(traces, last, strict=True)]
        return losses.stack(), [trace.stack() for trace in traces]

    return run


class _Compiled(NamedTuple):
    """One compiled fit: the loop, its optimiser, and the private copy of q it trains."""

    run: object
    optimizer: object
    method: str
    names: list
    variables: list  # the private copy's variables, in `_variables` order
    target: object  # kept alive: a structure key may hold only its id


# structure key -> _Compiled, least recently used first.
_COMPILED = collections.OrderedDict()
_MAX_COMPILED = 64


def _variables(value):
    """Every ``tf.Variable`` inside ``value`` (a distribution), in a fixed order."""
    if isinstance(value, tfd.Distribution):
        return [v for item in value.parameters.values() for v in _variables(item)]
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _variables(item)]
    if isinstance(value, tfp.util.DeferredTensor):
        return _variables(value.pretransformed_input)
    if isinstance(value, tf.Variable):
        return [value]
    return []


def _copy(value):
    """``value`` (a distribution) rebuilt with fresh variables of the same shapes.

    The fresh variables' values do not matter: `fit` assigns q's before every run.
    """
    if isinstance(value, tfd.Distribution):
        return value.copy(**{name: _copy(item) for name, item in value.parameters.items()})
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(item) for item in value)
    if isinstance(value, tfp.util.DeferredTensor):
        inner = value.pretransformed_input
        if not isinstance(inner, tf.Variable):
            return value
        fresh = tf.Variable(inner, trainable=inner.trainable, dtype=inner.dtype)
        return tfp.util.DeferredTensor(
            fresh, _transform(value), dtype=value.dtype, shape=value.shape, name=value.name
        )
    if isinstance(value, tf.Variable):
        return tf.Variable(value, trainable=value.trainable, dtype=value.dtype)
    return value


def _transform(deferred):
    """A deferred tensor's map: a TransformedVariable's bijector, else its function."""
    if isinstance(deferred, tfp.util.TransformedVariable):
        return deferred.bijector.forward
    return deferred.transform_fn


def _structure(value):
    """A hashable description of what a compiled loop bakes in about ``value``.

    Variables contribute their shape and dtype (their values are fed in); everything
    else (constants, bijectors, flags) contributes its value. Something with no
    value-based description (a function) contributes its identity.
    """
    if isinstance(value, (tfd.Distribution, tfp.bijectors.Bijector)):
        items = tuple((name, _structure(item)) for name, item in value.parameters.items())
        return (type(value).__qualname__, items)
    if isinstance(value, tfp.util.DeferredTensor):
        transform = _transform(value)
        if isinstance(value, tfp.util.TransformedVariable):
            transform = value.bijector  # its transform_fn is a new closure per variable
        return ("deferred", _structure(value.pretransformed_input), _structure(transform))
    if isinstance(value, tf.Variable):
        return ("variable", tuple(value.shape), value.dtype.name, value.trainable)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_structure(item) for item in value))
    if isinstance(value, dict):
        return ("dict", tuple((k, _structure(v)) for k, v in value.items()))
    if value is None or isinstance(value, (bool, int, float, str)):
        return (type(value).__name__, value)
    if isinstance(value, tf.dtypes.DType):
        return ("dtype", value.name)
    if isinstance(value, (np.ndarray, np.generic, tf.Tensor)):
        array = np.asarray(value)
        return ("constant", array.dtype.str, array.shape, array.tobytes())
    return ("object", id(value))


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
        # A target without variables is a constant: equal ones share a compiled loop.
        target_key = ("id", id(target)) if _variables(target) else _structure(target)
    else:
        if divergence == "reverse":
            raise ValueError(
                "`target` must be a distribution for divergence='reverse' (KL(q‖p) needs "
                "p's density); samples only define the forward KL"
            )
        target = _validate.as_float_array(target, "target")
        target_key = ("samples", target.shape, target.tobytes())

    key = (_structure(q), target_key, divergence, num_samples, optimizer)
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = _compile_structure(q, target, divergence, num_samples, optimizer)
        _COMPILED[key] = compiled
        while len(_COMPILED) > _MAX_COMPILED:
            _COMPILED.popitem(last=False)
    _COMPILED.move_to_end(key)
    own = _variables(q)
    for mine, theirs in zip(compiled.variables, own, strict=True):
        mine.assign(theirs)
    compiled.optimizer.learning_rate = learning_rate
    losses, traces = compiled.run(tf.constant(num_steps), stateless_seed)
    for mine, theirs in zip(compiled.variables, own, strict=True):
        theirs.assign(mine)
    params = {
        name: np.asarray(trace, dtype=np.float64)
        for name, trace in zip(compiled.names, traces, strict=True)
    }
    return FitTrace(np.asarray(losses, dtype=np.float64), params, compiled.method)


def _compile_structure(q, target, divergence, num_samples, optimizer):
    """Trace the loop once for q's structure, on a private copy of q."""
    private = _copy(q)
    loss, method = _loss_fn(private, target, divergence, num_samples)
    opt = OPTIMIZERS[optimizer](learning_rate=0.001)  # set before every run
    opt.build(private.trainable_variables)
    parameters = trainable_parameters(private)
    run = _compile(private, loss, opt, parameters)
    return _Compiled(run, opt, method, list(parameters), _variables(private), target)
