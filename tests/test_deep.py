"""recsys_helpers.deep: builders (shapes, masking), training (determinism, early stopping),
estimators (learn a planted pattern, never leak, follow the book's contract)."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from recsys_helpers import deep
from recsys_helpers.baselines import Popularity
from recsys_helpers.deep import training
from recsys_helpers.metrics import hit_rate
from recsys_helpers.splits import leave_last_out
from recsys_helpers.synthetic import make_ratings

keras = deep.keras


def cyclic_ratings(n_users=80, n_items=30, length=10, seed=0):
    """Every user walks the cycle 1 -> 2 -> ... -> n_items -> 1 from a random start: the next
    item is always the successor of the last one (the planted sequential pattern)."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        start = rng.integers(n_items)
        for t in range(length):
            rows.append((user, 1 + (start + t) % n_items, 4.0, 1000 + t))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


def successor_hit_rate(model, ratings, k=1):
    """Share of users whose top-k unseen items contain the successor of their last item."""
    last = ratings.sort_values("timestamp").groupby("user_id").item_id.last()
    n_items = ratings.item_id.max()
    truth = pd.DataFrame({"user_id": last.index, "item_id": last.to_numpy() % n_items + 1})
    recs = model.recommend(last.index, k=k)
    return hit_rate(recs, truth, k=k)


def test_tensorflow_is_imported_without_log_noise():
    result = subprocess.run([sys.executable, "-c", "import recsys_helpers.deep"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert result.stderr == ""
    assert result.stdout == ""


@pytest.mark.parametrize("kind", ["gmf", "mlp", "neumf"])
def test_neural_cf_shapes(kind):
    model = deep.build_neural_cf(5, 7, kind=kind, n_factors=4, hidden=(8,))
    out = model({"user": np.array([0, 4, 2]), "item": np.array([6, 0, 3])})
    assert out.shape == (3, 1)
    assert np.all((np.asarray(out) > 0) & (np.asarray(out) < 1))
    names = {layer.name for layer in model.layers}
    assert ("gmf" in names) == (kind != "mlp")
    assert ("mlp_0" in names) == (kind != "gmf")


def test_builders_output_shapes():
    history = np.array([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5]])
    cnn = deep.build_sequence_cnn(n_tokens=9, length=5, embedding_dim=4, filters=6)
    assert cnn({"history": history, "candidate": np.array([7, 8])}).shape == (2, 1)
    caser = deep.build_caser(n_tokens=9, n_users=3, length=5, embedding_dim=4)
    assert caser({"history": history, "user": np.array([0, 2])}).shape == (2, 9)
    gru = deep.build_gru(n_tokens=9, length=5, embedding_dim=4, units=3)
    assert gru(history).shape == (2, 9)


def test_bad_builder_arguments():
    with pytest.raises(ValueError, match="kind"):
        deep.build_neural_cf(3, 3, kind="deep")
    with pytest.raises(ValueError, match="kernel_size"):
        deep.build_sequence_cnn(9, length=2, kernel_size=3)
    with pytest.raises(ValueError, match="length"):
        deep.build_gru(9, length=0)


def test_gru_skips_padding():
    """With mask_zero, left padding changes nothing: the padded window gives the state of the
    history alone, whatever the padding token's embedding holds."""
    deep.seed_everything(0)
    long = deep.build_gru(n_tokens=9, length=6, embedding_dim=4, units=3)
    short = deep.build_gru(n_tokens=9, length=2, embedding_dim=4, units=3)
    short.set_weights(long.get_weights())
    padded = np.asarray(long(np.array([[0, 0, 0, 0, 7, 2]])))
    alone = np.asarray(short(np.array([[7, 2]])))
    np.testing.assert_allclose(padded, alone, rtol=1e-6)
    embedding = long.get_layer("item_embedding")
    table = embedding.get_weights()[0]
    table[0] = 100.0
    embedding.set_weights([table])
    np.testing.assert_allclose(np.asarray(long(np.array([[0, 0, 0, 0, 7, 2]]))), padded, rtol=1e-6)


def test_caser_vertical_filters_are_weighted_sums_over_positions():
    deep.seed_everything(0)
    model = deep.build_caser(n_tokens=6, n_users=2, length=3, embedding_dim=2, n_vertical=1)
    table = model.get_layer("item_embedding").get_weights()[0]
    w, b = model.get_layer("conv_v").get_weights()
    probe = keras.Model(model.inputs, model.get_layer("flatten_v").output)
    out = np.asarray(probe({"history": np.array([[1, 4, 5]]), "user": np.array([0])}))
    by_hand = table[[1, 4, 5]].T @ w[:, 0] + b[0]  # one value per embedding dimension
    np.testing.assert_allclose(out[0], by_hand, rtol=1e-5)


def test_training_is_deterministic_for_a_seed():
    ratings = cyclic_ratings(n_users=20, n_items=8, length=6)
    weights = [deep.NeuralCF(n_factors=4, hidden=(8,), n_epochs=2, seed=seed).fit(ratings)
               .model_.get_weights() for seed in (3, 3, 4)]  # fmt: skip
    for a, b in zip(weights[0], weights[1], strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(weights[0], weights[2], strict=True))


def test_several_steps_per_execution_train_the_same_bits(monkeypatch):
    ratings = cyclic_ratings(n_users=20, n_items=8, length=6)
    weights = {}
    for steps in (1, 3):  # 3 does not divide the number of batches: a shorter last execution
        model = deep.GRURecommender(length=3, embedding_dim=4, units=4, n_epochs=2, batch_size=8)
        monkeypatch.setattr(training, "STEPS_PER_EXECUTION", steps)  # what every estimator uses
        weights[steps] = model.fit(ratings).model_.get_weights()
        assert model.model_.steps_per_execution == steps
    for a, b in zip(weights[1], weights[3], strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="steps_per_execution"):
        deep.train(model.model_, ([[1, 2, 3]], [1]), n_epochs=1, steps_per_execution=0)


def _linear_model():
    """A seeded one-layer Keras model of two inputs, compiled with SGD and squared error."""
    deep.seed_everything(0)
    inputs = keras.Input(shape=(2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_train_leaves_the_steps_of_a_model_that_has_run_alone():
    model = _linear_model()
    x, y = np.ones((100, 2), "float32"), np.zeros(100, "float32")
    assert model.predict(x, batch_size=10, verbose=0).shape == (100, 1)  # builds predict_function
    deep.train(model, (x, y), n_epochs=1, batch_size=10)
    assert model.steps_per_execution == 1
    assert model.predict(x, batch_size=10, verbose=0).shape == (100, 1)  # every row, still


def test_train_stops_early_and_restores_the_best_weights():
    model = _linear_model()
    x, y = np.ones((8, 2), "float32"), np.zeros(8, "float32")
    seen, scores = [], iter([0.1, 0.5, 0.4, 0.3, 0.2, 0.9])

    def validate():
        seen.append(model.get_weights())
        return next(scores)

    history = deep.train(model, (x, y), n_epochs=6, validate=validate, patience=3)
    assert list(history.index) == [1, 2, 3, 4, 5]  # epochs 3-5 do not beat epoch 2
    assert history.attrs["best_epoch"] == 2
    assert history["validation"].tolist() == [0.1, 0.5, 0.4, 0.3, 0.2]
    for a, b in zip(model.get_weights(), seen[1], strict=True):
        np.testing.assert_array_equal(a, b)
    no_validation = deep.train(model, (x, y), n_epochs=2)
    assert no_validation.attrs["best_epoch"] == 2 and "validation" not in no_validation


@pytest.mark.parametrize("cls, params", [
    (deep.SequenceCNN, {"length": 3, "embedding_dim": 8, "filters": 16, "hidden": 16,
                        "n_epochs": 15, "batch_size": 64, "learning_rate": 1e-2}),
    (deep.Caser, {"length": 3, "embedding_dim": 8, "n_epochs": 15, "batch_size": 32,
                  "learning_rate": 1e-2, "dropout": 0.1}),
    (deep.GRURecommender, {"length": 3, "embedding_dim": 8, "units": 8, "n_epochs": 15,
                           "batch_size": 32, "learning_rate": 1e-2, "dropout": 0.0}),
])  # fmt: skip
def test_sequence_models_learn_a_planted_pattern(cls, params):
    ratings = cyclic_ratings()
    model = cls(**params).fit(ratings)
    assert successor_hit_rate(model, ratings) >= 0.9
    # A model that ignores the order cannot do this.
    assert successor_hit_rate(Popularity().fit(ratings), ratings) < 0.2


def test_neural_cf_learns_who_likes_what():
    """Two groups of users, each interacting only with its own half of the catalogue: for a user
    held out of one item, the model recommends items of their own half."""
    rows = [(u, i, 5.0) for u in range(40) for i in range(10) if (i < 5) == (u < 20) and
            (u + i) % 5 != 0]  # fmt: skip
    ratings = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    model = deep.NeuralCF(kind="gmf", n_factors=4, n_epochs=30, batch_size=64,
                          learning_rate=1e-2).fit(ratings)  # fmt: skip
    recs = model.recommend(range(40), k=1)
    own_half = (recs.item_id < 5) == (recs.user_id < 20)
    assert own_half.mean() >= 0.95


def test_sequence_models_use_validation_as_context_and_never_see_the_test_item():
    ratings = cyclic_ratings(n_users=30, n_items=12, length=10)
    train, validation, test = leave_last_out(ratings)
    model = deep.GRURecommender(length=3, embedding_dim=4, units=4, n_epochs=2).fit(
        train, validation=validation)
    assert 1 <= len(model.history_) <= 2 and "validation" in model.history_
    for user, items in model.histories_.items():
        assert items[-1] == validation.set_index("user_id").item_id[user]
        assert test.set_index("user_id").item_id[user] not in items
    recs = model.recommend(validation.user_id.unique(), k=20)
    seen = recs.merge(validation, on=["user_id", "item_id"])
    assert seen.empty  # validation items count as seen at test time


def test_unknown_users_get_the_popularity_ranking():
    ratings = cyclic_ratings(n_users=10, n_items=6, length=4)
    ratings = ratings[~((ratings.item_id == 6) & (ratings.user_id > 2))]  # item 6 least popular
    model = deep.Caser(length=2, embedding_dim=4, n_epochs=1).fit(ratings)
    recs = model.recommend([10**6], k=6)  # an id never seen in training
    counts = ratings.groupby("item_id").size()
    assert recs.item_id.tolist() == counts.sort_values(ascending=False, kind="stable").index.tolist()
    with pytest.raises(TypeError, match="ranks items"):
        model.predict(ratings.head(2))


def test_neural_cf_validation_controls_early_stopping():
    ratings = cyclic_ratings(n_users=30, n_items=10, length=6)
    train, validation, _ = leave_last_out(ratings)
    model = deep.NeuralCF(kind="gmf", n_factors=4, n_epochs=3).fit(train, validation=validation)
    assert list(model.history_.columns) == ["loss", "validation"]
    assert model.best_epoch_ == model.history_["validation"].idxmax()


def test_rnn_recurrence_by_hand_and_against_keras():
    W = np.array([[0.5, -1.0], [0.25, 0.5]])
    U = np.array([[1.0, 0.0], [-0.5, 0.5]])
    b = np.array([0.0, 0.1])
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    h1 = np.tanh([0.5, 0.35])  # W x1 + b; h0 = 0
    h2 = np.tanh(np.array([-1.0, 0.6]) + U @ h1)
    h3 = np.tanh(np.array([-0.5, 0.85]) + U @ h2)
    states = deep.rnn_states(x, W, U, b)
    np.testing.assert_allclose(states, [h1, h2, h3], rtol=1e-12)
    layer = keras.layers.SimpleRNN(2, return_sequences=True)
    layer.build((None, 3, 2))
    layer.set_weights([W.T, U.T, b])
    np.testing.assert_allclose(np.asarray(layer(x[None].astype("float32")))[0], states, rtol=1e-5)


def test_gru_by_hand_against_keras():
    rng = np.random.default_rng(0)
    units, dim = 3, 2
    weights = [rng.normal(size=(dim, 3 * units)), rng.normal(size=(units, 3 * units)),
               rng.normal(size=(2, 3 * units))]  # fmt: skip
    x = rng.normal(size=(4, dim))
    layer = keras.layers.GRU(units, return_sequences=True)
    layer.build((None, 4, dim))
    layer.set_weights(weights)
    expected = np.asarray(layer(x[None].astype("float32")))[0]
    np.testing.assert_allclose(deep.gru_states(x, *weights), expected, rtol=1e-4, atol=1e-6)
    # One step by hand: from h0 = 0 the update gate weighs the candidate against zero.
    z = 1 / (1 + np.exp(-(x[0] @ weights[0][:, :units] + weights[2][0, :units]
                          + weights[2][1, :units])))  # fmt: skip
    r = 1 / (1 + np.exp(-(x[0] @ weights[0][:, units:2 * units] + weights[2][0, units:2 * units]
                          + weights[2][1, units:2 * units])))  # fmt: skip
    candidate = np.tanh(x[0] @ weights[0][:, 2 * units:] + weights[2][0, 2 * units:]
                        + r * weights[2][1, 2 * units:])  # fmt: skip
    np.testing.assert_allclose(deep.gru_states(x[:1], *weights)[0], (1 - z) * candidate)


def test_gru_reset_before_matches_keras_reset_after_false_and_differs_from_the_default():
    rng = np.random.default_rng(1)
    units, dim = 3, 2
    weights = [rng.normal(size=(dim, 3 * units)), rng.normal(size=(units, 3 * units)),
               rng.normal(size=3 * units)]  # fmt: skip
    x = rng.normal(size=(5, dim))
    layer = keras.layers.GRU(units, return_sequences=True, reset_after=False)
    layer.build((None, 5, dim))
    layer.set_weights(weights)
    expected = np.asarray(layer(x[None].astype("float32")))[0]
    states = deep.gru_states_reset_before(x, *weights)
    np.testing.assert_allclose(states, expected, rtol=1e-4, atol=1e-6)
    # Step 2 by hand: the reset gate scales h1 before the recurrent product.
    h1 = states[0]
    r = 1 / (1 + np.exp(-(x[1] @ weights[0][:, units:2 * units] + weights[2][units:2 * units]
                          + h1 @ weights[1][:, units:2 * units])))  # fmt: skip
    z = 1 / (1 + np.exp(-(x[1] @ weights[0][:, :units] + weights[2][:units]
                          + h1 @ weights[1][:, :units])))  # fmt: skip
    candidate = np.tanh(x[1] @ weights[0][:, 2 * units:] + weights[2][2 * units:]
                        + (r * h1) @ weights[1][:, 2 * units:])  # fmt: skip
    np.testing.assert_allclose(states[1], z * h1 + (1 - z) * candidate, rtol=1e-12)
    # The same numbers in Keras' default form (the bias as the input bias, no recurrent bias)
    # give other states from step 2 on: the two forms are different functions.
    after = deep.gru_states(x, weights[0], weights[1], np.vstack([weights[2], np.zeros(3 * units)]))
    np.testing.assert_allclose(after[0], states[0], rtol=1e-12)
    assert np.abs(after[1:] - states[1:]).max() > 1e-3


def test_sequence_cnn_fast_scoring_matches_the_keras_model():
    ratings = cyclic_ratings(n_users=12, n_items=10, length=6)
    model = deep.SequenceCNN(length=3, embedding_dim=4, filters=5, hidden=6, n_epochs=1).fit(ratings)
    u = np.arange(3)
    windows = model._windows_for(u).astype(np.int32)
    n = len(model.items_)
    probability = model.model_.predict({"history": np.repeat(windows, n, axis=0),
                                        "candidate": np.tile(np.arange(1, n + 1), 3)},
                                       verbose=0).reshape(3, n)  # fmt: skip
    logits = model._score_known(u)
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), probability, rtol=1e-4, atol=1e-6)


def test_gmf_fast_scoring_matches_the_keras_model():
    ratings = make_ratings(n_users=20, n_items=30, n_ratings=120, seed=2).ratings
    model = deep.NeuralCF(kind="gmf", n_factors=4, n_epochs=2, batch_size=64).fit(ratings)
    u = np.arange(5)
    n = len(model.items_)
    probability = model.model_.predict({"user": np.repeat(u, n).astype(np.int32),
                                        "item": np.tile(np.arange(n), 5).astype(np.int32)},
                                       verbose=0).reshape(5, n)  # fmt: skip
    logits = model._score_known(u)
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), probability, rtol=1e-5, atol=1e-7)


def test_validation_windows_end_before_the_validation_item_and_test_windows_include_it():
    """On the cyclic world, a model that learned the pattern scores the validation items from
    the training histories and the test items from histories that end with the validation item;
    mixing up either input would make it predict the wrong successor."""
    train, validation, test = leave_last_out(cyclic_ratings())
    model = deep.Caser(length=3, embedding_dim=8, n_epochs=15, batch_size=32, learning_rate=1e-2,
                       dropout=0.1).fit(train, validation=validation)  # fmt: skip
    assert model.history_["validation"].max() >= 0.9
    recs = model.recommend(test.user_id.unique(), k=1)
    assert hit_rate(recs, test, k=1) >= 0.9


@pytest.mark.parametrize("make", [
    lambda: deep.NeuralCF(kind="gmf", n_factors=4, n_epochs=3, patience=5),
    lambda: deep.SequenceCNN(length=3, embedding_dim=4, filters=4, hidden=4, n_epochs=3,
                             patience=5),
    lambda: deep.GRURecommender(length=3, embedding_dim=4, units=4, n_epochs=3, patience=5),
])  # fmt: skip
def test_validation_data_never_changes_what_is_learned(make):
    """Training with validation items (for early stopping) follows exactly the same path as
    training without them: same data, same negatives, same losses."""
    ratings = cyclic_ratings(n_users=30, n_items=20, length=8)
    train, validation, _ = leave_last_out(ratings)
    with_validation = make().fit(train, validation=validation).history_
    without = make().fit(train).history_
    np.testing.assert_array_equal(with_validation["loss"], without["loss"])


def test_gmf_is_a_weighted_dot_product_by_hand():
    """Chapter 06, exercise 1: p_u = (1, -1), q_2 = (0, 3), h = (0.5, 2), b = 0 gives
    sigma(0.5 * 0 + 2 * -3) = sigma(-6)."""
    model = deep.build_neural_cf(n_users=1, n_items=4, kind="gmf", n_factors=2)
    model.get_layer("gmf_user").set_weights([np.array([[1.0, -1.0]])])
    model.get_layer("gmf_item").set_weights([np.array([[1, 0], [2, 1], [0, 3], [1, 1]], "float32")])
    model.get_layer("interaction").set_weights([np.array([[0.5], [2.0]]), np.zeros(1)])
    out = float(np.asarray(model({"user": np.array([0]), "item": np.array([2])}))[0, 0])
    assert out == pytest.approx(1 / (1 + np.exp(6)), rel=1e-5)


def test_caser_horizontal_filters_by_hand():
    """A horizontal filter of height h slides over the L x d embeddings, ReLU, max over time."""
    deep.seed_everything(0)
    model = deep.build_caser(n_tokens=6, n_users=2, length=3, embedding_dim=2, n_horizontal=1)
    table = model.get_layer("item_embedding").get_weights()[0]
    kernel, bias = model.get_layer("conv_h2").get_weights()  # kernel: (h=2, d=2, 1 filter)
    probe = keras.Model(model.inputs, model.get_layer("pool_h2").output)
    out = np.asarray(probe({"history": np.array([[1, 4, 5]]), "user": np.array([0])}))[0, 0]
    e = table[[1, 4, 5]]
    by_hand = max(max(0.0, float((kernel[:, :, 0] * e[t:t + 2]).sum() + bias[0])) for t in (0, 1))
    assert out == pytest.approx(by_hand, rel=1e-5, abs=1e-7)


# -- the same bits on one core as on all ---------------------------------------------------------
_TRAIN_SCRIPT = """
import hashlib, os, sys
if sys.argv[1] == "one-core":
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
import numpy as np
from recsys_helpers import deep
rng = np.random.default_rng(0)
x = {"history": rng.integers(0, 300, (2048, 8)).astype("int32"),
     "candidate": rng.integers(1, 300, 2048).astype("int32")}
y = rng.integers(0, 2, 2048).astype("float32")
deep.seed_everything(0)
model = deep.build_sequence_cnn(300, 8)
model.compile(optimizer="adam", loss="binary_crossentropy")
deep.train(model, (x, y), n_epochs=2, batch_size=512)
weights = np.concatenate([w.ravel() for w in model.get_weights()])
print(deep.tf.config.threading.get_intra_op_parallelism_threads(), os.environ["ONEDNN_MAX_CPU_ISA"],
      hashlib.sha256(weights.tobytes()).hexdigest())
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "sched_setaffinity"), reason="Linux only")
def test_training_gives_the_same_bits_on_one_core_as_on_all():
    # TensorFlow splits sums across its threads, and its oneDNN kernels follow the CPU's
    # instruction set; deep fixes both, so the number of cores must not change a single bit.
    runs = [subprocess.run([sys.executable, "-c", _TRAIN_SCRIPT, mode], capture_output=True,
                           text=True, check=True).stdout.split()
            for mode in ("all-cores", "one-core")]  # fmt: skip
    assert runs[0][:2] == [str(deep.TF_THREADS), "AVX2"]
    assert runs[0] == runs[1]


# -- the source's formula y = f(Wx + b) (a dense layer) against a convolution ----------------------
def test_dense_layer_by_hand():
    # W = [[1, 2], [0, -1]], x = (3, 1), b = (0.5, 0): Wx + b = (5.5, -1); ReLU -> (5.5, 0)
    y = deep.dense_layer([3, 1], [[1, 2], [0, -1]], [0.5, 0], activation=lambda v: np.maximum(v, 0))
    np.testing.assert_allclose(y, [5.5, 0.0])


def test_conv1d_by_hand_slides_one_kernel_over_the_sequence():
    # x = 1, 2, 3, 4 (one channel), kernel (1, -1) (k = 2, one filter), bias 0.5:
    # y_t = x_t - x_{t+1} + 0.5 = -0.5 at every position.
    x = np.array([[1.0], [2.0], [3.0], [4.0]])
    kernel = np.array([1.0, -1.0]).reshape(2, 1, 1)
    np.testing.assert_allclose(deep.conv1d(x, kernel, [0.5]), [[-0.5], [-0.5], [-0.5]])
    with pytest.raises(ValueError, match="shorter than the kernel"):
        deep.conv1d(x[:1], kernel, [0.5])
    with pytest.raises(ValueError, match="kernel"):
        deep.conv1d(x, kernel.reshape(2, 1, 1, 1), [0.5])


def test_conv1d_and_dense_layer_match_keras():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 7, 3)).astype("float32")
    conv = keras.layers.Conv1D(4, 3, activation="relu")
    expected = np.asarray(conv(x))[0]
    kernel, bias = conv.get_weights()
    np.testing.assert_allclose(deep.conv1d(x[0], kernel, bias, lambda v: np.maximum(v, 0)),
                               expected, atol=1e-5)  # fmt: skip
    dense = keras.layers.Dense(5, activation="sigmoid")
    flat = x.reshape(1, -1)
    expected = np.asarray(dense(flat))[0]
    W, b = dense.get_weights()
    np.testing.assert_allclose(deep.dense_layer(flat[0], W.T, b, lambda v: 1 / (1 + np.exp(-v))),
                               expected, atol=1e-6)  # fmt: skip


def test_numpy_twins_name_a_wrong_shape():
    with pytest.raises(ValueError, match=r"kernel\.T"):
        deep.dense_layer([1.0, 2.0, 3.0], np.ones((3, 2)), [0.0, 0.0])  # a Keras kernel, untransposed
    with pytest.raises(ValueError, match="bias"):
        deep.conv1d(np.ones((4, 1)), np.ones((2, 1, 1)), [0.0, 0.0])
    with pytest.raises(ValueError, match="reset_after=True: use gru_states"):
        deep.gru_states_reset_before(np.ones((2, 3)), np.ones((3, 6)), np.ones((2, 6)),
                                     np.zeros((2, 6)))  # fmt: skip


def test_a_bad_thread_count_is_named():
    result = subprocess.run([sys.executable, "-c", "import recsys_helpers.deep"], capture_output=True,
                            text=True, env={**__import__("os").environ, "RECSYS_TF_THREADS": "0"})
    assert result.returncode != 0 and "RECSYS_TF_THREADS must be a whole number" in result.stderr


# -- attention (chapter 11) ------------------------------------------------------------------------
def test_scaled_dot_product_attention_by_hand():
    q = np.array([[1.0, 0.0], [0.0, 2.0]])
    k = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    v = np.array([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    out, weights = deep.scaled_dot_product_attention(q, k, v)
    # Query 0 scores the keys 1, 0, 1, divided by sqrt(2); softmax; weighted sum of v.
    s = np.exp(np.array([1.0, 0.0, 1.0]) / np.sqrt(2))
    np.testing.assert_allclose(weights[0], s / s.sum())
    np.testing.assert_allclose(out[0], (s / s.sum()) @ v)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    # The causal mask: position t sees 0..t only.
    mask = deep.causal_mask(3)
    np.testing.assert_array_equal(mask, [[1, 0, 0], [1, 1, 0], [1, 1, 1]])
    out, weights = deep.scaled_dot_product_attention(k, k, v, mask=mask)
    np.testing.assert_array_equal(weights[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(out[0], v[0])
    assert (weights[np.triu_indices(3, 1)] == 0).all()
    # Nothing visible: zero weights, not NaN.
    np.testing.assert_array_equal(deep.softmax([[-np.inf, -np.inf]]), [[0.0, 0.0]])
    with pytest.raises(ValueError, match="mask must have shape"):
        deep.scaled_dot_product_attention(q, k, v, mask=np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="positive integer"):
        deep.causal_mask(0)


@pytest.mark.parametrize("heads", [1, 2])
def test_multi_head_attention_by_hand_matches_keras(heads):
    deep.seed_everything(0)
    layer = keras.layers.MultiHeadAttention(heads, 4 // heads)
    x = np.random.default_rng(1).normal(size=(1, 5, 4)).astype("float32")
    for causal in (False, True):
        keras_out = np.asarray(layer(x, x, use_causal_mask=causal))[0]
        mask = deep.causal_mask(5) if causal else None
        by_hand = deep.multi_head_attention(x[0], x[0], layer.get_weights(), mask=mask)
        np.testing.assert_allclose(by_hand, keras_out, rtol=1e-5, atol=1e-6)


def test_without_positions_attention_ignores_the_order_of_earlier_items():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3))
    swapped = x[[1, 0, 2, 3]]  # the first two items exchanged
    mask = deep.causal_mask(4)
    out, _ = deep.scaled_dot_product_attention(x, x, x, mask)
    out_swapped, _ = deep.scaled_dot_product_attention(swapped, swapped, swapped, mask)
    np.testing.assert_allclose(out[-1], out_swapped[-1])  # the last position cannot tell
    positions = rng.normal(size=(4, 3))
    with_pos, _ = deep.scaled_dot_product_attention(x + positions, x + positions, x + positions, mask)
    swapped_pos = swapped + positions
    with_pos_swapped, _ = deep.scaled_dot_product_attention(swapped_pos, swapped_pos, swapped_pos,
                                                            mask)  # fmt: skip
    assert not np.allclose(with_pos[-1], with_pos_swapped[-1])


def test_sasrec_parameter_count_formula():
    for args in [(101, 10, 16, 2), (51, 5, 8, 1), (30, 7, 12, 3)]:
        model = deep.build_sasrec(*args, n_heads=2 if args[2] % 2 == 0 else 1)
        assert model.count_params() == deep.sasrec_parameter_count(*args)
    assert deep.sasrec_parameter_count(101, 10, 16, 2) == 101 * 16 + 10 * 16 + 2 * (
        6 * 16 * 16 + 10 * 16) + 2 * 16
    with pytest.raises(ValueError, match="multiple of n_heads"):
        deep.build_sasrec(20, 5, embedding_dim=10, n_heads=3)


def test_sasrec_is_causal_and_ignores_padding():
    deep.seed_everything(0)
    model = deep.build_sasrec(20, 6, embedding_dim=8, n_blocks=2, n_heads=2, dropout=0.0)
    history = np.array([[0, 0, 3, 5, 7, 9]], dtype="int32")
    states = np.asarray(model(history))
    future = history.copy()
    future[0, 4:] = [11, 13]  # change the items after position 3
    changed = np.asarray(model(future))
    np.testing.assert_allclose(changed[0, :4], states[0, :4], rtol=1e-6, atol=1e-6)
    assert not np.allclose(changed[0, 4:], states[0, 4:])
    # The padding token's embedding never reaches a real position.
    table = model.get_layer("item_embedding")
    weights = table.get_weights()[0]
    weights[0] = 100.0
    table.set_weights([weights])
    np.testing.assert_allclose(np.asarray(model(history))[0, 2:], states[0, 2:], rtol=1e-5,
                               atol=1e-5)  # fmt: skip


@pytest.mark.parametrize("loss", ["softmax", "bce"])
def test_sasrec_learns_a_planted_pattern_deterministically(loss):
    ratings = cyclic_ratings()
    params = {"length": 4, "embedding_dim": 16, "n_blocks": 1, "dropout": 0.0, "loss": loss,
              "n_negatives": 4, "n_epochs": 25, "batch_size": 32, "learning_rate": 1e-2}
    model = deep.SASRec(**params).fit(ratings)
    assert successor_hit_rate(model, ratings) >= 0.9
    again = deep.SASRec(**params).fit(ratings)
    for a, b in zip(model.model_.get_weights(), again.model_.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_sasrec_contract_validation_unknown_users_and_fractions():
    ratings = cyclic_ratings(n_users=30, n_items=12, length=8)
    train, validation, test = leave_last_out(ratings)
    model = deep.SASRec(length=3, embedding_dim=8, n_blocks=1, n_epochs=2).fit(
        train, validation=validation)
    assert "validation" in model.history_ and model.best_epoch_ in model.history_.index
    for user, items in model.histories_.items():
        assert test.set_index("user_id").item_id[user] not in items
    recs = model.recommend([10**6, 0], k=12)  # a stranger, and a user with a history
    assert recs[recs.user_id == 10**6].item_id.tolist() == list(
        pd.Series(model.popularity_, index=model.items_.ids)
        .sort_values(ascending=False, kind="stable").index)  # fmt: skip
    assert recs[recs.user_id == 0].merge(train[train.user_id == 0], on="item_id").empty
    # A fraction of the users trains the model; every user is still scored from their history.
    few = deep.SASRec(length=3, embedding_dim=8, n_blocks=1, n_epochs=1,
                      train_fraction=0.2).fit(train)  # fmt: skip
    assert few.recommend(train.user_id.unique(), k=3).groupby("user_id").size().eq(3).all()
    for bad, match in [({"loss": "hinge"}, "loss"), ({"train_fraction": 0.0}, "train_fraction"),
                       ({"n_negatives": 0}, "n_negatives"), ({"length": 0}, "length")]:
        with pytest.raises(ValueError, match=match):
            deep.SASRec(**bad).fit(train)


@pytest.mark.parametrize("cls", [deep.GRURecommender, deep.Caser, deep.SASRec])
def test_sequence_models_say_when_there_is_nothing_to_learn(cls):
    one_each = pd.DataFrame({"user_id": [1, 2, 3], "item_id": [1, 2, 3], "rating": 4.0,
                             "timestamp": [1, 2, 3]})  # no user has a next item
    with pytest.raises(ValueError, match="no training examples"):
        cls(length=2, n_epochs=1).fit(one_each)


def test_train_early_stopping_matches_keras_restore_best_weights():
    # deep.train's loop, against keras.callbacks.EarlyStopping(restore_best_weights=True) on
    # the same model, data and settings: the same epochs run, the same best epoch, the same
    # weights kept. Full batches, so that the order of examples cannot matter; a small, noisy
    # training set, so that the validation loss turns up and the stopping rule is exercised.
    keras = deep.keras
    rng = np.random.default_rng(0)
    w = np.array([1.0, -2.0, 0.5])
    x, x_val = rng.normal(size=(24, 3)).astype("float32"), rng.normal(size=(200, 3)).astype("float32")
    y = (x @ w + rng.normal(0, 1.0, 24)).astype("float32")
    y_val = (x_val @ w).astype("float32")

    def model():
        keras.utils.set_random_seed(0)
        net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(64, activation="relu"),
                                keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)])
        net.compile(keras.optimizers.Adam(0.03), "mse")
        return net

    ours = model()
    start = ours.get_weights()
    history = deep.train(ours, (x, y), n_epochs=200, batch_size=24, patience=4,
                         validate=lambda: -ours.evaluate(x_val, y_val, batch_size=200, verbose=0))
    theirs = model()
    theirs.set_weights(start)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=4, restore_best_weights=True)
    fitted = theirs.fit(x, y, batch_size=24, epochs=200, validation_data=(x_val, y_val),
                        callbacks=[stop], verbose=0)  # fmt: skip
    val_loss = np.array(fitted.history["val_loss"])
    assert len(history) == len(val_loss) < 200  # it did stop early
    assert history.attrs["best_epoch"] == int(np.argmin(val_loss)) + 1 < len(history)
    np.testing.assert_allclose(-history["validation"], val_loss, rtol=1e-4)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
