r"""Deep recommenders in Keras (chapters 06–08 and 11), one module per idea:

* :mod:`~recsys_helpers.deep.by_hand` — the layers' formulas step by step in NumPy (dense layer,
  convolution, simple RNN, GRU, scaled dot-product and multi-head attention), each tested against
  its Keras twin;
* :mod:`~recsys_helpers.deep.builders` — small, uncompiled Keras models:
  :func:`build_neural_cf` (GMF, MLP or NeuMF on ``(user, item)`` pairs),
  :func:`build_sequence_cnn` (the source's Input → Embedding → Conv1D → MaxPooling1D → Dense →
  Dense(1, sigmoid) stack, corrected: "will this user interact with this candidate, given their
  last L items?"), :func:`build_caser` (horizontal and vertical convolutions over the last L item
  embeddings, Tang & Wang 2018), :func:`build_gru` (a GRU over the last L items, GRU4Rec-style,
  Hidasi et al. 2016) and :func:`build_sasrec` (causal self-attention blocks, Kang & McAuley
  2018), with :class:`ItemScores`, the output layer that shares the item embeddings;
* :mod:`~recsys_helpers.deep.training` — :func:`train` seeds Python, NumPy and TensorFlow, makes
  TensorFlow's ops deterministic, trains epoch by epoch (optionally on freshly drawn data each
  epoch), stops early when a validation score stops improving, restores the best weights and
  returns the history as a table;
* :mod:`~recsys_helpers.deep.estimators` — :class:`NeuralCF`, :class:`SequenceCNN`,
  :class:`Caser`, :class:`GRURecommender` and :class:`SASRec` follow the book's contract
  (``fit(ratings)``, ``recommend(user_ids, k, exclude_seen)``), so :mod:`recsys_helpers.evaluation`
  scores them like any other model. The sequence models order each user's ratings by time
  themselves (:func:`recsys_helpers.sequences.user_histories`).

Importing this package imports TensorFlow **quietly** and fixes the settings that change its
numbers (:mod:`~recsys_helpers.deep._runtime`, :data:`TF_SETTINGS`, :data:`TF_THREADS`). They are
meant to keep the CPU's instruction set beyond AVX2 and its number of cores from changing a
trained model; other differences between CPUs remain (README, "The same numbers on your CPU").
Everything is importable from ``recsys_helpers.deep`` directly.
"""

from ._runtime import TF_SETTINGS, TF_THREADS, keras, layers, tf
from .builders import (
    ItemScores,
    build_caser,
    build_gru,
    build_neural_cf,
    build_sasrec,
    build_sequence_cnn,
    sasrec_parameter_count,
)
from .by_hand import (
    causal_mask,
    conv1d,
    dense_layer,
    gru_states,
    gru_states_reset_before,
    multi_head_attention,
    rnn_states,
    scaled_dot_product_attention,
    softmax,
)
from .estimators import Caser, GRURecommender, NeuralCF, SASRec, SequenceCNN
from .training import seed_everything, train

__all__ = ["TF_SETTINGS", "TF_THREADS", "Caser", "GRURecommender", "ItemScores", "NeuralCF",
           "SASRec", "SequenceCNN", "build_caser", "build_gru", "build_neural_cf", "build_sasrec",
           "build_sequence_cnn", "causal_mask", "conv1d", "dense_layer", "gru_states",
           "gru_states_reset_before", "keras", "layers", "multi_head_attention", "rnn_states",
           "sasrec_parameter_count", "scaled_dot_product_attention", "seed_everything", "softmax",
           "tf", "train"]  # fmt: skip
