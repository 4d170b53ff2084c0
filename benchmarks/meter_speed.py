"""Meter speed: tunesmith's full measurement vs pyloudnorm's integrated loudness, same audio, same run.

The signal is 3 minutes of 44.1 kHz stereo: the real recordings in
../shared/data/mixes joined end to end (pink noise with a fixed seed when the
shared data is absent). Timed: tunesmith's full measurement (integrated +
momentary + short-term + LRA + true peak), its loudness-only pass, and
pyloudnorm's ``integrated_loudness`` alone. Medians of several runs after a
warm-up. Target (issue 2): full measurement >= 300x real time on 2 cores.

Usage: python benchmarks/meter_speed.py [--repeats N]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from _common import SHARED_DATA, best_of, write_result

from tunesmith.audio import Audio, load, measure_loudness

SECONDS = 180.0
RATE = 44_100
TARGET_X = 300.0


def test_signal() -> tuple[Audio, str]:
    mixes = sorted((SHARED_DATA / "mixes").glob("*.ogg"))
    frames = int(SECONDS * RATE)
    if mixes:
        parts = [load(p).samples for p in mixes]
        x = np.concatenate(parts)
        while len(x) < frames:
            x = np.concatenate([x, x])
        return Audio(x[:frames], RATE), "the shared/data/mixes recordings joined, first 180 s"
    rng = np.random.default_rng(0)
    spec = np.fft.rfft(rng.standard_normal((frames, 2)), axis=0)
    spec[1:] /= np.sqrt(np.arange(1, len(spec)))[:, None]
    x = np.fft.irfft(spec, n=frames, axis=0)
    return Audio((x / np.abs(x).max() * 0.5).astype(np.float32), RATE), "pink noise (shared data absent)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    import pyloudnorm

    audio, source = test_signal()
    x64 = audio.samples.astype(np.float64)  # pyloudnorm's native dtype, converted outside the timing
    pyln_meter = pyloudnorm.Meter(RATE)

    measure_loudness(audio)  # warm-up: thread pool, compiled true-peak kernel, scipy import
    pyln_meter.integrated_loudness(x64[: RATE * 10])
    full, full_all = best_of(lambda: measure_loudness(audio), args.repeats)
    loud_only, _ = best_of(lambda: measure_loudness(audio, true_peak=False), args.repeats)
    pyln, pyln_all = best_of(lambda: pyln_meter.integrated_loudness(x64), max(3, args.repeats // 2))

    result = measure_loudness(audio)
    reference = pyln_meter.integrated_loudness(x64)
    rows = [
        ("tunesmith full (I+M+S+LRA+TP)", full),
        ("tunesmith loudness only (I+M+S+LRA)", loud_only),
        ("pyloudnorm integrated only", pyln),
    ]
    print(f"signal: {SECONDS:.0f} s, {RATE} Hz stereo — {source}")
    print(f"{'measurement':<40}{'median s':>10}{'x real time':>14}")
    for name, t in rows:
        print(f"{name:<40}{t:>10.3f}{SECONDS / t:>14.0f}")
    ratio = pyln / full
    verdict = "meets" if SECONDS / full >= TARGET_X else "MISSES"
    print(f"\nfull measurement is {ratio:.1f}x faster than pyloudnorm's integrated-only pass")
    print(f"full measurement: {SECONDS / full:.0f}x real time — {verdict} the {TARGET_X:.0f}x target")
    print(f"integrated: tunesmith {result.integrated_lufs:.3f} LUFS, pyloudnorm {reference:.3f} LUFS")
    path = write_result(
        "meter_speed",
        {
            "signal": source,
            "seconds": SECONDS,
            "sample_rate_hz": RATE,
            "tunesmith_full_s": full,
            "tunesmith_full_runs_s": full_all,
            "tunesmith_loudness_only_s": loud_only,
            "pyloudnorm_integrated_s": pyln,
            "pyloudnorm_runs_s": pyln_all,
            "full_x_realtime": SECONDS / full,
            "speedup_vs_pyloudnorm": ratio,
            "target_x_realtime": TARGET_X,
            "integrated_lufs": {"tunesmith": result.integrated_lufs, "pyloudnorm": reference},
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
