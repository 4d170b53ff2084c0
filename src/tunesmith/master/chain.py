"""`tunesmith master`: a finished mix in, a release-ready master out.

The chain, in order (see docs/ARCHITECTURE.md for why each stage is built the way it is):

1. **Read** the mix once into memory (resampled on the way if asked); that
   array becomes the output, processed in place block by block.
2. **Analyse**: loudness, true peak, LRA, and the long-term spectra of mid and
   side; warnings for clipping, heavy limiting, low level, DC, phase, sub-bass.
3. **Tonal EQ** towards a style curve or the average of reference tracks: a
   third-octave correction, smoothed and limited, as minimum-phase FIRs on mid
   and side separately (transients keep their shape: no pre-ringing).
4. **Width**: side gain, with the side high-passed at 120 Hz (mono bass); folded
   into the side FIR so it costs nothing extra.
5. **Glue compression** following ``--intensity`` (peaks against the song's own
   slow level, so the loudness range survives).
6. **Loudness and true-peak limiting**: the pre-gain that makes the limited
   output hit the target is solved for, then checked with the meter; repeated
   until the loudness is within 0.05 LU and the true peak under the ceiling.
7. **Write** atomically (TPDF dither for 16-bit), with a recipe, and optionally
   an HTML report and a loudness-matched A/B preview.
"""

from __future__ import annotations

import math
import os
import queue
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import numpy as np

from tunesmith.atomic import check_not_input
from tunesmith.audio import fir, tonal
from tunesmith.audio.features import SpectrumAccumulator
from tunesmith.audio.io import AudioReader, AudioWriter, encoding_for
from tunesmith.audio.meter import Loudness, LoudnessMeter
from tunesmith.audio.types import MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ
from tunesmith.cores import stage_pool
from tunesmith.errors import InputFileError, UsageError
from tunesmith.master.dynamics import GlueCompressor, GlueSettings
from tunesmith.master.limiter import RELEASES_S, LimiterCurve, LoudnessSolver, true_peak_envelope
from tunesmith.master.targets import Target, parse_target

BLOCK = 1 << 17
T = TypeVar("T")
MONO_BASS_HZ = 120.0
LOUDNESS_TOLERANCE_LU = 0.05
MP3_OVERSHOOT_DB = 0.5
TP_MARGIN_DB = 0.05  # the limiter aims this far under the ceiling; the meter checks the rest


@dataclass
class MasterSettings:
    """Everything that shapes a master (the CLI options, by name).

    Attributes
    ----------
    target : str or None
        Preset (``streaming``, ``apple``, ``youtube``, ``cd``, ``club``,
        ``broadcast``) or LUFS; None = the reference's loudness, else streaming.
    ceiling_dbtp : float or None
        True-peak ceiling override, dBTP.
    references : list of str
        Reference tracks whose tonal balance (averaged) is the EQ target.
    style : str
        ``auto``, ``balanced``, ``warm``, ``bright`` or ``punchy`` (used without references).
    intensity : float
        0–1: how hard the glue compressor works.
    width : float
        0–2: side gain (0 = mono, 1 = unchanged).
    encoding : str or None
        Output format (``wav16``, ``wav24``, ``wav32f``, ``flac``, ``mp3``); from the suffix if None.
    sample_rate : int or None
        Output rate, Hz; the input's if None.
    seed : int
        Dither seed.
    """

    target: str | None = None
    ceiling_dbtp: float | None = None
    references: list[str] = field(default_factory=list)
    style: str = "auto"
    intensity: float = 0.5
    width: float = 1.0
    encoding: str | None = None
    sample_rate: int | None = None
    seed: int = 0

    def validate(self) -> None:
        """Raise :class:`UsageError` for out-of-range values."""
        if self.style not in tonal.STYLES:
            raise UsageError(f"unknown --style {self.style!r}: choose one of {', '.join(tonal.STYLES)}")
        if not 0.0 <= self.intensity <= 1.0:
            raise UsageError(f"--intensity {self.intensity:g} is outside 0..1")
        if not 0.0 <= self.width <= 2.0:
            raise UsageError(f"--width {self.width:g} is outside 0..2")
        if self.sample_rate is not None and not MIN_SAMPLE_RATE_HZ <= self.sample_rate <= MAX_SAMPLE_RATE_HZ:
            raise UsageError(f"--sample-rate {self.sample_rate} Hz is outside 8000..192000 Hz")


@dataclass
class MasterReport:
    """What the master did and what came out. ``to_dict`` is the ``--json`` document."""

    input: str
    output: str
    target: dict[str, Any]
    style: str
    settings: dict[str, Any]
    sample_rate_hz: int
    channels: int
    duration_s: float
    input_loudness: dict[str, Any]
    output_loudness: dict[str, Any]
    eq_mid_db: dict[str, float]
    eq_side_db: dict[str, float]
    glue_reduction_db: dict[str, float]
    limiter_reduction_db: dict[str, float]
    pre_gain_db: float
    warnings: list[str]
    notes: list[str]
    seconds: float
    spectra: dict[str, list[float]] = field(repr=False)
    series: dict[str, list[float]] = field(repr=False)
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report (spectra and time series left out; they are in the HTML report)."""
        doc = asdict(self)
        doc.pop("spectra")
        doc.pop("series")
        return doc


def _loudness_summary(lo: Loudness) -> dict[str, Any]:
    d = lo.to_dict()
    return {
        k: d[k]
        for k in (
            "integrated_lufs",
            "true_peak_dbtp",
            "sample_peak_dbfs",
            "loudness_range_lu",
            "plr_db",
            "short_term_max_lufs",
            "crest_factor_db",
        )
    }


def _mid_side(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    left, right = block[:, 0], block[:, 1]
    return 0.5 * (left + right), 0.5 * (left - right)


@dataclass
class _Spectra:
    """Long-term mid and side spectra of a signal (third-octave levels, dB)."""

    mid_db: np.ndarray
    side_db: np.ndarray | None
    loudness: Loudness
    mid_freqs: np.ndarray
    mid_power: np.ndarray


def _analyse_blocks(blocks: Any, sample_rate: int, channels: int, true_peak: bool = True) -> _Spectra:
    meter = LoudnessMeter(sample_rate, channels, true_peak=true_peak)
    mid_acc = SpectrumAccumulator(sample_rate)
    side_acc = SpectrumAccumulator(sample_rate) if channels >= 2 else None

    def spectra(block: np.ndarray) -> None:
        if side_acc is not None:
            mid, side = _mid_side(block)
            mid_acc.push(mid)
            side_acc.push(side)
        else:
            mid_acc.push(block[:, 0])

    # The spectra of a block are taken in a second thread while the meter reads it (both
    # release the GIL in their compiled parts); blocks still reach each in order.
    pool = stage_pool()
    try:
        pending = None
        for block in blocks:
            if pending is not None:
                pending.result()
            pending = pool.submit(spectra, block)
            meter.process(block)
        if pending is not None:
            pending.result()
        loudness = meter.result()
    finally:
        pool.shutdown()
        meter.close()
    mid_freqs, mid_power = mid_acc.result()
    side_db = tonal.band_levels_db(*side_acc.result()) if side_acc is not None else None
    return _Spectra(tonal.band_levels_db(mid_freqs, mid_power), side_db, loudness, mid_freqs, mid_power)


def _until_none(items: queue.SimpleQueue[Any]) -> Iterator[Any]:
    """The items put on ``items`` up to the first None."""
    while (item := items.get()) is not None:
        yield item


def _array_blocks(x: np.ndarray, block: int = BLOCK) -> Any:
    for s0 in range(0, len(x), block):
        yield x[s0 : s0 + block]


def _analyse_reference(path: str) -> _Spectra:
    with AudioReader(path) as reader:
        info = reader.info
        return _analyse_blocks(reader.blocks(), info.sample_rate, info.channels, true_peak=False)


def _input_warnings(lo: Loudness, spectra: _Spectra, x: np.ndarray) -> list[str]:
    warnings = []
    # Block-wise, so no full-length temporary is made (memory stays at the audio itself).
    full_scale, ll, rr, lr = 0, 0.0, 0.0, 0.0
    for block in _array_blocks(x):
        full_scale += int(np.count_nonzero(np.abs(block) >= 0.9999))
        if x.shape[1] >= 2:
            # float32 products summed per block, in float64 across blocks: plenty for a sign test,
            # and 30x faster than float64 copies (whose BLAS calls stall on a busy machine).
            left, right = block[:, 0], block[:, 1]
            ll, rr, lr = ll + float(left @ left), rr + float(right @ right), lr + float(left @ right)
    if full_scale >= 3 and lo.sample_peak_dbfs is not None and lo.sample_peak_dbfs >= -0.05:
        warnings.append(f"input is clipped ({full_scale} samples at full scale): the master cannot undo clipping")
    if lo.plr_db is not None and lo.plr_db < 8.0:
        warnings.append(
            f"input is already heavily limited (PLR {lo.plr_db:.1f} dB): little dynamic range is left to work with"
        )
    if lo.integrated_lufs is not None and lo.integrated_lufs < -35.0:
        warnings.append(f"input is very quiet ({lo.integrated_lufs:.1f} LUFS): raising it lifts its noise floor too")
    dc = max(abs(v) for v in lo.dc_offset)
    if dc > 0.002:
        warnings.append(f"DC offset of {dc:.4f} full scale in the input")
    if x.shape[1] >= 2 and ll > 0 and rr > 0:
        corr = lr / math.sqrt(ll * rr)
        if corr < 0.0:
            warnings.append(
                f"left/right correlation is negative ({corr:.2f}): phase problems, the mix collapses in mono"
            )
    mid = spectra.mid_db
    power = 10.0 ** (np.nan_to_num(mid, nan=-300.0) / 10.0)
    sub = float(power[tonal.BAND_CENTRES_HZ < 40.0].sum() / max(power.sum(), 1e-30))
    if sub > 0.25:
        warnings.append(f"excessive sub-bass: {100 * sub:.0f}% of the energy is below 40 Hz")
    return warnings


def _fit_band_gains(
    gains: np.ndarray, spectra: _Spectra, limits: tonal.EqLimits, taps: int, grid_fft: int, rate: int, rounds: int = 3
) -> np.ndarray:
    """Adjust band gains so that the FIR actually built lands the input's bands where intended.

    A band's level after the filter is the integral of the filter's response over
    the input's spectrum in that band, not the gain at the band centre: steep
    moves between neighbouring bands, and low bands narrower than the FIR's
    resolution, fall short. Each round designs the filter, predicts the output
    bands from the input's fine spectrum and corrects the band gains by what is
    still missing (within the same limits).
    """
    intended = spectra.mid_db + gains
    grid_freqs = np.fft.rfftfreq(grid_fft, 1.0 / rate)
    floor = np.nanmax(spectra.mid_db) - 60.0
    empty = ~np.isfinite(spectra.mid_db) | (np.nan_to_num(spectra.mid_db, nan=-np.inf) < floor)
    for _ in range(rounds):
        h = fir.minimum_phase_fir(fir.magnitude_on_grid(tonal.BAND_CENTRES_HZ, gains, grid_fft, rate), taps)
        response = np.interp(spectra.mid_freqs, grid_freqs, np.abs(np.fft.rfft(h, grid_fft)) ** 2)
        predicted = tonal.band_levels_db(spectra.mid_freqs, spectra.mid_power * response)
        residual = np.nan_to_num(tonal.normalised_difference(intended, predicted), nan=0.0)
        gains = np.clip(gains + residual, -limits.max_cut_db, limits.max_boost_db)
        gains[empty] = np.minimum(gains[empty], 0.0)
    return gains


def _report_bands(gains: np.ndarray) -> dict[str, float]:
    return {f"{c:.0f}": round(float(g), 2) for c, g in zip(tonal.BAND_CENTRES_HZ, gains, strict=True)}


def master(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    settings: MasterSettings | None = None,
    progress: Callable[[str, float], None] | None = None,
    output_spectrum: bool = False,
) -> tuple[MasterReport, dict[str, Any]]:
    """Master ``input_path`` into ``output_path``.

    Parameters
    ----------
    input_path : str or os.PathLike
        A finished stereo (or mono) mix, any format and rate tunesmith reads.
    output_path : str or os.PathLike
        Where the master goes; the format follows ``settings.encoding`` or the suffix.
    settings : MasterSettings, optional
        Target, ceiling, references, style, intensity, width, format, rate.
    progress : callable, optional
        Called as ``progress(stage, fraction_done)``.
    output_spectrum : bool
        Also analyse the written master's spectrum (for the HTML report).

    Returns
    -------
    tuple
        The :class:`MasterReport` and the intermediate data the HTML report and
        preview need (``"x"`` is not kept: only the short-term series and spectra).

    Raises
    ------
    InputFileError
        Unreadable input or reference, or silence (nothing to master).
    UsageError
        Bad options, or an output that would overwrite an input.
    """
    started = time.perf_counter()
    settings = settings or MasterSettings()
    settings.validate()
    step = progress or (lambda stage, frac: None)
    check_not_input(output_path, [input_path, *settings.references])
    encoding = encoding_for(output_path, settings.encoding)
    notes: list[str] = []

    # 1-2. Read, and analyse each stretch as soon as it is in memory: the decoder runs in a second
    # thread (libsndfile releases the GIL) while this one measures what is already read.
    step("reading", 0.0)
    with AudioReader(input_path) as reader:
        rate = settings.sample_rate or reader.info.sample_rate
        if encoding == "mp3" and rate > 48_000:
            notes.append(f"MP3 holds at most 48 kHz: output resampled from {rate} Hz to 48000 Hz")
            rate = 48_000
        channels = reader.info.channels
        if channels > 2:
            raise InputFileError(f"has {channels} channels: tunesmith masters mono or stereo mixes", input_path)
        stretches: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()

        def read_all() -> Any:
            try:
                return reader.read(sample_rate=rate, on_chunk=stretches.put)
            finally:
                stretches.put(None)  # also after a failed read: the analysis stops, the error is raised below

        with stage_pool() as read_pool:
            reading = read_pool.submit(read_all)
            step("analysing", 0.1)
            try:
                spectra_in = _analyse_blocks(_until_none(stretches), rate, channels)
            except Exception:
                reading.result()  # a failed read explains a failed analysis: its error goes first
                raise
            audio = reading.result()
        notes.extend(reader.warnings)
    x = audio.samples
    lo_in = spectra_in.loudness
    if lo_in.integrated_lufs is None:
        why = "it is shorter than 400 ms" if lo_in.duration_s < 0.4 else "it is silent"
        raise InputFileError(f"nothing to master: {why}", input_path)
    warnings = _input_warnings(lo_in, spectra_in, x)

    references = [_analyse_reference(p) for p in settings.references]
    ref_lufs = None
    if references:
        powers = [10.0 ** (r.loudness.integrated_lufs / 10.0) for r in references if r.loudness.integrated_lufs]
        if not powers:
            raise InputFileError("reference is silent", settings.references[0])
        ref_lufs = 10.0 * math.log10(float(np.mean(powers)))
    target = parse_target(settings.target, settings.ceiling_dbtp, ref_lufs)

    # 3-4. Tonal EQ and width as one minimum-phase FIR each for mid and side.
    step("equalising", 0.25)
    if references:
        style = "reference"
        ref_mid = np.nanmean([tonal.normalised_difference(r.mid_db, spectra_in.mid_db) for r in references], axis=0)
        target_mid = spectra_in.mid_db + ref_mid
        mid_gain = tonal.correction_db(spectra_in.mid_db, target_mid, tonal.REFERENCE_LIMITS)
        limits = tonal.REFERENCE_LIMITS
    else:
        style = tonal.choose_style(spectra_in.mid_db) if settings.style == "auto" else settings.style
        target_mid = tonal.style_curve_db(style)
        mid_gain = tonal.correction_db(spectra_in.mid_db, target_mid, tonal.STYLE_LIMITS)
        limits = tonal.STYLE_LIMITS
    side_gain = np.zeros_like(mid_gain)
    if channels == 2 and spectra_in.side_db is not None:
        side_refs = [r for r in references if r.side_db is not None]
        if side_refs:
            # Keep the reference's side-to-mid balance per band after the mid EQ.
            ref_side_minus_mid = np.nanmean([r.side_db - r.mid_db for r in side_refs], axis=0)
            side_target = spectra_in.mid_db + mid_gain + ref_side_minus_mid
            side_gain = tonal.correction_db(spectra_in.side_db, side_target, limits, normalise=False)
        else:
            side_gain = mid_gain.copy()

    taps = 1 << max(11, math.ceil(math.log2(0.1 * rate)))
    grid_fft = 4 * taps
    freqs = np.fft.rfftfreq(grid_fft, 1.0 / rate)
    mid_gain = _fit_band_gains(mid_gain, spectra_in, limits, taps, grid_fft, rate)
    mid_db_grid = fir.magnitude_on_grid(tonal.BAND_CENTRES_HZ, mid_gain, grid_fft, rate)
    responses = [fir.minimum_phase_fir(mid_db_grid, taps)]
    if channels == 2:
        side_db_grid = fir.magnitude_on_grid(tonal.BAND_CENTRES_HZ, side_gain, grid_fft, rate)
        side_db_grid = side_db_grid + fir.highpass_lr4_db(freqs, MONO_BASS_HZ)
        side_db_grid = side_db_grid + (20.0 * math.log10(settings.width) if settings.width > 0 else -200.0)
        responses.append(fir.minimum_phase_fir(side_db_grid, taps))
    eq = fir.BlockFir(responses)

    # 5. Process in place: EQ + width, then glue. The glue compresses block k in a second thread
    # while block k + 1 is equalised (its detector is serial, the FIR's FFTs are not); blocks still
    # reach each stage in order, so the result is the same as one after the other.
    glue = GlueCompressor(GlueSettings.from_intensity(settings.intensity, style), rate)
    with stage_pool() as glue_pool:
        pending = None
        for s0 in range(0, len(x), BLOCK):
            block = x[s0 : s0 + BLOCK]
            if channels == 2:
                mid, side = eq.process(np.stack(_mid_side(block)))
                block[:, 0] = mid + side
                block[:, 1] = mid - side
            else:
                block[:, 0] = eq.process(block.T)[0]
            if pending is not None:
                pending.result()
            pending = glue_pool.submit(glue.process, block)
            step("equalising", 0.25 + 0.25 * (s0 + len(block)) / len(x))
        if pending is not None:
            pending.result()

    # 6-7. Loudness and true-peak limiting, written and measured in one pass; redone
    # (rarely) until the loudness is within tolerance and the true peak under the ceiling.
    step("limiting", 0.5)
    with stage_pool() as energy_pool:  # the solver's K-weighted energy while the envelope is made
        energy = energy_pool.submit(LoudnessSolver.group_energy, x, rate)
        envelope = true_peak_envelope(x, rate)
        solver = LoudnessSolver(x, envelope, rate, energy.result())
    pre = solver.integrated_lufs(0.0, None)
    if pre is None:
        raise InputFileError("nothing to master: the processed signal is silent", input_path)
    aim_lufs = target.lufs
    ceiling = target.ceiling_dbtp - TP_MARGIN_DB
    if encoding == "mp3":
        # MP3's filter bank overshoots the source's true peak by a few tenths of a dB at 320 kbit/s;
        # aiming under it at once usually saves a second encode-and-measure round (≈ 8 s for 2 min).
        ceiling -= MP3_OVERSHOOT_DB
    # The longest (cleanest) release that can reach the target.
    release_s = RELEASES_S[-1]
    for candidate in RELEASES_S:
        gain_db, predicted = solver.solve(aim_lufs, ceiling, target.lufs - pre, candidate)
        if predicted is not None and predicted >= target.lufs - 0.02:
            release_s = candidate
            break
    if release_s != RELEASES_S[0]:
        notes.append(f"limiter release shortened to {1000 * release_s:.0f} ms to reach {target.lufs:g} LUFS")
    changes_samples = encoding in ("wav16", "flac16", "mp3")
    committed: tuple[float, float, list[float]] | None = None  # limiter stages already applied to x
    for _attempt in range(8):
        step("writing", 0.8)
        curve = LimiterCurve(envelope, rate, gain_db, ceiling, release_s)
        lo_out, gr_stats = _render(x, curve, output_path, encoding, settings.seed)
        if changes_samples:  # dither or the encoder changed the samples: measure the file itself
            lo_out = _measure_file(output_path)
        over = (lo_out.true_peak_dbtp or -200.0) - target.ceiling_dbtp
        error = target.lufs - (lo_out.integrated_lufs if lo_out.integrated_lufs is not None else target.lufs)
        if over > 0 and not changes_samples:
            # Heavy limiting modulates the signal enough to push a few oversampled
            # peaks back over. Commit this stage and limit its output again: the
            # second stage works by a fraction of a dB, so its own modulation is tiny.
            committed = _combine(committed, gr_stats)
            _apply(x, curve)
            envelope = true_peak_envelope(x, rate)
            solver = LoudnessSolver(x, envelope, rate)
            gain_db, _ = solver.solve(target.lufs, ceiling, 0.0, release_s)
            aim_lufs = target.lufs
            continue
        if over > 0:  # the encoder or dither overshot: aim lower
            ceiling -= over + 0.02
        elif abs(error) <= LOUDNESS_TOLERANCE_LU:
            break
        else:
            aim_lufs += error
        gain_db, _ = solver.solve(aim_lufs, ceiling, gain_db, release_s)
    gr_stats = _combine(committed, gr_stats)
    gr_min_db, gr_sum_db, series_gr = gr_stats
    if lo_out.true_peak_dbtp is not None and lo_out.true_peak_dbtp > target.ceiling_dbtp:
        warnings.append(f"true peak {lo_out.true_peak_dbtp:.2f} dBTP is above the ceiling")
    out_summary = _loudness_summary(lo_out)
    if lo_out.integrated_lufs is not None and abs(lo_out.integrated_lufs - target.lufs) > 0.1:
        warnings.append(
            f"output loudness {lo_out.integrated_lufs:.2f} LUFS misses the target {target.lufs:.1f} by more than 0.1 LU"
        )
    step("done", 1.0)
    report = MasterReport(
        input=str(input_path),
        output=str(output_path),
        target={"name": target.name, "integrated_lufs": target.lufs, "ceiling_dbtp": target.ceiling_dbtp},
        style=style,
        settings={
            "intensity": settings.intensity,
            "width": settings.width,
            "style": settings.style,
            "references": list(settings.references),
            "format": encoding,
            "seed": settings.seed,
        },
        sample_rate_hz=rate,
        channels=channels,
        duration_s=round(len(x) / rate, 3),
        input_loudness=_loudness_summary(lo_in),
        output_loudness=out_summary,
        eq_mid_db=_report_bands(mid_gain),
        eq_side_db=_report_bands(side_gain) if channels == 2 else {},
        glue_reduction_db={"max": round(glue.max_reduction_db, 2), "mean": round(glue.mean_reduction_db, 2)},
        limiter_reduction_db={"max": round(-gr_min_db, 2), "mean": round(-gr_sum_db / max(1, len(x)), 3)},
        pre_gain_db=round(gain_db, 2),
        warnings=warnings,
        notes=notes,
        seconds=round(time.perf_counter() - started, 3),
        spectra={
            "centres_hz": tonal.BAND_CENTRES_HZ.tolist(),
            "input_mid_db": np.nan_to_num(spectra_in.mid_db, nan=-120.0).tolist(),
            "target_mid_db": np.nan_to_num(target_mid, nan=-120.0).tolist(),
            "eq_mid_db": mid_gain.tolist(),
        },
        series={
            "input_short_term_lufs": np.nan_to_num(lo_in.short_term_lufs, neginf=-70.0).tolist(),
            "output_short_term_lufs": np.nan_to_num(lo_out.short_term_lufs, neginf=-70.0).tolist(),
            "limiter_gain_db": series_gr,
        },
    )
    if output_spectrum:
        with AudioReader(output_path) as reader:
            out_mid = _analyse_blocks(reader.blocks(), rate, channels, true_peak=False).mid_db
        report.spectra["output_mid_db"] = np.nan_to_num(out_mid, nan=-120.0).tolist()
    extra = {"input_momentary_lufs": lo_in.momentary_lufs, "sample_rate": rate}
    return report, extra


def _combine(
    a: tuple[float, float, list[float]] | None, b: tuple[float, float, list[float]]
) -> tuple[float, float, list[float]]:
    """Limiter statistics of two stages in series (gains in dB add)."""
    if a is None:
        return b
    n = min(len(a[2]), len(b[2]))
    series = [a[2][i] + b[2][i] for i in range(n)]
    return min(series, default=0.0), a[1] + b[1], series


def _apply(x: np.ndarray, curve: LimiterCurve) -> None:
    """Multiply ``x`` in place by the curve's pre-gain and gain."""
    pre_gain = np.float32(curve.pre_gain)
    for s0, gain in curve.blocks():
        x[s0 : s0 + len(gain)] *= (gain * pre_gain)[:, None]


def _render(
    x: np.ndarray, curve: LimiterCurve, path: str | os.PathLike[str], encoding: str, seed: int
) -> tuple[Loudness, tuple[float, float, list[float]]]:
    """Write ``pre_gain · gain · x`` (x untouched) and measure it on the way.

    Returns the measurement and the limiter statistics: lowest gain (dB), summed
    gain (dB, for the mean) and the lowest gain per 100 ms.
    """
    gr_min_db, gr_sum_db, series = 0.0, 0.0, []
    hop = max(1, curve.sample_rate // 10)
    pre_gain = np.float32(curve.pre_gain)
    meter = LoudnessMeter(curve.sample_rate, x.shape[1])
    # The writer runs in its own thread (libsndfile releases the GIL), one block
    # behind the meter, so encoding overlaps with measuring the next block.
    pool = stage_pool()
    ahead = stage_pool()
    try:
        with AudioWriter(path, curve.sample_rate, x.shape[1], encoding, seed) as writer:
            pending = None
            for s0, gain in _one_ahead(curve.blocks(), ahead):
                y = x[s0 : s0 + len(gain)] * (gain * pre_gain)[:, None]
                if pending is not None:
                    pending.result()
                pending = pool.submit(writer.write, y)
                meter.process(y)
                gain_db = 20.0 * np.log10(np.maximum(gain, 1e-6))
                gr_min_db = min(gr_min_db, float(gain_db.min()))
                gr_sum_db += float(gain_db.sum())
                series.extend(np.minimum.reduceat(gain_db, np.arange(0, len(gain), hop)).tolist())
            if pending is not None:
                pending.result()
        return meter.result(), (gr_min_db, gr_sum_db, series)
    finally:
        pool.shutdown()
        ahead.shutdown()
        meter.close()


def _one_ahead(items: Iterator[T], pool: Executor) -> Iterator[T]:
    """Yield ``items`` in order while ``pool`` computes the next one (the limiter's gain curve is a
    serial recursion; working one block ahead overlaps it with metering and writing)."""
    done = object()
    following = pool.submit(next, items, done)
    while True:
        item = following.result()
        if item is done:
            return
        following = pool.submit(next, items, done)
        yield item


def _measure_file(path: str | os.PathLike[str]) -> Loudness:
    with AudioReader(path) as reader:
        meter = LoudnessMeter(reader.info.sample_rate, reader.info.channels)
        try:
            for block in reader.blocks():
                meter.process(block)
            return meter.result()
        finally:
            meter.close()


__all__ = ["MasterReport", "MasterSettings", "Target", "master"]
