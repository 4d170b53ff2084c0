"""Hold-out splits for offline evaluation, defined exactly so anyone can rebuild them.

The Last.fm-2K protocol (``../shared/data/README.md``): for each user with at least
10 items, 20 % of their items are held out as the test set, drawn with a seeded
generator (seed 0). "Exactly" here means: users are visited in ascending order of their
id as written in the file (numerically when every id is a number); each user's items
are sorted the same way, then permuted by one ``numpy.random.default_rng(seed)`` shared
across users (one ``permutation`` call per eligible user, in that order), and the first
``round(fraction × n)`` of the permutation are held out (at least one). Users with fewer
items keep everything in training and are not evaluated.

Hyper-parameters are tuned on a *validation* split carved the same way out of the
training part (another seed), never on the test set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass
class Split:
    """A training matrix and the held-out items per evaluated user.

    Attributes
    ----------
    train : scipy.sparse.csr_matrix
        The input matrix with the held-out entries removed.
    test : dict
        Row index → sorted array of held-out column indices.
    """

    train: sp.csr_matrix
    test: dict[int, np.ndarray]


def natural_order(ids: Sequence[str]) -> np.ndarray:
    """Indices that sort ``ids`` numerically when all are integers, else as strings.

    Empty ids (unused database rows) sort last.
    """
    ids = [str(x) for x in ids]
    used = [i for i, x in enumerate(ids) if x != ""]
    if all(ids[i].lstrip("-").isdigit() for i in used):
        key = {i: (0, int(ids[i]), "") for i in used}
    else:
        key = {i: (0, 0, ids[i]) for i in used}
    return np.array(sorted(range(len(ids)), key=lambda i: key.get(i, (1, 0, ""))), dtype=np.int64)


def holdout(
    matrix: sp.csr_matrix,
    fraction: float = 0.2,
    min_items: int = 10,
    seed: int = 0,
    user_order: np.ndarray | None = None,
    item_rank: np.ndarray | None = None,
) -> Split:
    """Hold out ``fraction`` of each eligible user's items, seeded.

    Parameters
    ----------
    matrix : scipy.sparse.csr_matrix
        Users × items; any stored non-zero is an interaction.
    fraction : float
        Share of each user's items held out (0–1).
    min_items : int
        Users with fewer items are not split (nor evaluated).
    seed : int
        Seed of the one generator shared by all users.
    user_order : numpy.ndarray, optional
        Rows in the order to visit them (default: row order).
    item_rank : numpy.ndarray, optional
        Sort key per column giving each user's items their order before the permutation
        (default: column index). Pass the rank of the item ids so the split depends on
        the ids, not on the order the database stored them.

    Returns
    -------
    Split
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError("fraction must be between 0 and 1")
    m = matrix.tocsr(copy=True)
    m.sum_duplicates()
    m.eliminate_zeros()
    rng = np.random.default_rng(seed)
    order = np.arange(m.shape[0]) if user_order is None else np.asarray(user_order)
    rank = np.arange(m.shape[1]) if item_rank is None else np.asarray(item_rank)
    keep = np.ones(m.nnz, dtype=bool)
    test: dict[int, np.ndarray] = {}
    for u in order:
        lo, hi = m.indptr[u], m.indptr[u + 1]
        n = hi - lo
        if n < min_items:
            continue
        pos = lo + np.argsort(rank[m.indices[lo:hi]], kind="stable")  # the user's items in id order
        k = max(1, int(np.floor(fraction * n + 0.5)))
        held = pos[rng.permutation(n)[:k]]
        keep[held] = False
        test[int(u)] = np.sort(m.indices[held])
    coo = m.tocoo()
    train = sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=m.shape)
    train.sort_indices()
    return Split(train, test)
