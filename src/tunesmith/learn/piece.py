"""One piece of a musician's folder, reduced to what a style is learned from.

:func:`analyse_score` turns a :class:`~tunesmith.score.types.Score` into a compact
:class:`Piece`: the bar grid it is written on, its key, the melody line, the chords,
what each track does (role, program, register), and per-bar patterns of the melody's
rhythm, the comping, the bass and the drums, its phrase lengths and form, its swing,
and the step codes of every line (for the originality index). A piece is small (a few
arrays and counters), so thousands of them can be summarised in one process while the
scores themselves are dropped as soon as they are read.

**The bar grid.** A score's beats are quarter notes but its bar lines are not always
where the metre at beat 0 says: music21 starts a tune with a pickup at beat 0 (the
caller passes the real bar line, ``phase``), and performance MIDI files (POP909's, for
one) are played off the beat grid and declare a 1/4 metre. When a MIDI file's onsets
sit off the sixteenth grid, their circular mean gives the offset; when its metre is not
a real bar (one beat or less), 4/4 and 3/4 are tried at every phase and the one whose
bar lines gather the most long notes and chord changes wins.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from tunesmith.learn.chords import recognise_chords
from tunesmith.models.originality import step_ids
from tunesmith.score.theory import Chord, Key, detect_key
from tunesmith.score.types import Note, Score, Track

_MELODY_WORDS = ("melody", "lead", "vocal", "voice", "tune", "soprano", "sing", "solo")
MAX_CELLS = 64  #: distinct patterns kept per piece and kind (a long piece repeats itself)
#: GM percussion keys folded onto the drum names a style's grooves use.
DRUM_NAMES: dict[int, str] = {
    35: "kick",
    36: "kick",
    37: "side_stick",
    38: "snare",
    40: "snare",
    39: "clap",
    42: "hat",
    44: "hat_pedal",
    46: "hat_open",
    49: "crash",
    57: "crash",
    51: "ride",
    59: "ride",
    53: "ride_bell",
    41: "tom_lo",
    43: "tom_lo",
    45: "tom_lo",
    47: "tom_mid",
    48: "tom_mid",
    50: "tom_hi",
    54: "tambourine",
    56: "cowbell",
    62: "conga_hi",
    63: "conga_hi",
    64: "conga_lo",
    70: "shaker",
    75: "claves",
}


@dataclass
class TrackInfo:
    """What one track of a piece does.

    Attributes
    ----------
    role : str
        ``melody``, ``bass``, ``chords``, ``voice1``–``voice3`` (the lines of a several-voice
        texture below the tune, highest first), ``counter-melody`` or ``drums``.
    program : int
        General MIDI program (0 for drums).
    notes : int
        Number of notes.
    low, high : int
        5th and 95th percentile of its pitches (MIDI).
    """

    role: str
    program: int
    notes: int
    low: int
    high: int


@dataclass
class Piece:
    """A piece summarised (see the module docstring); times in beats with bar lines at multiples of ``bar_beats``.

    Attributes
    ----------
    source : str
        File path relative to the folder (``#n`` appended for the n-th tune of an ABC book).
    tempo_bpm : float or None
        Time-weighted mean tempo; None where the file gives none.
    numerator, denominator : int
        The metre.
    key : Key
        Key found from all pitched notes (Krumhansl–Schmuckler, major or minor).
    melody : numpy.ndarray
        ``(n, 3)`` onset, duration, pitch of the melody's top line (empty for drum-only pieces).
    pickup : bool
        Bar 0 is an anacrusis (the music starts inside it).
    bars : int
        Number of bars.
    chords : numpy.ndarray
        ``(c, 4)`` start, end, root, quality index (:data:`tunesmith.models.chord.QUALITIES`).
    texture : str
        ``band`` (melody and accompaniment), ``voices`` (three or more single lines, no drums)
        or ``solo`` (one line).
    tracks : list of TrackInfo
    melody_cells, cadence_cells, bass_cells, drum_cells : Counter
        One-bar patterns in the step notation of ``docs/STYLES.md`` (sixteenth steps); drum cells
        as ``"kick=x...;snare=..x."``.
    comp_cells : Counter
        ``(kind, rhythm)`` of the chord-playing tracks' bars.
    phrases : Counter
        Phrase lengths, bars.
    form : tuple of (str, int)
        Section letters (``"aabb"``) and bars per section.
    swing : tuple of (float, int)
        Sum of off-beat eighth positions within their beat, and how many (straight = 0.5, triplet ≈ 0.67).
    lines : list of numpy.ndarray
        Step ids (:func:`tunesmith.models.originality.step_ids`) of the top line of every pitched track.
    intervals, durations : Counter
        Melodic intervals (semitones) and note lengths (twelfths of a beat) of the melody.
    """

    source: str
    tempo_bpm: float | None
    numerator: int
    denominator: int
    key: Key
    melody: np.ndarray
    pickup: bool
    bars: int
    chords: np.ndarray
    texture: str
    tracks: list[TrackInfo] = field(default_factory=list)
    melody_cells: Counter = field(default_factory=Counter)
    cadence_cells: Counter = field(default_factory=Counter)
    bass_cells: Counter = field(default_factory=Counter)
    drum_cells: Counter = field(default_factory=Counter)
    comp_cells: Counter = field(default_factory=Counter)
    phrases: Counter = field(default_factory=Counter)
    form: tuple[str, int] = ("", 0)
    swing: tuple[float, int] = (0.0, 0)
    lines: list[np.ndarray] = field(default_factory=list)
    intervals: Counter = field(default_factory=Counter)
    durations: Counter = field(default_factory=Counter)

    @property
    def bar_beats(self) -> float:
        """Bar length, beats."""
        return self.numerator * 4.0 / self.denominator


# ---------------------------------------------------------------------------------------------- helpers
def top_line(notes: tuple[Note, ...] | list[Note]) -> np.ndarray:
    """The highest note at each onset, cut where the next onset begins: ``(n, 3)`` onset, duration, pitch."""
    ordered = sorted(notes, key=lambda n: (round(n.start * 48), -n.pitch))
    rows: list[list[float]] = []
    for n in ordered:
        if rows and round(n.start * 48) == round(rows[-1][0] * 48):
            continue
        if rows and n.start < rows[-1][0] + rows[-1][1]:
            rows[-1][1] = max(n.start - rows[-1][0], 1e-3)
        rows.append([n.start, n.duration, float(n.pitch)])
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


def polyphony(track: Track) -> float:
    """Mean number of the track's notes sounding at each of its onsets (1 = a single line; an
    arpeggiated, sustained piano part counts as chords even though its notes start one by one)."""
    if not track.notes:
        return 1.0
    starts = np.array(sorted(n.start for n in track.notes))
    ends = np.sort(np.array([n.end for n in track.notes]))
    probe = starts + 1e-3
    # Sounding at t: started at or before t and not yet ended.
    sounding = np.searchsorted(starts, probe, side="right") - np.searchsorted(ends, probe, side="right")
    return float(np.mean(sounding))


def _tempo(score: Score) -> float:
    """Time-weighted mean tempo over the piece, BPM."""
    end = max(score.end, 1e-6)
    tempos = [t for t in score.tempos if t.beat < end]
    total = 0.0
    for i, t in enumerate(tempos):
        nxt = tempos[i + 1].beat if i + 1 < len(tempos) else end
        total += t.bpm * max(0.0, nxt - t.beat)
    return total / end if tempos else score.tempos[0].bpm


def _weights(notes: list[Note]) -> np.ndarray:
    hist = np.zeros(12)
    for n in notes:
        hist[n.pitch % 12] += n.duration
    return hist


def _phase_16(onsets: np.ndarray, weights: np.ndarray) -> float:
    """Offset (beats, 0–0.25) of the onsets from a sixteenth grid: their circular mean on it."""
    z = np.sum(weights * np.exp(2j * np.pi * 4.0 * onsets))
    return float((np.angle(z) / (2 * np.pi)) % 1.0) / 4.0


def _accent(onsets: np.ndarray, weights: np.ndarray, changes: np.ndarray, period: int) -> np.ndarray:
    """How much lands on each beat of a ``period``-beat bar: long notes and chord changes."""
    acc = np.zeros(period)
    on_beat = np.abs(onsets - np.round(onsets)) < 0.08
    np.add.at(acc, np.round(onsets[on_beat]).astype(np.int64) % period, weights[on_beat])
    np.add.at(acc, np.round(changes).astype(np.int64) % period, 2.0)
    return acc


def bar_grid(score: Score, phase: float | None, midi: bool) -> tuple[int, int, float]:
    """The metre and the beat of the first bar line (``0 <= phase < bar``) a score is written on.

    Parameters
    ----------
    phase : float, optional
        The bar line's beat when the reader knows it (music21 measures).
    midi : bool
        A MIDI file: off-grid onsets and placeholder metres are corrected (see the module docstring).
    """
    sigs = score.time_signatures
    end = max(score.end, sigs[-1].beat + 1.0)
    spans = [(sigs[i + 1].beat if i + 1 < len(sigs) else end) - s.beat for i, s in enumerate(sigs)]
    main = int(np.argmax(spans))  # the metre most of the piece is in
    sig = sigs[main]
    if main > 0 and spans[0] < sig.bar_beats + 1e-6:
        phase = sig.beat if phase is None else phase  # a short first bar written as a metre of its own: a pickup
    num, den = sig.numerator, sig.denominator
    bar = num * 4.0 / den
    if bar >= 1.5 and (not midi or phase is not None):
        return num, den, float(phase or 0.0) % bar
    pitched = [n for t in score.tracks if not t.is_drum for n in t.notes]
    if not pitched:
        return (num, den, 0.0) if bar >= 1.5 else (4, 4, 0.0)
    onsets = np.array([n.start for n in pitched])
    weights = np.minimum(np.array([n.duration for n in pitched]), 2.0)
    offset = _phase_16(onsets, weights) if midi else 0.0  # notation is on the grid
    offset = offset - 0.25 if offset > 0.125 else offset
    off_grid = abs(offset) > 0.02
    if not off_grid:
        offset = 0.0
    else:
        # Which sixteenth is the beat: the one long notes start on.
        z = np.sum(weights * np.exp(2j * np.pi * (onsets - offset)))
        offset += round(float((np.angle(z) / (2 * np.pi)) % 1.0) * 4) % 4 / 4.0
    if bar >= 3 - 1e-6:
        return num, den, offset % bar
    # A bar of one or two beats (1/4, 2/4 …): often a placeholder for 4/4 (or 3/4). Group the beats
    # the way the long notes and the chord changes do.
    shifted = onsets - offset
    notes = np.stack([shifted, [n.duration for n in pitched], [n.pitch for n in pitched]], axis=1)
    key, _ = detect_key(_weights(pitched))
    rough = recognise_chords(notes[notes[:, 0] >= 0], 1.0, 1, 4, key)
    changes = rough[1:, 0] if len(rough) > 1 else np.zeros(0)
    acc4 = _accent(shifted, weights, changes, 4)
    if bar >= 1.5:  # 2/4 stays unless one of its two bar lines is clearly the stronger
        pair = acc4[[0, 2]] if acc4[0] + acc4[2] >= acc4[1] + acc4[3] else acc4[[1, 3]]
        first = 0 if acc4[0] + acc4[2] >= acc4[1] + acc4[3] else 1
        if max(pair) < 1.4 * max(min(pair), 1e-9):
            return num, den, (offset + first) % bar
        return 4, 4, (offset + first + (0 if pair[0] >= pair[1] else 2)) % 4
    best: tuple[float, int, int] | None = None
    for period in (4, 3):
        acc = acc4 if period == 4 else _accent(shifted, weights, changes, 3)
        contrast = float(acc.max() / max(acc.mean(), 1e-9)) * (1.0 if period == 4 else 0.87)  # 4/4 unless clear
        if best is None or contrast > best[0]:
            best = (contrast, period, int(np.argmax(acc)))
    assert best is not None
    _, period, beat = best
    return period, 4, (offset + beat) % period


def _role_of(track: Track, median: float, poly: float) -> str:
    if track.is_drum:
        return "drums"
    if median < 52 and poly < 1.3:
        return "bass"
    return "chords" if poly >= 1.3 else "counter-melody"


def melody_track(pitched: list[Track], voices: bool) -> Track | None:
    """The tune: a track named or marked as the melody; else the highest mostly single-line track."""
    if not pitched:
        return None
    if not voices:
        for t in pitched:
            if t.role == "melody" or any(w in t.name.lower() for w in _MELODY_WORDS):
                return t
        lines = [t for t in pitched if polyphony(t) < 1.3 and len(t.notes) >= 8]
        if lines:
            return max(lines, key=lambda t: float(np.median([n.pitch for n in t.notes])))
    return max(pitched, key=lambda t: float(np.median([n.pitch for n in t.notes])))


def _steps(bar: float) -> int:
    """Sixteenth steps in a bar (0 when the bar is not a whole number of sixteenths)."""
    s = bar * 4.0
    return round(s) if abs(s - round(s)) < 1e-6 and 0 < s <= 64 else 0


def _cells(notes: np.ndarray, bar: float, bars: int, steps: int) -> list[str | None]:
    """One-bar rhythm strings (``x`` onset, ``-`` held, ``.`` rest) of a line, None for empty bars."""
    out: list[list[str] | None] = [None] * bars
    step = bar / steps
    for on, du, _ in notes:
        b = int(on // bar)
        if not 0 <= b < bars:
            continue
        cell = out[b] if out[b] is not None else ["."] * steps
        out[b] = cell
        k = round((on - b * bar) / step)
        if k >= steps:
            continue
        cell[k] = "x"
        end = min(steps, round((on + du - b * bar) / step))
        for j in range(k + 1, end):
            if cell[j] == ".":
                cell[j] = "-"
    return ["".join(c) if c is not None else None for c in out]


def _bass_cells(track: Track, chords: np.ndarray, key: Key, bar: float, bars: int, steps: int) -> Counter:
    """Bass bars in the bass step notation (``R 3 5 7 8 S A``) against the chords sounding."""
    out: Counter = Counter()
    step = bar / steps
    line = top_line([Note(n.start, n.duration, -n.pitch, n.velocity) for n in track.notes])  # lowest note
    line[:, 2] = -line[:, 2]
    cells: dict[int, list[str]] = {}
    starts = chords[:, 0] if len(chords) else np.zeros(0)
    for on, du, pitch in line:
        b = int(on // bar)
        if not 0 <= b < bars or not len(chords):
            continue
        c = chords[max(0, int(np.searchsorted(starts, on + 1e-6)) - 1)]
        interval = (int(pitch) - int(c[2])) % 12
        symbol = {0: "R", 3: "3", 4: "3", 7: "5", 10: "7", 11: "7"}.get(interval)
        if symbol is None:
            symbol = "S" if key.contains(int(pitch)) else "A"
        cell = cells.setdefault(b, ["."] * steps)
        k = round((on - b * bar) / step)
        if k >= steps:
            continue
        cell[k] = symbol
        for j in range(k + 1, min(steps, round((on + du - b * bar) / step))):
            if cell[j] == ".":
                cell[j] = "-"
    for cell in cells.values():
        if cell[0] == "R" or "R" in cell:
            out["".join(cell)] += 1
    return out


def _comp_cells(track: Track, bar: float, bars: int, steps: int) -> Counter:
    """``(kind, rhythm)`` per bar of a chord-playing track: ``block`` when notes start together, else ``arpeggio``."""
    groups: Counter = Counter(round(n.start * 48) for n in track.notes)
    kind = "block" if sum(1 for v in groups.values() if v >= 2) >= 0.6 * len(groups) else "arpeggio"
    line = top_line(track.notes)
    return Counter((kind, c) for c in _cells(line, bar, bars, steps) if c is not None)


def _drum_cells(tracks: list[Track], bar: float, bars: int, steps: int) -> Counter:
    """Per bar, the drum lines (``x`` hit, ``X`` accent, ``o`` ghost) as ``"kick=x...;snare=...."``."""
    step = bar / steps
    per_bar: dict[int, dict[str, list[str]]] = {}
    for t in tracks:
        for n in t.notes:
            name = DRUM_NAMES.get(n.pitch)
            b = int(n.start // bar)
            if name is None or not 0 <= b < bars:
                continue
            k = round((n.start - b * bar) / step)
            if k >= steps:
                continue
            lines = per_bar.setdefault(b, {})
            line = lines.setdefault(name, ["."] * steps)
            hit = "X" if n.velocity >= 110 else "o" if n.velocity < 50 else "x"
            if line[k] == "." or hit == "X":
                line[k] = hit
    return Counter(";".join(f"{k}={''.join(v)}" for k, v in sorted(lines.items())) for lines in per_bar.values())


def _phrases(melody: np.ndarray, bar: float) -> Counter:
    """Phrase lengths (bars): a phrase ends where the next note comes late (a rest or a held note)."""
    out: Counter = Counter()
    if len(melody) < 4:
        return out
    ioi = np.diff(melody[:, 0])
    gap = max(1.0, 1.75 * float(np.median(ioi)))
    starts = [float(melody[0, 0])]
    for i in np.flatnonzero(ioi >= gap - 1e-9):
        starts.append(float(melody[i + 1, 0]))
    starts.append(float(melody[-1, 0] + melody[-1, 1]))
    for a, b in itertools.pairwise(starts):
        n = round((b - a) / bar)
        if 1 <= n <= 16:
            out[n] += 1
    return out


def _form(melody: np.ndarray, bar: float, bars: int, first: int, length: int) -> str:
    """Letters of the melody's sections of ``length`` bars: equal letters for sections that sound alike."""
    letters = "abcd"
    labels: list[str] = []
    sets: list[set[tuple[int, int]]] = []
    for s in range(first, min(bars, first + 16 * length), length):
        a, b = s * bar, (s + length) * bar
        inside = melody[(melody[:, 0] >= a - 1e-6) & (melody[:, 0] < b - 1e-6)]
        notes = {(round((on - a) * 12), int(p)) for on, _, p in inside}
        if not notes:
            continue
        sims = [len(notes & o) / max(1, len(notes | o)) for o in sets]
        best = int(np.argmax(sims)) if sims else -1
        if best >= 0 and (sims[best] >= 0.5 or len(set(labels)) >= len(letters)):
            labels.append(labels[best])
        else:
            labels.append(letters[len(set(labels))])
        sets.append(notes)
    return "".join(labels)


# ---------------------------------------------------------------------------------------------- analysis
def analyse_score(
    score: Score, source: str, phase: float | None = None, midi: bool = True, tempo_known: bool = True
) -> Piece:
    """Summarise a score as a :class:`Piece` (see the module docstring).

    Parameters
    ----------
    score : Score
        The piece as read.
    source : str
        Its name in the folder.
    phase : float, optional
        Beat of the first bar line, when the reader knows it.
    midi : bool
        Whether the score comes from a MIDI file (its bar grid may need finding).
    tempo_known : bool
        Whether the file states a tempo (else :attr:`Piece.tempo_bpm` is None).
    """
    num, den, shift = bar_grid(score, phase, midi)
    bar = num * 4.0 / den
    # Bar lines at multiples of the bar: a pickup before the first bar line moves into bar 0.
    earliest = min((n.start for t in score.tracks for n in t.notes), default=0.0)
    pickup = earliest < shift - 1e-6
    delta = shift - (bar if pickup else 0.0)
    tracks = []
    for t in score.tracks:
        moved = tuple(Note(n.start - delta, n.duration, n.pitch, n.velocity) for n in t.notes if n.start - delta >= 0)
        if moved:
            tracks.append(Track(t.name, moved, t.program, t.is_drum, t.role))
    pitched = [t for t in tracks if not t.is_drum]
    drums = [t for t in tracks if t.is_drum]
    end = max((n.end for t in tracks for n in t.notes), default=0.0)
    bars = max(1, int(np.ceil(end / bar - 1e-9)))
    all_pitched = [n for t in pitched for n in t.notes]
    key = detect_key(_weights(all_pitched))[0] if all_pitched else Key(0)
    polys = {id(t): polyphony(t) for t in pitched}
    voices = len(pitched) >= 3 and not drums and all(p < 1.15 for p in polys.values())
    lead = melody_track(pitched, voices)
    melody = top_line(lead.notes) if lead is not None else np.zeros((0, 3))
    accompaniment = [t for t in pitched if t is not lead]
    texture = (
        "voices" if voices else "band" if accompaniment or (lead is not None and polys[id(lead)] >= 1.3) else "solo"
    )
    if texture == "solo" and len(melody):
        from tunesmith.models.melody_data import estimate_chords

        grid = np.array([[b * bar, bar, num, den] for b in range(bars)], dtype=np.float64)
        chords = estimate_chords(melody, grid, key)
    else:
        notes = np.array([[n.start, n.duration, n.pitch] for n in all_pitched], dtype=np.float64).reshape(-1, 3)
        chords = recognise_chords(notes, bar, num, den, key)
    tempo = _tempo(score) if tempo_known else None
    piece = Piece(source, tempo, num, den, key, melody, pickup, bars, chords, texture)
    steps = _steps(bar)
    # The lines of a several-voice texture below the tune, highest first: alto, tenor, bass.
    order = sorted(accompaniment, key=lambda t: -float(np.median([n.pitch for n in t.notes])))
    for t in tracks:
        pitches = np.array([n.pitch for n in t.notes])
        if t is lead:
            role = "melody"
        elif voices:
            role = f"voice{min(3, order.index(t) + 1)}"
        else:
            role = _role_of(t, float(np.median(pitches)), polys.get(id(t), 1.0))
        lo, hi = (int(np.percentile(pitches, 5)), int(np.percentile(pitches, 95))) if not t.is_drum else (35, 81)
        piece.tracks.append(TrackInfo(role, 0 if t.is_drum else t.program, len(t.notes), lo, hi))
        if t.is_drum:
            continue
        line = top_line(t.notes)
        ids = step_ids(line[:, 0], line[:, 1], line[:, 2].astype(np.int64))
        if len(ids):
            piece.lines.append(ids.astype(np.int32))
        if steps and role == "bass":
            piece.bass_cells.update(_bass_cells(t, chords, key, bar, bars, steps))
        if steps and role == "chords":
            piece.comp_cells.update(_comp_cells(t, bar, bars, steps))
    if steps and drums:
        piece.drum_cells = _drum_cells(drums, bar, bars, steps)
    if len(melody):
        piece.intervals = Counter(np.clip(np.diff(melody[:, 2]).astype(int), -24, 24).tolist())
        piece.durations = Counter(np.clip(np.round(melody[:, 1] * 12), 1, 96).astype(int).tolist())
        piece.phrases = _phrases(melody, bar)
        piece.form = _best_form(melody, bar, bars, 1 if pickup else 0)
        if steps:
            cells = _cells(melody, bar, bars, steps)
            piece.melody_cells = Counter(c for c in cells if c is not None)
            ends = _phrase_end_bars(melody, bar)
            piece.cadence_cells = Counter(cells[b] for b in ends if 0 <= b < bars and cells[b] is not None)
        if den in (2, 4) and all_pitched:
            pos = np.array([n.start for n in all_pitched]) % 1.0
            off = pos[(pos > 0.4) & (pos < 0.75)]
            piece.swing = (float(off.sum()), len(off))
    for kind in ("melody_cells", "cadence_cells", "bass_cells", "drum_cells", "comp_cells"):
        counter: Counter = getattr(piece, kind)
        if len(counter) > MAX_CELLS:
            setattr(piece, kind, Counter(dict(counter.most_common(MAX_CELLS))))
    return piece


def _best_form(melody: np.ndarray, bar: float, bars: int, first: int) -> tuple[str, int]:
    """The piece's form at the section length (8, 4 or 2 bars) at which its sections repeat best.

    The longest length whose sections repeat (a third of them or more restate an earlier one)
    wins: an AABB tune of 8-bar strains reads as ``aabb`` at 8 bars rather than ``abababcd``
    at 4. Without repeats, 4-bar sections (2 in a piece of under 8 bars).
    """
    full = bars - first
    for length in (8, 4, 2):
        if full < 3 * length:
            continue
        letters = _form(melody, bar, bars, first, length)
        if len(letters) >= 3 and 1 - len(set(letters)) / len(letters) >= 1 / 3:
            return letters, length
    length = 4 if full >= 8 else 2
    return _form(melody, bar, bars, first, length), length


def _phrase_end_bars(melody: np.ndarray, bar: float) -> list[int]:
    """Bars in which a phrase's last note starts (see :func:`_phrases`)."""
    if len(melody) < 2:
        return []
    ioi = np.diff(melody[:, 0])
    gap = max(1.0, 1.75 * float(np.median(ioi)))
    ends = [int(melody[i, 0] // bar) for i in np.flatnonzero(ioi >= gap - 1e-9)]
    return [*ends, int(melody[-1, 0] // bar)]


def chord_of(row: np.ndarray) -> Chord:
    """The :class:`Chord` of a row of :attr:`Piece.chords`."""
    from tunesmith.models.chord import QUALITIES

    return Chord(int(row[2]), QUALITIES[int(row[3])])
