"""``automix``: stems in, a balanced stereo mix out (the whole flow of ``tunesmith mix``).

Three passes over the stems, each in parallel across cores:

1. *listen*: read each stem (resampled to the session rate), measure its
   loudness and band powers every 100 ms and its features; classify its role.
   The decoded stem is parked until pass 2, so it is decoded and resampled once:
   in memory while the whole session's samples fit :data:`PARK_IN_MEMORY_BYTES`
   (16 three-minute stereo stems are 1 GiB), else in a temporary file.
2. *strip*: high-pass, unmasking EQ and compression per stem; the compressor's
   pass also meters its output (so levels are set on what is actually heard),
   and the processed stem overwrites the decoded one where it is parked.
3. *sum*: faders (static gain + rides), pan and width, reverb sends, then the bus:
   reverb return, glue compressor, tonal EQ towards the genre, and the output
   level (−18 LUFS, true peak ≤ −6 dBTP unless told otherwise).

Memory holds the parked stems up to that budget, then about one stem per core, plus the mix bus,
whatever the number of stems.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.atomic import check_not_input
from tunesmith.audio import iir
from tunesmith.audio.bands import BLOCK_S, BlockSpectra
from tunesmith.audio.features import SpectrumAccumulator, mono_mix
from tunesmith.audio.io import AudioReader, AudioWriter, encoding_for, info
from tunesmith.audio.meter import k_weighting_sos, true_peak
from tunesmith.audio.tonal import BAND_CENTRES_HZ, band_levels_db, style_curve_db
from tunesmith.cores import usable_cores
from tunesmith.errors import InputFileError, UsageError
from tunesmith.mix import console, engineer, kernels
from tunesmith.mix.listen import listen, loud_level_db
from tunesmith.mix.roles import ROLES, classify, stem_features
from tunesmith.mix.settings import BusSettings, Compressor, MixSettings, StemSettings

AUDIO_SUFFIXES = {".wav", ".flac", ".aif", ".aiff", ".ogg", ".mp3", ".w64", ".rf64", ".caf", ".opus", ".m4a"}
MAX_STEMS = 64
TARGET_LUFS = -18.0
CEILING_DBTP = -6.0


@dataclass
class MixOptions:
    """What the user chose (CLI flags)."""

    roles: dict[str, str] = field(default_factory=dict)  # file name (or path) -> role id
    genre: str = "pop"
    reverb: bool = True
    sample_rate: int | None = None
    target_lufs: float = TARGET_LUFS
    ceiling_dbtp: float = CEILING_DBTP
    encoding: str | None = None
    apply: MixSettings | None = None  # re-render these settings instead of deciding
    workers: int | None = None


@dataclass
class MixReport:
    """What ``tunesmith mix --json`` prints."""

    output: str
    sample_rate_hz: int
    duration_s: float
    genre: str
    lead: str | None
    stems: list[dict[str, Any]]
    output_loudness_lufs: float | None
    output_true_peak_dbtp: float | None
    output_gain_db: float
    bus: dict[str, Any]
    warnings: list[str]
    notes: list[str]
    seconds: float
    spectra: dict[str, list[float]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def find_stems(inputs: list[str | os.PathLike[str]]) -> list[Path]:
    """Files to mix: the files given, or the audio files inside a folder given (sorted by name).

    Raises
    ------
    InputFileError
        A missing path, a folder without audio files.
    UsageError
        More than :data:`MAX_STEMS` stems, or the same file twice.
    """
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(
                f
                for f in p.iterdir()
                if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES and not f.name.startswith(".")
            )
            if not found:
                raise InputFileError("no audio files in this folder", p)
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise InputFileError("no such file or folder", p)
    if not files:
        raise UsageError("no stems given")
    if len(files) > MAX_STEMS:
        raise UsageError(f"{len(files)} stems: tunesmith mixes at most {MAX_STEMS}")
    seen: set[Path] = set()
    for f in files:
        if f.resolve() in seen:
            raise UsageError(f"{f} is given twice")
        seen.add(f.resolve())
    return files


#: Decoded samples of a whole session kept in memory between the passes, bytes; a larger session
#: is parked in temporary files. Writing 1 GiB of stems to disk and mapping it back cost about a
#: fifth of a 16-stem mix (page faults and writeback on the same two cores).
PARK_IN_MEMORY_BYTES = 1536 * 2**20


class _Parking:
    """Where the decoded stems wait between the passes: in memory, or in ``.npy`` files under ``tmp``.

    Parameters
    ----------
    tmp : Path
        A private temporary folder.
    frames : int
        The stems' (padded) length in frames.
    channels : list of int
        Each stem's channel count.
    """

    def __init__(self, tmp: Path, frames: int, channels: list[int]) -> None:
        self._files = [tmp / f"in{i:02d}.npy" for i in range(len(channels))]
        self.in_memory = frames * sum(channels) * 4 <= PARK_IN_MEMORY_BYTES
        self._arrays: list[np.ndarray | None] = [None] * len(channels)

    def put(self, i: int, x: np.ndarray) -> None:
        """Park stem ``i``'s samples (the array itself is kept when parking in memory)."""
        if self.in_memory:
            self._arrays[i] = x
        else:
            np.save(self._files[i], x)

    def get(self, i: int, writable: bool = False) -> np.ndarray:
        """Stem ``i``'s parked samples; a writable view is changed where it lies (memory or file)."""
        if self.in_memory:
            x = self._arrays[i]
            assert x is not None, f"stem {i} was not parked"
            return x
        # Mapped, not loaded: a strip overwrites the decoded samples where they lie (in the page
        # cache), which saves a copy in and a copy out of every stem.
        return np.asarray(np.load(self._files[i], mmap_mode="r+" if writable else "r"))

    def release(self) -> None:
        """Let the parked stems go (their memory is wanted by the bus's own arrays next)."""
        self._arrays = [None] * len(self._arrays)


def _read(path: Path, rate: int, frames: int) -> np.ndarray:
    """The stem at ``rate``, zero-padded (or cut) to ``frames``."""
    with AudioReader(path) as reader:
        x = reader.read(sample_rate=rate).samples
    if x.shape[1] > 2:
        raise InputFileError(f"has {x.shape[1]} channels: stems must be mono or stereo", path)
    if len(x) < frames:
        x = np.concatenate((x, np.zeros((frames - len(x), x.shape[1]), np.float32)))
    return x[:frames]


def _loud_level_db(x: np.ndarray, sample_rate: int) -> float:
    """95th percentile of the 5 ms RMS level while the stem plays (dBFS): where its compressor sits."""
    hop = max(1, sample_rate // 200)
    n = len(x) // hop
    if n == 0:
        return -math.inf
    frames = x[: n * hop].reshape(n, hop * x.shape[1])
    level = 10.0 * np.log10(np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / (hop * x.shape[1]) + 1e-20)
    playing = level[level > level.max() - 40.0]
    return float(np.percentile(playing, 95.0)) if len(playing) else -math.inf


def _listen(path: Path, rate: int, frames: int, parking: _Parking, i: int) -> engineer.StemAnalysis:
    """Pass 1 on stem ``i``: its measurements; the decoded (resampled, padded) samples are parked."""
    x = _read(path, rate, frames)
    parking.put(i, x)  # pass 2 takes this back instead of decoding (and resampling) the file again
    spectra, sums = listen(x, rate)  # one pass for the loudness, band, feature and level sums
    return engineer.StemAnalysis(
        file=str(path),
        name=path.name,
        channels=x.shape[1],
        frames=len(x),
        spectra=spectra,
        features=stem_features(x, spectra, sums),
        loud_level_db=loud_level_db(sums.hop_power, sums.hop_frames, sums.channels),
        loudness_lufs=spectra.integrated_lufs(),
    )


def _processed_spectra(
    before: BlockSpectra, sections: np.ndarray, k_power: np.ndarray, plain: np.ndarray
) -> BlockSpectra:
    """The analysis of a strip's output from what its compressor pass metered.

    Loudness (``k_power``) is measured exactly on the output. The band powers, which only the
    report's lead-versus-rest spectra use, take each block's exact output power spread over the
    bands as the input's spectrum shaped by the strip's EQ (the compressor is a broadband gain),
    rather than a second FFT analysis of every stem.
    """
    shape = before.band_power[: len(plain)] * 10.0 ** (
        iir.response_db(sections, BAND_CENTRES_HZ, before.sample_rate) / 10.0
    )
    total = shape.sum(axis=1, keepdims=True)
    shape = np.divide(shape, total, out=np.zeros_like(shape), where=total > 0)
    return BlockSpectra(
        k_power=k_power,
        band_power=shape * plain[:, None],
        sample_rate=before.sample_rate,
        block_frames=before.block_frames,
    )


def _session_rate(files: list[Path], asked: int | None) -> tuple[int, int, list[int], list[str]]:
    """Sample rate of the session (the most common among stems, ties to the higher), its length in
    frames, each stem's channel count, and notes."""
    infos = [info(f) for f in files]  # opens every file first: a corrupt one fails before any work
    rates = Counter(i.sample_rate for i in infos)
    rate = asked or max(rates, key=lambda r: (rates[r], r))
    frames = max(math.ceil(i.frames * rate / i.sample_rate) for i in infos)
    notes = []
    if len(rates) > 1 or asked:
        others = sorted(f.name for f, i in zip(files, infos, strict=True) if i.sample_rate != rate)
        if others:
            notes.append(f"resampled to {rate} Hz: {', '.join(others)}")
    longest = max(i.duration_s for i in infos)
    shortest = min(i.duration_s for i in infos)
    if longest > 2.0 * max(shortest, 1.0):
        names = [f.name for f, i in zip(files, infos, strict=True) if i.duration_s == longest]
        notes.append(
            f"{names[0]} is much longer ({longest:.1f} s) than the shortest stem ({shortest:.1f} s); "
            "all are aligned at 0 and padded"
        )
    return rate, frames, [i.channels for i in infos], notes


def _decide(
    files: list[Path], analyses: list[engineer.StemAnalysis], options: MixOptions
) -> tuple[MixSettings, int | None]:
    roles, confidences, sources = [], [], []
    overrides = {Path(k).name: v for k, v in options.roles.items()}
    for f, a in zip(files, analyses, strict=True):
        if f.name in overrides or str(f) in options.roles:
            roles.append(overrides.get(f.name) or options.roles[str(f)])
            confidences.append(1.0)
            sources.append("user")
        else:
            role, conf, source = classify(f.name, a.features)
            roles.append(role)
            confidences.append(conf)
            sources.append(source)
    lead = engineer.choose_lead(roles, analyses, sources)
    # Provisional faders from the raw loudness: the unmasking analysis compares stems as they will sit.
    rel = engineer.target_levels(roles, lead)
    ref = analyses[lead].loudness_lufs if lead is not None else TARGET_LUFS
    provisional = np.array(
        [0.0 if a.silent else (ref or 0.0) + rel[i] - (a.loudness_lufs or 0.0) for i, a in enumerate(analyses)]
    )
    cuts = engineer.unmasking_cuts(analyses, provisional, roles, lead)
    pans = engineer.pan_positions(analyses, roles, provisional, lead)
    stems = []
    for i, (f, a) in enumerate(zip(files, analyses, strict=True)):
        role = roles[i]
        stems.append(
            StemSettings(
                file=str(f),
                role=role,
                role_confidence=confidences[i],
                role_source=sources[i],
                hpf_hz=engineer.hpf_for(role, a.features),
                eq=cuts[i],
                compressor=engineer.compressor_for(role, a.loud_level_db),
                pan=round(pans[i], 3),
                width=engineer.width_for(role, a.features) if a.channels == 2 else 1.0,
                reverb_send_db=engineer.REVERB_SEND_DB.get(role) if options.reverb else None,
                silent=a.silent,
            )
        )
    rate = analyses[0].spectra.sample_rate
    settings = MixSettings(
        sample_rate=rate,
        frames=analyses[0].frames,
        genre=options.genre,
        stems=stems,
        bus=BusSettings(target_lufs=options.target_lufs, ceiling_dbtp=options.ceiling_dbtp),
    )
    return settings, lead


#: Frames summed at a time: the bus and send stretches (2 × 512 KiB) stay in the CPU cache while
#: every stem is added into them.
SUM_CHUNK = 1 << 16


def _sum(
    settings: MixSettings, parked: _Parking, frames: int, rate: int, workers: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Faders, pan, sends: the stereo bus and the reverb send bus.

    The threads split the song in time, not the stems between them: each sample is the sum of
    the stems in session order whatever the number of workers (the same mix on every machine),
    and no partial buses are made and added up afterwards.
    """
    wants_reverb = any(s.reverb_send_db is not None and not s.silent for s in settings.stems)
    mix = np.zeros((frames, 2), np.float32)
    send = np.zeros((frames, 2), np.float32) if wants_reverb else None
    placements = []
    for i, s in enumerate(settings.stems):
        y = parked.get(i)
        g = 10.0 ** (s.gain_db / 20.0)
        gl, gr = console.pan_gains(s.pan)
        stereo = math.sqrt(2.0) if y.shape[1] == 2 else 1.0  # a centred stereo stem keeps its level
        send_gain = None if s.reverb_send_db is None else 10.0 ** (s.reverb_send_db / 20.0)
        gains = (g * gl * stereo, g * gr * stereo)
        width = s.width if y.shape[1] == 2 else 1.0
        placements.append((y, gains, width, engineer.ride_gains(s.automation, frames, rate), send_gain))

    def add(c0: int) -> None:
        c1 = min(frames, c0 + SUM_CHUNK)
        bus, sends = mix[c0:c1], None if send is None else send[c0:c1]
        for y, gains, width, fader, send_gain in placements:
            kernels.add_placed(bus, sends, y[c0:c1], gains, width, fader, send_gain, engineer.RIDE_HOLD, c0)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(add, range(0, frames, SUM_CHUNK)))
    return mix, send


def _mid_bands(x: np.ndarray, rate: int) -> np.ndarray:
    acc = SpectrumAccumulator(rate)
    block = 1 << 17
    for s0 in range(0, len(x), block):
        seg = x[s0 : s0 + block]
        acc.push(mono_mix(seg))
    return band_levels_db(*acc.result())


def _measure_bus(mix: np.ndarray, rate: int, workers: int) -> tuple[float | None, float, np.ndarray]:
    """Integrated loudness (LUFS), linear true peak and third-octave levels (dB) of the finished bus.

    The three (the true peak one task per channel) are independent passes over the mix that
    release the GIL: they run side by side.
    """
    block = round(rate * BLOCK_S)

    def loudness() -> float | None:
        k_power = kernels.block_powers(mix, k_weighting_sos(rate), block)[0]
        return BlockSpectra(k_power, np.zeros((len(k_power), 0)), rate, block).integrated_lufs()

    def peak(c: int) -> float:
        return float(true_peak(mix[:, c : c + 1], rate)[0])

    with ThreadPoolExecutor(max(1, min(workers, 4))) as pool:
        lufs = pool.submit(loudness)
        peaks = [pool.submit(peak, c) for c in range(mix.shape[1])]
        bands = pool.submit(_mid_bands, mix, rate)
        return lufs.result(), max(p.result() for p in peaks), bands.result()


def automix(
    inputs: list[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    options: MixOptions | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> tuple[MixReport, MixSettings]:
    """Mix ``inputs`` (stem files, or folders of them) into the stereo file ``output``.

    Parameters
    ----------
    inputs : list of str or os.PathLike
        1–64 mono or stereo stems, any rates and lengths (aligned at time 0).
    output : str or os.PathLike
        The mix; format from ``options.encoding`` or the suffix (``.wav``: 24-bit).
    options : MixOptions, optional
        Role overrides, genre, reverb, rate, output level; ``apply`` re-renders given settings.
    progress : callable, optional
        ``progress(stage, fraction_done)``.

    Returns
    -------
    tuple
        The :class:`MixReport` and the :class:`MixSettings` that made the mix.

    Raises
    ------
    InputFileError
        A stem missing, unreadable or with more than two channels; every stem silent.
    UsageError
        No stems, too many, an unknown role or genre, an output that is an input.
    """
    started = time.perf_counter()
    options = options or MixOptions()
    step = progress or (lambda stage, frac: None)
    if options.genre not in engineer.GENRES:
        raise UsageError(f"unknown genre {options.genre!r} (known: {', '.join(engineer.GENRES)})")
    for name, role in options.roles.items():
        if role not in ROLES:
            raise UsageError(f"--roles {name}={role}: unknown role (known: {', '.join(ROLES)})")
    applied = options.apply
    if applied is not None and not inputs:
        inputs = [s.file for s in applied.stems]
    files = find_stems(inputs)
    check_not_input(output, list(files))
    encoding = encoding_for(output, options.encoding)
    asked_rate = options.sample_rate or (applied.sample_rate if applied else None)
    rate, frames, channels, notes = _session_rate(files, asked_rate)
    workers = max(1, min(options.workers or usable_cores(), len(files)))
    warnings: list[str] = []

    with ThreadPoolExecutor(workers) as pool, tempfile.TemporaryDirectory(prefix="tunesmith-mix-") as tmp:
        # 1. Listen (the decoded stems are parked for pass 2).
        step("listening", 0.0)
        parked = _Parking(Path(tmp), frames, channels)
        analyses = list(pool.map(lambda i: _listen(files[i], rate, frames, parked, i), range(len(files))))
        if all(a.silent for a in analyses):
            raise InputFileError("every stem is silent: nothing to mix", files[0])
        for a in analyses:
            if a.silent:
                warnings.append(f"{a.name} is silent: kept in the session, adds nothing")
        if applied is not None:
            settings = _match_applied(applied, files)
            lead = next(
                (i for i, s in enumerate(settings.stems) if Path(s.file).name == Path(applied.lead or "").name), None
            )
        else:
            settings, lead = _decide(files, analyses, options)

        # 2. Channel strips, measured again after processing, each in place where its stem is parked.
        step("processing", 0.3)

        def run_strip(i: int) -> BlockSpectra:
            x = parked.get(i, writable=True)
            _, k_power, plain = console.strip_measure(x, settings.stems[i], rate, overwrite=True)
            del x
            sos = console.strip_sections(settings.stems[i], rate)
            return _processed_spectra(analyses[i].spectra, sos, k_power, plain)

        processed = list(pool.map(run_strip, range(len(files))))

        if applied is None:
            # 3. Faders on what the strips put out, then rides to keep the lead on top.
            roles = [s.role for s in settings.stems]
            rel = engineer.target_levels(roles, lead)
            loud = [p.integrated_lufs() for p in processed]
            ref = loud[lead] if lead is not None and loud[lead] is not None else TARGET_LUFS
            gains = np.array([0.0 if v is None else ref + rel[i] - v for i, v in enumerate(loud)])
            rides = engineer.fader_rides(processed, gains, lead)
            for i, s in enumerate(settings.stems):
                s.gain_db = round(float(gains[i]), 2)
                s.automation = engineer.automation_points(rides[i], BLOCK_S)
        lead_name = settings.stems[lead].file if lead is not None else None
        settings.lead = lead_name

        step("summing", 0.6)
        mix, send = _sum(settings, parked, frames, rate, workers)
        parked.release()

    # 4. Bus: reverb return, glue, tone.
    step("bus", 0.75)
    if send is not None:
        mix += console.reverb_return(send, settings.bus, rate)
        del send
    if applied is None:
        level = _loud_level_db(mix, rate)
        settings.bus.compressor = Compressor(round(level - 4.0, 2), 2.0, 30.0, 200.0) if math.isfinite(level) else None
    mix = console.bus_compress(mix, settings.bus, rate)
    if applied is None:
        # Tonal target measured on the glued bus, so the EQ sees what it will shape.
        eq = engineer.bus_eq_db(_mid_bands(mix, rate), settings.genre)
        settings.bus.eq_db = {f"{c:.0f}": round(float(g), 2) for c, g in zip(BAND_CENTRES_HZ, eq, strict=True)}
    mix = console.bus_tone(mix, settings.bus, rate)

    # 5. Output level: the target loudness, unless the true-peak ceiling says less.
    step("writing", 0.9)
    lufs, tp, mix_bands = _measure_bus(mix, rate, workers)
    tp_db = 20.0 * math.log10(tp) if tp > 0 else -math.inf
    if lufs is None:
        raise InputFileError("the mix is silent", files[0])
    gain_db = min(settings.bus.target_lufs - lufs, settings.bus.ceiling_dbtp - tp_db)
    if settings.bus.target_lufs - lufs > gain_db + 0.05:
        notes.append(
            f"mix sits at {lufs + gain_db:.1f} LUFS, below {settings.bus.target_lufs:g}, "
            f"to keep its true peak at {settings.bus.ceiling_dbtp:g} dBTP"
        )
    g = np.float32(10.0 ** (gain_db / 20.0))
    with AudioWriter(output, rate, 2, encoding) as writer:
        for s0 in range(0, len(mix), 1 << 17):
            writer.write(mix[s0 : s0 + (1 << 17)] * g)
    out_lufs = lufs + gain_db
    out_tp = tp_db + gain_db

    # Report: each stem's loudness as it sits in the mix (before the bus compressor and EQ).
    stems_report = []
    for i, (a, s) in enumerate(zip(analyses, settings.stems, strict=True)):
        ride = engineer.ride_gains(s.automation, frames, rate)
        ride_db = np.zeros(len(processed[i].k_power))
        if ride is not None:
            # The held gain at each block's first sample (what the per-sample curve has there).
            starts = np.arange(0, frames, processed[i].block_frames)[: len(ride_db)]
            ride_db = 20.0 * np.log10(ride[starts // engineer.RIDE_HOLD].astype(np.float64))
            ride_db = np.pad(ride_db, (0, len(processed[i].k_power) - len(ride_db)))
        in_mix = processed[i].scaled(s.gain_db + gain_db + ride_db).integrated_lufs()
        stems_report.append(
            {
                "file": s.file,
                "role": s.role,
                "role_name": ROLES[s.role],
                "role_confidence": s.role_confidence,
                "role_source": s.role_source,
                "features": a.features.to_dict(),
                "input_lufs": None if a.loudness_lufs is None else round(a.loudness_lufs, 2),
                "mix_lufs": None if in_mix is None else round(in_mix, 2),
                "gain_db": s.gain_db,
                "pan": s.pan,
                "width": s.width,
                "hpf_hz": s.hpf_hz,
                "eq": [asdict(b) for b in s.eq],
                "compressor": None if s.compressor is None else asdict(s.compressor),
                "reverb_send_db": s.reverb_send_db,
                "ride_max_cut_db": round(-min((p[1] for p in s.automation), default=0.0), 2),
                "silent": s.silent,
            }
        )
    lead_i = next((i for i, s in enumerate(settings.stems) if s.file == lead_name), None)
    spectra = {"centres_hz": BAND_CENTRES_HZ.tolist()}
    if lead_i is not None:
        lead_bands = processed[lead_i].band_power.sum(axis=0) * 10 ** (settings.stems[lead_i].gain_db / 10)
        rest = sum(
            p.band_power.sum(axis=0) * 10 ** (settings.stems[i].gain_db / 10)
            for i, p in enumerate(processed)
            if i != lead_i
        )
        with np.errstate(divide="ignore"):
            spectra["lead_db"] = np.nan_to_num(
                10 * np.log10(lead_bands / len(processed[lead_i].k_power)), neginf=-120
            ).tolist()
            if not np.isscalar(rest):
                spectra["rest_db"] = np.nan_to_num(
                    10 * np.log10(rest / len(processed[lead_i].k_power)), neginf=-120
                ).tolist()
    spectra["mix_db"] = np.nan_to_num(mix_bands + gain_db, nan=-120.0).tolist()
    spectra["target_db"] = style_curve_db(engineer.GENRES[settings.genre]).tolist()
    report = MixReport(
        output=str(output),
        sample_rate_hz=rate,
        duration_s=round(frames / rate, 3),
        genre=settings.genre,
        lead=lead_name,
        stems=stems_report,
        output_loudness_lufs=round(out_lufs, 2),
        output_true_peak_dbtp=round(out_tp, 2),
        output_gain_db=round(gain_db, 2),
        bus={
            "compressor": None if settings.bus.compressor is None else asdict(settings.bus.compressor),
            "eq_db": settings.bus.eq_db,
            "reverb": any(s.reverb_send_db is not None for s in settings.stems),
        },
        warnings=warnings,
        notes=notes,
        seconds=round(time.perf_counter() - started, 3),
        spectra=spectra,
    )
    step("done", 1.0)
    return report, settings


def _match_applied(applied: MixSettings, files: list[Path]) -> MixSettings:
    """The applied settings in the order of ``files`` (matched by path, then by file name)."""
    by_path = {str(Path(s.file)): s for s in applied.stems}
    by_name = {Path(s.file).name: s for s in applied.stems}
    stems = []
    for f in files:
        s = by_path.get(str(f)) or by_name.get(f.name)
        if s is None:
            raise UsageError(f"{f.name} is not in the settings file (it has: {', '.join(sorted(by_name))})")
        stems.append(replace(s, file=str(f)))
    return replace(applied, stems=stems)
