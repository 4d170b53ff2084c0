"""Light fine-tuning of the melody and chord models on a musician's pieces, in numpy.

The networks stay frozen. Their hidden states are computed once over the folder's
tunes (the melody model's GRU state before each event, the chord model's before each
beat), and only a correction of the output layers is fitted — a full weight delta and
bias per head, pulled towards zero by an L2 penalty — by Adam steps on the cross-entropy
of what the musician actually wrote next. A held-out slice of the folder (every fifth
tune) is scored after every step; the delta with the lowest held-out NLL is kept, and
fitting stops once that has not improved for :data:`PATIENCE` steps (early stopping). A
delta that never beats the untouched model stays zero. Adding the delta to the layer's
weights gives the adapted model exactly (:meth:`tunesmith.models.melody.MelodyModel.with_adapter`),
so no torch is needed here or at run time.

The melody model also has a style tag input (``pop``, ``song``, ``dance``); the tag under
which the untouched model finds the folder's tunes most likely is the style's tag.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tunesmith.learn.piece import Piece
from tunesmith.models import nn

PATIENCE = 20  #: Adam steps without a better held-out NLL before fitting stops
MAX_STEPS = 250  #: at most this many steps per head
LEARNING_RATE = 0.003
L2 = 1e-3  #: penalty per squared weight of the delta (nats)
MAX_ROWS = 60_000  #: training rows per head at most (events or beats), for time and memory
BATCH = 8192  #: rows per step when there are more


@dataclass
class HeadFit:
    """How fitting one output layer went.

    Attributes
    ----------
    head : str
        ``pitch``, ``duration`` or ``chord``.
    train_rows, valid_rows : int
        Events (or beats) fitted on and held out.
    valid_nll_before, valid_nll_after : float
        Mean held-out NLL (nats) of the untouched and the adapted model.
    train_nll_before, train_nll_after : float
        The same on the training rows.
    steps, best_step : int
        Steps taken, and the step whose delta was kept (0 = none helped).
    """

    head: str
    train_rows: int
    valid_rows: int
    valid_nll_before: float
    valid_nll_after: float
    train_nll_before: float
    train_nll_after: float
    steps: int
    best_step: int


@dataclass
class AdapterReport:
    """What fine-tuning did, for the style card."""

    melody_tag: str = ""
    tag_nll: dict[str, float] = field(default_factory=dict)
    heads: list[HeadFit] = field(default_factory=list)
    train_tunes: int = 0
    valid_tunes: int = 0
    skipped: str = ""
    #: How ``[melody] repeat_penalty`` was set (:class:`tunesmith.learn.calibrate.RepeatCalibration`).
    repeat_calibration: dict = field(default_factory=dict)
    #: Per metre, how ``[melody] duration_bias`` was fitted (:func:`tunesmith.learn.calibrate.calibrate_durations`).
    duration_calibration: dict = field(default_factory=dict)
    #: How ``[melody] interval_bias`` was fitted (:func:`tunesmith.learn.calibrate.calibrate_intervals`).
    interval_calibration: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def _nll(logits: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(nn.log_softmax(logits)[np.arange(len(y)), y]))


def fit_delta(
    x: np.ndarray,
    base: np.ndarray,
    y: np.ndarray,
    x_valid: np.ndarray,
    base_valid: np.ndarray,
    y_valid: np.ndarray,
    head: str,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, HeadFit]:
    """Fit ``delta_w (in, out)``, ``delta_b (out,)`` so that ``softmax(base + x @ delta_w + delta_b)`` predicts ``y``.

    Parameters
    ----------
    x, x_valid : numpy.ndarray
        ``(rows, in)`` inputs of the output layer (hidden states), training and held out.
    base, base_valid : numpy.ndarray
        ``(rows, out)`` the untouched layer's logits.
    y, y_valid : numpy.ndarray
        Target classes.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, HeadFit)
        The delta with the lowest held-out NLL (zeros if none beat the untouched layer).
    """
    rng = np.random.default_rng(seed)
    n_in, n_out = x.shape[1], base.shape[1]
    w = np.zeros((n_in, n_out), np.float32)
    b = np.zeros(n_out, np.float32)
    m_w, v_w, m_b, v_b = np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)
    before = _nll(base_valid, y_valid)
    best = (before, 0, w.copy(), b.copy())
    step = 0
    for step in range(1, MAX_STEPS + 1):
        rows = rng.choice(len(x), BATCH, replace=False) if len(x) > BATCH else slice(None)
        xb, yb = x[rows], y[rows]
        p = nn.softmax(base[rows] + xb @ w + b)
        p[np.arange(len(yb)), yb] -= 1.0
        p /= len(yb)
        g_w = xb.T @ p + 2.0 * L2 * w
        g_b = p.sum(axis=0)
        for g, m, v, param in ((g_w, m_w, v_w, w), (g_b, m_b, v_b, b)):
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            param -= LEARNING_RATE * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
        valid = _nll(base_valid + x_valid @ w + b, y_valid)
        if valid < best[0] - 1e-5:
            best = (valid, step, w.copy(), b.copy())
        elif step - best[1] >= PATIENCE:
            break
    _, best_step, w_best, b_best = best
    fit = HeadFit(
        head,
        len(x),
        len(x_valid),
        round(before, 4),
        round(best[0], 4),
        round(_nll(base, y), 4),
        round(_nll(base + x @ w_best + b_best, y), 4),
        step,
        best_step,
    )
    return w_best, b_best, fit


# ---------------------------------------------------------------------------------------------- melody
def piece_tune(piece: Piece, split: str = "train") -> object:
    """A piece as a melody-corpus :class:`~tunesmith.models.melody_data.Tune` (its melody, bars, chords, key)."""
    from tunesmith.models.melody_data import Tune, key_row

    bar = piece.bar_beats
    bars = np.array([[i * bar, bar, piece.numerator, piece.denominator] for i in range(piece.bars)], dtype=np.float64)
    tonic, minor = key_row(piece.key)
    return Tune(
        piece.source,
        "song",
        split,
        piece.melody,
        bars,
        piece.pickup,
        piece.chords,
        np.array([[0.0, tonic, minor]], dtype=np.float64),
    )


def _grid(notes: np.ndarray) -> int:
    """1 (twelfths of a beat) for notes written on the grid, 3 (sixteenths) for played ones."""
    if len(notes) == 0:
        return 1
    off = np.abs(notes[:, 0] * 12 - np.round(notes[:, 0] * 12))
    return 1 if np.mean(off < 0.12) >= 0.9 else 3


def melody_events(tunes: list) -> list:
    """Event runs of tunes (:func:`tunesmith.models.melody.events_from_notes`), each on its own grid."""
    from tunesmith.models.melody import events_from_notes, timeline_of_tune

    runs = []
    for t in tunes:
        runs += [r for r in events_from_notes(t.notes, timeline_of_tune(t), t.source, _grid(t.notes)) if len(r) >= 2]
    return runs


def melody_states(model: object, runs: list, tag: int, batch: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The melody model's last GRU state before each event of ``runs`` (tag input set to ``tag``).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        ``(events, hidden)`` states, and the events' pitch and duration tokens.
    """
    from tunesmith.models.melody import _OFFSETS, BOS_DUR, BOS_PITCH, TAGS

    order = sorted(range(len(runs)), key=lambda i: len(runs[i]))
    states, pitch, dur = [], [], []
    for k in range(0, len(order), batch):
        group = [runs[i] for i in order[k : k + batch]]
        t_max = max(len(r) for r in group)
        n_feat = group[0].features.shape[1]
        prev_p = np.full((len(group), t_max), BOS_PITCH, np.int64)
        prev_d = np.full((len(group), t_max), BOS_DUR, np.int64)
        feats = np.zeros((len(group), t_max, n_feat), np.float32)
        for j, r in enumerate(group):
            n = len(r)
            prev_p[j, 1:n] = r.pitch[:-1]
            prev_d[j, 1:n] = r.dur[:-1]
            feats[j, :n] = r.features
        feats[:, :, _OFFSETS["tag"] : _OFFSETS["tag"] + len(TAGS)] = 0.0
        feats[:, :, _OFFSETS["tag"] + tag] = 1.0
        x = model._input(prev_p, prev_d, feats)
        for g in model.layers:
            x, _ = g.run(x)
        for j, r in enumerate(group):
            states.append(x[j, : len(r)])
            pitch.append(r.pitch)
            dur.append(r.dur)
    return np.concatenate(states), np.concatenate(pitch).astype(np.int64), np.concatenate(dur).astype(np.int64)


def _duration_inputs(model: object, h: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """The duration head's input (the ReLU layer on the state and the chosen pitch)."""
    return np.maximum(model.dur_hidden(np.concatenate([h, model.embed_choice[pitch]], axis=-1)), 0.0)


def _cap(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, MAX_ROWS, replace=False)) if n > MAX_ROWS else np.arange(n)


def fit_melody_adapter(
    train: list[Piece], valid: list[Piece], out: Path, seed: int = 0
) -> tuple[str, dict[str, float], list[HeadFit]]:
    """Choose the melody model's tag for the pieces and fit its pitch and duration heads' adapter.

    Writes the adapter to ``out`` (safetensors, atomically).

    Returns
    -------
    (str, dict, list of HeadFit)
        The tag, the untouched model's held-out NLL per tag, and how each head's fit went.
    """
    from tunesmith.models.melody import TAGS, model_id, packaged_model

    model = packaged_model()
    rng = np.random.default_rng(seed)
    train_runs = melody_events([piece_tune(p) for p in train])
    valid_runs = melody_events([piece_tune(p, "valid") for p in valid])
    if not train_runs or not valid_runs:
        raise ValueError("too few melody notes to fine-tune on")
    # The tag: the style the untouched model hears these tunes as (judged on the held-out slice).
    tag_nll = {}
    for i, tag in enumerate(TAGS):
        h, p, d = melody_states(model, valid_runs, i)
        z = _duration_inputs(model, h, p)
        tag_nll[tag] = round(_nll(model.pitch_head(h), p) + _nll(model.dur_head(z), d), 4)
    tag = min(tag_nll, key=lambda k: tag_nll[k])
    t = TAGS.index(tag)
    h_v, p_v, d_v = melody_states(model, valid_runs, t)
    h_t, p_t, d_t = melody_states(model, train_runs, t)
    keep = _cap(len(h_t), rng)
    h_t, p_t, d_t = h_t[keep], p_t[keep], d_t[keep]
    w_p, b_p, fit_p = fit_delta(h_t, model.pitch_head(h_t), p_t, h_v, model.pitch_head(h_v), p_v, "pitch", seed)
    z_t, z_v = _duration_inputs(model, h_t, p_t), _duration_inputs(model, h_v, p_v)
    w_d, b_d, fit_d = fit_delta(z_t, model.dur_head(z_t), d_t, z_v, model.dur_head(z_v), d_v, "duration", seed)
    tensors = {
        "pitch_head.weight_delta": w_p.T,
        "pitch_head.bias_delta": b_p,
        "dur_head.weight_delta": w_d.T,
        "dur_head.bias_delta": b_d,
    }
    config = {"tag": tag, "l2": L2, "lr": LEARNING_RATE, "patience": PATIENCE, "heads": [asdict(fit_p), asdict(fit_d)]}
    save_adapter(out, tensors, model_id()["sha256"], config)
    return tag, tag_nll, [fit_p, fit_d]


# ---------------------------------------------------------------------------------------------- chords
def _chord_sequences(pieces: list[Piece], rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per piece (and one random transposition of it): beat features (harmonize and live views) and chord tokens."""
    from tunesmith.learn.piece import chord_of
    from tunesmith.models.chord import (
        HARMONIZE,
        LIVE,
        NO_CHORD,
        BeatGrid,
        beat_features,
        chord_token,
        melody_histograms,
        transpose_tokens,
    )
    from tunesmith.score.types import Note

    out = []
    for p in pieces:
        if not len(p.chords) or not len(p.melody):
            continue
        grid = BeatGrid.regular(p.bars * p.bar_beats, max(1, round(p.bar_beats)))
        notes = [Note(on, du, int(pi)) for on, du, pi in p.melody]
        hist = melody_histograms(notes, grid)
        mid = grid.starts + 0.5
        idx = np.searchsorted(p.chords[:, 0], mid, side="right") - 1
        inside = (idx >= 0) & (mid < p.chords[np.clip(idx, 0, None), 1])
        tokens = np.array(
            [chord_token(chord_of(p.chords[i])) if ok else NO_CHORD for i, ok in zip(idx, inside, strict=True)]
        )
        for shift in (0, int(rng.integers(1, 12))):
            h = np.roll(hist, shift, axis=1)
            toks = transpose_tokens(tokens, shift)
            for seen in (HARMONIZE, LIVE):
                out.append((beat_features(h, grid.in_bar, seen), toks))
    return out


def chord_states(model: object, seqs: list[tuple[np.ndarray, np.ndarray]], batch: int = 32) -> tuple:
    """The chord model's state at each beat (previous chord given, teacher forcing) and the beat's chord."""
    from tunesmith.models.chord import BOS, NO_CHORD

    states, targets = [], []
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i][1]))
    for k in range(0, len(order), batch):
        group = [seqs[i] for i in order[k : k + batch]]
        t_max = max(len(t) for _, t in group)
        prev = np.full((len(group), t_max), BOS, np.int64)
        feats = np.zeros((len(group), t_max, group[0][0].shape[1]), np.float32)
        for j, (f, t) in enumerate(group):
            prev[j, 1 : len(t)] = t[:-1]
            feats[j, : len(t)] = f
        x = np.concatenate([model.embedding[prev], feats], axis=2)
        h, _ = model.gru.run(x)
        for j, (_, t) in enumerate(group):
            keep = t != NO_CHORD
            states.append(h[j, : len(t)][keep])
            targets.append(t[keep])
    return np.concatenate(states), np.concatenate(targets).astype(np.int64)


def fit_chord_adapter(train: list[Piece], valid: list[Piece], out: Path, seed: int = 0) -> HeadFit:
    """Fit the chord model's output-layer adapter on the pieces' chords and melodies; writes it to ``out``."""
    from tunesmith.models.chord import model_id, packaged_model

    model = packaged_model()
    rng = np.random.default_rng(seed)
    seqs_t, seqs_v = _chord_sequences(train, rng), _chord_sequences(valid, rng)
    if not seqs_t or not seqs_v:
        raise ValueError("too few chords to fine-tune on")
    h_t, y_t = chord_states(model, seqs_t)
    h_v, y_v = chord_states(model, seqs_v)
    keep = _cap(len(h_t), rng)
    h_t, y_t = h_t[keep], y_t[keep]
    w, b, fit = fit_delta(h_t, model.out(h_t), y_t, h_v, model.out(h_v), y_v, "chord", seed)
    config = {"l2": L2, "lr": LEARNING_RATE, "patience": PATIENCE, "heads": [asdict(fit)]}
    save_adapter(out, {"out.weight_delta": w.T, "out.bias_delta": b}, model_id()["sha256"], config)
    return fit


def save_adapter(path: Path, tensors: dict[str, np.ndarray], base_sha256: str, config: dict) -> None:
    """Write an adapter as ``.safetensors`` (atomically), naming the weights it was fitted to."""
    from safetensors.numpy import save_file

    from tunesmith.atomic import atomic_path

    data = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(data, os.fspath(tmp), metadata={"base_sha256": base_sha256, "config": json.dumps(config)})
