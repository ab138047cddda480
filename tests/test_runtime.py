"""klcourse.runtime: a quiet import, seeding, device report."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import klcourse as kc


@pytest.mark.slow  # tiers: seconds of work; `make unit` skips it
def test_import_is_silent_and_cpu_can_be_forced():
    # The fast tier's one fresh interpreter: a quiet import with KLCOURSE_DEVICE=cpu.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    result = subprocess.run(
        [sys.executable, "-c", "import klcourse as kc; print(kc.runtime.device_name())"],
        capture_output=True,
        text=True,
        env=dict(env, KLCOURSE_DEVICE="cpu"),
        check=True,
    )
    assert result.stderr == "" and result.stdout.strip() == "CPU"


@pytest.mark.slow
def test_import_writes_nothing_to_stderr():
    # Regression: TF's C++ logger ignores TF_CPP_MIN_LOG_LEVEL set after start-up;
    # nbval fails on any stderr output in a notebook.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    result = subprocess.run(
        [sys.executable, "-c", "import klcourse as kc; kc.seed_everything(0)"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert result.stderr == ""


def test_seed_everything_reproduces_draws():
    rng = kc.seed_everything(3)
    first = (rng.normal(), np.random.rand(), float(tf.random.normal([])))
    rng = kc.seed_everything(3)
    assert (rng.normal(), np.random.rand(), float(tf.random.normal([]))) == first


def test_seed_everything_validates():
    with pytest.raises(TypeError, match="`seed` must be an int"):
        kc.seed_everything(1.5)
    with pytest.raises(ValueError, match="`seed` must be non-negative"):
        kc.seed_everything(-1)


def test_describe_names_versions_and_device():
    line = kc.describe()
    assert tf.__version__ in line and ("CPU" in line or "GPU" in line)


@pytest.mark.slow
def test_cpu_can_be_forced():
    env = dict(os.environ, KLCOURSE_DEVICE="cpu")
    out = subprocess.run(
        [sys.executable, "-c", "import klcourse as kc; print(kc.runtime.device_name())"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert out.stdout.strip() == "CPU"


def test_stateless_seed_gives_equal_draws():
    import tensorflow_probability as tfp

    normal = tfp.distributions.Normal(0.0, 1.0)
    first = normal.sample(3, seed=kc.stateless_seed(7)).numpy()
    np.testing.assert_array_equal(first, normal.sample(3, seed=kc.stateless_seed(7)).numpy())
    assert not np.array_equal(first, normal.sample(3, seed=kc.stateless_seed(8)).numpy())
    with pytest.raises(ValueError, match="`seed` must be non-negative"):
        kc.stateless_seed(-3)


@pytest.mark.slow
def test_warns_when_tensorflow_came_first():
    code = "import tensorflow, warnings; warnings.simplefilter('always'); import klcourse"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert "import klcourse before tensorflow" in result.stderr
