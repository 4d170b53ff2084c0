"""Composition quality: N seeds × every style, and pop against held-out POP909 songs.

Every metric is computed by ``tunesmith.score.metrics`` on the composed ``Score`` (nothing
is rendered).

Per style, over seeds 0..N-1 (default 50; ``--quick`` 5), songs of the style's default form:
* melody chord tones on strong beats: share of strong-beat melody onsets that are tones
  of the sounding chord (target mean >= 0.90);
* scale consistency (MusPy) of every pitched part, mean and minimum over (song, part)
  (target mean >= 0.9, except styles marked ``chromatic``, whose reason is printed);
* notes outside their instrument's range (target 0);
* drum-pattern consistency (MusPy: the better of 16th-grid and triplet-grid rates;
  target mean >= 0.9, styles with drums), measured on the notated grid — the style's swing
  taken out first, since a partly swung groove is on neither grid by design;
* unintended empty bars: bars of a section whose style lists the part as playing but in
  which the part does not sound (target 0);
* diversity: mean over seed pairs of 1 − |A ∩ B| / |A ∪ B|, A and B the two songs' melody
  notes as (onset, duration, pitch) — 0 means identical melodies; identical pairs counted;
* determinism: the same seed composed twice gives byte-identical MIDI files.

Pop against POP909's held-out songs (819–909): MuseGAN/MusPy metrics for two track groups,
"melody" (our melody vs POP909 MELODY) and "accompaniment" (all our non-drum, non-melody
parts merged vs POP909 BRIDGE + PIANO merged). POP909's MIDI files carry a 1/4 time
signature, so their bar lines are rebuilt from the annotated 4/4 downbeats
(``beat_midi.txt``, third column), snapped to the notes' grid. For each metric the gap
|mean ours − mean POP909| is compared to MuseGAN's real-vs-generated (hybrid model) gap on
the same metric from MuseGAN (Dong et al., AAAI 2018, Table 1), using MuseGAN's closest
track: melody ↔ Guitar (the lead-line instrument of its rock/pop material; its gaps are the
smaller, hence stricter, of Guitar and Strings) and accompaniment ↔ Piano.

Speed: ``compose`` of a 32-bar pop song (5 parts), median of 20 runs after a warm-up
(target <= 0.5 s).

Usage: python benchmarks/compose_eval.py [--seeds N] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path

import numpy as np
from _common import best_of, write_result
from rich.console import Console
from rich.table import Table

from tunesmith.compose import ComposeOptions, compose, get_style, list_styles
from tunesmith.compose.arrange import unswing
from tunesmith.score import metrics
from tunesmith.score.midi import write_midi
from tunesmith.score.types import ChordSymbol, KeyChange, Note, Score, TimeSignature, Track

POP909 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pop909"
console = Console(width=150)
LABELS = {
    "pitch_classes_per_bar": "UPC, pitch classes/bar",
    "qualified_note_rate": "QN, qualified notes %",
    "groove_consistency": "groove consistency",
    "pitch_class_entropy": "PC entropy, bits",
    "scale_consistency": "scale consistency",
}

#: MuseGAN (AAAI 2018) Table 1: training data ("real") vs the hybrid model, per track.
MUSEGAN = {
    "pitch_classes_per_bar": {
        "real": {"Bass": 1.71, "Guitar": 3.08, "Piano": 3.28, "Strings": 3.38},
        "hybrid": {"Bass": 2.35, "Guitar": 4.76, "Piano": 5.45, "Strings": 5.24},
    },
    "qualified_note_rate": {  # per cent
        "real": {"Bass": 90.0, "Guitar": 81.9, "Piano": 88.4, "Strings": 89.6},
        "hybrid": {"Bass": 44.6, "Guitar": 43.2, "Piano": 45.5, "Strings": 52.0},
    },
    "drum_pattern": {"real": {"Drums": 88.6}, "hybrid": {"Drums": 71.3}},  # per cent
}
MUSEGAN_TRACK = {"melody": "Guitar", "accompaniment": "Piano"}
TARGETS = {"chord_tone": 0.90, "scale": 0.90, "drums": 0.90, "speed_s": 0.5}


def nanmean(values: list[float]) -> float:
    a = np.asarray(values, dtype=float)
    return float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")


def nanmin(values: list[float]) -> float:
    a = np.asarray(values, dtype=float)
    return float(np.nanmin(a)) if np.isfinite(a).any() else float("nan")


def fmt(x: float | None, spec: str = ".3f") -> str:
    return "N/A" if x is None or not np.isfinite(x) else format(x, spec)


def mark(ok: bool | None) -> str:
    return "—" if ok is None else ("[green]pass[/]" if ok else "[red]FAIL[/]")


def merged(name: str, tracks: list[Track], role: str) -> Track:
    return Track(name, tuple(n for t in tracks for n in t.notes), role=role)


def midi_bytes(score: Score, folder: Path, name: str) -> bytes:
    path = folder / f"{name}.mid"
    write_midi(score, path)
    return path.read_bytes()


# ---------------------------------------------------------------------------- per style
def song_metrics(comp) -> dict[str, object]:
    """Every per-song figure of one composition."""
    score, style = comp.score, comp.style
    melody = next((t for t in score.tracks if t.role == "melody"), None)
    pitched = [t for t in score.tracks if not t.is_drum]
    drum_tracks = [t for t in score.tracks if t.is_drum]
    empty = []
    for section in score.sections:
        playing = style.section(section.name).parts
        bars = range(section.start_bar, section.start_bar + section.bars)
        for t in score.tracks:
            if t.name in playing:
                empty += [(t.name, section.name, b) for b in metrics.empty_bars(t, score, bars)]
    # Bass locked to the kick: share of kick hits (where the bass plays) with a bass onset within a 32nd.
    lock = float("nan")
    bass = next((t for t in score.tracks if t.role == "bass"), None)
    if bass is not None and drum_tracks and bass.notes:
        bar = style.bar_beats
        spans = [
            (s.start_bar * bar, (s.start_bar + s.bars) * bar)
            for s in score.sections
            if bass.name in style.section(s.name).parts
        ]
        kicks = [
            n.start
            for t in drum_tracks
            for n in t.notes
            if n.pitch in (35, 36) and any(a <= n.start < b for a, b in spans)
        ]
        onsets = np.array([n.start for n in bass.notes])
        if kicks:
            lock = float(np.mean([np.min(np.abs(onsets - k)) <= 0.125 + 1e-9 for k in kicks]))
    return {
        "kick_lock": lock,
        "max_overlap": comp.originality.get("max_overlap", 0),
        "phrases_redrawn": comp.originality.get("phrases_redrawn", 0),
        "phrases": comp.originality.get("phrases", 0),
        "chord_tone": metrics.strong_beat_chord_tone_rate(score, melody) if melody else float("nan"),
        "scale": {t.name: metrics.scale_consistency(t) for t in pitched if t.notes},
        "out_of_range": {t.name: metrics.out_of_range_notes(t) for t in score.tracks},
        # Measured on the notated grid: a partly swung groove (lo-fi, funk) sits on neither the
        # 16th nor the triplet grid by design, so the swing feel is taken out first.
        "drums": [
            metrics.drum_pattern_consistency(
                dataclasses.replace(t, notes=tuple(unswing(t.notes, style.swing, style.swing_unit))), score
            )
            for t in drum_tracks
        ],
        "empty": empty,
        "melody_notes": {(round(n.start, 4), round(n.duration, 4), n.pitch) for n in melody.notes} if melody else set(),
    }


def evaluate_style(name: str, seeds: list[int], tmp: Path) -> dict[str, object]:
    style = get_style(name)
    songs, errors, seconds = [], [], []
    for seed in seeds:
        try:
            t0 = time.perf_counter()
            comp = compose(ComposeOptions(style=name, seed=seed))
            seconds.append(time.perf_counter() - t0)
            songs.append(song_metrics(comp))
        except Exception:
            errors.append({"seed": seed, "traceback": traceback.format_exc()})
    row: dict[str, object] = {
        "style": name,
        "chromatic": style.chromatic,
        "chromatic_reason": style.chromatic_reason,
        "songs": len(songs),
        "errors": errors,
        "compose_s_mean": float(np.mean(seconds)) if seconds else None,
    }
    if not songs:
        return row
    chord_tone = [s["chord_tone"] for s in songs]
    scale = [(part, v) for s in songs for part, v in s["scale"].items()]
    worst_part = min(scale, key=lambda pv: pv[1]) if scale else (None, float("nan"))
    drums = [v for s in songs for v in s["drums"]]
    oor: dict[str, int] = {}
    for s in songs:
        for part, n in s["out_of_range"].items():
            oor[part] = oor.get(part, 0) + n
    empty: dict[str, int] = {}
    for s in songs:
        for part, section, _ in s["empty"]:
            empty[f"{part}@{section}"] = empty.get(f"{part}@{section}", 0) + 1
    distances = []
    for a, b in itertools.combinations([s["melody_notes"] for s in songs], 2):
        union = len(a | b)
        distances.append(1.0 - len(a & b) / union if union else 0.0)
    try:
        once = compose(ComposeOptions(style=name, seed=seeds[0]))
        twice = compose(ComposeOptions(style=name, seed=seeds[0]))
        same = midi_bytes(once.score, tmp, f"{name}-a") == midi_bytes(twice.score, tmp, f"{name}-b")
    except Exception:
        errors.append({"seed": seeds[0], "traceback": traceback.format_exc()})
        same = False
    row.update(
        {
            "chord_tone_mean": nanmean(chord_tone),
            "chord_tone_min": nanmin(chord_tone),
            "scale_mean": nanmean([v for _, v in scale]),
            "scale_min": float(worst_part[1]),
            "scale_worst_part": worst_part[0],
            "out_of_range": sum(oor.values()),
            "out_of_range_by_part": {k: v for k, v in oor.items() if v},
            "drums_mean": nanmean(drums) if drums else None,
            "drums_min": nanmin(drums) if drums else None,
            "empty_bars": sum(empty.values()),
            "empty_bars_by_part_section": empty,
            "diversity": float(np.mean(distances)) if distances else None,
            "identical_pairs": int(sum(d == 0.0 for d in distances)),
            "same_seed_identical_midi": bool(same),
            "bass_lock": style.bass_lock,
            "kick_lock_mean": nanmean([s["kick_lock"] for s in songs]),
            # The originality guard: longest run of notes shared with a training tune (8 = a copy).
            "max_overlap": max(s["max_overlap"] for s in songs),
            "phrases_redrawn_share": sum(s["phrases_redrawn"] for s in songs)
            / max(1, sum(s["phrases"] for s in songs)),
        }
    )
    row["pass"] = {
        "chord_tone": row["chord_tone_mean"] >= TARGETS["chord_tone"],
        "scale": None if style.chromatic else row["scale_mean"] >= TARGETS["scale"],
        "out_of_range": row["out_of_range"] == 0,
        "drums": None if not drums else row["drums_mean"] >= TARGETS["drums"],
        "empty_bars": row["empty_bars"] == 0,
        "no_copies": row["max_overlap"] < 8,
        "different_seeds_differ": row["identical_pairs"] == 0,
        "same_seed_identical": bool(same),
    }
    return row


# ---------------------------------------------------------------------------- POP909
def aligned_pop909(song_id: int) -> Score | None:
    """A POP909 song with bar lines on its annotated 4/4 downbeats (None when it has none)."""
    from tunesmith.score.pop909 import load_song

    song = load_song(POP909, song_id)
    score = song.score
    rows = np.loadtxt(POP909 / f"{song_id:03d}" / "beat_midi.txt", ndmin=2)
    down = np.array([score.beats(float(t)) for t in rows[rows[:, 2] == 1, 0]])
    onsets = np.array([n.start for t in score.tracks for n in t.notes])
    if len(down) < 2 or not len(onsets):
        return None
    # The notes sit on a 16th grid whose phase can differ from the annotation by ~1e-3 beat.
    grid = 0.25
    ph = np.round(onsets % grid, 3)
    values, counts = np.unique(ph, return_counts=True)
    phase = values[np.argmax(counts)]
    down = down + ((phase - down) % grid + grid / 2) % grid - grid / 2
    # Bars between downbeats: whole beats, n/4. The first downbeat goes to a multiple of 4.
    lengths = np.maximum(1, np.round(np.diff(down)).astype(int))
    shift = (-down[0]) % 4.0
    first = down[0] + shift
    sigs = [TimeSignature(0.0, 4, 4)]
    beat, current = first, 4
    for n in lengths:
        if n != current:
            sigs.append(TimeSignature(beat, int(n), 4))
            current = int(n)
        beat += n
    if current != 4:
        sigs.append(TimeSignature(beat, 4, 4))

    def move(n: Note) -> Note:
        return replace(n, start=n.start + shift)

    tracks = tuple(replace(t, notes=tuple(move(n) for n in t.notes)) for t in score.tracks)
    chords = tuple(ChordSymbol(c.start + shift, c.duration, c.chord) for c in score.chords)
    keys = tuple(KeyChange(k.beat + shift, k.key) for k in score.keys)
    return replace(score, tracks=tracks, chords=chords, keys=keys, time_signatures=tuple(sigs))


def group_metrics(track: Track, score: Score) -> dict[str, float]:
    return {
        "pitch_classes_per_bar": metrics.pitch_classes_per_bar(track, score),
        "qualified_note_rate": 100.0 * metrics.qualified_note_rate(track),
        "groove_consistency": metrics.groove_consistency(track, score),
        "pitch_class_entropy": metrics.pitch_class_entropy(track),
        "scale_consistency": metrics.scale_consistency(track),
    }


def compare_pop909(seeds: list[int]) -> dict[str, object] | None:
    if not POP909.exists():
        console.print(f"[yellow]POP909 comparison skipped: {POP909} is not there[/]")
        return None
    from tunesmith.score.pop909 import song_ids

    ids = [i for i in song_ids(POP909, "test") if 819 <= i <= 909]
    real: dict[str, list[dict[str, float]]] = {"melody": [], "accompaniment": []}
    skipped = []
    t0 = time.perf_counter()
    for sid in ids:
        score = aligned_pop909(sid)
        if score is None:
            skipped.append(sid)
            continue
        mel = [t for t in score.tracks if t.name.startswith("MELODY")]
        acc = [t for t in score.tracks if t.name.startswith(("BRIDGE", "PIANO"))]
        if mel and any(t.notes for t in mel):
            real["melody"].append(group_metrics(merged("melody", mel, "melody"), score))
        if acc and any(t.notes for t in acc):
            real["accompaniment"].append(group_metrics(merged("accompaniment", acc, "chords"), score))
    load_s = time.perf_counter() - t0
    ours: dict[str, list[dict[str, float]]] = {"melody": [], "accompaniment": []}
    drum_rates = []
    for seed in seeds:
        comp = compose(ComposeOptions(style="pop", seed=seed))
        score = comp.score
        mel = [t for t in score.tracks if t.role == "melody"]
        acc = [t for t in score.tracks if not t.is_drum and t.role != "melody"]
        ours["melody"].append(group_metrics(merged("melody", mel, "melody"), score))
        ours["accompaniment"].append(group_metrics(merged("accompaniment", acc, "chords"), score))
        drum_rates += [100.0 * metrics.drum_in_pattern_rate(t, score, "duple") for t in score.tracks if t.is_drum]
    rows = []
    for group in ("melody", "accompaniment"):
        mg_track = MUSEGAN_TRACK[group]
        for metric in (
            "pitch_classes_per_bar",
            "qualified_note_rate",
            "groove_consistency",
            "pitch_class_entropy",
            "scale_consistency",
        ):
            gen = nanmean([m[metric] for m in ours[group]])
            ref = nanmean([m[metric] for m in real[group]])
            gap = abs(gen - ref)
            row = {
                "group": group,
                "metric": metric,
                "generated": gen,
                "pop909": ref,
                "gap": gap,
                "generated_std": float(np.nanstd([m[metric] for m in ours[group]])),
                "pop909_std": float(np.nanstd([m[metric] for m in real[group]])),
            }
            if metric in MUSEGAN:
                mr = MUSEGAN[metric]["real"][mg_track]
                mh = MUSEGAN[metric]["hybrid"][mg_track]
                row.update(
                    {
                        "musegan_track": mg_track,
                        "musegan_real": mr,
                        "musegan_hybrid": mh,
                        "musegan_gap": abs(mh - mr),
                        "gap_smaller_than_musegan": bool(gap < abs(mh - mr)),
                    }
                )
            rows.append(row)
    dr = nanmean(drum_rates)
    rows.append(
        {
            "group": "drums",
            "metric": "DP, drum in pattern % (16ths)",
            "generated": dr,
            "pop909": None,
            "gap": None,
            "musegan_track": "Drums",
            "musegan_real": MUSEGAN["drum_pattern"]["real"]["Drums"],
            "musegan_hybrid": MUSEGAN["drum_pattern"]["hybrid"]["Drums"],
            "musegan_gap": abs(MUSEGAN["drum_pattern"]["hybrid"]["Drums"] - MUSEGAN["drum_pattern"]["real"]["Drums"]),
            "gap_smaller_than_musegan": None,
            "note": "POP909 has no drums; MuseGAN's real/hybrid figures are on Lakh drums",
        }
    )
    return {
        "pop909_songs": len(real["melody"]),
        "skipped": skipped,
        "generated_songs": len(seeds),
        "load_s": load_s,
        "musegan_mapping": MUSEGAN_TRACK,
        "rows": rows,
    }


# ---------------------------------------------------------------------------- speed
def speed() -> dict[str, object]:
    opts = [ComposeOptions(style="pop", bars=32, seed=s) for s in range(21)]
    warm = compose(opts[0])
    it = iter(opts[1:])
    median, times = best_of(lambda: compose(next(it)), 20)
    return {
        "style": "pop",
        "bars": 32,
        "tracks": len(warm.score.tracks),
        "runs": 20,
        "median_s": median,
        "min_s": min(times),
        "max_s": max(times),
        "target_s": TARGETS["speed_s"],
        "pass": median <= TARGETS["speed_s"],
    }


# ---------------------------------------------------------------------------- report
def print_styles(rows: list[dict[str, object]], n: int) -> None:
    t = Table(
        title=f"Composition per style ({n} seeds each; targets: chord tones >= 0.90, scale >= 0.9, "
        "range 0, drums >= 0.9, empty bars 0)"
    )
    for col in (
        "style",
        "chord tones\nmean / min",
        "scale cons.\nmean / min",
        "out of\nrange",
        "drum pattern\nmean / min",
        "empty\nbars",
        "diversity\n(identical)",
        "same seed\n= same MIDI",
        "ms/song",
    ):
        t.add_column(col, justify="right" if col != "style" else "left")
    for r in rows:
        if not r.get("songs") or "pass" not in r:
            t.add_row(r["style"], "[red]compose failed[/]", *[""] * 7)
            continue
        p = r["pass"]
        scale_note = " (chromatic)" if r["chromatic"] else ""
        t.add_row(
            r["style"],
            f"{fmt(r['chord_tone_mean'])} / {fmt(r['chord_tone_min'])} {mark(p['chord_tone'])}",
            f"{fmt(r['scale_mean'])} / {fmt(r['scale_min'])}{scale_note} {mark(p['scale'])}",
            f"{r['out_of_range']} {mark(p['out_of_range'])}",
            f"{fmt(r['drums_mean'])} / {fmt(r['drums_min'])} {mark(p['drums'])}",
            f"{r['empty_bars']} {mark(p['empty_bars'])}",
            f"{fmt(r['diversity'])} ({r['identical_pairs']})",
            mark(p["same_seed_identical"]),
            fmt(1000 * r["compose_s_mean"], ".0f"),
        )
    console.print(t)
    locks = ", ".join(
        f"{r['style']} {100 * r['kick_lock_mean']:.0f} %" + ("" if r.get("bass_lock") else " (bass answers the kick)")
        for r in rows
        if r.get("kick_lock_mean") is not None and np.isfinite(r["kick_lock_mean"])
    )
    console.print(f"  bass locked to the kick (kick hits with a bass onset within a 32nd): {locks}")
    guard = ", ".join(
        f"{r['style']} {r['max_overlap']} ({100 * r['phrases_redrawn_share']:.1f} % redrawn)"
        for r in rows
        if "max_overlap" in r
    )
    console.print(f"  originality: longest run shared with a training tune, phrases redrawn: {guard}")
    for r in rows:
        if r.get("chromatic"):
            console.print(f"  {r['style']}: chromatic — {r['chromatic_reason']}")
        if r.get("out_of_range"):
            console.print(f"  {r['style']}: out-of-range notes by part {r['out_of_range_by_part']}")
        if r.get("empty_bars"):
            console.print(f"  {r['style']}: unintended empty bars by part@section {r['empty_bars_by_part_section']}")
        if r.get("scale_worst_part") and r.get("scale_min", 1.0) < TARGETS["scale"]:
            console.print(
                f"  {r['style']}: lowest scale consistency {r['scale_min']:.3f} on part {r['scale_worst_part']!r}"
            )
        for e in r.get("errors", []):
            console.print(f"[red]{r['style']} seed {e['seed']} raised:[/]\n{e['traceback']}")


def print_pop909(result: dict[str, object]) -> None:
    t = Table(
        title=f"pop ({result['generated_songs']} seeds) vs POP909 held-out ({result['pop909_songs']} songs); "
        "MuseGAN gap = |hybrid − real| of the mapped track (AAAI 2018, Table 1)"
    )
    for col in (
        "group",
        "metric",
        "tunesmith",
        "POP909",
        "gap",
        "MuseGAN track",
        "MuseGAN real / hybrid",
        "MuseGAN gap",
        "gap smaller than MuseGAN's",
    ):
        t.add_column(col, justify="left" if col in ("group", "metric", "MuseGAN track") else "right")
    for r in result["rows"]:
        if "musegan_gap" in r and r["gap"] is not None:
            verdict = mark(r["gap_smaller_than_musegan"])
        elif r["group"] == "drums":
            verdict = "N/A (no real drums)"
        else:
            verdict = "no MuseGAN figure"
        t.add_row(
            r["group"],
            LABELS.get(r["metric"], r["metric"]),
            f"{fmt(r['generated'])} ± {fmt(r.get('generated_std'), '.2f')}"
            if r.get("generated_std") is not None
            else fmt(r["generated"]),
            f"{fmt(r['pop909'])} ± {fmt(r.get('pop909_std'), '.2f')}" if r.get("pop909") is not None else "N/A",
            fmt(r["gap"]),
            r.get("musegan_track", "—"),
            f"{r['musegan_real']:.2f} / {r['musegan_hybrid']:.2f}" if "musegan_real" in r else "—",
            fmt(r.get("musegan_gap")),
            verdict,
        )
    console.print(t)
    console.print(
        "  qualified-note rate in %, pitch classes per bar in pitch classes, entropy in bits; "
        "mapping: melody ↔ MuseGAN Guitar, accompaniment ↔ MuseGAN Piano"
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--quick", action="store_true", help="5 seeds")
    args = ap.parse_args()
    n = 5 if args.quick else args.seeds
    seeds = list(range(n))
    t_all = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="compose-eval-") as tmp:
        for name in list_styles():
            t0 = time.perf_counter()
            rows.append(evaluate_style(name, seeds, Path(tmp)))
            console.print(f"{name}: {n} songs in {time.perf_counter() - t0:.1f} s")
    print_styles(rows, n)
    pop = compare_pop909(seeds)
    if pop is not None:
        print_pop909(pop)
    sp = speed()
    console.print(
        f"speed: compose pop, 32 bars, {sp['tracks']} parts: median {1000 * sp['median_s']:.0f} ms over "
        f"20 runs (min {1000 * sp['min_s']:.0f}, max {1000 * sp['max_s']:.0f}); target <= 500 ms "
        f"{mark(sp['pass'])}"
    )
    failures = [f"{r['style']}:{k}" for r in rows for k, v in r.get("pass", {}).items() if v is False]
    failures += [f"{r['style']}:compose raised" for r in rows if r.get("errors")]
    console.print(f"targets missed: {', '.join(failures) if failures else 'none'}")
    payload = {
        "seeds": n,
        "styles": rows,
        "pop909": pop,
        "speed": sp,
        "targets": TARGETS,
        "failures": failures,
        "total_s": time.perf_counter() - t_all,
    }
    path = write_result("compose_eval_quick" if args.quick else "compose_eval", payload)
    console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
