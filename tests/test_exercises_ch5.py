"""Chapter 5's checkers: the right answer passes; each named mistake and shortcut gets its hint."""

import numpy as np
import scipy.stats

import klcourse as kc
from klcourse.exercises import ch5_elbo as ch5


def verdict(id, answer):
    return kc.check._REGISTRY[id].checker(answer)


def design(x):
    return np.stack([np.ones_like(x), x], axis=1)


# ---------------------------------------------------------------- ch5-posterior-mean
def right_mean(x, y, noise_scale):
    X = design(np.asarray(x, dtype=float))
    return np.linalg.solve(np.eye(2) + X.T @ X / noise_scale**2, X.T @ y / noise_scale**2)


def test_posterior_mean_right_answer_and_mistakes():
    assert verdict("ch5-posterior-mean", right_mean) is None
    assert "ignores" in verdict("ch5-posterior-mean", lambda x, y, s: right_mean(x, y, 1.0))
    assert "variance" in verdict("ch5-posterior-mean", lambda x, y, s: right_mean(x, y, np.sqrt(s)))
    assert "least squares" in verdict(
        "ch5-posterior-mean", lambda x, y, s: np.linalg.lstsq(design(x), y, rcond=None)[0]
    )
    assert "not its value" in verdict("ch5-posterior-mean", right_mean(ch5.EX5_X, ch5.EX5_Y, 0.5))


def test_posterior_mean_rejects_the_kc_vi_shortcut():
    def shortcut(x, y, s):
        return kc.vi.linear_gaussian_posterior(design(x), y, noise_scale=s).mean

    assert "kc.vi" in verdict("ch5-posterior-mean", shortcut)
    assert callable(kc.vi.linear_gaussian_posterior)  # the patch is undone
    assert abs(kc.vi.linear_gaussian_posterior([[1.0]], [2.0], noise_scale=1.0).mean[0] - 1) < 1e-12


# ---------------------------------------------------------------- ch5-elbo-gap
def mc_gap(var=ch5.EX5_Q_VAR, prior=True, entropy=True):
    eps = np.random.default_rng(1).standard_normal((20_000, 2))
    theta = ch5.EX5_Q_MEAN + np.sqrt(var) * eps
    terms = scipy.stats.norm.logpdf(ch5.EX5_Y, theta @ ch5.EX5_DESIGN.T, 0.5).sum(axis=1)
    if prior:
        terms += scipy.stats.norm.logpdf(theta).sum(axis=1)
    if entropy:
        terms -= scipy.stats.norm.logpdf(theta, ch5.EX5_Q_MEAN, np.sqrt(var)).sum(axis=1)
    post = kc.vi.linear_gaussian_posterior(ch5.EX5_DESIGN, ch5.EX5_Y, noise_scale=0.5)
    return post.log_evidence - terms.mean(), post


def test_elbo_gap_right_answer_and_mistakes():
    gap, post = mc_gap()
    assert verdict("ch5-elbo-gap", gap) is None
    exact_kl = kc.kl_mvn(ch5.EX5_Q_MEAN, np.diag(ch5.EX5_Q_VAR), post.mean, post.cov)
    assert abs(gap - exact_kl) > 1e-4  # the estimate and the exact KL are distinguishable
    assert "bypasses" in verdict("ch5-elbo-gap", exact_kl)  # the single kl_mvn call
    closed_form = post.log_evidence - kc.vi.linear_gaussian_elbo(
        ch5.EX5_DESIGN, ch5.EX5_Y, ch5.EX5_Q_MEAN, np.diag(ch5.EX5_Q_VAR), noise_scale=0.5
    )
    assert "bypasses" in verdict("ch5-elbo-gap", closed_form)
    assert "ELBO estimate itself" in verdict("ch5-elbo-gap", post.log_evidence - gap)
    assert "variances" in verdict("ch5-elbo-gap", mc_gap(ch5.EX5_Q_VAR**2)[0])
    assert "entropy" in verdict("ch5-elbo-gap", mc_gap(entropy=False)[0])
    assert "log prior" in verdict("ch5-elbo-gap", mc_gap(prior=False)[0])
    assert "wrong sign" in verdict("ch5-elbo-gap", -gap)
    assert "one number" in verdict("ch5-elbo-gap", [gap, gap])


# ---------------------------------------------------------------- ch5-noise-mean-field
def best_kl(noise, direction="reverse"):
    xs = np.linspace(0.0, 2.0, 21)
    X3 = np.stack([np.ones_like(xs), xs, xs**2], axis=1)
    cov = kc.vi.linear_gaussian_posterior(X3, np.zeros(21), noise_scale=noise).cov
    z = np.zeros(3)
    if direction == "reverse":
        return kc.kl_mvn(z, np.diag(1 / np.diag(np.linalg.inv(cov))), z, cov)
    if direction == "forward":
        return kc.kl_mvn(z, cov, z, np.diag(np.diag(cov)))
    return kc.kl_mvn(z, cov, z, np.diag(1 / np.diag(np.linalg.inv(cov))))


def test_noise_mean_field_right_answer_and_mistakes():
    right = [best_kl(1.0), best_kl(3.0)]
    assert right[1] < right[0]  # more noise, better mean-field
    assert verdict("ch5-noise-mean-field", right) is None
    forward = [best_kl(1.0, "forward"), best_kl(3.0, "forward")]
    assert abs(forward[0] - right[0]) > 0.01  # in 3-D the two optima differ
    assert "forward-KL optima" in verdict("ch5-noise-mean-field", forward)
    wrong_way = [best_kl(1.0, "wrong"), best_kl(3.0, "wrong")]
    assert "scored" in verdict("ch5-noise-mean-field", wrong_way)
    assert "swapped" in verdict("ch5-noise-mean-field", right[::-1])
    assert "two values" in verdict("ch5-noise-mean-field", right[0])


# ---------------------------------------------------------------- ch5-cavi
def right_cavi(design, y, noise_scale, num_sweeps):
    precision = np.eye(design.shape[1]) + design.T @ design / noise_scale**2
    shift = design.T @ y / noise_scale**2
    means = np.zeros(design.shape[1])
    for _ in range(num_sweeps):
        for j in range(len(means)):
            means[j] = (shift[j] - precision[j] @ means + precision[j, j] * means[j]) / precision[
                j, j
            ]
    return means


def test_cavi_right_answer_and_mistakes():
    assert verdict("ch5-cavi", right_cavi) is None

    def converged(d, y, s, n):
        return np.linalg.solve(np.eye(d.shape[1]) + d.T @ d / s**2, d.T @ y / s**2)

    def jacobi(d, y, s, n):
        precision = np.eye(d.shape[1]) + d.T @ d / s**2
        shift, means = d.T @ y / s**2, np.zeros(d.shape[1])
        for _ in range(n):
            means = (shift - precision @ means + np.diag(precision) * means) / np.diag(precision)
        return means

    def backwards(d, y, s, n):
        return right_cavi(d[:, ::-1], y, s, n)[::-1]

    assert "converged" in verdict("ch5-cavi", converged)
    assert "all means at once" in verdict("ch5-cavi", jacobi)
    assert "in order" in verdict("ch5-cavi", backwards)
    assert "noise_scale" in verdict("ch5-cavi", lambda d, y, s, n: right_cavi(d, y, 1.0, n))
    assert "not its value" in verdict("ch5-cavi", np.zeros(3))


def test_cavi_rejects_the_kc_vi_shortcut():
    def shortcut(d, y, s, n):
        return kc.vi.cavi_linear_gaussian(d, y, noise_scale=s, num_sweeps=n).means[-1]

    assert "kc.vi" in verdict("ch5-cavi", shortcut)
