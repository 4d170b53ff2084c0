"""PNG overview of an analysis: waveform, loudness over time, long-term spectrum."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from tunesmith.atomic import atomic_path
from tunesmith.audio.analysis import Analysis


def figure_png_base64(fig: Any) -> str:
    """A matplotlib figure as base64 PNG text, for ``<img src="data:image/png;base64,...">`` in HTML reports."""
    import base64
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def smooth_spectrum_db(freqs: np.ndarray, power: np.ndarray, fraction: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Average a power spectrum over 1/``fraction``-octave bands, 20 Hz–20 kHz.

    Returns
    -------
    tuple
        Band centre frequencies (Hz) and levels (dB, bands without bins dropped).
    """
    top = min(20_000.0, float(freqs[-1])) if len(freqs) else 20_000.0
    n_bands = int(np.floor(np.log2(top / 20.0) * fraction)) + 1
    centres = 20.0 * 2.0 ** (np.arange(n_bands) / fraction)
    half = 2.0 ** (0.5 / fraction)
    levels = []
    kept = []
    for c in centres:
        sel = (freqs >= c / half) & (freqs < c * half)
        if sel.any():
            kept.append(c)
            levels.append(10.0 * np.log10(max(float(power[sel].mean()), 1e-20)))
    return np.array(kept), np.array(levels)


def plot_analysis(analysis: Analysis, path: str | os.PathLike[str]) -> None:
    """Write a three-panel PNG for ``analysis`` to ``path`` (atomically).

    Panels: the waveform (min/max of the mono sum), momentary and short-term
    loudness over time with the integrated level, and the long-term spectrum in
    1/6-octave bands.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lo = analysis.loudness
    fig, axes = plt.subplots(3, 1, figsize=(11, 9), constrained_layout=True)
    title = os.path.basename(analysis.file)
    figures = []
    if lo.integrated_lufs is not None:
        figures.append(f"{lo.integrated_lufs:.1f} LUFS")
    if lo.true_peak_dbtp is not None:
        figures.append(f"{lo.true_peak_dbtp:.1f} dBTP")
    if lo.loudness_range_lu is not None:
        figures.append(f"LRA {lo.loudness_range_lu:.1f} LU")
    fig.suptitle(f"{title}  —  {', '.join(figures) or 'silent'}", fontsize=12)

    ax = axes[0]
    env = analysis.envelope
    if len(env):
        t = np.linspace(0.0, analysis.duration_s, len(env))
        ax.fill_between(t, env[:, 0], env[:, 1], color="#3b6ea5", linewidth=0)
    ax.set_xlim(0.0, max(analysis.duration_s, 1e-3))
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("amplitude (full scale)")
    ax.set_title("Waveform (mono sum)")

    ax = axes[1]
    if lo.momentary_lufs.size:
        t = (np.arange(lo.momentary_lufs.size) + 4) / 10.0
        ax.plot(
            t,
            np.where(np.isfinite(lo.momentary_lufs), lo.momentary_lufs, np.nan),
            color="#b0b0b0",
            lw=0.7,
            label="momentary (400 ms)",
        )
    if lo.short_term_lufs.size:
        t = (np.arange(lo.short_term_lufs.size) + 30) / 10.0
        ax.plot(
            t,
            np.where(np.isfinite(lo.short_term_lufs), lo.short_term_lufs, np.nan),
            color="#c44e52",
            lw=1.5,
            label="short-term (3 s)",
        )
    if lo.integrated_lufs is not None:
        ax.axhline(lo.integrated_lufs, color="black", ls="--", lw=1, label=f"integrated {lo.integrated_lufs:.1f} LUFS")
    ax.set_xlim(0.0, max(analysis.duration_s, 1e-3))
    finite = lo.momentary_lufs[np.isfinite(lo.momentary_lufs)] if lo.momentary_lufs.size else np.zeros(0)
    if finite.size:
        ax.set_ylim(max(float(finite.min()) - 3, -70), float(finite.max()) + 3)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("loudness (LUFS)")
    ax.set_title("Loudness over time")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)

    ax = axes[2]
    centres, levels = smooth_spectrum_db(analysis.spectrum_hz, analysis.spectrum_power)
    if len(centres):
        ax.semilogx(centres, levels, color="#55a868", lw=1.5)
    ax.set_xlim(20, 20_000)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("level (dB re full-scale sine)")
    ax.set_title("Long-term average spectrum (1/6 octave)")
    for edge in (250, 4000):
        ax.axvline(edge, color="#cccccc", lw=0.8)
    ax.grid(True, which="both", alpha=0.3)

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
