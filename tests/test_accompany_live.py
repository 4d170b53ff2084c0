"""Live accompaniment without hardware (mido in-memory ports), the ALSA/FluidSynth paths where they
exist, and ``tunesmith accompany`` / ``tunesmith midi-ports`` end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import mido
import pytest
from conftest import shared

from tunesmith.accompany import Accompanist, AccompanySettings
from tunesmith.accompany.ports import SEQUENCER, FluidSynthOutput, resolve
from tunesmith.accompany.scheduler import LiveSession
from tunesmith.errors import UsageError
from tunesmith.score.midi import read_midi, write_midi
from tunesmith.score.types import Note, Score, TempoChange, Track

NOTES = [60, 64, 67, 72, 67, 71, 74, 71, 69, 72, 76, 72, 65, 69, 72, 69]  # C G Am F, a beat each
BPM = 240.0  # fast, so the real-time sessions take seconds


class Recorder(mido.ports.BaseOutput):
    """An in-memory output port that keeps what it was sent, when; it can be told to fail."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__("recorder")
        self.sent: list[tuple[float, mido.Message]] = []
        self.fail_after = fail_after

    def _send(self, msg: mido.Message) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise OSError("device unplugged")
        self.sent.append((time.perf_counter(), msg))


class Keyboard(mido.ports.BaseInput):
    """An in-memory input port a performer thread plays into; it can interrupt the reader once."""

    def __init__(self, interrupt_after: float | None = None) -> None:
        super().__init__("keyboard")
        self.interrupt_at = None if interrupt_after is None else time.perf_counter() + interrupt_after

    def play(self, bpm: float, notes: list[int], stop: threading.Event | None = None) -> threading.Thread:
        spb = 60.0 / bpm

        def performer() -> None:
            t0 = time.perf_counter()
            for i, pitch in enumerate(notes):
                while time.perf_counter() < t0 + i * spb:
                    time.sleep(0.0005)
                self._messages.append(mido.Message("note_on", note=pitch, velocity=90))
                time.sleep(spb * 0.8)
                self._messages.append(mido.Message("note_off", note=pitch))
            if stop is not None:
                time.sleep(spb)
                stop.set()

        thread = threading.Thread(target=performer, daemon=True)
        thread.start()
        return thread

    def iter_pending(self):
        if self.interrupt_at is not None and time.perf_counter() >= self.interrupt_at:
            self.interrupt_at = None
            raise KeyboardInterrupt  # what Ctrl-C does to the live loop
        return super().iter_pending()


def balanced(sent: list[tuple[float, mido.Message]]) -> bool:
    """Every note-on sent was followed by its note-off."""
    sounding: Counter = Counter()
    for _, m in sent:
        if m.type == "note_on" and m.velocity > 0:
            sounding[(m.channel, m.note)] += 1
        elif m.type in ("note_on", "note_off") and sounding[(m.channel, m.note)]:
            sounding[(m.channel, m.note)] -= 1
    return sum(sounding.values()) == 0


def session(output: Recorder, keyboard: Keyboard, seconds: float, **kw) -> tuple:
    engine = Accompanist(AccompanySettings(tempo_bpm=BPM, **kw))
    live = LiveSession(engine, output, thru=True)
    stop = threading.Event()
    keyboard.play(BPM, NOTES, stop)
    report = live.run(keyboard, stop=stop, duration_s=seconds)
    return report, live


# ---------------------------------------------------------------------------- the live loop
def test_live_session_plays_on_time_and_leaves_nothing_hanging() -> None:
    out, keys = Recorder(), Keyboard()
    report, _ = session(out, keys, seconds=8.0)
    assert report.reason == "stopped"  # the performer finished
    band = [m for _, m in out.sent if m.type == "note_on" and m.channel != 0]
    echoed = [m for _, m in out.sent if m.type == "note_on" and m.channel == 0]
    assert len(band) > 20 and len(echoed) == len(NOTES)
    assert balanced(out.sent) and report.hanging_notes == 0
    assert report.late_sent_ms["p50"] < 5.0  # generous on a busy test machine; the benchmark measures it
    drums = [t for t, m in out.sent if m.type == "note_on" and m.channel == 9]
    assert len(drums) >= 8
    assert report.late_planned_ms < 50.0  # planned ahead (the benchmark holds it to 5 ms)


def test_a_recorded_session_is_written_with_both_parts(tmp_path: Path) -> None:
    from tunesmith.cli_accompany import _write_record

    out, keys = Recorder(), Keyboard()
    engine = Accompanist(AccompanySettings(tempo_bpm=BPM))
    live = LiveSession(engine, out, record=True)
    stop = threading.Event()
    keys.play(BPM, NOTES[:8], stop)
    live.run(keys, stop=stop, duration_s=6.0)
    path = tmp_path / "take.mid"
    _write_record(live, path, engine.settings)
    score = read_midi(path)
    assert [n.pitch for n in score.tracks[0].notes] == NOTES[:8]
    assert len(score.tracks) >= 3 and path.with_name("take.mid.recipe.json").exists()


def test_ctrl_c_stops_cleanly_with_all_notes_off() -> None:
    out, keys = Recorder(), Keyboard(interrupt_after=1.5)
    report, live = session(out, keys, seconds=10.0)
    assert report.reason == "interrupted"
    assert balanced(out.sent) and report.hanging_notes == 0
    resets = {m.channel for _, m in out.sent if m.type == "control_change" and m.control == 123}
    assert set(live.engine.band.channels) <= resets


def test_lost_input_port_ends_the_session_cleanly() -> None:
    out, keys = Recorder(), Keyboard()
    threading.Timer(1.5, keys.close).start()  # the keyboard is unplugged
    report, _ = session(out, keys, seconds=10.0)
    assert report.reason == "input lost"
    assert balanced(out.sent)


def test_lost_output_port_ends_the_session_without_an_exception() -> None:
    out, keys = Recorder(fail_after=25), Keyboard()
    report, _ = session(out, keys, seconds=10.0)
    assert report.reason == "output lost" and "unplugged" in report.detail


def test_port_names_resolve() -> None:
    names = ["Midi Through:Midi Through Port-0 14:0", "KeyStep 37:KeyStep 37 MIDI 1 24:0"]
    assert resolve("keystep", names, "input") == names[1]
    assert resolve("1", names, "input") == names[1]
    with pytest.raises(UsageError, match=r"no MIDI input ports match 'oxygen'.*KeyStep"):
        resolve("oxygen", names, "input")
    with pytest.raises(UsageError, match="several"):
        resolve(":", names, "input")


@pytest.mark.skipif(not SEQUENCER.exists(), reason=f"no ALSA sequencer here ({SEQUENCER} missing: container/CI)")
def test_alsa_virtual_ports_round_trip() -> None:
    from tunesmith.accompany.ports import open_input, open_output

    inport, in_name, _ = open_input("virtual:tunesmith-test-in")
    band_out, band_name, _ = open_output("virtual:tunesmith-test-band")
    performer = mido.open_output(in_name)
    listener = mido.open_input(band_name)
    heard: list[mido.Message] = []
    stop = threading.Event()

    def play() -> None:
        for pitch in NOTES[:8]:
            performer.send(mido.Message("note_on", note=pitch, velocity=90))
            time.sleep(0.3)
            performer.send(mido.Message("note_off", note=pitch))
        heard.extend(listener.iter_pending())
        stop.set()

    threading.Thread(target=play, daemon=True).start()
    live = LiveSession(Accompanist(AccompanySettings(tempo_bpm=200.0)), band_out)
    report = live.run(inport, stop=stop, duration_s=10.0)
    time.sleep(0.1)
    heard.extend(listener.iter_pending())
    for port in (inport, band_out, performer, listener):
        port.close()
    assert report.events_in >= 16 and any(m.type == "note_on" for m in heard)
    assert balanced([(0.0, m) for m in heard])


def test_synth_output_drives_fluidsynth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--output synth``: MIDI messages become FluidSynth shell commands on its stdin (a stand-in
    ``fluidsynth`` records them: this machine may have no sound card)."""
    fake = tmp_path / "fluidsynth"
    log = tmp_path / "commands.txt"
    fake.write_text(f'#!/bin/sh\necho "$@" > {log}.args\ncat > {log}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{Path(sys.executable).parent}:/usr/bin:/bin")
    font = tmp_path / "gm.sf2"
    font.write_bytes(b"RIFF")
    synth = FluidSynthOutput(font, driver="alsa")
    for msg in (
        mido.Message("program_change", channel=9, program=25),
        mido.Message("note_on", channel=1, note=60, velocity=100),
        mido.Message("control_change", channel=1, control=64, value=127),
        mido.Message("pitchwheel", channel=1, pitch=-8192),
        mido.Message("note_off", channel=1, note=60),
        mido.Message("clock"),  # not a channel message: ignored
    ):
        synth.send(msg)
    synth.close()
    assert log.read_text().splitlines() == [
        "prog 9 25",
        "noteon 1 60 100",
        "cc 1 64 127",
        "pitch_bend 1 0",
        "noteoff 1 60",
        "quit",
    ]
    assert "-a alsa" in Path(f"{log}.args").read_text() and str(font) in Path(f"{log}.args").read_text()
    with pytest.raises(OSError):
        synth.send(mido.Message("note_on", note=60))


def test_synth_without_a_sound_card_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tunesmith.accompany import ports

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("PULSE_SERVER", raising=False)
    monkeypatch.setattr(ports, "SOUND_DEVICES", tmp_path / "no-snd")
    with pytest.raises(ports.MidiUnavailableError, match="needs a sound card"):
        ports.audio_driver()


# ---------------------------------------------------------------------------- the command
def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tunesmith.cli", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def melody_file(tmp_path: Path) -> Path:
    notes = tuple(Note(i * 1.0, 0.9, p, 90) for i, p in enumerate(NOTES * 2))
    path = tmp_path / "tune.mid"
    write_midi(Score(tracks=(Track("melody", notes, 0, False, "melody"),), tempos=(TempoChange(0.0, 110.0),)), path)
    return path


def test_cli_offline_writes_performer_and_band(melody_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "band.mid"
    proc = cli("accompany", str(melody_file), "-o", str(out), "--style", "rock", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["style"] == "rock" and doc["tempo_bpm"] == 110 and doc["performer_notes"] == 32
    score = read_midi(out)
    names = [t.name for t in score.tracks]
    assert names[0] == "melody" and {"guitar", "bass"} <= set(names) and any(t.is_drum for t in score.tracks)
    assert [n.pitch for n in score.tracks[0].notes] == NOTES * 2  # the performer's part is untouched
    assert score.chords and score.keys
    label = [m.text for m in mido.MidiFile(str(out)).tracks[0] if m.type == "copyright"]
    assert label and "AI-generated" in label[0] and "not AI-generated" in label[0]
    recipe = json.loads(out.with_name(out.name + ".recipe.json").read_text())
    assert recipe["command"] == "accompany" and recipe["ai_generated"] is True


@pytest.mark.parametrize(
    ("args", "code", "problem"),
    [
        ((), 2, "missing -o/--output"),
        (("-o", "x.mid"), 2, "give a MIDI file to accompany, or --input PORT"),
        (("{melody}", "--input", "virtual", "-o", "x.mid"), 2, "not both"),
        (("{melody}", "-o", "{tmp}/band.wav"), 2, "must be a MIDI file"),
        (("{melody}", "-o", "{melody}"), 2, "overwrite an input"),
        (("{melody}", "-o", "{tmp}/b.mid", "--tempo", "10"), 2, "--tempo must be 30-300"),
        (("{melody}", "-o", "{tmp}/b.mid", "--style", "polka9"), 2, "unknown style 'polka9'"),
        (("{melody}", "-o", "{tmp}/b.mid", "--track", "tuba"), 1, "no pitched track called 'tuba'"),
        (("{tmp}/missing.mid", "-o", "{tmp}/b.mid"), 1, "no such file"),
    ],
)
def test_cli_errors_are_one_line(
    melody_file: Path,
    tmp_path: Path,
    args: tuple,
    code: int,
    problem: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tunesmith.cli import main

    filled = [a.format(melody=melody_file, tmp=tmp_path) for a in args]
    monkeypatch.setattr(sys, "argv", ["tunesmith", "accompany", *filled])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tunesmith: error:") and problem in lines[0], err
    assert not (tmp_path / "b.mid").exists()


@pytest.mark.skipif(SEQUENCER.exists(), reason="this machine has an ALSA sequencer")
def test_cli_live_without_alsa_says_so_in_one_line(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    from tunesmith.cli import main

    for args in (("midi-ports",), ("accompany", "--input", "virtual", "-o", "virtual")):
        monkeypatch.setattr(sys, "argv", ["tunesmith", *args])
        with pytest.raises(SystemExit) as exit_:
            main()
        lines = capsys.readouterr().err.strip().splitlines()
        assert exit_.value.code == 1
        assert len(lines) == 1 and "live MIDI is not available: no ALSA sequencer" in lines[0]


def test_pop909_melody_is_accompanied_consonantly() -> None:
    """A real melody (a training song), no look-ahead: most notes are tones of the band's chords."""
    from tunesmith.accompany.evaluate import note_in_chord
    from tunesmith.accompany.offline import performer_events, run
    from tunesmith.score.pop909 import load_song

    song = load_song(shared("pop909"), 3).score
    melody = song.track("melody")
    strict = Score(tracks=(melody,), tempos=(song.tempos[0],))
    engine = Accompanist(AccompanySettings(tempo_bpm=song.tempos[0].bpm))
    engine.start(0.0)
    run(engine, performer_events(strict, [melody]), finish=False)
    notes = [(strict.seconds(n.start), n.pitch) for n in melody.notes]
    fit = note_in_chord(notes, [(t, c) for _, t, c in engine.chord_track], grace=0.3)
    assert fit.ratio >= 0.55 and fit.uncovered <= 0.02 * len(notes)
