"""The chord model, its n-gram baseline and ``tunesmith harmonize``."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from tunesmith.compose import ComposeOptions, compose, write_song
from tunesmith.models.chord import (
    BOS,
    LIVE,
    N_TOKENS,
    NO_CHORD,
    QUALITIES,
    BeatGrid,
    ChordModel,
    beat_features,
    chord_token,
    melody_histograms,
    token_chord,
    transpose_tokens,
)
from tunesmith.models.ngram import KneserNey
from tunesmith.score.theory import Chord, parse_chord
from tunesmith.score.types import Note


def test_every_token_round_trips_and_transposes_like_its_chord() -> None:
    for token in range(1, N_TOKENS):
        chord = token_chord(token)
        assert chord_token(chord) == token
        for k in (1, 5, 11):
            assert token_chord(int(transpose_tokens(np.array([token]), k)[0])) == chord.transpose(k)
    assert token_chord(NO_CHORD) is None and chord_token(None) == NO_CHORD
    assert transpose_tokens(np.array([BOS, NO_CHORD]), 3).tolist() == [BOS, NO_CHORD]


@pytest.mark.parametrize(("label", "folded"), [("C:maj6", "maj"), ("A:min9", "min7"), ("G:9", "7"), ("B:dim7", "dim")])
def test_rich_labels_fold_into_the_vocabulary(label: str, folded: str) -> None:
    assert token_chord(chord_token(parse_chord(label))).quality == folded
    assert folded in QUALITIES


def test_melody_histograms_weigh_notes_by_their_time_in_each_beat() -> None:
    grid = BeatGrid.regular(4.0, 4)
    hist = melody_histograms([Note(0.0, 1.5, 60), Note(1.5, 0.5, 64), Note(3.0, 1.0, 67)], grid)
    assert np.allclose(hist[0, 0], 1.0)
    assert np.allclose(hist[1, [0, 4]], [0.5, 0.5])
    assert hist[2].sum() == 0.0 and np.allclose(hist[3, 7], 1.0)


def test_packaged_weights_load_fast_and_streaming_equals_whole_sequence(rng: np.random.Generator) -> None:
    t0 = time.perf_counter()
    model = ChordModel()
    assert time.perf_counter() - t0 < 1.0
    n = 24
    hist = rng.dirichlet(np.ones(12), size=n).astype(np.float32)
    feats = beat_features(hist, np.arange(n) % 4, LIVE)
    tokens = rng.integers(1, N_TOKENS, size=n)
    whole = model.score_sequence(tokens, feats)
    h, prev = model.start(), np.array([BOS])
    for t in range(n):
        logp, h = model.step(h, prev, feats[t : t + 1])
        assert np.allclose(logp[0], whole[t], atol=1e-4)
        prev = tokens[t : t + 1]
    assert np.allclose(np.exp(whole).sum(axis=1), 1.0, atol=1e-4)


def _chord_tone_rate(notes: list[Note], chords: list) -> float:
    hits = total = 0.0
    for n in notes:
        c = next((c for c in chords if c.start <= n.start < c.end), None)
        if c is None or c.chord is None:
            continue
        total += n.duration
        hits += n.duration * (n.pitch % 12 in c.chord.pitch_classes)
    return hits / total


def test_harmonized_chords_fit_the_melody_far_better_than_chance(tmp_path) -> None:
    from tunesmith.compose.harmonize import harmonize

    rates, shifted = [], []
    for seed in (1, 2, 3):
        song = compose(ComposeOptions(style="folk", bars=16, seed=seed))
        write_song(song, tmp_path / str(seed), leadsheet=False)
        result = harmonize(tmp_path / str(seed) / "song.mid", "pop", chords_only=True)
        tune = list(result.score.track("melody").notes)
        rates.append(_chord_tone_rate(tune, result.chords))
        # The same chords a tritone away: what chords unrelated to the tune would score.
        moved = [type(c)(c.start, c.duration, c.chord.transpose(6) if c.chord else None) for c in result.chords]
        shifted.append(_chord_tone_rate(tune, moved))
        assert all(c.chord is not None for c in result.chords)
        assert result.score.track("melody").notes == tuple(sorted(tune, key=lambda n: n.start))
    assert np.mean(rates) >= 0.6, rates
    assert np.mean(rates) >= np.mean(shifted) + 0.3, (rates, shifted)


def test_kneser_ney_distributions_are_proper_and_learn_context() -> None:
    # Second-order data: after (a, b) comes c, after (d, b) comes e.
    seqs = [[0, 1, 2], [3, 1, 4]] * 20
    tri, bi = KneserNey(3, 6).fit(seqs), KneserNey(2, 6).fit(seqs)
    for model in (tri, bi):
        for ctx in ([], [0], [0, 1], [5, 5]):
            assert np.isclose(model.distribution(ctx).sum(), 1.0)
            assert np.all(model.distribution(ctx) > 0)
    assert np.argmax(tri.distribution([0, 1])) == 2 and np.argmax(tri.distribution([3, 1])) == 4
    assert tri.distribution([0, 1])[2] > bi.distribution([1])[2]


def test_harmonize_cli_writes_labelled_midi_and_musicxml_and_refuses_bad_input(tmp_path) -> None:
    song = compose(ComposeOptions(style="pop", bars=8, seed=5))
    write_song(song, tmp_path / "src")
    src = tmp_path / "src" / "leadsheet.musicxml"
    out = tmp_path / "out" / "harm.mid"
    cmd = [sys.executable, "-m", "tunesmith.cli", "harmonize", str(src), "-o", str(out), "--style", "jazz", "--json"]
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["chords"] and all(c["chord"].endswith(("7", "m7b5", "maj7")) for c in doc["chords"])
    assert out.exists() and out.with_suffix(".musicxml").exists()
    assert (out.parent / "harm.mid.recipe.json").exists()
    import mido

    texts = [m.text for t in mido.MidiFile(out).tracks for m in t if m.type == "copyright"]
    assert texts and "AI-generated" in texts[0]
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not midi")
    run = subprocess.run([*cmd[:4], str(bad), "-o", str(tmp_path / "x.mid")], capture_output=True, text=True)
    assert run.returncode == 1 and "bad.mid" in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.mid").exists()
    run = subprocess.run([*cmd[:4], str(src), "-o", str(src.with_suffix(".mid"))], capture_output=True, text=True)
    assert run.returncode != 0


def test_chord_of_every_quality_is_a_real_chord() -> None:
    for q in QUALITIES:
        assert len(Chord(0, q).pitch_classes) >= 3
