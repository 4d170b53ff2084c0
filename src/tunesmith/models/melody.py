"""The melody model: a tune note by note, conditioned on the chords, key, metre, phrase and style.

**Events.** A melody is a chain of events that tile time: each is a note or a rest,
with a duration in ticks (:data:`TICKS` per beat, so sixteenths and eighth-note
triplets are both exact). An event starts where the one before it ends, so where it
falls in the bar is known before it is chosen. Pitches are MIDI numbers relative to
the key's tonic pitch class (a tune in G is read as if in C), so the model learns
scale degrees and register together. A note that is released early is followed by
a rest only when the silence is clear (a sixteenth and at least half the time to the
next note, or a whole beat); shorter gaps count as articulation.

**Conditioning** (:meth:`Timeline.features`, one row per event, known before it is
chosen): the chord sounding at its onset (root relative to the tonic, quality, its
tones as a 12-bin mask, beats until the chord changes), the key's mode, the metre
(six classes), the position in the bar (sixteenth slot, off-grid triplet flag,
pulse, strong beat, downbeat, fraction of the bar), the position in the phrase (bar
within an 8-bar period, pickup, 4th-bar and last-bar flags) and the style tag
(``pop`` = POP909, ``song`` = Essen folk songs, ``dance`` = O'Neill's and Ryan's
fiddle tunes).

**Network.** Embeddings of the previous event's pitch and duration, concatenated
with the features, drive a GRU; the pitch comes from a linear head on its state,
and the duration from a small MLP on the state and the chosen pitch, so
``P(event) = P(pitch | ·) · P(duration | pitch, ·)``. Trained with PyTorch by
``scripts/train_melody.py``; inference here is numpy (:mod:`tunesmith.models.nn`).

**Writing a song's melody** (:func:`write_melody_model`, a drop-in for
:func:`tunesmith.compose.melody.write_melody`): phrase by phrase (four bars), sampled
with temperature and nucleus (top-p) sampling inside the part's range, leaps capped at
an octave, a soft pull towards the section's register, chord tones favoured on strong
beats; each phrase ends on a chord tone held to the phrase's end (the tonic at a full
close). A phrase that repeats eight or more consecutive notes of a training tune is
sampled again (:mod:`tunesmith.models.originality`). A section heard again repeats its
first statement with a new last phrase.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tunesmith.models import nn
from tunesmith.models.chord import QUALITIES, chord_token
from tunesmith.score.theory import Chord, Key, strong_beats
from tunesmith.score.types import Note

if TYPE_CHECKING:
    from tunesmith.compose.harmony import Slot
    from tunesmith.compose.style import Style
    from tunesmith.models.melody_data import Tune

WEIGHTS = "melody.safetensors"
TICKS = 12  #: ticks per beat (quarter note): 3 per sixteenth, 4 per eighth-note triplet
MAX_TICKS = 96  #: longest event, ticks (two 4/4 bars); longer rests split a tune into segments
P_LO, P_HI = 36, 96  #: relative pitch range (MIDI pitch minus the tonic's pitch class)
REST = 0  #: pitch token of a rest
N_PITCH = 1 + P_HI - P_LO + 1  #: pitch classes of output: rest + every relative pitch
N_DUR = MAX_TICKS  #: duration tokens: token ``d - 1`` lasts ``d`` ticks
BOS_PITCH, BOS_DUR = N_PITCH, N_DUR  #: input tokens before a segment's first event
TAGS: tuple[str, ...] = ("pop", "song", "dance")
METRES: tuple[str, ...] = ("4/4", "3/4", "2/4", "6/8", "9/8 12/8", "other")
POSITION_SLOTS = 24  #: sixteenth slots in the bar (12/8 has 24; later slots share the last)
PHRASE_BARS = 8  #: the phrase-position one-hot counts bars of an 8-bar period
#: Feature block sizes, in order (see :meth:`Timeline.features`).
FEATURE_BLOCKS: tuple[tuple[str, int], ...] = (
    ("chord_root", 12),
    ("chord_quality", len(QUALITIES)),
    ("no_chord", 1),
    ("chord_tones", 12),
    ("chord_left", 1),
    ("minor", 1),
    ("metre", len(METRES)),
    ("position", POSITION_SLOTS),
    ("beat_flags", 4),
    ("bar_fraction", 1),
    ("phrase_bar", PHRASE_BARS),
    ("phrase_flags", 3),
    ("tag", len(TAGS)),
)
N_FEATURES = sum(n for _, n in FEATURE_BLOCKS)
_OFFSETS = dict(
    zip([k for k, _ in FEATURE_BLOCKS], np.cumsum([0] + [n for _, n in FEATURE_BLOCKS])[:-1].tolist(), strict=True)
)
_QUALITY_TONES = np.array(
    [[(i in Chord(0, q).pitch_classes) for i in range(12)] for q in QUALITIES], dtype=np.float32
)  # (qualities, 12): tones of each quality over a C root


# ---------------------------------------------------------------------------------------------- metre
def metre_class(numerator: int, denominator: int) -> int:
    """Index into :data:`METRES` of a time signature (2/2 counts as 4/4: the same bar, the same feel)."""
    sig = (int(numerator), int(denominator))
    table = {(4, 4): 0, (2, 2): 0, (3, 4): 1, (2, 4): 2, (6, 8): 3, (9, 8): 4, (12, 8): 4}
    return table.get(sig, len(METRES) - 1)


def pulse_ticks(numerator: int, denominator: int) -> int:
    """Length of the metre's counted beat, ticks: a dotted quarter in compound metres, else the denominator's note."""
    if denominator == 8 and numerator % 3 == 0:
        return 3 * TICKS // 2
    return max(1, 4 * TICKS // int(denominator))


@lru_cache(maxsize=64)
def _metre_table(numerator: int, denominator: int) -> tuple[int, int, np.ndarray]:
    """Metre class, pulse (ticks) and strong-beat positions (ticks from the bar line) of a time signature."""
    strong = np.array([round(s * TICKS) for s in strong_beats(numerator, denominator)], dtype=np.int64)
    return metre_class(numerator, denominator), pulse_ticks(numerator, denominator), strong


# ---------------------------------------------------------------------------------------------- timeline
@dataclass(frozen=True)
class Timeline:
    """Everything a melody is conditioned on, over time, in ticks (:data:`TICKS` per beat).

    Attributes
    ----------
    bar_starts, bar_lengths : numpy.ndarray
        Start and length of every bar, ticks (int64), ascending and contiguous.
    numerators, denominators : numpy.ndarray
        Time signature of every bar.
    phrase_bar : numpy.ndarray
        Bar number within the phrase structure (0 = first full bar; -1 = a pickup bar).
    final : numpy.ndarray
        Whether a bar is the last of its section (or tune).
    chord_starts, chord_ends : numpy.ndarray
        Chord spans, ticks; chords do not overlap.
    chord_roots, chord_qualities : numpy.ndarray
        Root pitch class and index into :data:`~tunesmith.models.chord.QUALITIES`.
    key_starts, key_tonics, key_minor : numpy.ndarray
        Key changes: start (ticks), tonic pitch class, 1 for minor.
    tag : int
        Index into :data:`TAGS`.
    """

    bar_starts: np.ndarray
    bar_lengths: np.ndarray
    numerators: np.ndarray
    denominators: np.ndarray
    phrase_bar: np.ndarray
    final: np.ndarray
    chord_starts: np.ndarray
    chord_ends: np.ndarray
    chord_roots: np.ndarray
    chord_qualities: np.ndarray
    key_starts: np.ndarray
    key_tonics: np.ndarray
    key_minor: np.ndarray
    tag: int = 0

    def bar_of(self, ticks: np.ndarray) -> np.ndarray:
        """Bar index of each tick position (clamped to the first and last bar)."""
        b = np.searchsorted(self.bar_starts, np.asarray(ticks), side="right") - 1
        return np.clip(b, 0, len(self.bar_starts) - 1)

    def tonic_at(self, ticks: np.ndarray) -> np.ndarray:
        """Tonic pitch class in force at each tick position."""
        k = np.clip(np.searchsorted(self.key_starts, np.asarray(ticks), side="right") - 1, 0, len(self.key_starts) - 1)
        return self.key_tonics[k]

    def chord_at(self, ticks: np.ndarray) -> np.ndarray:
        """Index of the chord sounding at each tick position, -1 where none does."""
        t = np.asarray(ticks)
        if len(self.chord_starts) == 0:
            return np.full(t.shape, -1, dtype=np.int64)
        c = np.searchsorted(self.chord_starts, t, side="right") - 1
        ok = (c >= 0) & (t < self.chord_ends[np.clip(c, 0, None)])
        return np.where(ok, c, -1)

    def chord_tones(self, ticks: int) -> np.ndarray:
        """Absolute pitch classes (12-bin bool mask) of the chord at ``ticks``; all False when none."""
        c = int(self.chord_at(np.array([ticks]))[0])
        if c < 0:
            return np.zeros(12, dtype=bool)
        return np.roll(_QUALITY_TONES[int(self.chord_qualities[c])] > 0, int(self.chord_roots[c]))

    def features(self, ticks: np.ndarray) -> np.ndarray:
        """``(n, N_FEATURES)`` float32 conditioning rows for events starting at ``ticks`` (see the module docstring)."""
        t = np.asarray(ticks, dtype=np.int64).reshape(-1)
        n = len(t)
        out = np.zeros((n, N_FEATURES), np.float32)
        rows = np.arange(n)
        o = _OFFSETS
        # Key and chord.
        k = np.clip(np.searchsorted(self.key_starts, t, side="right") - 1, 0, len(self.key_starts) - 1)
        tonic = self.key_tonics[k].astype(np.int64)
        out[:, o["minor"]] = self.key_minor[k]
        c = self.chord_at(t)
        has = c >= 0
        cc = np.clip(c, 0, None)
        if len(self.chord_starts):
            rel = (self.chord_roots[cc].astype(np.int64) - tonic) % 12
            q = self.chord_qualities[cc].astype(np.int64)
            out[rows[has], o["chord_root"] + rel[has]] = 1.0
            out[rows[has], o["chord_quality"] + q[has]] = 1.0
            tones = _QUALITY_TONES[q]  # over a C root: roll each row by its relative root
            idx = (np.arange(12)[None, :] - rel[:, None]) % 12
            out[:, o["chord_tones"] : o["chord_tones"] + 12] = np.where(
                has[:, None], np.take_along_axis(tones, idx, 1), 0.0
            )
            left = (self.chord_ends[cc] - t) / (8.0 * TICKS)
            out[:, o["chord_left"]] = np.where(has, np.minimum(left, 1.0), 0.0)
        out[~has, o["no_chord"]] = 1.0
        # Metre and the place in the bar (per-metre tables, so a long tune costs a few array lookups).
        b = self.bar_of(t)
        pos = t - self.bar_starts[b]
        length = self.bar_lengths[b]
        sigs = self.numerators * 100 + self.denominators
        metre = np.zeros(n, dtype=np.int64)
        pulse = np.ones(n, dtype=np.int64)
        strong = np.zeros(n, dtype=bool)
        for sig in np.unique(sigs[b]):
            rows_sig = sigs[b] == sig
            cls, pul, strong_ticks = _metre_table(int(sig // 100), int(sig % 100))
            metre[rows_sig], pulse[rows_sig] = cls, pul
            strong[rows_sig] = np.isin(pos[rows_sig], strong_ticks)
        out[rows, o["metre"] + metre] = 1.0
        out[rows, o["position"] + np.clip(pos // 3, 0, POSITION_SLOTS - 1)] = 1.0
        f = o["beat_flags"]
        out[:, f] = (pos % 3) != 0  # off the sixteenth grid: a triplet
        out[:, f + 1] = (pos % pulse) == 0
        out[:, f + 2] = strong
        out[:, f + 3] = pos == 0
        out[:, o["bar_fraction"]] = np.clip(pos / np.maximum(length, 1), 0.0, 1.0)
        # Phrase.
        pb = self.phrase_bar[b]
        inside = pb >= 0
        out[rows[inside], o["phrase_bar"] + pb[inside] % PHRASE_BARS] = 1.0
        g = o["phrase_flags"]
        out[:, g] = ~inside
        out[:, g + 1] = inside & (pb % 4 == 3)
        out[:, g + 2] = self.final[b]
        out[:, o["tag"] + self.tag] = 1.0
        return out


def _tag_index(tag: str) -> int:
    return TAGS.index(tag) if tag in TAGS else 0


def timeline_of_tune(tune: Tune) -> Timeline:
    """The :class:`Timeline` of a corpus tune (:mod:`tunesmith.models.melody_data`), phrases from its first full bar."""
    bars = tune.bars
    starts = np.round(bars[:, 0] * TICKS).astype(np.int64)
    lengths = np.round(bars[:, 1] * TICKS).astype(np.int64)
    phrase = np.arange(len(bars), dtype=np.int64) - (1 if tune.pickup else 0)
    final = np.zeros(len(bars), dtype=bool)
    last_note = tune.notes[-1, 0] * TICKS if len(tune.notes) else 0
    final[int(np.clip(np.searchsorted(starts, last_note, side="right") - 1, 0, len(bars) - 1))] = True
    return Timeline(
        starts,
        lengths,
        bars[:, 2].astype(np.int64),
        bars[:, 3].astype(np.int64),
        phrase,
        final,
        np.round(tune.chords[:, 0] * TICKS).astype(np.int64),
        np.round(tune.chords[:, 1] * TICKS).astype(np.int64),
        tune.chords[:, 2].astype(np.int64),
        tune.chords[:, 3].astype(np.int64),
        np.round(tune.keys[:, 0] * TICKS).astype(np.int64),
        tune.keys[:, 1].astype(np.int64),
        tune.keys[:, 2].astype(np.int64),
        _tag_index(tune.tag),
    )


def extend_bars(tl: Timeline, until: int) -> Timeline:
    """The timeline with bars repeated (last bar's metre) so that they reach ``until`` ticks."""
    end = int(tl.bar_starts[-1] + tl.bar_lengths[-1])
    if until <= end:
        return tl
    step = int(tl.bar_lengths[-1])
    extra = np.arange(end, until + step, step, dtype=np.int64)
    n = len(extra)
    return replace(
        tl,
        bar_starts=np.append(tl.bar_starts, extra),
        bar_lengths=np.append(tl.bar_lengths, np.full(n, step)),
        numerators=np.append(tl.numerators, np.full(n, tl.numerators[-1])),
        denominators=np.append(tl.denominators, np.full(n, tl.denominators[-1])),
        phrase_bar=np.append(tl.phrase_bar, tl.phrase_bar[-1] + 1 + np.arange(n)),
        final=np.append(tl.final, np.zeros(n, dtype=bool)),
    )


# ---------------------------------------------------------------------------------------------- events
@dataclass(frozen=True)
class Events:
    """A run of melody events with its conditioning.

    Attributes
    ----------
    pitch : numpy.ndarray
        Pitch tokens (:data:`REST` or ``1 + relative pitch - P_LO``).
    dur : numpy.ndarray
        Duration tokens (``ticks - 1``).
    onsets : numpy.ndarray
        Start of each event, ticks.
    features : numpy.ndarray
        ``(n, N_FEATURES)`` rows from :meth:`Timeline.features`.
    source : str
        Where it came from (for reports).
    """

    pitch: np.ndarray
    dur: np.ndarray
    onsets: np.ndarray
    features: np.ndarray
    source: str = ""

    def __len__(self) -> int:
        return len(self.pitch)

    @property
    def joint(self) -> np.ndarray:
        """One integer per event, ``pitch * N_DUR + dur`` (the n-gram baseline's tokens)."""
        return self.pitch.astype(np.int64) * N_DUR + self.dur


def pitch_token(relative: int) -> int:
    """Token of a pitch relative to the tonic's pitch class, folded by octaves into ``P_LO..P_HI``."""
    r = int(relative)
    while r < P_LO:
        r += 12
    while r > P_HI:
        r -= 12
    return 1 + r - P_LO


def events_from_notes(notes: np.ndarray, timeline: Timeline, source: str = "", grid: int = 1) -> list[Events]:
    """Encode notes (``(n, 3)`` onset, duration in beats, MIDI pitch) into event runs.

    Onsets and ends are rounded to ``grid`` ticks (3 = sixteenths, for POP909 whose MIDI is on a
    sixteenth grid but whose beat annotations drift a little); of notes starting together the highest is kept. A gap of
    :data:`MAX_TICKS` or more splits the tune into separate runs (each starts afresh, its
    phrases counted from its own first full bar). Rests follow the rule in the module docstring.
    """
    if len(notes) == 0:
        return []
    on = (np.round(notes[:, 0] * TICKS / grid) * grid).astype(np.int64)
    end = (np.round((notes[:, 0] + notes[:, 1]) * TICKS / grid) * grid).astype(np.int64)
    length = np.maximum(grid, end - on)
    pitch = notes[:, 2].astype(np.int64)
    keep = np.ones(len(on), dtype=bool)
    keep[1:] = on[1:] != on[:-1]  # notes are sorted by onset, highest first
    on, length, pitch = on[keep], length[keep], pitch[keep]
    ioi = np.append(np.diff(on), length[-1])
    runs: list[list[tuple[int, int, int]]] = [[]]  # (onset, pitch or -1, ticks)
    for i in range(len(on)):
        sounding = int(min(length[i], ioi[i]))
        gap = int(ioi[i]) - sounding
        if gap >= MAX_TICKS and i < len(on) - 1:
            runs[-1].append((int(on[i]), int(pitch[i]), min(sounding, MAX_TICKS)))
            runs.append([])
            continue
        if gap >= 3 and (gap >= 0.5 * ioi[i] or gap >= TICKS):
            parts = [(int(on[i]), int(pitch[i]), sounding)]
            t = int(on[i]) + sounding
            while gap > 0:
                step = min(gap, MAX_TICKS)
                parts.append((t, -1, step))
                t, gap = t + step, gap - step
        else:
            parts = [(int(on[i]), int(pitch[i]), int(ioi[i]))]
        for start, p, d in parts:
            while d > MAX_TICKS:  # a very long note: its tail becomes rests
                runs[-1].append((start, p, MAX_TICKS))
                start, d, p = start + MAX_TICKS, d - MAX_TICKS, -1
            runs[-1].append((start, p, d))
    out = []
    for run in runs:
        if not run:
            continue
        starts = np.array([r[0] for r in run], dtype=np.int64)
        tl = extend_bars(timeline, int(starts[-1] + run[-1][2]))
        first_bar = int(tl.bar_of(starts[:1])[0])
        pos = int(starts[0] - tl.bar_starts[first_bar])
        # A run that begins in the second half of a bar begins with a pickup into the next bar.
        pickup = first_bar if pos * 2 >= tl.bar_lengths[first_bar] else None
        origin = first_bar + 1 if pickup is not None else first_bar
        if timeline.phrase_bar[0] < 0 and first_bar == 0:  # the tune's own pickup bar
            origin, pickup = 1, 0
        phrase = np.arange(len(tl.bar_starts), dtype=np.int64) - origin
        final = np.zeros(len(tl.bar_starts), dtype=bool)
        final[int(tl.bar_of(starts[-1:])[0])] = True
        tl = replace(tl, phrase_bar=phrase, final=final)
        tonic = tl.tonic_at(starts)
        ptok = np.array([REST if p < 0 else pitch_token(p - tn) for (_, p, _), tn in zip(run, tonic, strict=True)])
        dtok = np.array([d - 1 for _, _, d in run], dtype=np.int64)
        out.append(Events(ptok.astype(np.int64), dtok, starts, tl.features(starts), source))
    return out


def encode_tune(tune: Tune) -> list[Events]:
    """A corpus tune as event runs (:func:`events_from_notes` on its own timeline)."""
    return events_from_notes(tune.notes, timeline_of_tune(tune), tune.source, grid=3 if tune.tag == "pop" else 1)


# ---------------------------------------------------------------------------------------------- network
class MelodyModel:
    """The trained melody network (numpy inference).

    Parameters
    ----------
    path : str or Path, optional
        A ``.safetensors`` file written by ``scripts/train_melody.py``; the packaged weights by default.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        path = Path(path) if path else nn.weights_dir() / WEIGHTS
        w = nn.load_weights(path)
        self.meta = json.loads(nn.load_metadata(path).get("config", "{}"))
        self.path = path
        self.embed_pitch = w["embed_pitch.weight"]
        self.embed_dur = w["embed_dur.weight"]
        self.embed_choice = w["embed_choice.weight"]
        self.layers = [nn.GRU(w, "gru", layer) for layer in range(int(self.meta.get("layers", 1)))]
        self.pitch_head = nn.Linear(w, "pitch_head")
        self.dur_hidden = nn.Linear(w, "dur_hidden")
        self.dur_head = nn.Linear(w, "dur_head")
        self._token_proj: tuple[np.ndarray, np.ndarray] | None = None
        self.adapter: Path | None = None  # a learned style's adapter file (see with_adapter)
        # Durations never seen in training stay impossible when sampling.
        seen = np.asarray(self.meta.get("durations_seen", list(range(N_DUR))), dtype=np.int64)
        self.duration_seen = np.zeros(N_DUR, dtype=bool)
        self.duration_seen[seen] = True

    def with_adapter(self, path: str | Path) -> MelodyModel:
        """This model with a learned style's adapter added to its output layers (a new model).

        An adapter (written by ``tunesmith learn``, :mod:`tunesmith.learn.adapt`) holds corrections
        of the pitch and duration heads fitted on a musician's pieces with the network frozen:
        ``pitch_head.weight_delta``/``bias_delta`` and ``dur_head.weight_delta``/``bias_delta``.
        Adding them to the heads' weights gives exactly the adapted logits, so sampling costs nothing
        more.

        Raises
        ------
        InputFileError
            Unreadable adapter, or one fitted to other weights than these.
        """
        from tunesmith.errors import InputFileError

        w = nn.load_weights(path)
        base = nn.load_metadata(path).get("base_sha256", "")
        if base != model_id(self.path)["sha256"]:
            raise InputFileError("the adapter was fitted to another melody model; learn the style again", path)
        adapted = object.__new__(MelodyModel)
        adapted.__dict__.update(self.__dict__)
        adapted._token_proj = self._token_proj
        adapted.pitch_head = _shifted(self.pitch_head, w, "pitch_head")
        adapted.dur_head = _shifted(self.dur_head, w, "dur_head")
        adapted.adapter = Path(path)
        return adapted

    # -- one event at a time -----------------------------------------------------------------------
    def start(self, batch: int = 1) -> list[np.ndarray]:
        """A fresh state for :meth:`step`: one ``(batch, hidden)`` array per GRU layer."""
        return [g.initial(batch) for g in self.layers]

    def _input(self, prev_pitch: np.ndarray, prev_dur: np.ndarray, features: np.ndarray) -> np.ndarray:
        return np.concatenate([self.embed_pitch[prev_pitch], self.embed_dur[prev_dur], features], axis=-1)

    def step(
        self, state: list[np.ndarray], prev_pitch: np.ndarray, prev_dur: np.ndarray, features: np.ndarray
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Advance one event: log-probabilities of its pitch ``(batch, N_PITCH)`` and the new state.

        ``prev_pitch``/``prev_dur`` hold the previous event's tokens per row (:data:`BOS_PITCH`,
        :data:`BOS_DUR` at a run's start); ``features`` is ``(batch, N_FEATURES)``.
        """
        x = self._input(np.asarray(prev_pitch), np.asarray(prev_dur), features)
        new = []
        for g, h in zip(self.layers, state, strict=True):
            x = g.step(g.input_part(x), h)
            new.append(x)
        return nn.log_softmax(self.pitch_head(x)), new

    def duration_logp(self, state: list[np.ndarray], pitch: np.ndarray) -> np.ndarray:
        """Log-probabilities ``(batch, N_DUR)`` of the duration, given the state after :meth:`step` and the pitch."""
        h = state[-1]
        z = np.maximum(self.dur_hidden(np.concatenate([h, self.embed_choice[np.asarray(pitch)]], axis=-1)), 0.0)
        return nn.log_softmax(self.dur_head(z))

    # -- fast sampling path --------------------------------------------------------------------------
    def projections(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The first GRU layer's input contributions, precomputed: per pitch token, per duration token,
        and per row of ``features`` (bias included there). Their sum, row-picked, is
        ``layers[0].input_part`` of the concatenated input — the product splits over its blocks."""
        g = self.layers[0]
        a, b = self.embed_pitch.shape[1], self.embed_dur.shape[1]
        w = g.w_ih_t
        if self._token_proj is None:  # the token tables never change: made once per model
            self._token_proj = (self.embed_pitch @ w[:a], self.embed_dur @ w[a : a + b])
        return (*self._token_proj, features @ w[a + b :] + g.b_ih)

    def step_projected(self, state: list[np.ndarray], gi: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """:meth:`step` from the first layer's input part ``gi`` (summed from :meth:`projections`)."""
        new = []
        x = None
        for k, (g, h) in enumerate(zip(self.layers, state, strict=True)):
            x = g.step(gi if k == 0 else g.input_part(x), h)
            new.append(x)
        return nn.log_softmax(self.pitch_head(x)), new

    # -- whole runs --------------------------------------------------------------------------------
    def score(self, events: Events) -> tuple[np.ndarray, np.ndarray]:
        """Negative log-likelihood of each event's pitch and duration given the events before it, nats.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            Per-event pitch NLL and duration NLL; their sum is the event's NLL.
        """
        n = len(events)
        prev_p = np.concatenate([[BOS_PITCH], events.pitch[:-1]]).astype(np.int64)
        prev_d = np.concatenate([[BOS_DUR], events.dur[:-1]]).astype(np.int64)
        x = self._input(prev_p, prev_d, events.features)[None]
        for g in self.layers:
            x, _ = g.run(x)
        h = x[0]
        lp = nn.log_softmax(self.pitch_head(h))
        z = np.maximum(self.dur_hidden(np.concatenate([h, self.embed_choice[events.pitch]], axis=-1)), 0.0)
        ld = nn.log_softmax(self.dur_head(z))
        rows = np.arange(n)
        return -lp[rows, events.pitch].astype(np.float64), -ld[rows, events.dur].astype(np.float64)


def model_id(path: str | Path | None = None) -> dict[str, str]:
    """Identity of the melody model's weights, for recipes: ``{"id": ..., "sha256": ...}``."""
    path = Path(path) if path else nn.weights_dir() / WEIGHTS
    return {"id": "melody-gru-pop909-folk", "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


@lru_cache(maxsize=1)
def packaged_model() -> MelodyModel:
    """The melody model shipped with tunesmith (loaded once per process)."""
    return MelodyModel()


def _shifted(layer: nn.Linear, w: dict[str, np.ndarray], name: str) -> nn.Linear:
    """A copy of ``layer`` with an adapter's ``<name>.weight_delta`` and ``.bias_delta`` added (torch layout)."""
    out = object.__new__(nn.Linear)
    out.w_t = np.ascontiguousarray(layer.w_t + w[f"{name}.weight_delta"].T)
    out.b = (layer.b if layer.b is not None else 0.0) + w[f"{name}.bias_delta"]
    return out


@lru_cache(maxsize=8)
def _adapted(path: str, stamp: float) -> MelodyModel:
    return packaged_model().with_adapter(path)


def model_for_style(style: Style) -> MelodyModel:
    """The melody model a style's tunes are written with: the packaged one, with the style's adapter
    (``[learned] melody_adapter`` of a style made by ``tunesmith learn``) when it has one."""
    path = (getattr(style, "learned", None) or {}).get("melody_adapter")
    if path is None:
        return packaged_model()
    return _adapted(str(path), Path(path).stat().st_mtime)


def style_tag(style: Style, section: str | None = None) -> str:
    """The style tag (:data:`TAGS`) a style's melody is sampled with (in ``section``)."""
    default = STYLE_TAGS.get(style.name, getattr(style, "melody_tag", "") or "pop")
    return _SECTION_TAGS.get((style.name, section), default) if section is not None else default


# ---------------------------------------------------------------------------------------------- sampling
@dataclass
class SamplingOptions:
    """How :func:`sample_span` draws events.

    The defaults were chosen on the validation slices (POP909 songs whose number is a multiple of
    20, folk tunes with ``i % 20 == 4``) as the setting whose generated passages' MusPy-style
    metrics overlap most with the real ones'; raise ``chord_bias`` for plainer, more consonant tunes.

    Attributes
    ----------
    temperature : float
        Divides the log-probabilities (below 1: safer, above 1: wilder).
    top_p : float
        Nucleus sampling: draw from the smallest set of tokens holding this much probability.
    max_leap : int
        Largest interval between consecutive notes, semitones.
    chord_bias : float
        Added to the log-probability of chord tones on strong beats, nats.
    register_pull : float
        Penalty, nats, per (6 semitones)² away from the register's centre.
    max_rest_ticks : int
        Longest rest inside a phrase, ticks.
    repeat_penalty : float
        Taken from the log-probability of repeating the previous note's pitch, nats (negative:
        favoured). Sampled on its own, a network drifts into more repeated notes than it predicts
        from real context; ``tunesmith learn`` sets this per style so its tunes repeat notes as
        often as the musician's (:mod:`tunesmith.learn.calibrate`).
    cadence_at : float or None
        Where the last note of a phrase may start at the earliest, as a fraction of the phrase's
        last bar; it is then held to the phrase's end. None: the bar's last strong beat (a held
        note on beat 3 of 4/4). A learned style gives its musician's own phrase endings here (the
        last onset of its ``cadence_rhythm``: a reel runs on in eighths to the bar line).
    duration_bias : tuple of float
        Added to the log-probability of each duration token (``N_DUR`` values, nats; empty: none).
        ``tunesmith learn`` sets it per metre so a style's tunes move in its musician's note values.
    interval_bias : tuple of float
        Added to the log-probability of each note by its interval from the previous note (25 values
        for -12 … +12 semitones, wider leaps counted as ±12; nats; empty: none). Set by ``tunesmith
        learn`` so a style's tunes step and leap as its musician's do.
    """

    temperature: float = 1.0
    top_p: float = 0.98
    max_leap: int = 12
    chord_bias: float = 0.5
    register_pull: float = 0.1
    max_rest_ticks: int = 2 * TICKS
    repeat_penalty: float = 0.0
    cadence_at: float | None = None
    duration_bias: tuple[float, ...] = ()
    interval_bias: tuple[float, ...] = ()


@dataclass
class _Cursor:
    """Where sampling stands: time, the model state and the previous tokens."""

    tick: int
    state: list[np.ndarray]
    prev_pitch: int = BOS_PITCH
    prev_dur: int = BOS_DUR
    last_note: int | None = None  # absolute MIDI pitch of the last note
    events: list[tuple[int, int, int]] = field(default_factory=list)  # (onset ticks, pitch token, dur token)


def _copy_cursor(c: _Cursor) -> _Cursor:
    """An independent copy (state arrays and event list copied) to try a phrase from."""
    return _Cursor(c.tick, [s.copy() for s in c.state], c.prev_pitch, c.prev_dur, c.last_note, list(c.events))


class TickTable:
    """Everything sampling needs at each tick of a stretch of the timeline, computed in one go.

    Per tick ``t`` in ``[first, end)``: the model's input contribution of the conditioning features
    (:meth:`MelodyModel.projections`), the tonic, the chord tones (12-bin mask of absolute pitch
    classes) and whether ``t`` is a strong beat. One table per phrase keeps memory small however
    long the song.
    """

    def __init__(self, model: MelodyModel, tl: Timeline, first: int, end: int) -> None:
        ticks = np.arange(first, max(first + 1, end))
        feats = tl.features(ticks)
        self.tl = tl
        self.first = first
        self.pitch_proj, self.dur_proj, self.feat_proj = model.projections(feats)
        self.tonic = tl.tonic_at(ticks).astype(np.int64)
        self.strong = feats[:, _OFFSETS["beat_flags"] + 2] > 0
        rel_tones = feats[:, _OFFSETS["chord_tones"] : _OFFSETS["chord_tones"] + 12] > 0  # relative to the tonic
        idx = (np.arange(12)[None, :] - self.tonic[:, None]) % 12
        self.tones = np.take_along_axis(rel_tones, idx, axis=1)  # absolute pitch classes

    def step(self, model: MelodyModel, cur: _Cursor) -> tuple[np.ndarray, list[np.ndarray]]:
        """The model's step at ``cur.tick`` from ``cur``'s previous tokens."""
        i = cur.tick - self.first
        gi = self.pitch_proj[cur.prev_pitch] + self.dur_proj[cur.prev_dur] + self.feat_proj[i]
        return model.step_projected(cur.state, gi[None, :])


def _nucleus(logp: np.ndarray, rng: np.random.Generator, temperature: float, top_p: float) -> int:
    """Draw an index from log-probabilities (``-inf`` = forbidden) at ``temperature`` within the top-``top_p`` mass."""
    z = logp / max(temperature, 1e-3)
    p = np.exp(z - np.max(z))
    p /= p.sum()
    order = np.argsort(-p, kind="stable")
    cum = np.cumsum(p[order])
    keep = order[: int(np.searchsorted(cum, top_p)) + 1]
    ck = np.cumsum(p[keep])
    return int(keep[min(int(np.searchsorted(ck, rng.random() * ck[-1], side="right")), len(keep) - 1)])


def _advance(model: MelodyModel, table: TickTable, cur: _Cursor, pitch: int, dur: int) -> None:
    """Feed a known event through the model (teacher forcing): the state moves on as if it had been sampled."""
    _, cur.state = table.step(model, cur)
    cur.events.append((cur.tick, pitch, dur))
    if pitch != REST:
        cur.last_note = int(pitch - 1 + P_LO + table.tonic[cur.tick - table.first])
    cur.tick += dur + 1
    cur.prev_pitch, cur.prev_dur = pitch, dur


def sample_span(
    model: MelodyModel,
    table: TickTable,
    cur: _Cursor,
    end: int,
    rng: np.random.Generator,
    lo: int,
    hi: int,
    centre: float,
    options: SamplingOptions,
    cadence: str | None = "chord",
) -> None:
    """Sample events from ``cur.tick`` up to ``end`` ticks (one phrase), updating ``cur`` in place.

    Parameters
    ----------
    table : TickTable
        The timeline tabled from ``cur.tick`` (or before) to ``end``.
    lo, hi : int
        Allowed MIDI pitches.
    centre : float
        MIDI pitch the register pull aims at.
    cadence : {"chord", "tonic", None}
        How the phrase ends: on a chord tone held to ``end``, on the tonic where the chord holds
        it, or as the model likes.
    """
    tl = table.tl
    final_bar = int(tl.bar_of(np.array([max(cur.tick, end - 1)]))[0])
    fb_start = int(tl.bar_starts[final_bar])
    strong = [
        fb_start + round(s * TICKS)
        for s in strong_beats(int(tl.numerators[final_bar]), int(tl.denominators[final_bar]))
    ]
    last_strong = max((s for s in strong if s < end), default=fb_start)
    if options.cadence_at is not None:
        last_strong = min(end - 1, fb_start + round(options.cadence_at * int(tl.bar_lengths[final_bar])))
    rel = np.arange(P_LO, P_HI + 1)
    ticks = np.arange(1, N_DUR + 1)
    pull = options.register_pull * ((rel[None, :] + np.arange(12)[:, None] - centre) / 6.0) ** 2  # per tonic
    while cur.tick < end:
        t = cur.tick
        i = t - table.first
        tonic = int(table.tonic[i])
        logp, state = table.step(model, cur)
        lp = logp[0].astype(np.float64)
        absolute = rel + tonic
        allowed = (absolute >= lo) & (absolute <= hi)
        if cur.last_note is not None:
            near = allowed & (np.abs(absolute - cur.last_note) <= options.max_leap)
            allowed = near if near.any() else allowed
        notes_lp = np.where(allowed, lp[1:] - pull[tonic], -np.inf)
        if options.repeat_penalty and cur.last_note is not None:
            notes_lp = np.where(absolute == cur.last_note, notes_lp - options.repeat_penalty, notes_lp)
        if options.interval_bias and cur.last_note is not None:
            notes_lp = notes_lp + np.asarray(options.interval_bias)[np.clip(absolute - cur.last_note, -12, 12) + 12]
        tones = table.tones[i]
        is_tone = tones[absolute % 12]
        closing = cadence is not None and t >= last_strong and t >= fb_start
        if table.strong[i] and is_tone.any():
            notes_lp = np.where(is_tone, notes_lp + options.chord_bias, notes_lp)
        if closing and is_tone.any():
            # The phrase's last note: a chord tone (the tonic at a full close, where the chord has it).
            pick = is_tone & np.isfinite(notes_lp)
            if cadence == "tonic" and tones[tonic % 12]:
                tonic_ok = pick & (absolute % 12 == tonic % 12)
                pick = tonic_ok if tonic_ok.any() else pick
            if pick.any():
                notes_lp = np.where(pick, notes_lp, -np.inf)
        rest_lp = lp[0]
        if closing or cur.prev_pitch in (REST, BOS_PITCH):
            rest_lp = -np.inf  # end on a note; never two rests running, nor open on one
        full = np.concatenate([[rest_lp], notes_lp])
        if not np.isfinite(full).any():
            full = np.concatenate([[-np.inf], np.where((absolute >= lo) & (absolute <= hi), lp[1:], -np.inf)])
        pitch = _nucleus(full, rng, options.temperature, options.top_p)
        ld = model.duration_logp(state, np.array([pitch]))[0].astype(np.float64)
        if options.duration_bias:
            ld = ld + np.asarray(options.duration_bias)
        ok = model.duration_seen & (t + ticks <= end)
        if pitch == REST:
            ok &= ticks <= options.max_rest_ticks
            if cadence is not None and t < last_strong:
                ok &= t + ticks <= last_strong  # a rest may not swallow the cadence
        if closing and pitch != REST:
            ok = ticks == end - t  # the last note is held to the phrase's end
        if not ok.any():
            ok = ticks == min(end - t, N_DUR)
        dur = _nucleus(np.where(ok, ld, -np.inf), rng, options.temperature, options.top_p)
        cur.state = state
        cur.events.append((t, pitch, dur))
        cur.tick = t + dur + 1
        cur.prev_pitch, cur.prev_dur = pitch, dur
        if pitch != REST:
            cur.last_note = int(pitch - 1 + P_LO + tonic)


def events_to_notes(
    tl: Timeline,
    events: Sequence[tuple[int, int, int]],
    velocity: int = 90,
    origin: float = 0.0,
    articulation: float = 0.95,
) -> list[Note]:
    """Notes (beats) of sampled events ``(onset ticks, pitch token, dur token)``; rests dropped.

    Each note sounds for ``articulation`` of its event (a little detached, as played).
    """
    kept = [(int(t), int(p), int(d)) for t, p, d in events if p != REST]
    if not kept:
        return []
    tonic = tl.tonic_at(np.array([t for t, _, _ in kept]))
    return [
        Note(origin + t / TICKS, articulation * (d + 1) / TICKS, int(p - 1 + P_LO + k), velocity)
        for (t, p, d), k in zip(kept, tonic, strict=True)
    ]


# ---------------------------------------------------------------------------------------------- compose
#: compose styles whose melody is sampled with a tag other than ``pop``; the folk style's fiddle break
#: (its ``solo`` section) plays like a dance tune.
STYLE_TAGS: dict[str, str] = {"folk": "song", "chorale": "song"}
_SECTION_TAGS: dict[tuple[str, str], str] = {("folk", "solo"): "dance"}
# Where the tune sits in its range per section kind (0 = bottom, 1 = top), as the rule-based writer does.
_REGISTER = {"chorus": 0.62, "b": 0.6, "bridge": 0.55, "prechorus": 0.5, "solo": 0.58, "loop": 0.58}


def song_timeline(
    style: Style, key: Key, sections: list[tuple[str, int, int, float]], slots: list[Slot], tag: str
) -> Timeline:
    """The :class:`Timeline` of a composed song: bars of the style's metre, its chords, one key.

    Phrase bars count from each section's first bar; a section's last bar is ``final``.
    """
    from tunesmith.models.melody_data import key_row

    bar = round(style.bar_beats * TICKS)
    last = max((s + b for _, s, b, _ in sections), default=1)
    if slots:
        last = max(last, int(np.ceil(max(s.end for s in slots) / style.bar_beats)))
    n = last + 1
    phrase = np.arange(n, dtype=np.int64)
    final = np.zeros(n, dtype=bool)
    for _, start, bars, _ in sections:
        phrase[start : start + bars] = np.arange(bars)
        final[start + bars - 1] = True
    roots, quals = [], []
    for s in slots:
        tok = chord_token(s.chord)
        r, q = divmod(tok - 1, len(QUALITIES))
        roots.append(r)
        quals.append(q)
    tonic, minor = key_row(key)
    return Timeline(
        np.arange(n, dtype=np.int64) * bar,
        np.full(n, bar, dtype=np.int64),
        np.full(n, style.numerator, dtype=np.int64),
        np.full(n, style.denominator, dtype=np.int64),
        phrase,
        final,
        np.array([round(s.start * TICKS) for s in slots], dtype=np.int64),
        np.array([round(s.end * TICKS) for s in slots], dtype=np.int64),
        np.array(roots, dtype=np.int64),
        np.array(quals, dtype=np.int64),
        np.zeros(1, dtype=np.int64),
        np.array([tonic], dtype=np.int64),
        np.array([minor], dtype=np.int64),
        _tag_index(tag),
    )


@dataclass
class MelodyReport:
    """What :func:`write_phrases` did, for recipes.

    Attributes
    ----------
    max_overlap : int
        Longest run of consecutive notes (intervals and rhythm) shared with a training tune.
    resampled : int
        Phrases drawn again because they copied eight or more notes.
    phrases : int
        Phrases written.
    """

    max_overlap: int = 0
    resampled: int = 0
    phrases: int = 0
    #: With a learned style's own index as well: the longest run per index (``training``, ``style``).
    overlaps: dict[str, int] = field(default_factory=dict)


def write_phrases(
    model: MelodyModel,
    tl: Timeline,
    phrases: list[tuple[int, int, str | None, float]],
    rng: np.random.Generator,
    lo: int,
    hi: int,
    options: SamplingOptions | None = None,
    guard: bool = True,
    max_tries: int = 16,
    repeats: dict[int, int] | None = None,
    index: object | None = None,
) -> tuple[list[tuple[int, int, int]], MelodyReport]:
    """Sample a melody phrase by phrase; the low-level engine of :func:`write_melody_model`.

    Parameters
    ----------
    phrases : list of (start, end, cadence, centre)
        Phrase spans in ticks (in time order; a gap between phrases is a rest, or a fresh start
        when it is :data:`MAX_TICKS` or longer), the cadence kind (see :func:`sample_span`) and the
        register centre (MIDI pitch).
    guard : bool
        Redraw a phrase (up to ``max_tries`` times) that repeats eight or more consecutive notes
        of a training tune, each redraw a little bolder (temperature up by a tenth per try, to
        1.6×); the try with the shortest overlap is kept if none is clean.
    repeats : dict of int to (int, int), optional
        ``{phrase index: (source tick, ticks)}``: open the phrase by playing again the events
        already written from ``source tick`` for ``ticks`` (shifted to the phrase's start), then
        sample the rest. Ignored where no events were written there.
    index : OriginalityIndex or CombinedIndex, optional
        What the guard checks against (:func:`tunesmith.models.originality.index_for_style`);
        the packaged training-tune index by default.

    Returns
    -------
    (list of (onset ticks, pitch token, dur token), MelodyReport)
    """
    with _one_blas_thread():
        return _write_phrases(model, tl, phrases, rng, lo, hi, options, guard, max_tries, repeats, index)


def _one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """BLAS on one thread: sampling multiplies tiny matrices, and on a busy machine waking a second
    BLAS thread costs ten times the product itself (15 ms instead of 1 ms per phrase table)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn (librosa)
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _write_phrases(
    model: MelodyModel,
    tl: Timeline,
    phrases: list[tuple[int, int, str | None, float]],
    rng: np.random.Generator,
    lo: int,
    hi: int,
    options: SamplingOptions | None,
    guard: bool,
    max_tries: int,
    repeats: dict[int, tuple[int, int]] | None,
    index: object | None = None,
) -> tuple[list[tuple[int, int, int]], MelodyReport]:
    from tunesmith.models import originality

    searched = index if index is not None else originality.packaged_index()
    options = options or SamplingOptions()
    repeats = repeats or {}
    cur = _Cursor(phrases[0][0] if phrases else 0, model.start())
    report = MelodyReport()

    def overlap(trial: _Cursor, first: int) -> int:
        """Longest shared run reaching into the phrase (from the previous phrase's last note, whose
        length is only settled now), judged with twelve notes of lead-in."""
        lead_in = trial.events[max(0, first - 36) : first]  # enough events for 12 notes before
        # Full-length notes: the phrase's held last note then lasts to the phrase's end, as it will
        # once the next phrase starts there.
        before = events_to_notes(tl, lead_in, articulation=1.0)[-12:]
        notes = before + events_to_notes(tl, trial.events[first:], articulation=1.0)
        return searched.longest_overlap(notes, since=max(0, len(before) - 1))

    for index, (start, end, cadence, centre) in enumerate(phrases):
        # A gap shorter than MAX_TICKS is played as a rest from cur.tick, so the table starts there.
        table = TickTable(model, tl, cur.tick if 0 < start - cur.tick < MAX_TICKS else start, end)
        if start > cur.tick:
            if start - cur.tick >= MAX_TICKS:
                cur = _Cursor(start, model.start(), events=cur.events)
            else:
                _advance(model, table, cur, REST, start - cur.tick - 1)
        cur.tick = max(cur.tick, start)
        first = len(cur.events)
        saved = _Cursor(cur.tick, cur.state, cur.prev_pitch, cur.prev_dur, cur.last_note, cur.events[:first])

        report.phrases += 1
        copy = [e for e in cur.events if index in repeats and repeats[index][0] <= e[0] < sum(repeats[index])]
        if copy:
            trial = _copy_cursor(saved)
            shift = start - repeats[index][0]
            limit = min(end, start + repeats[index][1])
            for t, p, d in copy:
                if t + shift >= limit or trial.tick >= limit:
                    break
                _advance(model, table, trial, p, min(d, limit - (t + shift) - 1))
            if trial.tick < end:
                sample_span(model, table, trial, end, rng, lo, hi, centre, options, cadence)
            if not guard or overlap(trial, first) < originality.COPY_NOTES:
                cur = trial
                continue
        best: tuple[int, _Cursor] | None = None
        for attempt in range(max_tries if guard else 1):
            trial = _copy_cursor(saved)
            # Each redraw is a little bolder, so a phrase stuck on a stock figure gets away from it.
            bolder = replace(
                options,
                temperature=options.temperature * min(1.6, 1 + 0.1 * attempt),
                top_p=min(0.99, options.top_p + 0.02 * attempt),
            )
            sample_span(model, table, trial, end, rng, lo, hi, centre, bolder, cadence)
            if not guard:
                best = (0, trial)
                break
            found = overlap(trial, first)
            if best is None or found < best[0]:
                best = (found, trial)
            if found < originality.COPY_NOTES:
                break
            report.resampled += attempt == 0
        assert best is not None
        cur = best[1]
    if guard:
        report.max_overlap = searched.longest_overlap(events_to_notes(tl, cur.events))
    return cur.events, report


def write_melody_model(
    style: Style,
    key: Key,
    sections: list[tuple[str, int, int, float]],
    slots: list[Slot],
    rng: np.random.Generator,
    part_range: tuple[int, int],
    memory: dict | None = None,
    options: SamplingOptions | None = None,
    guard: bool = True,
    report: MelodyReport | None = None,
) -> list[Note]:
    """The melody for every section that has one, written by the learned model.

    A drop-in for :func:`tunesmith.compose.melody.write_melody` (same arguments, same kind of
    result): phrases of four bars (two in short sections), each ending on a chord tone — the
    tonic at a section's final close — with a section heard again repeating its first
    statement but for a new last phrase, and within an 8-bar section the second phrase often
    opening like the first.

    Parameters
    ----------
    style : Style
        Gives the metre, the melody range and (through :data:`STYLE_TAGS`) the style tag.
    key : Key
        The song's key.
    sections : list of (name, start_bar, bars, energy)
        The sections the melody plays in, in time order.
    slots : list of Slot
        The song's chords.
    rng : numpy.random.Generator
        The only source of randomness.
    part_range : (int, int)
        The melody instrument's range (MIDI); the style's melody range is kept inside it.
    memory : dict, optional
        Shared between calls: the first statement of each section name (for returning sections).
    options : SamplingOptions, optional
        Temperature, top-p and the constraints.
    guard : bool
        Redraw phrases that copy eight or more notes of a training tune (see :func:`write_phrases`).
    report : MelodyReport, optional
        Filled in with the longest overlap with the training tunes and the phrases redrawn.

    Returns
    -------
    list of Note
        In beats from the song's start, velocities following each section's energy.
    """
    from tunesmith.models import originality

    model = model_for_style(style)
    guard_index = originality.index_for_style(style)
    lo = max(style.melody_range[0], part_range[0])
    hi = min(style.melody_range[1], part_range[1])
    if hi - lo < 12:  # never squeeze a tune into less than an octave
        hi = min(127, lo + 12)
    memory = {} if memory is None else memory
    bar = round(style.bar_beats * TICKS)
    notes: list[Note] = []
    total = MelodyReport()
    # Sections with their own tag (the folk fiddle break) are sampled on their own timeline.
    groups: list[tuple[str, list[tuple[str, int, int, float]]]] = []
    for span in sections:
        tag = style_tag(style, span[0])
        if groups and groups[-1][0] == tag and groups[-1][1][-1][1] + groups[-1][1][-1][2] == span[1]:
            groups[-1][1].append(span)
        else:
            groups.append((tag, [span]))
    for tag, spans in groups:
        tl = song_timeline(style, key, sections, slots, tag)
        phrases: list[tuple[int, int, str | None, float]] = []
        energies: list[float] = []
        repeats: dict[int, tuple[int, int]] = {}
        for name, start_bar, bars, energy in spans:
            centre = lo + (hi - lo) * _REGISTER.get(name, 0.42)
            size = 4 if bars >= 4 else bars
            starts = list(range(0, bars, size))
            stored = memory.get(name)
            mine: list[tuple[int, int]] = []
            for k, pb in enumerate(starts):
                n_bars = min(size, bars - pb)
                a = (start_bar + pb) * bar
                b = a + n_bars * bar
                last = k == len(starts) - 1
                end_chord = _chord_at_tick(tl, b - 1)
                cadence = "tonic" if last and end_chord is not None and end_chord.root == key.tonic else "chord"
                # The arch of the rule-based writer: a little higher in the third phrase of four.
                index = len(phrases)
                phrases.append((a, b, cadence, centre + (2.0 if k % 4 == 2 else 0.0)))
                energies.append(energy)
                mine.append((a, b))
                if stored is not None and not last and k < len(stored) and _same_chords(tl, stored[k], (a, b)):
                    repeats[index] = (stored[k][0], b - a)  # the section returns: its phrase again
                elif k % 2 == 1 and n_bars == 4 and rng.random() < 0.5:
                    half = 2 * bar  # an answering phrase that opens like the one before (a period)
                    if _same_chords(tl, (mine[-2][0], mine[-2][0] + half), (a, a + half)):
                        repeats[index] = (mine[-2][0], half)
            if stored is None:
                memory[name] = mine
        events, rep = write_phrases(model, tl, phrases, rng, lo, hi, options, guard, repeats=repeats, index=guard_index)
        total.resampled += rep.resampled
        total.phrases += rep.phrases
        starts_arr = np.array([ph[0] for ph in phrases])
        for t, p, d in events:
            if p != REST:
                energy = energies[max(0, int(np.searchsorted(starts_arr, t, side="right")) - 1)]
                notes += events_to_notes(tl, [(t, p, d)], velocity=round(64 + 44 * energy))
    if guard:
        total.max_overlap = guard_index.longest_overlap(notes)
        if isinstance(guard_index, originality.CombinedIndex):
            total.overlaps = guard_index.overlaps(notes)
    if report is not None:
        report.max_overlap, report.resampled, report.phrases = total.max_overlap, total.resampled, total.phrases
        report.overlaps = total.overlaps
    return notes


def _chord_at_tick(tl: Timeline, tick: int) -> Chord | None:
    c = int(tl.chord_at(np.array([tick]))[0])
    return None if c < 0 else Chord(int(tl.chord_roots[c]), QUALITIES[int(tl.chord_qualities[c])])


def _same_chords(tl: Timeline, earlier: tuple[int, int], span: tuple[int, int]) -> bool:
    """Whether the chords under ``span`` have the roots of those under ``earlier``, beat for beat."""
    a0, b0 = earlier
    a1, b1 = span
    if b0 - a0 != b1 - a1:
        return False
    ticks = np.arange(0, b0 - a0, TICKS)
    c0, c1 = tl.chord_at(a0 + ticks), tl.chord_at(a1 + ticks)
    same_root = np.where(
        (c0 >= 0) & (c1 >= 0), tl.chord_roots[np.clip(c0, 0, None)] == tl.chord_roots[np.clip(c1, 0, None)], c0 == c1
    )
    return bool(np.all(same_root))
