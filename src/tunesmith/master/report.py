"""Self-contained HTML report of a master: figures, plots (inline PNG), EQ moves and warnings."""

from __future__ import annotations

import html
import os
from typing import Any

import numpy as np

from tunesmith.atomic import write_text_atomic
from tunesmith.audio.plot import figure_png_base64
from tunesmith.master.chain import MasterReport


def _plots(report: MasterReport) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    spec = report.spectra
    centres = np.array(spec["centres_hz"])
    band = (centres >= 25) & (centres <= 16_000)

    def norm(levels: list[float]) -> np.ndarray:
        v = np.array(levels)
        sel = band & (centres >= 80) & (centres <= 10_000) & (v > -119)
        return v - (v[sel].mean() if sel.any() else 0.0)

    fig, ax = plt.subplots(figsize=(9, 3.6), constrained_layout=True)
    ax.semilogx(centres[band], norm(spec["input_mid_db"])[band], label="input", color="#8c8c8c")
    ax.semilogx(centres[band], norm(spec["target_mid_db"])[band], label="target", color="black", ls="--")
    if "output_mid_db" in spec:
        ax.semilogx(centres[band], norm(spec["output_mid_db"])[band], label="master", color="#c44e52", lw=2)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("third-octave level (dB, level-matched)")
    ax.set_title("Tonal balance (mid)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    out["spectrum"] = figure_png_base64(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 3.0), constrained_layout=True)
    ax.semilogx(centres, list(report.eq_mid_db.values()), label="mid", color="#3b6ea5", lw=2)
    if report.eq_side_db:
        ax.semilogx(
            centres, list(report.eq_side_db.values()), label="side (before mono-bass and width)", color="#55a868"
        )
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("EQ gain (dB)")
    ax.set_title("EQ moves")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    out["eq"] = figure_png_base64(fig)
    plt.close(fig)

    series = report.series
    fig, axes = plt.subplots(2, 1, figsize=(9, 5.0), constrained_layout=True, sharex=True)
    for key, label, colour in (
        ("input_short_term_lufs", "input", "#8c8c8c"),
        ("output_short_term_lufs", "master", "#c44e52"),
    ):
        values = np.array(series[key])
        axes[0].plot((np.arange(len(values)) + 30) / 10.0, values, label=label, color=colour)
    axes[0].axhline(report.target["integrated_lufs"], color="black", ls="--", lw=1, label="target")
    axes[0].set_ylabel("short-term (LUFS)")
    axes[0].set_title("Loudness over time")
    axes[0].legend(loc="lower right")
    gr = np.array(series["limiter_gain_db"])
    axes[1].fill_between(np.arange(len(gr)) / 10.0, gr, 0, color="#dd8452")
    axes[1].set_ylabel("limiter gain (dB)")
    axes[1].set_xlabel("time (s)")
    out["time"] = figure_png_base64(fig)
    plt.close(fig)
    return out


def _table(rows: list[tuple[str, Any, Any]], headers: tuple[str, str, str]) -> str:
    def cell(v: Any) -> str:
        return "—" if v is None else html.escape(str(v))

    body = "".join(f"<tr><th>{html.escape(a)}</th><td>{cell(b)}</td><td>{cell(c)}</td></tr>" for a, b, c in rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report_html(report: MasterReport, path: str | os.PathLike[str]) -> None:
    """Write the report as one HTML file with inline images (no network needed to view it)."""
    plots = _plots(report)
    i, o = report.input_loudness, report.output_loudness
    rows = [
        ("Integrated loudness (LUFS)", i["integrated_lufs"], o["integrated_lufs"]),
        ("True peak (dBTP)", i["true_peak_dbtp"], o["true_peak_dbtp"]),
        ("Sample peak (dBFS)", i["sample_peak_dbfs"], o["sample_peak_dbfs"]),
        ("Loudness range (LU)", i["loudness_range_lu"], o["loudness_range_lu"]),
        ("PLR (dB)", i["plr_db"], o["plr_db"]),
        ("Short-term max (LUFS)", i["short_term_max_lufs"], o["short_term_max_lufs"]),
    ]
    eq_rows = "".join(
        f"<tr><td>{hz} Hz</td><td>{mid:+.1f}</td><td>{report.eq_side_db.get(hz, 0.0):+.1f}</td></tr>"
        for hz, mid in report.eq_mid_db.items()
        if abs(mid) >= 0.5 or abs(report.eq_side_db.get(hz, 0.0)) >= 0.5
    )
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in report.warnings) or "<li>none</li>"
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    t = report.target
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tunesmith master report — {html.escape(os.path.basename(report.input))}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 960px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }} th, td {{ padding: 4px 12px; border-bottom: 1px solid #ddd; text-align: left; }}
.warn li {{ color: #a33; }} img {{ max-width: 100%; }} code {{ background: #f4f4f4; padding: 1px 4px; }}
</style></head><body>
<h1>Master report</h1>
<p><code>{html.escape(report.input)}</code> → <code>{html.escape(report.output)}</code><br>
Target: <b>{html.escape(str(t["name"]))}</b>, {t["integrated_lufs"]} LUFS, ceiling {t["ceiling_dbtp"]} dBTP ·
tonal target: <b>{html.escape(report.style)}</b> · intensity {report.settings["intensity"]} · width {report.settings["width"]} ·
{report.sample_rate_hz} Hz, {report.channels} ch, {report.duration_s} s · made in {report.seconds} s.
This master was processed by tunesmith (AI-assisted mastering).</p>
<h2>Before and after</h2>
{_table(rows, ("", "input", "master"))}
<p>Glue compression: max {report.glue_reduction_db["max"]} dB, mean {report.glue_reduction_db["mean"]} dB ·
true-peak limiter: max {report.limiter_reduction_db["max"]} dB, mean {report.limiter_reduction_db["mean"]} dB ·
pre-gain {report.pre_gain_db:+.2f} dB.</p>
<h2>Warnings</h2><ul class="warn">{warnings}</ul>
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
<h2>Tonal balance</h2><img alt="spectrum before, after and target" src="data:image/png;base64,{plots["spectrum"]}">
<h2>EQ moves</h2><img alt="EQ curves" src="data:image/png;base64,{plots["eq"]}">
<table><thead><tr><th>band</th><th>mid (dB)</th><th>side (dB)</th></tr></thead><tbody>{eq_rows or "<tr><td colspan=3>no band moved by 0.5 dB or more</td></tr>"}</tbody></table>
<h2>Loudness and limiting over time</h2><img alt="loudness and limiter gain over time" src="data:image/png;base64,{plots["time"]}">
</body></html>
"""
    write_text_atomic(path, doc)
