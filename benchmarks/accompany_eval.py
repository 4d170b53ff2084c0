"""Real-time accompaniment (``tunesmith.accompany``): latency and harmony.

**Latency** (2 cores):
* engine time per input event — :meth:`Accompanist.feed` on POP909 training melodies
  and on a flood of 1,000 random events per second, called as the live loop calls it
  (16th-note ticks planned on their own timer by :meth:`Accompanist.advance`); targets
  p50 <= 0.5 ms, p99 <= 3 ms. Also shown: the time to plan one tick (a bar's
  planning falls on its first tick) and the offline path, where ``feed`` also does
  the ticks that fell due since the previous event;
* a simulated live session (10 minutes; ``--quick``: 1 minute) in real time: the live
  loop (:class:`~tunesmith.accompany.scheduler.LiveSession`) reads a performer thread's
  messages from a mido in-memory port and sends the band to another; for every band
  event, how late it was handed to the sender relative to its due time (target: never
  more than 5 ms), and how late it was actually sent.

**Harmony** — held-out POP909 songs 819–909 (``--split train`` uses 001–818, for
development). Each song's MELODY track is played in strict time at the song's first
tempo, with the band's bar lines on the annotated 4/4 downbeats; the band hears it
with no look-ahead (style pop, key auto, seed 0). Measured: the note-in-chord ratio —
the share of melody notes whose pitch class is a tone of the chord sounding at their
onset — for:
* *online*: the chords the band played (the fallback chord chooser, the default);
* *online, learned*: the same with ``--chord-model learned`` (the chord network of the
  models issue, streamed beat by beat);
* *offline* (upper bound): the harmonizer that sees the whole melody — for each
  half-bar, the candidate chord (the same vocabulary, in the key of the melody within
  ±8 bars) containing the most of that half-bar's notes;
* *naive*: the tonic triad of the whole melody's key throughout, and the previous
  half-bar's best chord (one slot late);
* POP909's own annotated chords (what the songs' arrangers played), for reference.
Ratios pool all notes (micro average); the per-song mean is shown too.

Usage: python benchmarks/accompany_eval.py [--quick] [--split test|train] [--songs N] [--skip-session]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
from _common import RESULTS, SHARED_DATA, write_result
from rich.console import Console
from rich.table import Table

from tunesmith.accompany.chords import candidates
from tunesmith.accompany.engine import Accompanist, AccompanySettings
from tunesmith.accompany.evaluate import note_in_chord
from tunesmith.accompany.key import find_key
from tunesmith.accompany.offline import performer_events, run
from tunesmith.score.theory import Chord

POP909 = SHARED_DATA / "pop909"
console = Console(width=140)
HALF_BAR = 2.0  # beats: the offline harmonizer's (and the pop style's shortest) chord length


# ---------------------------------------------------------------------------- POP909 performances
@dataclass
class Performance:
    """A POP909 melody as a performer would play it to a click: seconds, with the bar grid."""

    song_id: int
    events: list  # (seconds, mido message)
    onsets: list[tuple[float, int]]  # (seconds, pitch) of every melody note
    notes: list[tuple[float, float, int]]  # (start beat, end beat, pitch) on the band's grid (beat 0 = a bar line)
    spb: float  # seconds per beat
    start_s: float  # where the band's beat 0 is
    human: list[tuple[float, Chord | None]]  # POP909's chord annotation, (seconds, chord)


def performance(song_id: int) -> Performance | None:
    """Song ``song_id``'s melody in strict time at its first tempo (None without a melody or 4/4 downbeats)."""
    from tunesmith.score.pop909 import load_song
    from tunesmith.score.types import Score, TempoChange

    song = load_song(POP909, song_id)
    score = song.score
    try:
        melody = score.track("melody")
    except KeyError:
        return None
    rows = np.loadtxt(POP909 / f"{song_id:03d}" / "beat_midi.txt", ndmin=2)
    down = [score.beats(float(t)) for t in rows[rows[:, 2] == 1, 0]]
    if not down or not melody.notes:
        return None
    bpm = score.tempos[0].bpm
    spb = 60.0 / bpm
    # The performer keeps the song's first tempo throughout: times are beats at that tempo.
    strict = Score(tracks=(melody,), tempos=(TempoChange(0.0, bpm),))
    events = performer_events(strict, [melody])
    origin = down[0] % 4.0  # the band's bar lines fall on the annotated downbeats
    onsets = [(n.start * spb, n.pitch) for n in melody.notes]
    notes = [(n.start - origin, n.end - origin, n.pitch) for n in melody.notes]
    human = [(c.start * spb, c.chord) for c in score.chords]
    return Performance(song_id, events, onsets, notes, spb, origin * spb, human)


def online_chords(perf: Performance, settings: AccompanySettings) -> tuple[list[tuple[float, Chord | None]], dict]:
    """The band's chord changes (seconds) when it accompanies ``perf`` live."""
    engine = Accompanist(replace(settings, tempo_bpm=min(300.0, max(30.0, 60.0 / perf.spb))))
    engine.start(perf.start_s)
    run(engine, perf.events, finish=False)
    return [(t, c) for _, t, c in engine.chord_track], {"revisions": engine.stats.revisions}


def _slot_keys(perf: Performance, causal: bool) -> dict[int, object]:
    """The key per half-bar slot from the melody within ±8 bars (``causal``: the 8 bars before only)."""
    slots = {}
    last = max(end for _, end, _ in perf.notes)
    n_slots = math.ceil(last / HALF_BAR) + 1
    starts = np.array([s for s, _, _ in perf.notes])
    ends = np.array([e for _, e, _ in perf.notes])
    pcs = np.array([p % 12 for _, _, p in perf.notes])
    for k in range(n_slots):
        lo = k * HALF_BAR - 32.0
        hi = k * HALF_BAR if causal else k * HALF_BAR + 32.0
        sel = (starts >= lo) & (starts < hi)
        hist = np.bincount(pcs[sel], weights=(ends - starts)[sel], minlength=12)
        slots[k] = find_key(hist)[0] if hist.any() else None
    return slots


def _best_in_slot(perf: Performance, k: int, key) -> Chord | None:
    """The candidate chord containing the most of the notes starting in half-bar ``k`` (ties: longer notes)."""
    inside = [(e - s, p % 12) for s, e, p in perf.notes if k * HALF_BAR <= s < (k + 1) * HALF_BAR]
    if not inside or key is None:
        return None
    cands = candidates(key)
    counts = np.zeros(12)
    lengths = np.zeros(12)
    for d, pc in inside:
        counts[pc] += 1
        lengths[pc] += d
    score = cands.tones @ counts + 0.01 * (cands.tones @ lengths) + 1e-4 * cands.table.log_start
    return cands.chords[int(np.argmax(score))]


def offline_chords(perf: Performance) -> list[tuple[float, Chord | None]]:
    """Upper bound: each half-bar's best chord, knowing the whole melody."""
    keys = _slot_keys(perf, causal=False)
    out: list[tuple[float, Chord | None]] = []
    for k in sorted(keys):
        chord = _best_in_slot(perf, k, keys[k])
        if chord is not None:
            out.append((perf.start_s + k * HALF_BAR * perf.spb, chord))
    return _from_first_note(perf, out)


def previous_slot_chords(perf: Performance) -> list[tuple[float, Chord | None]]:
    """Naive: each half-bar plays the previous half-bar's best chord (a band one step behind)."""
    keys = _slot_keys(perf, causal=True)
    out: list[tuple[float, Chord | None]] = []
    for k in sorted(keys):
        chord = _best_in_slot(perf, k - 1, keys.get(k - 1)) if k > 0 else None
        if chord is not None:
            out.append((perf.start_s + k * HALF_BAR * perf.spb, chord))
    return _from_first_note(perf, out)


def tonic_chords(perf: Performance) -> list[tuple[float, Chord | None]]:
    """Naive: the tonic triad of the whole melody's key, all the way."""
    hist = np.zeros(12)
    for s, e, p in perf.notes:
        hist[p % 12] += e - s
    key = find_key(hist)[0]
    return [(-1.0, Chord(key.tonic, "min" if key.mode == "minor" else "maj"))]


def _from_first_note(perf: Performance, changes: list[tuple[float, Chord | None]]) -> list[tuple[float, Chord | None]]:
    """A chord timeline that starts sounding by the first note (its first chord moved back to time -1)."""
    if changes:
        changes = [(-1.0, changes[0][1]), *changes[1:]]
    return changes


def harmony_song(args: tuple[int, AccompanySettings]) -> dict | None:
    """Note-in-chord counts of every system on one song."""
    song_id, settings = args
    perf = performance(song_id)
    if perf is None:
        return None
    t0 = time.perf_counter()
    online, info = online_chords(perf, settings)
    seconds = time.perf_counter() - t0
    grace = 0.25 * perf.spb + settings.lookahead_s  # the band's entry after a silence
    row = {"song": song_id, "notes": len(perf.onsets), "seconds": seconds, **info}
    learned, _ = online_chords(perf, replace(settings, chord_model="learned"))
    systems = {
        "online": (online, grace),
        "learned": (learned, grace),
        "offline": (offline_chords(perf), 0.0),
        "tonic": (tonic_chords(perf), 0.0),
        "previous": (previous_slot_chords(perf), 0.0),
        "human": (perf.human, 0.0),
    }
    for name, (changes, g) in systems.items():
        fit = note_in_chord(perf.onsets, changes, grace=g)
        row[name] = (fit.inside, fit.counted, fit.uncovered)
    return row


def harmony(split: str, limit: int | None, workers: int, settings: AccompanySettings) -> dict:
    from tunesmith.score.pop909 import song_ids

    ids = song_ids(POP909, split)
    if split == "test":
        ids = [i for i in ids if 819 <= i <= 909]
    if limit:
        step = max(1, len(ids) // limit)
        ids = ids[::step][:limit]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        rows = [r for r in pool.map(harmony_song, [(i, settings) for i in ids]) if r is not None]
    seconds = time.perf_counter() - t0
    systems = ("online", "learned", "offline", "tonic", "previous", "human")
    summary = {}
    for name in systems:
        inside = sum(r[name][0] for r in rows)
        counted = sum(r[name][1] for r in rows)
        uncovered = sum(r[name][2] for r in rows)
        per_song = [r[name][0] / r[name][1] for r in rows if r[name][1]]
        summary[name] = {
            "ratio": inside / counted if counted else float("nan"),
            "per_song_mean": statistics.fmean(per_song) if per_song else float("nan"),
            "notes": counted,
            "uncovered": uncovered,
        }
    return {
        "split": split,
        "songs": len(rows),
        "song_ids": [r["song"] for r in rows],
        "systems": summary,
        "online_over_offline": summary["online"]["ratio"] / summary["offline"]["ratio"],
        "revisions_per_song": statistics.fmean(r["revisions"] for r in rows) if rows else 0.0,
        "engine_seconds_per_song": statistics.fmean(r["seconds"] for r in rows) if rows else 0.0,
        "wall_seconds": seconds,
    }


def print_harmony(doc: dict) -> None:
    labels = {
        "online": "online band (no look-ahead)",
        "learned": "online band, --chord-model learned",
        "offline": "offline harmonizer (whole melody)",
        "previous": "naive: previous half-bar's chord",
        "tonic": "naive: tonic chord throughout",
        "human": "POP909 annotated chords (reference)",
    }
    split = "held-out 819-909" if doc["split"] == "test" else "training 001-818 (development)"
    table = Table(title=f"Harmony: note-in-chord ratio, POP909 {split}, {doc['songs']} songs", title_justify="left")
    for col in ("system", "note-in-chord", "per-song mean", "notes", "vs offline"):
        table.add_column(col, justify="left" if col == "system" else "right")
    off = doc["systems"]["offline"]["ratio"]
    for name in ("online", "learned", "offline", "previous", "tonic", "human"):
        s = doc["systems"][name]
        table.add_row(
            labels[name], f"{s['ratio']:.3f}", f"{s['per_song_mean']:.3f}", str(s["notes"]), f"{s['ratio'] / off:.2f}"
        )
    console.print(table)
    console.print(
        f"online/offline = {doc['online_over_offline']:.3f}; {doc['revisions_per_song']:.1f} revisions per song; "
        f"engine {doc['engine_seconds_per_song']:.2f} s per song"
    )


# ---------------------------------------------------------------------------- latency
def _percentiles(values_s: list[float]) -> dict[str, float]:
    ms = np.asarray(values_s) * 1000.0
    return {
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "max": float(ms.max()),
        "events": len(ms),
    }


def flood_events(seconds: float, rng: np.random.Generator, start_s: float = 0.0) -> list:
    """1,000 events a second: 500 short notes, random keys and velocities."""
    import mido

    out = []
    for i in range(int(seconds * 500)):
        t = start_s + i / 500.0
        p = int(rng.integers(36, 96))
        out.append((t, mido.Message("note_on", note=p, velocity=int(rng.integers(1, 128)))))
        out.append((t + float(rng.uniform(0.003, 0.05)), mido.Message("note_off", note=p)))
    return sorted(out, key=lambda e: e[0])


def time_engine(events: list, settings: AccompanySettings, live: bool) -> dict[str, list[float]]:
    """Seconds per ``feed`` — wall clock and this thread's CPU time — and per ``advance`` at each
    decision time when ``live`` (the live loop's calling pattern); which feeds brought the band in."""
    engine = Accompanist(settings)
    out: dict[str, list] = {"wall": [], "cpu": [], "entry": [], "ticks": []}
    wall, cpu = time.perf_counter, time.thread_time
    for t, msg in events:
        if live:
            while engine.next_decision_s() <= t:
                due = engine.next_decision_s()
                t0 = wall()
                engine.advance(due)
                out["ticks"].append(wall() - t0)
        waiting = not engine.playing
        t0, c0 = wall(), cpu()
        engine.feed(t, msg)
        out["wall"].append(wall() - t0)
        out["cpu"].append(cpu() - c0)
        out["entry"].append(waiting and engine.playing)
    return out


def latency(song_ids: list[int]) -> dict:
    """Engine time per input event on POP909 training melodies and on a flood, live and offline call patterns."""
    import gc

    perfs = [p for p in (performance(i) for i in song_ids) if p is not None]
    rng = np.random.default_rng(0)
    doc: dict = {"songs": [p.song_id for p in perfs]}
    gc.collect()
    for live in (True, False):
        runs = []
        for p in perfs:
            settings = AccompanySettings(tempo_bpm=min(300.0, max(30.0, 60.0 / p.spb)), follow=True)
            runs.append(time_engine(p.events, settings, live))
        melodies = {k: [x for r in runs for x in r[k]] for k in ("wall", "cpu", "entry", "ticks")}
        flood = time_engine(flood_events(20.0, rng), AccompanySettings(tempo_bpm=100.0, follow=True), live)
        name = "live" if live else "offline"
        doc[name] = {
            "melodies": _percentiles(melodies["wall"]) | {"cpu": _percentiles(melodies["cpu"])},
            "flood": _percentiles(flood["wall"]) | {"cpu": _percentiles(flood["cpu"])},
            "entries": int(sum(melodies["entry"])),
        }
        if live:
            doc[name]["ticks"] = _percentiles(melodies["ticks"] + flood["ticks"])
    return doc


def print_latency(doc: dict) -> None:
    table = Table(
        title="Latency: engine time per call, ms — wall clock (CPU time of the engine's thread); "
        "targets per input event: p50 <= 0.5, p99 <= 3",
        title_justify="left",
    )
    for col in ("call", "input", "events", "p50", "p99", "max"):
        table.add_column(col, justify="left" if col in ("call", "input") else "right")

    def cells(r: dict) -> tuple[str, str, str]:
        if "cpu" not in r:
            return f"{r['p50']:.3f}", f"{r['p99']:.3f}", f"{r['max']:.2f}"
        c = r["cpu"]
        return (
            f"{r['p50']:.3f} ({c['p50']:.3f})",
            f"{r['p99']:.3f} ({c['p99']:.3f})",
            f"{r['max']:.2f} ({c['max']:.2f})",
        )

    rows = [
        ("feed (live: ticks on their timer)", "POP909 melodies", doc["live"]["melodies"]),
        ("feed (live)", "flood 1,000 ev/s", doc["live"]["flood"]),
        ("advance: plan one 16th tick", "both", doc["live"]["ticks"]),
        ("feed (offline: ticks inside feed)", "POP909 melodies", doc["offline"]["melodies"]),
        ("feed (offline)", "flood 1,000 ev/s", doc["offline"]["flood"]),
    ]
    for call, what, r in rows:
        table.add_row(call, what, str(r["events"]), *cells(r))
    console.print(table)
    console.print(
        f"  {doc['live']['entries']} of the live feeds brought the band in (a pause ended): those plan the "
        "bar inside feed"
    )


# ---------------------------------------------------------------------------- live session
def session(seconds: float, song_id: int) -> dict:
    """A real-time session: a performer thread plays a POP909 melody (looped) into an in-memory port."""
    import threading

    import mido

    from tunesmith.accompany.scheduler import LiveSession

    perf = performance(song_id)
    assert perf is not None
    first = perf.events[0][0]
    length = perf.events[-1][0] - first + 2.0

    class Output(mido.ports.BaseOutput):
        def _send(self, msg: mido.Message) -> None:
            pass

    port = mido.ports.BaseInput("performer")
    stop = threading.Event()

    def performer() -> None:
        t0 = time.perf_counter() + 0.2
        for loop in range(int(seconds // length) + 1):
            for t, msg in perf.events:
                due = t0 + loop * length + (t - first)
                if due - t0 > seconds:
                    return
                while (wait := due - time.perf_counter()) > 0:
                    if stop.wait(min(wait, 0.05)):
                        return
                port._messages.append(msg)

    thread = threading.Thread(target=performer, daemon=True)
    settings = AccompanySettings(tempo_bpm=min(300.0, max(30.0, 60.0 / perf.spb)), follow=True)
    live = LiveSession(Accompanist(settings), Output())
    load_before = os.getloadavg()[0]
    thread.start()
    report = live.run(port, duration_s=seconds + 0.3)
    stop.set()
    doc = report.to_dict()
    doc["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    doc["song"] = song_id
    doc["planned_late_events_over_5ms"] = int(sum(1 for x in live._planned_late if x > 0.005))
    doc["events_planned"] = len(live._planned_late)
    return doc


def print_session(doc: dict) -> None:
    late = doc["late_sent_ms"]
    planned = doc["late_planned_ms"]
    when = f"{-planned:.1f} ms ahead of its time at the latest" if planned <= 0 else f"up to {planned:.2f} ms late"
    console.print(
        f"Live session: {doc['seconds']:.0f} s in real time (POP909 song {doc['song']:03d} looped, tempo followed), "
        f"{doc['events_in']} performer events, {doc['events_out']} band events. Every event planned {when} "
        f"(target: never more than 5 ms late; {doc['planned_late_events_over_5ms']} over); sent late p50 "
        f"{late['p50']:.2f} / p99 {late['p99']:.2f} / max {late['max']:.2f} ms; hanging notes {doc['hanging_notes']}; "
        f"the band came in {doc['entries']} time(s) on the performer's note, sounding "
        f"{doc['entry_reaction_ms']['max']:.1f} ms after it at most (a reaction: it cannot be planned ahead). "
        f"Longest engine call {doc['engine_max_ms']:.1f} ms; longest the system overslept a wake-up "
        f"{doc['oversleep_max_ms']:.1f} ms; load average {doc['load_average'][0]} -> {doc['load_average'][1]} "
        f"on {os.cpu_count()} cores."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1-minute session, 20 songs, 5 for latency")
    parser.add_argument("--split", default="test", choices=("test", "train"))
    parser.add_argument("--songs", type=int, default=None, help="at most this many songs (spread over the split)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-session", action="store_true")
    parser.add_argument(
        "--parts", default="harmony,latency,session", help="comma-separated: harmony, latency, session (others kept)"
    )
    args = parser.parse_args()
    settings = AccompanySettings(style="pop", key="auto", seed=0)
    parts = set(args.parts.split(","))
    if args.skip_session:
        parts.discard("session")
    if not POP909.exists():
        console.print(f"[red]needs {POP909}[/]")
        return 1
    name = "accompany_eval" if args.split == "test" else "accompany_eval_train"
    previous = RESULTS / f"{name}.json"
    payload: dict = {}
    if previous.exists() and parts != {"harmony", "latency", "session"}:  # a partial run keeps the other parts
        old = json.loads(previous.read_text())
        payload = {k: old[k] for k in ("harmony", "latency", "session") if k in old and k not in parts}
    if "harmony" in parts:
        limit = args.songs or (20 if args.quick else None)
        payload["harmony"] = harmony(args.split, limit, args.workers, settings)
        print_harmony(payload["harmony"])
    # Latency and the session use training songs only (their figures do not depend on the split).
    if "latency" in parts:
        payload["latency"] = latency([1, 101, 201, 301, 401] if args.quick else list(range(1, 801, 40)))
        print_latency(payload["latency"])
    if "session" in parts:
        payload["session"] = session(60.0 if args.quick else 600.0, song_id=3)
        print_session(payload["session"])
    path = write_result(name, payload)
    console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
