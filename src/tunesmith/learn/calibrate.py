"""Calibrating a learned style's sampling against the musician's own pieces.

Fine-tuned on the folder, the melody model predicts the musician's next note well where it is
shown their real context (teacher forcing): on held-out Bach chorales the adapted model expects
a repeated pitch 13 % of the time, and 12 % of the notes are repeats. Left to sample on its own,
though, one repeated note makes the next more likely and the tunes drift into repeating notes —
22 % instead of the chorales' 15 %, a gap seen on every collection tried (a dev slice of
O'Neill's tunes: 14 % against 9 %). So ``tunesmith learn`` ends by composing a few short songs in
the new style and setting ``[melody] repeat_penalty`` (nats taken from the log-probability of
repeating the previous pitch, :class:`tunesmith.models.melody.SamplingOptions`) by bisection
until the songs repeat notes as often as the folder's pieces do. The songs are drawn with fixed
seeds, so every candidate penalty is judged on the same random draws and the result is
reproducible.

Note values drift the same way: a model fine-tuned on O'Neill's tunes predicts their durations
well from real context but, sampling on its own, writes its jigs with twice the quarter notes of
the book and its 2/4 tunes in eighths where the book runs in sixteenths. So before the repeat
penalty, :func:`calibrate_durations` composes a few songs in each of the style's metres and fits
``[melody] duration_bias`` (nats added to the log-probability of a note of so many ticks) by
iterative proportional fitting, until the songs' inter-onset intervals are distributed as the
pieces' in that metre. :func:`calibrate_intervals` does the same for the melodic intervals
(``[melody] interval_bias``, by the step in semitones from the previous note, over the whole
style), and the repeat penalty then trims what is left of the repeats.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.learn.toml_out import dumps

SONGS = 12  #: short songs composed per candidate penalty
BARS = 16  #: bars per song
STEPS = 6  #: bisection steps after the first try
TOLERANCE = 0.01  #: repeated-note share close enough to the pieces'
PENALTY_RANGE = (-2.0, 4.0)  #: nats; negative favours repeats (a model that repeats too little)
FIT_ROUNDS = 3  #: proportional-fitting rounds of the duration bias per metre
DAMPING = 0.7  #: share of the log-ratio of pieces' to songs' IOI shares applied per round
FLOOR = 0.005  #: IOI share below which a note value is left alone (and added to both shares: no log of 0)
BIAS_LIMIT = 3.0  #: nats
TICKS = 12  #: the melody model's ticks per beat


@dataclass
class RepeatCalibration:
    """How the repeat penalty was chosen (for the style card).

    Attributes
    ----------
    target : float
        Share of the pieces' melodic intervals that repeat a pitch.
    before, after : float
        The same share in songs composed without the penalty and with it.
    penalty : float
        The chosen ``[melody] repeat_penalty``, nats.
    songs : int
        Songs composed per try.
    tries : int
        Penalties tried.
    """

    target: float
    before: float
    after: float
    penalty: float
    songs: int = SONGS
    tries: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def ioi_ticks(melody: np.ndarray, grid: int = 1) -> Counter:
    """Inter-onset intervals of a melody (``(n, 3)`` onset, duration, pitch in beats) in ticks, counted.

    ``grid``: ticks the intervals are rounded to (3, sixteenths, for a played MIDI file whose onsets
    are off the grid, as the melody model was fine-tuned on it: :func:`tunesmith.learn.adapt.melody_events`).
    """
    steps = (np.round(np.diff(melody[:, 0]) * TICKS / grid) * grid).astype(np.int64)
    return Counter(int(t) for t in steps if 0 < t <= 96)


def in_metre(doc: dict[str, Any], metre: str) -> dict[str, Any]:
    """A style document in one of its metres only (the ``[metres]`` entry merged in as the loader does)."""
    from tunesmith.compose.style import MERGED_IN_VARIANTS

    out = {k: copy.deepcopy(v) for k, v in doc.items() if k != "metres"}
    entry = doc.get("metres", {}).get(metre, {})
    if metre != doc.get("metre"):
        for k, v in entry.items():
            if k == "weight":
                continue
            merge = k in MERGED_IN_VARIANTS and isinstance(v, dict) and isinstance(out.get(k), dict)
            out[k] = {**out[k], **copy.deepcopy(v)} if merge else copy.deepcopy(v)
        out["metre"] = metre
    return out


def _shares(counts: Counter) -> dict[int, float]:
    total = sum(counts.values())
    return {t: c / total for t, c in counts.items()} if total else {}


def _distance(a: dict[int, float], b: dict[int, float]) -> float:
    """Total variation distance of two IOI distributions (0 … 1)."""
    return 0.5 * sum(abs(a.get(t, 0.0) - b.get(t, 0.0)) for t in set(a) | set(b))


def composed_iois(doc: dict[str, Any], folder: Path, songs: int = SONGS, bars: int = BARS) -> Counter:
    """IOIs (ticks) of the melodies of ``songs`` songs composed in a style document (its melody alone)."""
    from tunesmith.compose import ComposeOptions, compose
    from tunesmith.learn.piece import top_line

    trial = melody_only(doc)
    path = folder / "calibrate-durations.toml"
    path.write_text(dumps(trial), encoding="utf-8")
    counts: Counter = Counter()
    try:
        for seed in range(songs):
            song = compose(ComposeOptions(style=str(path), seed=seed, bars=bars))
            track = next((t for t in song.score.tracks if t.role == "melody"), None)
            if track is not None and len(track.notes) >= 2:
                counts.update(ioi_ticks(top_line(track.notes)[:-1]))  # the song's held last chord is not the tune's
    finally:
        path.unlink(missing_ok=True)
    return counts


def _fit_bias(
    goal: dict[int, float], measure: Callable[[dict[int, float]], dict[int, float]]
) -> tuple[float, float, dict[int, float]]:
    """Damped proportional fitting of a bias table (nats per bin) so that ``measure(bias)`` meets ``goal``.

    ``FIT_ROUNDS`` corrections by ``DAMPING`` × log ratio of the shares (``FLOOR`` added, clipped to
    ±``BIAS_LIMIT``); returns the distance before, the best distance and the best table seen.
    """
    bias: dict[int, float] = {}
    best: tuple[float, dict[int, float]] | None = None
    first = 0.0
    for round_ in range(FIT_ROUNDS + 1):
        got = measure(bias)
        dist = _distance(goal, got)
        first = dist if round_ == 0 else first
        if best is None or dist < best[0]:
            best = (dist, dict(bias))
        if round_ == FIT_ROUNDS:
            break
        for k in set(goal) | set(got):
            if goal.get(k, 0.0) >= FLOOR or got.get(k, 0.0) >= FLOOR:
                step = DAMPING * np.log((goal.get(k, 0.0) + FLOOR) / (got.get(k, 0.0) + FLOOR))
                bias[k] = float(np.clip(bias.get(k, 0.0) + step, -BIAS_LIMIT, BIAS_LIMIT))
    assert best is not None
    return first, best[0], best[1]


def calibrate_durations(
    doc: dict[str, Any], folder: Path, targets: dict[str, Counter], songs: int = SONGS, bars: int = BARS
) -> dict[str, dict[str, Any]]:
    """Fit ``[melody] duration_bias`` of each metre of ``doc`` (in place) so that songs move as the pieces do.

    Parameters
    ----------
    doc : dict
        The style document; each metre's melody table gets its ``duration_bias`` (``{ticks: nats}``).
    folder : pathlib.Path
        The style's folder being built (trial styles are written there and removed).
    targets : dict of str to Counter
        Per metre, the IOIs (ticks) of the pieces' melodies in it (:func:`ioi_ticks`).

    Returns
    -------
    dict
        Per metre: total variation distance of the songs' IOIs to the pieces' before and after, and rounds.
    """
    report: dict[str, dict[str, Any]] = {}
    metres = [doc["metre"], *(m for m in doc.get("metres", {}) if m != doc["metre"])]
    for metre in metres:
        target = _shares(targets.get(metre, Counter()))
        if sum(targets.get(metre, Counter()).values()) < 50:
            if metre != doc["metre"]:  # too few notes to say how it moves: not the main metre's bias either
                doc["metres"][metre].setdefault("melody", {})["duration_bias"] = {}
            continue

        def measure(bias: dict[int, float], metre: str = metre) -> dict[int, float]:
            trial = in_metre(doc, metre)
            trial["melody"]["duration_bias"] = {str(t): round(v, 3) for t, v in sorted(bias.items())}
            return _shares(composed_iois(trial, folder, songs, bars))

        first, best_dist, best_bias = _fit_bias(target, measure)
        table = {str(t): round(v, 3) for t, v in sorted(best_bias.items()) if abs(v) >= 1e-3}
        if metre == doc["metre"]:
            doc["melody"]["duration_bias"] = table
        else:
            doc["metres"][metre].setdefault("melody", {})["duration_bias"] = table
        report[metre] = {"distance_before": round(first, 4), "distance_after": round(best_dist, 4)}
    return report


def composed_intervals(doc: dict[str, Any], folder: Path, songs: int = SONGS, bars: int = BARS) -> Counter:
    """Melodic intervals (semitones, clipped to ±12) of ``songs`` songs composed in a style document (melody alone)."""
    from tunesmith.compose import ComposeOptions, compose
    from tunesmith.learn.piece import top_line

    path = folder / "calibrate-intervals.toml"
    path.write_text(dumps(melody_only(doc)), encoding="utf-8")
    counts: Counter = Counter()
    try:
        for seed in range(songs):
            song = compose(ComposeOptions(style=str(path), seed=seed, bars=bars))
            track = next((t for t in song.score.tracks if t.role == "melody"), None)
            if track is not None and len(track.notes) >= 2:
                counts.update(np.clip(np.diff(top_line(track.notes)[:, 2]), -12, 12).astype(int).tolist())
    finally:
        path.unlink(missing_ok=True)
    return counts


def calibrate_intervals(
    doc: dict[str, Any], folder: Path, target: Counter, songs: int = SONGS, bars: int = BARS
) -> dict[str, Any]:
    """Fit ``[melody] interval_bias`` of ``doc`` (in place, every metre) so that songs step and leap as the pieces.

    Parameters
    ----------
    target : Counter
        The pieces' melodic intervals, semitones (wider than an octave counted as ±12).

    Returns
    -------
    dict
        Total variation distance of the songs' intervals to the pieces' before and after.
    """
    goal = _shares(Counter({int(np.clip(k, -12, 12)): v for k, v in target.items()}))

    def measure(bias: dict[int, float]) -> dict[int, float]:
        trial = copy.deepcopy(doc)
        trial["melody"]["interval_bias"] = {str(k): round(v, 3) for k, v in sorted(bias.items())}
        return _shares(composed_intervals(trial, folder, songs, bars))

    first, best_dist, best_bias = _fit_bias(goal, measure)
    doc["melody"]["interval_bias"] = {str(k): round(v, 3) for k, v in sorted(best_bias.items()) if abs(v) >= 1e-3}
    return {"distance_before": round(first, 4), "distance_after": round(best_dist, 4)}


def repeat_share(intervals: Counter) -> float:
    """Share of melodic intervals (a Counter of semitone steps) that are unisons."""
    total = sum(intervals.values())
    return float(intervals.get(0, 0)) / total if total else 0.0


def melody_only(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of a style document with its melody part alone (in every metre) and no swing: the band has
    no say in how often the tune repeats notes, and leaving it out makes each trial song several times
    cheaper."""
    out = copy.deepcopy(doc)
    for table in [out, *out.get("metres", {}).values()]:
        if "parts" in table:
            table["parts"] = {k: v for k, v in table["parts"].items() if v.get("role") == "melody"}
            for section in table.get("sections", {}).values():
                section["parts"] = [p for p in section.get("parts", []) if p in table["parts"]]
                section.pop("groove", None)
    # Swing moves off-beat notes after the model has written them: the trial measures the model's own note values.
    out["swing"] = 0.0
    # The card is written last; a trial style names only the files already there.
    out["learned"] = {k: v for k, v in out.get("learned", {}).items() if k != "card"}
    return out


def composed_repeat_share(
    doc: dict[str, Any], folder: Path, penalty: float, songs: int = SONGS, bars: int = BARS
) -> float:
    """Share of repeated pitches between consecutive melody notes of ``songs`` songs (seeds 0, 1, …) composed
    in the style ``doc`` with its melody alone and ``penalty`` as its repeat penalty.

    The trial style is written to a scratch file in ``folder`` (the style's own folder, so that its
    adapter and originality index are found beside it) and removed again.
    """
    from tunesmith.compose import ComposeOptions, compose
    from tunesmith.learn.piece import top_line

    trial = melody_only(doc)
    trial.setdefault("melody", {})["repeat_penalty"] = round(penalty, 4)
    path = folder / f"calibrate-{penalty:+.4f}.toml"
    path.write_text(dumps(trial), encoding="utf-8")
    same = total = 0
    try:
        for seed in range(songs):
            song = compose(ComposeOptions(style=str(path), seed=seed, bars=bars))
            track = next((t for t in song.score.tracks if t.role == "melody"), None)
            if track is None or len(track.notes) < 2:
                continue
            steps = np.diff(top_line(track.notes)[:, 2])
            same += int(np.sum(steps == 0))
            total += len(steps)
    finally:
        path.unlink(missing_ok=True)
    return same / total if total else 0.0


def calibrate_repeat_penalty(
    doc: dict[str, Any], folder: Path, target: float, songs: int = SONGS, bars: int = BARS
) -> RepeatCalibration:
    """The ``repeat_penalty`` that makes songs in the style ``doc`` repeat pitches as often as ``target``.

    Parameters
    ----------
    doc : dict
        The style document (tried with its melody alone, :func:`composed_repeat_share`).
    folder : pathlib.Path
        The style's folder being built.
    target : float
        Share of the pieces' melodic intervals that are repeats (:func:`repeat_share`).

    Returns
    -------
    RepeatCalibration
        The penalty (0 when the untouched sampling is within :data:`TOLERANCE`) and the shares.
    """
    tries: dict[float, float] = {}

    def share(penalty: float) -> float:
        if penalty not in tries:
            tries[penalty] = composed_repeat_share(doc, folder, penalty, songs, bars)
        return tries[penalty]

    before = share(0.0)
    best = 0.0
    if abs(before - target) > TOLERANCE:
        # More repeats than the pieces: search penalties above 0; fewer: bonuses below.
        lo, hi = (0.0, PENALTY_RANGE[1]) if before > target else (PENALTY_RANGE[0], 0.0)
        for _ in range(STEPS):
            mid = (lo + hi) / 2
            s = share(mid)
            if abs(s - target) < abs(tries[best] - target):
                best = mid
            if abs(s - target) <= TOLERANCE:
                break
            lo, hi = (mid, hi) if s > target else (lo, mid)
    return RepeatCalibration(
        round(target, 4), round(before, 4), round(tries[best], 4), round(best, 4), songs, len(tries)
    )
