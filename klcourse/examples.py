"""The course's running examples, defined once.

Chapters may spell these out for the reader; checkers, tests and benchmarks take them
from here, so the code that grades or measures an example uses one definition of it.

- `tutorial_mixture`: chapter 4's target, ½ N(−0.2, 0.1²) + ½ N(1, 0.5²), from the
  "Understanding KL-Divergence" tutorial (its second parameters are standard deviations).
- `bimodal_target`: chapter 3's target, 0.6 N(−3, 0.6²) + 0.4 N(3, 0.6²).
- `TUTORIAL_2D_COV`: the correlated 2-D Gaussian of the TFP notes and the KL tutorial,
  Σ = [[1, 0.5], [0.5, 2]] (chapters 2 and 3).
"""

import numpy as np

__all__ = ["tutorial_mixture", "bimodal_target", "TUTORIAL_2D_COV"]

TUTORIAL_2D_COV = np.array([[1.0, 0.5], [0.5, 2.0]])


def tutorial_mixture(dtype=np.float64):
    """Chapter 4's target ½ N(−0.2, 0.1²) + ½ N(1, 0.5²) as a TFP mixture.

    Args:
      dtype: NumPy float dtype of its parameters (default float64, for quadrature).

    Returns:
      ``tfd.MixtureSameFamily`` of two Normals.

    Examples:
      >>> float(tutorial_mixture().mean())
      0.4
    """
    import tensorflow_probability as tfp

    tfd = tfp.distributions
    return tfd.MixtureSameFamily(
        tfd.Categorical(probs=np.array([0.5, 0.5], dtype)),
        tfd.Normal(np.array([-0.2, 1.0], dtype), np.array([0.1, 0.5], dtype)),
        validate_args=True,
    )


def bimodal_target(dtype=np.float32):
    """Chapter 3's target 0.6 N(−3, 0.6²) + 0.4 N(3, 0.6²) as a TFP mixture.

    Args:
      dtype: NumPy float dtype of its parameters (default float32, as `kc.fit` trains).

    Returns:
      ``tfd.MixtureSameFamily`` of two Normals.

    Examples:
      >>> round(float(bimodal_target().mean()), 6)
      -0.6
    """
    import tensorflow_probability as tfp

    tfd = tfp.distributions
    return tfd.MixtureSameFamily(
        tfd.Categorical(probs=np.array([0.6, 0.4], dtype)),
        tfd.Normal(np.array([-3.0, 3.0], dtype), np.array([0.6, 0.6], dtype)),
        validate_args=True,
    )
