"""Checks at the public boundary: each names the argument, what was expected, what came."""

import numbers

import numpy as np


def _brief(values, limit=6):
    flat = np.asarray(values).ravel()
    shown = np.array2string(flat[:limit], precision=4, separator=", ")
    return shown if flat.size <= limit else shown[:-1] + ", ...]"


def as_float_array(value, name):
    """`value` as a float64 array; raise naming `name` if it is not numeric or not finite."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"`{name}` must be numeric; got {type(value).__name__}")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"`{name}` must be numeric array-like; got {type(value).__name__}"
        ) from error
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` must be finite; got {_brief(array)}")
    return array


def positive(value, name):
    array = as_float_array(value, name)
    if np.any(array <= 0):
        raise ValueError(f"`{name}` must be positive; got {_brief(array)}")
    return array


def probability_vectors(value, name, axis, atol=1e-6):
    array = as_float_array(value, name)
    if array.ndim == 0:
        raise ValueError(f"`{name}` must have at least one axis of probabilities; got a scalar")
    if np.any(array < 0):
        raise ValueError(f"`{name}` must be non-negative; got {_brief(array)}")
    sums = array.sum(axis=axis)
    if np.any(np.abs(sums - 1.0) > atol):
        raise ValueError(f"`{name}` must sum to 1 along axis {axis}; got sums {_brief(sums)}")
    return array


def positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int; got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"`{name}` must be positive; got {value}")
    return int(value)


def positive_float(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a number; got {type(value).__name__}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be positive and finite; got {value}")
    return float(value)


def seed(value, name="seed"):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int; got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"`{name}` must be non-negative; got {value}")
    return int(value)


def stateless_seed(value, name="seed"):
    """A TensorFlow stateless seed (shape [2], int32) made from a non-negative int.

    Built directly rather than with ``tfp.random.sanitize_seed(int)``, which draws the
    pair with a stateful op and so gives different draws for the same int on each call.
    """
    import tensorflow as tf

    value = seed(value, name)
    return tf.constant([value % 2**31, (value // 2**31) % 2**31], dtype=tf.int32)


def one_of(value, name, choices):
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {sorted(choices)}; got {value!r}")
    return value


def has_log_prob(value, name):
    if not callable(getattr(value, "log_prob", None)):
        raise TypeError(
            f"`{name}` must be a distribution with a `log_prob` method; got {type(value).__name__}"
        )
    return value
