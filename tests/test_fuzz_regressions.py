"""Every crash the fuzzers and property tests found, kept as a test of what happens now instead.

The inputs live in ``fuzz/corpus/<target>/regress_*`` (they also seed the fuzzers). Each test
names the crash it guards against; ``docs/RELIABILITY.md`` lists them with their fixes.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tunesmith.errors import InputFileError, TunesmithError

CORPUS = Path(__file__).resolve().parents[1] / "fuzz" / "corpus"


def one_line_naming(exc: BaseException, path: Path) -> str:
    text = str(exc)
    assert "\n" not in text and str(path) in text, text
    return text


def copy(tmp_path: Path, target: str, name: str, as_name: str | None = None) -> Path:
    path = tmp_path / (as_name or name)
    path.write_bytes((CORPUS / target / name).read_bytes())
    return path


# ---------------------------------------------------------------------------------------- MIDI
def test_midi_key_signature_with_an_unknown_mode_byte(tmp_path: Path) -> None:
    """mido raised its own KeySignatureError (not a ValueError) through read_midi."""
    from tunesmith.score.midi import read_midi

    path = copy(tmp_path, "midi", "regress_bad_key_mode.mid")
    with pytest.raises(InputFileError, match="not a readable MIDI file") as caught:
        read_midi(path)
    assert "KeySignatureError" in one_line_naming(caught.value, path)


def test_midi_time_signature_with_zero_beats(tmp_path: Path) -> None:
    """A 0/x time signature made bars zero beats long: ZeroDivisionError in Score.bar_at (campaign find)."""
    from tunesmith.score.midi import read_midi

    path = copy(tmp_path, "midi", "regress_zero_numerator.mid")
    with pytest.raises(InputFileError, match="implausible time signature 0/") as caught:
        read_midi(path)
    one_line_naming(caught.value, path)


# --------------------------------------------------------------------------------------- audio
def test_flac_whose_seek_fails(tmp_path: Path) -> None:
    """A FLAC header claiming 16.7 M frames in 292 bytes: libsndfile's seek raised LibsndfileError
    through ``blocks()`` (and reading first preallocated 134 MB for the claim)."""
    from tunesmith.audio.io import load

    path = copy(tmp_path, "audio_flac", "regress_seek_fails.flac")
    with pytest.raises(InputFileError, match="damaged audio data") as caught:
        load(path)
    one_line_naming(caught.value, path)


def test_flac_declaring_68_billion_frames(tmp_path: Path) -> None:
    """STREAMINFO's 36-bit total of 2^36 - 1 frames: a 275 GB allocation (MemoryError) before the fix."""
    from tunesmith.audio.io import load

    path = tmp_path / "huge.flac"
    sf.write(str(path), np.zeros((4000, 1), np.float32), 8000, format="FLAC", subtype="PCM_16")
    data = bytearray(path.read_bytes())
    packed = int.from_bytes(data[18:26], "big") | (2**36 - 1)  # sample rate, channels, bits, then the total
    data[18:26] = packed.to_bytes(8, "big")
    path.write_bytes(bytes(data))
    with pytest.raises(InputFileError, match="damaged header: declares 68719476735 sample frames") as caught:
        load(path)
    one_line_naming(caught.value, path)


def test_reader_does_not_trust_the_header_for_its_allocation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A header overstating the length by less than the damage check costs a regrowth, not the claim."""
    from tunesmith.audio import io

    path = tmp_path / "short.wav"
    sf.write(str(path), np.full((1000, 1), 0.25, np.float32), 8000, subtype="FLOAT")
    allocations: list[int] = []
    real_empty = np.empty

    def spy(shape: object, *args: object, **kwargs: object) -> np.ndarray:
        allocations.append(shape[0] if isinstance(shape, tuple) else int(shape))  # type: ignore[index, call-overload]
        return real_empty(shape, *args, **kwargs)  # type: ignore[call-overload]

    with io.AudioReader(path) as reader:
        # As a damaged header of a format whose length is only an estimate (MP3) would claim.
        reader.info.frames, reader.info.format = 10**9, "MP3"
        monkeypatch.setattr(io.np, "empty", spy)
        audio = reader.read()
    assert audio.frames == 1000
    assert max(allocations) < 2 * io.BLOCK_FRAMES


def test_a_wav_that_ends_early_is_reported_not_silently_cut(tmp_path: Path) -> None:
    from tunesmith.audio.io import AudioReader

    path = tmp_path / "x.wav"
    sf.write(str(path), np.zeros((4000, 2), np.float32), 8000, subtype="PCM_16")
    with AudioReader(path) as reader:
        reader.info.frames = 5000  # the file no longer holds what it did when opened
        with pytest.raises(InputFileError, match="ended after 4000 of 5000 sample frames") as caught:
            reader.read()
    one_line_naming(caught.value, path)


# ------------------------------------------------------------------------------ MusicXML, ABC
def test_musicxml_part_missing_from_the_part_list(tmp_path: Path) -> None:
    """music21 returns a bare Score (no parts) when a part's id is not in <part-list>: AttributeError partName."""
    from tunesmith.score.notation import read_score

    score = read_score(copy(tmp_path, "musicxml", "regress_nested_score.musicxml"))
    assert score.tracks and score.tracks[0].name


def test_abc_empty_chord_symbol(tmp_path: Path) -> None:
    """``""`` in ABC is a chord symbol with no pitches: music21's ChordException from root()."""
    from tunesmith.score.notation import read_score

    score = read_score(copy(tmp_path, "abc", "regress_empty_chord_symbol.abc"))
    assert score.tracks[0].notes
    assert any(c.chord is None for c in score.chords) or score.chords


def test_abc_that_music21s_tokenizer_reads_past_the_end_of(tmp_path: Path) -> None:
    """``=T`` at the end of a file: music21's tokenizer indexed past the end (IndexError), which
    escaped once the file went through the tokenizer before music21's own read (short fuzz run in CI)."""
    from tunesmith.score.notation import read_score

    with pytest.raises(InputFileError, match="not a readable ABC file"):
        read_score(copy(tmp_path, "abc", "regress_tokenizer_past_the_end.abc"))


def test_abc_tempo_with_a_zero_length_beat(tmp_path: Path) -> None:
    """``Q:0/4=120``: music21's getQuarterBPM divided by zero inside from_music21 (campaign find)."""
    from tunesmith.score.notation import read_score

    score = read_score(copy(tmp_path, "abc", "regress_zero_tempo_referent.abc"))
    assert score.tempos[0].bpm == 120.0  # the unusable mark is left out: the default tempo


@pytest.mark.parametrize(
    ("target", "name", "beats"),
    [("abc", "regress_metre_412_beats.abc", 412), ("musicxml", "regress_metre_400_beats.musicxml", 400)],
)
def test_metre_with_hundreds_of_beats_is_refused_before_music21_hangs(
    tmp_path: Path, target: str, name: str, beats: int
) -> None:
    """``M:41:|2/4`` (read as 412/4) took 40 s in music21's metre code (a campaign timeout); 10 000 never ends."""
    import time

    from tunesmith.score.notation import read_score

    path = copy(tmp_path, target, name)
    t0 = time.perf_counter()
    with pytest.raises(InputFileError, match=f"implausible metre: {beats} beats in a bar") as caught:
        read_score(path)
    assert time.perf_counter() - t0 < 5.0
    one_line_naming(caught.value, path)


def test_abc_note_of_hundreds_of_millions_of_units(tmp_path: Path) -> None:
    """``d222222222``: music21 filled every bar the note spans, gigabytes in under a second (campaign OOM).

    The length is counted as music21 reads the note: ``d222222222'2`` keeps the digit after the octave mark.
    """
    from tunesmith.score.notation import read_score

    path = copy(tmp_path, "abc", "regress_note_of_222222222_units.abc")
    with pytest.raises(InputFileError, match="implausible note length: 2222222222 units") as caught:
        read_score(path)
    one_line_naming(caught.value, path)


def _read_in_a_child(path: Path) -> tuple[str, float, float]:
    """Read ``path`` in a fresh interpreter: (error text or "read", CPU s, peak RSS growth in MB).

    A child, so the peak is this read's alone and a regression cannot take the test runner's memory.
    """
    import subprocess
    import sys

    code = (
        "import resource, sys, time\n"
        "from tunesmith.score.notation import read_score\n"
        "import music21\n"  # imported before the baseline: its second of imports is not the read
        "rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "base, t0 = rss(), time.process_time()\n"
        "try:\n"
        "    read_score(sys.argv[1]); out = 'read'\n"
        "except Exception as exc:\n"
        "    out = f'{type(exc).__name__}: {exc}'\n"
        "print(out); print(time.process_time() - t0); print(rss() - base)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "TUNESMITH_SCORE_READ_SECONDS": "20"},
    )
    text, cpu, grew = done.stdout.strip().splitlines()[-3:]
    return text, float(cpu), float(grew)


@pytest.mark.parametrize(
    ("target", "name", "message"),
    [
        # ``|1M:Em"E2GB e2dc|"A7"(M:4/4``: music21 starts a metre field at any ``M:`` and keeps every
        # digit to the end of the line: 2274/4 (85 s CPU in its metre code before the fix).
        ("abc", "regress_metre_field_after_a_bar.abc", "implausible metre: 2274 beats in a bar"),
        # ``=1204=120``: a note with no letter, whose digits make 1 204 120 units; the bar's overflow
        # became a metre of 602 056 beats (4.2 GB resident at the 120 s limit before the fix).
        ("abc", "regress_note_without_a_letter.abc", "implausible note length: 1204120 units"),
        # ``<fifths>-1666…6</fifths>``: music21 spells the key by one transposition per fifth (121 s).
        ("musicxml", "regress_fifths_76_digits.musicxml", "implausible key signature: <fifths> a 76-digit number"),
    ],
)
def test_slow_campaign_inputs_are_refused_quickly_in_little_memory(
    tmp_path: Path, target: str, name: str, message: str
) -> None:
    """Three inputs of the 1-CPU-hour campaigns that ran into the time limit (issue #15)."""
    path = copy(tmp_path, target, name)
    text, cpu_s, grew_mb = _read_in_a_child(path)
    assert text.startswith("InputFileError: ") and message in text, text
    assert str(path) in text and "\n" not in text
    assert cpu_s < 5.0, cpu_s
    assert grew_mb < 500.0, grew_mb


def test_abc_bar_of_many_long_notes_is_refused(tmp_path: Path) -> None:
    """200 notes of 999 units in one bar (each under the note limit): 780 MB and growing after 25 s."""
    from tunesmith.score.notation import MAX_ABC_BAR_QUARTERS, read_score

    path = tmp_path / "long_bar.abc"
    path.write_text("X:1\nT:t\nM:4/4\nL:1/8\nK:C\n|c8|" + "d999" * 200 + "|\n")
    with pytest.raises(InputFileError, match=f"implausible bar: over {MAX_ABC_BAR_QUARTERS} quarter notes") as caught:
        read_score(path)
    one_line_naming(caught.value, path)


def test_abc_checks_leave_ordinary_tunes_alone(tmp_path: Path) -> None:
    """Long notes, chords with lengths, chord symbols with digits and inline fields still read."""
    from tunesmith.score.notation import read_score

    path = tmp_path / "ok.abc"
    path.write_text('X:1\nT:t\nM:12/8\nL:1/16\nK:G\n|"G7"d12 [ceg]12|[M:3/4] z12|"A7"B24|\n')
    score = read_score(path)
    assert [n.duration for n in score.tracks[0].notes] == [3.0, 3.0, 3.0, 3.0, 6.0]  # d12, [ceg]12, B24 at L:1/16
    assert [c.chord.root for c in score.chords] == [7, 9]  # G7, A7: their digits are no lengths


def test_musicxml_key_signature_wider_than_seven_fifths(tmp_path: Path) -> None:
    from tunesmith.score.notation import read_score

    text = (CORPUS / "musicxml" / "leadsheet.musicxml").read_text()
    assert "<fifths>" in text
    path = tmp_path / "wide.musicxml"
    path.write_text(re.sub(r"<fifths>[^<]*</fifths>", "<fifths> 8 </fifths>", text))
    with pytest.raises(InputFileError, match=r"implausible key signature: <fifths> 8 \(a key signature has -7 to 7\)"):
        read_score(path)
    path.write_text(re.sub(r"<fifths>[^<]*</fifths>", "<fifths>-7</fifths>", text))
    assert read_score(path).keys[0].key.tonic == 11  # C flat major


# A campaign timeout: irregular bars make music21 build a metre for each of hundreds of beats (cubic).
SLOW_ABC = (
    b"|2X:1\nT:See Reel\nM:4/4\nL81/kkkkkkkkkkkkkkkke Reel\nM:5/4\nL811/kkkkkkkkkkkkkkkkkkk" + b"\0" * 15 + b"k|k\n"
)


def test_music21_gets_a_time_limit_on_a_score(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import signal
    import time

    from tunesmith.score.notation import read_score

    path = tmp_path / "slow.abc"
    path.write_bytes(SLOW_ABC)
    monkeypatch.setenv("TUNESMITH_SCORE_READ_SECONDS", "1.5")
    outer = signal.setitimer(signal.ITIMER_REAL, 0)  # nothing of ours is pending; keep it that way
    t0 = time.perf_counter()
    with pytest.raises(InputFileError, match=r"music21 did not finish reading it in 1\.5 s") as caught:
        read_score(path)
    assert time.perf_counter() - t0 < 5.0
    one_line_naming(caught.value, path)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0) and outer == (0.0, 0.0)


def test_reading_a_score_leaves_no_pickle_in_music21s_scratch_folder(tmp_path: Path) -> None:
    """music21 cached a gzip pickle of every file read in /tmp/music21 (5 746 files, 53 MB after fuzzing)."""
    from music21 import environment

    from tunesmith.score.notation import read_score

    scratch = Path(environment.Environment().getRootTempDir())
    before = set(scratch.glob("m21-*.p.gz"))
    read_score(copy(tmp_path, "abc", "reel.abc"))
    assert set(scratch.glob("m21-*.p.gz")) == before


# ------------------------------------------------------------------------------ listening history
def test_history_carriage_return_inside_the_header(tmp_path: Path) -> None:
    """csv.Error ("new-line character seen in unquoted field") escaped format detection."""
    from tunesmith.recommend.history import import_history

    path = copy(tmp_path, "history_csv", "regress_cr_in_header.tsv")
    with pytest.raises(InputFileError, match="unreadable first line") as caught:
        import_history(path, tmp_path / "h.sqlite")
    one_line_naming(caught.value, path)


def test_history_timestamps_sqlite_cannot_hold_are_bad_rows(tmp_path: Path) -> None:
    """A 23-digit 'uts' overflowed SQLite's INTEGER; '²' passed str.isdigit() and broke int()."""
    from tunesmith.recommend.history import import_history

    path = copy(tmp_path, "history_csv", "regress_huge_timestamp.csv")
    report = import_history(path, tmp_path / "h.sqlite")
    assert (report.rows, report.added, report.bad) == (2, 0, {"unreadable time": 2})


def test_history_spotify_play_of_1e300_ms_is_a_bad_row(tmp_path: Path) -> None:
    from tunesmith.recommend.history import import_history

    path = copy(tmp_path, "history_json", "regress_huge_ms_played.json")
    report = import_history(path, tmp_path / "h.sqlite")
    assert (report.rows, report.added, report.bad) == (1, 0, {"bad ms_played": 1})
    with sqlite3.connect(tmp_path / "h.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM plays").fetchone()[0] == 0


def test_history_json_nested_thousands_deep(tmp_path: Path) -> None:
    """json's RecursionError escaped the streaming array reader."""
    from tunesmith.recommend.history import import_history

    path = copy(tmp_path, "history_json", "regress_deep_nesting.json")
    with pytest.raises(InputFileError, match="nested too deeply") as caught:
        import_history(path, tmp_path / "h.sqlite")
    one_line_naming(caught.value, path)


# ------------------------------------------------------------------------ mix settings, recipes
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("regress_eq_band_not_object.json", "settings: malformed value"),
        ("regress_400_digit_number.json", "'target_lufs' is out of range (a 401-digit number)"),
        ("regress_deep_nesting.json", "not a settings JSON file"),
    ],
)
def test_mix_settings_with_values_of_the_wrong_kind(tmp_path: Path, name: str, message: str) -> None:
    """AttributeError, OverflowError and RecursionError escaped load_settings."""
    from tunesmith.mix.settings import load_settings

    path = copy(tmp_path, "mix_settings", name)
    with pytest.raises(InputFileError) as caught:
        load_settings(path)
    assert message in one_line_naming(caught.value, path)


def test_mix_settings_automation_must_be_finite(tmp_path: Path) -> None:
    from tunesmith.mix.settings import load_settings

    doc = json.loads((CORPUS / "mix_settings" / "mix.json").read_text())
    doc["stems"][0]["automation"] = [[0.0, 0.0], [float("inf"), -3.0]]
    path = tmp_path / "mix.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputFileError, match="automation points must be finite"):
        load_settings(path)


def test_recipe_nested_thousands_deep(tmp_path: Path) -> None:
    from tunesmith.provenance.recipe import read_recipe

    path = copy(tmp_path, "recipe", "regress_deep_nesting.recipe.json")
    with pytest.raises(InputFileError, match="not a valid recipe") as caught:
        read_recipe(path)
    one_line_naming(caught.value, path)


# ---------------------------------------------------------------------------------------- styles
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("regress_deep_nesting.toml", "nested too deeply"),
        ("regress_program_inf.toml", "cannot convert float infinity to integer"),
        ("regress_table_as_string.toml", "has no attribute"),
    ],
)
def test_style_files_that_crashed_the_loader(tmp_path: Path, name: str, message: str) -> None:
    """RecursionError (tomllib), OverflowError (program = inf), AttributeError (a table written as a string)."""
    from tunesmith.compose.style import StyleError, load_style

    path = copy(tmp_path, "style", name)
    with pytest.raises(StyleError) as caught:
        load_style(path)
    assert message in one_line_naming(caught.value, path)


# -------------------------------------------------------------------------------------- writing
def test_audio_writer_reports_a_failed_write_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """libsndfile's failed write surfaced as 'internal error: LibsndfileError: System error.'."""
    from tunesmith.audio.io import AudioWriter

    out = tmp_path / "out.wav"

    def full(self: sf.SoundFile, data: np.ndarray) -> None:
        raise sf.LibsndfileError(2, prefix="")  # what soundfile raises when the OS refuses the write

    writer = AudioWriter(out, 8000, 1)
    monkeypatch.setattr(sf.SoundFile, "write", full)
    with pytest.raises(TunesmithError, match="cannot write the audio") as caught, writer:
        writer.write(np.zeros((100, 1), np.float32))
    one_line_naming(caught.value, out)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ batch manifests
def test_batch_manifest_cell_over_the_csv_field_limit(tmp_path: Path) -> None:
    """csv.Error ("field larger than field limit (131072)") escaped the manifest reader."""
    from tunesmith.errors import UsageError
    from tunesmith.pipeline.batch import read_items

    path = tmp_path / "big.csv"
    path.write_text('input,id\n"' + "a" * 140_000 + '",x\n')
    with pytest.raises(UsageError, match="unreadable CSV") as caught:
        read_items("master", path, tmp_path / "out")
    one_line_naming(caught.value, path)


def test_batch_manifest_nul_in_an_input_path(tmp_path: Path) -> None:
    """pathlib's ValueError ("embedded null byte") escaped the manifest reader."""
    from tunesmith.errors import UsageError
    from tunesmith.pipeline.batch import read_items

    path = copy(tmp_path, "batch_manifest", "regress_nul_in_input.csv")
    with pytest.raises(UsageError, match="NUL") as caught:
        read_items("master", path, tmp_path / "out")
    one_line_naming(caught.value, path)
