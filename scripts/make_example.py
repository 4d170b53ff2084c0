"""Synthesise the bundled example song (``src/tunesmith/data/example.ogg``).

Eight bars of I–V–vi–IV in C major at 120 BPM: a detuned pad, a bass line,
kick, snare and hi-hats, all additive/noise synthesis with a fixed seed, so the
example is ours (CC0) and rebuilt identically by running this script.

Usage: ``python scripts/make_example.py [OUT]``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.signal as ss
import soundfile as sf

SR = 44_100
BPM = 120.0
BEAT = 60.0 / BPM
BARS = 8
# I V vi IV in C: chord tones as MIDI notes (pad voicing) and the bass root.
CHORDS = [([60, 64, 67], 36), ([59, 62, 67], 43), ([60, 64, 69], 45), ([60, 65, 69], 41)]


def midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12)


def tone(freq: float, dur: float, harmonics: int, decay: float, detune: float = 0.0) -> np.ndarray:
    t = np.arange(int(dur * SR)) / SR
    out = np.zeros_like(t)
    for h in range(1, harmonics + 1):
        out += np.sin(2 * np.pi * freq * (1 + detune) * h * t) / h
    env = np.minimum(1.0, t / 0.02) * np.exp(-t * decay)
    return out * env


def main(out: Path) -> None:
    rng = np.random.default_rng(2026)
    n = int(BARS * 4 * BEAT * SR)
    mix = np.zeros((n, 2))
    for bar in range(BARS):
        notes, root = CHORDS[bar % 4]
        start = int(bar * 4 * BEAT * SR)
        for note in notes:
            for ch, det in ((0, -0.002), (1, 0.002)):
                pad = tone(midi_hz(note), 4 * BEAT, 6, 0.4, det) * 0.09
                mix[start : start + len(pad), ch] += pad
        for beat in range(4):
            s = start + int(beat * BEAT * SR)
            bass = tone(midi_hz(root + (12 if beat == 3 else 0)), BEAT * 0.9, 3, 3.0) * 0.35
            mix[s : s + len(bass)] += bass[:, None]
            t = np.arange(int(0.25 * SR)) / SR
            kick = np.sin(2 * np.pi * (50 + 90 * np.exp(-t * 30)) * t) * np.exp(-t * 14) * 0.8
            if beat in (0, 2):
                mix[s : s + len(kick)] += kick[:, None]
            if beat in (1, 3):
                snare = rng.standard_normal(int(0.18 * SR)) * np.exp(-np.arange(int(0.18 * SR)) / SR * 25) * 0.25
                snare = ss.sosfilt(ss.butter(2, [180, 6000], "bandpass", fs=SR, output="sos"), snare)
                mix[s : s + len(snare)] += snare[:, None] * np.array([0.9, 1.0])
            for half in (0, 1):
                h = s + int(half * BEAT / 2 * SR)
                hat = rng.standard_normal(int(0.05 * SR)) * np.exp(-np.arange(int(0.05 * SR)) / SR * 80) * 0.12
                hat = ss.sosfilt(ss.butter(4, 7000, "highpass", fs=SR, output="sos"), hat)
                mix[h : h + len(hat)] += hat[:, None] * np.array([0.6, 1.0])
    mix *= 10 ** (-3 / 20) / np.abs(mix).max()  # peak at -3 dBFS: a pre-master mix
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(out, mix.astype(np.float32), SR, format="OGG", subtype="VORBIS")
    print(f"wrote {out} ({n / SR:.1f} s)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[1] / "src/tunesmith/data/example.ogg")
