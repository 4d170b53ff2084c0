"""Ranking metrics for top-N recommendation, and measures of how much a recommender homogenises.

All take ranked lists of item indices (best first) and the held-out items per user,
with binary relevance (an item is relevant when it was held out):

* ``NDCG@k`` = DCG / ideal DCG, DCG = Σ rel_r / log2(r + 1) over ranks r = 1..k; the ideal
  ranks min(k, |held out|) relevant items first.
* ``Recall@k`` = relevant items in the top k / |held out|.
* ``MAP@k``: the mean over users of AP@k = Σ_r P@r · rel_r / min(k, |held out|).
* *Coverage*: distinct items recommended to anyone, as a count and as a share of the catalogue.
* *Gini index of exposure*: over every catalogue item (never recommended = 0 exposure),
  0 when all items are recommended equally often, → 1 when a few take all exposure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def ndcg_at_k(ranked: Sequence[int], relevant: set[int] | frozenset[int], k: int = 10) -> float:
    """NDCG@k with binary relevance (0–1)."""
    if not relevant:
        return 0.0
    disc = _discounts(k)
    gains = np.array([1.0 if i in relevant else 0.0 for i in list(ranked)[:k]])
    return float(gains @ disc[: len(gains)] / disc[: min(k, len(relevant))].sum())


def recall_at_k(ranked: Sequence[int], relevant: set[int] | frozenset[int], k: int = 10) -> float:
    """Share of the relevant items found in the top k (0–1)."""
    if not relevant:
        return 0.0
    return sum(1 for i in list(ranked)[:k] if i in relevant) / len(relevant)


def average_precision_at_k(ranked: Sequence[int], relevant: set[int] | frozenset[int], k: int = 10) -> float:
    """AP@k: precision at each hit in the top k, summed, over min(k, |relevant|) (0–1)."""
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for r, i in enumerate(list(ranked)[:k], start=1):
        if i in relevant:
            hits += 1
            total += hits / r
    return total / min(k, len(relevant))


def gini(exposure: np.ndarray) -> float:
    """Gini index of non-negative counts (0 = equal, → 1 = concentrated on a few)."""
    x = np.sort(np.asarray(exposure, dtype=np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total <= 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float(((2 * ranks - n - 1) @ x) / (n * total))


def evaluate(
    recommendations: Mapping[int, Sequence[int]],
    test: Mapping[int, np.ndarray | Sequence[int]],
    catalogue_size: int,
    k: int = 10,
) -> dict[str, float]:
    """Mean NDCG/Recall/MAP@k over the test users, plus coverage and exposure Gini.

    Parameters
    ----------
    recommendations : mapping
        User → ranked item indices (at least k for a fair score).
    test : mapping
        User → held-out item indices. Users missing from ``recommendations`` score 0.
    catalogue_size : int
        Items that could have been recommended (for coverage share and Gini).
    k : int
        Cut-off.

    Returns
    -------
    dict
        ``ndcg``, ``recall``, ``map``, ``coverage`` (distinct items), ``coverage_share``,
        ``gini``, ``users``.
    """
    nd, rc, ap = [], [], []
    exposure = np.zeros(catalogue_size, dtype=np.int64)
    for user, held in test.items():
        ranked = list(recommendations.get(user, []))[:k]
        rel = frozenset(int(i) for i in held)
        nd.append(ndcg_at_k(ranked, rel, k))
        rc.append(recall_at_k(ranked, rel, k))
        ap.append(average_precision_at_k(ranked, rel, k))
        np.add.at(exposure, np.asarray(ranked, dtype=np.int64), 1)
    covered = int(np.count_nonzero(exposure))
    return {
        "ndcg": float(np.mean(nd)) if nd else 0.0,
        "recall": float(np.mean(rc)) if rc else 0.0,
        "map": float(np.mean(ap)) if ap else 0.0,
        "coverage": covered,
        "coverage_share": covered / catalogue_size if catalogue_size else 0.0,
        "gini": gini(exposure),
        "users": len(nd),
    }
