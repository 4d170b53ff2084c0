"""Property tests (hypothesis) on the pure core: meter, limiter, MIDI round trip, chords, history import.

Each property is a claim the rest of tunesmith relies on, checked on generated inputs rather than on
a few hand-picked ones. Example counts are kept small so the file runs in well under a minute on a
busy 2-core machine; ``HYPOTHESIS_PROFILE=long`` runs each property ten times as often.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tunesmith.audio import Audio
from tunesmith.audio.meter import measure_loudness, true_peak
from tunesmith.score.theory import Chord
from tunesmith.score.types import Note, Score, Track

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
    derandomize=True,  # CI sees the same examples every run; the long profile explores
)
settings.register_profile(
    "long", deadline=None, max_examples=250, suppress_health_check=[HealthCheck.too_slow], database=None
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

RATES = (8000, 22050, 44100, 48000, 96000)


def _examples(n: int) -> int:
    """``n`` examples in CI, ten times more under the ``long`` profile."""
    return n * 10 if os.environ.get("HYPOTHESIS_PROFILE") == "long" else n


# ------------------------------------------------------------------------------------- signals
@st.composite
def signals(draw: st.DrawFn, min_seconds: float = 0.5, max_seconds: float = 1.5, channels: int | None = None) -> Audio:
    """Music-like and hostile test signals: tones, full-scale squares, impulses, DC, noise bursts, mixes."""
    rate = draw(st.sampled_from(RATES))
    n = round(draw(st.floats(min_seconds, max_seconds)) * rate)
    chans = channels or draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    kind = draw(st.sampled_from(["sine", "square", "impulses", "dc", "noise_burst", "mix"]))
    amp = draw(st.floats(0.05, 1.0))
    if kind == "sine":
        f = draw(st.floats(20.0, 0.45 * rate))
        x = amp * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    elif kind == "square":  # full-scale squares have the worst inter-sample overs
        f = draw(st.floats(20.0, rate / 8))
        x = amp * np.sign(np.sin(2 * np.pi * f * t + 0.1))
    elif kind == "impulses":
        x = np.zeros(n)
        hits = rng.integers(0, n, size=draw(st.integers(1, 20)))
        x[hits] = amp * rng.choice([-1.0, 1.0], size=len(hits))
    elif kind == "dc":
        x = np.full(n, amp * draw(st.sampled_from([-1.0, 1.0])))
    elif kind == "noise_burst":
        x = np.zeros(n)
        a, b = sorted(rng.integers(0, n, size=2))
        x[a : b + 1] = amp * rng.uniform(-1, 1, size=b + 1 - a)
    else:
        f = draw(st.floats(40.0, 0.2 * rate))
        x = 0.5 * amp * (np.sin(2 * np.pi * f * t) + rng.uniform(-1, 1, size=n))
    samples = np.repeat(x[:, None], chans, axis=1)
    if chans > 1:  # channels differ in level, so channel order is a real question
        samples = samples * rng.uniform(0.3, 1.0, size=chans)
    return Audio(samples.astype(np.float32), rate)


# ----------------------------------------------------------------------------------------- meter
@settings(max_examples=_examples(20))
@given(st.data())
def test_meter_loudness_of_a_scaled_signal_shifts_by_exactly_the_gain(data: st.DataObject) -> None:
    audio = data.draw(signals(min_seconds=0.6))
    before = measure_loudness(audio, true_peak=False).integrated_lufs
    assume(before is not None and before > -40.0)  # keeps every gated block clear of the -70 LUFS gate
    gain_db = data.draw(st.floats(-25.0, 25.0))
    scaled = Audio((audio.samples.astype(np.float64) * 10 ** (gain_db / 20)).astype(np.float32), audio.sample_rate)
    after = measure_loudness(scaled, true_peak=False).integrated_lufs
    assert after is not None
    assert after - before == pytest.approx(gain_db, abs=0.01)


@settings(max_examples=_examples(8))
@given(st.sampled_from(RATES), st.floats(0.0, 3.0), st.integers(1, 8))
def test_meter_silence_has_no_loudness(rate: int, seconds: float, channels: int) -> None:
    silence = Audio(np.zeros((round(seconds * rate), channels), np.float32), rate)
    lo = measure_loudness(silence)
    assert lo.integrated_lufs is None
    assert lo.loudness_range_lu is None
    assert lo.momentary_max_lufs is None and lo.short_term_max_lufs is None
    assert lo.true_peak_dbtp is None and lo.sample_peak_dbfs is None
    assert np.all(np.isneginf(lo.momentary_lufs)) and np.all(np.isneginf(lo.short_term_lufs))


@settings(max_examples=_examples(15))
@given(signals(min_seconds=0.5, channels=2))
def test_meter_stereo_channel_order_does_not_matter(audio: Audio) -> None:
    swapped = Audio(np.ascontiguousarray(audio.samples[:, ::-1]), audio.sample_rate)
    a, b = measure_loudness(audio), measure_loudness(swapped)
    if a.integrated_lufs is None:
        assert b.integrated_lufs is None
    else:
        assert b.integrated_lufs == pytest.approx(a.integrated_lufs, abs=1e-6)
    assert b.true_peak_dbtp == pytest.approx(a.true_peak_dbtp, abs=1e-6)
    assert b.true_peak_per_channel_dbtp[::-1] == pytest.approx(a.true_peak_per_channel_dbtp, abs=1e-6)


# --------------------------------------------------------------------------------------- limiter
@settings(max_examples=_examples(25))
@given(signals(min_seconds=0.1, max_seconds=0.6), st.floats(-12.0, -0.1), st.floats(0.0, 24.0))
def test_limiter_lets_no_detected_peak_through(audio: Audio, ceiling_dbtp: float, pre_gain_db: float) -> None:
    """One limiter pass: every sample of ``pre_gain · gain · x`` is under the ceiling, whatever the input."""
    from tunesmith.master.limiter import LimiterCurve, true_peak_envelope

    x = audio.samples
    env = true_peak_envelope(x, audio.sample_rate)
    curve = LimiterCurve(env, audio.sample_rate, pre_gain_db, ceiling_dbtp)
    y = np.empty_like(x)
    for s0, gain in curve.blocks():
        y[s0 : s0 + len(gain)] = x[s0 : s0 + len(gain)] * (gain * np.float32(curve.pre_gain))[:, None]
    ceiling = 10 ** (ceiling_dbtp / 20)
    assert np.abs(y).max() <= ceiling * (1 + 1e-5)
    assert np.all(env >= np.abs(x).max(axis=1))  # the envelope never under-reads a sample


@pytest.fixture(scope="module")
def master_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("master-props")


@settings(max_examples=_examples(10))
@given(signals(min_seconds=1.0, max_seconds=2.0), st.sampled_from(["streaming", "cd", "club", "-9"]))
def test_master_output_true_peak_is_under_the_ceiling(master_dir: Path, audio: Audio, target: str) -> None:
    """The whole master chain, on any input it accepts: the written file's true peak is ≤ the ceiling."""
    from tunesmith.audio.io import load, save
    from tunesmith.errors import InputFileError
    from tunesmith.master.chain import MasterSettings, master
    from tunesmith.master.targets import parse_target

    src, out = master_dir / "in.wav", master_dir / "out.wav"
    save(audio, src, encoding="wav32f")
    try:
        master(src, out, MasterSettings(target=target, encoding="wav32f"))
    except InputFileError as exc:  # silence after processing (e.g. pure DC, removed by the chain)
        assert "nothing to master" in str(exc)
        return
    written = load(out)
    ceiling = parse_target(target).ceiling_dbtp
    peak_dbtp = 20 * math.log10(float(true_peak(written.samples, written.sample_rate).max()))
    assert peak_dbtp <= ceiling + 1e-3


# -------------------------------------------------------------------------------- MIDI round trip
TICK = 1 / 480


def _without_unison_overlaps(notes: list[Note]) -> list[Note]:
    """Drop each note that starts while another of the same pitch still sounds (as composed scores never have)."""
    kept: list[Note] = []
    sounding_until: dict[int, float] = {}
    for n in sorted(notes):
        if n.start >= sounding_until.get(n.pitch, -1.0):
            kept.append(n)
            sounding_until[n.pitch] = n.end
    return kept


@st.composite
def scores(draw: st.DrawFn, unison_overlaps: bool = False) -> Score:
    """Scores as tunesmith writes them: notes on the 480-ppq grid, tempo, metre, key, chord and section changes.

    ``unison_overlaps`` allows a note to start while another of the same pitch in the same part
    still sounds: MIDI cannot say which note-off ends which note-on then (see the weaker property).
    """
    from tunesmith.score.theory import CHORD_QUALITIES, Key
    from tunesmith.score.types import (
        ChordSymbol,
        KeyChange,
        Section,
        TempoChange,
        TimeSignature,
    )

    ticks = st.integers(0, 480 * 32)
    lengths = st.integers(1, 480 * 4)
    note = st.builds(
        lambda s, d, p, v: Note(s * TICK, d * TICK, p, v), ticks, lengths, st.integers(0, 127), st.integers(1, 127)
    )
    n_tracks = draw(st.integers(1, 4))
    tracks = []
    for i in range(n_tracks):
        drum = draw(st.booleans()) if i == n_tracks - 1 else False
        notes = draw(st.lists(note, min_size=1, max_size=30))
        notes = notes if unison_overlaps else _without_unison_overlaps(notes)
        tracks.append(Track(f"part {i}", tuple(notes), 0 if drum else draw(st.integers(0, 127)), drum))
    tempos = [TempoChange(0.0, draw(st.floats(20.0, 300.0)))]
    tempos += [TempoChange(b * 4.0, draw(st.floats(20.0, 300.0))) for b in draw(st.sets(st.integers(1, 7)))]
    metre = draw(st.sampled_from([(4, 4), (3, 4), (6, 8), (5, 4), (2, 2), (7, 8)]))
    key = Key(draw(st.integers(0, 11)), draw(st.sampled_from(["major", "minor"])))
    qualities = sorted(CHORD_QUALITIES)
    chord = st.builds(Chord, st.integers(0, 11), st.sampled_from(qualities), st.none() | st.integers(0, 11))
    # Chords sit inside the music: the reader gives the last chord the span up to the last note-off,
    # so a symbol written after every note has ended has no length and is not kept.
    end = max(n.end for t in tracks for n in t.notes)
    starts = sorted(draw(st.sets(st.integers(0, max(0, math.ceil(end) - 1)), max_size=6)))
    starts = [a for a in starts if a < end]
    chords = [ChordSymbol(float(a), 1.0, draw(chord)) for a in starts]
    sections = (Section("verse", 0, 2), Section("chorus", 2, 2)) if draw(st.booleans()) else ()
    return Score(
        tracks=tuple(tracks),
        tempos=tuple(tempos),
        time_signatures=(TimeSignature(0.0, *metre),),
        keys=(KeyChange(0.0, key),),
        chords=tuple(chords),
        sections=sections,
        title="prop",
    )


def _note_set(track: Track) -> list[tuple[int, int, int, int]]:
    return sorted((round(n.start * 480), round(n.duration * 480), n.pitch, n.velocity) for n in track.notes)


@settings(max_examples=_examples(30))
@given(scores())
def test_midi_round_trip_keeps_every_note_tempo_metre_key_chord_and_section(
    tmp_path_factory: pytest.TempPathFactory, score: Score
) -> None:
    from tunesmith.score.midi import read_midi, write_midi

    path = tmp_path_factory.mktemp("midi") / "song.mid"
    write_midi(score, path)
    back = read_midi(path)
    assert len(back.tracks) == len(score.tracks)
    for a, b in zip(score.tracks, back.tracks, strict=True):
        assert _note_set(b) == _note_set(a)
        assert (b.is_drum, b.program if not b.is_drum else 0) == (a.is_drum, a.program if not a.is_drum else 0)
        assert b.name == a.name
    # Tempo travels as whole microseconds per beat: exact to 1e-4 BPM at 300 BPM.
    assert [t.beat for t in back.tempos] == [t.beat for t in score.tempos]
    assert [t.bpm for t in back.tempos] == pytest.approx([t.bpm for t in score.tempos], abs=1e-3)
    assert back.time_signatures == score.time_signatures
    assert back.keys == score.keys
    want = [(c.start, c.chord.symbol()) for c in score.chords]
    assert [(c.start, c.chord.symbol()) for c in back.chords] == want
    assert back.sections == score.sections


@settings(max_examples=_examples(20))
@given(scores(unison_overlaps=True))
def test_midi_round_trip_keeps_every_onset_and_release_even_for_overlapping_unisons(
    tmp_path_factory: pytest.TempPathFactory, score: Score
) -> None:
    """Overlapping notes of one pitch pair first-in-first-out on reading, so their lengths may swap,
    but every note-on and every note-off comes back at its tick."""
    from collections import Counter

    from tunesmith.score.midi import read_midi, write_midi

    path = tmp_path_factory.mktemp("midi") / "song.mid"
    write_midi(score, path)
    back = read_midi(path)
    for a, b in zip(score.tracks, back.tracks, strict=True):
        for edge in (lambda n: round(n.start * 480), lambda n: round(n.end * 480)):
            assert Counter((n.pitch, edge(n)) for n in b.notes) == Counter((n.pitch, edge(n)) for n in a.notes)


# -------------------------------------------------------------------------------- chord symbols
def _chords() -> st.SearchStrategy[Chord]:
    from tunesmith.score.theory import CHORD_QUALITIES

    return st.builds(
        Chord, st.integers(0, 11), st.sampled_from(sorted(CHORD_QUALITIES)), st.none() | st.integers(0, 11)
    )


def _normal(chord: Chord) -> Chord:
    """A slash chord whose bass is its root is the plain chord."""
    return Chord(chord.root, chord.quality, None if chord.bass == chord.root else chord.bass)


@settings(max_examples=_examples(200))
@given(st.data(), st.booleans())
def test_chord_symbol_print_then_parse_is_the_identity(data: st.DataObject, flats: bool) -> None:
    from tunesmith.score.theory import parse_chord

    chord = data.draw(_chords())
    assert parse_chord(chord.symbol(flats=flats)) == _normal(chord)


_SYMBOL_TEXT = st.text(alphabet="ABCDEFGabcdefg#b♯♭:/mMajindsu+-°øΔ()0123456789 .NX", max_size=14)


@settings(max_examples=_examples(300))
@given(st.one_of(_SYMBOL_TEXT, st.text(max_size=10)))
def test_chord_parse_is_total_and_printing_is_a_fixed_point(text: str) -> None:
    """Any text reads as a chord, as "no chord", or raises ChordParseError; what it reads as prints back to itself."""
    from tunesmith.score.theory import ChordParseError, parse_chord

    try:
        chord = parse_chord(text)
    except ChordParseError:
        return
    if chord is not None:
        assert parse_chord(chord.symbol()) == _normal(chord)
        assert parse_chord(chord.symbol(flats=True)) == _normal(chord)


# ------------------------------------------------------------------------ listening-history import
_field = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12)
_time = st.one_of(
    st.integers(-(10**13), 10**25).map(str),
    st.datetimes().map(lambda d: d.strftime("%d %b %Y %H:%M")),
    st.datetimes().map(lambda d: d.isoformat()),
    _field,
)


def _blank(fields: list[str]) -> bool:
    return not any(f.strip() for f in fields)


@settings(max_examples=_examples(25))
@given(st.lists(st.tuples(_field, _field, _time), min_size=1, max_size=20))
def test_history_every_lastfm_row_is_imported_or_counted_as_bad(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, str, str]]
) -> None:
    from tunesmith.errors import InputFileError
    from tunesmith.recommend.history import import_history

    folder = tmp_path_factory.mktemp("hist")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["artist", "track", "uts"])
    for row in rows:
        writer.writerow(row)
    path = folder / "scrobbles.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    expected = sum(1 for r in rows if not _blank(list(r)))
    try:
        report = import_history(path, folder / "h.sqlite", format="lastfm")
    except InputFileError as exc:  # only when no row holds anything at all
        assert expected == 0 and "no plays" in str(exc)
        return
    assert report.rows == expected
    assert report.added + report.duplicates + sum(report.skipped.values()) + report.bad_rows == report.rows
    assert len(report.bad_examples) == min(report.bad_rows, 5)


_json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats(allow_nan=False) | _field,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_field, inner, max_size=3),
    max_leaves=6,
)
_spotify_record = st.fixed_dictionaries(
    {},
    optional={
        "ts": _time,
        "endTime": _time,
        "ms_played": st.integers(-5, 10**25) | st.floats(allow_nan=False) | _json_value,
        "msPlayed": st.integers(-5, 10**7),
        "master_metadata_track_name": st.none() | _field,
        "master_metadata_album_artist_name": st.none() | _field,
        "trackName": _field,
        "artistName": _field,
        "episode_name": st.none() | _field,
        "username": st.none() | _field,
    },
)


@settings(max_examples=_examples(25))
@given(st.lists(_spotify_record | _json_value, min_size=1, max_size=15))
def test_history_every_spotify_record_is_imported_skipped_or_counted_as_bad(
    tmp_path_factory: pytest.TempPathFactory, records: list[object]
) -> None:
    from tunesmith.recommend.history import import_history

    folder = tmp_path_factory.mktemp("hist")
    path = folder / "StreamingHistory.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    report = import_history(path, folder / "h.sqlite", format="spotify")
    assert report.rows == len(records)
    assert report.added + report.duplicates + sum(report.skipped.values()) + report.bad_rows == report.rows


@settings(max_examples=_examples(25))
@given(st.lists(st.tuples(_field, _field, _field | st.floats().map(repr)), min_size=1, max_size=20))
def test_history_every_generic_row_is_imported_updated_or_counted_as_bad(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, str, str]]
) -> None:
    from tunesmith.errors import InputFileError
    from tunesmith.recommend.history import import_history

    folder = tmp_path_factory.mktemp("hist")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["user", "item", "plays"])
    for row in rows:
        writer.writerow(row)
    path = folder / "plays.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    # Three columns per row always: the reader's blank-line rule (one empty field) never applies.
    try:
        report = import_history(path, folder / "h.sqlite", format="generic")
    except InputFileError as exc:
        raise AssertionError(f"a file with {len(rows)} rows was refused: {exc}") from None
    assert report.rows == len(rows)
    accounted = report.added + report.duplicates + report.updated + sum(report.skipped.values()) + report.bad_rows
    assert accounted == report.rows
