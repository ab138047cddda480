"""klcourse.information: bounds, mutual information, testing and t-SNE, each two ways."""

import math

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

import klcourse as kc
from klcourse import fdivergence as fd
from klcourse import information as info


def test_pinsker_and_bretagnolle_huber_hold_on_random_pairs():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5), size=500)
    q = rng.dirichlet(np.ones(5), size=500)
    kl = kc.kl_discrete(p, q)
    tv = 0.5 * np.abs(p - q).sum(axis=1)
    assert np.all(tv <= info.pinsker_bound(kl) + 1e-12)
    assert np.all(tv <= info.bretagnolle_huber_bound(kl) + 1e-12)
    assert info.bretagnolle_huber_bound(math.inf) == 1.0


def test_pinsker_is_tight_for_close_fair_coins():
    eps = 1e-3
    p, q = [0.5 + eps, 0.5 - eps], [0.5, 0.5]
    ratio = fd.total_variation(p, q) / info.pinsker_bound(kc.kl_discrete(p, q))
    assert ratio == pytest.approx(1.0, abs=1e-5)


def test_mutual_information_is_kl_to_the_product():
    joint = np.array([[0.3, 0.1], [0.2, 0.4]])
    h = lambda v: -np.sum(v * np.log(v))  # noqa: E731
    by_entropies = h(joint.sum(1)) + h(joint.sum(0)) - h(joint.ravel())
    assert info.mutual_information(joint) == pytest.approx(by_entropies, rel=1e-12)
    assert info.mutual_information(np.outer([0.3, 0.7], [0.6, 0.4])) == pytest.approx(0, abs=1e-15)


@pytest.mark.parametrize("rho", [-0.9, 0.1, 0.5, 0.8])
def test_gaussian_mutual_information_against_kl_mvn(rho):
    cov = np.array([[1.0, rho], [rho, 1.0]])
    exact = kc.kl_mvn(np.zeros(2), cov, np.zeros(2), np.eye(2))
    assert info.gaussian_mutual_information(rho) == pytest.approx(exact, rel=1e-12)


def test_nwj_bound_with_the_right_critic_family_reaches_the_truth():
    rho, n = 0.8, 40_000
    rng = np.random.default_rng(1)
    joint = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
    product = np.stack([rng.permutation(joint[:, 0]), joint[:, 1]], axis=1)
    exact = info.gaussian_mutual_information(rho)
    quadratic, _ = info.fit_nwj_critic(joint, product)
    weaker, _ = info.fit_nwj_critic(joint, product, features="product")
    assert quadratic == pytest.approx(exact, abs=0.03)  # Monte Carlo error ~ 0.01
    assert weaker < quadratic - 0.05


def test_neyman_pearson_error_against_simulation_and_its_exponent():
    n, rng = 20, np.random.default_rng(2)
    beta = info.neyman_pearson_type2_normal(n, 0.0, 0.5, 1.0, 0.05)
    threshold = 1.6448536269514722 / math.sqrt(n)  # reject p = N(0, 1) above it
    means = rng.normal(0.5, 1.0, size=(200_000, n)).mean(axis=1)
    simulated = np.mean(means <= threshold)
    assert simulated == pytest.approx(beta, abs=4 * math.sqrt(beta * (1 - beta) / 200_000))
    ns = np.array([100, 1_000, 10_000, 100_000])
    exponents = -info.neyman_pearson_type2_normal(ns, 0.0, 0.5, 1.0, 0.05, log=True) / ns
    gaps = np.abs(exponents - kc.kl_normal(0.0, 1.0, 0.5, 1.0))  # Stein: exponent -> KL
    assert np.all(np.diff(gaps) < 0) and gaps[-1] < 0.005


@pytest.mark.slow  # tiers: seconds of work; `make unit` skips it
def test_tsne_affinities_and_kl_match_scikit_learn():
    from sklearn.datasets import load_digits
    from sklearn.manifold import TSNE, _t_sne

    data = load_digits().data[:150] / 16.0
    P = info.tsne_affinities(data, perplexity=20.0)
    theirs = squareform(
        _t_sne._joint_probabilities(squareform(pdist(data, "sqeuclidean")), 20.0, 0)
    )
    assert np.allclose(P, theirs, rtol=1e-3, atol=1e-12)
    tsne = TSNE(perplexity=20.0, method="exact", init="pca", random_state=0)
    embedding = tsne.fit_transform(data)
    assert info.tsne_kl(P, embedding) == pytest.approx(tsne.kl_divergence_, rel=1e-4)


def test_validation_names_the_argument():
    with pytest.raises(ValueError, match="`kl` must be non-negative"):
        info.pinsker_bound(-0.1)
    with pytest.raises(ValueError, match="`rho`"):
        info.gaussian_mutual_information(1.0)
    with pytest.raises(ValueError, match="`joint` must be a 2-D table"):
        info.mutual_information([0.5, 0.5])
    with pytest.raises(ValueError, match="`features`"):
        info.fit_nwj_critic(np.zeros((3, 2)), np.zeros((3, 2)), features="cubic")
    with pytest.raises(ValueError, match="`joint_samples` must have shape"):
        info.fit_nwj_critic(np.zeros(3), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="`type1`"):
        info.neyman_pearson_type2_normal(5, 0.0, 1.0, 1.0, 1.5)
    with pytest.raises(ValueError, match="`mu_p` and `mu_q` must differ"):
        info.neyman_pearson_type2_normal(5, 1.0, 1.0, 1.0, 0.05)
    with pytest.raises(ValueError, match="`perplexity`"):
        info.tsne_affinities(np.zeros((4, 2)), perplexity=10.0)
    with pytest.raises(ValueError, match="`embedding` must have shape"):
        info.tsne_similarities(np.zeros(3))
