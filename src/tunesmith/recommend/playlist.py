"""Playlists: diversity re-ranking (MMR) with a per-artist cap, explanations, M3U8/JSON files.

A list ranked by relevance alone clusters ("more of your favourite band's scene") and, over
many users, homogenises: everyone is pushed towards the same well-known items. Maximal
Marginal Relevance (Carbonell & Goldstein 1998) builds the list one pick at a time, each
time taking the candidate with the best

    (1 − λ) · relevance − λ · redundancy

where *redundancy* is the mean of two things in 0…1: the candidate's highest similarity to
what is already picked (variety within the list) and its popularity, ``ln(1 + listeners) /
ln(1 + most listeners)`` (a novelty term in the spirit of Vargas & Castells 2011, which
spreads exposure over the catalogue — plain MMR, measured on the validation split,
*lowered* catalogue coverage, because the items it reaches for further down a list are the
generic, popular ones). Relevance is the candidate's *rank* mapped to 1 … 0 over the pool,
so λ means the same whatever scale the ranker's scores have; the pool is the best
``POOL_FACTOR × n`` candidates, which bounds how far down diversity may reach.
``--diversity d`` sets ``λ = d / 2``. The mapping, the pool and the redundancy term were
chosen on the validation split of Last.fm-2K (``benchmarks/recommend_eval.py``), never on
its test set. Similarity is the cosine of two items' ALS factors ("listened to by the same
people") and/or of their audio features ("sounds the same"); tracks nobody has played have
popularity 0, so diversity favours them.

The per-artist cap is absolute: once an artist has ``per_artist`` entries, their other
candidates are passed over, whatever λ.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tunesmith.atomic import atomic_path, check_not_input
from tunesmith.errors import UsageError

#: Candidates considered per wanted item when re-ranking.
POOL_FACTOR = 3


def pool_size(n: int, diversity: float, capped: bool = False) -> int:
    """Candidates to fetch for a list of ``n``: ``n`` itself unless re-ranking.

    With a per-artist cap at least 100 are fetched, so that a strict cap still fills the list.
    """
    if diversity <= 0 and not capped:
        return n
    return max(POOL_FACTOR * n, 100) if capped else POOL_FACTOR * n


def rerank(
    similarity: np.ndarray,
    n: int,
    diversity: float,
    artists: Sequence[str] | None = None,
    per_artist: int | None = None,
    popularity: np.ndarray | None = None,
) -> list[int]:
    """Pick ``n`` of the candidates by MMR with an optional per-artist cap.

    Parameters
    ----------
    similarity : numpy.ndarray
        ``(P, P)`` similarity (−1…1) of the candidates, which are in relevance order
        (best first).
    n : int
        Items to pick.
    diversity : float
        0 = relevance order, 1 = the most diverse; ``λ = diversity / 2``.
    artists : sequence of str, optional
        Artist of each candidate, for the cap.
    per_artist : int, optional
        At most this many picks per artist.
    popularity : numpy.ndarray, optional
        Popularity of each candidate in 0…1 (see the module notes); none = similarity only.

    Returns
    -------
    list of int
        Positions into the candidate list, in playlist order.
    """
    if not 0.0 <= diversity <= 1.0:
        raise UsageError(f"--diversity must be between 0 and 1, got {diversity}")
    p = similarity.shape[0]
    n = min(n, p)
    lam = diversity / 2.0
    relevance = 1.0 - np.arange(p) / max(p, 1)  # rank-based: 1 for the best … > 0 for the last
    closest = np.zeros(p)  # each candidate's highest similarity to a pick so far
    pop = np.zeros(p) if popularity is None else np.clip(np.asarray(popularity, dtype=np.float64), 0.0, 1.0)
    weight = 1.0 if popularity is None else 0.5
    available = np.ones(p, dtype=bool)
    counts: dict[str, int] = {}
    picks: list[int] = []
    while len(picks) < n and available.any():
        # Dissimilar (< 0) items get no bonus: closest is clipped at 0.
        gain = (1.0 - lam) * relevance - lam * (weight * closest + (1.0 - weight) * pop)
        gain[~available] = -np.inf
        best = int(np.argmax(gain))
        available[best] = False
        if artists is not None and per_artist is not None:
            a = artists[best]
            if counts.get(a, 0) >= per_artist:
                continue  # capped: passed over for good
            counts[a] = counts.get(a, 0) + 1
        picks.append(best)
        closest = np.maximum(closest, similarity[best].clip(min=0.0))
    return picks


@dataclass
class PlaylistEntry:
    """One playlist line.

    Attributes
    ----------
    item, label : str
        Id as imported and readable name.
    artist : str or None
    path : str or None
        Local file when the item is in the scanned library.
    uri : str or None
        Streaming-service URI from the history (Spotify), if any.
    because : list of str
        Played items (or library tracks) that led to it.
    explanation : str
        ``because you played X and Y`` and the like.
    source : str
        ``collaborative``, ``content``, ``both`` or ``popular``.
    """

    item: str
    label: str
    artist: str | None
    path: str | None
    uri: str | None
    because: list[str] = field(default_factory=list)
    explanation: str = ""
    source: str = "collaborative"


@dataclass
class Playlist:
    """A named list made for a user."""

    name: str
    user: str
    entries: list[PlaylistEntry]
    diversity: float
    per_artist: int | None
    notes: list[str] = field(default_factory=list)
    generation: int = 0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        doc = asdict(self)
        for i, e in enumerate(doc["entries"], 1):
            e["position"] = i
        return doc


def make_playlist(
    recommender: object,
    user: str,
    name: str,
    n: int = 30,
    diversity: float = 0.3,
    per_artist: int | None = 2,
) -> Playlist:
    """A playlist of items ``user`` has not played, diversified, capped per artist, explained.

    Parameters
    ----------
    recommender : tunesmith.recommend.hybrid.Recommender
        The models to draw from.
    user : str
        Whose playlist (an unknown user gets popular and varied cold-start picks).
    name : str
        Playlist title.
    n : int
        Entries wanted.
    diversity : float
        0–1, see :func:`rerank`.
    per_artist : int, optional
        At most this many entries per artist.
    """
    if not name.strip():
        raise UsageError("--name must not be empty")
    report = recommender.recommend(user, n=n, explain=True, diversity=diversity, per_artist=per_artist)  # type: ignore[attr-defined]
    entries = [
        PlaylistEntry(
            item=r.item,
            label=r.label,
            artist=r.artist,
            path=r.path,
            uri=r.uri,
            because=list(r.because),
            explanation=r.explanation,
            source=r.source,
        )
        for r in report.items
    ]
    return Playlist(name, user, entries, diversity, per_artist, list(report.notes), report.generation)


def _m3u8(playlist: Playlist) -> str:
    lines = ["#EXTM3U", f"#PLAYLIST:{_one_line(playlist.name)}"]
    for e in playlist.entries:
        if e.explanation:
            lines.append(f"# {_one_line(e.explanation)}")
        location = e.path or e.uri
        if location:
            lines.append(f"#EXTINF:-1,{_one_line(e.label)}")
            lines.append(location)
        else:  # a player cannot play it, but the suggestion is still worth reading
            lines.append(f"# not in your library: {_one_line(e.label)}")
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def write_playlist(
    playlist: Playlist, output: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]] = ()
) -> Path:
    """Write ``playlist`` as ``.m3u8`` or ``.json`` (by suffix), atomically, never over an input.

    In M3U8 an entry is playable when it is a library file (or carries a streaming URI);
    others are written as comments, so the suggestion is kept without breaking players.

    Raises
    ------
    UsageError
        Another suffix, or the output is one of ``inputs`` (e.g. the database).
    """
    out = Path(output)
    suffix = out.suffix.lower()
    if suffix not in (".m3u8", ".m3u", ".json"):
        raise UsageError("the playlist file must end in .m3u8 or .json", out)
    check_not_input(out, list(inputs))
    text = json.dumps(playlist.to_dict(), indent=2, ensure_ascii=False) + "\n" if suffix == ".json" else _m3u8(playlist)
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out
