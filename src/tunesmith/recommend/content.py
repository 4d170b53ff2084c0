"""What a track sounds like, as a vector: timbre, spectral shape, rhythm, tonality, loudness.

Content similarity is what recommends tracks nobody has played yet, so it must run over a
whole music library quickly. A track is therefore described from **excerpts**, not the
whole file: ``EXCERPTS`` windows of ``EXCERPT_S`` seconds spread over the track (at 20 %,
50 % and 80 % of its length — intros and outros are the least typical parts), read by
seeking, mixed to mono and resampled to ``ANALYSIS_HZ`` for the spectral features. For a
3-minute track that is 30 s of the 180 s.

The features (``FEATURE_NAMES``), and why each:

* **timbre** — mean and standard deviation of MFCC 1–13 (40 mel bands 40 Hz–5 kHz, log,
  DCT-II; c0 is left out because it is level, which loudness covers);
* **spectral shape** — mean log spectral centroid, bandwidth and 85 % roll-off (Hz),
  spectral flatness, and the spread of the centroid over time (brightness changes);
* **rhythm** — log2 tempo (BPM), pulse clarity (height of the beat-period autocorrelation
  peak) and onset density (onsets per second);
* **tonality** — the 12-bin mean chroma (pitch-class profile, C first) and the key from
  it (Krumhansl–Kessler profiles, ``tunesmith.audio.features.estimate_key``);
* **loudness** — gated loudness of the windows (BS.1770 K-weighting and gates applied to
  the analysis spectrum, LUFS; see :func:`analyse`) and the spread of frame levels (dB).

Tempo: the onset envelope is the positive spectral flux of the log-mel spectrogram
(11025 Hz, hop 256 = 43 frames/s); its autocorrelation, summed over the windows and
weighted by a log-normal prior around 120 BPM (one octave wide — the usual way to prefer
the tactus over its doubles and halves), picks the beat period, then
``tunesmith.audio.features.refine_tempo`` refines it to a fraction of a frame.

For search every feature is standardised over the library and each group scaled so that
timbre, spectral shape, rhythm, tonality and loudness weigh ``GROUP_WEIGHTS``; a voyager
HNSW index (cosine space) answers "more like this".
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.fft as sfft

from tunesmith.atomic import atomic_path
from tunesmith.errors import InputFileError

ANALYSIS_HZ = 11_025
EXCERPTS = 3
EXCERPT_S = 10.0
_N_FFT = 1024
_HOP = 256
_CHROMA_FFT = 4096
_N_MELS = 40
_N_MFCC = 13
_SHAPE_STEP = 4

FEATURE_NAMES: tuple[str, ...] = (
    *(f"mfcc{i}_mean" for i in range(1, _N_MFCC + 1)),
    *(f"mfcc{i}_std" for i in range(1, _N_MFCC + 1)),
    "log_centroid_hz",
    "log_bandwidth_hz",
    "log_rolloff_hz",
    "flatness",
    "centroid_spread",
    "log2_tempo_bpm",
    "pulse_clarity",
    "onsets_per_s",
    *(f"chroma_{p}" for p in ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")),
    "loudness_lufs",
    "level_spread_db",
)
GROUPS: dict[str, slice] = {
    "timbre": slice(0, 26),
    "spectral": slice(26, 31),
    "rhythm": slice(31, 34),
    "tonality": slice(34, 46),
    "loudness": slice(46, 48),
}
#: How much each group counts in similarity (they sum to 1).
GROUP_WEIGHTS = {"timbre": 0.4, "spectral": 0.2, "rhythm": 0.15, "tonality": 0.15, "loudness": 0.1}


@dataclass
class TrackFeatures:
    """Features of one audio file.

    Attributes
    ----------
    vector : numpy.ndarray
        ``float32`` values in ``FEATURE_NAMES`` order.
    duration_s : float
        Length of the file, s.
    analysed_s : float
        Audio actually analysed (the excerpts), s.
    tempo_bpm : float or None
        Beats per minute.
    key : str or None
        e.g. ``"A minor"``.
    loudness_lufs : float or None
        Integrated loudness of the excerpts, LUFS.
    """

    vector: np.ndarray
    duration_s: float
    analysed_s: float
    tempo_bpm: float | None
    key: str | None
    loudness_lufs: float | None


def _mel_filterbank(n_fft: int, rate: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular mel filters (Slaney-style area-normalised), shape ``(n_mels, n_fft // 2 + 1)``."""

    def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None, :] - lower) / (centre - lower)
    down = (upper - freqs[None, :]) / (upper - centre)
    fb = np.maximum(0.0, np.minimum(up, down))
    fb *= 2.0 / (upper - lower)  # equal area: a band's energy does not grow with its width
    return fb.astype(np.float32)


_MEL = _mel_filterbank(_N_FFT, ANALYSIS_HZ, _N_MELS, 40.0, 5000.0)
_FREQS = np.fft.rfftfreq(_N_FFT, 1.0 / ANALYSIS_HZ).astype(np.float32)
_WINDOW = np.hanning(_N_FFT).astype(np.float32)
_CHROMA_WINDOW = np.hanning(_CHROMA_FFT).astype(np.float32)


def _chroma_map() -> tuple[np.ndarray, np.ndarray]:
    """Bins between 65 Hz and 2.1 kHz and the pitch class each is nearest to."""
    freqs = np.fft.rfftfreq(_CHROMA_FFT, 1.0 / ANALYSIS_HZ)
    keep = np.flatnonzero((freqs >= 65.0) & (freqs <= 2100.0))
    midi = 69.0 + 12.0 * np.log2(freqs[keep] / 440.0)
    return keep, (np.round(midi).astype(np.int64) % 12)


_CHROMA_BINS, _CHROMA_PC = _chroma_map()
_CHROMA_ONEHOT = np.eye(12, dtype=np.float32)[_CHROMA_PC]  # bins × pitch classes


def _frames(x: np.ndarray, size: int, hop: int) -> np.ndarray:
    """Overlapping frames of a 1-D signal as a strided view, shape ``(n, size)``."""
    if len(x) < size:
        x = np.pad(x, (0, size - len(x)))
    n = 1 + (len(x) - size) // hop
    return np.lib.stride_tricks.as_strided(x, (n, size), (x.strides[0] * hop, x.strides[0]), writeable=False)


def _excerpt_starts(frames: int, rate: int) -> list[tuple[int, int]]:
    """(start, length) in frames of the windows to analyse."""
    win = int(EXCERPT_S * rate)
    if frames <= EXCERPTS * win:
        return [(0, frames)]
    return [(int(frames * c) - win // 2, win) for c in np.linspace(0.2, 0.8, EXCERPTS)]


def _tempo_prior(lags_s: np.ndarray) -> np.ndarray:
    """Log-normal weight over beat periods, centred on 0.5 s (120 BPM), one octave wide."""
    return np.exp(-0.5 * (np.log2(lags_s / 0.5) / 1.0) ** 2)


#: BS.1770-4's K-weighting at 48 kHz, the coefficients as published in the standard (high
#: shelf, then the RLB high-pass). ``tunesmith.audio.meter.k_weighting_sos`` designs the same
#: filter (a test checks they agree); they are written out here so that a library scan does not
#: import the meter and its compiled kernels, which cost seconds of start-up per scan.
K_SOS_48K = np.array(
    [
        [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585],
        [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
    ]
)


def k_weighting_gain(freqs_hz: np.ndarray) -> np.ndarray:
    """Power gain of the K-weighting filter at ``freqs_hz`` (below 24 kHz), linear."""
    z = np.exp(-2j * np.pi * np.asarray(freqs_hz, dtype=np.float64) / 48_000.0)  # z^-1 on the unit circle
    h = np.ones(len(z), dtype=np.complex128)
    for b0, b1, b2, a0, a1, a2 in K_SOS_48K:
        h *= (b0 + b1 * z + b2 * z * z) / (a0 + a1 * z + a2 * z * z)
    return np.abs(h) ** 2


def _k_weighting_power() -> np.ndarray:
    """Per-bin factor turning one-sided Hann-frame power into K-weighted mean square.

    The K-weighting response is applied as a power gain per bin; the factor also undoes
    the window's energy loss and folds the negative frequencies in, so a frame's dot
    product with it is the K-weighted mean square of the frame's samples (Parseval).
    """
    gain = k_weighting_gain(_FREQS)
    fold = np.full(len(_FREQS), 2.0)
    fold[0] = fold[-1] = 1.0
    return (gain * fold / (_N_FFT * np.sum(_WINDOW.astype(np.float64) ** 2))).astype(np.float32)


def _gated_lufs(frame_ms: np.ndarray, frame_rate: float) -> float | None:
    """BS.1770 gated loudness from per-frame K-weighted mean squares (400 ms blocks, 75 % overlap)."""
    size = max(1, round(0.4 * frame_rate))
    step = max(1, round(0.1 * frame_rate))
    if len(frame_ms) < size:
        blocks = np.array([frame_ms.mean()]) if len(frame_ms) else np.zeros(0)
    else:
        c = np.concatenate(([0.0], np.cumsum(frame_ms, dtype=np.float64)))
        starts = np.arange(0, len(frame_ms) - size + 1, step)
        blocks = (c[starts + size] - c[starts]) / size
    lufs = -0.691 + 10.0 * np.log10(np.maximum(blocks, 1e-20))
    blocks = blocks[lufs > -70.0]  # absolute gate
    if not len(blocks):
        return None
    rel = -0.691 + 10.0 * np.log10(blocks.mean()) - 10.0  # relative gate
    kept = blocks[-0.691 + 10.0 * np.log10(blocks) > rel]
    return float(-0.691 + 10.0 * np.log10(kept.mean()))


_K_POWER: np.ndarray | None = None


def prepare() -> np.ndarray:
    """Import what :func:`analyse` needs and build its tables (call before forking workers).

    Returns the K-weighting table; forked workers inherit it and the imports.
    """
    global _K_POWER
    if _K_POWER is None:
        import soxr  # noqa: F401 - imported here so forked workers inherit it

        import tunesmith.audio.features
        import tunesmith.audio.io  # noqa: F401

        _K_POWER = _k_weighting_power()
    return _K_POWER


def analyse(path: str | os.PathLike[str]) -> TrackFeatures:
    """Describe an audio file by ``FEATURE_NAMES`` from a few excerpts.

    Parameters
    ----------
    path : str or os.PathLike
        Any file :class:`tunesmith.audio.io.AudioReader` reads.

    Returns
    -------
    TrackFeatures

    Raises
    ------
    InputFileError
        Unreadable, not audio, silent, or shorter than one second.

    Notes
    -----
    Loudness here is a BS.1770 gated loudness computed from the analysis spectrum
    (K-weighting, :data:`K_SOS_48K`, applied per frequency bin; 400 ms blocks, absolute and
    relative gates)
    of the mono downmix at 11025 Hz, scaled by the channel count — what the meter gives
    for centred material, band-limited to 5.5 kHz. It is a similarity feature, not a
    delivery measurement (``tunesmith analyze`` is); a test keeps it within 1 LU of the
    meter on music-like signals. It costs a millisecond where the meter on the excerpts
    would cost a third of the analysis.
    """
    import soxr

    from tunesmith.audio.features import estimate_key, refine_tempo
    from tunesmith.audio.io import AudioReader

    k_power = prepare()
    monos: list[np.ndarray] = []
    with AudioReader(path) as reader:
        info = reader.info
        if info.frames < info.sample_rate:
            raise InputFileError("shorter than 1 s: too short to describe", path)
        downmix = np.full(info.channels, 1.0 / info.channels, dtype=np.float32)
        for start, length in _excerpt_starts(info.frames, info.sample_rate):
            block = reader.read_segment(start, length)
            if not np.isfinite(block).all():
                raise InputFileError("contains NaN or infinite samples", path)
            mono = block @ downmix  # a matrix-vector product: far faster than mean(axis=1)
            monos.append(soxr.resample(mono, info.sample_rate, ANALYSIS_HZ, quality="LQ").astype(np.float32))
    analysed_s = sum(len(m) for m in monos) / ANALYSIS_HZ

    frame_rate = ANALYSIS_HZ / _HOP
    lag_min, lag_max = int(frame_rate * 60 / 240), int(frame_rate * 60 / 40)
    mels, centroids, bws, rolloffs, flats, chromas, k_ms, envs, acs = [], [], [], [], [], [], [], [], []
    onset_count = 0
    for y in monos:
        spec = sfft.rfft(_frames(y, _N_FFT, _HOP) * _WINDOW, axis=1, workers=1)
        power = spec.real**2 + spec.imag**2
        k_ms.append(power @ k_power)
        mel = np.log10(power @ _MEL.T + 1e-10)
        mels.append(mel)
        # Spectral shape from every fourth frame (93 ms apart): means and spreads over 10 s
        # do not need the 23 ms hop the onset envelope does, and this is a third of the work.
        shape = power[::_SHAPE_STEP]
        total = shape.sum(axis=1) + 1e-12
        centroid = (shape @ _FREQS) / total
        centroids.append(centroid)
        bws.append(np.sqrt(np.maximum((shape @ (_FREQS * _FREQS)) / total - centroid**2, 1.0)))
        cum = np.cumsum(shape, axis=1)
        rolloffs.append(_FREQS[np.argmax(cum >= 0.85 * cum[:, -1:], axis=1)])
        # Flatness from the mel bands (geometric / arithmetic mean): the same measure on
        # 40 numbers per frame instead of 513.
        mel_shape = mel[::_SHAPE_STEP]
        flats.append(10.0 ** mel_shape.mean(axis=1) / ((10.0**mel_shape).mean(axis=1) + 1e-12))
        # Onset envelope: rectified flux of the log-mel spectrogram, mean removed.
        flux = np.maximum(np.diff(mel, axis=0), 0.0).sum(axis=1)
        env = flux - flux.mean()
        envs.append(env)
        n = len(env)
        if n > lag_max + 1:
            f = np.fft.rfft(env, 2 * n)
            acs.append(np.fft.irfft(f.real**2 + f.imag**2)[: lag_max + 1])
        # Onsets: local maxima of the flux standing out from its typical level.
        thresh = np.median(flux) + 1.5 * flux.std()
        inner = flux[1:-1]
        onset_count += int(np.count_nonzero((inner > flux[:-2]) & (inner >= flux[2:]) & (inner > thresh)))
        cspec = np.abs(sfft.rfft(_frames(y, _CHROMA_FFT, _CHROMA_FFT // 2) * _CHROMA_WINDOW, axis=1, workers=1))
        chromas.append(cspec[:, _CHROMA_BINS] @ _CHROMA_ONEHOT)

    k_frames = np.concatenate(k_ms) * 2.0 ** (info.channels > 1)  # channel sum for centred stereo
    lufs = _gated_lufs(k_frames, frame_rate)
    if lufs is None:
        raise InputFileError("silent: nothing to describe", path)
    mel = np.concatenate(mels)
    mfcc = sfft.dct(mel, type=2, norm="ortho", axis=1)[:, 1 : _N_MFCC + 1]
    centroid = np.concatenate(centroids)

    tempo_bpm, clarity = None, 0.0
    if acs:
        ac = np.sum(acs, axis=0)
        if ac[0] > 0:
            lags = np.arange(lag_min, lag_max + 1)
            best = int(lags[int(np.argmax(ac[lags] / ac[0] * _tempo_prior(lags / frame_rate)))])
            clarity = float(max(0.0, ac[best] / ac[0]))
            tempo_bpm = refine_tempo(np.concatenate(envs), frame_rate, 60.0 * frame_rate / best)
    chroma_mean = np.concatenate(chromas).mean(axis=0)
    chroma_mean = chroma_mean / (chroma_mean.sum() + 1e-12)
    key = estimate_key(chroma_mean)[0] if chroma_mean.any() else None
    level = 10.0 * np.log10(k_frames + 1e-12)
    loud = level[level > level.max() - 60.0]

    vector = np.concatenate(
        [
            mfcc.mean(axis=0),
            mfcc.std(axis=0),
            [
                math.log(float(centroid.mean()) + 1.0),
                math.log(float(np.concatenate(bws).mean()) + 1.0),
                math.log(float(np.concatenate(rolloffs).mean()) + 1.0),
                float(np.concatenate(flats).mean()),
                float(np.std(np.log(centroid + 1.0))),
                math.log2(tempo_bpm) if tempo_bpm else math.log2(120.0),
                clarity,
                onset_count / max(analysed_s, 1e-9),
            ],
            chroma_mean,
            [lufs, float(np.percentile(loud, 95) - np.percentile(loud, 10))],
        ]
    ).astype(np.float32)
    return TrackFeatures(
        vector=vector,
        duration_s=round(info.duration_s, 3),
        analysed_s=round(analysed_s, 3),
        tempo_bpm=None if tempo_bpm is None else round(float(tempo_bpm), 1),
        key=key,
        loudness_lufs=round(lufs, 2),
    )


class ContentIndex:
    """Standardised, group-weighted feature vectors of library tracks with a voyager index.

    Parameters
    ----------
    ids : numpy.ndarray
        Track ids (database ``tracks.id``), one per row of ``raw``.
    raw : numpy.ndarray
        Features, ``(tracks, len(FEATURE_NAMES))``.
    """

    def __init__(self, ids: np.ndarray, raw: np.ndarray) -> None:
        from voyager import Index, Space

        self._setup(ids, raw)
        # HNSW over cosine distance; the fixed seed makes the graph, so every answer, reproducible.
        self.index = Index(Space.Cosine, num_dimensions=len(FEATURE_NAMES), random_seed=1, M=16, ef_construction=200)
        if len(self.ids):
            self.index.add_items(self.vectors, self.ids.tolist())
        self.index.ef = max(64, min(400, len(self.ids)))

    def _setup(self, ids: np.ndarray, raw: np.ndarray) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        raw = np.asarray(raw, dtype=np.float64).reshape(len(self.ids), len(FEATURE_NAMES))
        self.raw = raw
        self.mean = raw.mean(axis=0) if len(raw) else np.zeros(len(FEATURE_NAMES))
        std = raw.std(axis=0) if len(raw) else np.ones(len(FEATURE_NAMES))
        self.std = np.where(std > 1e-9, std, 1.0)
        self.scale = np.ones(len(FEATURE_NAMES))
        for name, sl in GROUPS.items():
            # Each group's share of the squared norm is its weight, whatever its width.
            self.scale[sl] = math.sqrt(GROUP_WEIGHTS[name] / (sl.stop - sl.start))
        self.vectors = self.embed(raw)
        self._row = {int(t): r for r, t in enumerate(self.ids)}

    def embed(self, raw: np.ndarray) -> np.ndarray:
        """Raw feature rows → the weighted, standardised vectors that are indexed (``float32``)."""
        return (((np.atleast_2d(raw) - self.mean) / self.std) * self.scale).astype(np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, track_id: int) -> bool:
        return int(track_id) in self._row

    def vector(self, track_id: int) -> np.ndarray:
        """The indexed vector of a track."""
        return self.vectors[self._row[int(track_id)]]

    def query(self, vector: np.ndarray, k: int, exclude: set[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Tracks nearest to ``vector``: ids and cosine similarities (−1…1), nearest first."""
        if not len(self.ids) or k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        exclude = exclude or set()
        want = min(len(self.ids), k + len(exclude))
        ids, dist = self.index.query(np.asarray(vector, np.float32), k=want)
        keep = [j for j, t in enumerate(ids) if int(t) not in exclude][:k]
        return np.asarray(ids, np.int64)[keep], (1.0 - np.asarray(dist, np.float32))[keep]

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Cosine similarity matrix between two lists of track ids."""

        def unit(ids: np.ndarray) -> np.ndarray:
            v = self.vectors[[self._row[int(t)] for t in ids]]
            return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

        return unit(np.asarray(a)) @ unit(np.asarray(b)).T

    def save(self, folder: str | os.PathLike[str]) -> None:
        """Write ``content.npz`` (ids, raw features) and ``content.voy`` (the graph) atomically."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "content.voy") as tmp:
            self.index.save(str(tmp))
        with atomic_path(out / "content.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, ids=self.ids, raw=self.raw, meta=np.array(json.dumps({"features": list(FEATURE_NAMES)})))

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> ContentIndex | None:
        """Read a saved index; None when there is none or it holds another feature set."""
        from voyager import Index

        folder = Path(folder)
        try:
            with np.load(folder / "content.npz", allow_pickle=False) as z:
                if json.loads(str(z["meta"])).get("features") != list(FEATURE_NAMES):
                    return None
                ids, raw = z["ids"], z["raw"]
            graph = Index.load(str(folder / "content.voy"))
        except (OSError, ValueError, KeyError, RuntimeError):
            return None
        obj = cls.__new__(cls)
        obj._setup(ids, raw)  # the scaling is recomputed from the raw rows, exactly as when built
        obj.index = graph
        obj.index.ef = max(64, min(400, len(obj.ids)))
        return obj
