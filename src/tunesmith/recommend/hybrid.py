"""The hybrid ranker: collaborative and content candidates fused, explained, cold starts handled.

For a user with a history, two rankings of the items they have not played are made:

* **collaborative** (:mod:`tunesmith.recommend.collaborative`): items other listeners with
  similar histories played — it knows nothing of items nobody has played;
* **content** (:mod:`tunesmith.recommend.content`): library tracks whose audio is closest
  to the user's *profile*, the mean feature vector of the library tracks they played,
  weighted by ``ln(1 + plays)`` — the only way to reach tracks nobody has played yet.

The two lists are *interleaved by weighted rank*: an item's score is the best of
``w_s / rank_s`` over the lists it is on (CombMAX of reciprocal ranks), so the fused list
takes ``1 / CONTENT_RATIO`` collaborative picks for every content pick — a third of the
list comes from the sound of what the user plays — and an item on both lists takes its
better place. Ranks, not scores, because the two scores are on unrelated scales; the best,
not the sum, because a sum (reciprocal-rank fusion) rewards being on both lists, and only
library tracks can be: on a small library it filled the list with mediocre library tracks
and never let a track nobody has played (which the collaborative model cannot rank) in.
With one source the order is that source's; without a library (as on Last.fm-2K) the
ranking is exactly the collaborative one.

Models live in ``<db>.models/`` beside the database and are brought up to date on use:
the database's *generation* counter changes with every import or scan, and a model
trained at another generation is updated incrementally
(:meth:`CollaborativeModel.update`) and saved again.

Cold start: an unknown user, or one with no plays, gets the most-listened items, and —
when a library is indexed — library tracks spread over the content space (MMR with no
relevance), with a note saying why.
"""

from __future__ import annotations

import difflib
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tunesmith.errors import InputFileError, UsageError
from tunesmith.recommend.collaborative import CFParams, CollaborativeModel, top_n
from tunesmith.recommend.content import ContentIndex
from tunesmith.recommend.history import connect, default_db, load_catalogue, load_plays, models_dir
from tunesmith.recommend.playlist import pool_size, rerank

#: Content picks per collaborative pick in the fused list (1/2: every third place is content's).
CONTENT_RATIO = 0.5
#: Candidates taken from each source before fusion.
FUSION_POOL = 200


@dataclass
class Recommendation:
    """One recommended item.

    Attributes
    ----------
    item : str
        Id as imported (HetRec artist id, ``Artist - Title`` for scrobbles).
    label : str
        Readable name.
    artist : str or None
    score : float
        Ranking score, higher first: the blended z-score of the collaborative model, or
        ``weight / rank`` where lists were interleaved. Only the order is meaningful.
    source : str
        ``collaborative``, ``content``, ``both`` or ``popular``.
    because : list of str
        What led to it (played items, or the library tracks it sounds like).
    explanation : str
        One readable sentence.
    path : str or None
        Library file, when the item is in the scanned library.
    uri : str or None
        Streaming URI from the history, if any.
    """

    item: str
    label: str
    artist: str | None
    score: float
    source: str
    because: list[str] = field(default_factory=list)
    explanation: str = ""
    path: str | None = None
    uri: str | None = None


@dataclass
class RecommendReport:
    """Recommendations for one user and how they were made."""

    user: str
    known_user: bool
    items: list[Recommendation]
    notes: list[str]
    model: dict[str, object]
    generation: int = 0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return asdict(self)


def interleave(lists: list[tuple[np.ndarray, float, str]], limit: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Merge ranked lists by weighted reciprocal rank, each item at its best place.

    Parameters
    ----------
    lists : list of (columns, weight, name)
        Ranked candidates (best first), the list's weight and its source name.
    limit : int
        Items to return.

    Returns
    -------
    tuple
        Columns, scores (``max weight / rank``) and source names (``"both"`` when on
        several lists), best first; ties go to the earlier list, then the lower column.
    """
    best: dict[int, tuple[float, int]] = {}
    names: dict[int, set[str]] = {}
    for order, (cols, weight, name) in enumerate(lists):
        for rank, c in enumerate(cols, start=1):
            key = (weight / rank, -order)
            c = int(c)
            if c not in best or key > best[c]:
                best[c] = key
            names.setdefault(c, set()).add(name)
    cols = np.fromiter(best, dtype=np.int64, count=len(best))
    score = np.array([best[int(c)][0] for c in cols])
    tie = np.array([best[int(c)][1] for c in cols])
    pick = np.lexsort((cols, -tie, -score))[:limit]
    sources = ["both" if len(names[int(c)]) > 1 else next(iter(names[int(c)])) for c in cols[pick]]
    return cols[pick], score[pick], sources


def _because_text(names: list[str], verb: str = "you played") -> str:
    if not names:
        return ""
    if len(names) == 1:
        return f"because {verb} {names[0]}"
    return f"because {verb} {', '.join(names[:-1])} and {names[-1]}"


class Recommender:
    """Everything needed to recommend from one history database.

    Parameters
    ----------
    db : str or os.PathLike, optional
        History database (default :func:`tunesmith.recommend.history.default_db`).
    params : CFParams, optional
        Collaborative hyper-parameters; a saved model with others is refitted.
    threads : int, optional
        Training threads (default: one per core).
    retrain : bool
        Refit from scratch even when the saved model is current.

    Raises
    ------
    InputFileError
        No database, or one with neither a listening history nor a library.
    """

    def __init__(
        self,
        db: str | os.PathLike[str] | None = None,
        params: CFParams | None = None,
        threads: int | None = None,
        retrain: bool = False,
    ) -> None:
        from tunesmith.recommend.library import library_tracks

        self.db = Path(db) if db is not None else default_db()
        t0 = time.perf_counter()
        conn = connect(self.db, create=False)
        try:
            conn.execute("BEGIN")  # one snapshot of catalogue, plays and library
            self.catalogue = load_catalogue(conn)
            self.tracks = library_tracks(conn)
            self.model, how = self._load_model(conn, params, threads, retrain)
            conn.rollback()
        finally:
            conn.close()
        if self.model is None and not self.tracks:
            raise InputFileError(
                "no listening history and no library yet: run `tunesmith history import FILE` "
                "or `tunesmith library scan DIR` first",
                self.db,
            )
        self.content = ContentIndex.load(models_dir(self.db)) if self.tracks else None
        if self.content is not None and any(t not in self.content for t in self.tracks):
            self.content = None  # an index older than the library: rebuilt by the next scan
        self.track_of_col: dict[int, int] = {}
        for tid in sorted(self.tracks):
            self.track_of_col.setdefault(int(self.tracks[tid]["item_id"]) - 1, tid)
        self.model_info: dict[str, object] = {
            "collaborative": how,
            "params": asdict(self.model.params) if self.model else None,
            "library_tracks": len(self.tracks),
            "seconds": round(time.perf_counter() - t0, 3),
        }

    # ----------------------------------------------------------------------------------
    # Models

    def _load_model(
        self, conn: sqlite3.Connection, params: CFParams | None, threads: int | None, retrain: bool
    ) -> tuple[CollaborativeModel | None, str]:
        path = models_dir(self.db) / "collaborative.npz"
        shape = (len(self.catalogue.users), len(self.catalogue.items))
        model = None
        if path.exists() and not retrain:
            try:
                model, seen = CollaborativeModel.load(path)
            except InputFileError:
                model = None  # damaged or old: refit below
            if model is not None and params is not None and model.params != params:
                model = None
            if model is not None and seen == self.catalogue.generation and (model.n_users, model.n_items) == shape:
                return model, "loaded"
        plays = load_plays(conn, shape)
        if plays.nnz == 0:
            return None, "no history"
        if model is None or model.n_users > shape[0] or model.n_items > shape[1]:
            model, how = CollaborativeModel.fit(plays, params, threads), "trained"
        else:
            how = {"unchanged": "loaded", "incremental": "updated", "full": "trained"}[model.update(plays, threads)]
        try:
            model.save(path, self.catalogue.generation)
        except OSError:
            how += " (not saved: models folder not writable)"
        return model, how

    def known(self, user: str) -> int | None:
        """Row of ``user`` when they have plays the model knows, else None."""
        u = self.catalogue.user_index(user)
        if u is None or self.model is None or u >= self.model.n_users or len(self.model.played(u)) == 0:
            return None
        return u

    # ----------------------------------------------------------------------------------
    # Recommending

    def recommend(
        self,
        user: str,
        n: int = 30,
        explain: bool = False,
        diversity: float = 0.0,
        per_artist: int | None = None,
    ) -> RecommendReport:
        """Items ``user`` has not played, best first.

        Parameters
        ----------
        user : str
            User name as imported.
        n : int
            How many.
        explain : bool
            Fill ``because`` / ``explanation`` (costs a little per item).
        diversity : float
            0–1: MMR re-ranking strength (:func:`tunesmith.recommend.playlist.rerank`).
        per_artist : int, optional
            At most this many items per artist.

        Returns
        -------
        RecommendReport
            With ``known_user`` False and a note for cold starts.
        """
        if n < 1:
            raise UsageError(f"-n must be at least 1, got {n}")
        if not 0.0 <= diversity <= 1.0:
            raise UsageError(f"--diversity must be between 0 and 1, got {diversity}")
        if per_artist is not None and per_artist < 1:
            raise UsageError(f"--per-artist must be at least 1, got {per_artist}")
        u = self.known(user)
        if u is None:
            return self._cold_start(user, n, explain, diversity, per_artist)
        cols, scores, sources = self.rank(u, pool_size(n, diversity, per_artist is not None))
        if diversity > 0 or per_artist is not None:
            picks = rerank(
                self.similarity(cols), n, diversity, self.catalogue.artists[cols], per_artist, self.popularity(cols)
            )
            cols, scores, sources = cols[picks], scores[picks], [sources[i] for i in picks]
        else:
            cols, scores = cols[:n], scores[:n]
        items = [
            self._item(int(c), float(s), src, u if explain else None)
            for c, s, src in zip(cols, scores, sources, strict=False)
        ]
        notes = [] if len(items) >= n else [f"only {len(items)} items {user!r} has not played could be ranked"]
        return RecommendReport(user, True, items, notes, self.model_info, self.catalogue.generation)

    def rank(self, u: int, pool: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The fused ranking for row ``u``: columns, scores and sources, best first."""
        assert self.model is not None
        played = self.model.played(u)
        cf_cols, cf_scores = self.model.recommend(u, pool)
        ct_cols = self._content_candidates(u, played, pool)
        if not len(ct_cols):
            return cf_cols, cf_scores, ["collaborative"] * len(cf_cols)
        return interleave([(cf_cols, 1.0, "collaborative"), (ct_cols, CONTENT_RATIO, "content")], pool)

    def _profile(self, u: int, played: np.ndarray) -> np.ndarray | None:
        """The user's taste in audio: weighted mean vector of the library tracks they played."""
        if self.content is None or self.model is None:
            return None
        w = self.model.weights.data[self.model.weights.indptr[u] : self.model.weights.indptr[u + 1]]
        vecs, weights = [], []
        for c, wt in zip(played, w, strict=True):
            tid = self.track_of_col.get(int(c))
            if tid is not None and tid in self.content:
                vecs.append(self.content.vector(tid))
                weights.append(wt)
        if not vecs:
            return None
        return np.average(np.array(vecs), axis=0, weights=np.array(weights) + 1e-6)

    def _content_candidates(self, u: int, played: np.ndarray, k: int) -> np.ndarray:
        profile = self._profile(u, played)
        if profile is None or self.content is None:
            return np.zeros(0, np.int64)
        played_set = {int(c) for c in played}
        exclude = {tid for tid, t in self.tracks.items() if int(t["item_id"]) - 1 in played_set}
        ids, _ = self.content.query(profile, k, exclude)
        cols, seen = [], set()
        for tid in ids:
            c = int(self.tracks[int(tid)]["item_id"]) - 1
            if c not in seen and c not in played_set:
                seen.add(c)
                cols.append(c)
        return np.array(cols, dtype=np.int64)

    def similarity(self, cols: np.ndarray) -> np.ndarray:
        """Item-item similarity of ``cols`` (−1…1): ALS factors and/or audio, averaged where both exist."""
        p = len(cols)
        total = np.zeros((p, p))
        count = np.zeros((p, p))
        if self.model is not None:
            in_model = np.array([c < self.model.n_items and self.model.listeners[c] > 0 for c in cols])
            idx = np.flatnonzero(in_model)
            if len(idx):
                total[np.ix_(idx, idx)] += self.model.factor_similarity(cols[idx])
                count[np.ix_(idx, idx)] += 1
        if self.content is not None:
            tids = [self.track_of_col.get(int(c)) for c in cols]
            idx = np.array([i for i, t in enumerate(tids) if t is not None and t in self.content], dtype=np.int64)
            if len(idx):
                total[np.ix_(idx, idx)] += self.content.similarity(
                    np.array([tids[i] for i in idx]), np.array([tids[i] for i in idx])
                )
                count[np.ix_(idx, idx)] += 1
        return np.divide(total, count, out=np.zeros_like(total), where=count > 0)

    def popularity(self, cols: np.ndarray) -> np.ndarray:
        """``ln(1 + listeners) / ln(1 + most listeners)`` of ``cols`` (0 for items nobody played)."""
        if self.model is None:
            return np.zeros(len(cols))
        listeners = np.zeros(len(cols))
        known = cols < self.model.n_items
        listeners[known] = self.model.listeners[cols[known]]
        return np.log1p(listeners) / np.log1p(max(1, int(self.model.listeners.max())))

    def _item(self, col: int, score: float, source: str, explain_for: int | None) -> Recommendation:
        cat = self.catalogue
        tid = self.track_of_col.get(col)
        rec = Recommendation(
            item=str(cat.items[col]),
            label=str(cat.labels[col]),
            artist=cat.artist_names[col],
            score=round(score, 4),
            source=source,
            path=str(self.tracks[tid]["path"]) if tid is not None else None,
            uri=cat.uris[col],
        )
        if explain_for is not None:
            rec.because, rec.explanation = self._explain(explain_for, col, source)
        return rec

    def _explain(self, u: int, col: int, source: str) -> tuple[list[str], str]:
        assert self.model is not None
        labels = self.catalogue.labels
        parts: list[str] = []
        because: list[str] = []
        if source in ("collaborative", "both") and col < self.model.n_items:
            names = [str(labels[j]) for j in self.model.explain(u, col)]
            because += names
            if names:
                parts.append(_because_text(names))
        if source in ("content", "both") and self.content is not None:
            tid = self.track_of_col.get(col)
            played_tracks = [self.track_of_col[int(c)] for c in self.model.played(u) if int(c) in self.track_of_col]
            played_tracks = [t for t in played_tracks if t in self.content]
            if tid is not None and tid in self.content and played_tracks:
                sims = self.content.similarity(np.array([tid]), np.array(played_tracks))[0]
                best = [played_tracks[i] for i in np.argsort(-sims)[:2]]
                names = [str(labels[int(self.tracks[t]["item_id"]) - 1]) for t in best]
                because += [n for n in names if n not in because]
                parts.append(f"sounds like {' and '.join(names)}{self._sound(tid)}")
        return because, "; ".join(parts) if parts else "popular with listeners like you"

    def _sound(self, tid: int) -> str:
        t = self.tracks[tid]
        bits = [f"{t['tempo_bpm']:.0f} BPM" if t.get("tempo_bpm") else "", str(t["key"]) if t.get("key") else ""]
        bits = [b for b in bits if b]
        return f" ({', '.join(bits)})" if bits else ""

    def _cold_start(
        self, user: str, n: int, explain: bool, diversity: float, per_artist: int | None
    ) -> RecommendReport:
        cat = self.catalogue
        known = [str(x) for x in cat.users if x]
        close = difflib.get_close_matches(user, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        what = "popular items" + (" and varied picks from your library" if self.content is not None else "")
        note = (
            f"no listening history for user {user!r} in {self.db} ({len(known)} users known{hint}): "
            f"suggesting {what} instead"
        )
        pool = max(3 * n, FUSION_POOL)
        lists: list[tuple[np.ndarray, float, str]] = []
        if self.model is not None:
            pop_cols, _ = top_n(self.model.listeners.astype(np.float64), pool)
            lists.append((pop_cols[self.model.listeners[pop_cols] > 0], 1.0, "popular"))
        if self.content is not None and len(self.content):
            # Library tracks spread over the sound space: MMR with equal relevance.
            ids = self.content.ids
            order = rerank(self.content.similarity(ids, ids), min(pool, len(ids)), 1.0)
            spread = list(dict.fromkeys(int(self.tracks[int(ids[i])]["item_id"]) - 1 for i in order))
            lists.append((np.array(spread, dtype=np.int64), CONTENT_RATIO, "content"))
        cols, vals, sources = interleave(lists, pool)
        src = dict(zip(cols.tolist(), sources, strict=True))
        if diversity > 0 or per_artist is not None:
            head = cols[: 3 * n]
            picks = rerank(self.similarity(head), n, diversity, cat.artists[head], per_artist, self.popularity(head))
            cols, vals = cols[picks], vals[picks]
        items = []
        for c, v in zip(cols[:n], vals[:n], strict=True):
            rec = self._item(int(c), float(v), src[int(c)], None)
            if explain:
                if rec.source in ("popular", "both") and self.model is not None:
                    rec.explanation = f"popular: {int(self.model.listeners[c])} listeners"
                else:
                    tid = self.track_of_col.get(int(c))
                    rec.explanation = "from your library, for variety" + (self._sound(tid) if tid is not None else "")
            items.append(rec)
        return RecommendReport(user, False, items, [note], self.model_info, cat.generation)

    def recommend_all(self, n: int = 10, diversity: float = 0.0) -> Iterator[tuple[str, list[str]]]:
        """``(user, item ids)`` for every user with plays, in database order (offline evaluation)."""
        if self.model is None:
            return
        for u in range(self.model.n_users):
            name = str(self.catalogue.users[u])
            if name and len(self.model.played(u)):
                report = self.recommend(name, n=n, diversity=diversity)
                yield name, [r.item for r in report.items]

    # ----------------------------------------------------------------------------------
    # More like this

    def find_item(self, query: str) -> int:
        """Column of an item named by id, label, ``Artist - Title`` or library file path.

        Raises
        ------
        UsageError
            Nothing or several things match (the message lists some).
        """
        cat = self.catalogue
        for values in (cat.items, cat.labels):
            hits = np.flatnonzero(values == query)
            if len(hits) == 1:
                return int(hits[0])
        q = " ".join(query.casefold().replace("–", "-").split())
        path = Path(query)
        if path.exists():
            resolved = str(path.resolve())
            for t in self.tracks.values():
                if t["path"] == resolved:
                    return int(t["item_id"]) - 1
        folded = [" ".join(str(x).casefold().replace("–", "-").split()) for x in cat.labels]
        exact = [i for i, x in enumerate(folded) if x == q]
        if len(exact) == 1:
            return exact[0]
        partial = [i for i, x in enumerate(folded) if q and q in x]
        if len(partial) == 1:
            return partial[0]
        if not partial:
            close = difflib.get_close_matches(q, folded, n=3)
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            raise UsageError(f"no item {query!r} in the history or library{hint}")
        shown = ", ".join(repr(str(cat.labels[i])) for i in partial[:5])
        raise UsageError(
            f"{query!r} matches {len(partial)} items ({shown}{', …' if len(partial) > 5 else ''}); be more precise"
        )

    def similar(self, query: str, n: int = 10) -> tuple[Recommendation, list[Recommendation]]:
        """Items most like ``query``: co-listening (ALS + neighbours) and sound, fused by rank.

        Returns
        -------
        tuple
            The item the query named and the similar items, most similar first.
        """
        if n < 1:
            raise UsageError(f"-n must be at least 1, got {n}")
        col = self.find_item(query)
        anchor = self._item(col, 0.0, "query", None)
        lists: list[tuple[np.ndarray, float, str]] = []
        if self.model is not None and col < self.model.n_items and self.model.listeners[col] > 0:
            lists.append((self.model.similar_items(col, max(n, FUSION_POOL))[0], 1.0, "collaborative"))
        tid = self.track_of_col.get(col)
        if self.content is not None and tid is not None and tid in self.content:
            ids, _ = self.content.query(self.content.vector(tid), max(n, FUSION_POOL), {tid})
            near = [int(self.tracks[int(t)]["item_id"]) - 1 for t in ids]
            lists.append((np.array([c for c in dict.fromkeys(near) if c != col], dtype=np.int64), 1.0, "content"))
        if not lists:
            raise UsageError(f"{anchor.label!r} has no listeners and no analysed audio: nothing to compare it with")
        cols, vals, sources = interleave(lists, n)
        out = []
        for c, v, source in zip(cols, vals, sources, strict=True):
            rec = self._item(int(c), float(v), source, None)
            why = []
            if source in ("collaborative", "both"):
                why.append("played by the same listeners")
            if source in ("content", "both"):
                t = self.track_of_col.get(int(c))
                why.append("sounds alike" + (self._sound(t) if t is not None else ""))
            rec.explanation = " and ".join(why)
            out.append(rec)
        return anchor, out
