"""Four-part chorale harmonisation of a soprano line, in the style of Bach's chorales.

The model reads a soprano line on a grid of sixteenth notes ("frames") and writes alto,
tenor and bass. Each lower voice is a token per frame: ``HOLD`` (the note sounding in
the previous frame goes on), ``REST``, or the onset of a pitch inside the voice's range,
so a repeated note (a new onset of the same pitch) differs from a tie (``HOLD``).

Network (trained by ``scripts/train_chorale.py`` with PyTorch, run here on numpy through
:mod:`tunesmith.models.nn`):

* an encoder, a two-layer bidirectional LSTM over per-frame features of the soprano
  (pitch, onset, pitch class relative to the key's tonic, how long its note lasts), the key
  and the metre (position in the beat and in the bar), so every frame sees the whole tune;
* a decoder, a GRU stepping through the frames, fed the encoder's output and the three
  voices' tokens of the previous frame;
* three heads that factorise a frame's chord as p(bass) p(alto | bass) p(tenor | bass, alto).

Decoding is a beam search over frames in which choices that break the rules are removed
before the beam is pruned: every voice inside its range, no voice crossing (bass ≤ tenor ≤
alto ≤ soprano), no parallel fifths or octaves (or unisons) between any two of the four
voices, no leap wider than an octave; wide spacing between the upper voices and awkward
leaps (tritone, sevenths) cost a penalty. See :func:`harmonize_soprano`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from tunesmith.errors import InputFileError, UsageError
from tunesmith.models import nn
from tunesmith.score.theory import SCALES, Key
from tunesmith.score.types import Note, Track

#: Frames per quarter-note beat: the grid is sixteenth notes.
FRAMES_PER_BEAT = 4
#: The four voices, top down.
VOICES = ("soprano", "alto", "tenor", "bass")
#: The order in which the decoder chooses the lower voices at each frame: the bass (the
#: harmony's foundation) first, then the alto under the soprano, then the tenor between.
DECODE_ORDER = ("bass", "alto", "tenor")
#: Ranges (lowest, highest MIDI note) the lower voices are written in: the extremes Bach
#: wrote in the training chorales, F3–D5 alto, C3–A4 tenor, C2–E4 bass. (``score.theory``
#: has only a whole-choir range, E2–C6 for GM 52, not one per voice.)
RANGES: dict[str, tuple[int, int]] = {"alto": (53, 74), "tenor": (48, 69), "bass": (36, 64)}
#: Soprano pitches the features distinguish (lower/higher ones are clipped for the features
#: only; the constraints use the real pitch).
SOPRANO_RANGE = (55, 84)
#: Token ids shared by all voices; a pitch onset ``p`` is ``ONSET + p - lowest``.
HOLD, REST, ONSET = 0, 1, 2
#: Bump when the frame encoding or the features change (it keys the training caches).
ENCODING_VERSION = 1
#: Per-frame feature count (see :func:`features`).
N_FEATURES = (SOPRANO_RANGE[1] - SOPRANO_RANGE[0] + 1) + 1 + 1 + 12 + 12 + 1 + 4 + 6 + 1 + 2
WEIGHTS_NAME = "chorale.safetensors"

# Beam search: beams kept per frame and candidates tried per voice and beam.
BEAM = 8
_CANDIDATES = 4
# Penalties (nats) for what is allowed but unidiomatic, and for breaking a rule when a
# frame has no lawful option at all (then the least bad choice is taken, never nothing).
_SPACING_PENALTY = 1.5  # per semitone beyond an octave between soprano-alto or alto-tenor
_AWKWARD_LEAP_PENALTY = 2.0  # tritone, minor/major seventh
_RULE_PENALTY = 1000.0


# ---------------------------------------------------------------------------- data


@dataclass(frozen=True)
class ChoraleFrames:
    """A four-part piece on the sixteenth-note grid.

    Attributes
    ----------
    name : str
        Where it came from (file name).
    pitches : numpy.ndarray
        ``(4, frames)`` int16 MIDI notes, soprano first; -1 where the voice rests.
    onsets : numpy.ndarray
        ``(4, frames)`` bool: a note starts in this frame (False where it is held or resting).
    key : Key
        The key (major or minor).
    beats_per_bar : float
        Quarter-note beats per bar; frame 0 is on a bar line.
    """

    name: str
    pitches: np.ndarray
    onsets: np.ndarray
    key: Key
    beats_per_bar: float

    @property
    def frames(self) -> int:
        """Length in sixteenths."""
        return int(self.pitches.shape[1])

    def transpose(self, semitones: int) -> ChoraleFrames:
        """The same piece ``semitones`` higher (rests stay rests)."""
        p = np.where(self.pitches >= 0, self.pitches + semitones, -1).astype(np.int16)
        key = Key((self.key.tonic + semitones) % 12, self.key.mode)
        return ChoraleFrames(self.name, p, self.onsets.copy(), key, self.beats_per_bar)


def _two_modes(key: Key) -> Key:
    """Major or minor by the mode's third: the model knows only those two."""
    if key.mode in ("major", "minor"):
        return key
    return Key(key.tonic, "minor" if 3 in SCALES[key.mode] else "major")


def encode_score(score: object, name: str = "") -> ChoraleFrames | None:
    """A music21 score with exactly four parts (S, A, T, B, top down) on the sixteenth grid.

    Ties are merged (a tied note is one onset); a pickup bar is padded with rests so frame 0
    is on a bar line; onsets and ends are rounded to the nearest sixteenth (the few
    thirty-second ornaments collapse onto their neighbours). The key is music21's analysis
    of all four parts.

    Parameters
    ----------
    score : music21.stream.Score
        The parsed piece.
    name : str
        Label kept with the frames.

    Returns
    -------
    ChoraleFrames or None
        None when the piece does not have exactly four parts or has no notes.
    """
    parts = list(score.parts)  # type: ignore[attr-defined]
    if len(parts) != 4:
        return None
    measures = parts[0].getElementsByClass("Measure")
    first = measures.first() if measures else None
    pad = float(first.paddingLeft) if first is not None else 0.0
    sigs = score.recurse().getElementsByClass("TimeSignature")  # type: ignore[attr-defined]
    bar = float(sigs[0].barDuration.quarterLength) if len(sigs) else 4.0
    total = float(score.highestTime) + pad  # type: ignore[attr-defined]
    n = round(total * FRAMES_PER_BEAT)
    if n <= 0:
        return None
    pitches = np.full((4, n), -1, np.int16)
    onsets = np.zeros((4, n), bool)
    for v, part in enumerate(parts):
        for el in part.stripTies().flatten().notes:
            if el.duration.quarterLength <= 0:
                continue  # grace notes take no time
            midi = [p.midi for p in el.pitches]
            # A divided voice keeps its outer note: the top for soprano/alto, the bottom below.
            pitch = max(midi) if v < 2 else min(midi)
            start = round((float(el.offset) + pad) * FRAMES_PER_BEAT)
            end = round((float(el.offset) + float(el.duration.quarterLength) + pad) * FRAMES_PER_BEAT)
            if end <= start or start >= n:
                continue
            pitches[v, start:end] = pitch
            onsets[v, start] = True
    if not (pitches >= 0).any():
        return None
    k = score.analyze("key")  # type: ignore[attr-defined]
    key = Key(int(k.tonic.pitchClass), "minor" if k.mode == "minor" else "major")
    return ChoraleFrames(name, pitches, onsets, key, bar)


def load_chorale(path: str | os.PathLike[str]) -> ChoraleFrames | None:
    """Parse a file with music21 and encode it (:func:`encode_score`); None if not four parts."""
    from music21 import converter

    try:
        score = converter.parse(str(path))
    except Exception as exc:  # music21 raises many kinds of errors on bad files
        raise InputFileError(f"cannot read score: {exc}", path) from None
    return encode_score(score, Path(path).name)


def bach_paths(split: str) -> list[Path]:
    """music21's Bach corpus files of one split (the project's fixed split).

    The sorted list of ``music21.corpus.getComposer('bach')``: index ``i % 5 == 4`` is the
    held-out test split; of the rest, ``i % 10 == 8`` is the validation slice (early
    stopping) and everything else is training. Not every file is a four-part chorale;
    :func:`load_chorale` returns None for those.

    Parameters
    ----------
    split : str
        ``"train"``, ``"validation"`` or ``"test"``.
    """
    from music21 import corpus

    paths = sorted(Path(p) for p in corpus.getComposer("bach"))
    if split == "test":
        return [p for i, p in enumerate(paths) if i % 5 == 4]
    if split == "validation":
        return [p for i, p in enumerate(paths) if i % 5 != 4 and i % 10 == 8]
    if split == "train":
        return [p for i, p in enumerate(paths) if i % 5 != 4 and i % 10 != 8]
    raise ValueError(f"unknown split {split!r}")


def load_bach_split(
    split: str,
    cache_dir: str | os.PathLike[str] | None = None,
    workers: int = 2,
    progress: Callable[[str], object] | None = None,
) -> list[ChoraleFrames]:
    """The four-part pieces of one split of the Bach corpus, parsed in parallel and cached.

    Parsing takes music21 about 0.2 s a file, so the encoded pieces are pickled in
    ``cache_dir`` (keyed by split, :data:`ENCODING_VERSION` and music21's version).

    Parameters
    ----------
    split : str
        ``"train"``, ``"validation"`` or ``"test"`` (see :func:`bach_paths`).
    cache_dir : path, optional
        Folder for the cache; None parses every time.
    workers : int
        Parsing processes.
    progress : callable, optional
        Called with a line of text as files are parsed.
    """
    import pickle

    import music21

    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"{split}-v{ENCODING_VERSION}-music21-{music21.__version__}.pkl"
        if cache.is_file():
            with open(cache, "rb") as fh:
                return pickle.load(fh)
    paths = bach_paths(split)
    out: list[ChoraleFrames] = []
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            parsed = pool.map(load_chorale, paths, chunksize=4)
            for i, ch in enumerate(parsed):
                out.extend([ch] if ch is not None else [])
                if progress and (i + 1) % 50 == 0:
                    progress(f"parsed {i + 1}/{len(paths)} {split} files")
    else:
        for path in paths:
            ch = load_chorale(path)
            out.extend([ch] if ch is not None else [])
    if cache is not None:
        from tunesmith.atomic import atomic_path

        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp, open(tmp, "wb") as fh:
            pickle.dump(out, fh)
    return out


def transpositions(chorale: ChoraleFrames) -> list[int]:
    """Shifts (semitones, -6…+5: each key once) that keep every lower voice in its range.

    The soprano must stay inside :data:`SOPRANO_RANGE`. The shift 0 is always included.
    """
    out = []
    for shift in range(-6, 6):
        ok = True
        for v, (lo, hi) in enumerate([SOPRANO_RANGE, *(RANGES[name] for name in VOICES[1:])]):
            p = chorale.pitches[v][chorale.pitches[v] >= 0]
            if p.size and (p.min() + shift < lo or p.max() + shift > hi):
                ok = False
                break
        if ok or shift == 0:
            out.append(shift)
    return out


def vocab_size(voice: str) -> int:
    """Tokens of a lower voice: hold, rest and an onset per pitch of its range."""
    lo, hi = RANGES[voice]
    return ONSET + hi - lo + 1


def _fold(pitch: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Pitches moved by octaves into ``lo..hi`` (rests, -1, stay)."""
    p = pitch.astype(np.int32).copy()
    sounding = p >= 0
    while True:
        low = sounding & (p < lo)
        high = sounding & (p > hi)
        if not (low.any() or high.any()):
            return p
        p[low] += 12
        p[high] -= 12


def voice_tokens(pitches: np.ndarray, onsets: np.ndarray, voice: str) -> np.ndarray:
    """Tokens of one lower voice from its frames.

    Parameters
    ----------
    pitches, onsets : numpy.ndarray
        ``(frames,)`` MIDI notes (-1 rest) and onset flags of the voice.
    voice : str
        ``"alto"``, ``"tenor"`` or ``"bass"``; pitches outside its range are folded in by octaves.

    Returns
    -------
    numpy.ndarray
        ``(frames,)`` int64 tokens.
    """
    lo, hi = RANGES[voice]
    p = _fold(pitches, lo, hi)
    prev = np.concatenate([[-1], p[:-1]])
    tokens = ONSET + p - lo
    held = (~onsets) & (p == prev) & (p >= 0)
    tokens = np.where(held, HOLD, tokens)
    return np.where(p < 0, REST, tokens).astype(np.int64)


def pitch_index(pitches: np.ndarray, voice: str) -> np.ndarray:
    """Index into a voice's pitch embedding: 0 for a rest, ``1 + p - lowest`` otherwise."""
    lo, hi = RANGES[voice]
    p = _fold(pitches, lo, hi)
    return np.where(p < 0, 0, 1 + p - lo).astype(np.int64)


def features(soprano: np.ndarray, soprano_onsets: np.ndarray, key: Key, beats_per_bar: float) -> np.ndarray:
    """Per-frame input features of the encoder.

    Parameters
    ----------
    soprano : numpy.ndarray
        ``(frames,)`` MIDI notes of the soprano, -1 where it rests; frame 0 on a bar line.
    soprano_onsets : numpy.ndarray
        ``(frames,)`` bool, True where a soprano note starts.
    key : Key
        The key (modes other than major/minor count as the one with the same third).
    beats_per_bar : float
        Quarter-note beats per bar.

    Returns
    -------
    numpy.ndarray
        ``(frames, N_FEATURES)`` float32: soprano pitch one-hot (clipped to
        :data:`SOPRANO_RANGE`) and rest flag; onset flag; pitch class above the tonic; tonic;
        minor flag; sixteenth in the beat; beat in the bar (up to 6); triple-metre flag; the
        soprano note's length and what remains of it (sixteenths / 16, at most 1).
    """
    key = _two_modes(key)
    n = len(soprano)
    lo, hi = SOPRANO_RANGE
    x = np.zeros((n, N_FEATURES), np.float32)
    t = np.arange(n)
    sounding = soprano >= 0
    col = 0
    x[t[sounding], col + np.clip(soprano[sounding], lo, hi) - lo] = 1.0
    col += hi - lo + 1
    x[~sounding, col] = 1.0
    col += 1
    x[:, col] = soprano_onsets & sounding
    col += 1
    x[t[sounding], col + (soprano[sounding] - key.tonic) % 12] = 1.0
    col += 12
    x[:, col + key.tonic % 12] = 1.0
    col += 12
    x[:, col] = key.mode == "minor"
    col += 1
    bar_frames = max(1, round(beats_per_bar * FRAMES_PER_BEAT))
    pos = t % bar_frames
    x[t, col + pos % FRAMES_PER_BEAT] = 1.0
    col += FRAMES_PER_BEAT
    x[t, col + np.minimum(pos // FRAMES_PER_BEAT, 5)] = 1.0
    col += 6
    x[:, col] = round(beats_per_bar) % 3 == 0
    col += 1
    # Each soprano note's length and the frames left of it: long notes end phrases (cadences).
    starts = np.flatnonzero(soprano_onsets | np.concatenate([[True], soprano[1:] != soprano[:-1]]))
    bounds = np.append(starts, n)
    length = np.repeat(np.diff(bounds), np.diff(bounds))
    left = bounds[np.searchsorted(bounds, t, side="right")] - t
    x[:, col] = np.minimum(length / 16.0, 1.0) * sounding
    x[:, col + 1] = np.minimum(left / 16.0, 1.0) * sounding
    col += 2
    assert col == N_FEATURES
    return x


# -------------------------------------------------------------------------- metrics


def parallel_perfects(pitches: np.ndarray) -> int:
    """Parallel fifths, octaves and unisons between any two voices, counted per occurrence.

    Two voices make one when, from one frame to the next, both move the same way and their
    interval is a perfect fifth, or an octave/unison (compounds included), before and after.
    A voice that holds or re-strikes its note does not move; rests break the line.

    Parameters
    ----------
    pitches : numpy.ndarray
        ``(voices, frames)`` MIDI notes, -1 for rests.
    """
    p = pitches.astype(np.int32)
    count = 0
    for i in range(len(p)):
        for j in range(i + 1, len(p)):
            count += int(np.sum(_parallel(p[i, :-1], p[j, :-1], p[i, 1:], p[j, 1:])))
    return count


def _parallel(old_hi: np.ndarray, old_lo: np.ndarray, new_hi: np.ndarray, new_lo: np.ndarray) -> np.ndarray:
    """Elementwise: the pair moves in similar motion from a perfect fifth/octave to the same."""
    sounding = (old_hi >= 0) & (old_lo >= 0) & (new_hi >= 0) & (new_lo >= 0)
    same_way = (new_hi - old_hi) * (new_lo - old_lo) > 0
    before = (old_hi - old_lo) % 12
    return sounding & same_way & ((before == 0) | (before == 7)) & ((new_hi - new_lo) % 12 == before)


def crossings(pitches: np.ndarray) -> int:
    """Frames in which a lower voice sounds above the voice above it (``(4, frames)`` MIDI, -1 rests)."""
    p = pitches.astype(np.int32)
    crossed = np.zeros(p.shape[1], bool)
    for v in range(len(p) - 1):
        crossed |= (p[v] >= 0) & (p[v + 1] >= 0) & (p[v + 1] > p[v])
    return int(crossed.sum())


# ---------------------------------------------------------------------------- model


@dataclass(frozen=True)
class _Head:
    hidden: nn.Linear
    out: nn.Linear

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return nn.log_softmax(self.out(np.maximum(self.hidden(x), 0.0)))


class ChoraleModel:
    """The trained network, on numpy.

    Parameters
    ----------
    weights : dict of str to numpy.ndarray
        Tensors named as the PyTorch module in ``scripts/train_chorale.py`` names them.
    meta : dict
        The weights file's metadata (sizes, ranges, seed, training figures).
    """

    def __init__(self, weights: dict[str, np.ndarray], meta: dict[str, object]) -> None:
        self.meta = meta
        layers = 1 + max(int(k.split("_l")[1][0]) for k in weights if k.startswith("encoder.weight_ih_l"))
        self.encoder = [
            (nn.LSTM(weights, "encoder", layer), nn.LSTM(weights, "encoder", layer, reverse=True))
            for layer in range(layers)
        ]
        self.token_emb = {v: nn.Embedding(weights, f"token_{v}") for v in DECODE_ORDER}
        self.pitch_emb = {v: nn.Embedding(weights, f"pitch_{v}") for v in DECODE_ORDER}
        self.decoder = nn.GRU(weights, "decoder")
        self.heads = {
            v: _Head(nn.Linear(weights, f"head_{v}.0"), nn.Linear(weights, f"head_{v}.2")) for v in DECODE_ORDER
        }
        ctx = 2 * self.encoder[-1][0].hidden
        # The decoder's input is [context, states of the previous frame]; its context part is
        # computed once per piece, so each step multiplies only the small state part.
        self._w_ctx = self.decoder.w_ih_t[:ctx]
        self._w_state = np.ascontiguousarray(self.decoder.w_ih_t[ctx:])
        for v in DECODE_ORDER:
            if self.token_emb[v].weight.shape[0] != vocab_size(v):
                raise InputFileError(f"weights do not match the {v} range {RANGES[v]}", WEIGHTS_NAME)
        # Lookup tables for decoding. A voice's state embedding (token row + pitch row) enters
        # the decoder's input gates and the later heads' first layers only through linear
        # maps, so each row's image is computed once here and a search step adds table rows
        # instead of multiplying matrices.
        emb = self.token_emb[DECODE_ORDER[0]].weight.shape[1]
        hidden = self.decoder.hidden
        self._tables: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        for i, u in enumerate(DECODE_ORDER):
            w = self._w_state[i * emb : (i + 1) * emb]
            self._tables[("decoder", u)] = (self.token_emb[u].weight @ w, self.pitch_emb[u].weight @ w)
            for v in DECODE_ORDER[i + 1 :]:
                w = self.heads[v].hidden.w_t[hidden + i * emb : hidden + (i + 1) * emb]
                self._tables[(v, u)] = (self.token_emb[u].weight @ w, self.pitch_emb[u].weight @ w)
        # The heads' first layers on the decoder state, all three in one product.
        self._head_h = np.concatenate([self.heads[v].hidden.w_t[:hidden] for v in DECODE_ORDER], axis=1)
        self._head_b = np.concatenate([self.heads[v].hidden.b for v in DECODE_ORDER])
        self._head_width = self.heads[DECODE_ORDER[0]].hidden.w_t.shape[1]

    def _lookup(self, table: str, voice: str, tokens: np.ndarray, pitches: np.ndarray) -> np.ndarray:
        """A voice's state (``tokens`` and sounding ``pitches``, in range or -1) through a table."""
        tok, pitch = self._tables[(table, voice)]
        lo = RANGES[voice][0]
        return tok[tokens] + pitch[np.where(pitches < 0, 0, pitches - lo + 1)]

    def context(self, x: np.ndarray) -> np.ndarray:
        """Encoder output ``(frames, 2 * hidden)`` for features ``(frames, N_FEATURES)``."""
        h = x[None].astype(np.float32)
        for fwd, bwd in self.encoder:
            a, _ = fwd.run(h)
            b, _ = bwd.run(h, backwards=True)
            h = np.concatenate([a, b], axis=-1)
        return h[0]

    def state(self, voice: str, tokens: np.ndarray, pitches: np.ndarray) -> np.ndarray:
        """Embedding of a voice's frame: its token plus the pitch it sounds (-1: rest)."""
        return self.token_emb[voice](tokens) + self.pitch_emb[voice](pitch_index(pitches, voice))

    def decoder_inputs(self, ctx: np.ndarray) -> np.ndarray:
        """The context's part of the decoder GRU's input gates, ``(frames, 3 * hidden)``."""
        return ctx @ self._w_ctx + self.decoder.b_ih

    def log_likelihood(self, chorale: ChoraleFrames) -> np.ndarray:
        """Log-probability (nats) of the piece's alto, tenor and bass at each frame, given its soprano.

        Returns
        -------
        numpy.ndarray
            ``(frames,)``: log p(bass) + log p(alto | bass) + log p(tenor | bass, alto), each
            conditioned on all earlier frames (teacher forcing). Pitches outside a voice's
            range count as their octave inside it.
        """
        x = features(chorale.pitches[0], chorale.onsets[0], chorale.key, chorale.beats_per_bar)
        gi_ctx = self.decoder_inputs(self.context(x))
        toks, states = {}, {}
        for v in DECODE_ORDER:
            idx = VOICES.index(v)
            toks[v] = voice_tokens(chorale.pitches[idx], chorale.onsets[idx], v)
            states[v] = self.state(v, toks[v], chorale.pitches[idx])
        cur = np.concatenate([states[v] for v in DECODE_ORDER], axis=-1)
        prev = np.concatenate([self._start_state(1), cur[:-1]], axis=0)
        gi = gi_ctx + prev @ self._w_state
        h = self.decoder.initial(1)
        hs = np.empty((len(x), self.decoder.hidden), np.float32)
        for t in range(len(x)):
            h = self.decoder.step(gi[t : t + 1], h)
            hs[t] = h[0]
        total = np.zeros(len(x))
        given = [hs]
        for v in DECODE_ORDER:
            logp = self.heads[v](np.concatenate(given, axis=-1))
            total += logp[np.arange(len(x)), toks[v]]
            given.append(states[v])
        return total

    def _start_state(self, n: int) -> np.ndarray:
        """The "previous frame" before the first: every voice resting."""
        parts = [self.state(v, np.full(n, REST), np.full(n, -1)) for v in DECODE_ORDER]
        return np.concatenate(parts, axis=-1)


def weights_path() -> Path:
    """The shipped weights file."""
    return nn.weights_dir() / WEIGHTS_NAME


@cache
def load_model(path: str | None = None) -> ChoraleModel:
    """The chorale network from its ``.safetensors`` file (cached; the shipped one by default)."""
    from safetensors import safe_open

    p = Path(path) if path else weights_path()
    if not p.is_file():
        raise InputFileError("chorale model weights are missing (run scripts/train_chorale.py)", p)
    weights = nn.load_weights(p)
    with safe_open(str(p), "np") as fh:
        meta = json.loads((fh.metadata() or {}).get("chorale", "{}"))
    return ChoraleModel(weights, meta)


# ------------------------------------------------------------------------- decoding

# Cost of a leap by its size in semitones: nothing up to an octave except the tritone and
# sevenths (awkward to sing), a broken rule beyond the octave.
_LEAP_COST = np.zeros(128)
_LEAP_COST[[6, 10, 11]] = _AWKWARD_LEAP_PENALTY
_LEAP_COST[13:] = _RULE_PENALTY


@dataclass(frozen=True)
class _Voice:
    """What each token of a lower voice means, as arrays over its vocabulary."""

    name: str
    onset_pitch: np.ndarray  # (vocab,) pitch started by the token, -1 for hold and rest
    is_hold: np.ndarray  # (vocab,) bool
    is_onset: np.ndarray  # (vocab,) bool

    @classmethod
    def of(cls, name: str) -> _Voice:
        lo = RANGES[name][0]
        tokens = np.arange(vocab_size(name))
        onset_pitch = np.where(tokens >= ONSET, tokens - ONSET + lo, -1)
        return cls(name, onset_pitch, tokens == HOLD, tokens >= ONSET)

    def sounding(self, prev: np.ndarray) -> np.ndarray:
        """``(rows, vocab)`` pitch each token sounds after ``prev`` ``(rows, 1)`` (-1: rest)."""
        return np.where(self.is_hold, prev, self.onset_pitch)


def _rule_cost(
    voice: _Voice, prev: np.ndarray, new: np.ndarray, decided: list[tuple[str, np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Cost (nats) of each candidate token of one voice against the voices already chosen.

    Parameters
    ----------
    voice : _Voice
        The voice being chosen.
    prev, new : numpy.ndarray
        Its pitch in the previous frame ``(rows, 1)`` and each token's pitch ``(rows, vocab)``.
    decided : list
        ``(name, previous, new)`` pitches ``(rows, 1)`` of the voices chosen already.

    Broken rules (crossing, parallel fifths/octaves/unisons, a leap beyond the octave, a
    "hold" after a rest) cost :data:`_RULE_PENALTY` each, so the caller can forbid them
    outright while any lawful choice exists; wide spacing and awkward leaps cost a little.
    """
    sounding = new >= 0
    had = prev >= 0
    leap = np.where(voice.is_onset & had, np.abs(new - prev), 0)
    cost = _LEAP_COST[np.minimum(leap, 127)]
    cost[:, 0] += _RULE_PENALTY * ~had[:, 0]  # HOLD (token 0) after a rest holds nothing
    moved = new - prev
    rank = VOICES.index(voice.name)
    for name, old_o, new_o in decided:
        other = new_o >= 0
        # Interval upper minus lower, before and after.
        sign = 1 if VOICES.index(name) < rank else -1
        gap_new = sign * (new_o - new)
        cost += _RULE_PENALTY * (sounding & other & (gap_new < 0))  # crossing
        gap_old = sign * (old_o - prev)
        perfect = (old_o >= 0) & had & ((gap_old % 12 == 0) | (gap_old % 12 == 7))
        if perfect.any():
            similar = (moved * (new_o - old_o)) > 0
            cost += _RULE_PENALTY * (perfect & similar & sounding & other & (gap_new % 12 == gap_old % 12))
        if name == VOICES[rank - 1] and voice.name in ("alto", "tenor"):
            # Soprano-alto and alto-tenor stay within an octave in Bach's texture, mostly.
            cost += _SPACING_PENALTY * np.maximum(np.where(sounding & other, gap_new, 0) - 12, 0)
    return cost


def _top(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the ``k`` best finite entries of each row (ties: lower column)."""
    k = min(k, scores.shape[1])
    cols = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    rows = np.repeat(np.arange(len(scores)), k)
    cols = cols.reshape(-1)
    keep = np.isfinite(scores[rows, cols])
    return rows[keep], cols[keep]


def decode(
    model: ChoraleModel,
    soprano: np.ndarray,
    soprano_onsets: np.ndarray,
    key: Key,
    beats_per_bar: float,
    beam: int = BEAM,
    rng: np.random.Generator | None = None,
    temperature: float = 0.0,
) -> np.ndarray:
    """Alto, tenor and bass for a soprano on the frame grid, by constrained beam search.

    At every sixteenth each hypothesis is extended voice by voice (bass, alto, tenor); a
    voice's options that break a rule against the voices already fixed in this frame and in
    the previous one are dropped, the best few of the rest kept, and after the tenor the best
    ``beam`` hypotheses survive. Should no option obey every rule (rare: a soprano that
    leaps down onto a held alto), the frame is searched again with broken rules merely
    costly, so a harmonisation always comes out.

    Parameters
    ----------
    model : ChoraleModel
        The network.
    soprano, soprano_onsets : numpy.ndarray
        ``(frames,)`` MIDI notes (-1 rest) and onset flags; frame 0 on a bar line.
    key : Key
        The key.
    beats_per_bar : float
        Quarter-note beats per bar.
    beam : int
        Hypotheses kept per frame.
    rng : numpy.random.Generator, optional
        With ``temperature`` > 0, Gumbel noise of that scale perturbs every choice, so
        different generators give different (still lawful) harmonisations.
    temperature : float
        Scale of that noise, nats (0: the most likely harmonisation the beam finds).

    Returns
    -------
    numpy.ndarray
        ``(4, frames)`` int tokens: rows 1–3 alto, tenor, bass (row 0, the soprano, unused).
    """
    n = len(soprano)
    x = features(soprano, soprano_onsets, key, beats_per_bar)
    gi_ctx = model.decoder_inputs(model.context(x))
    voices = [_Voice.of(v) for v in DECODE_ORDER]
    noise = rng if rng is not None and temperature > 0 else None
    h = model.decoder.initial(1)
    # Per hypothesis: tokens and pitches of the previous frame (DECODE_ORDER), score.
    prev_tok = np.full((1, 3), REST)
    prev_pitch = np.full((1, 3), -1)
    score = np.zeros(1)
    history: list[tuple[np.ndarray, np.ndarray]] = []
    s_prev = -1
    for t in range(n):
        gi = gi_ctx[t][None] + sum(
            model._lookup("decoder", v.name, prev_tok[:, i], prev_pitch[:, i]) for i, v in enumerate(voices)
        )
        h = model.decoder.step(gi, h)
        sop = (s_prev, int(soprano[t]))
        found = None
        for hard in (True, False):
            found = _extend(model, voices, h, prev_pitch, sop, score, hard, beam, noise, temperature)
            if found is not None:
                break
        assert found is not None  # without hard rules every row keeps some option
        parent, prev_tok, prev_pitch, score = found
        h = h[parent]
        history.append((parent, prev_tok))
        s_prev = sop[1]
    # Follow the back-pointers from the best final hypothesis.
    out = np.zeros((4, n), np.int64)
    b = int(np.argmax(score))
    rows = [VOICES.index(v) for v in DECODE_ORDER]
    for t in range(n - 1, -1, -1):
        parent, tokens = history[t]
        out[rows, t] = tokens[b]
        b = int(parent[b])
    return out


def _extend(
    model: ChoraleModel,
    voices: list[_Voice],
    h: np.ndarray,
    prev_pitch: np.ndarray,
    sop: tuple[int, int],
    score: np.ndarray,
    hard: bool,
    beam: int,
    noise: np.random.Generator | None,
    temperature: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """One frame of the beam search.

    Returns the kept hypotheses' parents, tokens and pitches ``(beam, 3)`` in
    ``DECODE_ORDER`` and their scores; None when ``hard`` and nothing is lawful.
    """
    width = model._head_width
    first = h @ model._head_h + model._head_b  # every head's first layer, decoder-state part
    parent = np.arange(len(h))  # one entry per partial hypothesis ("row")
    acc = score
    tokens = np.zeros((len(h), 0), np.int64)
    pitches = np.zeros((len(h), 0), np.int64)
    for i, voice in enumerate(voices):
        pre = first[parent, i * width : (i + 1) * width]
        for j in range(i):
            pre = pre + model._lookup(voice.name, voices[j].name, tokens[:, j], pitches[:, j])
        logp = nn.log_softmax(model.heads[voice.name].out(np.maximum(pre, 0.0)))
        prev = prev_pitch[parent, i][:, None]
        new = voice.sounding(prev)
        rows_n = len(parent)
        decided = [("soprano", np.full((rows_n, 1), sop[0]), np.full((rows_n, 1), sop[1]))]
        decided += [(voices[j].name, prev_pitch[parent, j][:, None], pitches[:, j][:, None]) for j in range(i)]
        cost = _rule_cost(voice, prev, new, decided)
        total = acc[:, None] + logp - cost
        if hard:
            total[cost >= _RULE_PENALTY] = -np.inf
        if noise is not None:
            total = total + temperature * noise.gumbel(size=total.shape)
        rows, cols = _top(total, _CANDIDATES)
        if len(rows) == 0:
            return None
        acc = total[rows, cols]
        parent = parent[rows]
        tokens = np.concatenate([tokens[rows], cols[:, None]], axis=1)
        pitches = np.concatenate([pitches[rows], new[rows, cols][:, None]], axis=1)
    keep = np.argsort(-acc, kind="stable")[:beam]
    return parent[keep], tokens[keep], pitches[keep], acc[keep]


# ---------------------------------------------------------------------------- API


def soprano_frames(soprano: Sequence[Note], origin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The soprano on the sixteenth grid from ``origin`` (beats) to its last note-off.

    Onsets and ends round to the nearest sixteenth (a note shorter than that still gets
    one frame); where notes overlap, the later onset cuts the earlier note, and of notes
    starting together the highest is the soprano.

    Returns
    -------
    tuple of numpy.ndarray
        ``(frames,)`` MIDI notes (-1 rest) and onset flags.
    """
    notes = sorted(soprano, key=lambda nt: (nt.start, nt.pitch))
    spans = []
    for nt in notes:
        a = round((nt.start - origin) * FRAMES_PER_BEAT)
        spans.append((a, max(a + 1, round((nt.end - origin) * FRAMES_PER_BEAT)), nt.pitch))
    pitch = np.full(max(b for _, b, _ in spans), -1, np.int64)
    onset = np.zeros(len(pitch), bool)
    for i, (a, b, p) in enumerate(spans):
        # A note lasts until the next one starting later (or together, and higher).
        later = [a2 for a2, _, _ in spans[i + 1 :] if a2 > a]
        b = min([b, *later[:1]])
        if i + 1 < len(spans) and spans[i + 1][0] == a:
            continue  # a higher note starts here too: it is the soprano
        pitch[a:b] = p
        onset[a] = True
    end = int(np.flatnonzero(pitch >= 0)[-1]) + 1  # a note cut short leaves no tail of rests
    return pitch[:end], onset[:end]


def notes_from_tokens(tokens: np.ndarray, voice: str, origin: float = 0.0, velocity: int = 80) -> list[Note]:
    """Notes of one voice from its tokens (``origin``: beat of frame 0)."""
    lo = RANGES[voice][0]
    notes: list[Note] = []
    start, pitch = None, -1
    for t, tok in enumerate([*tokens.tolist(), REST]):
        if tok == HOLD and start is not None:
            continue
        if start is not None:
            notes.append(
                Note(origin + start / FRAMES_PER_BEAT, (t - start) / FRAMES_PER_BEAT, int(pitch), int(velocity))
            )
            start = None
        if tok >= ONSET:
            start, pitch = t, tok - ONSET + lo
    return notes


def _one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """BLAS on one thread: the search multiplies tiny matrices, which extra threads only slow down
    (tenfold on a machine whose cores are busy)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn (librosa)
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def harmonize_soprano(
    soprano: Sequence[Note],
    key: Key,
    beats_per_bar: float = 4.0,
    seed: int = 0,
    beam: int = BEAM,
) -> dict[str, list[Note]]:
    """Alto, tenor and bass under a soprano line, in the manner of Bach's chorales.

    Parameters
    ----------
    soprano : sequence of Note
        The tune (beats from the start of the score; bar lines at multiples of
        ``beats_per_bar``). Monophonic; where notes overlap the later onset wins. Its notes
        must lie between F3 (MIDI 53) and C6 (84) so that three voices fit below it.
    key : Key
        The key; modes other than major and minor are read as the one with the same third.
    beats_per_bar : float
        Quarter-note beats per bar (4 for 4/4, 3 for 3/4, 6 for 3/2).
    seed : int
        0 gives the most likely harmonisation the search finds; any other seed a variant
        (choices perturbed by seeded Gumbel noise). The same seed always gives the same notes.
    beam : int
        Hypotheses kept per sixteenth (more: slower, rarely better).

    Returns
    -------
    dict of str to list of Note
        ``soprano`` (the input notes, sorted, unchanged), ``alto``, ``tenor``, ``bass``; the
        lower voices on the sixteenth grid, each note with the velocity of the soprano note
        sounding at its onset.

    Raises
    ------
    UsageError
        For an empty soprano, a soprano note outside F3–C6, or a bar length that is not positive.
    """
    notes = sorted(soprano)
    if not notes:
        raise UsageError("the soprano has no notes to harmonise")
    if not beats_per_bar > 0:
        raise UsageError(f"beats per bar must be positive, got {beats_per_bar}")
    lowest = RANGES["alto"][0]
    bad = [nt.pitch for nt in notes if not lowest <= nt.pitch <= SOPRANO_RANGE[1]]
    if bad:
        raise UsageError(
            f"the soprano must lie between MIDI {lowest} and {SOPRANO_RANGE[1]} for a chorale "
            f"(got {min(bad)}..{max(bad)}); move it by an octave"
        )
    # Start on the bar line before the first note so the metre features line up.
    origin = math.floor(notes[0].start / beats_per_bar + 1e-9) * beats_per_bar
    pitch, onset = soprano_frames(notes, origin)
    model = load_model()
    rng = np.random.default_rng(seed) if seed else None
    with _one_blas_thread():
        tokens = decode(model, pitch, onset, key, beats_per_bar, beam=beam, rng=rng, temperature=0.7 if seed else 0.0)
    out: dict[str, list[Note]] = {"soprano": notes}
    vel = np.full(len(pitch), 80, np.int64)
    for nt in notes:  # later notes overwrite earlier ones, as in soprano_frames
        a = round((nt.start - origin) * FRAMES_PER_BEAT)
        vel[a:] = nt.velocity
    for v in VOICES[1:]:
        voice_notes = notes_from_tokens(tokens[VOICES.index(v)], v, origin)
        out[v] = [
            Note(
                nt.start,
                nt.duration,
                nt.pitch,
                int(vel[min(len(vel) - 1, round((nt.start - origin) * FRAMES_PER_BEAT))]),
            )
            for nt in voice_notes
        ]
    return out


def chorale_tracks(voices: dict[str, list[Note]], program: int = 52) -> tuple[Track, ...]:
    """The four voices as tracks (GM 52, choir aahs): soprano as the melody, the rest as voices."""
    return tuple(
        Track(name, tuple(voices[name]), program=program, role="melody" if name == "soprano" else "voice")
        for name in VOICES
    )


def frames_from_voices(voices: dict[str, list[Note]], origin: float, frames: int) -> np.ndarray:
    """``(4, frames)`` sounding MIDI notes (-1 rest) of four voices, for the metrics."""
    out = np.full((4, frames), -1, np.int64)
    for v, name in enumerate(VOICES):
        for nt in sorted(voices.get(name, [])):
            a = round((nt.start - origin) * FRAMES_PER_BEAT)
            b = max(a + 1, round((nt.end - origin) * FRAMES_PER_BEAT))
            out[v, max(a, 0) : max(min(b, frames), 0)] = nt.pitch
    return out
