"""Render speed: a 5-track, 3-minute song to dry stems through FluidSynth (target >= 30x real time on 2 cores).

The song is built here (melody, bass, chords, pad, drums at 120 BPM, 90 bars) so
the benchmark needs no shared data. Timed: `tunesmith.render.render` end to end
(per-track MIDI, FluidSynth, equal-length float WAV stems), median of 3 runs.

Usage: python benchmarks/render_speed.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

from _common import write_result

from tunesmith.render import render
from tunesmith.score import Note, Score, TempoChange, Track

BARS = 90  # 180 s at 120 BPM in 4/4


def song() -> Score:
    prog = [(60, 64, 67), (55, 59, 62), (57, 60, 64), (53, 57, 60)]
    melody, bass, chords, pad, drums = [], [], [], [], []
    for bar in range(BARS):
        chord = prog[bar % 4]
        b0 = bar * 4.0
        for i in range(8):
            melody.append(Note(b0 + i * 0.5, 0.45, chord[i % 3] + 12, 90))
        for i in range(4):
            bass.append(Note(b0 + i, 0.9, chord[0] - 24, 100))
            for p in chord:
                chords.append(Note(b0 + i, 0.5, p, 70))
            drums.append(Note(b0 + i, 0.25, 36 if i % 2 == 0 else 38, 110))
            drums += [Note(b0 + i, 0.1, 42, 70), Note(b0 + i + 0.5, 0.1, 42, 60)]
        pad += [Note(b0, 4.0, p - 12, 60) for p in chord]
    return Score(
        tracks=(
            Track("melody", tuple(melody), program=73, role="melody"),
            Track("bass", tuple(bass), program=33, role="bass"),
            Track("chords", tuple(chords), program=0, role="chords"),
            Track("pad", tuple(pad), program=89, role="pad"),
            Track("drums", tuple(drums), is_drum=True, role="drums"),
        ),
        tempos=(TempoChange(0, 120.0),),
    )


def main() -> int:
    score = song()
    seconds = score.duration_s
    times = []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            report = render(score, out)
            times.append(time.perf_counter() - t0)
    t = statistics.median(times)
    print(f"5-track song of {seconds:.0f} s -> {len(report.stems)} stems of {report.duration_s:.2f} s")
    print(f"render: {t:.2f} s median of {len(times)} = {seconds / t:.0f}x real time (target >= 30x)")
    path = write_result(
        "render_speed",
        {
            "song_seconds": seconds,
            "render_seconds": t,
            "runs_s": times,
            "x_realtime": seconds / t,
            "stems": report.stems,
            "soundfont": report.soundfont,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
