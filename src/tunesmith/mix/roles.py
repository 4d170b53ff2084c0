"""What each stem is: from its file name (common DAW export names) and from its sound.

The name is asked first because engineers name their tracks; when it says nothing
("Audio 07.wav", "bridge.wav") the audio decides, from a handful of features a
mixing engineer listens for: how percussive it is, where its pitch sits, how
bright it is, how many onsets per second, how much of the time it plays and how
wide it is. Each role has a plausible range for each feature; a stem's score for
a role is how well its features fall in those ranges, and the confidence is the
softmax of the scores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from tunesmith.audio.bands import BlockSpectra, active_blocks
from tunesmith.audio.tonal import BAND_CENTRES_HZ
from tunesmith.mix.listen import Listening

#: Role ids, in the order the report lists them, with what engineers call them.
ROLES: dict[str, str] = {
    "lead_vocal": "lead vocal",
    "backing_vocal": "backing vocal",
    "kick": "kick",
    "snare": "snare",
    "hats": "hats/cymbals",
    "drums": "drum bus/overheads",
    "bass": "bass",
    "guitar": "guitar",
    "keys": "piano/keys",
    "synth_lead": "synth lead",
    "pad": "pad/strings",
    "brass": "brass/woodwind",
    "fx": "fx/other",
}

# Name tokens per role, checked in this order (kick before bass: "bass drum").
_NAME_RULES: tuple[tuple[str, str], ...] = (
    ("backing_vocal", r"\b(bv|bvs|bgv|bgvs|backing|backs|bkg|harmony|harmonies|choir|adlib|adlibs|double|dbl)\b"),
    ("lead_vocal", r"\b(lead ?vox|lead ?vocal|lv|vox|vocal|vocals|voc|voice|singer|main ?vox|rap|vocs)\b"),
    ("kick", r"\b(kick|kik|kck|bd|bass ?drum|kick ?(in|out)|808 ?kick)\b"),
    ("snare", r"\b(snare|snr|sd|rim|rimshot|clap|claps)\b"),
    ("hats", r"\b(hat|hats|hh|hihat|hi ?hat|cymbal|cymbals|ride|crash|shaker|tamb|tambourine|china|splash)\b"),
    ("drums", r"\b(drums?|kit|overheads?|oh|ohs|room|rooms|drum ?bus|toms?|perc|percussion|loop|beat|breaks?)\b"),
    ("bass", r"\b(bass|bassline|sub|sub ?bass|808|db|upright|contrabass|bs)\b"),
    ("guitar", r"\b(gtr|gtrs|guitar|guitars|gt|acoustic|electric|strum|ac ?gtr|el ?gtr|banjo|ukulele|uke|mandolin)\b"),
    ("keys", r"\b(piano|pno|keys|key|rhodes|organ|epiano|ep|wurli|wurlitzer|clav|clavinet|keyboard|harpsichord)\b"),
    ("pad", r"\b(pad|pads|strings?|str|violins?|viola|cello|celli|ensemble|orchestra|orch|choir ?pad|atmosphere)\b"),
    ("brass", r"\b(brass|horns?|trumpet|tpt|sax|saxophone|trombone|tbn|flute|woodwinds?|clarinet|oboe|bassoon)\b"),
    ("synth_lead", r"\b(lead|melody|mel|synth ?lead|pluck|arp|synth|topline|hook)\b"),
    ("fx", r"\b(fx|sfx|riser|risers|impact|impacts|noise|sweep|sweeps|atmos|ambience|foley|whoosh|reverse)\b"),
)


def _tokens(name: str) -> str:
    """File stem as space-separated lower-case words ("LeadVox_02" -> "lead vox 02")."""
    stem = re.sub(r"\.[A-Za-z0-9]+$", "", name)
    stem = re.sub(r"([a-z])([A-Z])", r"\1 \2", stem)
    stem = re.sub(r"([A-Za-z])(\d)", r"\1 \2", stem)
    return " ".join(re.split(r"[^a-z0-9]+", stem.lower())).strip()


def role_from_name(name: str) -> str | None:
    """The role a file name announces, or None when it says nothing we know."""
    words = _tokens(name)
    for role, pattern in _NAME_RULES:
        if re.search(pattern, words):
            return role
    return None


@dataclass
class StemFeatures:
    """What the classifier and the mixing decisions look at (all independent of the stem's level).

    Attributes
    ----------
    percussive : float
        Median jump (dB) of 5 ms frame level at onsets relative to the frame 20 ms before
        (measured from no lower than 50 dB below the stem's loudest frames).
    decay_db : float
        Median drop of level from the peak just after an onset to 150 ms later, dB (drums fall fast).
    flatness : float
        Median spectral flatness (0 tonal … 1 noise) of the loudest frames, where the stem has its energy.
    onsets_per_s : float
        Onsets per second of playing time.
    centroid_hz : float
        Power-weighted mean frequency of the active blocks.
    low_hz, high_hz : float
        Frequencies below which 10 % and 90 % of the energy lies.
    pitch_hz : float
        Median strongest-band frequency below 2 kHz in active blocks (a rough pitch).
    activity : float
        Share of the song's blocks in which the stem plays.
    width : float
        Side-to-mid energy ratio (0 mono, 1 = as much side as mid).
    """

    percussive: float
    decay_db: float
    flatness: float
    onsets_per_s: float
    centroid_hz: float
    low_hz: float
    high_hz: float
    pitch_hz: float
    activity: float
    width: float

    def to_dict(self) -> dict[str, float]:
        """JSON-ready, rounded."""
        return {k: round(float(v), 3) for k, v in self.__dict__.items()}


def stem_features(x: np.ndarray, spectra: BlockSpectra, listening: Listening | None = None) -> StemFeatures:
    """Features of one stem from its samples and its block analysis.

    ``listening`` (from :func:`tunesmith.mix.listen.listen` on the same samples) supplies the
    5 ms frame levels, channel sum and channel products already summed, so ``x`` is not read again.
    """
    active = active_blocks(spectra.k_power)
    rate = spectra.sample_rate
    if not active.any():
        return StemFeatures(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    bands = spectra.band_power[active].sum(axis=0)
    total = float(bands.sum()) or 1e-30
    centroid = float((bands * BAND_CENTRES_HZ).sum() / total)
    cum = np.cumsum(bands) / total
    low = float(BAND_CENTRES_HZ[min(int(np.searchsorted(cum, 0.10)), len(cum) - 1)])
    high = float(BAND_CENTRES_HZ[min(int(np.searchsorted(cum, 0.90)), len(cum) - 1)])
    below_2k = BAND_CENTRES_HZ <= 2000.0
    strongest = np.argmax(spectra.band_power[active][:, below_2k], axis=1)
    pitch = float(np.median(BAND_CENTRES_HZ[below_2k][strongest]))

    # Onsets from the level of 5 ms frames of the channel sum.
    hop = max(1, rate // 200)
    count = len(x) // hop
    if listening is None:
        mono = x[: count * hop, 0] + x[: count * hop, 1] if x.shape[1] > 1 else x[: count * hop, 0]
        frame = mono.reshape(count, hop)
        level = 10.0 * np.log10(np.einsum("ij,ij->i", frame, frame, dtype=np.float64) / hop + 1e-12)
    else:
        mono = listening.mono[: count * hop]
        level = 10.0 * np.log10(listening.hop_mono_power[:count] / hop + 1e-12)
    top = float(np.percentile(level, 99.5)) if count else -120.0
    rise = level[4:] - np.maximum(level[:-4], top - 50.0)  # against the frame 20 ms earlier
    loud = level[4:] > top - 35.0
    peaks = (rise > 9.0) & loud
    # One onset per attack: the first frame of each run of rising frames.
    starts = np.flatnonzero(peaks & ~np.concatenate(([False], peaks[:-1])))
    if len(starts):
        keep = np.concatenate(([True], np.diff(starts) > 10))  # at least 50 ms apart
        starts = starts[keep]
    playing_s = max(float(active.sum()) * spectra.block_frames / rate, 1e-3)
    percussive = float(np.median(rise[starts])) if len(starts) >= 4 else 0.0
    decay = 0.0
    if len(starts) >= 4:
        # onset at frame starts+4 of `level`; peak within 30 ms, level 150 ms later
        on = starts + 4
        on = on[on + 36 < len(level)]
        if len(on):
            peak = np.max(np.stack([level[on + k] for k in range(6)]), axis=0)
            decay = float(np.median(peak - np.maximum(level[on + 30], top - 50.0)))
    flatness = _flatness(mono, spectra, active, (low / 1.4, high * 1.4))
    if x.shape[1] >= 2:
        # side/mid energy from the channel energies and their cross term (no full-length temporaries)
        if listening is None:
            ll = float(np.dot(x[:, 0], x[:, 0]))
            rr = float(np.dot(x[:, 1], x[:, 1]))
            lr = float(np.dot(x[:, 0], x[:, 1]))
        else:
            ll, rr, lr = (float(v) for v in listening.dots)
        width = (ll + rr - 2.0 * lr) / max(ll + rr + 2.0 * lr, 1e-30)
    else:
        width = 0.0
    return StemFeatures(
        percussive=percussive,
        decay_db=decay,
        flatness=flatness,
        onsets_per_s=len(starts) / playing_s,
        centroid_hz=centroid,
        low_hz=low,
        high_hz=high,
        pitch_hz=pitch,
        activity=float(active.mean()),
        width=min(width, 4.0),
    )


def _flatness(
    mono: np.ndarray, spectra: BlockSpectra, active: np.ndarray, span_hz: tuple[float, float], frames: int = 48
) -> float:
    """Median spectral flatness (geometric / arithmetic mean power) of loud active frames, over ``span_hz``.

    The span is where the stem has its energy, so a high-passed cymbal is judged on its highs.
    """
    n = 4096
    rate = spectra.sample_rate
    blocks = np.flatnonzero(active)
    if len(blocks) == 0:
        return 0.0
    loudest = blocks[np.argsort(-spectra.k_power[blocks])[: 4 * frames]]
    chosen = np.sort(loudest)[:: max(1, len(loudest) // frames)]
    starts = [int(b) * spectra.block_frames for b in chosen if int(b) * spectra.block_frames + n <= len(mono)]
    if not starts:
        return 0.0
    seg = np.stack([mono[s0 : s0 + n] for s0 in starts]) * np.hanning(n).astype(np.float32)
    power = np.abs(np.fft.rfft(seg, axis=1)) ** 2 + 1e-20
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    band = power[:, (freqs >= max(50.0, span_hz[0])) & (freqs <= min(span_hz[1], 0.45 * rate))]
    if band.shape[1] < 8:
        return 0.0
    return float(np.median(np.exp(np.log(band).mean(axis=1)) / band.mean(axis=1)))


def _band(value: float, lo: float, hi: float, soft: float) -> float:
    """Log-likelihood-like score: 0 inside [lo, hi], falling off quadratically outside (``soft`` wide)."""
    if value < lo:
        return -(((lo - value) / soft) ** 2)
    if value > hi:
        return -(((value - hi) / soft) ** 2)
    return 0.0


def _octaves(hz: float) -> float:
    return float(np.log2(max(hz, 10.0)))


# Plausible ranges per role: percussive (dB), decay (dB), flatness, onsets per s, centroid (log2 Hz),
# pitch (log2 Hz), activity. log2 Hz: 5.6 = 50 Hz, 6.6 = 100, 7.6 = 200, 8.6 = 400, 9.6 = 800,
# 11 = 2 k, 12 = 4 k, 13 = 8 k.
_PROFILES: dict[str, tuple[tuple[float, float], ...]] = {
    "lead_vocal": ((0, 20), (0, 12), (0, 0.15), (0.5, 5), (9.3, 11.3), (7.6, 9.9), (0.2, 0.85)),
    "backing_vocal": ((0, 20), (0, 12), (0, 0.15), (0.3, 4), (9.3, 11.5), (7.6, 10.0), (0.05, 0.6)),
    "kick": ((12, 60), (12, 60), (0, 0.4), (0.8, 6), (5.6, 8.3), (5.3, 7.3), (0.2, 1.0)),
    "snare": ((12, 60), (12, 60), (0.15, 1), (0.5, 5), (9.0, 11.8), (7.3, 10.0), (0.2, 1.0)),
    "hats": ((8, 60), (8, 60), (0.2, 1), (2, 16), (12.0, 14.0), (9.5, 11.0), (0.2, 1.0)),
    "drums": ((10, 60), (8, 60), (0.08, 1), (3, 16), (8.3, 11.5), (5.6, 10.5), (0.3, 1.0)),
    "bass": ((0, 25), (0, 15), (0, 0.1), (0.5, 8), (5.8, 8.6), (5.3, 7.6), (0.3, 1.0)),
    "guitar": ((3, 30), (2, 20), (0, 0.12), (1, 8), (9.0, 11.3), (7.3, 9.6), (0.2, 1.0)),
    "keys": ((5, 40), (2, 20), (0, 0.1), (1, 10), (8.5, 10.8), (7.0, 9.6), (0.3, 1.0)),
    "synth_lead": ((0, 25), (0, 12), (0, 0.12), (1, 8), (9.6, 12.0), (8.0, 10.3), (0.2, 0.9)),
    "pad": ((0, 8), (0, 6), (0, 0.1), (0, 1.5), (8.3, 10.8), (7.0, 9.6), (0.4, 1.0)),
    "brass": ((0, 20), (0, 12), (0, 0.12), (0.5, 5), (9.3, 11.3), (7.6, 9.6), (0.1, 0.8)),
    "fx": ((-5, 80), (-5, 80), (0, 1), (0, 30), (5.0, 15.0), (5.0, 11.0), (0.0, 0.4)),
}
_SOFT = (6.0, 4.0, 0.08, 2.0, 0.7, 0.7, 0.25)
_FX_PRIOR = -1.5  # fx fits anything loosely: it wins only when nothing else fits


def role_scores(f: StemFeatures) -> dict[str, float]:
    """Score per role from audio features (higher is more plausible)."""
    values = (
        f.percussive,
        f.decay_db,
        f.flatness,
        f.onsets_per_s,
        _octaves(f.centroid_hz),
        _octaves(f.pitch_hz),
        f.activity,
    )
    scores = {}
    for role, ranges in _PROFILES.items():
        score = sum(_band(v, lo, hi, s) for v, (lo, hi), s in zip(values, ranges, _SOFT, strict=True))
        scores[role] = score + (_FX_PRIOR if role == "fx" else 0.0)
    return scores


def classify(name: str, features: StemFeatures) -> tuple[str, float, str]:
    """Role, confidence (0–1) and what decided it (``"name"`` or ``"audio"``)."""
    scores = role_scores(features)
    roles = list(scores)
    s = np.array([scores[r] for r in roles])
    p = np.exp(s - s.max())
    p /= p.sum()
    by_name = role_from_name(name)
    if by_name is not None:
        # The name decides; the audio's agreement raises the confidence.
        return by_name, round(0.7 + 0.3 * float(p[roles.index(by_name)]), 3), "name"
    best = int(np.argmax(p))
    return roles[best], round(float(p[best]), 3), "audio"
