"""Quiet, reproducible TensorFlow: imported first by `klcourse`.

TensorFlow's C++ layer writes to stderr while it loads (CUDA probes, oneDNN notices)
and reads ``TF_CPP_MIN_LOG_LEVEL`` from the environment the process *started* with,
so setting it from Python is not enough inside a Jupyter kernel. This module sets the
variable and also points file descriptor 2 at ``/dev/null`` for the duration of the
import only, which silences the load-time messages in JupyterLab, Colab and nbval
alike. Errors raised afterwards still reach stderr.

``KLCOURSE_DEVICE=cpu`` hides every GPU from TensorFlow; by default a GPU is used when
one is present (TensorFlow's own placement).
"""

import contextlib
import logging
import os
import random
import sys
import warnings

__all__ = ["seed_everything", "stateless_seed", "describe", "device_name"]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if os.environ.get("KLCOURSE_DEVICE", "").lower() == "cpu":
    os.environ["CUDA_VISIBLE_DEVICES"] = "-1"


@contextlib.contextmanager
def _stderr_silenced():
    """Send the process's fd 2 to /dev/null for the duration of the block."""
    try:
        saved = os.dup(2)
    except OSError:  # no real fd 2 (some embedded interpreters): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


if "tensorflow" in sys.modules:
    # TensorFlow's C++ logger reads its level when TensorFlow loads; too late now.
    warnings.warn(
        "import klcourse before tensorflow: TensorFlow was loaded first, so its log "
        "messages cannot be silenced in this session",
        stacklevel=2,
    )

with _stderr_silenced(), warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import numpy as np
    import tensorflow as tf
    import tensorflow_probability as tfp  # noqa: F401  (loaded here, silently)

tf.get_logger().setLevel(logging.ERROR)
logging.getLogger("absl").setLevel(logging.ERROR)
# TFP warns about stateless sampling inside vectorised code; the course seeds on purpose.
warnings.filterwarnings("ignore", module=r"tensorflow_probability\..*")


def seed_everything(seed=0):
    """Seed Python, NumPy and TensorFlow and make TensorFlow ops deterministic.

    Call once at the top of a notebook: reruns then give the same numbers on the same
    machine, which is what nbval checks.

    Args:
      seed: non-negative Python ``int``.

    Returns:
      A ``numpy.random.Generator`` seeded with ``seed``, for NumPy sampling.

    Raises:
      TypeError: if ``seed`` is not an ``int``.
      ValueError: if ``seed`` is negative.

    Examples:
      >>> first = seed_everything(0).normal()
      >>> first == seed_everything(0).normal()
      True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"`seed` must be an int; got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"`seed` must be non-negative; got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    tf.config.experimental.enable_op_determinism()
    return np.random.default_rng(seed)


def stateless_seed(seed):
    """A TensorFlow stateless seed for ``sample(..., seed=...)``: same int, same draws.

    Args:
      seed: non-negative ``int``.

    Returns:
      ``tf.Tensor`` of shape ``[2]``, dtype int32.

    Raises:
      TypeError: if ``seed`` is not an ``int``.
      ValueError: if ``seed`` is negative.

    Examples:
      >>> stateless_seed(7).numpy().tolist()
      [7, 0]
    """
    from klcourse import _validate

    return _validate.stateless_seed(seed)


def device_name():
    """Name of the device TensorFlow places ops on.

    Returns:
      ``"CPU"``, or ``"GPU (<name>)"`` for the first GPU TensorFlow sees (none when
      ``KLCOURSE_DEVICE=cpu``).

    Examples:
      >>> device_name() == "CPU" or device_name().startswith("GPU (")
      True
    """
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    details = tf.config.experimental.get_device_details(gpus[0])
    return f"GPU ({details.get('device_name', gpus[0].name)})"


def describe():
    """One line saying which versions run and on which device.

    Returns:
      A ``str`` such as ``"TensorFlow 2.21.0, TFP 0.25.0 on CPU"``.

    Examples:
      >>> describe().startswith("TensorFlow ")
      True
    """
    return f"TensorFlow {tf.__version__}, TFP {tfp.__version__} on {device_name()}"
