"""Split, metrics and the collaborative model: rankings with planted structure, MMR, persistence."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tunesmith.errors import UsageError
from tunesmith.recommend.collaborative import CFParams, CollaborativeModel, popularity, top_n
from tunesmith.recommend.metrics import average_precision_at_k, evaluate, gini, ndcg_at_k, recall_at_k
from tunesmith.recommend.playlist import rerank
from tunesmith.recommend.split import holdout, natural_order

GENRES, PER_GENRE, HITS = 8, 30, 6
SMALL = CFParams(factors=16, regularization=1.0, alpha=2.0, iterations=10, neighbours=30, blend=0.75, seed=0)


def planted(rng: np.random.Generator, users: int = 240) -> sp.csr_matrix:
    """Users who each mostly play one genre, plus a few global hits that many play.

    Columns 0..GENRES*PER_GENRE-1 are genre items (genre = column // PER_GENRE; within a
    genre some items are more popular, 1/(rank + 3)), the last HITS columns are hits.
    Popularity knows the hits and each genre's favourites but not a user's genre.
    """
    weights = 1.0 / (np.arange(PER_GENRE) + 3.0)
    weights /= weights.sum()
    rows, cols, vals = [], [], []
    for u in range(users):
        g = u % GENRES
        own = rng.choice(PER_GENRE, 12, replace=False, p=weights) + g * PER_GENRE
        other = rng.choice(GENRES * PER_GENRE, 2, replace=False)
        hits = rng.choice(HITS, int(rng.integers(1, 3)), replace=False) + GENRES * PER_GENRE
        for i in {*own.tolist(), *other.tolist(), *hits.tolist()}:
            rows.append(u)
            cols.append(i)
            vals.append(float(rng.integers(1, 200)))
    return sp.csr_matrix((vals, (rows, cols)), shape=(users, GENRES * PER_GENRE + HITS), dtype=np.float32)


def test_metrics_known_values() -> None:
    assert ndcg_at_k([1, 2, 3], {1, 2, 3}, 3) == pytest.approx(1.0)
    # One hit at rank 2 of 2 relevant: DCG = 1/log2(3), IDCG = 1 + 1/log2(3).
    assert ndcg_at_k([9, 1], {1, 2}, 2) == pytest.approx((1 / np.log2(3)) / (1 + 1 / np.log2(3)))
    assert recall_at_k([1, 9, 2], {1, 2, 3, 4}, 3) == pytest.approx(0.5)
    # Hits at ranks 1 and 3: AP = (1/1 + 2/3) / min(k, 2).
    assert average_precision_at_k([1, 9, 2], {1, 2}, 3) == pytest.approx((1 + 2 / 3) / 2)
    assert gini(np.ones(10)) == pytest.approx(0.0)
    assert gini(np.array([0] * 99 + [5])) == pytest.approx(0.99)
    doc = evaluate({0: [1, 2], 1: [1, 3]}, {0: np.array([2]), 1: np.array([4])}, catalogue_size=5, k=2)
    assert doc["coverage"] == 3 and doc["users"] == 2
    assert doc["recall"] == pytest.approx(0.5)


def test_split_is_seeded_disjoint_and_follows_the_protocol(rng: np.random.Generator) -> None:
    m = planted(rng)
    m = sp.vstack([m, sp.csr_matrix(([1.0] * 5, ([0] * 5, [0, 1, 2, 3, 4])), shape=(1, m.shape[1]))]).tocsr()
    a = holdout(m, 0.2, 10, seed=0)
    b = holdout(m, 0.2, 10, seed=0)
    c = holdout(m, 0.2, 10, seed=1)
    assert a.test.keys() == b.test.keys() and all(np.array_equal(a.test[u], b.test[u]) for u in a.test)
    assert any(not np.array_equal(a.test[u], c.test[u]) for u in a.test)
    assert m.shape[0] - 1 not in a.test  # five items: not split, not evaluated
    for u, held in a.test.items():
        n = m[u].nnz
        assert len(held) == max(1, int(np.floor(0.2 * n + 0.5)))
        assert not set(held) & set(a.train[u].indices)  # disjoint
        assert set(held) | set(a.train[u].indices) == set(m[u].indices)
    assert a.train.nnz + sum(len(v) for v in a.test.values()) == m.nnz


def test_natural_order_sorts_numeric_ids_as_numbers() -> None:
    assert list(natural_order(["10", "9", "", "100"])) == [1, 0, 3, 2]
    assert list(natural_order(["b", "a"])) == [1, 0]


def test_ranking_beats_popularity_on_planted_structure(rng: np.random.Generator) -> None:
    split = holdout(planted(rng), 0.2, 10, seed=0)
    model = CollaborativeModel.fit(split.train, SMALL, threads=2)
    ours = evaluate({u: model.recommend(u, 10)[0] for u in split.test}, split.test, split.train.shape[1])
    pop = popularity(split.train)
    baseline = {}
    for u in split.test:
        s = pop.copy()
        s[split.train[u].indices] = -np.inf
        baseline[u] = top_n(s, 10)[0]
    theirs = evaluate(baseline, split.test, split.train.shape[1])
    assert ours["ndcg"] > 2.0 * theirs["ndcg"], (ours, theirs)
    assert ours["coverage"] > 2 * theirs["coverage"]
    # The recommendations really are from the user's own genre.
    genre_share = np.mean([np.mean(model.recommend(u, 10)[0] // PER_GENRE == u % GENRES) for u in split.test])
    assert genre_share > 0.8


def test_never_recommends_played_items(rng: np.random.Generator) -> None:
    m = planted(rng, 80)
    model = CollaborativeModel.fit(m, SMALL)
    for u in range(80):
        cols, scores = model.recommend(u, 30)
        assert not set(cols) & set(m[u].indices)
        assert np.all(np.diff(scores) <= 0)


def test_training_is_deterministic_whatever_the_threads(rng: np.random.Generator) -> None:
    m = planted(rng, 120)
    a = CollaborativeModel.fit(m, SMALL, threads=1)
    b = CollaborativeModel.fit(m, SMALL, threads=2)
    np.testing.assert_allclose(a.item_factors, b.item_factors, rtol=0, atol=1e-5)
    assert all(np.array_equal(a.recommend(u, 10)[0], b.recommend(u, 10)[0]) for u in range(0, 120, 7))


def test_save_load_and_incremental_update(rng: np.random.Generator, tmp_path) -> None:
    m = planted(rng, 200)
    model = CollaborativeModel.fit(m, SMALL)
    model.save(tmp_path / "cf.npz", generation=7)
    loaded, gen = CollaborativeModel.load(tmp_path / "cf.npz")
    assert gen == 7
    np.testing.assert_array_equal(loaded.scores(3), model.scores(3))
    assert loaded.update(m) == "unchanged"
    # A new user who plays genre-2 items arrives: only they (and those items) are re-solved.
    new_row = sp.csr_matrix(
        ([50.0] * 10, ([0] * 10, list(range(2 * PER_GENRE, 2 * PER_GENRE + 10)))), shape=(1, m.shape[1])
    )
    grown = sp.vstack([m, new_row]).tocsr()
    assert loaded.update(grown) == "incremental"
    assert loaded.n_users == 201
    recs = loaded.recommend(200, 10)[0]
    assert np.mean(recs // PER_GENRE == 2) >= 0.8
    np.testing.assert_allclose(loaded.user_factors[:10], model.user_factors[:10])  # others untouched
    # Past INCREMENTAL_LIMIT of changed counts, the model is refitted.
    assert loaded.update(grown * 3.0) == "full"


def test_rerank_caps_artists_and_diversity_spreads_exposure(rng: np.random.Generator) -> None:
    split = holdout(planted(rng), 0.2, 10, seed=0)
    model = CollaborativeModel.fit(split.train, SMALL)
    listeners = model.listeners
    pop = np.log1p(listeners) / np.log1p(listeners.max())
    artists = np.array([f"a{i // 3}" for i in range(split.train.shape[1])])  # three items per artist
    coverage, intra = {}, {}
    for d in (0.0, 1.0):
        recs, sims = {}, []
        for u in split.test:
            cols, _ = model.recommend(u, 30)
            sim = model.factor_similarity(cols)
            picks = rerank(sim, 10, d, artists[cols], per_artist=1, popularity=pop[cols])
            chosen = cols[picks]
            assert len(chosen) == 10
            assert len(set(artists[chosen])) == 10  # the cap: one per artist
            recs[u] = chosen
            s = model.factor_similarity(chosen)
            sims.append(s[np.triu_indices(10, 1)].mean())
        coverage[d] = evaluate(recs, split.test, split.train.shape[1])["coverage"]
        intra[d] = float(np.mean(sims))
    assert coverage[1.0] > coverage[0.0]
    assert intra[1.0] < intra[0.0]
    with pytest.raises(UsageError):
        rerank(np.eye(3), 2, 1.5)


def test_rerank_without_diversity_keeps_relevance_order() -> None:
    sim = np.ones((6, 6))
    assert rerank(sim, 4, 0.0) == [0, 1, 2, 3]
    assert rerank(sim, 3, 0.0, ["x", "x", "y", "x", "z", "y"], per_artist=1) == [0, 2, 4]
