"""``tunesmith.voice``: pitch tracking, note segmentation, rhythm, key/range, bad recordings.

Every recording here is made by the package's own singing synthesiser from a known tune, so
the right answer is known to the millisecond and the cent (``tunesmith.voice.synth``).
"""

from __future__ import annotations

import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tunesmith.errors import InputFileError, UsageError
from tunesmith.score.theory import Key
from tunesmith.voice import pitch as pitch_mod
from tunesmith.voice.key import sung_key, voice_range
from tunesmith.voice.notes import (
    SegmentParams,
    SungNote,
    segment,
    steadiness,
    tuning_offset_cents,
    valley_strength,
)
from tunesmith.voice.pitch import track_pitch
from tunesmith.voice.rhythm import BeatGrid, estimate_grid, quantize
from tunesmith.voice.synth import add_room, sing, speak
from tunesmith.voice.transcribe import notes_csv_text, read_notes_csv, transcribe

mir_eval = pytest.importorskip("mir_eval")  # a dev dependency: the metrics are mir_eval's
pytest.importorskip("swift_f0", reason="swift-f0 (the pitch tracker) is not installed")

RATE = 22_050
BPM = 100.0
# "Twinkle, twinkle" and on: repeated notes (the hard case), steps, a leap, long notes, in C major.
TUNE = [60, 60, 67, 67, 69, 69, 67, 65, 65, 64, 64, 62, 62, 60, 67, 72, 71, 69, 67]
LENGTHS = [1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 2]


def written_tune(start_s: float = 0.5) -> list[tuple[float, float, int]]:
    """The tune as (onset s, offset s, MIDI) at ``BPM``, legato except a short breath after long notes."""
    beat = 60.0 / BPM
    out, t = [], start_s
    for pitch, beats in zip(TUNE, LENGTHS, strict=True):
        length = beats * beat
        out.append((t, t + length - (0.12 if beats > 1 else 0.0), pitch))
        t += length
    return out


def _collapse(pitches: list[int]) -> list[int]:
    """The pitch sequence with repeats merged (a re-sung note split or not reads the same)."""
    return [p for i, p in enumerate(pitches) if i == 0 or p != pitches[i - 1]]


def conp_f1(truth: list, notes: list[SungNote], offset: bool = False) -> float:
    """mir_eval's note F1 with its defaults: onsets within 50 ms, pitch within 50 cents (and offsets within 20 %)."""
    ref_iv = np.array([[n.onset_s, n.offset_s] for n in truth])
    ref_hz = np.array([n.pitch_hz for n in truth])
    if not notes:
        return 0.0
    est_iv = np.array([[n.onset_s, n.offset_s] for n in notes])
    est_hz = np.array([n.pitch_hz for n in notes])
    ratio = 0.2 if offset else None
    return float(
        mir_eval.transcription.precision_recall_f1_overlap(ref_iv, ref_hz, est_iv, est_hz, offset_ratio=ratio)[2]
    )


@pytest.fixture(scope="module")
def sung(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list, np.ndarray]:
    """A sung take of the tune (vowels, consonants, vibrato, drift), its truth and samples."""
    audio, truth = sing(written_tune(), seed=11, sample_rate=RATE, female=True)
    path = tmp_path_factory.mktemp("voice") / "sung.wav"
    sf.write(path, audio, RATE)
    return path, truth, audio


@pytest.fixture(scope="module")
def hummed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list, np.ndarray]:
    """The tune hummed on "mm" by a lower voice."""
    audio, truth = sing(written_tune(), seed=12, sample_rate=RATE, hum=True, female=False)
    path = tmp_path_factory.mktemp("voice") / "hummed.wav"
    sf.write(path, audio, RATE)
    return path, truth, audio


def test_synthesiser_truth_matches_the_written_tune() -> None:
    audio, truth = sing(written_tune(), seed=3, sample_rate=RATE, fit_range=False)
    assert audio.dtype == np.float32 and np.isfinite(audio).all()
    assert 10 ** (-12.5 / 20) <= np.abs(audio).max() <= 10 ** (-2.9 / 20)
    assert [n.midi for n in truth] == TUNE
    for i, (n, (on, _, midi)) in enumerate(zip(truth, written_tune(), strict=True)):
        # Timing jitter, not a different tune; a note sung straight out of the previous one
        # is heard (and marked) up to half its slide of at most 300 ms later.
        legato = i > 0 and truth[i - 1].offset_s == n.onset_s
        assert on - 0.07 < n.onset_s < on + (0.07 + 0.15 if legato else 0.07)
        assert n.offset_s > n.onset_s
        assert abs(12 * math.log2(n.pitch_hz / 440) + 69 - midi) < 0.75  # tuning, drift, intonation
    again, _ = sing(written_tune(), seed=3, sample_rate=RATE, fit_range=False)
    assert np.array_equal(audio, again)  # seeded


def test_sung_and_hummed_notes_are_found(sung: tuple, hummed: tuple, tmp_path: Path) -> None:
    path, truth, _ = sung
    result = transcribe(path)
    assert conp_f1(truth, result.notes) >= 0.9
    assert conp_f1(truth, result.notes, offset=True) >= 0.6
    # Every repeated note (same pitch, sung legato) came out as two notes.
    assert len(result.notes) >= len(TUNE) - 1
    # Hummed, a repeated note under one breath leaves only a dip in the level, sometimes a
    # shallow one: judged over three singers, most repeated notes still come out as two.
    takes = [hummed[:2]]
    for seed in (13, 14):
        audio, truth = sing(written_tune(), seed=seed, sample_rate=RATE, hum=True, female=False)
        sf.write(tmp_path / f"hum{seed}.wav", audio, RATE)
        takes.append((tmp_path / f"hum{seed}.wav", truth))
    results = [transcribe(p).notes for p, _ in takes]
    assert np.mean([conp_f1(t, r) for (_, t), r in zip(takes, results, strict=True)]) >= 0.85
    assert np.mean([conp_f1(t, r, offset=True) for (_, t), r in zip(takes, results, strict=True)]) >= 0.6
    assert sum(len(r) for r in results) >= 3 * (len(TUNE) - 3)


def test_transcription_finds_key_tempo_and_range(sung: tuple) -> None:
    path, truth, _ = sung
    result = transcribe(path)
    assert result.key == Key(0, "major")
    # The tempo is the written one or its double (both are right readings of the same pulse).
    assert min(abs(result.grid.tempo_bpm - BPM), abs(result.grid.tempo_bpm - 2 * BPM)) < 0.03 * BPM
    assert result.grid.numerator == 4
    sung_pitches = sorted({n.midi for n in truth})
    assert result.range.lowest == sung_pitches[0] and result.range.highest == sung_pitches[-1]
    # The melody on the grid: the written pitches (the synthesiser moved the tune by octaves only).
    shift = truth[0].midi - TUNE[0]
    heard = [n.pitch - shift for n in result.melody]
    assert _collapse(heard) == _collapse(TUNE) and abs(len(heard) - len(TUNE)) <= 1
    starts = [n.start for n in result.melody]
    assert all(abs(s * 4 - round(s * 4)) < 1e-9 for s in starts)  # on sixteenths
    assert all(a.end <= b.start + 1e-9 for a, b in zip(result.melody, result.melody[1:], strict=False))
    # Beat 0 sits at or before the first note, less than a bar before it.
    assert 0 <= result.notes[0].onset_s - result.grid.beat0_s < result.grid.beat_s * result.grid.numerator + 0.06


def _variant(audio: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, int, float]:
    """A recording problem applied to a clean take: (samples (frames, channels), rate, time shift s)."""
    x = audio.astype(np.float64)
    if kind == "8k":
        import soxr

        return soxr.resample(x, RATE, 8000)[:, None], 8000, 0.0
    if kind == "48k-stereo":
        import soxr

        y = soxr.resample(x, RATE, 48000)
        return np.stack([0.9 * y, 0.6 * y], axis=1), 48000, 0.0
    if kind == "dc":
        return (0.5 * x + 0.3)[:, None], RATE, 0.0
    if kind == "clipped":
        return np.clip(x * 8.0, -1.0, 1.0)[:, None], RATE, 0.0
    if kind == "silence":
        pad = np.zeros(int(4.0 * RATE))
        return np.concatenate([pad, x, pad])[:, None], RATE, 4.0
    if kind == "room":
        wet = add_room(x, RATE, rng)
        noise = rng.standard_normal(len(x)) * np.sqrt(np.mean(wet**2)) * 10 ** (-20 / 20)
        return (wet + noise)[:, None], RATE, 0.0
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["8k", "48k-stereo", "dc", "clipped", "silence", "room"])
def test_real_recording_problems(sung: tuple, tmp_path: Path, kind: str) -> None:
    _, truth, audio = sung
    x, rate, shift = _variant(audio, kind, np.random.default_rng(5))
    path = tmp_path / f"{kind}.wav"
    sf.write(path, x.astype(np.float32), rate, subtype="FLOAT")
    result = transcribe(path)
    moved = [type(n)(n.onset_s + shift, n.offset_s + shift, n.pitch_hz, n.midi) for n in truth]
    assert conp_f1(moved, result.notes) >= 0.85, kind
    if kind == "clipped":
        assert any("clipped" in w for w in result.warnings)
    if kind == "dc":
        assert any("DC offset" in w for w in result.warnings)
    if kind == "48k-stereo":
        assert result.track.channels == 2 and result.track.sample_rate == 48000


def test_out_of_tune_singer_is_rounded_relative_to_their_tuning(tmp_path: Path) -> None:
    # Every note 40 cents flat: pitches with cents say so, the melody is still the tune.
    tune = written_tune()
    audio, truth = sing(tune, seed=21, sample_rate=RATE, fit_range=False)
    import soxr

    flat = soxr.resample(audio.astype(np.float64), RATE, RATE * 2 ** (40 / 1200))  # played slower = lower
    path = tmp_path / "flat.wav"
    sf.write(path, flat.astype(np.float32), RATE)
    result = transcribe(path)
    sung_offset = np.median([12 * math.log2(n.pitch_hz / 440) + 69 - n.midi for n in truth]) * 100
    assert result.tuning_cents == pytest.approx(sung_offset - 40, abs=12)
    # Rounded against the singer's own A, the pitches are the written ones (a repeated note
    # merged into one would not change that), not a semitone down on half the notes.
    assert _collapse([n.pitch for n in result.melody]) == _collapse(TUNE)


def test_busy_machine_tracks_on_one_thread_with_the_same_result(sung: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pitch_mod.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(pitch_mod.os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert pitch_mod._threads(None) is None and pitch_mod._threads(3) == 3
    monkeypatch.setattr(pitch_mod.os, "getloadavg", lambda: (4.0, 4.0, 4.0))
    assert pitch_mod._threads(None) == 1 and pitch_mod._threads(2) == 2
    one, two = track_pitch(sung[0], threads=1), track_pitch(sung[0], threads=2)
    assert np.array_equal(one.hz, two.hz) and np.array_equal(one.confidence, two.confidence)


def test_chunked_tracking_equals_one_pass(sung: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    path = sung[0]
    whole = track_pitch(path)
    monkeypatch.setattr(pitch_mod, "CHUNK_FRAMES", 97)  # many chunk boundaries, none aligned
    chunked = track_pitch(path, block_frames=3001)
    assert len(chunked.hz) == len(whole.hz)
    assert np.max(np.abs(chunked.confidence - whole.confidence)) < 1e-4
    voiced = whole.confidence > 0.5
    assert np.max(np.abs(chunked.hz[voiced] - whole.hz[voiced])) < 0.01


def _peak_tracking_memory(path: Path) -> tuple[int, int]:
    """Peak numpy memory (bytes) of tracking ``path``, and the number of frames tracked."""
    tracemalloc.start()
    try:
        track = track_pitch(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, len(track.hz)


def test_ten_minute_recording_memory_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The streaming path (read, fold, resample, filter, chunk) on 10 minutes of 22.05 kHz stereo,
    # with the network stubbed out (its cost is per frame, not memory): the peak of numpy
    # allocations is the same for 2 and 10 minutes but for the pitch track itself.
    calls = []

    def fake_track(self: object, audio: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        calls.append(len(audio))
        return np.full(n, 220.0), np.full(n, 0.9)

    monkeypatch.setattr(pitch_mod._Tracker, "_track", fake_track)
    rng = np.random.default_rng(1)
    block = (0.1 * rng.standard_normal((22_050 * 10, 2))).astype(np.float32)
    peaks = {}
    for minutes in (2, 10):
        path = tmp_path / f"{minutes}min.wav"
        with sf.SoundFile(path, "w", 22_050, 2, subtype="PCM_16") as fh:
            for _ in range(minutes * 6):
                fh.write(block)
        peaks[minutes], frames = _peak_tracking_memory(path)
        assert frames == minutes * 60 * 16_000 // 256
    decoded = 10 * 60 * 22_050 * 2 * 4
    assert peaks[10] < 0.1 * decoded, f"{peaks[10] / 1e6:.1f} MB for a {decoded / 1e6:.0f} MB recording"
    track_bytes = (10 - 2) * 60 / pitch_mod.FRAME_S * 4 * 8  # four float64 per frame
    assert peaks[10] - peaks[2] < 1.5 * track_bytes + 1e6
    assert max(calls) <= (pitch_mod.CHUNK_FRAMES + 25) * 256  # the network sees 30 s at a time


def _drum_loop(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Kick, snare (with a 185 Hz shell tone), hats and three tuned toms at 110 BPM."""
    n = int(seconds * RATE)
    x = np.zeros(n)
    t = np.arange(int(0.4 * RATE)) / RATE
    step = 60 / 110 / 2
    for i in range(int(seconds / step)):
        at = int(i * step * RATE)
        hits = [np.diff(rng.standard_normal(len(t) + 1)) * np.exp(-t / 0.015) * 0.3]
        if i % 4 == 0:
            hits.append(np.sin(2 * np.pi * np.cumsum(45 + 75 * np.exp(-t / 0.04)) / RATE) * np.exp(-t / 0.12))
        if i % 4 == 2:
            hits.append((rng.standard_normal(len(t)) * 0.6 + np.sin(2 * np.pi * 185 * t)) * np.exp(-t / 0.07))
        if i % 8 in (5, 6, 7):
            f = (98, 131, 165)[i % 8 - 5]
            hits.append(np.sin(2 * np.pi * f * t * (1 + 0.2 * np.exp(-t / 0.03))) * np.exp(-t / 0.15))
        for h in hits:
            m = min(len(h), n - at)
            x[at : at + m] += h[:m]
    return 0.8 * x / np.abs(x).max()


@pytest.mark.parametrize("what", ["silence", "noise", "drums", "one tone"])
def test_no_voice_is_a_clear_error(tmp_path: Path, what: str) -> None:
    rng = np.random.default_rng(8)
    audio = {
        "silence": np.zeros(5 * RATE),
        "noise": 0.1 * rng.standard_normal(5 * RATE),
        "drums": _drum_loop(8.0, rng),
        "one tone": 0.3 * np.sin(2 * np.pi * 220 * np.arange(4 * RATE) / RATE),
    }[what]
    path = tmp_path / "take.wav"
    sf.write(path, audio.astype(np.float32), RATE)
    with pytest.raises(InputFileError, match=r"take\.wav: no singing or humming found \(") as info:
        transcribe(path)
    assert "\n" not in str(info.value)


def test_speech_is_transcribed_with_a_warning(sung: tuple, tmp_path: Path) -> None:
    # Ten talkers: a heuristic (short syllables, sliding pitch) may miss one or two, not more.
    flagged = 0
    for seed in range(4, 14):
        path = tmp_path / f"speech{seed}.wav"
        sf.write(path, speak(8.0, seed=seed, sample_rate=RATE), RATE)
        result = transcribe(path)
        assert result.notes  # best effort: transcribed all the same
        assert result.speech_like == any("speech" in w for w in result.warnings)
        flagged += result.speech_like
    assert flagged >= 8
    assert not transcribe(sung[0]).speech_like


def test_pyin_fallback_agrees(sung: tuple, tmp_path: Path) -> None:
    # Only the first four seconds: pYIN is slow (it is the fallback, not the default).
    _, truth, audio = sung
    path = tmp_path / "short.wav"
    sf.write(path, audio[: 4 * RATE], RATE)
    result = transcribe(path, tracker="pyin")
    assert result.track.tracker == "pyin"
    early = [n for n in truth if n.offset_s < 3.9]
    assert conp_f1(early, [n for n in result.notes if n.onset_s < 3.9]) >= 0.75
    with pytest.raises(UsageError, match="--tracker"):
        transcribe(path, tracker="crepe")


def test_syllables_on_one_pitch_split_at_their_consonants() -> None:
    # Eight syllables on one pitch, 192 ms apart, each consonant a 20 dB dip whose bottom is
    # unvoiced: as regular as a vibrato's level wobble, but a vibrato never stops the voice.
    frame = pitch_mod.FRAME_S
    n, period = 8 * 12 + 20, 12
    midi = np.full(n, 62.0)
    level = np.full(n, -20.0)
    conf = np.full(n, 0.95)
    for k in range(1, 8):
        at = 10 + k * period
        level[at - 1 : at + 2] = [-32.0, -40.0, -32.0]
        conf[at] = 0.45  # the room's reverb keeps the tracker half-sure through the consonant
    track = pitch_mod.PitchTrack(440.0 * 2 ** ((midi - 69) / 12), conf, level)
    notes = segment(track)
    assert len(notes) == 8 and all(round(x.pitch) == 62 for x in notes)
    onsets = [round(x.onset_s / frame) for x in notes[1:]]
    assert all(abs(o - (10 + k * period)) <= 1 for k, o in enumerate(onsets, start=1))
    # The same wobble with the voice on throughout (a vibrato's) leaves one note.
    conf[:] = 0.95
    level = np.where(level < -20.0, -25.0, level)  # and shallow, as a formant sweep makes it
    assert len(segment(pitch_mod.PitchTrack(track.hz, conf, level))) == 1


def test_segmentation_on_made_up_tracks() -> None:
    # Vibrato of ±60 cents is one note; a re-sung note under one breath (a level valley) is two;
    # a 3-frame blip is not a note; a glide starts the next note where the pitch is half-way.
    frame = pitch_mod.FRAME_S
    t = np.arange(200) * frame
    midi = np.full(200, 60.0) + 0.6 * np.sin(2 * np.pi * 5.5 * t)
    midi[100:] = 64.0
    midi[92:100] = np.linspace(60.0, 64.0, 8)  # a glide of 128 ms into the second note
    level = np.full(200, -20.0)
    level[40:46] = [-24, -30, -33, -30, -24, -21]  # the same pitch sung again at frame 42
    conf = np.full(200, 0.95)
    conf[180:] = 0.05
    track = pitch_mod.PitchTrack(440.0 * 2 ** ((midi - 69) / 12), conf, level)
    notes = segment(track)
    assert [round(n.pitch) for n in notes] == [60, 60, 64]
    assert notes[1].onset_s == pytest.approx(42 * frame, abs=2 * frame)
    assert notes[2].onset_s == pytest.approx(95.5 * frame, abs=1 * frame)  # 62 crossed between 95 and 96
    assert abs(notes[0].pitch - 60) < 0.15  # vibrato averaged out
    assert notes[2].offset_s == pytest.approx(180 * frame, abs=frame)
    assert valley_strength(level, SegmentParams())[42] == 1.0
    assert valley_strength(level, SegmentParams())[10] == 0.0


def test_glides_weigh_little_and_held_short_notes_split() -> None:
    frame = pitch_mod.FRAME_S
    voiced = np.ones(60, dtype=bool)
    # A glide is on its way between notes; a steady pitch, a vibrato's crest and a one-frame
    # glitch are not.
    midi = np.concatenate((np.full(20, 60.0), np.linspace(60.0, 63.0, 10), np.full(30, 63.0)))
    midi[50] = 70.0
    weight = steadiness(midi, voiced, 0.05)
    assert weight[5] == 1.0 and weight[40] == 1.0 and weight[50] == 1.0
    assert np.all(weight[21:29] < 0.05)
    gap = voiced.copy()
    gap[19:21] = False  # a consonant: the first frame after it still shows the slide
    assert steadiness(midi, gap, 0.05)[21] < 0.05
    # 128 ms held a whole tone up between two long notes is a note of its own; a slide of
    # 224 ms up a fourth is a way into the next note, not one (unweighted, it leaves one).
    level = np.full(140, -20.0)
    conf = np.full(140, 0.95)
    held = np.full(140, 60.0)
    held[50:58] = 62.0
    notes = segment(pitch_mod.PitchTrack(440.0 * 2 ** ((held - 69) / 12), conf, level))
    assert [round(n.pitch) for n in notes] == [60, 62, 60]
    assert notes[1].onset_s == pytest.approx(50 * frame, abs=frame)
    slide = np.full(140, 65.0)
    slide[:50] = 60.0
    slide[50:64] = np.linspace(60.0, 65.0, 16)[1:-1]
    track = pitch_mod.PitchTrack(440.0 * 2 ** ((slide - 69) / 12), conf, level)
    notes = segment(track)
    assert [round(n.pitch) for n in notes] == [60, 65]
    assert notes[1].onset_s == pytest.approx(57 * frame, abs=1 * frame)  # where the slide passes 62.5
    assert len(segment(track, SegmentParams(glide_slope=0.0))) == 3


def test_vibrato_level_wobble_is_not_a_new_syllable() -> None:
    # A dip every 10 frames (a 6 Hz vibrato moving the harmonics across a formant) earns no
    # boundary; the same dip alone (a new "mm") does.
    t = np.arange(200)
    train = -20.0 - 6.0 * (1 + np.cos(2 * np.pi * t / 10.0))
    assert valley_strength(train, SegmentParams())[20:180].max() == 0.0
    single = np.full(200, -20.0)
    single[95:106] = train[95:106]
    assert valley_strength(single, SegmentParams())[100] > 0.5
    assert valley_strength(train, SegmentParams(tremolo_frames=(0, 0)))[20:180].max() > 0.5


def test_tuning_offset_is_circular() -> None:
    notes = [SungNote(i, i + 1.0, p, 1.0, -20.0) for i, p in enumerate([60.45, 61.52, 62.48, 63.55])]
    assert tuning_offset_cents(notes) == pytest.approx(50.0, abs=5) or tuning_offset_cents(notes) == pytest.approx(
        -50.0, abs=5
    )
    flat = [SungNote(i, i + 1.0, p, 1.0, -20.0) for i, p in enumerate([59.7, 61.65, 63.72])]
    assert tuning_offset_cents(flat) == pytest.approx(-31.0, abs=2)


def test_tempo_metre_and_quantisation() -> None:
    rng = np.random.default_rng(2)
    beat = 60 / 92
    # A waltz: long notes on the downbeat, two short ones after, sung with 15 ms of jitter.
    onsets, lengths = [], []
    for bar in range(12):
        for b, length in ((0, 1.8), (2, 0.45), (2.5, 0.45)):
            onsets.append(1.3 + (bar * 3 + b) * beat + rng.normal(0, 0.015))
            lengths.append(length * beat)
    grid = estimate_grid(onsets, lengths)
    assert grid.numerator == 3
    assert min(abs(grid.tempo_bpm - 92), abs(grid.tempo_bpm - 184)) < 1.5
    assert grid.beat(onsets[0]) % grid.numerator == pytest.approx(0.0, abs=0.1)
    fixed = estimate_grid(onsets, lengths, tempo_bpm=92.0)
    assert fixed.tempo_bpm == pytest.approx(92.0)
    sung_notes = [(o, o + d, 60 + i % 5) for i, (o, d) in enumerate(zip(onsets, lengths, strict=True))]
    q = quantize(sung_notes, fixed)
    assert all(abs(n.start * 4 - round(n.start * 4)) < 1e-9 and n.duration >= 0.25 for n in q)
    assert [n.start for n in q[:3]] == [0.0, 2.0, 2.5]
    expressive = quantize(sung_notes, fixed, expressive=True)
    assert expressive[1].start == pytest.approx(fixed.beat(onsets[1]), abs=1e-3)
    # Two notes snapping to one sixteenth: the longer survives, the line stays monophonic.
    g = BeatGrid(120.0, 0.0)
    clash = quantize([(0.0, 0.4, 60), (0.05, 0.06, 62), (0.5, 1.0, 64)], g)
    assert [n.pitch for n in clash] == [60, 64]


def test_key_and_range() -> None:
    pitches = [57, 60, 64, 62, 60, 59, 57, 64, 69, 57]
    lengths = [1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 1.5, 0.5, 0.1, 2.0]
    key, r = sung_key(pitches, lengths)
    assert key == Key(9, "minor") and r > 0.5
    rng = voice_range(pitches, lengths)
    assert (rng.lowest, rng.highest) == (57, 64)  # the 100 ms A4 was touched, not held
    assert rng.to_dict()["lowest"] == "A3"


def test_notes_csv_round_trip(sung: tuple) -> None:
    result = transcribe(sung[0])
    text = notes_csv_text(result.notes)
    assert text.splitlines()[0] == "onset_s,offset_s,pitch_midi,confidence"
    path = sung[0].with_suffix(".csv")
    path.write_text(text)
    rows = read_notes_csv(path)
    assert len(rows) == len(result.notes)
    for row, n in zip(rows, result.notes, strict=True):
        assert row[0] == pytest.approx(n.onset_s, abs=1e-4) and row[2] == pytest.approx(n.pitch, abs=0.005)


def test_ten_minute_take_stays_on_its_grid() -> None:
    # 600 s of notes at 97 BPM (eighths and quarters, 12 ms jitter): the search sees the first
    # 40 s, the least-squares windows carry the grid to the end without slipping a beat.
    rng = np.random.default_rng(6)
    beat = 60 / 97
    onsets, lengths, t = [], [], 0.0
    while t < 600 / beat:
        step = 0.5 if rng.random() < 0.5 else 1.0
        onsets.append(0.8 + t * beat + rng.normal(0, 0.012))
        lengths.append(step * beat * 0.9)
        t += step
    grid = estimate_grid(onsets, lengths)
    assert min(abs(grid.tempo_bpm - 97), abs(grid.tempo_bpm - 194)) < 0.05
    last = grid.beat(onsets[-1]) * (2 if grid.tempo_bpm > 150 else 1)
    assert abs(last * 2 - round(last * 2)) < 0.1  # still on an eighth after ~970 beats
