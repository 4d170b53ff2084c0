"""The originality guard: how many consecutive notes a melody shares with a training tune.

A melody is compared as a chain of *steps*: for each note after the first, the
interval from the note before (semitones, exact up to two octaves) and the ratio of
its length to the previous note's (inter-onset intervals, so a rest belongs to the
note before it; the last note's own length, rounded up to sixteenths; ratios in 1/24
octave steps). Steps do not change when a tune is transposed or played at another
tempo, so a copy is found in any key and at any speed. A run of ``n`` consecutive
notes shared with a training tune is a run of ``n - 1`` equal steps.

**Index.** Every training tune (POP909 songs 001–818 and the folk tunes of music21's
corpus outside the held-out tenth: exactly what the melody model learned from) is
stored as its step codes, tunes separated by a 0 (``weights/originality.npz``, built
by ``scripts/build_originality_index.py``). On loading, every position's next
:attr:`OriginalityIndex.depth` steps are packed into one ``uint64`` and sorted — a
suffix array truncated at that depth. The longest shared run starting at each step
of a query is then found exactly by binary search (the longest common prefix is
with a neighbour of the insertion point); runs longer than the depth are followed
step by step through the stored tunes. No hashing, so no false matches: the lengths
reported are exact for every run length, short or long.

``compose`` uses :func:`guard_melody` (after the melody model's own phrase guard) to
redraw any phrase that repeats :data:`COPY_NOTES` (8) or more consecutive notes of a
training tune, judging each phrase as it will be written (swing, range, the song's
last note), and records :func:`longest_overlap` of the written melody in the recipe.
Whatever a copy survives every redraw, :func:`break_copies` breaks by moving one of
its inner notes to a neighbouring chord or scale tone, so no written melody shares
:data:`COPY_NOTES` notes with an indexed tune.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from tunesmith.errors import InputFileError
from tunesmith.models import nn
from tunesmith.score.types import Note

INDEX = "originality.npz"
COPY_NOTES = 8  #: a run of this many shared consecutive notes counts as a copy
INTERVAL_LIMIT = 25  #: intervals beyond ±24 semitones share the code of ±25
RATIO_STEPS = 24  #: length ratios are coded in steps of 1/24 octave …
RATIO_LIMIT = 96  #: … up to ±4 octaves (16×)
_TICKS = 12  # onsets are read on a grid of 1/12 beat (sixteenths and triplets exact)
_N_RATIOS = 2 * RATIO_LIMIT + 1


def step_ids(onsets: np.ndarray, durations: np.ndarray, pitches: np.ndarray) -> np.ndarray:
    """Raw step ids of a melody (one per note after the first); see the module docstring.

    Parameters
    ----------
    onsets, durations : numpy.ndarray
        Beats, sorted by onset; notes starting together should already be reduced to one.
    pitches : numpy.ndarray
        MIDI pitches.

    Returns
    -------
    numpy.ndarray
        int64 ids ``(interval + 25) * 193 + (ratio + 96)``, length ``n - 1``.
    """
    n = len(onsets)
    if n < 2:
        return np.zeros(0, dtype=np.int64)
    ticks = np.round(np.asarray(onsets, dtype=np.float64) * _TICKS).astype(np.int64)
    # The last note's length in sixteenths, rounded up from a quarter past: a note played a little
    # short of its value (articulation) still counts as that value.
    last = 3 * max(1, math.ceil(float(durations[-1]) * 4 - 0.25))
    length = np.maximum(1, np.append(np.diff(ticks), last)).astype(np.float64)
    ratio = np.clip(np.round(RATIO_STEPS * np.log2(length[1:] / length[:-1])), -RATIO_LIMIT, RATIO_LIMIT).astype(
        np.int64
    )
    interval = np.clip(np.diff(np.asarray(pitches, dtype=np.int64)), -INTERVAL_LIMIT, INTERVAL_LIMIT)
    return (interval + INTERVAL_LIMIT) * _N_RATIOS + ratio + RATIO_LIMIT


def melody_line(notes: Sequence[Note]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Onsets, durations, pitches of a melody's notes (sorted; of notes starting together the highest),
    and for each kept note its index in ``notes``."""
    if not notes:
        z = np.zeros(0)
        return z, z, z.astype(np.int64), z.astype(np.int64)
    order = sorted(range(len(notes)), key=lambda i: (round(notes[i].start * _TICKS), -notes[i].pitch))
    kept = [order[0]]
    for i in order[1:]:
        if round(notes[i].start * _TICKS) != round(notes[kept[-1]].start * _TICKS):
            kept.append(i)
    idx = np.array(kept, dtype=np.int64)
    on = np.array([notes[i].start for i in kept])
    du = np.array([notes[i].duration for i in kept])
    pi = np.array([notes[i].pitch for i in kept], dtype=np.int64)
    return on, du, pi, idx


@dataclass
class OriginalityIndex:
    """The training melodies as step codes, searchable for shared runs.

    Attributes
    ----------
    codes : numpy.ndarray
        Step codes of every tune in turn (1 … ``len(alphabet)``), each tune followed by 0.
    alphabet : numpy.ndarray
        Raw step id of each code (code ``k`` is ``alphabet[k - 1]``), ascending.
    tune_starts : numpy.ndarray
        Index in ``codes`` where each tune's steps begin.
    sources : list of str
        Name of each tune (``pop909/012``, ``oneills1850/0001-0050#3``).
    meta : dict
        Build information (counts, corpora, date).
    """

    codes: np.ndarray
    alphabet: np.ndarray
    tune_starts: np.ndarray
    sources: list[str]
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.codes = np.ascontiguousarray(self.codes, dtype=np.int64)
        base = len(self.alphabet) + 1
        # As many steps per key as fit in 64 bits.
        self.depth = max(1, int(64 * math.log(2) / math.log(base)))
        while base**self.depth >= 2**64:
            self.depth -= 1
        self.base = base
        self._powers = np.array([base ** (self.depth - 1 - j) for j in range(self.depth)], dtype=np.uint64)
        self.keys, self.order = self._sorted_keys()

    # -- building -----------------------------------------------------------------------------------
    @classmethod
    def build(cls, tunes: Sequence[tuple[str, np.ndarray]], meta: dict | None = None) -> OriginalityIndex:
        """Index melodies given as ``(name, (n, 3) array of onset, duration (beats), MIDI pitch)``."""
        raw = []
        for _, notes in tunes:
            on, du, pi = _reduce(np.asarray(notes, dtype=np.float64))
            raw.append(step_ids(on, du, pi))
        return cls.from_steps([(name, r) for (name, _), r in zip(tunes, raw, strict=True)], meta)

    @classmethod
    def from_steps(cls, tunes: Sequence[tuple[str, np.ndarray]], meta: dict | None = None) -> OriginalityIndex:
        """Index melodies given as ``(name, raw step ids)`` (:func:`step_ids`), e.g. gathered file by file."""
        raw = [np.asarray(r, dtype=np.int64) for _, r in tunes]
        alphabet = np.unique(np.concatenate(raw)) if raw else np.zeros(0, dtype=np.int64)
        pieces, starts, at = [], [], 0
        for r in raw:
            starts.append(at)
            pieces.append(np.append(np.searchsorted(alphabet, r) + 1, 0))
            at += len(r) + 1
        codes = np.concatenate(pieces) if pieces else np.zeros(1, dtype=np.int64)
        return cls(codes, alphabet, np.array(starts, dtype=np.int64), [name for name, _ in tunes], meta or {})

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index as a compressed ``.npz`` (atomically)."""
        from tunesmith.atomic import atomic_path

        dtype = np.uint16 if len(self.alphabet) < 2**16 else np.uint32
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                codes=self.codes.astype(dtype),
                alphabet=self.alphabet.astype(np.int32),
                tune_starts=self.tune_starts.astype(np.uint32),
                sources=np.frombuffer("\n".join(self.sources).encode(), dtype=np.uint8),
                meta=np.frombuffer(json.dumps(self.meta).encode(), dtype=np.uint8),
            )

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> OriginalityIndex:
        """Read an index written by :meth:`save` (the packaged one by default)."""
        path = Path(path) if path else nn.weights_dir() / INDEX
        try:
            with np.load(path) as z:
                parts = {k: z[k] for k in ("codes", "alphabet", "tune_starts", "sources", "meta")}
        except (OSError, ValueError, KeyError) as exc:
            raise InputFileError(f"cannot read the originality index: {exc}", path) from None
        sources = parts["sources"].tobytes().decode().split("\n") if parts["sources"].size else []
        return cls(
            parts["codes"], parts["alphabet"], parts["tune_starts"], sources, json.loads(parts["meta"].tobytes())
        )

    # -- searching ----------------------------------------------------------------------------------
    def _pack(self, codes: np.ndarray, count: int) -> np.ndarray:
        """Keys of the windows starting at positions ``0 .. count - 1`` of ``codes`` (padded with 0).

        Horner's rule over the window's codes; after a tune's end (or an unknown step, code
        ``<= 0``) the rest of the window is 0, which sorts before every real step.
        """
        padded = np.concatenate([np.maximum(codes, 0), np.zeros(self.depth, dtype=np.int64)]).astype(np.uint64)
        key = padded[:count].copy()
        alive = key > 0
        base = np.uint64(self.base)
        for j in range(1, self.depth):
            c = padded[j : j + count]
            alive &= c > 0
            key *= base
            key += c * alive
        return key

    def _sorted_keys(self) -> tuple[np.ndarray, np.ndarray]:
        """The keys sorted, and the position in :attr:`codes` of each sorted key."""
        keys = self._pack(self.codes, len(self.codes))
        order = np.argsort(keys)  # ties in any order: every occurrence is as good as another
        return keys[order], order

    def _digits(self, keys: np.ndarray) -> np.ndarray:
        """``(n, depth)`` codes packed in ``keys``."""
        return ((keys[:, None] // self._powers[None, :]) % np.uint64(self.base)).astype(np.int64)

    def query_codes(self, notes: Sequence[Note] | np.ndarray) -> np.ndarray:
        """Step codes of a melody (``Note`` list, or ``(n, 3)`` onset, duration, pitch); -1 for steps no tune has."""
        if isinstance(notes, np.ndarray):
            on, du, pi = _reduce(np.asarray(notes, dtype=np.float64))
        else:
            on, du, pi, _ = melody_line(notes)
        ids = step_ids(on, du, pi)
        pos = np.searchsorted(self.alphabet, ids)
        found = (pos < len(self.alphabet)) & (self.alphabet[np.clip(pos, 0, len(self.alphabet) - 1)] == ids)
        return np.where(found, pos + 1, -1).astype(np.int64)

    def runs(self, codes: np.ndarray) -> np.ndarray:
        """Longest shared run of steps starting at each query step (0 = not even that step occurs).

        Parameters
        ----------
        codes : numpy.ndarray
            Step codes of the query (:meth:`query_codes`; -1 = a step no training tune has).

        Returns
        -------
        numpy.ndarray
            Run length in steps per query step.
        """
        m = len(codes)
        if m == 0 or len(self.keys) == 0:
            return np.zeros(m, dtype=np.int64)
        valid = codes > 0
        # How many valid steps follow each position (capped at the depth): the packed key stops there.
        limit = np.zeros(m, dtype=np.int64)
        run = 0
        for i in range(m - 1, -1, -1):
            run = run + 1 if valid[i] else 0
            limit[i] = min(run, self.depth)
        qkeys = self._pack(codes, m)
        at = np.searchsorted(self.keys, qkeys)
        best = np.zeros(m, dtype=np.int64)
        qd = self._digits(qkeys)
        # The longest common prefix with any stored key is with a neighbour of the insertion point.
        for nb in (at - 1, at):
            ok = (nb >= 0) & (nb < len(self.keys))
            same = self._digits(self.keys[np.clip(nb, 0, len(self.keys) - 1)]) == qd
            lcp = np.where(same.all(axis=1), self.depth, np.argmin(same, axis=1))
            best = np.maximum(best, np.where(ok, np.minimum(lcp, limit), 0))
        # Runs that fill the whole key go on beyond it: follow every occurrence step by step.
        full = np.flatnonzero(best == self.depth)
        if len(full):
            lo = np.searchsorted(self.keys, qkeys[full], side="left")
            hi = np.searchsorted(self.keys, qkeys[full], side="right")
            for i, a, b in zip(full, lo, hi, strict=True):
                pos = self.order[a:b]
                length = self.depth
                while len(pos) and i + length < m and codes[i + length] > 0:
                    nxt = np.minimum(pos + length, len(self.codes) - 1)
                    pos = pos[(pos + length < len(self.codes)) & (self.codes[nxt] == codes[i + length])]
                    length += bool(len(pos))
                best[i] = length
        return best

    def longest_overlap(self, notes: Sequence[Note] | np.ndarray, since: int = 0, until: int | None = None) -> int:
        """Most consecutive notes the melody shares with any one training tune (0 for no notes, else ≥ 1).

        Parameters
        ----------
        notes : list of Note or numpy.ndarray
            The melody (notes starting together count once, the highest), or ``(n, 3)`` onsets,
            durations (beats) and pitches.
        since, until : int
            Count only runs that reach note ``since`` or later and start at note ``until`` or
            earlier (indices of the melody as reduced by :func:`melody_line`), to judge one phrase
            together with the notes around it.
        """
        n = len(notes)
        if n == 0:
            return 0
        best = self.runs(self.query_codes(notes))
        # Step i joins notes i and i + 1; a run of r steps from step i spans notes i .. i + r.
        first = np.arange(len(best))
        inside = (best > 0) & (first + best >= since)
        if until is not None:
            inside &= first <= until
        counted = best[inside]
        return int(counted.max()) + 1 if counted.size else 1

    def find_copies(self, notes: Sequence[Note] | np.ndarray, min_notes: int = COPY_NOTES) -> list[tuple[int, int]]:
        """Passages of at least ``min_notes`` consecutive notes shared with a training tune.

        Returns
        -------
        list of (int, int)
            ``(first note, number of notes)`` of each maximal shared run, indices into the melody
            as reduced by :func:`melody_line` (for a monophonic melody sorted by onset: into
            ``notes`` itself).
        """
        best = self.runs(self.query_codes(notes))
        out = []
        reach = -1
        for i, r in enumerate(best.tolist()):
            if r + 1 >= min_notes and i + r > reach:
                out.append((i, r + 1))
            reach = max(reach, i + r)
        return out

    def sources_of(self, notes: Sequence[Note] | np.ndarray, start: int, length: int) -> list[str]:
        """Names of the training tunes holding the run of ``length`` notes from note ``start``."""
        codes = self.query_codes(notes)[start : start + length - 1]
        if len(codes) == 0 or (codes <= 0).any():
            return []
        first = self._pack(codes, 1)[0]
        names = set()
        lo, hi = np.searchsorted(self.keys, first, "left"), np.searchsorted(self.keys, first, "right")
        for p in self.order[lo:hi]:
            if p + len(codes) <= len(self.codes) and np.array_equal(self.codes[p : p + len(codes)], codes):
                names.add(self.sources[int(np.searchsorted(self.tune_starts, p, side="right")) - 1])
        return sorted(names)

    @property
    def notes(self) -> int:
        """Number of training notes indexed."""
        return len(self.codes)


def _reduce(notes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort an ``(n, 3)`` note array by onset and keep the highest of notes starting together."""
    if len(notes) == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)
    order = np.lexsort((-notes[:, 2], np.round(notes[:, 0] * _TICKS)))
    n = notes[order]
    ticks = np.round(n[:, 0] * _TICKS)
    keep = np.ones(len(n), dtype=bool)
    keep[1:] = ticks[1:] != ticks[:-1]
    n = n[keep]
    return n[:, 0], n[:, 1], n[:, 2].astype(np.int64)


@lru_cache(maxsize=1)
def packaged_index() -> OriginalityIndex:
    """The index shipped with tunesmith (loaded once per process, about 0.2 s)."""
    return OriginalityIndex.load()


def index_id(path: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Identity of the originality index, for recipes: ``{"id": ..., "sha256": ...}``."""
    path = Path(path) if path else nn.weights_dir() / INDEX
    return {"id": "originality-index-pop909-folk", "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}


class CombinedIndex:
    """Several indexes searched as one: the packaged training tunes and a learned style's own sources.

    ``tunesmith learn`` stores an index of the musician's pieces in the style's folder; a melody
    written in that style must copy neither the training tunes nor the musician's songs. Offers
    what the guards use (:meth:`longest_overlap`, :meth:`find_copies`) plus :meth:`overlaps`, the
    longest run per index for the recipe.

    Parameters
    ----------
    indexes : dict of str to OriginalityIndex
        Named indexes (``{"training": …, "style": …}``).
    """

    def __init__(self, indexes: dict[str, OriginalityIndex]) -> None:
        self.indexes = dict(indexes)

    def longest_overlap(self, notes: Sequence[Note] | np.ndarray, since: int = 0, until: int | None = None) -> int:
        """The longest run shared with any tune of any of the indexes (see :meth:`OriginalityIndex.longest_overlap`)."""
        return max((i.longest_overlap(notes, since, until) for i in self.indexes.values()), default=0)

    def find_copies(self, notes: Sequence[Note] | np.ndarray, min_notes: int = COPY_NOTES) -> list[tuple[int, int]]:
        """Passages copied from a tune of any index, ``(first note, notes)``, sorted."""
        return sorted({c for i in self.indexes.values() for c in i.find_copies(notes, min_notes)})

    def overlaps(self, notes: Sequence[Note] | np.ndarray) -> dict[str, int]:
        """Longest shared run with each index, by name."""
        return {name: i.longest_overlap(notes) for name, i in self.indexes.items()}


@lru_cache(maxsize=8)
def _style_index(path: str, stamp: float) -> OriginalityIndex:
    return OriginalityIndex.load(path)


def index_for_style(style: object) -> OriginalityIndex | CombinedIndex:
    """The index a melody in ``style`` is guarded with: the packaged one, plus the style's own when it
    has one (a learned style's ``[learned] originality_index``)."""
    learned = getattr(style, "learned", None) or {}
    path = learned.get("originality_index")
    if path is None:
        return packaged_index()
    own = _style_index(str(path), Path(path).stat().st_mtime)
    return CombinedIndex({"training": packaged_index(), "style": own})


def longest_overlap(notes: Sequence[Note] | np.ndarray, since: int = 0, until: int | None = None) -> int:
    """:meth:`OriginalityIndex.longest_overlap` with the packaged index."""
    return packaged_index().longest_overlap(notes, since, until)


def find_copies(notes: Sequence[Note] | np.ndarray, min_notes: int = COPY_NOTES) -> list[tuple[int, int]]:
    """:meth:`OriginalityIndex.find_copies` with the packaged index."""
    return packaged_index().find_copies(notes, min_notes)


# ---------------------------------------------------------------------------------------------- guard
@dataclass
class GuardReport:
    """What :func:`guard_melody` found and did (for the recipe).

    Attributes
    ----------
    max_overlap : int
        Longest run of consecutive notes the final melody shares with a training tune.
    copied_phrases : int
        Phrases of the first draw that held a copy (:data:`COPY_NOTES` or more shared notes).
    redraws : int
        Phrases written again, all tries counted.
    copies_left : int
        Passages of :data:`COPY_NOTES` or more shared notes still there after ``max_tries``.
    """

    max_overlap: int = 0
    copied_phrases: int = 0
    redraws: int = 0
    copies_left: int = 0

    def to_dict(self) -> dict[str, int]:
        """JSON-ready form."""
        return {
            "max_overlap": self.max_overlap,
            "copied_phrases": self.copied_phrases,
            "redraws": self.redraws,
            "copies_left": self.copies_left,
        }


def phrase_overlap(
    notes: Sequence[Note], a: float, b: float, index: OriginalityIndex | CombinedIndex | None = None
) -> int:
    """Longest shared run touching the notes that start in ``[a, b)`` beats (``notes`` sorted by onset).

    Twelve notes either side are searched too, so a copy straddling the phrase's edge counts.
    """
    idx = index or packaged_index()
    on, _, _, _ = melody_line(notes)
    i0 = int(np.searchsorted(on, a - 1e-9))
    i1 = int(np.searchsorted(on, b - 1e-9))
    if i1 <= i0:
        return 0
    lo = max(0, i0 - 12)
    part = [notes[i] for i in melody_line(notes)[3][lo : i1 + 12]]
    return idx.longest_overlap(part, since=i0 - lo, until=i1 - 1 - lo)


def guard_melody(
    write: Callable[[list[tuple[str, int, int, float]], np.random.Generator], list[Note]],
    sections: list[tuple[str, int, int, float]],
    rng: np.random.Generator,
    bar_beats: float,
    phrase_bars: int = 4,
    max_tries: int = 8,
    index: OriginalityIndex | CombinedIndex | None = None,
    written: Callable[[list[Note]], list[Note]] | None = None,
) -> tuple[list[Note], GuardReport]:
    """Write a melody with ``write`` and redraw any phrase that copies a training tune.

    ``write(sections, rng)`` is any melody writer taking the section spans (``(name,
    start_bar, bars, energy)``, as :func:`tunesmith.compose.melody.write_melody` does) and a
    generator. The whole melody is written once with ``rng``; each phrase (``phrase_bars``
    bars of its section) holding a passage of :data:`COPY_NOTES` or more notes found in the
    index is written again on its own — ``write([that phrase], child generator)`` — and
    spliced in, up to ``max_tries`` times (the draw with the shortest overlap stays). ``rng``
    is drawn from only when a redraw is needed, so a clean melody leaves the caller's random
    stream exactly where an unguarded ``write`` would. A copy that outlasts every redraw is
    left for :func:`break_copies`.

    Parameters
    ----------
    bar_beats : float
        Bar length, beats.
    written : callable, optional
        The melody as it will be written to the file (swing, range, an added last note…) from
        the melody as ``write`` gives it. Every judgement is made on ``written(melody)``: what
        counts as a note and as a run is what the listener and the recipe get, and a run
        reaching into notes added after the writer (the song's last note) is seen. Onsets must
        stay inside the bar they were written in.

    Returns
    -------
    (list of Note, GuardReport)
        The melody as ``write`` gives it (not passed through ``written``); the report judges it
        as written.
    """
    idx = index or packaged_index()
    look = written or list
    notes = sorted(write(sections, rng), key=lambda n: (n.start, -n.pitch))
    report = GuardReport()
    # A copy is a run of COPY_NOTES or more: a clean melody costs one search.
    report.max_overlap = idx.longest_overlap(look(notes))
    if report.max_overlap >= COPY_NOTES:
        phrases = [
            (name, start + k, min(phrase_bars, bars - k), energy)
            for name, start, bars, energy in sections
            for k in range(0, bars, phrase_bars)
        ]
        seeds = np.random.SeedSequence(int(rng.integers(2**63)))
        for phrase in phrases:
            a, b = phrase[1] * bar_beats, (phrase[1] + phrase[2]) * bar_beats
            worst = phrase_overlap(look(notes), a, b, idx)
            if worst < COPY_NOTES:
                continue
            report.copied_phrases += 1
            outside = [n for n in notes if not a - 1e-9 <= n.start < b - 1e-9]
            for child in seeds.spawn(max_tries):
                report.redraws += 1
                fresh = [n for n in write([phrase], np.random.default_rng(child)) if a - 1e-9 <= n.start < b - 1e-9]
                trial = sorted(outside + fresh, key=lambda n: (n.start, -n.pitch))
                overlap = phrase_overlap(look(trial), a, b, idx)
                if overlap < worst:
                    worst, notes = overlap, trial
                if overlap < COPY_NOTES:
                    break
        final = look(notes)
        report.copies_left = len(idx.find_copies(final))
        report.max_overlap = idx.longest_overlap(final)
    return notes, report


def break_copies(
    notes: Sequence[Note],
    index: OriginalityIndex | CombinedIndex | None = None,
    candidates: Callable[[Note], Sequence[int]] | None = None,
) -> tuple[list[Note], int]:
    """Move single notes until no passage of :data:`COPY_NOTES` or more notes copies an indexed tune.

    The guard's last resort, after redrawing has failed: deterministic (no random draws), and
    it changes nothing in a melody that holds no copy. For each copied passage in turn, one of
    its inner notes (the one that leaves the shortest pieces either side first: the middle) is
    moved to the first pitch of ``candidates(note)`` after which no run of :data:`COPY_NOTES`
    shared notes passes through that note. A moved note changes only the two steps into and
    out of it, so this creates no copy elsewhere; runs of 15 or more notes take one move per
    seven notes.

    Parameters
    ----------
    notes : list of Note
        The melody as written (notes starting together count once, the highest). Order is kept.
    index : OriginalityIndex or CombinedIndex, optional
        What to check against; the packaged index by default.
    candidates : callable, optional
        Pitches (MIDI) to try for a note, best first (a composer passes the neighbouring chord
        tones, then scale tones, inside the part's range); semitone and whole-tone neighbours
        by default.

    Returns
    -------
    (list of Note, int)
        The melody, and how many notes were moved (0: returned unchanged). A passage no candidate
        breaks is left as it is (see :meth:`OriginalityIndex.find_copies` afterwards).
    """
    idx = index or packaged_index()
    options = candidates or (lambda n: [n.pitch + d for d in (-1, 1, -2, 2)])
    out = list(notes)
    moved = 0
    stuck: set[tuple[int, int]] = set()
    for _ in range(len(out)):  # each move shortens a copy; a note more than this is never needed
        copies = [c for c in idx.find_copies(out) if c not in stuck]
        if not copies:
            break
        first, length = copies[0]
        line = melody_line(out)[3]
        last = first + length - 1
        # Inner notes only (moving an end note shortens the run by one), the middle first.
        order = sorted(range(first + 1, last), key=lambda k: (max(k - first, last - k), k))
        done = False
        for k in order:
            note = out[line[k]]
            for pitch in options(note):
                if pitch == note.pitch or not 0 <= pitch <= 127:
                    continue
                trial = out.copy()
                trial[line[k]] = Note(note.start, note.duration, int(pitch), note.velocity)
                # Every run the move could create passes through note k: judge only those.
                if idx.longest_overlap(trial, since=k, until=k) < COPY_NOTES:
                    out, moved, done = trial, moved + 1, True
                    break
            if done:
                break
        if not done:
            stuck.add((first, length))
    return out, moved
