"""klcourse: the helper package of the executable course on Kullback-Leibler divergence.

Import as ``import klcourse as kc``. Importing it first silences TensorFlow's start-up
noise (`runtime`). The public API:

Divergences (`klcourse.divergence`), all KL(p‖q) with p first:
  kl_discrete      probability vectors, exact (``base=2`` for bits)
  kl_normal        univariate Normals, closed form
  kl_mvn           multivariate Normals, closed form via Cholesky factors
  kl_quadrature    1-D continuous distributions, adaptive quadrature
  expectation_quadrature   E_p[f(x)] by the same quadrature
  estimator_moments        exact mean and spread of the k1/k2/k3 estimators
  kl_monte_carlo   any distributions, Monte Carlo (k1, k2, k3) with standard error
  kl               analytic if TFP has it, else quadrature or Monte Carlo

Fitting (`klcourse.fitting`):
  fit              minimise KL(q‖p) or KL(p‖q) in one compiled loop; returns a FitTrace

Modules:
  plot             densities, contours and fit animations (HTML or GIF)
  runtime          seed_everything, stateless_seed, describe; quiet TensorFlow;
                   KLCOURSE_DEVICE=cpu
  fgan             reverse KL from samples: a small f-GAN (chapter 3)
  gradients        score-function and reparameterised gradients of KL (chapter 4)
  vi               exact posterior, evidence and ELBO of Bayesian linear regression (chapter 5)
  check            kc.check.exercise(id, answer): instant feedback on exercises
  exercises        the checkers, one module per chapter (registered on import)
  hints            close(answer, expected): hints that never reveal the answer
  examples         the running examples (tutorial mixture, bimodal target, 2-D Σ)
  glue             numbers from code into the prose (myst-nb glue; works without it),
                   floats stored at the precision the course claims for them
  precision        the precision rule: outputs compared at the digits they show
  nbval_plugin     makes nbval use that rule (loaded by the repository's conftest.py)
"""

# isort: off
from klcourse import runtime  # first: silences TensorFlow before anything imports it

# isort: on
from klcourse import (
    check,
    examples,
    exercises,  # noqa: F401  (registers every checker with `check`)
    fgan,
    fitting,
    gradients,
    hints,
    plot,
    precision,
    vi,
)
from klcourse.divergence import (
    ESTIMATORS,
    Estimate,
    KLResult,
    estimator_moments,
    expectation_quadrature,
    kl,
    kl_discrete,
    kl_monte_carlo,
    kl_mvn,
    kl_normal,
    kl_quadrature,
)
from klcourse.fitting import FitTrace, fit, trainable_parameters
from klcourse.notebook import glue, setup_figures
from klcourse.runtime import describe, seed_everything, stateless_seed

__version__ = "0.1.0"

__all__ = [
    "kl_discrete",
    "kl_normal",
    "kl_mvn",
    "kl_quadrature",
    "expectation_quadrature",
    "estimator_moments",
    "kl_monte_carlo",
    "kl",
    "Estimate",
    "KLResult",
    "ESTIMATORS",
    "fit",
    "FitTrace",
    "trainable_parameters",
    "plot",
    "check",
    "examples",
    "hints",
    "precision",
    "fitting",
    "fgan",
    "gradients",
    "vi",
    "runtime",
    "seed_everything",
    "stateless_seed",
    "describe",
    "glue",
    "setup_figures",
]
