"""Self-contained HTML report of a mix: per-stem levels before/after, a pan map, lead vs the rest."""

from __future__ import annotations

import html
import os

import numpy as np

from tunesmith.atomic import write_text_atomic
from tunesmith.audio.plot import figure_png_base64
from tunesmith.mix.automix import MixReport


def _plots(report: MixReport) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    names = [os.path.basename(s["file"]) for s in report.stems]
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(names) + 1.6), constrained_layout=True)
    y = np.arange(len(names))
    before = [s["input_lufs"] if s["input_lufs"] is not None else np.nan for s in report.stems]
    after = [s["mix_lufs"] if s["mix_lufs"] is not None else np.nan for s in report.stems]
    ax.scatter(before, y, label="stem as delivered", color="#8c8c8c", marker="o")
    ax.scatter(after, y, label="in the mix", color="#1f6fb4", marker="s")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("integrated loudness (LUFS)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    out["levels"] = figure_png_base64(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 3.4), constrained_layout=True)
    for s, name in zip(report.stems, names, strict=True):
        if s["mix_lufs"] is None:
            continue
        ax.scatter(s["pan"], s["mix_lufs"], s=60, color="#d0812b" if s["file"] == report.lead else "#1f6fb4")
        ax.annotate(
            f"{name} ({s['role_name']})",
            (s["pan"], s["mix_lufs"]),
            fontsize=7,
            xytext=(4, 3),
            textcoords="offset points",
        )
    ax.set_xlim(-1.1, 1.1)
    ax.set_xlabel("pan (−1 left … +1 right)")
    ax.set_ylabel("loudness in mix (LUFS)")
    ax.axvline(0, color="#bbb", lw=0.8)
    ax.grid(alpha=0.3)
    out["pan"] = figure_png_base64(fig)
    plt.close(fig)

    spec = report.spectra
    centres = np.array(spec["centres_hz"])
    band = (centres >= 25) & (centres <= 16_000)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.4), constrained_layout=True)
    if "lead_db" in spec:
        a1.semilogx(centres[band], np.array(spec["lead_db"])[band], label="lead", color="#d0812b")
    if "rest_db" in spec:
        a1.semilogx(centres[band], np.array(spec["rest_db"])[band], label="everything else", color="#1f6fb4")
    a1.set_title("lead vs the rest (third-octave, dB)")
    a1.set_xlabel("Hz")
    a1.legend(fontsize=8)
    a1.grid(alpha=0.3, which="both")
    mix_db = np.array(spec["mix_db"])
    target = np.array(spec["target_db"])
    sel = band & (centres >= 80) & (centres <= 10_000) & (mix_db > -119)
    offset = float(np.mean(mix_db[sel] - target[sel])) if sel.any() else 0.0
    a2.semilogx(centres[band], mix_db[band] - offset, label="mix", color="#1f6fb4")
    a2.semilogx(centres[band], target[band], label=f"{report.genre} target", color="#888", ls="--")
    a2.set_title("mix tonal balance vs genre target (dB)")
    a2.set_xlabel("Hz")
    a2.legend(fontsize=8)
    a2.grid(alpha=0.3, which="both")
    out["spectra"] = figure_png_base64(fig)
    plt.close(fig)
    return out


def write_mix_report_html(report: MixReport, path: str | os.PathLike[str]) -> None:
    """Write the report as one HTML file with inline images (no network needed to view it)."""
    plots = _plots(report)

    def cell(v: object) -> str:
        return "—" if v is None else html.escape(str(v))

    rows = []
    for s in report.stems:
        eq = ", ".join(f"{b['freq_hz']:.0f} Hz {b['gain_db']:+.1f} dB" for b in s["eq"]) or "—"
        comp = s["compressor"]
        comp_text = "—" if comp is None else f"{comp['threshold_db']:.1f} dBFS, {comp['ratio']:g}:1"
        lead = " (lead)" if s["file"] == report.lead else ""
        rows.append(
            "<tr>"
            f"<td>{html.escape(os.path.basename(s['file']))}{lead}</td>"
            f"<td>{html.escape(s['role_name'])} <small>{s['role_confidence']:.2f} · {html.escape(s['role_source'])}</small></td>"
            f"<td>{cell(s['input_lufs'])}</td><td>{cell(s['mix_lufs'])}</td><td>{s['gain_db']:+.1f}</td>"
            f"<td>{s['pan']:+.2f}</td><td>{cell(s['hpf_hz'])}</td><td>{html.escape(eq)}</td>"
            f"<td>{html.escape(comp_text)}</td><td>{cell(s['reverb_send_db'])}</td><td>{s['ride_max_cut_db']:.1f}</td>"
            "</tr>"
        )
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in report.warnings) or "<li>none</li>"
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tunesmith mix report — {html.escape(os.path.basename(report.output))}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }} th, td {{ padding: 4px 8px; border-bottom: 1px solid #ddd; text-align: left; }}
.warn li {{ color: #a33; }} img {{ max-width: 100%; }} small {{ color: #777; }}
</style></head><body>
<h1>Mix report</h1>
<p><code>{html.escape(report.output)}</code> · {len(report.stems)} stems · {report.sample_rate_hz} Hz · {report.duration_s} s ·
genre {html.escape(report.genre)} · output {report.output_loudness_lufs} LUFS, true peak {report.output_true_peak_dbtp} dBTP ·
made in {report.seconds} s. Mixed automatically by tunesmith (AI-assisted mixing).</p>
<h2>Channels</h2>
<table><thead><tr><th>stem</th><th>role</th><th>delivered (LUFS)</th><th>in mix (LUFS)</th><th>fader (dB)</th><th>pan</th>
<th>high-pass (Hz)</th><th>EQ</th><th>compressor</th><th>reverb send (dB)</th><th>rides (max cut, dB)</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<h2>Levels before and after</h2><img alt="per-stem loudness before and after" src="data:image/png;base64,{plots["levels"]}">
<h2>Pan map</h2><img alt="pan map" src="data:image/png;base64,{plots["pan"]}">
<h2>Spectra</h2><img alt="lead vs rest, mix vs target" src="data:image/png;base64,{plots["spectra"]}">
<h2>Warnings</h2><ul class="warn">{warnings}</ul>
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
</body></html>
"""
    write_text_atomic(path, doc)
