"""The produced song's report: a piano roll with sections and chords, the form, the sound, the files.

One self-contained HTML file (plots inline, audio linked relatively) that opens
offline; it links the detailed mixing and mastering reports written beside it.
"""

from __future__ import annotations

import html
import os
from typing import Any

from tunesmith.atomic import write_text_atomic
from tunesmith.audio.plot import figure_png_base64
from tunesmith.compose.song import Composition
from tunesmith.score.types import Score

_COLOURS = ("#c44e52", "#4c72b0", "#55a868", "#8172b2", "#ccb974", "#64b5cd", "#da8bc3", "#8c8c8c")


def piano_roll_figure(score: Score, width_in: float = 12.0) -> Any:
    """A matplotlib figure: every pitched track as coloured bars, drums as ticks, sections and chords on top.

    Parameters
    ----------
    score : Score
        The song.
    width_in : float
        Figure width, inches.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pitched = [t for t in score.tracks if not t.is_drum and t.notes]
    drums = [t for t in score.tracks if t.is_drum and t.notes]
    if drums:
        fig, (ax, dax) = plt.subplots(
            2, 1, figsize=(width_in, 5.2), sharex=True, gridspec_kw={"height_ratios": [5, 1]}, constrained_layout=True
        )
    else:  # no kit (ambient, chorale): no empty drum lane
        fig, ax = plt.subplots(figsize=(width_in, 4.4), constrained_layout=True)
        dax = None
    from matplotlib.collections import PolyCollection

    for i, t in enumerate(pitched):
        colour = _COLOURS[i % len(_COLOURS)]
        # One collection per track: thousands of single patches would take seconds to draw.
        boxes = [
            ((n.start, n.pitch - 0.4), (n.end, n.pitch - 0.4), (n.end, n.pitch + 0.4), (n.start, n.pitch + 0.4))
            for n in t.notes
        ]
        ax.add_collection(PolyCollection(boxes, facecolors=colour, edgecolors="none", alpha=0.85))
        ax.plot([], [], color=colour, lw=6, label=f"{t.name} ({t.role})")
    if pitched:
        lo = min(n.pitch for t in pitched for n in t.notes)
        hi = max(n.pitch for t in pitched for n in t.notes)
        ax.set_ylim(lo - 2, hi + 4)
    end = score.end
    ax.set_xlim(0, end)
    for s in score.sections:
        x = score.bar_start(s.start_bar)
        ax.axvline(x, color="black", lw=0.8, alpha=0.6)
        if dax is not None:
            dax.axvline(x, color="black", lw=0.8, alpha=0.6)
        ax.text(x + 0.3, 1.0, s.name, transform=ax.get_xaxis_transform(), va="bottom", fontsize=9, weight="bold")
    flats = bool(score.keys) and score.keys[0].key.tonic in (1, 3, 5, 8, 10)
    if len(score.chords) <= 160:
        for c in score.chords:
            if c.chord is not None:
                ax.text(
                    c.start,
                    0.99,
                    c.chord.symbol(flats),
                    transform=ax.get_xaxis_transform(),
                    fontsize=6,
                    va="top",
                    rotation=90,
                    color="#444",
                )
    ax.set_ylabel("MIDI pitch")
    ax.legend(loc="upper right", fontsize=8, ncol=min(4, max(1, len(pitched))))
    ax.grid(True, axis="y", alpha=0.2)
    from matplotlib.collections import LineCollection

    for t in drums:
        keys = sorted({n.pitch for n in t.notes})
        segments = [((n.start, keys.index(n.pitch) - 0.35), (n.start, keys.index(n.pitch) + 0.35)) for n in t.notes]
        dax.add_collection(LineCollection(segments, colors="#333", linewidths=0.6, alpha=0.6))
        dax.set_ylim(-0.6, len(keys) - 0.4)
        dax.set_yticks(range(len(keys)))
        dax.set_yticklabels([str(k) for k in keys], fontsize=6)
    if dax is not None:
        dax.set_ylabel("drums")
        dax.set_xlabel("beats")
    else:
        ax.set_xlabel("beats")
    return fig


def write_song_report_html(comp: Composition, mix: Any, mastered: Any, path: str | os.PathLike[str]) -> None:
    """Write ``report.html`` for a produced song (atomically).

    Parameters
    ----------
    comp : Composition
        The song.
    mix : tunesmith.mix.automix.MixReport
        The mix's report.
    mastered : tunesmith.master.chain.MasterReport
        The master's report.
    path : str or os.PathLike
        Where to write it; audio and the detailed reports are linked relative to it.
    """
    import matplotlib.pyplot as plt

    fig = piano_roll_figure(comp.score)
    roll = figure_png_base64(fig)
    plt.close(fig)
    doc = comp.to_dict()
    esc = html.escape
    seen: set[str] = set()
    rows = []
    for s in doc["sections"]:
        prog = doc["progressions"].get(s["name"], [])
        text = " ".join(prog) if s["name"] not in seen else "as before, varied"
        seen.add(s["name"])
        rows.append(
            f"<tr><td>{esc(s['name'])}</td><td>{s['start_bar'] + 1}</td><td>{s['bars']}</td><td>{esc(text)}</td></tr>"
        )
    tracks = "".join(
        f"<tr><td>{esc(t['name'])}</td><td>{esc(t['role'])}</td><td>{'drums' if t['drums'] else t['program']}</td>"
        f"<td>{t['notes']}</td></tr>"
        for t in doc["tracks"]
    )
    out_l = mastered.output_loudness
    stems = "".join(
        f"<tr><td>{esc(os.path.basename(s['file']))}</td><td>{esc(s['role_name'])}</td>"
        f"<td>{s['gain_db']:+.1f}</td><td>{s['pan']:+.2f}</td></tr>"
        for s in mix.stems
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tunesmith — {esc(comp.score.title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
th, td {{ padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: left; }}
img {{ max-width: 100%; }} .label {{ background: #fff3cd; padding: 0.6em 1em; border-radius: 6px; }}
</style></head><body>
<h1>{esc(comp.score.title)}</h1>
<p class="label">AI-generated music: composed, arranged, rendered, mixed and mastered by tunesmith from the
style <b>{esc(doc["style"])}</b> with seed <b>{doc["seed"]}</b>. Run the recipe
(<code>song.mid.recipe.json</code>) to make it again, bit for bit.</p>
<p>{esc(doc["key"])} · {doc["tempo_bpm"]:g} BPM · {esc(doc["metre"])} · {doc["bars"]} bars ·
{doc["duration_s"]:.1f} s{" · seamless loop" if doc["loop"] else ""}</p>
<h2>Listen</h2>
<p><audio controls preload="none" src="master.mp3"></audio> master (MP3) ·
<a href="master.wav">master.wav</a> · <a href="mix.wav">mix.wav</a> · <a href="song.mid">song.mid</a> ·
<a href="leadsheet.musicxml">lead sheet (MusicXML)</a></p>
<p>Master: {out_l.get("integrated_lufs")} LUFS integrated, true peak {out_l.get("true_peak_dbtp")} dBTP,
LRA {out_l.get("lra_lu")} LU — details in <a href="master-report.html">the mastering report</a>;
the mix in <a href="mix-report.html">the mixing report</a>.</p>
<h2>Piano roll</h2>
<img alt="piano roll" src="data:image/png;base64,{roll}">
<h2>Form and harmony</h2>
<table><tr><th>section</th><th>bar</th><th>bars</th><th>chords (roman numerals)</th></tr>{"".join(rows)}</table>
<h2>Band</h2>
<table><tr><th>track</th><th>role</th><th>GM program</th><th>notes</th></tr>{tracks}</table>
<h2>Mix</h2>
<table><tr><th>stem</th><th>mixed as</th><th>fader dB</th><th>pan</th></tr>{stems}</table>
</body></html>
"""
    write_text_atomic(path, page)
