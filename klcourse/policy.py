r"""KL in training, exactly: policies small enough to enumerate (chapter 7).

A *policy* here is an autoregressive model of sequences of ``length`` tokens from a
vocabulary of ``vocab_size``: one table of logits per prefix, so every distribution over
sequences can be represented and every expectation is a finite sum. A bandit is the case
``length == 1``. On such a `SequenceSpace` this module computes, in float64 NumPy:

* the KL-regularised objective :math:`J(\pi) = \mathbb E_\pi[r] - \beta\,
  \mathrm{KL}(\pi\|\pi_\mathrm{ref})` and its maximiser
  :math:`\pi^* \propto \pi_\mathrm{ref}\, e^{r/\beta}` (`regularised_objective`,
  `optimal_policy`);
* the chain rule: sequence KL as the expected sum of per-token KLs (`token_kls`);
* the k1/k2/k3 estimators (chapter 4) per token or per sequence, exactly or sampled
  (`estimator_values`, `sample_sequences`);
* the expected gradients of those estimators used as losses with the samples held
  fixed, against the exact gradients of both KL directions (`estimator_gradients`,
  `kl_gradient`, `score_vectors`);
* DPO's population loss (`dpo_loss`), the Fisher information and a natural-gradient
  step (`fisher_information`, `natural_gradient_step`);
* distillation: generalised Jensen-Shannon divergence, soft targets with temperature and
  a unimodal student fitted to a multimodal teacher (`generalised_jsd`,
  `distillation_loss`, `bump_distribution`, `fit_student`).

All KLs are KL(p‖q) with p first, as everywhere in `klcourse`.
"""

import dataclasses
import functools
import itertools
import math

import numpy as np
import scipy.optimize
import scipy.special

from klcourse import _validate
from klcourse.divergence import KL_ESTIMATORS, _slopes_from_log_ratio, _terms_from_log_ratio

__all__ = [
    "SequenceSpace",
    "log_probs",
    "token_log_probs",
    "logits_from_probs",
    "optimal_policy",
    "regularised_objective",
    "maximise",
    "token_kls",
    "sample_sequences",
    "estimator_values",
    "score_vectors",
    "estimator_gradients",
    "kl_gradient",
    "reinforce_gradients",
    "forward_regularised_policy",
    "bradley_terry_preferences",
    "dpo_loss",
    "fisher_information",
    "natural_gradient_step",
    "generalised_jsd",
    "soft_targets",
    "distillation_loss",
    "bump_distribution",
    "fit_student",
    "toy_bandit",
    "tiny_language_model",
    "three_bump_teacher",
    "KL_ESTIMATORS",
]


@dataclasses.dataclass(frozen=True)
class SequenceSpace:
    """All sequences of ``length`` tokens from ``range(vocab_size)``, with their prefixes.

    A policy on this space is a ``[num_prefixes, vocab_size]`` array of logits: row
    ``j`` is the next-token distribution after prefix ``j``. Prefixes are numbered by
    length, then lexicographically (row 0 is the empty prefix). Sequences are numbered
    lexicographically, so ``sequences[i]`` is sequence ``i``.

    Args:
      vocab_size: ``int`` >= 2.
      length: ``int`` >= 1 (1 is a bandit with ``vocab_size`` arms).

    Raises:
      TypeError, ValueError: if either is not an ``int`` or too small.

    Examples:
      >>> space = SequenceSpace(3, 2)
      >>> space.num_sequences, space.num_prefixes
      (9, 4)
      >>> space.prefix_index[5].tolist()  # sequence (1, 2): prefixes () and (1,)
      [0, 2]
    """

    vocab_size: int
    length: int

    def __post_init__(self):
        _validate.positive_int(self.vocab_size, "vocab_size")
        _validate.positive_int(self.length, "length")
        if self.vocab_size < 2:
            raise ValueError(f"`vocab_size` must be at least 2; got {self.vocab_size}")

    @property
    def num_sequences(self):
        return self.vocab_size**self.length

    @property
    def num_prefixes(self):
        return sum(self.vocab_size**t for t in range(self.length))

    @functools.cached_property
    def sequences(self):
        """``int`` array ``[num_sequences, length]``: every sequence, in order."""
        values = itertools.product(range(self.vocab_size), repeat=self.length)
        return np.array(list(values), dtype=np.int64).reshape(-1, self.length)

    @functools.cached_property
    def prefix_index(self):
        """``int`` array ``[num_sequences, length]``: the row of the prefix before each token."""
        v, index = self.vocab_size, np.zeros_like(self.sequences)
        offset, code = 0, np.zeros(self.num_sequences, dtype=np.int64)
        for t in range(self.length):
            index[:, t] = offset + code
            offset += v**t
            code = code * v + self.sequences[:, t]
        return index

    @functools.cached_property
    def prefix_length(self):
        """``int`` array ``[num_prefixes]``: how many tokens each prefix holds."""
        return np.repeat(np.arange(self.length), [self.vocab_size**t for t in range(self.length)])

    @functools.cached_property
    def gather_index(self):
        """``int`` array ``[num_sequences, length, 2]`` of (prefix, token) pairs.

        ``tf.gather_nd(log_softmax(logits), gather_index)`` gives every token's
        log-probability, which is how a TensorFlow objective enumerates the space.
        """
        return np.stack([self.prefix_index, self.sequences], axis=-1)


def _logits(space, logits, name="logits"):
    logits = _validate.as_float_array(logits, name)
    expected = (space.num_prefixes, space.vocab_size)
    if logits.shape != expected:
        raise ValueError(f"`{name}` must have shape {expected}; got {logits.shape}")
    return logits


def _probs(space, probs, name="probs"):
    probs = _validate.probability_vectors(probs, name, axis=-1)
    if probs.shape != (space.num_sequences,):
        raise ValueError(f"`{name}` must have shape ({space.num_sequences},); got {probs.shape}")
    return probs


def token_log_probs(space, logits):
    r"""Log-probability of every token of every sequence, :math:`\log\pi(y_t \mid y_{<t})`.

    .. math:: \log\pi(y_t\mid y_{<t}) = \ell_{j, y_t} - \log\sum_v e^{\ell_{j, v}},
              \qquad j = \text{the row of the prefix } y_{<t}

    the softmax of the prefix's row of logits (chapter 7, section 7.2). Summed over
    ``t`` they give `log_probs`, the chain rule of probability.

    Args:
      space: a `SequenceSpace`.
      logits: ``[num_prefixes, vocab_size]`` array-like.

    Returns:
      ``numpy.ndarray`` ``[num_sequences, length]`` of float64 log-probabilities;
      entry ``[i, t]`` belongs to token ``t`` of sequence ``space.sequences[i]``.

    Raises:
      TypeError, ValueError: if ``logits`` is not numeric, finite and of that shape.

    Examples:
      >>> space = SequenceSpace(2, 2)
      >>> token_log_probs(space, np.zeros((3, 2))).shape
      (4, 2)
      >>> bool(np.allclose(token_log_probs(space, np.zeros((3, 2))), np.log(0.5)))  # uniform
      True
    """
    log_softmax = scipy.special.log_softmax(_logits(space, logits), axis=-1)
    return log_softmax[space.prefix_index, space.sequences]


def log_probs(space, logits):
    r"""Log-probability of every sequence: :math:`\log\pi(y) = \sum_t \log\pi(y_t\mid y_{<t})`.

    Args:
      space: a `SequenceSpace`.
      logits: ``[num_prefixes, vocab_size]`` array-like.

    Returns:
      ``numpy.ndarray`` ``[num_sequences]``; ``np.exp`` of it sums to 1.

    Raises:
      TypeError, ValueError: if ``logits`` is not numeric, finite and of that shape.

    Examples:
      >>> space = SequenceSpace(2, 3)
      >>> round(float(np.exp(log_probs(space, np.zeros((7, 2)))).sum()), 12)
      1.0
    """
    return token_log_probs(space, logits).sum(axis=-1)


def logits_from_probs(space, probs):
    r"""The autoregressive logits of a distribution over sequences (its conditionals).

    .. math:: \pi(v \mid y_{<t}) = \frac{\pi(y_{<t}, v)}{\pi(y_{<t})}

    Every distribution over the space has such a factorisation (the chain rule of
    probability). Prefixes of probability 0 get uniform conditionals.

    Args:
      space: a `SequenceSpace`.
      probs: ``[num_sequences]`` probabilities, all positive.

    Returns:
      ``numpy.ndarray`` ``[num_prefixes, vocab_size]``: log conditional probabilities
      (logits whose softmax is each conditional).

    Raises:
      ValueError: if ``probs`` is not a probability vector of that length or has zeros.

    Examples:
      >>> space = SequenceSpace(2, 2)
      >>> probs = np.array([0.1, 0.2, 0.3, 0.4])
      >>> np.allclose(np.exp(log_probs(space, logits_from_probs(space, probs))), probs)
      True
    """
    probs = _probs(space, probs)
    if np.any(probs <= 0):
        raise ValueError("`probs` must be positive everywhere (a log is taken)")
    joint = np.zeros((space.num_prefixes, space.vocab_size))
    for t in range(space.length):
        np.add.at(joint, (space.prefix_index[:, t], space.sequences[:, t]), probs)
    return np.log(joint) - np.log(joint.sum(axis=-1, keepdims=True))


def optimal_policy(ref_probs, reward, beta):
    r"""The maximiser of :math:`\mathbb E_\pi[r] - \beta\,\mathrm{KL}(\pi\|\pi_\mathrm{ref})`.

    .. math:: \pi^*(y) = \frac{\pi_\mathrm{ref}(y)\, e^{r(y)/\beta}}{Z},\qquad
              Z = \sum_y \pi_\mathrm{ref}(y)\, e^{r(y)/\beta}

    computed in log space (stable for small ``beta``). The maximum is
    :math:`\beta\log Z`.

    Args:
      ref_probs: probabilities of the reference policy over outcomes (last axis).
      reward: array-like of rewards, same shape.
      beta: positive ``float``, the weight of the KL penalty.

    Returns:
      ``numpy.ndarray``: :math:`\pi^*`, same shape.

    Raises:
      TypeError, ValueError: for a non-probability ``ref_probs``, mismatched shapes,
        non-finite rewards or ``beta <= 0``.

    Examples:
      >>> optimal_policy([0.5, 0.5], [0.0, math.log(3)], 1.0).tolist()
      [0.25, 0.75]
    """
    ref_probs = _validate.probability_vectors(ref_probs, "ref_probs", axis=-1)
    reward = _validate.as_float_array(reward, "reward")
    beta = _validate.positive_float(beta, "beta")
    if reward.shape != ref_probs.shape:
        raise ValueError(
            f"`reward` must have the shape of `ref_probs`, {ref_probs.shape}; got {reward.shape}"
        )
    with np.errstate(divide="ignore"):
        return scipy.special.softmax(np.log(ref_probs) + reward / beta, axis=-1)


def regularised_objective(probs, ref_probs, reward, beta):
    r"""The KL-regularised objective of a policy.

    .. math:: J(\pi) = \mathbb E_\pi[r] - \beta\,\mathrm{KL}(\pi\|\pi_\mathrm{ref})

    Args:
      probs, ref_probs: probability vectors over the same outcomes (last axis).
      reward: rewards of the outcomes.
      beta: non-negative ``float``.

    Returns:
      ``float``.

    Raises:
      TypeError, ValueError: for invalid probabilities, shapes or ``beta < 0``.

    Examples:
      >>> round(float(regularised_objective([0.25, 0.75], [0.5, 0.5], [0, math.log(3)], 1.0)), 6)
      0.693147
    """
    probs = _validate.probability_vectors(probs, "probs", axis=-1)
    ref_probs = _validate.probability_vectors(ref_probs, "ref_probs", axis=-1)
    reward = _validate.as_float_array(reward, "reward")
    beta = float(_validate.as_float_array(beta, "beta"))
    if beta < 0:
        raise ValueError(f"`beta` must be non-negative; got {beta}")
    if not probs.shape == ref_probs.shape == reward.shape:
        raise ValueError(
            "`probs`, `ref_probs` and `reward` must have the same shape; got "
            f"{probs.shape}, {ref_probs.shape} and {reward.shape}"
        )
    kl = scipy.special.rel_entr(probs, ref_probs).sum(axis=-1)
    return float(np.sum(probs * reward, axis=-1) - beta * kl)


def maximise(objective, initial_logits, *, num_steps=2000, learning_rate=0.05):
    """Maximise a TensorFlow ``objective(logits)`` by Adam, in one compiled loop.

    The learning rate decays exponentially from ``learning_rate`` to a hundredth of it.

    The loop is a ``tf.while_loop`` inside ``tf.function`` (as `klcourse.fit`), so a few
    thousand steps on a small table of logits take well under a second.

    Args:
      objective: a function from a float64 ``tf.Variable`` of logits to a scalar
        ``tf.Tensor`` to maximise (write it with TensorFlow ops).
      initial_logits: array-like start.
      num_steps: positive ``int``.
      learning_rate: positive ``float``.

    Returns:
      ``(logits, value)``: the final logits (``numpy.ndarray``) and the objective there
      (``float``).

    Raises:
      TypeError, ValueError: for a non-callable objective, bad logits or settings.

    Examples:
      >>> import tensorflow as tf
      >>> target = tf.constant([0.2, 0.8], tf.float64)
      >>> def objective(logits):  # -KL(target || softmax(logits)) + const
      ...     return tf.reduce_sum(target * tf.nn.log_softmax(logits))
      >>> logits, _ = maximise(objective, [0.0, 0.0], num_steps=500, learning_rate=0.1)
      >>> scipy.special.softmax(logits).round(4).tolist()
      [0.2, 0.8]
    """
    import tensorflow as tf
    import tf_keras

    if not callable(objective):
        raise TypeError(f"`objective` must be callable; got {type(objective).__name__}")
    initial_logits = _validate.as_float_array(initial_logits, "initial_logits")
    num_steps = _validate.positive_int(num_steps, "num_steps")
    learning_rate = _validate.positive_float(learning_rate, "learning_rate")
    logits = tf.Variable(initial_logits, dtype=tf.float64)
    # The step size decays a hundredfold over the run, so Adam settles instead of
    # jittering around the optimum at the scale of the learning rate.
    schedule = tf_keras.optimizers.schedules.ExponentialDecay(learning_rate, num_steps, 0.01)
    optimizer = tf_keras.optimizers.Adam(schedule)
    optimizer.build([logits])

    @tf.function(autograph=False)
    def run():
        def step(i):
            with tf.GradientTape() as tape:
                loss = -objective(logits)
            optimizer.apply_gradients([(tape.gradient(loss, logits), logits)])
            return (i + 1,)

        tf.while_loop(lambda i: i < num_steps, step, (tf.constant(0),))
        return objective(logits)

    value = run()
    return logits.numpy(), float(value)


def token_kls(space, logits, ref_logits):
    r"""The chain rule: expected per-token KL at each position.

    .. math:: \mathrm{KL}(\pi\|\pi_\mathrm{ref}) = \sum_{t} \mathbb E_{y_{<t}\sim\pi}
              \Big[\mathrm{KL}\big(\pi(\cdot\mid y_{<t})\,\big\|\,
              \pi_\mathrm{ref}(\cdot\mid y_{<t})\big)\Big]

    Args:
      space: a `SequenceSpace`.
      logits, ref_logits: ``[num_prefixes, vocab_size]`` logits of π and π_ref.

    Returns:
      ``(position_kls, prefix_kls)``: ``[length]`` expected KLs per position (their sum
      is the sequence KL) and ``[num_prefixes]`` the KL of the next-token distributions
      after each prefix.

    Raises:
      TypeError, ValueError: for logits that are not finite or of the wrong shape.

    Examples:
      >>> space = SequenceSpace(2, 3)
      >>> rng = np.random.default_rng(0)
      >>> a, b = rng.normal(size=(7, 2)), rng.normal(size=(7, 2))
      >>> p, q = np.exp(log_probs(space, a)), np.exp(log_probs(space, b))
      >>> bool(np.isclose(token_kls(space, a, b)[0].sum(), np.sum(p * np.log(p / q))))
      True
    """
    logits = _logits(space, logits)
    ref_logits = _logits(space, ref_logits, "ref_logits")
    prefix_kls = scipy.special.rel_entr(
        scipy.special.softmax(logits, axis=-1), scipy.special.softmax(ref_logits, axis=-1)
    ).sum(axis=-1)
    probs = np.exp(log_probs(space, logits))
    reach = np.zeros(space.num_prefixes)  # probability of reaching each prefix
    for t in range(space.length):
        np.add.at(reach, space.prefix_index[:, t], probs)
    position = np.bincount(space.prefix_length, reach * prefix_kls, minlength=space.length)
    return position, prefix_kls


def sample_sequences(probs, num_samples, seed):
    r"""Indices of ``num_samples`` sequences drawn from ``probs`` (NumPy's seeded generator).

    .. math:: y_1, \dots, y_n \overset{\text{iid}}{\sim} \pi,\qquad
              P(y_i = s) = \pi(s)

    the draws of a sampled KL estimate (chapter 7, section 7.3). The same seed gives
    the same draws.

    Args:
      probs: probability vector over the sequences of a space.
      num_samples: positive ``int``.
      seed: non-negative ``int``.

    Returns:
      ``int`` array ``[num_samples]`` of sequence indices (rows of ``space.sequences``).

    Raises:
      TypeError, ValueError: for invalid probabilities, counts or seeds.

    Examples:
      >>> draws = sample_sequences([0.0, 0.25, 0.75], 1000, seed=0)
      >>> draws.shape, bool(np.all(draws != 0)), bool(abs(np.mean(draws == 2) - 0.75) < 0.05)
      ((1000,), True, True)
    """
    probs = _validate.probability_vectors(probs, "probs", axis=-1)
    num_samples = _validate.positive_int(num_samples, "num_samples")
    rng = np.random.default_rng(_validate.seed(seed))
    return rng.choice(probs.size, size=num_samples, p=probs / probs.sum())


def estimator_values(space, logits, ref_logits, estimator, *, per_token=True):
    r"""The value of a KL(π‖π_ref) estimator on every sequence, for draws :math:`y\sim\pi`.

    With :math:`\log r_t = \log\pi_\mathrm{ref}(y_t\mid y_{<t}) - \log\pi(y_t\mid y_{<t})`
    and a chapter-4 term :math:`k(\log r)` (``"k1"``: :math:`-\log r`, ``"k2"``:
    :math:`\tfrac12(\log r)^2`, ``"k3"``: :math:`r - 1 - \log r`):

    * ``per_token=True``: :math:`\sum_t k(\log r_t)`, what a per-token penalty sums;
    * ``per_token=False``: :math:`k\big(\sum_t \log r_t\big)`, the sequence-level term;
    * ``estimator="analytic"``: :math:`\sum_t \mathrm{KL}(\pi(\cdot\mid y_{<t})\|
      \pi_\mathrm{ref}(\cdot\mid y_{<t}))`, the exact per-token KLs along the sequence.

    The mean of ``values`` under π is the estimator's expectation; ``values[draws]`` are
    the terms of a sampled estimate.

    Args:
      space: a `SequenceSpace`.
      logits, ref_logits: ``[num_prefixes, vocab_size]`` logits of π and π_ref.
      estimator: ``"k1"``, ``"k2"``, ``"k3"`` or ``"analytic"``.
      per_token: see above (ignored for ``"analytic"``).

    Returns:
      ``numpy.ndarray`` ``[num_sequences]``: the estimator's value on each sequence.

    Raises:
      TypeError, ValueError: for invalid logits or an unknown ``estimator``.

    Examples:
      Per-token k1 and k3 and the analytic sum are unbiased for the sequence KL; per-token
      k2 is not (chapter 7, section 7.3):

      >>> space, rng = SequenceSpace(2, 3), np.random.default_rng(0)
      >>> a, b = rng.normal(size=(7, 2)), rng.normal(size=(7, 2))
      >>> p, exact = np.exp(log_probs(space, a)), token_kls(space, a, b)[0].sum()
      >>> [bool(np.isclose(p @ estimator_values(space, a, b, k), exact))
      ...  for k in ("k1", "k2", "k3", "analytic")]
      [True, False, True, True]
    """
    _validate.one_of(estimator, "estimator", (*KL_ESTIMATORS, "analytic"))
    if estimator == "analytic":
        return token_kls(space, logits, ref_logits)[1][space.prefix_index].sum(axis=-1)
    log_r = token_log_probs(space, ref_logits) - token_log_probs(space, logits)
    if per_token:
        return _terms_from_log_ratio(log_r, estimator).sum(axis=-1)
    return _terms_from_log_ratio(log_r.sum(axis=-1), estimator)


def score_vectors(space, logits):
    r"""The score :math:`\nabla_\theta\log\pi_\theta(y_t\mid y_{<t})` of every token.

    For softmax logits θ, the gradient of :math:`\log\pi(v\mid j)` with respect to row
    ``j`` is :math:`e_v - \pi(\cdot\mid j)`; other rows get 0.

    Args:
      space: a `SequenceSpace`.
      logits: ``[num_prefixes, vocab_size]``.

    .. math:: \frac{\partial\log\pi(y_t\mid y_{<t})}{\partial\theta_{j, v}}
              = [j = \text{row of } y_{<t}]\,\big([v = y_t] - \pi(v\mid j)\big)

    (chapter 4's score, chapter 7, section 7.4).

    Args:
      space: a `SequenceSpace`.
      logits: ``[num_prefixes, vocab_size]``.

    Returns:
      ``numpy.ndarray`` ``[num_sequences, length, num_prefixes, vocab_size]``; summing
      over axis 1 gives :math:`\nabla_\theta\log\pi_\theta(y)`.

    Raises:
      TypeError, ValueError: for invalid logits.

    Examples:
      >>> space = SequenceSpace(3, 1)
      >>> score_vectors(space, np.zeros((1, 3)))[0, 0].round(3).tolist()  # answer 0
      [[0.667, -0.333, -0.333]]
      >>> logits = np.log([[0.2, 0.3, 0.5]])
      >>> p = np.exp(log_probs(space, logits))
      >>> bool(np.allclose(np.einsum("s,stpv->pv", p, score_vectors(space, logits)), 0))
      True
    """
    conditionals = scipy.special.softmax(_logits(space, logits), axis=-1)
    scores = np.zeros((space.num_sequences, space.length, *conditionals.shape))
    rows, steps = np.arange(space.num_sequences)[:, None], np.arange(space.length)[None, :]
    scores[rows, steps, space.prefix_index, :] = -conditionals[space.prefix_index]
    scores[rows, steps, space.prefix_index, space.sequences] += 1.0
    return scores


def estimator_gradients(space, logits, ref_logits, estimator, *, per_token=True):
    r"""Per-sequence gradients of an estimator used as a loss, the draws held fixed.

    The loss of one draw y is ``estimator_values(...)[y]`` as a function of θ, with y
    not moving (``tf.stop_gradient`` on the samples). Since
    :math:`\nabla\log r_t = -\nabla\log\pi_\theta(y_t\mid y_{<t})`, the gradient is
    :math:`-\sum_t k'(\log r_t)\,\nabla\log\pi_\theta(y_t\mid y_{<t})` per token, or
    :math:`-k'(\sum_t\log r_t)\,\nabla\log\pi_\theta(y)` per sequence, with
    :math:`k' = -1,\ \log r,\ r - 1` for k1, k2, k3.

    Args:
      space: a `SequenceSpace`.
      logits, ref_logits: ``[num_prefixes, vocab_size]`` logits of π_θ and π_ref.
      estimator: ``"k1"``, ``"k2"`` or ``"k3"``.
      per_token: sum of per-token terms (``True``) or one sequence-level term.

    Returns:
      ``numpy.ndarray`` ``[num_sequences, num_prefixes, vocab_size]``. Its π-weighted
      sum over sequences is the expected gradient of the loss.

    Raises:
      TypeError, ValueError: for invalid logits or an unknown ``estimator``.

    Examples:
      Per sequence, k1's expected gradient is 0, k2's that of KL(π‖π_ref) and k3's that
      of the forward KL(π_ref‖π) (chapter 7, section 7.4):

      >>> space, rng = SequenceSpace(2, 2), np.random.default_rng(0)
      >>> a, b = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
      >>> p = np.exp(log_probs(space, a))
      >>> def expected(k):
      ...     grads = estimator_gradients(space, a, b, k, per_token=False)
      ...     return np.einsum("s,spv->pv", p, grads)
      >>> (bool(np.allclose(expected("k1"), 0)),
      ...  bool(np.allclose(expected("k2"), kl_gradient(space, a, b, "reverse"))),
      ...  bool(np.allclose(expected("k3"), kl_gradient(space, a, b, "forward"))))
      (True, True, True)
    """
    _validate.one_of(estimator, "estimator", KL_ESTIMATORS)
    log_r = token_log_probs(space, ref_logits) - token_log_probs(space, logits)
    scores = score_vectors(space, logits)
    if not per_token:
        log_r, scores = log_r.sum(axis=-1, keepdims=True), scores.sum(axis=1, keepdims=True)
    slope = _slopes_from_log_ratio(log_r, estimator)
    return -np.einsum("st,stpv->spv", slope, scores)


def reinforce_gradients(space, logits, token_rewards):
    r"""Per-sequence REINFORCE gradients with rewards-to-go (the penalty-in-the-reward way).

    .. math:: g(y) = \sum_t \nabla_\theta\log\pi_\theta(y_t\mid y_{<t})
              \sum_{t'\ge t} r_{t'}(y)

    whose π-weighted sum is :math:`\nabla_\theta\,\mathbb E_{\pi_\theta}[\sum_t r_t]`
    for rewards that do not depend on θ. PPO-style RLHF puts the KL penalty here, as
    the per-token reward :math:`-\beta\log\frac{\pi(y_t\mid y_{<t})}
    {\pi_\mathrm{ref}(y_t\mid y_{<t})}` (k1, its value held fixed).

    Args:
      space: a `SequenceSpace`.
      logits: ``[num_prefixes, vocab_size]`` logits of π_θ.
      token_rewards: ``[num_sequences, length]`` reward of each token of each sequence.

    Returns:
      ``numpy.ndarray`` ``[num_sequences, num_prefixes, vocab_size]``: :math:`g(y)` of
      each sequence; weight by :math:`\pi_\theta(y)` and sum for the expected gradient.

    Raises:
      TypeError, ValueError: for invalid logits or rewards of the wrong shape.

    Examples:
      With k1 as each token's reward, the expected gradient is exactly
      :math:`\nabla\mathrm{KL}(\pi_\theta\|\pi_\mathrm{ref})` (chapter 7, section 7.4):

      >>> space, rng = SequenceSpace(2, 2), np.random.default_rng(0)
      >>> a, b = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
      >>> k1 = token_log_probs(space, a) - token_log_probs(space, b)
      >>> g = np.einsum("s,spv->pv", np.exp(log_probs(space, a)),
      ...               reinforce_gradients(space, a, k1))
      >>> bool(np.allclose(g, kl_gradient(space, a, b, "reverse")))
      True
    """
    token_rewards = _validate.as_float_array(token_rewards, "token_rewards")
    if token_rewards.shape != space.sequences.shape:
        raise ValueError(
            f"`token_rewards` must have shape {space.sequences.shape}; got {token_rewards.shape}"
        )
    to_go = np.cumsum(token_rewards[:, ::-1], axis=1)[:, ::-1]
    return np.einsum("st,stpv->spv", to_go, score_vectors(space, logits))


def forward_regularised_policy(ref_probs, reward, beta):
    r"""The maximiser of :math:`\mathbb E_\pi[r] - \beta\,\mathrm{KL}(\pi_\mathrm{ref}\|\pi)`.

    Setting the derivative of the Lagrangian to zero gives

    .. math:: \pi(x) = \frac{\beta\,\pi_\mathrm{ref}(x)}{\lambda - r(x)},\qquad
              \lambda > \max_x r(x)\ \text{such that}\ \textstyle\sum_x \pi(x) = 1,

    found by root bracketing. This is where a k3 term in the loss (on-policy) leads.

    Args:
      ref_probs: ``[n]`` probabilities of π_ref, all positive.
      reward: ``[n]`` rewards.
      beta: positive ``float``.

    Returns:
      ``numpy.ndarray`` ``[n]``.

    Raises:
      TypeError, ValueError: for invalid probabilities, shapes or ``beta <= 0``.

    Examples:
      >>> forward_regularised_policy([0.5, 0.5], [0.0, 0.0], 1.0).tolist()
      [0.5, 0.5]
    """
    ref_probs = _validate.probability_vectors(ref_probs, "ref_probs", axis=-1)
    reward = _validate.as_float_array(reward, "reward")
    beta = _validate.positive_float(beta, "beta")
    if ref_probs.ndim != 1 or reward.shape != ref_probs.shape or np.any(ref_probs <= 0):
        raise ValueError("`ref_probs` must be a positive vector with the shape of `reward`")

    def excess(lam):
        return float(np.sum(beta * ref_probs / (lam - reward)) - 1.0)

    # At λ = max r + β every term is at most π_ref(x), so the sum is <= 1; at the
    # lower end the best outcome's term alone is 2.
    best = int(np.argmax(reward))
    lower = reward[best] + 0.5 * beta * ref_probs[best]
    lam = scipy.optimize.brentq(excess, lower, reward[best] + beta, xtol=1e-15)
    policy = beta * ref_probs / (lam - reward)
    return policy / policy.sum()


def kl_gradient(space, logits, ref_logits, direction="reverse"):
    r"""Exact gradient of a sequence KL with respect to π_θ's logits.

    * ``"reverse"``: :math:`\nabla\mathrm{KL}(\pi_\theta\|\pi_\mathrm{ref}) =
      \mathbb E_{\pi_\theta}\big[\log\tfrac{\pi_\theta(y)}{\pi_\mathrm{ref}(y)}\,
      \nabla\log\pi_\theta(y)\big]` (the score identity of chapter 4);
    * ``"forward"``: :math:`\nabla\mathrm{KL}(\pi_\mathrm{ref}\|\pi_\theta) =
      -\mathbb E_{\pi_\mathrm{ref}}[\nabla\log\pi_\theta(y)]`.

    Args:
      space: a `SequenceSpace`.
      logits, ref_logits: ``[num_prefixes, vocab_size]``.
      direction: ``"reverse"`` or ``"forward"``.

    Returns:
      ``numpy.ndarray`` ``[num_prefixes, vocab_size]``, the gradient in each logit.

    Raises:
      TypeError, ValueError: for invalid logits or an unknown ``direction``.

    Examples:
      Against a central finite difference in one logit:

      >>> space, rng = SequenceSpace(2, 2), np.random.default_rng(0)
      >>> a, b = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
      >>> q = np.exp(log_probs(space, b))
      >>> def kl(logits):
      ...     p = np.exp(log_probs(space, logits))
      ...     return p @ np.log(p / q)
      >>> step = np.zeros((3, 2))
      >>> step[1, 0] = 1e-6
      >>> numeric = (kl(a + step) - kl(a - step)) / 2e-6
      >>> bool(np.isclose(kl_gradient(space, a, b)[1, 0], numeric, rtol=1e-6))
      True
    """
    _validate.one_of(direction, "direction", ("reverse", "forward"))
    log_p, log_ref = log_probs(space, logits), log_probs(space, ref_logits)
    scores = score_vectors(space, logits).sum(axis=1)
    if direction == "reverse":
        return np.einsum("s,spv->pv", np.exp(log_p) * (log_p - log_ref), scores)
    return -np.einsum("s,spv->pv", np.exp(log_ref), scores)


def bradley_terry_preferences(reward, pair_weights):
    r"""Expected preference counts under the Bradley-Terry model.

    .. math:: W_{ij} = w_{ij}\,\sigma\big(r_i - r_j\big)

    is the weight of "outcome i preferred to outcome j" when the pair (i, j) is shown
    with weight :math:`w_{ij}` and a labeller prefers i with probability
    :math:`\sigma(r_i - r_j)`.

    Args:
      reward: ``[n]`` rewards.
      pair_weights: ``[n, n]`` non-negative weights of the pairs shown (for pairs drawn
        independently from π_ref: ``np.outer(ref_probs, ref_probs)``).

    Returns:
      ``numpy.ndarray`` ``[n, n]``.

    Raises:
      TypeError, ValueError: for non-finite or negative inputs or mismatched shapes.

    Examples:
      >>> bradley_terry_preferences([0.0, 0.0], np.ones((2, 2))).tolist()
      [[0.5, 0.5], [0.5, 0.5]]
    """
    reward = _validate.as_float_array(reward, "reward")
    pair_weights = _validate.as_float_array(pair_weights, "pair_weights")
    if reward.ndim != 1 or pair_weights.shape != (reward.size, reward.size):
        raise ValueError(
            f"`pair_weights` must have shape {(reward.size, reward.size)} for a reward "
            f"vector of length {reward.size}; got {pair_weights.shape}"
        )
    if np.any(pair_weights < 0):
        raise ValueError("`pair_weights` must be non-negative")
    return pair_weights * scipy.special.expit(reward[:, None] - reward[None, :])


def dpo_loss(logits, ref_log_probs, beta, preferences):
    r"""DPO's loss over weighted preference pairs, and its gradient.

    With the implicit reward :math:`h(y) = \beta\log\frac{\pi_\theta(y)}{\pi_\mathrm{ref}(y)}`,

    .. math:: L(\theta) = -\sum_{i, j} W_{ij}\,\log\sigma\big(h(y_i) - h(y_j)\big)

    where :math:`W_{ij}` weighs "i preferred to j" (counts over a data set divided by
    its size, or `bradley_terry_preferences` for the population). For Bradley-Terry
    preferences from a reward r, the minimum is at the KL-regularised optimum
    :math:`\pi^*\propto\pi_\mathrm{ref}\,e^{r/\beta}` (chapter 7).

    Args:
      logits: ``[n]`` logits of π_θ over n outcomes (softmax gives π_θ).
      ref_log_probs: ``[n]`` log-probabilities of π_ref.
      beta: positive ``float``.
      preferences: ``[n, n]`` non-negative weights :math:`W`.

    Returns:
      ``(loss, gradient)``: ``float`` and ``[n]`` gradient with respect to ``logits``.

    Raises:
      TypeError, ValueError: for non-finite inputs, mismatched shapes, negative
        preferences or ``beta <= 0``.

    Examples:
      >>> ref, r = np.log([0.5, 0.5]), np.array([0.0, 1.0])
      >>> prefs = bradley_terry_preferences(r, np.full((2, 2), 0.25))
      >>> best = np.log(optimal_policy(np.exp(ref), r, 0.5))
      >>> bool(np.allclose(dpo_loss(best, ref, 0.5, prefs)[1], 0))
      True
    """
    logits = _validate.as_float_array(logits, "logits")
    ref_log_probs = _validate.as_float_array(ref_log_probs, "ref_log_probs")
    beta = _validate.positive_float(beta, "beta")
    preferences = _validate.as_float_array(preferences, "preferences")
    if logits.ndim != 1 or ref_log_probs.shape != logits.shape:
        raise ValueError(
            "`logits` and `ref_log_probs` must be vectors of one length; got shapes "
            f"{logits.shape} and {ref_log_probs.shape}"
        )
    if preferences.shape != (logits.size, logits.size) or np.any(preferences < 0):
        raise ValueError(
            f"`preferences` must be non-negative with shape {(logits.size, logits.size)}; "
            f"got shape {preferences.shape}"
        )
    implicit = beta * (scipy.special.log_softmax(logits) - ref_log_probs)
    margin = implicit[:, None] - implicit[None, :]
    loss = -np.sum(preferences * scipy.special.log_expit(margin))
    # d/d margin of -log σ(margin) is σ(margin) - 1, and margin_ij = h_i - h_j.
    d_margin = preferences * (scipy.special.expit(margin) - 1.0)
    d_implicit = d_margin.sum(axis=1) - d_margin.sum(axis=0)
    probs = scipy.special.softmax(logits)
    return float(loss), beta * (d_implicit - probs * d_implicit.sum())


def fisher_information(space, logits):
    r"""The Fisher information of π_θ in its logits, by enumeration.

    .. math:: F(\theta) = \mathbb E_{y\sim\pi_\theta}\big[\nabla\log\pi_\theta(y)\,
              \nabla\log\pi_\theta(y)^\top\big],\qquad
              \mathrm{KL}(\pi_\theta\|\pi_{\theta+\delta}) = \tfrac12\delta^\top F\delta
              + O(\|\delta\|^3)

    Args:
      space: a `SequenceSpace`.
      logits: ``[num_prefixes, vocab_size]``.

    Returns:
      ``numpy.ndarray`` ``[d, d]`` with ``d = num_prefixes * vocab_size`` (logits
      flattened row by row). It is singular: adding a constant to a row of logits does
      not change the policy.

    Raises:
      TypeError, ValueError: for invalid logits.

    Examples:
      >>> F = fisher_information(SequenceSpace(2, 1), np.zeros((1, 2)))
      >>> F.tolist()
      [[0.25, -0.25], [-0.25, 0.25]]
    """
    probs = np.exp(log_probs(space, logits))
    scores = score_vectors(space, logits).sum(axis=1).reshape(space.num_sequences, -1)
    return np.einsum("s,si,sj->ij", probs, scores, scores)


def natural_gradient_step(fisher, gradient, max_kl):
    r"""TRPO's step: the natural gradient scaled to a KL budget.

    .. math:: \delta = \sqrt{\frac{2\epsilon}{g^\top F^{+} g}}\; F^{+} g

    maximises the linear gain :math:`g^\top\delta` subject to
    :math:`\tfrac12\delta^\top F\delta \le \epsilon` (:math:`F^+` the pseudo-inverse).

    Args:
      fisher: ``[d, d]`` symmetric positive semi-definite matrix.
      gradient: ``[d]`` (or any shape with ``d`` entries) gradient to ascend.
      max_kl: positive ``float``, the budget ε.

    Returns:
      ``numpy.ndarray`` shaped like ``gradient``.

    Raises:
      TypeError, ValueError: for mismatched shapes, ``max_kl <= 0`` or a gradient with no
        component the Fisher metric can see.

    Examples:
      >>> step = natural_gradient_step(np.diag([1.0, 4.0]), np.array([1.0, 1.0]), 0.5)
      >>> round(float(0.5 * step @ np.diag([1.0, 4.0]) @ step), 12)
      0.5
    """
    fisher = _validate.as_float_array(fisher, "fisher")
    gradient = _validate.as_float_array(gradient, "gradient")
    max_kl = _validate.positive_float(max_kl, "max_kl")
    if fisher.ndim != 2 or fisher.shape != (gradient.size, gradient.size):
        raise ValueError(
            f"`fisher` must be square with side {gradient.size}; got shape {fisher.shape}"
        )
    direction = np.linalg.pinv(fisher, hermitian=True) @ gradient.ravel()
    quadratic = float(gradient.ravel() @ direction)
    if quadratic <= 0:
        raise ValueError("`gradient` has no component the Fisher metric can see")
    return (math.sqrt(2 * max_kl / quadratic) * direction).reshape(gradient.shape)


def generalised_jsd(p, q, beta):
    r"""The generalised Jensen-Shannon divergence of GKD.

    .. math:: \mathrm{JSD}_\beta(p\|q) = \beta\,\mathrm{KL}(p\|m) + (1-\beta)\,
              \mathrm{KL}(q\|m),\qquad m = \beta p + (1-\beta) q

    ``beta = 0.5`` is the Jensen-Shannon divergence; divided by β it tends to
    KL(p‖q) as β → 0, and divided by 1 − β to KL(q‖p) as β → 1.

    Args:
      p, q: probability vectors (last axis).
      beta: ``float`` strictly between 0 and 1.

    Returns:
      ``float`` (or array over leading axes).

    Raises:
      TypeError, ValueError: for invalid probabilities or ``beta`` outside (0, 1).

    Examples:
      >>> round(float(generalised_jsd([1, 0], [0, 1], 0.5) / math.log(2)), 6)
      1.0
    """
    p = _validate.probability_vectors(p, "p", axis=-1)
    q = _validate.probability_vectors(q, "q", axis=-1)
    beta = float(_validate.as_float_array(beta, "beta"))
    if not 0 < beta < 1:
        raise ValueError(f"`beta` must lie strictly between 0 and 1; got {beta}")
    m = beta * p + (1 - beta) * q
    divergence = beta * scipy.special.rel_entr(p, m).sum(-1) + (1 - beta) * (
        scipy.special.rel_entr(q, m).sum(-1)
    )
    return divergence[()] if np.ndim(divergence) == 0 else divergence


def soft_targets(logits, temperature):
    r"""Softmax at a temperature: :math:`p_i \propto \exp(z_i / T)`.

    Args:
      logits: array-like (last axis = classes).
      temperature: positive ``float``.

    Returns:
      ``numpy.ndarray`` of probabilities.

    Raises:
      TypeError, ValueError: for non-finite logits or ``temperature <= 0``.

    Examples:
      >>> soft_targets([0.0, math.log(3)], 1.0).tolist()
      [0.25, 0.75]
    """
    logits = _validate.as_float_array(logits, "logits")
    temperature = _validate.positive_float(temperature, "temperature")
    return scipy.special.softmax(logits / temperature, axis=-1)


def distillation_loss(teacher_logits, student_logits, temperature):
    r"""Hinton et al.'s soft-target loss and its gradient in the student's logits.

    .. math:: L = T^2\,\mathrm{KL}(p_T\|q_T),\qquad
              \frac{\partial L}{\partial v_i} = T\,(q_{T,i} - p_{T,i})

    with :math:`p_T, q_T` the teacher's and student's softmax at temperature T. The
    factor :math:`T^2` keeps the gradient's size roughly independent of T: for large T
    and logits of zero mean it tends to :math:`(v_i - z_i)/N` over N classes.

    Args:
      teacher_logits, student_logits: ``[N]`` array-likes.
      temperature: positive ``float``.

    Returns:
      ``(loss, gradient)``: ``float`` and ``[N]``.

    Raises:
      TypeError, ValueError: for non-finite logits, mismatched shapes or
        ``temperature <= 0``.

    Examples:
      >>> loss, grad = distillation_loss([1.0, 2.0], [1.0, 2.0], 3.0)
      >>> loss, grad.tolist()
      (0.0, [0.0, 0.0])
    """
    teacher_logits = _validate.as_float_array(teacher_logits, "teacher_logits")
    student_logits = _validate.as_float_array(student_logits, "student_logits")
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(
            "`teacher_logits` and `student_logits` must have the same shape; got "
            f"{teacher_logits.shape} and {student_logits.shape}"
        )
    p = soft_targets(teacher_logits, temperature)
    q = soft_targets(student_logits, temperature)
    loss = temperature**2 * float(scipy.special.rel_entr(p, q).sum())
    return loss, temperature * (q - p)


def bump_distribution(mean, scale, num_tokens):
    r"""A unimodal distribution over tokens ``0..num_tokens-1``: a discretised Gaussian bump.

    .. math:: q_i \propto \exp\!\big(-(i - \mu)^2 / (2\sigma^2)\big)

    Args:
      mean: ``float`` μ (need not be an integer).
      scale: positive ``float`` σ.
      num_tokens: ``int`` >= 2.

    Returns:
      ``numpy.ndarray`` ``[num_tokens]`` of probabilities.

    Raises:
      TypeError, ValueError: for a non-finite mean, ``scale <= 0`` or a bad count.

    Examples:
      >>> bump_distribution(1.0, 1e-3, 3).round(6).tolist()
      [0.0, 1.0, 0.0]
    """
    mean = float(_validate.as_float_array(mean, "mean"))
    scale = float(_validate.positive(scale, "scale"))
    num_tokens = _validate.positive_int(num_tokens, "num_tokens")
    if num_tokens < 2:
        raise ValueError(f"`num_tokens` must be at least 2; got {num_tokens}")
    return scipy.special.softmax(-0.5 * ((np.arange(num_tokens) - mean) / scale) ** 2)


_STUDENT_LOSSES = ("forward", "reverse", "jsd")


def fit_student(teacher, loss, starts, *, beta=0.5):
    r"""Fit a `bump_distribution` student to a teacher distribution, from several starts.

    .. math:: \min_{\mu, \sigma} D\big(p, s_{\mu,\sigma}\big),\qquad
              s_{\mu,\sigma}(i) \propto \exp\Big(-\tfrac12\big(\tfrac{i - \mu}{\sigma}
              \big)^2\Big)

    over the student's two parameters (chapter 7, section 7.7). ``loss`` is
    ``"forward"`` (KL(teacher‖student), classic distillation), ``"reverse"``
    (KL(student‖teacher), as in MiniLLM) or ``"jsd"`` (`generalised_jsd` (teacher,
    student, ``beta``)). Each start (μ, σ) is polished by
    Nelder-Mead in (μ, log σ), to about 1e-9 in the parameters.

    Args:
      teacher: ``[N]`` probabilities, all positive.
      loss: one of the three names above.
      starts: iterable of ``(mean, scale)`` pairs.
      beta: the JSD weight (only for ``"jsd"``).

    Returns:
      ``list`` of ``(mean, scale, value)`` per start, in the order given: the fitted
      μ and σ (``float``) and the divergence reached, in nats.

    Raises:
      TypeError, ValueError: for an invalid teacher, loss name or start.

    Examples:
      The forward-KL student spreads over the three bumps; the best reverse-KL one sits
      on the heaviest:

      >>> teacher, starts = three_bump_teacher()
      >>> forward = fit_student(teacher, "forward", starts[-1:])[0]
      >>> reverse = min(fit_student(teacher, "reverse", starts), key=lambda fit: fit[2])
      >>> bool(forward[1] > 3), round(reverse[0]), bool(reverse[1] < 2)
      (True, 4, True)
    """
    teacher = _validate.probability_vectors(teacher, "teacher", axis=-1)
    _validate.one_of(loss, "loss", _STUDENT_LOSSES)
    size = teacher.size

    def objective(params):
        student = bump_distribution(params[0], math.exp(params[1]), size)
        if loss == "forward":
            return float(scipy.special.rel_entr(teacher, student).sum())
        if loss == "reverse":
            return float(scipy.special.rel_entr(student, teacher).sum())
        return float(generalised_jsd(teacher, student, beta))

    fits = []
    for mean, scale in starts:
        start = [float(mean), math.log(float(_validate.positive(scale, "scale")))]
        result = scipy.optimize.minimize(
            objective,
            start,
            method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000},
        )
        fits.append((float(result.x[0]), math.exp(result.x[1]), float(result.fun)))
    return fits


# ----------------------------------------------------------------- chapter 7's examples
def toy_bandit():
    """Chapter 7's bandit: ``(ref_probs, reward)`` over five answers.

    The chapter defines them in the open and asserts that they equal these; the
    exercise checkers use this function, so both see the same problem.

    Returns:
      ``(ref_probs, reward)``: two float64 ``numpy`` arrays ``[5]``, the reference
      policy π_ref (it sums to 1) and each answer's reward (answer 3 is the best).

    Examples:
      >>> ref, reward = toy_bandit()
      >>> float(ref.sum()), int(reward.argmax())
      (1.0, 3)
    """
    return np.array([0.40, 0.25, 0.15, 0.12, 0.08]), np.array([0.0, 0.3, 0.5, 1.0, 0.8])


def tiny_language_model():
    """Chapter 7's language model: ``(space, ref_logits, reward)``.

    Three tokens, answers of four; random reference logits (seed 1); the reward is 1 if
    an answer ends with the token it starts with, plus 0.25 for every token 0 (``a``).

    Returns:
      ``(space, ref_logits, reward)``: ``SequenceSpace(3, 4)`` (81 answers, 40
      prefixes), the reference policy's logits ``[40, 3]`` (``numpy`` float64) and the
      reward of each answer ``[81]`` (float64, from 0 to 2).

    Examples:
      >>> space, ref_logits, reward = tiny_language_model()
      >>> space.num_sequences, ref_logits.shape, float(reward.max())
      (81, (40, 3), 2.0)
    """
    space = SequenceSpace(vocab_size=3, length=4)
    ref_logits = np.random.default_rng(1).normal(size=(space.num_prefixes, 3))
    answers = space.sequences
    reward = 1.0 * (answers[:, 0] == answers[:, -1]) + 0.25 * np.sum(answers == 0, axis=1)
    return space, ref_logits, reward


def three_bump_teacher(num_tokens=24):
    """Chapter 7's distillation teacher: bumps at tokens 4, 11, 18 weighing 0.5, 0.3, 0.2.

    Args:
      num_tokens: ``int`` > 18, the vocabulary size (24 in the chapter).

    Returns:
      ``(teacher, starts)``: the ``[num_tokens]`` probabilities and the four (μ, σ)
      starts the chapter fits from (one on each bump and one broad).

    Examples:
      >>> teacher, starts = three_bump_teacher()
      >>> int(teacher.argmax()), len(starts)
      (4, 4)
    """
    bumps = [(4, 1.0, 0.5), (11, 1.2, 0.3), (18, 1.0, 0.2)]
    teacher = sum(w * bump_distribution(m, s, num_tokens) for m, s, w in bumps)
    return teacher, [(m, s) for m, s, _ in bumps] + [(11, 6)]
