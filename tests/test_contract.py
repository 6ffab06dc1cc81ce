"""The estimator contract (recsys_helpers.base), checked for every model the package exports.

Models are discovered, not listed: a new subclass of ``Recommender`` in any module of the package
is checked without editing this file (in the spirit of scikit-learn's
``parametrize_with_checks``). ``FAST`` only shrinks the deep and Spark models so that the checks
run in seconds; a model missing from it is checked with its defaults.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil

import numpy as np
import pandas as pd
import pytest

import recsys_helpers
from recsys_helpers import base
from recsys_helpers.base import NotFittedError, Recommender, TrainingDivergedError, clone

for _module in pkgutil.walk_packages(recsys_helpers.__path__, "recsys_helpers."):
    if not _module.name.endswith("__main__"):
        importlib.import_module(_module.name)


def _exported_models() -> list[type]:
    found, todo = [], list(Recommender.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if not cls.__name__.startswith("_") and cls.__module__.startswith("recsys_helpers."):
            found.append(cls)
    return sorted(set(found), key=lambda c: c.__name__)


MODELS = _exported_models()

FAST = {
    "BiasedMF": dict(n_factors=4, n_epochs=3),
    "ImplicitALS": dict(n_factors=4, n_iterations=2),
    "NeuralCF": dict(n_factors=4, hidden=(8,), n_epochs=1, batch_size=64),
    "Caser": dict(length=2, embedding_dim=4, n_horizontal=2, n_vertical=1, n_epochs=1),
    "GRURecommender": dict(length=2, embedding_dim=4, units=4, n_epochs=1),
    "SequenceCNN": dict(length=3, embedding_dim=4, filters=4, kernel_size=2, hidden=4,
                        n_epochs=1),
    "SASRec": dict(length=3, embedding_dim=4, n_blocks=1, n_epochs=1),
    "SparkALS": dict(n_factors=2, n_iterations=2),  # on the run's one local Spark session
    "SparkImplicitALS": dict(n_factors=2, n_iterations=2),
}


def make(cls: type, **overrides) -> Recommender:
    return cls(**{**FAST.get(cls.__name__, {}), **overrides})


def ratings(n_users: int = 12, n_items: int = 9, offset: int = 0, seed: int = 0) -> pd.DataFrame:
    """Each user rates 5 of the items, 1-5 stars, at increasing times."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        for t, item in enumerate(rng.choice(n_items, size=5, replace=False)):
            rows.append((offset + user, offset + 1 + int(item), float(rng.integers(1, 6)), t))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


DATA = ratings()
OTHER = ratings(offset=1000, seed=1)  # disjoint users and items
STRANGER = 10**9  # an integer id in no data set here


def recommend_all(model, data=DATA, k=4):
    return model.recommend(np.unique(data.user_id), k=k)


@pytest.fixture(scope="module", params=MODELS, ids=lambda c: c.__name__)
def fitted(request):
    return make(request.param).fit(DATA)


def test_discovery_finds_the_models():
    names = {c.__name__ for c in MODELS}
    assert {"Popularity", "UserKNN", "ItemKNN", "EASE", "ImplicitALS", "BiasedMF",
            "NeuralCF", "SASRec"} <= names  # fmt: skip


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_using_a_model_before_fit_raises_not_fitted(cls):
    model = make(cls)
    pairs = DATA[["user_id", "item_id"]].head(2)
    with pytest.raises(NotFittedError, match="not fitted"):
        model.recommend([0])
    with pytest.raises(NotFittedError):
        model.score(pairs)
    if cls.predicts_ratings:
        with pytest.raises(NotFittedError):
            model.predict(pairs)
    else:
        with pytest.raises(TypeError, match="ranks items"):
            model.predict(pairs)


def test_recommend_returns_ranked_unseen_items(fitted):
    recs = recommend_all(fitted, k=3)
    assert list(recs.columns) == ["user_id", "item_id", "score", "rank"]
    assert (recs.groupby("user_id").size() == 3).all()
    assert (recs.groupby("user_id")["rank"].apply(list) == pd.Series([[1, 2, 3]] * 12)).all()
    assert recs.merge(DATA, on=["user_id", "item_id"]).empty  # exclude_seen
    assert (recs.groupby("user_id")["score"].diff().dropna() <= 0).all()  # best first
    with_seen = fitted.recommend([0], k=9, exclude_seen=False)
    assert set(with_seen.item_id) == set(DATA.item_id)


def test_k_beyond_the_catalogue_zero_and_negative(fitted):
    recs = fitted.recommend([0], k=1000)
    assert len(recs) == DATA.item_id.nunique() - (DATA.user_id == 0).sum()
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            fitted.recommend([0], k=bad)


def test_unknown_users_and_items_get_the_documented_fallback(fitted):
    recs = fitted.recommend([STRANGER], k=4)
    assert len(recs) == 4 and np.isfinite(recs.score).all()
    scores = fitted.score(pd.DataFrame({"user_id": [STRANGER, 0], "item_id": [1, STRANGER]}))
    assert len(scores) == 2 and not np.isnan(scores).any()


def test_similar_items_one_vocabulary(fitted):
    """Every model either has an item–item similarity (ranked, itself left out, ``k`` capped
    by the catalogue) or says it has none; an unknown item is a ``KeyError`` naming it."""
    item = int(DATA.item_id.iloc[0])
    try:
        similar = fitted.similar_items(item, k=1000)
    except NotImplementedError as error:
        assert type(fitted).__name__ in str(error)
        return
    assert list(similar.columns) == ["item_id", "similarity"]
    assert len(similar) == DATA.item_id.nunique() - 1 and item not in set(similar.item_id)
    assert similar.similarity.is_monotonic_decreasing and np.isfinite(similar.similarity).all()
    pd.testing.assert_frame_equal(fitted.similar_items(item, k=3), similar.head(3))
    with pytest.raises(KeyError, match=f"item_id {STRANGER} was not in the training data"):
        fitted.similar_items(STRANGER)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        fitted.similar_items(item, k=0)


def test_ids_of_the_wrong_type_are_refused_by_name(fitted):
    with pytest.raises(ValueError, match="ids given are str"):
        fitted.recommend(["0"])
    with pytest.raises(ValueError, match="ids given are str"):
        fitted.score(pd.DataFrame({"user_id": ["0"], "item_id": ["1"]}))


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_string_and_very_large_ids_work(cls):
    """The same data relabelled with string ids, or with integers near 2**63, gives the same
    recommendations, relabelled (the labels keep the ids' order, so every position is equal)."""
    as_string = {"user_id": lambda s: s.map("u{:05d}".format),
                 "item_id": lambda s: s.map("i{:05d}".format)}  # fmt: skip
    as_large = {"user_id": lambda s: s + 2**62, "item_id": lambda s: s + 2**62}
    reference = recommend_all(make(cls).fit(DATA))
    for relabel in (as_string, as_large):
        data = DATA.assign(**{c: f(DATA[c]) for c, f in relabel.items()})
        recs = recommend_all(make(cls).fit(data), data)
        expected = reference.assign(**{c: f(reference[c]) for c, f in relabel.items()})
        pd.testing.assert_frame_equal(recs, expected)


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_refitting_forgets_the_previous_data(cls):
    model = make(cls).fit(DATA).fit(OTHER)
    assert set(model.users_.ids) == set(OTHER.user_id)
    fresh = make(cls).fit(OTHER)
    pd.testing.assert_frame_equal(recommend_all(model, OTHER), recommend_all(fresh, OTHER))
    assert sorted(vars(model)) == sorted(vars(fresh))  # nothing left over from the first fit


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_two_fits_with_the_same_settings_are_identical(cls):
    a, b = recommend_all(make(cls).fit(DATA)), recommend_all(make(cls).fit(DATA))
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("error", [MemoryError, KeyboardInterrupt, ValueError])
@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_a_failed_fit_leaves_the_model_as_it_was(cls, error, monkeypatch):
    """A fit that fails after the id maps were replaced (the worst moment) must not leave a
    model that mixes two fits: a fitted model keeps its previous fit, an unfitted one stays
    unfitted."""
    model = make(cls).fit(DATA)
    before, state = recommend_all(model), sorted(vars(model))
    original = Recommender._fit_matrix

    def fails_after_the_maps(self, data):
        original(self, data)
        raise error("simulated failure half-way through fit")

    monkeypatch.setattr(Recommender, "_fit_matrix", fails_after_the_maps)
    with pytest.raises(error):
        model.fit(OTHER)
    unfitted = make(cls)
    with pytest.raises(error):
        unfitted.fit(OTHER)
    monkeypatch.undo()
    assert sorted(vars(model)) == state
    pd.testing.assert_frame_equal(recommend_all(model), before)
    with pytest.raises(NotFittedError):
        unfitted.recommend([STRANGER])


def _numeric_params(cls) -> list[str]:
    signature = inspect.signature(cls.__init__)
    return [name for name, p in signature.parameters.items()
            if isinstance(p.default, (int, float)) and not isinstance(p.default, bool)]  # fmt: skip


def _string_params(cls) -> list[str]:
    signature = inspect.signature(cls.__init__)
    return [name for name, p in signature.parameters.items() if isinstance(p.default, str)]


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_every_bad_hyper_parameter_is_refused_by_name(cls):
    """NaN for every numeric setting and nonsense for every string setting: each must raise
    ValueError naming that setting, before any silent wrong answer."""
    for name in _numeric_params(cls):
        for bad in (math.nan, -1):
            model = make(cls, **{name: bad})
            try:
                model.fit(DATA)
            except ValueError as error:
                assert name in str(error), f"{cls.__name__}({name}={bad}): {error}"
            else:
                assert bad == -1 and name in _MAY_BE_NEGATIVE, \
                    f"{cls.__name__}({name}={bad}) was accepted"  # fmt: skip
            with pytest.raises(NotFittedError):
                model.recommend([0])
    for name in _string_params(cls):
        with pytest.raises(ValueError, match=name):
            make(cls, **{name: "nonsense"}).fit(DATA)


#: Settings for which a negative value is meaningful.
_MAY_BE_NEGATIVE: set[str] = set()


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_get_params_set_params_and_clone(cls):
    model = make(cls)
    params = model.get_params()
    named = [n for n, p in inspect.signature(cls.__init__).parameters.items()
             if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]  # fmt: skip
    assert list(params) == named
    twin = clone(model.fit(DATA))
    assert twin.get_params() == params and twin is not model
    with pytest.raises(NotFittedError):
        twin.recommend([0])
    assert model.set_params(**params) is model
    with pytest.raises(ValueError, match="has no parameter"):
        model.set_params(no_such_setting=1)


def test_check_number_and_seed():
    base.check_number("x", 0.5, minimum=0, below=1)
    base.check_number("x", 3)
    for value, bounds in [(math.nan, {}), (math.inf, {}), (True, {}), ("1", {}),
                          (1, dict(minimum=0, below=1)), (0, dict(above=0)),
                          (2, dict(maximum=1))]:  # fmt: skip
        with pytest.raises(ValueError, match="x must be a finite number"):
            base.check_number("x", value, **bounds)
    base.check_seed(0)
    for bad in (-1, 1.0, None, True):
        with pytest.raises(ValueError, match="seed"):
            base.check_seed(bad)


def test_training_that_diverges_raises_and_keeps_the_model():
    from recsys_helpers.factorization import BiasedMF

    model = BiasedMF(n_factors=4, n_epochs=3).fit(DATA)
    before = recommend_all(model)
    with pytest.raises(TrainingDivergedError, match="lower learning_rate"):
        model.set_params(learning_rate=1e3, n_epochs=40).fit(DATA)
    pd.testing.assert_frame_equal(recommend_all(model), before)


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_bad_training_data_is_refused_by_name(cls):
    empty = pd.DataFrame({"user_id": [], "item_id": [], "rating": [], "timestamp": []})
    with pytest.raises(ValueError, match="empty ratings table"):
        make(cls).fit(empty)
    mixed = DATA.assign(user_id=DATA.user_id.astype(object))
    mixed.loc[0, "user_id"] = "0"
    with pytest.raises(ValueError, match="user_id must hold integers or strings.*mix"):
        make(cls).fit(mixed)
    with pytest.raises(ValueError, match="rating has 1 missing"):
        make(cls).fit(DATA.assign(rating=DATA.rating.where(DATA.index != 3)))


def test_a_subclass_passing_settings_on_keeps_them_all_in_clone():
    # The natural way to extend a model (chapter 11's solutions build BERT4Rec so): new settings,
    # and the parent's passed on as **settings. clone must not drop the parent's.
    from recsys_helpers.factorization import BiasedMF

    class Tweaked(BiasedMF):
        def __init__(self, extra=1.0, **settings):
            super().__init__(**settings)
            self.extra = extra

    model = Tweaked(extra=2.0, n_factors=3, n_epochs=2)
    params = model.get_params()
    assert params["extra"] == 2.0 and params["n_factors"] == 3 and params["n_epochs"] == 2
    assert set(params) == {"extra"} | set(BiasedMF().get_params())
    twin = clone(model)
    assert type(twin) is Tweaked and twin.get_params() == params


def test_a_subclass_fit_calling_super_fit_is_one_fit():
    from recsys_helpers.baselines import Popularity

    class Tagged(Popularity):
        def fit(self, ratings):
            self.note_ = "set before super().fit"
            return super().fit(ratings)

    model = Tagged().fit(DATA)
    assert model.note_ == "set before super().fit" and hasattr(model, "counts_")
    with pytest.raises(ValueError):
        model.fit(DATA.iloc[:0])  # fails inside super().fit: the whole fit is undone
    assert model.note_ == "set before super().fit" and hasattr(model, "counts_")
