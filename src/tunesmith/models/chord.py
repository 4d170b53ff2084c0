"""The chord model: the chord of each beat from the chords before it and the melody around it.

One recurrent network serves three uses, by what it is shown of the melody:

* **generate** (no melody): a progression, beat by beat;
* **harmonize** (the melody of the previous, current and next beat and of the
  bar): chords for a tune, decoded with a beam search over the whole song;
* **accompany live** (only the melody already played): the coming beat's chord,
  one step at a time, with its state carried (:meth:`ChordModel.start`,
  :meth:`ChordModel.step`).

Inputs per beat: the previous beat's chord (embedded), three 12-bin pitch-class
histograms of the melody (previous, current and next beat, and the whole bar;
duration-weighted, summing to 1, zero when unseen), four flags saying which of
them the model is shown, and the position of the beat in its bar. Output: a distribution over
121 chords (no chord, or one of 12 roots × 10 qualities; richer POP909 labels
fold into these: 9ths into 7ths, 6ths into triads, inversions dropped).

Trained by ``scripts/train_chord.py`` on POP909 songs 001–818, transposed to all
keys; the weights and their data card are in ``weights/``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from tunesmith.models import nn
from tunesmith.score.theory import Chord
from tunesmith.score.types import Note

#: Chord qualities the model knows, in token order.
QUALITIES: tuple[str, ...] = ("maj", "min", "7", "maj7", "min7", "dim", "hdim7", "aug", "sus2", "sus4")
#: Richer qualities folded into the model's: what the chord does, not its colour.
_FOLD = {
    "maj6": "maj",
    "add9": "maj",
    "min6": "min",
    "minmaj7": "min",
    "9": "7",
    "11": "7",
    "13": "7",
    "maj9": "maj7",
    "min9": "min7",
    "min11": "min7",
    "dim7": "dim",
    "7sus4": "sus4",
}
NO_CHORD = 0
N_TOKENS = 1 + 12 * len(QUALITIES)  #: output classes
BOS = N_TOKENS  #: input token before the first beat
BEAT_POSITIONS = 4  #: beat-in-bar one-hot size (beats past the 4th share the last slot)
N_FEATURES = 4 * 12 + 4 + BEAT_POSITIONS
#: How much of the melody the model is shown: (previous beat, current beat, next beat, whole bar).
HARMONIZE = (True, True, True, True)
LIVE = (True, False, False, False)
GENERATE = (False, False, False, False)
WEIGHTS = "chord.safetensors"


def chord_token(chord: Chord | None) -> int:
    """Token of a chord (its quality folded into :data:`QUALITIES`; the bass note dropped)."""
    if chord is None:
        return NO_CHORD
    quality = _FOLD.get(chord.quality, chord.quality)
    return 1 + chord.root * len(QUALITIES) + QUALITIES.index(quality)


def token_chord(token: int) -> Chord | None:
    """The chord a token stands for (None for no chord)."""
    if token == NO_CHORD:
        return None
    root, q = divmod(int(token) - 1, len(QUALITIES))
    return Chord(root, QUALITIES[q])


def transpose_tokens(tokens: np.ndarray, semitones: int) -> np.ndarray:
    """Tokens of the same chords ``semitones`` higher (no chord stays; :data:`BOS` too)."""
    t = np.asarray(tokens)
    chord = (t != NO_CHORD) & (t != BOS)
    root, q = np.divmod(t - 1, len(QUALITIES))
    return np.where(chord, 1 + ((root + semitones) % 12) * len(QUALITIES) + q, t)


@dataclass(frozen=True)
class BeatGrid:
    """Beats of a piece: where each starts and ends (in the score's beats) and its place in the bar."""

    starts: np.ndarray
    ends: np.ndarray
    in_bar: np.ndarray

    @classmethod
    def regular(cls, total_beats: float, beats_per_bar: int, first: float = 0.0) -> BeatGrid:
        """A steady grid of quarter-note beats from ``first`` covering ``total_beats``."""
        n = max(1, int(np.ceil(total_beats - first - 1e-9)))
        starts = first + np.arange(n, dtype=np.float64)
        return cls(starts, starts + 1.0, np.arange(n) % max(1, beats_per_bar))

    def __len__(self) -> int:
        return len(self.starts)


def melody_histograms(notes: Sequence[Note], grid: BeatGrid) -> np.ndarray:
    """``(beats, 12)`` pitch-class durations of ``notes`` within each beat, each row summing to 1 (or 0)."""
    hist = np.zeros((len(grid), 12))
    starts, ends = grid.starts, grid.ends
    for note in notes:
        a, b = note.start, note.start + note.duration
        lo = max(0, int(np.searchsorted(ends, a, side="right")))
        hi = int(np.searchsorted(starts, b, side="left"))
        for i in range(lo, min(hi, len(grid))):
            overlap = min(b, ends[i]) - max(a, starts[i])
            if overlap > 0:
                hist[i, note.pitch % 12] += overlap
    total = hist.sum(axis=1, keepdims=True)
    return np.divide(hist, total, out=np.zeros_like(hist), where=total > 0).astype(np.float32)


def beat_features(melody: np.ndarray, in_bar: np.ndarray, seen: tuple[bool, bool, bool, bool]) -> np.ndarray:
    """``(beats, N_FEATURES)`` model inputs besides the previous chord.

    Parameters
    ----------
    melody : numpy.ndarray
        ``(beats, 12)`` histograms from :func:`melody_histograms` (zeros where there is no melody).
    in_bar : numpy.ndarray
        Beat index within its bar, per beat (0 starts a bar).
    seen : tuple of bool
        Whether the model is shown the melody of the previous beat, the current beat, the next
        beat and the whole current bar (:data:`HARMONIZE`, :data:`LIVE`, :data:`GENERATE`).
    """
    n = len(melody)
    prev = np.zeros_like(melody)
    prev[1:] = melody[:-1]
    nxt = np.zeros_like(melody)
    nxt[:-1] = melody[1:]
    # The bar's melody: chords mostly last a bar or half, and a bar's notes name its chord best.
    bar_id = np.cumsum(np.asarray(in_bar) == 0)
    sums = np.zeros((int(bar_id.max()) + 1 if n else 1, 12))
    np.add.at(sums, bar_id, melody)
    totals = sums.sum(axis=1, keepdims=True)
    bar = np.divide(sums, totals, out=np.zeros_like(sums), where=totals > 0)[bar_id].astype(np.float32)
    parts = [m if s else np.zeros_like(m) for m, s in zip((prev, melody, nxt, bar), seen, strict=True)]
    flags = np.tile(np.array(seen, np.float32), (n, 1))
    pos = np.zeros((n, BEAT_POSITIONS), np.float32)
    pos[np.arange(n), np.minimum(np.asarray(in_bar, dtype=int), BEAT_POSITIONS - 1)] = 1.0
    return np.concatenate([*parts, flags, pos], axis=1).astype(np.float32)


class ChordModel:
    """The trained chord network (numpy inference).

    Parameters
    ----------
    path : str or Path, optional
        A ``.safetensors`` file written by ``scripts/train_chord.py``; the packaged weights by default.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        path = Path(path) if path else nn.weights_dir() / WEIGHTS
        w = nn.load_weights(path)
        self.meta = json.loads(nn.load_metadata(path).get("config", "{}"))
        self.embedding = w["embed.weight"]
        # log P(melody pitch class | chord), counted from the training songs: the noisy-channel
        # term of harmonizing (see :meth:`decode`).
        self.emission = w.get("emission")
        self.gru = nn.GRU(w, "gru")
        self.out = nn.Linear(w, "out")
        self.path = path
        self.adapter: Path | None = None  # a learned style's adapter file (see with_adapter)

    def with_adapter(self, path: str | Path) -> ChordModel:
        """This model with a learned style's adapter added to its output layer (a new model).

        The adapter (written by ``tunesmith learn``) holds ``out.weight_delta`` and
        ``out.bias_delta``, a correction of the output layer fitted on a musician's pieces with the
        network frozen; adding them to the layer's weights gives exactly the adapted logits.

        Raises
        ------
        InputFileError
            Unreadable adapter, or one fitted to other weights than these.
        """
        from tunesmith.errors import InputFileError

        w = nn.load_weights(path)
        if nn.load_metadata(path).get("base_sha256", "") != model_id(self.path)["sha256"]:
            raise InputFileError("the adapter was fitted to another chord model; learn the style again", path)
        adapted = object.__new__(ChordModel)
        adapted.__dict__.update(self.__dict__)
        out = object.__new__(nn.Linear)
        out.w_t = np.ascontiguousarray(self.out.w_t + w["out.weight_delta"].T)
        out.b = (self.out.b if self.out.b is not None else 0.0) + w["out.bias_delta"]
        adapted.out = out
        adapted.adapter = Path(path)
        return adapted

    # -- streaming ---------------------------------------------------------------------------
    def start(self, batch: int = 1) -> np.ndarray:
        """A fresh state for :meth:`step` (``(batch, hidden)``)."""
        return self.gru.initial(batch)

    def step(self, state: np.ndarray, previous: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Advance one beat: log-probabilities of this beat's chord ``(batch, N_TOKENS)`` and the new state.

        ``previous`` holds the previous beat's chord token per batch row (:data:`BOS` at the start);
        ``features`` is ``(batch, N_FEATURES)`` from :func:`beat_features`.
        """
        x = np.concatenate([self.embedding[np.asarray(previous)], features], axis=1)
        h = self.gru.step(self.gru.input_part(x), state)
        return nn.log_softmax(self.out(h)), h

    # -- whole sequences -----------------------------------------------------------------------
    def score_sequence(self, tokens: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Log-probabilities ``(beats, N_TOKENS)`` of each beat's chord given the true chords before it."""
        previous = np.concatenate([[BOS], np.asarray(tokens[:-1])])
        x = np.concatenate([self.embedding[previous], features], axis=1)[None]
        states, _ = self.gru.run(x)
        return nn.log_softmax(self.out(states[0]))

    def melody_loglik(self, features: np.ndarray) -> np.ndarray:
        """``(beats, N_TOKENS)``: mean log-probability of each beat's shown melody notes under each chord."""
        current = features[:, 12:24]  # the current beat's histogram (zeros when not shown)
        if self.emission is None:
            return np.zeros((len(features), N_TOKENS), np.float32)
        return current @ self.emission.T

    def decode(
        self,
        features: np.ndarray,
        beam: int = 8,
        change_penalty: float = 0.0,
        rng: np.random.Generator | None = None,
        temperature: float = 1.0,
        melody_weight: float = 0.0,
    ) -> np.ndarray:
        """Chord tokens for every beat.

        With ``rng`` None, a beam search for the most likely sequence; with ``rng``, one
        sequence sampled at ``temperature``. No-chord is never chosen.

        ``change_penalty`` (nats) is charged for each chord change, steadying (or, negative,
        quickening) the harmonic rhythm. ``melody_weight`` adds that many times the melody's
        log-likelihood under each chord (:meth:`melody_loglik`): a noisy-channel term. A network
        trained on the true previous chord leans on it and, running on its own guesses, keeps
        a wrong chord; the melody term pulls every beat back to what the tune says.
        """
        bonus = melody_weight * self.melody_loglik(features) if melody_weight else None
        n = len(features)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        if rng is not None:
            h, prev, out = self.start(), np.array([BOS]), np.empty(n, dtype=np.int64)
            for t in range(n):
                logp, h = self.step(h, prev, features[t : t + 1])
                if bonus is not None:
                    logp = logp + bonus[t]
                logits = logp[0] / max(temperature, 1e-3)
                logits[NO_CHORD] = -np.inf
                p = np.exp(logits - logits.max())
                out[t] = rng.choice(N_TOKENS, p=p / p.sum())
                prev = out[t : t + 1]
            return out
        h = self.start()
        prev = np.array([BOS])
        scores = np.zeros(1)
        history = np.zeros((1, 0), dtype=np.int64)
        for t in range(n):
            logp, h = self.step(h, prev, np.repeat(features[t : t + 1], len(prev), axis=0))
            if bonus is not None:
                logp += bonus[t]
            logp[:, NO_CHORD] = -np.inf
            if t > 0 and change_penalty:
                logp -= change_penalty
                logp[np.arange(len(prev)), prev] += change_penalty
            total = scores[:, None] + logp
            flat = np.argsort(total, axis=None)[::-1][:beam]
            rows, toks = np.divmod(flat, N_TOKENS)
            scores = total.reshape(-1)[flat]
            h = h[rows]
            history = np.concatenate([history[rows], toks[:, None]], axis=1)
            prev = toks
        return history[int(np.argmax(scores))]


def model_id(path: str | Path | None = None) -> dict[str, str]:
    """Identity of the chord model's weights, for recipes: ``{"id": ..., "sha256": ...}``."""
    import hashlib

    path = Path(path) if path else nn.weights_dir() / WEIGHTS
    return {"id": "chord-gru-pop909", "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


@lru_cache(maxsize=1)
def packaged_model() -> ChordModel:
    """The chord model shipped with tunesmith (loaded once per process)."""
    return ChordModel()


@lru_cache(maxsize=8)
def _adapted(path: str, stamp: float) -> ChordModel:
    return packaged_model().with_adapter(path)


def model_for_style(style: object) -> ChordModel:
    """The chord model used for a style: the packaged one, with the style's adapter (``[learned]
    chord_adapter`` of a style made by ``tunesmith learn``) when it has one."""
    path = (getattr(style, "learned", None) or {}).get("chord_adapter")
    if path is None:
        return packaged_model()
    return _adapted(str(path), Path(path).stat().st_mtime)


def style_model_ids(style: object) -> list[dict[str, str]]:
    """Recipe identities of the chord model used for ``style``: the weights, and its adapter if any."""
    import hashlib

    ids = [model_id()]
    path = (getattr(style, "learned", None) or {}).get("chord_adapter")
    if path is not None:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        ids.append({"id": f"chord-adapter:{getattr(style, 'name', '')}", "sha256": digest})
    return ids
