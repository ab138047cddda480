"""Chapter 5 (the ELBO and variational inference): checkers for its code exercises."""

import math

import numpy as np

from klcourse import vi
from klcourse.check import register
from klcourse.divergence import kl_mvn
from klcourse.exercises.ch4_monte_carlo import _forbidden
from klcourse.hints import close

EX5_X = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
EX5_Y = np.array([-1.2, -0.1, 0.4, 1.6, 2.3])
EX5_DESIGN = np.stack([np.ones_like(EX5_X), EX5_X], axis=1)
EX5_Q_MEAN = np.array([0.5, 0.8])
EX5_Q_VAR = np.array([0.05, 0.02])
EX5_EPS_SEED = 1
EX5_NUM_DRAWS = 20_000
VI_FUNCTIONS = ["linear_gaussian_posterior", "linear_gaussian_elbo", "cavi_linear_gaussian"]
SHORTCUT = "your function calls kc.vi; the exercise asks you to write it with NumPy."


def _design(x):
    return np.stack([np.ones_like(x), x], axis=1)


def _run_without_kc_vi(fn, *args):
    """``(result, None)``, or ``(None, hint)`` if ``fn`` raises or calls into `klcourse.vi`."""
    with _forbidden(vi, VI_FUNCTIONS, SHORTCUT) as shortcut:
        try:
            return fn(*args), None
        except shortcut:
            return None, SHORTCUT
        except Exception as error:  # a student's function may raise anything
            return None, f"calling your function raised {type(error).__name__}: {error}"


# ---------------------------------------------------------------- ch5-posterior-mean
POSTERIOR_CASES = [
    (EX5_X, EX5_Y, 0.5),
    (np.array([0.0, 1.0, 3.0, 4.0]), np.array([0.3, 1.1, 2.2, 3.9]), 2.0),
]


def _mean(x, y, noise, prior_precision=1.0):
    design = _design(x)
    precision = prior_precision * np.eye(2) + design.T @ design / noise**2
    return np.linalg.solve(precision, design.T @ y / noise**2)


@register("ch5-posterior-mean", chapter=5, topic="exact Bayesian linear regression", points=1)
def _posterior_mean(answer):
    if not callable(answer):
        return "store your function `posterior_mean` in `answer`, not its value."
    for x, y, noise in POSTERIOR_CASES:
        result, hint = _run_without_kc_vi(answer, x.copy(), y.copy(), noise)
        if hint:
            return hint
        if np.shape(result) != (2,):
            return "return the two posterior means, (intercept, slope)."
        expected = vi.linear_gaussian_posterior(_design(x), y, noise_scale=noise).mean
        if np.allclose(result, expected, rtol=1e-8, atol=1e-10):
            continue
        if np.allclose(result, _mean(x, y, 1.0), rtol=1e-8):
            return "your function ignores `noise_scale` (it uses noise 1)."
        if np.allclose(result, _mean(x, y, math.sqrt(noise)), rtol=1e-8):
            return "divide by the noise *variance* σ², not the standard deviation σ."
        least_squares = np.linalg.lstsq(_design(x), y, rcond=None)[0]
        if np.allclose(result, least_squares, rtol=1e-8):
            return "that is least squares: the prior adds the identity to the precision."
        return close(result, expected, rtol=1e-8, what="your posterior mean")
    return None


# ---------------------------------------------------------------- ch5-elbo-gap
def _log_normal(x, loc, scale):
    return -0.5 * ((x - loc) / scale) ** 2 - np.log(scale) - 0.5 * math.log(2 * math.pi)


def _monte_carlo_gap(q_var=EX5_Q_VAR, *, with_prior=True, with_entropy=True):
    eps = np.random.default_rng(EX5_EPS_SEED).standard_normal((EX5_NUM_DRAWS, 2))
    theta = EX5_Q_MEAN + np.sqrt(q_var) * eps
    terms = _log_normal(EX5_Y, theta @ EX5_DESIGN.T, 0.5).sum(axis=1)
    if with_prior:
        terms = terms + _log_normal(theta, 0.0, 1.0).sum(axis=1)
    if with_entropy:
        terms = terms - _log_normal(theta, EX5_Q_MEAN, np.sqrt(q_var)).sum(axis=1)
    log_evidence = vi.linear_gaussian_posterior(EX5_DESIGN, EX5_Y, noise_scale=0.5).log_evidence
    return log_evidence - terms.mean()


@register("ch5-elbo-gap", chapter=5, topic="the ELBO gap, by Monte Carlo", points=2)
def _elbo_gap(answer):
    if np.ndim(answer) != 0:
        return "give one number, log p(y) minus your ELBO estimate."
    answer = float(answer)
    expected = _monte_carlo_gap()
    if math.isclose(answer, expected, rel_tol=1e-6):
        return None
    posterior = vi.linear_gaussian_posterior(EX5_DESIGN, EX5_Y, noise_scale=0.5)
    exact_kl = kl_mvn(EX5_Q_MEAN, np.diag(EX5_Q_VAR), posterior.mean, posterior.cov)
    if math.isclose(answer, exact_kl, rel_tol=1e-6):
        return (
            "that is the exact KL (kc.kl_mvn or the closed-form ELBO), which bypasses the "
            "ELBO estimate; the exercise asks for the Monte Carlo estimate from the given draws."
        )
    if math.isclose(answer, posterior.log_evidence - expected, rel_tol=1e-6):
        return "that is the ELBO estimate itself; the exercise asks for log p(y) minus it."
    if math.isclose(answer, _monte_carlo_gap(EX5_Q_VAR**2), rel_tol=1e-6):
        return "the diagonal holds variances: scale the draws by their square roots."
    if math.isclose(answer, _monte_carlo_gap(with_entropy=False), rel_tol=1e-6):
        return "your ELBO misses the -log q(θ) term (the entropy of q)."
    if math.isclose(answer, _monte_carlo_gap(with_prior=False), rel_tol=1e-6):
        return "your ELBO misses the log prior, log p(θ)."
    return close(answer, expected, rtol=1e-6, what="your gap")


# ---------------------------------------------------------------- ch5-noise-mean-field
QUADRATIC_X = np.linspace(0.0, 2.0, 21)


def quadratic_design(x=QUADRATIC_X):
    """Design rows (1, x, x²) of the quadratic model in chapter 5's exercises."""
    return np.stack([np.ones_like(x), x, x**2], axis=1)


def mean_field_error(noise_scale, *, direction="reverse"):
    """Best diagonal-Gaussian KL to the quadratic model's posterior (y does not matter).

    ``reverse``: min KL(q‖p), at the conditional variances; ``forward``: min KL(p‖q), at
    the marginal variances (the two differ in three dimensions).
    """
    design = quadratic_design()
    cov = vi.linear_gaussian_posterior(design, np.zeros(len(design)), noise_scale=noise_scale).cov
    zeros = np.zeros(len(cov))
    if direction == "reverse":
        return kl_mvn(zeros, vi.mean_field_optimum(cov), zeros, cov)
    if direction == "forward":
        return kl_mvn(zeros, cov, zeros, np.diag(np.diag(cov)))
    # the reverse optimum, scored in the wrong direction
    return kl_mvn(zeros, cov, zeros, vi.mean_field_optimum(cov))


@register("ch5-noise-mean-field", chapter=5, topic="when mean-field fails", points=2)
def _noise_mean_field(answer):
    if np.shape(answer) != (2,):
        return "give two values, [kl_noise_1, kl_noise_3]."
    answer = np.asarray(answer, dtype=np.float64)
    expected = np.array([mean_field_error(1.0), mean_field_error(3.0)])
    if close(answer, expected, rtol=1e-6) is None:
        return None
    if close(answer[::-1], expected, rtol=1e-6) is None:
        return "the two values are swapped: noise 1 first, then noise 3."
    forward = [mean_field_error(s, direction="forward") for s in (1.0, 3.0)]
    if close(answer, forward, rtol=1e-6) is None:
        return (
            "those are the forward-KL optima (q with the marginal variances, scored by "
            "KL(p‖q)); mean-field VI minimises the reverse KL(q‖p)."
        )
    wrong_way = [mean_field_error(s, direction="wrong") for s in (1.0, 3.0)]
    if close(answer, wrong_way, rtol=1e-6) is None:
        return "you scored the mean-field optimum with KL(p‖q); VI's objective is KL(q‖p)."
    return close(answer, expected, rtol=1e-6, what="your pair of KL values")


# ---------------------------------------------------------------- ch5-cavi
def _cavi(design, y, noise, sweeps, order=None, jacobi=False):
    precision = np.eye(design.shape[1]) + design.T @ design / noise**2
    shift = design.T @ y / noise**2
    means = np.zeros(design.shape[1])
    order = range(len(means)) if order is None else order
    for _ in range(sweeps):
        old = means.copy()
        for j in order:
            source = old if jacobi else means
            others = precision[j] @ source - precision[j, j] * source[j]
            means[j] = (shift[j] - others) / precision[j, j]
    return means


def _cavi_cases():
    x = np.linspace(0.0, 2.0, 21)
    design = quadratic_design(x)
    y = 1 + 0.5 * x - 0.3 * x**2
    y_noisy = y + 0.3 * np.random.default_rng(3).standard_normal(len(x))
    return [(design, y, 1.0, 2), (design, y_noisy, 0.7, 3)]


@register("ch5-cavi", chapter=5, topic="coordinate-ascent VI, implemented", points=2)
def _cavi_check(answer):
    if not callable(answer):
        return "store your function `cavi_means` in `answer`, not its value."
    for design, y, noise, sweeps in _cavi_cases():
        result, hint = _run_without_kc_vi(answer, design.copy(), y.copy(), noise, sweeps)
        if hint:
            return hint
        if np.shape(result) != (design.shape[1],):
            return f"return one mean per weight, shape ({design.shape[1]},)."
        expected = _cavi(design, y, noise, sweeps)
        if np.allclose(result, expected, rtol=1e-8, atol=1e-10):
            continue
        exact = np.linalg.solve(
            np.eye(design.shape[1]) + design.T @ design / noise**2, design.T @ y / noise**2
        )
        if np.allclose(result, exact, rtol=1e-6):
            return "that is the converged mean; return the means after `num_sweeps` sweeps."
        if np.allclose(result, _cavi(design, y, noise, sweeps, jacobi=True), rtol=1e-8):
            return "you update all means at once from the old values; use each new value at once."
        reverse = range(design.shape[1] - 1, -1, -1)
        if np.allclose(result, _cavi(design, y, noise, sweeps, order=reverse), rtol=1e-8):
            return "update the coordinates in order m0, m1, m2, ..."
        if np.allclose(result, _cavi(design, y, 1.0, sweeps), rtol=1e-8):
            return "your function ignores `noise_scale`."
        return close(result, expected, rtol=1e-8, what="your means")
    return None
