"""``report.html`` of ``tunesmith hum``: the pitch track with the detected notes over it, and the chords.

One self-contained HTML file (the figure is an inline PNG; audio and MIDI linked relatively):
what was heard (the voice's pitch frame by frame, dots shaded by confidence), what was
transcribed (each note a bar at its pitch with cents, from onset to offset), the beat grid
(bar lines) and the chords the band plays, labelled at the time they start in the recording.
"""

from __future__ import annotations

import html
import os
from typing import Any

import numpy as np

from tunesmith.atomic import write_text_atomic
from tunesmith.score.theory import midi_note_name
from tunesmith.score.types import ChordSymbol
from tunesmith.voice.transcribe import Transcription, hz_name

MAX_FIGURE_IN = 40.0  # a long recording gets a wide figure, up to this many inches
SECONDS_PER_INCH = 2.5


def pitch_figure(result: Transcription, chords: list[ChordSymbol] | None = None) -> Any:
    """Matplotlib figure: pitch track (MIDI semitones against seconds), notes, bar lines and chord names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    track = result.track
    times = track.times_s
    midi = track.midi
    shown = (track.confidence >= 0.3) & np.isfinite(midi)
    width = float(np.clip(track.duration_s / SECONDS_PER_INCH, 10.0, MAX_FIGURE_IN))
    fig, ax = plt.subplots(figsize=(width, 4.8), constrained_layout=True)
    pitches = [n.pitch for n in result.notes]
    lo = min(pitches) - 3 if pitches else 48
    hi = max(pitches) + 4 if pitches else 72
    inside = shown & (midi > lo - 6) & (midi < hi + 6)
    ax.scatter(
        times[inside],
        midi[inside],
        s=3,
        c=track.confidence[inside],
        cmap="Blues",
        vmin=0.0,
        vmax=1.0,
        label="pitch track",
        zorder=2,
    )
    for n in result.notes:
        ax.plot([n.onset_s, n.offset_s], [n.pitch, n.pitch], color="#c44e52", lw=4, alpha=0.75, solid_capstyle="butt")
    ax.plot([], [], color="#c44e52", lw=4, label="detected notes")
    grid = result.grid
    if grid.tempo_bpm > 0:
        bar_s = grid.beat_s * grid.numerator
        t = grid.beat0_s
        while t < track.duration_s:
            if t >= 0:
                ax.axvline(t, color="#999", lw=0.6, alpha=0.5, zorder=1)
            t += bar_s
    for c in chords or []:
        start = grid.seconds(c.start)
        if 0 <= start <= track.duration_s and c.chord is not None:
            ax.text(start, hi + 0.3, c.chord.symbol(), fontsize=8, color="#4c72b0", va="bottom", clip_on=True)
    ticks = list(range(int(np.floor(lo)), int(np.ceil(hi)) + 1))
    ax.set_yticks(ticks)
    ax.set_yticklabels([midi_note_name(p) if p % 12 in (0, 4, 7) else "" for p in ticks], fontsize=7)
    ax.set_ylim(lo, hi + 1.5)
    ax.set_xlim(0, max(track.duration_s, 1.0))
    ax.set_xlabel("time in the recording (s)")
    ax.set_ylabel("pitch")
    ax.grid(axis="y", alpha=0.2)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def write_hum_report_html(
    result: Transcription,
    path: str | os.PathLike[str],
    chords: list[ChordSymbol] | None = None,
    style: str | None = None,
    master: dict[str, Any] | None = None,
    keep_voice: bool = False,
) -> None:
    """Write ``report.html`` (atomically): the figure, the summary, the chords and the notes table."""
    import matplotlib.pyplot as plt

    from tunesmith.audio.plot import figure_png_base64

    fig = pitch_figure(result, chords)
    png = figure_png_base64(fig)
    plt.close(fig)
    esc = html.escape
    doc = result.to_dict()
    grid = result.grid
    chord_rows = "".join(
        f"<tr><td>{c.start / grid.numerator + 1:.2f}</td><td>{grid.seconds(c.start):.2f}</td>"
        f"<td>{esc(c.chord.symbol() if c.chord else 'N')}</td></tr>"
        for c in (chords or [])
    )
    shown = result.notes[:400]
    note_rows = "".join(
        f"<tr><td>{n.onset_s:.3f}</td><td>{n.offset_s:.3f}</td><td>{n.pitch:.2f}</td><td>{esc(hz_name(n.pitch))}</td>"
        f"<td>{n.confidence:.2f}</td></tr>"
        for n in shown
    )
    more = f"<p>… and {len(result.notes) - len(shown)} more in notes.csv.</p>" if len(result.notes) > len(shown) else ""
    warn = "".join(f"<li>{esc(w)}</li>" for w in result.warnings)
    master_line = ""
    if master:
        master_line = (
            f"<p>Master: {master.get('integrated_lufs')} LUFS integrated, true peak "
            f"{master.get('true_peak_dbtp')} dBTP.</p>"
        )
    rng = doc["range"]
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tunesmith hum — {esc(os.path.basename(result.source))}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
th, td {{ padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: left; }}
.fig {{ overflow-x: auto; }} .label {{ background: #fff3cd; padding: 0.6em 1em; border-radius: 6px; }}
</style></head><body>
<h1>{esc(os.path.basename(result.source))}: from a voice to a song</h1>
<p class="label">The notes (<code>notes.csv</code>, <code>melody.mid</code>) are a transcription of the
singer's own voice. The chords, the band and the production{" around the singer's voice" if keep_voice else ""}
are AI-generated by tunesmith{f" in the style <b>{esc(style)}</b>" if style else ""}; every file has a recipe.</p>
<p>{len(result.notes)} notes · key {esc(doc["key"])} · {doc["tempo_bpm"]:g} BPM · {esc(doc["metre"])} ·
tuning {doc["tuning_cents"]:+.0f} cents from A440 · voice range {esc(rng["lowest"])}–{esc(rng["highest"])}
(comfortable {esc(rng["comfortable"])}) · pitch tracker {esc(doc["tracker"])}</p>
{f"<ul>{warn}</ul>" if warn else ""}
<h2>Listen</h2>
<p><audio controls preload="none" src="master.wav"></audio> <a href="master.wav">master.wav</a> ·
<a href="song.mid">song.mid</a> · <a href="melody.mid">melody.mid</a> · <a href="notes.csv">notes.csv</a></p>
{master_line}
<h2>Pitch track and notes</h2>
<p>Dots: the voice's pitch every 16 ms (darker = more certain). Red bars: the detected notes, before
quantisation. Grey lines: bars of the fitted beat grid. Blue: the chords, where they start.</p>
<div class="fig"><img alt="pitch track with the detected notes" src="data:image/png;base64,{png}"></div>
<h2>Chords</h2>
<table><tr><th>bar</th><th>time (s)</th><th>chord</th></tr>{chord_rows}</table>
<h2>Notes</h2>
<table><tr><th>onset (s)</th><th>offset (s)</th><th>MIDI</th><th>note</th><th>confidence</th></tr>{note_rows}</table>
{more}
</body></html>
"""
    write_text_atomic(path, page)
