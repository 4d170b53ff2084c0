"""tunesmith master vs Matchering 2.0, side by side on the same inputs and references.

For every recording in ../shared/data/mixes (decoded once to 24-bit WAV so both
tools read the same bytes):

* reference matching: each mix is mastered towards the next one (a ring of
  pairs) by both tools; reported per pair: |output LUFS - reference LUFS|, true
  peak, and the mean absolute difference of level-normalised third-octave band
  levels (25 Hz-16 kHz, mono sum) between output and reference;
* presets: tunesmith alone, every preset on every mix: |LUFS - target| and true
  peak against the ceiling; LRA kept at intensity 0.5 (streaming);
* speed: seconds per pair for both tools (median of 3 runs each), their
  throughput ratio per pair and over all pairs (audio seconds per second), and
  both tools on a 3-minute 44.1 kHz stereo file (median of 3; x real time);
* memory: peak RSS growth of `master` on a 10-minute file, against the size of
  its float32 samples (run in a child process);
* determinism: the same input and options twice give identical bytes.

Usage: python benchmarks/master_vs_matchering.py [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import SHARED_DATA, best_of, write_result

from tunesmith.audio import Audio, load, measure_loudness, save
from tunesmith.audio.features import SpectrumAccumulator
from tunesmith.audio.tonal import BAND_CENTRES_HZ, band_levels_db
from tunesmith.master import PRESETS, MasterSettings, master


def bands_mono(path: Path) -> np.ndarray:
    audio = load(path)
    acc = SpectrumAccumulator(audio.sample_rate)
    acc.push(audio.samples.mean(axis=1))
    return band_levels_db(*acc.result())


def band_distance(out_db: np.ndarray, ref_db: np.ndarray) -> float:
    """Mean |difference| of level-normalised third-octave levels, 25 Hz-16 kHz, dB."""
    sel = (BAND_CENTRES_HZ >= 24.0) & (BAND_CENTRES_HZ <= 16_500.0) & np.isfinite(out_db) & np.isfinite(ref_db)
    diff = out_db[sel] - ref_db[sel]
    return float(np.mean(np.abs(diff - diff.mean())))


REPEATS = 3  # timed runs per tool and file; the median is reported (the VM's speed wanders)


def run_matchering(target: Path, reference: Path, out: Path, repeats: int = 1) -> float:
    """Median wall time of ``repeats`` Matchering runs, seconds."""
    import matchering as mg

    def once() -> None:
        mg.process(target=str(target), reference=str(reference), results=[mg.pcm24(str(out))])

    return best_of(once, repeats)[0]


def run_tunesmith(source: Path, out: Path, repeats: int = 1, **kw: object) -> tuple[float, dict]:
    """Median wall time of ``repeats`` tunesmith masters, seconds, and the last run's report."""
    reports = []
    secs, _ = best_of(lambda: reports.append(master(source, out, MasterSettings(**kw))[0]), repeats)
    return secs, reports[-1].to_dict()


# Peak from /proc VmHWM, not getrusage: ru_maxrss survives fork+exec, so a child
# would report its parent's (larger) peak.
MEMORY_CHILD = r"""
import gc, json, sys
from tunesmith.master import master, MasterSettings

def status(key):
    with open('/proc/self/status') as fh:
        return [int(line.split()[1]) for line in fh if line.startswith(key)][0]

master(sys.argv[3], sys.argv[4], MasterSettings())  # warm-up: imports, compiled kernels, thread pools
gc.collect()
current = status('VmRSS')
master(sys.argv[1], sys.argv[2], MasterSettings())
print(json.dumps({"rss_before_kib": current, "peak_kib": status('VmHWM')}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 10-minute memory run")
    args = parser.parse_args()
    mixes = sorted((SHARED_DATA / "mixes").glob("*.ogg"))
    if not mixes:
        print("needs ../shared/data/mixes")
        return 1
    work = Path(tempfile.mkdtemp(prefix="tunesmith-bench-"))
    wavs = []
    for p in mixes:
        w = work / (p.name.split(".")[0][:40] + ".wav")
        save(load(p), w, "wav24")
        wavs.append(w)
    master(wavs[0], work / "warmup.wav", MasterSettings())  # compile/cache kernels before timing

    # Reference matching, both tools, same pairs.
    pairs = []
    print(f"{'pair (input -> reference)':<52}{'tool':<12}{'|dLUFS|':>8}{'TP dBTP':>9}{'bands dB':>10}{'time s':>8}")
    for i, src in enumerate(wavs):
        ref = wavs[(i + 1) % len(wavs)]
        ref_lufs = measure_loudness(load(ref), true_peak=False).integrated_lufs
        ref_bands = bands_mono(ref)
        row = {"input": src.name, "reference": ref.name, "reference_lufs": ref_lufs}
        for tool in ("tunesmith", "matchering"):
            out = work / f"{tool}-{i}.wav"
            if tool == "tunesmith":
                secs, _ = run_tunesmith(src, out, REPEATS, references=[str(ref)])
            else:
                secs = run_matchering(src, ref, out, REPEATS)
            lo = measure_loudness(load(out))
            row[tool] = {
                "seconds": secs,
                "lufs_error": abs(lo.integrated_lufs - ref_lufs),
                "true_peak_dbtp": lo.true_peak_dbtp,
                "band_distance_db": band_distance(bands_mono(out), ref_bands),
                "duration_s": lo.duration_s,
            }
            r = row[tool]
            label = f"{src.name[:24]} -> {ref.name[:24]}"
            print(
                f"{label:<52}{tool:<12}{r['lufs_error']:>8.3f}{r['true_peak_dbtp']:>9.2f}"
                f"{r['band_distance_db']:>10.2f}{secs:>8.2f}"
            )
        pairs.append(row)

    # Presets, tunesmith only.
    presets = []
    for src in wavs:
        for name, target in PRESETS.items():
            out = work / f"preset-{name}.wav"
            secs, rep = run_tunesmith(src, out, target=name)
            lo = measure_loudness(load(out))
            presets.append(
                {
                    "input": src.name,
                    "preset": name,
                    "target_lufs": target.lufs,
                    "ceiling_dbtp": target.ceiling_dbtp,
                    "lufs": lo.integrated_lufs,
                    "true_peak_dbtp": lo.true_peak_dbtp,
                    "lra_in": rep["input_loudness"]["loudness_range_lu"],
                    "lra_out": lo.loudness_range_lu,
                }
            )
    worst_lufs = max(abs(p["lufs"] - p["target_lufs"]) for p in presets)
    worst_tp_margin = max(p["true_peak_dbtp"] - p["ceiling_dbtp"] for p in presets)
    lra_kept = [p["lra_out"] / p["lra_in"] for p in presets if p["preset"] == "streaming" and p["lra_in"]]

    # Speed on a 3-minute file, both tools.
    three = work / "three_minutes.wav"
    x = np.concatenate([load(w).samples for w in wavs])
    reps = int(np.ceil(180 * 44_100 / len(x)))
    save(Audio(np.tile(x, (reps, 1))[: 180 * 44_100], 44_100), three, "wav24")
    t_ours = run_tunesmith(three, work / "three-ts.wav", REPEATS)[0]
    t_mg = run_matchering(three, wavs[1], work / "three-mg.wav", REPEATS)

    # Determinism.
    a, b = work / "det-a.wav", work / "det-b.wav"
    run_tunesmith(wavs[2], a, references=[str(wavs[0])], intensity=0.7)
    run_tunesmith(wavs[2], b, references=[str(wavs[0])], intensity=0.7)
    identical = hashlib.sha256(a.read_bytes()).hexdigest() == hashlib.sha256(b.read_bytes()).hexdigest()

    # Memory on a 10-minute file (child process).
    memory = None
    if not args.quick:
        ten = work / "ten_minutes.wav"
        reps = int(np.ceil(600 * 44_100 / len(x)))
        save(Audio(np.tile(x, (reps, 1))[: 600 * 44_100], 44_100), ten, "wav24")
        del x
        child = [
            sys.executable,
            "-c",
            MEMORY_CHILD,
            str(ten),
            str(work / "ten-out.wav"),
            str(wavs[3]),
            str(work / "w.wav"),
        ]
        src = str(Path(__file__).parents[1] / "src")
        proc = subprocess.run(child, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": src})
        m = json.loads(proc.stdout.strip().splitlines()[-1])
        samples_mib = 600 * 44_100 * 2 * 4 / 2**20
        growth_mib = (m["peak_kib"] - m["rss_before_kib"]) / 1024
        memory = {"float32_samples_mib": samples_mib, "peak_growth_mib": growth_mib, "ratio": growth_mib / samples_mib}

    def mean(key: str, tool: str) -> float:
        return float(np.mean([p[tool][key] for p in pairs]))

    def peak(tool: str) -> float:
        return max(p[tool]["true_peak_dbtp"] for p in pairs)

    band_ratio = mean("band_distance_db", "tunesmith") / mean("band_distance_db", "matchering")
    throughput_ratio = t_mg / t_ours
    pair_ratios = [p["matchering"]["seconds"] / p["tunesmith"]["seconds"] for p in pairs]
    pairs_ratio = sum(p["matchering"]["seconds"] for p in pairs) / sum(p["tunesmith"]["seconds"] for p in pairs)
    print()
    print(f"reference matching, mean over {len(pairs)} pairs:{'tunesmith':>22}{'matchering':>14}")
    rows = [
        ("|output LUFS - reference LUFS| (LU)", mean("lufs_error", "tunesmith"), mean("lufs_error", "matchering")),
        ("max true peak (dBTP)", peak("tunesmith"), peak("matchering")),
        (
            "third-octave band distance (dB)",
            mean("band_distance_db", "tunesmith"),
            mean("band_distance_db", "matchering"),
        ),
    ]
    for name, ours, theirs in rows:
        print(f"  {name:<44}{ours:>12.3f}{theirs:>14.3f}")
    print(f"  band distance ratio tunesmith/matchering: {band_ratio:.2f} (target <= 0.70)")
    print(f"presets: worst |LUFS - target| {worst_lufs:.3f} LU (target <= 0.1)")
    print(f"presets: worst true peak minus ceiling {worst_tp_margin:+.3f} dB (target <= 0)")
    print(
        f"LRA kept at intensity 0.5, streaming: min {min(lra_kept):.0%}, mean {np.mean(lra_kept):.0%} (target >= 70%)"
    )
    print(f"3-minute file: tunesmith {t_ours:.2f} s = {180 / t_ours:.0f}x real time (target 150x)")
    print(f"3-minute file: matchering {t_mg:.2f} s; throughput ratio {throughput_ratio:.1f}x (target >= 2x)")
    print(
        f"pairs: throughput ratio {pairs_ratio:.2f}x over all {len(pairs)} (target >= 2x); per pair "
        + ", ".join(f"{r:.2f}x" for r in pair_ratios)
    )
    if memory:
        print(
            f"10-minute file: peak memory growth {memory['peak_growth_mib']:.0f} MiB = "
            f"{memory['ratio']:.2f}x its float32 samples (target <= 2.5x)"
        )
    print(f"deterministic: {identical}")
    path = write_result(
        "master_vs_matchering",
        {
            "pairs": pairs,
            "presets": presets,
            "worst_preset_lufs_error": worst_lufs,
            "worst_true_peak_over_ceiling_db": worst_tp_margin,
            "lra_kept": lra_kept,
            "three_minute_seconds": {"tunesmith": t_ours, "matchering": t_mg},
            "x_realtime": 180 / t_ours,
            "throughput_ratio": throughput_ratio,
            "pair_throughput_ratios": pair_ratios,
            "pairs_throughput_ratio": pairs_ratio,
            "timing": f"median of {REPEATS} runs per tool and file",
            "band_distance_ratio": band_ratio,
            "memory": memory,
            "deterministic": identical,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
