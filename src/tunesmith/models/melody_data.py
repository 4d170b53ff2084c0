"""The melody model's corpora as one kind of value: tunes with their notes, bars, chords and keys.

Two sources, both read only from their training-time homes:

* **POP909** (``../shared/data/pop909``): the MELODY track of each song, its chord and
  key annotations, and its annotated beats and bar starts. Times are converted to
  *annotated beats* (beat ``k`` of ``beat_midi.txt`` is time ``k``), so a bar is four
  beats even where the performance drifts; the MIDI files are on that grid already.
* **Folk tunes** from music21's corpus: Essen (``essenFolksong``, songs), O'Neill's
  1850 and Ryan's Mammoth (``oneills1850``, ``ryansMammoth``, dance tunes), parsed
  from ABC by music21 in a process pool. They carry no chords, so each bar (or
  half bar in duple metres) gets the diatonic triad that best covers its melody
  (:func:`estimate_chords`) — the plain three-chord harmony folk tunes are sung over.

Splits (``../shared/data/README.md``): POP909 001–818 train (``song_id % 20 == 0``
is the validation slice), 819–909 held out. Folk: over the sorted paths of the three
collections together (Essen, O'Neill, Ryan's sort in that order) and the tunes of
each file in order, running index ``i % 10 == 9`` is held out and ``i % 20 == 4``
is the validation slice. Held-out tunes are read only by the benchmark.

Parsing the folk ABC takes minutes; :func:`load_folk` caches the parsed notes.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunesmith.score.theory import SCALES, Chord, Key, detect_key

#: music21 corpus collections used, with the style tag their tunes get.
FOLK_COLLECTIONS: dict[str, str] = {"essenFolksong": "song", "oneills1850": "dance", "ryansMammoth": "dance"}
#: Bumped whenever the parsed representation changes, so stale caches are rebuilt.
_CACHE_VERSION = 1


@dataclass(frozen=True)
class Tune:
    """One melody with everything the melody model is conditioned on; times in beats (quarter notes).

    Attributes
    ----------
    source : str
        ``pop909/012`` or ``essenFolksong/altdeu10#3`` (collection, file stem, tune number in file).
    tag : str
        Style tag: ``pop``, ``song`` (Essen) or ``dance`` (O'Neill, Ryan's).
    split : str
        ``train``, ``valid`` (the validation slice of the training split) or ``test`` (held out).
    notes : numpy.ndarray
        ``(n, 3)`` float64: onset (beats), duration (beats), MIDI pitch; sorted by onset, no rests.
    bars : numpy.ndarray
        ``(b, 4)`` float64: bar start (beats), bar length (beats), time-signature numerator and
        denominator. Every row is a full bar.
    pickup : bool
        The first bar is an anacrusis: only its end is played (it starts before the music).
    chords : numpy.ndarray
        ``(c, 4)`` float64: start, end (beats), root pitch class, quality index into
        :data:`tunesmith.models.chord.QUALITIES`.
    keys : numpy.ndarray
        ``(k, 3)`` float64: start (beats), tonic pitch class, 1 for minor / 0 for major.
    """

    source: str
    tag: str
    split: str
    notes: np.ndarray
    bars: np.ndarray
    pickup: bool
    chords: np.ndarray
    keys: np.ndarray


def folk_split(index: int) -> str:
    """Split of the folk tune with running index ``index``: ``test`` (i % 10 == 9), ``valid`` (i % 20 == 4), ``train``.

    The index runs over the sorted paths of :data:`FOLK_COLLECTIONS` and the tunes of each file in order.
    """
    if index % 10 == 9:
        return "test"
    return "valid" if index % 20 == 4 else "train"


def pop909_split(song_id: int) -> str:
    """Split of a POP909 song: ``test`` above 818, ``valid`` for multiples of 20, else ``train``."""
    if song_id > 818:
        return "test"
    return "valid" if song_id % 20 == 0 else "train"


# ---------------------------------------------------------------------------------------------- keys
def key_row(key: Key) -> tuple[int, int]:
    """(tonic, minor flag) of a key; modes fold to the major or minor they sound closest to."""
    minor_like = ("minor", "dorian", "phrygian", "locrian", "harmonic_minor", "melodic_minor", "minor_pentatonic")
    return key.tonic, int(key.mode in minor_like or key.mode == "blues")


def normalise_metre(numerator: int, denominator: int) -> float:
    """Time scale that rewrites slow notations in common note values: 4/2 → 4/4, 3/1 → 3/4, 6/4 → 6/8.

    Returns the factor to multiply durations by (1 for metres already in quarters or eighths).
    Compound metres (6, 9, 12 beats) go to eighths; cut time (2/2) is left alone: its bar is a 4/4 bar.
    """
    if (numerator, denominator) == (2, 2) or denominator >= 8:
        return 1.0
    if numerator in (6, 9, 12):
        return denominator / 8.0
    if denominator <= 2:
        return denominator / 4.0
    return 1.0


# ---------------------------------------------------------------------------------------------- chords
def estimate_chords(notes: np.ndarray, bars: np.ndarray, key: Key) -> np.ndarray:
    """Diatonic triads for a tune without chords: per bar, or per half bar in duple and compound-duple metres.

    Each span gets the triad of the key (plus the major dominant in minor) whose tones
    cover most of the melody's duration there, notes on the span's first beat counting
    double; I, IV and V win ties, and a span with no notes keeps the previous chord.

    Parameters
    ----------
    notes : numpy.ndarray
        ``(n, 3)`` onset, duration (beats), pitch.
    bars : numpy.ndarray
        ``(b, 4)`` bar start, length (beats), numerator, denominator.
    key : Key
        The tune's key.

    Returns
    -------
    numpy.ndarray
        ``(c, 4)`` rows of start, end (beats), root pitch class, quality index (``maj``/``min``/``dim``).
    """
    from tunesmith.models.chord import QUALITIES

    minor = key_row(key)[1] == 1
    scale = [(key.tonic + s) % 12 for s in SCALES["minor" if minor else "major"]]
    candidates: list[tuple[int, str, float]] = []  # root, quality, prior bonus
    for degree in range(7):
        root, third, fifth = scale[degree], scale[(degree + 2) % 7], scale[(degree + 4) % 7]
        if (fifth - root) % 12 != 7:
            continue  # the diminished triad is left to the melody's passing tones
        quality = "maj" if (third - root) % 12 == 4 else "min"
        candidates.append((root, quality, 0.15 if degree in (0, 3, 4) else 0.0))
    if minor:
        candidates.append(((key.tonic + 7) % 12, "maj", 0.1))  # the harmonic-minor dominant
    masks = [np.isin(np.arange(12), Chord(r, q).pitch_classes) for r, q, _ in candidates]
    spans: list[tuple[float, float]] = []
    for start, length, num, den in bars:
        halves = (num in (4, 2) and den in (4, 2) and length >= 4) or (den == 8 and num in (6, 12))
        if halves:
            spans += [(start, start + length / 2), (start + length / 2, start + length)]
        else:
            spans.append((start, start + length))
    rows: list[list[float]] = []
    prev = 0
    onsets, ends, pcs = notes[:, 0], notes[:, 0] + notes[:, 1], notes[:, 2].astype(int) % 12
    for a, b in spans:
        overlap = np.clip(np.minimum(ends, b) - np.maximum(onsets, a), 0.0, None)
        weight = overlap * np.where(np.abs(onsets - a) < 1e-6, 2.0, 1.0)
        if weight.sum() <= 0:
            best = prev
        else:
            hist = np.bincount(pcs, weights=weight, minlength=12)
            total = hist.sum()
            scores = [
                hist[m].sum() / total + bonus + (0.05 if i == prev else 0.0)
                for i, (m, (_, _, bonus)) in enumerate(zip(masks, candidates, strict=True))
            ]
            best = int(np.argmax(scores))
        prev = best
        root, quality, _ = candidates[best]
        if rows and rows[-1][2] == root and rows[-1][3] == QUALITIES.index(quality) and abs(rows[-1][1] - a) < 1e-9:
            rows[-1][1] = b
        else:
            rows.append([a, b, root, QUALITIES.index(quality)])
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


# ---------------------------------------------------------------------------------------------- POP909
def pop909_tune(root: str | os.PathLike[str], song_id: int) -> Tune:
    """One POP909 song as a :class:`Tune` in annotated-beat time (see the module docstring)."""
    from tunesmith.models.chord import QUALITIES, chord_token
    from tunesmith.score.pop909 import load_song

    song = load_song(root, song_id)
    beats = np.asarray(song.beats, dtype=np.float64)
    index = np.arange(len(beats), dtype=np.float64)
    step = float(np.median(np.diff(beats))) if len(beats) > 1 else 1.0

    def to_grid(t: np.ndarray | float) -> np.ndarray:
        # Piecewise-linear map from score beats to annotated beats, extended by the median beat.
        t = np.asarray(t, dtype=np.float64)
        inside = np.interp(t, beats, index)
        before = (t - beats[0]) / step
        after = index[-1] + (t - beats[-1]) / step
        return np.where(t < beats[0], before, np.where(t > beats[-1], after, inside))

    melody = sorted(
        (n for t in song.score.tracks if t.role == "melody" for n in t.notes), key=lambda n: (n.start, -n.pitch)
    )
    on = to_grid(np.array([n.start for n in melody]))
    off = to_grid(np.array([n.end for n in melody]))
    notes = (
        np.stack([on, off - on, np.array([n.pitch for n in melody], dtype=np.float64)], axis=1)
        if melody
        else np.zeros((0, 3))
    )
    downs = np.flatnonzero(song.bar_starts)
    if len(downs) == 0:
        downs = np.arange(0, len(beats), 4)
    starts = downs.astype(np.float64)
    lengths = np.diff(np.append(starts, len(beats)))
    # Beats before the first annotated bar start end a pickup bar (a full bar that starts before the music).
    pickup = bool(starts[0] > 0)
    if pickup:
        starts, lengths = np.append(starts[0] - 4.0, starts), np.append(4.0, lengths)
    bars = np.stack([starts, lengths, np.full(len(starts), 4.0), np.full(len(starts), 4.0)], axis=1)
    chords = []
    for c in song.score.chords:
        if c.chord is None:
            continue
        token = chord_token(c.chord)
        _, q = divmod(token - 1, len(QUALITIES))
        a, b = to_grid(c.start), to_grid(c.end)
        chords.append([float(a), float(b), c.chord.root, q])
    keys = [[float(to_grid(k.beat)), *key_row(k.key)] for k in song.score.keys]
    if not keys:
        hist = (
            np.bincount(notes[:, 2].astype(int) % 12, weights=notes[:, 1], minlength=12) if len(notes) else np.ones(12)
        )
        keys = [[0.0, *key_row(detect_key(hist)[0])]]
    keys[0][0] = min(keys[0][0], 0.0)
    return Tune(
        f"pop909/{song_id:03d}",
        "pop",
        pop909_split(song_id),
        notes,
        bars,
        pickup,
        np.array(chords, dtype=np.float64).reshape(-1, 4),
        np.array(keys, dtype=np.float64).reshape(-1, 3),
    )


def load_pop909(
    root: str | os.PathLike[str], splits: Iterable[str] = ("train", "valid"), workers: int | None = None
) -> list[Tune]:
    """POP909 songs of the given splits (``train``/``valid``/``test``), in song order, on ``workers`` processes."""
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    from tunesmith.score.pop909 import song_ids

    wanted = set(splits)
    ids = [i for i in song_ids(root, "all") if pop909_split(i) in wanted]
    workers = workers or os.cpu_count() or 1
    if workers <= 1:
        return [pop909_tune(root, i) for i in ids]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(partial(pop909_tune, str(root)), ids, chunksize=8))


def load_pop909_cached(
    root: str | os.PathLike[str], cache_dir: str | os.PathLike[str], held_out: bool = False, workers: int | None = None
) -> list[Tune]:
    """POP909 development songs (001–818: ``train`` and ``valid``), or with ``held_out`` the held-out
    819–909 (``test``), cached in ``cache_dir`` (separate files, so training never opens the held-out one)."""
    name = "pop909_melody_test.json.gz" if held_out else "pop909_melody_dev.json.gz"
    splits = ("test",) if held_out else ("train", "valid")
    cache = Path(cache_dir) / name
    stamp = {"version": _CACHE_VERSION}
    if cache.exists():
        with gzip.open(cache, "rt") as fh:
            doc = json.load(fh)
        if doc.get("stamp") == stamp:
            return [_tune_from_dict(d) for d in doc["tunes"]]
    tunes = load_pop909(root, splits, workers)
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    with gzip.open(tmp, "wt", compresslevel=6) as fh:
        json.dump({"stamp": stamp, "tunes": [_tune_to_dict(t) for t in tunes]}, fh)
    os.replace(tmp, cache)
    return tunes


def _tune_to_dict(t: Tune) -> dict:
    arrays = {k: getattr(t, k).tolist() for k in ("notes", "bars", "chords", "keys")}
    return {"source": t.source, "tag": t.tag, "split": t.split, "pickup": t.pickup, **arrays}


def _tune_from_dict(d: dict) -> Tune:
    def arr(k: str, cols: int) -> np.ndarray:
        return np.array(d[k], dtype=np.float64).reshape(-1, cols)

    notes, bars, chords, keys = arr("notes", 3), arr("bars", 4), arr("chords", 4), arr("keys", 3)
    return Tune(d["source"], d["tag"], d["split"], notes, bars, d["pickup"], chords, keys)


# ---------------------------------------------------------------------------------------------- folk
def folk_paths() -> list[tuple[str, str]]:
    """(collection, path) of every folk ABC file, in the split's sorted order."""
    from music21 import corpus

    paths = [(c, str(p)) for c in FOLK_COLLECTIONS for p in corpus.getComposer(c)]
    return sorted(paths, key=lambda cp: cp[1])


def _parse_folk_file(item: tuple[str, str]) -> tuple[int, list[dict]]:
    """Parse one ABC file: (number of tunes in it, parsed tunes as plain dicts — None where a tune failed)."""
    import warnings

    from music21 import converter

    collection, path = item
    declared = sum(1 for line in Path(path).read_text(errors="replace").splitlines() if line.startswith("X:"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = converter.parse(path)
    except Exception:
        return max(declared, 1), []
    scores = list(parsed.scores) if hasattr(parsed, "scores") else [parsed]
    out = []
    for number, score in enumerate(scores, 1):
        try:
            out.append(_folk_tune_dict(score, f"{collection}/{Path(path).stem}#{number}"))
        except Exception:
            out.append(None)
    return max(declared, len(scores)), out


def _folk_tune_dict(score, source: str) -> dict:
    """Notes, bars and key of one parsed ABC tune (first voice; ties merged, grace notes dropped)."""
    from music21 import key as m21key
    from music21 import stream

    part = score.parts[0] if score.parts else score
    part = part.stripTies()
    measures = list(part.getElementsByClass(stream.Measure))
    notes: list[list[float]] = []
    bars: list[list[float]] = []
    num, den = 4, 4
    pickup = False
    for i, m in enumerate(measures):
        if m.timeSignature is not None:
            num, den = int(m.timeSignature.numerator), int(m.timeSignature.denominator)
        full = num * 4.0 / den
        start = float(m.offset)
        pad = float(m.paddingLeft or 0.0)
        if i == 0 and pad > 1e-6:
            pickup = True
            bars.append([start - pad, full, num, den])  # the pickup's notes sit at the end of a full bar
        else:
            bars.append([start, full, num, den])
        for n in m.notesAndRests:
            if n.duration.isGrace or n.quarterLength <= 0 or n.isRest:
                continue
            pitch = max(p.midi for p in n.pitches)
            notes.append([start + float(n.offset), float(n.quarterLength), float(pitch)])
    keys = list(part.flatten().getElementsByClass(m21key.KeySignature))
    tonic_mode = None
    if keys:
        k = keys[0]
        k = k if isinstance(k, m21key.Key) else k.asKey("major")
        mode = str(k.mode or "major").lower()
        mode = {"ionian": "major", "aeolian": "minor"}.get(mode, mode)
        tonic_mode = (int(k.tonic.pitchClass), mode if mode in SCALES else "major")
    return {"source": source, "notes": notes, "bars": bars, "pickup": pickup, "key": tonic_mode}


def parse_folk(workers: int | None = None, progress: Callable[[int, int], None] | None = None) -> list[dict | None]:
    """Parse every folk tune (slow: minutes), in split order; None where music21 could not read a tune."""
    from concurrent.futures import ProcessPoolExecutor

    items = folk_paths()
    workers = workers or os.cpu_count() or 1
    out: list[dict | None] = []

    def collect(results: Iterable[tuple[int, list[dict]]]) -> None:
        for done, (declared, tunes) in enumerate(results, 1):
            out.extend(tunes + [None] * (declared - len(tunes)))
            if progress:
                progress(done, len(items))

    if workers <= 1:
        collect(map(_parse_folk_file, items))
    else:
        # Biggest files first would balance better, but map keeps the order the split needs.
        with ProcessPoolExecutor(workers) as pool:
            collect(pool.map(_parse_folk_file, items, chunksize=1))
    return out


def load_folk(
    cache_dir: str | os.PathLike[str],
    splits: Iterable[str] = ("train", "valid"),
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Tune]:
    """Folk tunes of the given splits, parsing the corpus once into ``cache_dir/folk_tunes.json.gz``."""
    import music21

    cache = Path(cache_dir) / "folk_tunes.json.gz"
    stamp = {"version": _CACHE_VERSION, "music21": music21.__version__}
    raw = None
    if cache.exists():
        with gzip.open(cache, "rt") as fh:
            doc = json.load(fh)
        if doc.get("stamp") == stamp:
            raw = doc["tunes"]
    if raw is None:
        raw = parse_folk(workers, progress)
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        with gzip.open(tmp, "wt", compresslevel=6) as fh:
            json.dump({"stamp": stamp, "tunes": raw}, fh)
        os.replace(tmp, cache)
    wanted = set(splits)
    tunes = []
    for index, d in enumerate(raw):
        split = folk_split(index)
        if split not in wanted or d is None or len(d["notes"]) < 4:
            continue
        tune = folk_tune(d, split)
        if tune is not None:
            tunes.append(tune)
    return tunes


def tune_key(written: Sequence | None, notes: np.ndarray, hist: np.ndarray) -> Key:
    """The key of a folk tune: its ABC key, read as the relative minor (or major) when the tune ends there.

    Many ABC transcriptions (Essen's in particular) give only the key signature, so a tune in
    A minor is written ``K:C``. Folk tunes end on their tonic, so the last note decides between
    a major key and its relative minor; modal keys (dorian, mixolydian …) are kept as written.
    Without a written key, Krumhansl–Schmuckler key finding on the duration-weighted pitch classes.
    """
    if not written:
        return detect_key(hist)[0]
    tonic, mode = int(written[0]), str(written[1])
    last = int(notes[-1, 2]) % 12
    if mode == "major" and last == (tonic + 9) % 12 and last != tonic:
        return Key((tonic + 9) % 12, "minor")
    if mode == "minor" and last == (tonic + 3) % 12:
        return Key((tonic + 3) % 12, "major")
    return Key(tonic, mode if mode in SCALES else "major")


def folk_tune(d: dict, split: str) -> Tune | None:
    """A parsed folk tune (from :func:`parse_folk`) as a :class:`Tune`, chords estimated."""
    notes = np.array(d["notes"], dtype=np.float64).reshape(-1, 3)
    bars = np.array(d["bars"], dtype=np.float64).reshape(-1, 4)
    if len(notes) == 0 or len(bars) == 0:
        return None
    order = np.lexsort((-notes[:, 2], notes[:, 0]))
    notes = notes[order]
    # Slow notations (4/2, 3/1, 6/4) are read in common note values, so a 4/2 hymn tune and a
    # 4/4 one look alike to the model; the first bar's metre decides for the whole tune.
    scale = normalise_metre(int(bars[0, 2]), int(bars[0, 3]))
    if scale != 1.0:
        notes[:, :2] *= scale
        bars[:, :2] *= scale
        bars[:, 3] = np.round(bars[:, 3] / scale)
    hist = np.bincount(notes[:, 2].astype(int) % 12, weights=notes[:, 1], minlength=12)
    key = tune_key(d.get("key"), notes, hist)
    chords = estimate_chords(notes, bars, key)
    tonic, minor = key_row(key)
    collection = d["source"].split("/")[0]
    return Tune(
        d["source"],
        FOLK_COLLECTIONS.get(collection, "song"),
        split,
        notes,
        bars,
        bool(d["pickup"]),
        chords,
        np.array([[min(0.0, float(bars[0, 0])), tonic, minor]], dtype=np.float64),
    )


def by_split(tunes: Sequence[Tune], *splits: str) -> list[Tune]:
    """The tunes whose split is one of ``splits``."""
    return [t for t in tunes if t.split in splits]


def encode_all(tunes: Sequence[Tune], workers: int | None = None) -> list[list]:
    """:func:`tunesmith.models.melody.encode_tune` of every tune (its event runs), on a process pool, in order."""
    from concurrent.futures import ProcessPoolExecutor

    from tunesmith.models.melody import encode_tune

    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(tunes) < 64:
        return [encode_tune(t) for t in tunes]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(encode_tune, tunes, chunksize=64))
