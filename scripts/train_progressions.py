"""Learn chord-progression statistics from the POP909 training songs (001–818).

Every annotated chord is turned into a roman numeral relative to the song's key
(``key_audio.txt``), repeats are merged, and the script counts, separately for
major and minor keys: how sections open (the first chord after a long gap or at
the start), chord-to-chord transitions of first and second order, and how long
chords last (in beats). Rare numerals (fewer than ``--min-count`` occurrences)
are folded into their plain triad so the vocabulary stays musical. The result,
``src/tunesmith/compose/data/progressions.json``, is what ``harmony.source =
"learned"`` samples from; its card is written beside it.

Usage::

    python scripts/train_progressions.py [--pop909 ../shared/data/pop909]

Takes about 40 s on 2 cores (loading the MIDI files dominates). The held-out songs
819–909 are never read.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


from tunesmith.score.pop909 import LAST_TRAIN_SONG, load_split  # noqa: E402
from tunesmith.score.theory import parse_roman, roman_numeral  # noqa: E402

OUT = ROOT / "src" / "tunesmith" / "compose" / "data" / "progressions.json"


def _triad(numeral: str) -> str:
    """``V7`` → ``V``, ``viiø7`` → ``viio``: the numeral with its seventh/extension dropped."""
    m = re.match(r"^([b#]?[IViv]+)", numeral)
    assert m is not None
    head = m.group(1)
    return head + ("o" if numeral[len(head) :].startswith(("o", "ø")) else "")


def _numerals(song: object) -> dict[str, list[str]]:
    """Numeral sequences of one song per mode (repeats merged), as the trainer reads them."""
    out: dict[str, list[str]] = {"major": [], "minor": []}
    keys = song.score.keys
    if not keys:
        return out
    for c in song.score.chords:
        if c.chord is None:
            continue
        key = next((k.key for k in reversed(keys) if k.beat <= c.start + 1e-6), keys[0].key)
        seq = out["minor" if key.mode == "minor" else "major"]
        token = roman_numeral(c.chord, key)
        if not seq or seq[-1] != token:
            seq.append(token)
    return out


def evaluate(model: dict, root: str) -> dict[str, object]:
    """Next-chord top-1 accuracy and perplexity on held-out POP909 songs (819-909) against baselines.

    The chain's prediction is its most likely next numeral given the previous two (backing
    off to one); the baseline is the unigram (always the most common numeral). Both
    probabilities are add-one smoothed so numerals never seen in training count too.
    """
    import math

    songs = load_split(root, "test")
    stats = {}
    for mode in ("major", "minor"):
        m = model[mode]
        unigram = collections.Counter()
        for table in m["first_order"].values():
            unigram.update(table)
        total_u = sum(unigram.values())
        vocab = len(set(unigram) | set(m["start"])) + 1
        hits = hits_u = n = 0
        log_p = log_u = 0.0
        for song in songs:
            seq = [t if t in m["first_order"] or t in unigram else _triad(t) for t in _numerals(song)[mode]]
            for i in range(1, len(seq)):
                ctx2 = f"{seq[i - 2]} {seq[i - 1]}" if i >= 2 else ""
                table = m["second_order"].get(ctx2) or m["first_order"].get(seq[i - 1]) or m["start"]
                tot = sum(table.values())
                best = max(table, key=table.get)
                hits += best == seq[i]
                hits_u += unigram.most_common(1)[0][0] == seq[i]
                # Add-one smoothing so unseen numerals get a probability.
                log_p += math.log((table.get(seq[i], 0) + 1) / (tot + vocab))
                log_u += math.log((unigram.get(seq[i], 0) + 1) / (total_u + vocab))
                n += 1
        stats[mode] = {
            "predictions": n,
            "top1_accuracy": round(hits / max(1, n), 4),
            "unigram_top1_accuracy": round(hits_u / max(1, n), 4),
            "perplexity": round(math.exp(-log_p / max(1, n)), 2),
            "unigram_perplexity": round(math.exp(-log_u / max(1, n)), 2),
        }
    return {"split": "POP909 819-909 (held out)", **stats}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pop909", default=str(ROOT.parent / "shared" / "data" / "pop909"))
    ap.add_argument("--min-count", type=int, default=25)
    ap.add_argument(
        "--evaluate", action="store_true", help="report next-chord figures on the held-out songs 819-909 (final only)"
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    songs = load_split(args.pop909, "train")
    assert all(s.song_id <= LAST_TRAIN_SONG for s in songs)
    sequences: dict[str, list[list[tuple[str, float]]]] = {"major": [], "minor": []}
    for song in songs:
        keys = song.score.keys
        if not keys:
            continue
        seq: list[tuple[str, float]] = []
        mode = keys[0].key.mode
        for c in song.score.chords:
            key = next((k.key for k in reversed(keys) if k.beat <= c.start + 1e-6), keys[0].key)
            if key.mode != mode:  # a modulation between modes: start a new sequence
                if seq:
                    sequences[mode].append(seq)
                seq, mode = [], key.mode
            if c.chord is None:
                if seq:
                    sequences[mode].append(seq)
                seq = []
                continue
            token = roman_numeral(c.chord, key)
            if seq and seq[-1][0] == token:
                seq[-1] = (token, seq[-1][1] + c.duration)
            else:
                seq.append((token, c.duration))
        if seq:
            sequences[mode].append(seq)

    model: dict[str, object] = {"source": "POP909 songs 001-818 (train split), chord_midi.txt + key_audio.txt"}
    for mode, seqs in sequences.items():
        counts = collections.Counter(t for s in seqs for t, _ in s)
        keep = {t for t, n in counts.items() if n >= args.min_count}

        def fold(t: str, keep: set[str] = keep) -> str:
            return t if t in keep else _triad(t)

        start: collections.Counter[str] = collections.Counter()
        first: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        second: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        lengths: collections.Counter[float] = collections.Counter()
        for s in seqs:
            toks = []
            for t, d in s:
                f = fold(t)
                if toks and toks[-1] == f:
                    continue
                toks.append(f)
                lengths[round(d * 2) / 2] += 1
            if not toks:
                continue
            start[toks[0]] += 1
            for a, b in itertools.pairwise(toks):
                first[a][b] += 1
            for a, b, c in zip(toks, toks[1:], toks[2:], strict=False):
                second[f"{a} {b}"][c] += 1
        vocab = sorted({t for t in start} | set(first) | {b for d in first.values() for b in d})
        from tunesmith.score.theory import Key

        for t in vocab:  # every numeral must read back
            parse_roman(t, Key(0, mode))
        model[mode] = {
            "sequences": len(seqs),
            "chords": sum(len(s) for s in seqs),
            "vocabulary": vocab,
            "start": dict(start.most_common()),
            "first_order": {a: dict(d.most_common()) for a, d in sorted(first.items())},
            "second_order": {a: dict(d.most_common()) for a, d in sorted(second.items()) if sum(d.values()) >= 3},
            "lengths_beats": {str(k): v for k, v in sorted(lengths.items()) if v >= 10},
        }
    model["evaluation"] = evaluate(model, args.pop909) if args.evaluate else None
    OUT.parent.mkdir(parents=True, exist_ok=True)
    # Compact JSON: the file ships in the wheel.
    OUT.write_text(json.dumps(model, separators=(",", ":")) + "\n")
    took = time.perf_counter() - t0
    print(f"{len(songs)} songs -> {OUT.relative_to(ROOT)} ({OUT.stat().st_size / 1024:.0f} KiB) in {took:.1f} s")
    for mode in ("major", "minor"):
        m = model[mode]
        assert isinstance(m, dict)
        top = sorted(m["first_order"].items(), key=lambda kv: -sum(kv[1].values()))[:6]
        print(mode, m["sequences"], "sequences", m["chords"], "chords", len(m["vocabulary"]), "numerals")
        if model["evaluation"]:
            print("  held out:", model["evaluation"][mode])
        for a, d in top:
            total = sum(d.values())
            print(f"  {a:>6} -> " + ", ".join(f"{b} {n / total:.0%}" for b, n in list(d.items())[:4]))


if __name__ == "__main__":
    main()
