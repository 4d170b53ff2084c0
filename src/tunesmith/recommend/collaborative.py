"""Collaborative filtering on implicit feedback: ALS factors blended with item-item neighbours.

Play counts are implicit feedback: a play says "probably liked", never "disliked", and a
count of 5,000 is not a thousand times more liking than a count of 5. So each (user, item)
count becomes a *confidence* ``c = 1 + α · ln(1 + plays)`` (Hu, Koren & Volinsky 2008,
with the log scaling they propose for counts spanning orders of magnitude), and implicit's
conjugate-gradient ALS factorises preference (played or not) weighted by it.

A second, local model catches what a low-rank model smooths away: item-item cosine
neighbours (implicit's ``CosineRecommender``, the ``K`` most similar items per item) over
``ln(1 + plays)``. A user's score for an item is the sum of its similarities to what
they played, weighted the same way.

The two scores live on different scales, so each is standardised over the catalogue for
the user (z-score) and they are added, the neighbours weighted by ``blend``. Every
hyper-parameter default here was chosen on a validation split carved from the training
part of Last.fm-2K (``benchmarks/recommend_eval.py --tune``), never on its test set.

Threads: implicit's solver runs one thread per core (``num_threads``); BLAS is pinned to
one thread while fitting (implicit's own advice: a BLAS thread pool inside its parallel
loop oversubscribes the cores and can run 10× slower). ALS is deterministic given its
seed: each user's (item's) solve depends only on the other side's factors from the
previous half-step, so the thread count does not change the result.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tunesmith.atomic import atomic_path
from tunesmith.cores import usable_cores
from tunesmith.errors import InputFileError

#: Above this share of changed (user, item) counts since the last full fit, refit from scratch.
INCREMENTAL_LIMIT = 0.1
MODEL_VERSION = 1


@dataclass(frozen=True)
class CFParams:
    """Hyper-parameters of the collaborative model.

    Attributes
    ----------
    factors : int
        Latent dimensions of ALS.
    regularization : float
        L2 weight on the factors.
    alpha : float
        Confidence scale: ``c = 1 + alpha · ln(1 + plays)``.
    iterations : int
        ALS sweeps (each solves users, then items).
    neighbours : int
        Item-item neighbours kept per item.
    blend : float
        Weight of the neighbour z-score added to the ALS z-score (0 = ALS alone).
    seed : int
        Seed of the ALS initialisation.
    """

    # Chosen by coordinate ascent on the validation split of Last.fm-2K (NDCG@10 0.190 there;
    # benchmarks/recommend_eval.py repeats the search and says whether it still agrees).
    factors: int = 24
    regularization: float = 1.0
    alpha: float = 2.0
    iterations: int = 15
    neighbours: int = 200
    blend: float = 0.75
    seed: int = 0


def confidence(plays: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    """``1 + alpha · ln(1 + plays)`` on the stored entries, ``float32``."""
    c = plays.tocsr().astype(np.float32, copy=True)
    c.data = (1.0 + alpha * np.log1p(np.maximum(c.data, 0.0))).astype(np.float32)
    return c


def log_weights(plays: sp.csr_matrix) -> sp.csr_matrix:
    """``ln(1 + plays)`` on the stored entries, ``float32`` (neighbour scores and explanations)."""
    w = plays.tocsr().astype(np.float32, copy=True)
    w.data = np.log1p(np.maximum(w.data, 0.0)).astype(np.float32)
    return w


def default_threads() -> int:
    """Solver threads: one per core this process may use."""
    return usable_cores()


def _zscore(x: np.ndarray) -> np.ndarray:
    """Standardise over the last axis (a constant row becomes zeros)."""
    mean = x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, keepdims=True)
    return (x - mean) / np.where(std > 0, std, 1.0)


def _als(params: CFParams, threads: int | None):
    # Imported before the limit is set: threadpoolctl limits the libraries loaded when it
    # is entered, and implicit checks the BLAS thread count when a model is created.
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return AlternatingLeastSquares(
            factors=params.factors,
            regularization=params.regularization,
            alpha=1.0,  # the confidence is built by `confidence`
            iterations=params.iterations,
            random_state=params.seed,
            num_threads=threads or default_threads(),
        )


def item_neighbours(plays: sp.csr_matrix, k: int, threads: int | None = None) -> sp.csr_matrix:
    """Item × item cosine similarity over ``ln(1 + plays)``, the ``k`` best per item.

    Parameters
    ----------
    plays : scipy.sparse.csr_matrix
        Users × items play counts.
    k : int
        Neighbours kept per item.
    threads : int, optional
        Worker threads (default: one per core).

    Returns
    -------
    scipy.sparse.csr_matrix
        Row ``j`` holds the items most similar to ``j`` (the item itself excluded).
    """
    from implicit.nearest_neighbours import CosineRecommender

    model = CosineRecommender(K=k + 1, num_threads=threads or default_threads())
    with warnings.catch_warnings():  # implicit converts its own transposes and warns about it
        warnings.filterwarnings("ignore", message="Method expects CSR input")
        model.fit(log_weights(plays), show_progress=False)
    sim = model.similarity.tocsr().astype(np.float32)
    sim.setdiag(0.0)  # an item is not its own neighbour
    sim.eliminate_zeros()
    return sim


class CollaborativeModel:
    """ALS + item-item neighbours over a users × items play-count matrix.

    Build with :meth:`fit`; keep up to date with :meth:`update`; persist with
    :meth:`save` / :meth:`load`.

    Attributes
    ----------
    params : CFParams
    plays : scipy.sparse.csr_matrix
        The counts the model was fitted on (kept to find what changed).
    user_factors, item_factors : numpy.ndarray
        ``float32`` ALS factors.
    similarity : scipy.sparse.csr_matrix
        Item-item neighbours.
    listeners : numpy.ndarray
        Users per item (the popularity prior for cold starts).
    changes_since_fit : int
        Counts changed by incremental updates since the last full fit.
    """

    def __init__(
        self,
        params: CFParams,
        plays: sp.csr_matrix,
        user_factors: np.ndarray,
        item_factors: np.ndarray,
        similarity: sp.csr_matrix,
        changes_since_fit: int = 0,
    ) -> None:
        self.params = params
        self.plays = plays.tocsr()
        self.weights = log_weights(self.plays)
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        self.similarity = similarity.tocsr()
        self.changes_since_fit = changes_since_fit
        self.listeners = np.diff(self.plays.tocsc().indptr).astype(np.int64)
        norms = np.linalg.norm(self.item_factors, axis=1)
        self._unit_items = self.item_factors / np.where(norms > 0, norms, 1.0)[:, None]

    @property
    def n_users(self) -> int:
        """Rows of the matrix the model knows."""
        return self.plays.shape[0]

    @property
    def n_items(self) -> int:
        """Columns of the matrix the model knows."""
        return self.plays.shape[1]

    @classmethod
    def fit(
        cls, plays: sp.csr_matrix, params: CFParams | None = None, threads: int | None = None
    ) -> CollaborativeModel:
        """Fit both parts from scratch.

        Parameters
        ----------
        plays : scipy.sparse.csr_matrix
            Users × items play counts (any non-negative number).
        params : CFParams, optional
            Hyper-parameters (defaults: the tuned ones).
        threads : int, optional
            Solver threads (default: one per core).
        """
        from threadpoolctl import threadpool_limits

        params = params or CFParams()
        plays = plays.tocsr().astype(np.float32)
        als = _als(params, threads)
        with threadpool_limits(limits=1, user_api="blas"):
            als.fit(confidence(plays, params.alpha), show_progress=False)
        sim = item_neighbours(plays, params.neighbours, threads)
        return cls(params, plays, als.user_factors, als.item_factors, sim)

    def update(self, plays: sp.csr_matrix, threads: int | None = None) -> str:
        """Bring the model up to date with new counts, re-solving only what changed.

        Users whose counts changed (and new users) get new factors solved against the
        fixed item factors, new and changed items against the user factors, then the
        changed items once more against the updated users — one ALS sweep restricted to
        what moved. The neighbours are rebuilt (a fraction of a second). When more than
        ``INCREMENTAL_LIMIT`` of the counts changed since the last full fit, refit instead.

        Parameters
        ----------
        plays : scipy.sparse.csr_matrix
            The full new matrix; it may have more rows and columns than before, never fewer.

        Returns
        -------
        str
            ``"unchanged"``, ``"incremental"`` or ``"full"``.
        """
        from threadpoolctl import threadpool_limits

        new = plays.tocsr().astype(np.float32)
        if new.shape[0] < self.n_users or new.shape[1] < self.n_items:
            raise ValueError("the new matrix must not lose users or items")
        old = sp.csr_matrix((self.plays.data, self.plays.indices, self.plays.indptr), shape=self.plays.shape)
        old.resize(new.shape)
        diff = (new - old).tocsr()
        diff.eliminate_zeros()
        grown = new.shape != self.plays.shape
        if diff.nnz == 0 and not grown:
            return "unchanged"
        changed = self.changes_since_fit + diff.nnz
        if changed > INCREMENTAL_LIMIT * max(new.nnz, 1):
            fresh = CollaborativeModel.fit(new, self.params, threads)
            self.__init__(fresh.params, fresh.plays, fresh.user_factors, fresh.item_factors, fresh.similarity)  # type: ignore[misc]
            return "full"
        conf = confidence(new, self.params.alpha)
        conf_t = conf.T.tocsr()
        users = np.union1d(np.unique(diff.tocoo().row), np.arange(self.n_users, new.shape[0]))
        items = np.union1d(np.unique(diff.tocoo().col), np.arange(self.n_items, new.shape[1]))
        als = _als(self.params, threads)
        als.user_factors = np.zeros((new.shape[0], self.params.factors), np.float32)
        als.user_factors[: self.n_users] = self.user_factors
        als.item_factors = np.zeros((new.shape[1], self.params.factors), np.float32)
        als.item_factors[: self.n_items] = self.item_factors
        with threadpool_limits(limits=1, user_api="blas"):
            if len(items):
                als.partial_fit_items(items, conf_t[items])
            if len(users):
                als.partial_fit_users(users, conf[users])
            if len(items):
                als.partial_fit_items(items, conf_t[items])
        sim = item_neighbours(new, self.params.neighbours, threads)
        self.__init__(self.params, new, als.user_factors, als.item_factors, sim, changed)  # type: ignore[misc]
        return "incremental"

    # ----------------------------------------------------------------------------------
    # Scoring

    def scores(self, user: int) -> np.ndarray:
        """Blended score of every item for row ``user`` (z-scores; higher is better).

        Parameters
        ----------
        user : int
            A row the model was fitted or updated with.

        Returns
        -------
        numpy.ndarray
            ``float32`` scores, one per item; played items are *not* removed here.
        """
        # einsum, not `@`: one user's scores are a single matrix-vector product, which a
        # multi-threaded BLAS wakes its thread pool for — 0.2 ms became 1-6 ms on a busy
        # 2-core machine. numpy's own loop takes 0.5 ms and never touches the pool.
        als = np.einsum("ij,j->i", self.item_factors, self.user_factors[user])
        score = _zscore(als)
        if self.params.blend > 0:
            lo, hi = self.weights.indptr[user], self.weights.indptr[user + 1]
            knn = self._neighbour_scores(self.weights.indices[lo:hi], self.weights.data[lo:hi])
            if knn.any():
                score = score + self.params.blend * _zscore(knn)
        return score.astype(np.float32, copy=False)

    def _neighbour_scores(self, cols: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Σ_j w_j · similarity[j, :] over played items j: gathered rows and one bincount."""
        sim = self.similarity
        starts, ends = sim.indptr[cols], sim.indptr[cols + 1]
        lengths = ends - starts
        if not lengths.sum():
            return np.zeros(self.n_items, np.float64)
        pos = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        values = sim.data[pos] * np.repeat(weights, lengths)
        return np.bincount(sim.indices[pos], weights=values, minlength=self.n_items)

    def _similarity_to(self, rows: np.ndarray, item: int) -> np.ndarray:
        """``similarity[rows, item]`` by a binary search in each row (a CSR column slice is slow)."""
        sim = self.similarity
        out = np.zeros(len(rows), np.float32)
        for k, j in enumerate(rows):
            lo, hi = sim.indptr[j], sim.indptr[j + 1]
            pos = lo + np.searchsorted(sim.indices[lo:hi], item)
            if pos < hi and sim.indices[pos] == item:
                out[k] = sim.data[pos]
        return out

    def played(self, user: int) -> np.ndarray:
        """Columns row ``user`` has played."""
        return self.plays.indices[self.plays.indptr[user] : self.plays.indptr[user + 1]]

    def recommend(
        self, user: int, n: int, exclude: Sequence[int] | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best items for ``user`` among those someone else has played, best first.

        Items nobody has played carry no collaborative evidence (their factors are only
        the regularised zero), so they are left to the content model.

        Returns
        -------
        tuple of numpy.ndarray
            Item columns and their scores.
        """
        s = self.scores(user)
        s[self.played(user)] = -np.inf
        s[self.listeners == 0] = -np.inf
        if exclude is not None and len(exclude):
            s[np.asarray(exclude, dtype=np.int64)] = -np.inf
        return top_n(s, n)

    def explain(self, user: int, item: int, count: int = 2) -> list[int]:
        """Played items that most led to recommending ``item`` to ``user``, strongest first.

        A played item's share is its weight ``ln(1 + plays)`` times its neighbour
        similarity to ``item``; where no neighbour links them, the cosine of their ALS
        factors stands in.
        """
        played = self.played(user)
        if len(played) == 0:
            return []
        w = self.weights.data[self.weights.indptr[user] : self.weights.indptr[user + 1]]
        share = w * self._similarity_to(played, item)
        if not np.any(share > 0):
            share = w * (self._unit_items[played] @ self._unit_items[item])
        order = np.argsort(-share, kind="stable")
        return [int(played[j]) for j in order[:count] if share[j] > 0]

    def similar_items(self, item: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Items most like ``item``: z-blend of ALS-factor cosine and neighbour similarity."""
        s = _zscore(self._unit_items @ self._unit_items[item])
        if self.params.blend > 0:
            row = self.similarity[item].toarray().ravel()
            if row.any():
                s = s + self.params.blend * _zscore(row)
        s[item] = -np.inf
        return top_n(s, n)

    def factor_similarity(self, items: np.ndarray) -> np.ndarray:
        """Cosine similarity matrix of the ALS factors of ``items`` (for diversity re-ranking)."""
        u = self._unit_items[np.asarray(items, dtype=np.int64)]
        return u @ u.T

    # ----------------------------------------------------------------------------------
    # Persistence

    def save(self, path: str | os.PathLike[str], generation: int = 0) -> None:
        """Write the model to ``path`` (``.npz``) atomically."""
        meta = {"version": MODEL_VERSION, "params": asdict(self.params), "generation": generation}
        meta["changes_since_fit"] = self.changes_since_fit
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(
                fh,
                meta=np.array(json.dumps(meta)),
                user_factors=self.user_factors,
                item_factors=self.item_factors,
                plays_data=self.plays.data,
                plays_indices=self.plays.indices,
                plays_indptr=self.plays.indptr,
                plays_shape=np.array(self.plays.shape),
                sim_data=self.similarity.data,
                sim_indices=self.similarity.indices,
                sim_indptr=self.similarity.indptr,
            )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> tuple[CollaborativeModel, int]:
        """Read a model written by :meth:`save`; returns it and the data generation it saw.

        Raises
        ------
        InputFileError
            Missing, damaged or from another model version.
        """
        p = Path(path)
        try:
            with np.load(p, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("version") != MODEL_VERSION:
                    raise InputFileError("model from another tunesmith version; it will be retrained", p)
                shape = tuple(int(x) for x in z["plays_shape"])
                plays = sp.csr_matrix((z["plays_data"], z["plays_indices"], z["plays_indptr"]), shape=shape)
                sim = sp.csr_matrix((z["sim_data"], z["sim_indices"], z["sim_indptr"]), shape=(shape[1], shape[1]))
                model = cls(
                    CFParams(**meta["params"]),
                    plays,
                    z["user_factors"],
                    z["item_factors"],
                    sim,
                    int(meta.get("changes_since_fit", 0)),
                )
                return model, int(meta.get("generation", 0))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputFileError(f"damaged model file ({exc})", p) from None


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``n`` largest finite scores, best first (equal scores: lower index first)."""
    finite = np.isfinite(scores)
    n = int(min(n, np.count_nonzero(finite)))
    if n <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    # argpartition finds the n best in linear time; only they are sorted.
    cand = np.argpartition(-np.where(finite, scores, -np.inf), n - 1)[:n] if n < len(scores) else np.flatnonzero(finite)
    cand = cand[np.lexsort((cand, -scores[cand]))]
    return cand.astype(np.int64), scores[cand]


def popularity(plays: sp.csr_matrix) -> np.ndarray:
    """Listeners per item: the popularity baseline and the cold-start prior."""
    return np.diff(plays.tocsc().indptr).astype(np.float64)
