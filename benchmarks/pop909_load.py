"""POP909 train split: time to load all 818 songs with annotations, and key-finding accuracy.

Loading: MIDI + chord_midi.txt + beat_midi.txt + key_audio.txt for songs 001-818
(`tunesmith.score.pop909.load_split`, one process per core). Target (issue 4): <= 60 s on 2 cores.

Key finding: Krumhansl-Schmuckler on the duration-weighted pitch-class histogram of all notes,
against the first key in key_audio.txt. Reported per mode; chance is 1/24.

Usage: python benchmarks/pop909_load.py
"""

from __future__ import annotations

import sys
import time

from _common import SHARED_DATA, write_result

from tunesmith.score.pop909 import load_split
from tunesmith.score.theory import detect_key


def main() -> int:
    root = SHARED_DATA / "pop909"
    if not root.exists():
        print("needs ../shared/data/pop909")
        return 1
    t0 = time.perf_counter()
    songs = load_split(root, "train")
    seconds = time.perf_counter() - t0
    hits = {"major": [0, 0], "minor": [0, 0]}
    relative = 0
    for song in songs:
        truth = song.score.keys[0].key
        guess, _ = detect_key(song.score.pitch_class_histogram())
        hits[truth.mode][0] += guess == truth
        hits[truth.mode][1] += 1
        rel_tonic = (truth.tonic + (9 if truth.mode == "major" else 3)) % 12
        relative += guess != truth and guess.tonic == rel_tonic and guess.mode != truth.mode
    total = sum(h[1] for h in hits.values())
    accuracy = sum(h[0] for h in hits.values()) / total
    print(f"loaded {len(songs)} songs with annotations in {seconds:.1f} s (target <= 60 s)")
    print(f"key finding (Krumhansl-Schmuckler): {accuracy:.1%} of {total} songs; chance 4.2%")
    for mode, (ok, n) in hits.items():
        print(f"  {mode}: {ok}/{n} = {ok / max(n, 1):.1%}")
    print(f"  relative major/minor confusions: {relative}")
    path = write_result(
        "pop909_load",
        {
            "songs": len(songs),
            "load_seconds": seconds,
            "key_accuracy": accuracy,
            "key_by_mode": {m: {"correct": ok, "songs": n} for m, (ok, n) in hits.items()},
            "relative_confusions": relative,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
