"""The mixing decisions: what a mix engineer does with each channel, from measurements.

Knowledge-based automatic mixing (after De Man & Reiss, with the cross-adaptive
gain and pan of Perez-Gonzalez & Reiss): role tables say what each kind of
stem usually gets (high-pass, compression, reverb, level against the lead);
measurements of *these* stems decide the numbers (levels from gated loudness,
EQ cuts from measured masking, pan from spectral similarity and left/right
energy, fader rides from short-term loudness against the lead). Nothing here
depends on the level a stem was recorded at: every threshold is relative to
the stem's own measurements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tunesmith.audio.bands import SHORT_TERM_BLOCKS, BlockSpectra, active_blocks, window_power
from tunesmith.audio.tonal import BAND_CENTRES_HZ, EqLimits, correction_db, style_curve_db
from tunesmith.mix.roles import StemFeatures
from tunesmith.mix.settings import Compressor, EqBand

#: Integrated loudness of each role relative to the lead, LU (a pop/rock balance).
ROLE_LEVEL_LU: dict[str, float] = {
    "lead_vocal": 0.0,
    "synth_lead": -5.0,  # when it is not itself the lead
    "backing_vocal": -7.0,
    "kick": -3.0,
    "snare": -4.0,
    "hats": -11.0,
    "drums": -5.0,
    "bass": -3.0,
    "guitar": -6.5,
    "keys": -6.0,
    "pad": -9.0,
    "brass": -6.5,
    "fx": -12.0,
}
#: Roles that can carry the song's lead line, most likely first.
LEAD_ROLES = ("lead_vocal", "synth_lead", "brass", "guitar", "keys")
#: Roles kept in the centre (the low end, the focus of the song, and a stereo kit's own image).
CENTRED = {"lead_vocal", "kick", "snare", "bass", "drums"}
#: High-pass corner per role, Hz (lowered when the stem really has content lower down).
HPF_HZ: dict[str, float] = {
    "lead_vocal": 90.0,
    "backing_vocal": 140.0,
    "kick": 30.0,
    "snare": 80.0,
    "hats": 300.0,
    "drums": 35.0,
    "bass": 30.0,
    "guitar": 90.0,
    "keys": 50.0,
    "synth_lead": 110.0,
    "pad": 110.0,
    "brass": 110.0,
    "fx": 60.0,
}
#: Compressor per role: (dB below the stem's loud level, ratio, attack ms, release ms).
COMPRESSION: dict[str, tuple[float, float, float, float]] = {
    "lead_vocal": (8.0, 3.0, 5.0, 80.0),
    "backing_vocal": (8.0, 3.0, 5.0, 100.0),
    "kick": (5.0, 4.0, 20.0, 80.0),
    "snare": (5.0, 3.0, 10.0, 120.0),
    "drums": (4.0, 2.0, 15.0, 150.0),
    "bass": (6.0, 4.0, 10.0, 150.0),
    "guitar": (4.0, 2.5, 10.0, 150.0),
    # A piano's soft passages otherwise drop under the band (it spans the lead's and the bass's
    # ranges, where both get room cut for them): gentle levelling keeps them audible.
    "keys": (6.0, 2.5, 10.0, 150.0),
    "synth_lead": (5.0, 2.5, 8.0, 100.0),
    "brass": (4.0, 2.5, 10.0, 120.0),
}
#: Reverb send per role, dB relative to the stem's post-fader level (roles not listed stay dry).
REVERB_SEND_DB: dict[str, float] = {
    "lead_vocal": -16.0,
    "backing_vocal": -12.0,
    "snare": -18.0,
    "keys": -20.0,
    "pad": -16.0,
    "guitar": -20.0,
    "synth_lead": -18.0,
    "brass": -18.0,
}
#: Largest stereo width (side/mid energy) a stereo stem keeps, per role; 1.0 for roles not listed.
WIDTH_LIMIT: dict[str, float] = {"lead_vocal": 0.1, "kick": 0.05, "snare": 0.15, "bass": 0.05, "synth_lead": 0.4}
#: Genre → tonal target curve (the shared style curves of :mod:`tunesmith.audio.tonal`).
GENRES: dict[str, str] = {
    "pop": "balanced",
    "rock": "punchy",
    "hiphop": "punchy",
    "electronic": "punchy",
    "rnb": "warm",
    "jazz": "warm",
    "folk": "warm",
    "acoustic": "warm",
    "classical": "warm",
    "ambient": "warm",
    "indie": "bright",
}
BUS_EQ_LIMITS = EqLimits(max_boost_db=6.0, max_cut_db=8.0, amount=0.9, smoothing_bands=3)
UNMASK_MAX_CUT_DB = 6.0
RIDE_MARGIN_LU = 1.5  # the lead stays this far above every other stem, short-term
RIDE_MAX_CUT_DB = 12.0


@dataclass
class StemAnalysis:
    """Pass-1 measurements of one stem (no audio kept)."""

    file: str
    name: str
    channels: int
    frames: int
    spectra: BlockSpectra
    features: StemFeatures
    loud_level_db: float  # 95th percentile of 5 ms RMS level while playing, dBFS
    loudness_lufs: float | None

    @property
    def silent(self) -> bool:
        """Nothing above the BS.1770 absolute gate."""
        return self.loudness_lufs is None


def choose_lead(roles: list[str], analyses: list[StemAnalysis], sources: list[str] | None = None) -> int | None:
    """Index of the lead stem: the most likely lead role; among several, one the user or the
    file name called so ("melody", "lead") before one the audio suggested, then the busiest and loudest."""
    sources = sources or ["audio"] * len(roles)
    for role in LEAD_ROLES:
        candidates = [i for i, r in enumerate(roles) if r == role and not analyses[i].silent]
        if candidates:
            return max(
                candidates,
                key=lambda i: (
                    sources[i] != "audio",
                    analyses[i].features.activity,
                    analyses[i].loudness_lufs or -99,
                ),
            )
    audible = [i for i, a in enumerate(analyses) if not a.silent]
    return max(audible, key=lambda i: analyses[i].loudness_lufs or -99) if audible else None


def target_levels(roles: list[str], lead: int | None) -> np.ndarray:
    """Loudness of each stem relative to the lead, LU; several stems sharing a role share its level."""
    counts: dict[str, int] = {}
    for r in roles:
        counts[r] = counts.get(r, 0) + 1
    out = np.zeros(len(roles))
    for i, r in enumerate(roles):
        if i == lead:
            continue
        base = ROLE_LEVEL_LU[r]
        # Together a group sits where one of them would (minus a little: a section is denser).
        out[i] = base - 10.0 * math.log10(counts[r]) * 0.8
    return out


def hpf_for(role: str, features: StemFeatures) -> float:
    """High-pass corner: the role's, but never above 70 % of where the stem's own low content starts."""
    base = HPF_HZ[role]
    if features.low_hz > 0:
        base = min(base, max(20.0, 0.7 * features.low_hz))
    return round(base, 1)


def compressor_for(role: str, loud_level_db: float) -> Compressor | None:
    """Role-appropriate compressor with its threshold set below this stem's own loud level."""
    if role not in COMPRESSION or not math.isfinite(loud_level_db):
        return None
    depth, ratio, attack, release = COMPRESSION[role]
    return Compressor(round(max(-90.0, loud_level_db - depth), 2), ratio, attack, release)


def _mean_band_db(spectra: BlockSpectra, mask: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(spectra.band_power[mask].mean(axis=0) + 1e-30)


def unmasking_cuts(
    analyses: list[StemAnalysis],
    gains_db: np.ndarray,
    roles: list[str],
    lead: int | None,
) -> list[list[EqBand]]:
    """EQ cuts on competing stems where the lead (150 Hz–8 kHz) and the bass (40–250 Hz) need room.

    For each band the protected stem needs (within 12 dB of its strongest band), a
    competitor playing at the same time that comes within 3 dB of it there is cut
    by the excess (up to :data:`UNMASK_MAX_CUT_DB`), at most three bells per stem.
    """
    protected: list[tuple[int, float, float, float]] = []  # (stem, lo Hz, hi Hz, max cut)
    if lead is not None:
        protected.append((lead, 150.0, 8000.0, UNMASK_MAX_CUT_DB))
    for i, r in enumerate(roles):
        if r == "bass" and not analyses[i].silent:
            protected.append((i, 40.0, 250.0, 4.0))
    cuts = np.zeros((len(analyses), len(BAND_CENTRES_HZ)))
    actives = [active_blocks(a.spectra.k_power) for a in analyses]
    for p, lo, hi, max_cut in protected:
        centres = BAND_CENTRES_HZ
        in_range = (centres >= lo) & (centres <= hi)
        for c, a in enumerate(analyses):
            if c in (p, lead) or a.silent or roles[c] in ("kick", "bass", "lead_vocal"):
                continue
            both = actives[p] & actives[c]
            if both.sum() < 10:
                continue
            mine = _mean_band_db(analyses[p].spectra, both) + gains_db[p]
            theirs = _mean_band_db(a.spectra, both) + gains_db[c]
            needed = in_range & (mine >= np.max(mine[in_range]) - 12.0)
            excess = theirs - (mine - 3.0)
            want = np.where(needed & (excess > 0), np.minimum(excess, max_cut), 0.0)
            cuts[c] = np.maximum(cuts[c], want)
    bands = []
    for c in range(len(analyses)):
        chosen: list[EqBand] = []
        order = np.argsort(-cuts[c])
        taken = np.zeros(len(BAND_CENTRES_HZ), bool)
        for j in order:
            if cuts[c, j] < 1.0 or len(chosen) == 3:
                break
            if taken[max(0, j - 1) : j + 2].any():
                continue  # a neighbour's bell (Q 2, about 2/3 octave) already covers it
            taken[j] = True
            chosen.append(EqBand(round(float(BAND_CENTRES_HZ[j]), 1), round(-float(cuts[c, j]), 2), 2.0))
        bands.append(sorted(chosen, key=lambda b: b.freq_hz))
    return bands


def pan_positions(
    analyses: list[StemAnalysis], roles: list[str], gains_db: np.ndarray, lead: int | None
) -> list[float]:
    """Pan per stem: centre for the low end and the lead; others spread to separate similar spectra.

    Stems are placed loudest first. Each takes the position (from ±0.25 to ±0.75)
    that best keeps left and right energy equal while moving it away from stems
    with a similar spectrum already placed (cosine similarity of band levels).
    """
    pans = [0.0] * len(analyses)
    shapes = []
    for a in analyses:
        v = a.spectra.band_power.sum(axis=0)
        v = np.sqrt(v / max(float(v.sum()), 1e-30))
        shapes.append(v)
    free = [i for i, r in enumerate(roles) if r not in CENTRED and i != lead and not analyses[i].silent]
    free.sort(key=lambda i: -((analyses[i].loudness_lufs or -99.0) + gains_db[i]))
    energy = {i: 10.0 ** (((analyses[i].loudness_lufs or -99.0) + gains_db[i]) / 10.0) for i in free}
    left = right = 0.0
    placed: list[int] = []
    options = (-0.75, -0.5, -0.25, 0.25, 0.5, 0.75)
    total = sum(energy.values()) or 1.0
    for i in free:
        best, best_cost = 0.0, math.inf
        for pan in options:
            theta = (pan + 1.0) * math.pi / 4.0
            nl, nr = left + energy[i] * math.cos(theta) ** 2, right + energy[i] * math.sin(theta) ** 2
            imbalance = abs(nl - nr) / total
            crowding = sum(float(shapes[i] @ shapes[j]) * (1.0 - abs(pan - pans[j]) / 2.0) for j in placed)
            cost = imbalance + 0.5 * crowding / max(1, len(placed)) + 0.02 * abs(pan)
            if cost < best_cost - 1e-12:
                best, best_cost = pan, cost
        pans[i] = best
        theta = (best + 1.0) * math.pi / 4.0
        left += energy[i] * math.cos(theta) ** 2
        right += energy[i] * math.sin(theta) ** 2
        placed.append(i)
    return pans


def width_for(role: str, features: StemFeatures) -> float:
    """Scale for a stereo stem's side signal so its width stays within the role's limit."""
    limit = WIDTH_LIMIT.get(role, 1.0)
    if features.width <= limit or features.width <= 0:
        return 1.0
    return round(math.sqrt(limit / features.width), 3)


def fader_rides(processed: list[BlockSpectra], gains_db: np.ndarray, lead: int | None) -> list[np.ndarray]:
    """Fader automation per stem (dB per 100 ms block) that keeps the lead on top.

    Wherever the lead plays and another stem's short-term loudness comes within
    :data:`RIDE_MARGIN_LU` of the lead's, that stem is ridden down by the excess
    (at most :data:`RIDE_MAX_CUT_DB`), held over the 3 s window and eased in
    and out over about a second, as an engineer would ride a fader.
    """
    n = max(len(p.k_power) for p in processed)
    rides = [np.zeros(n) for _ in processed]
    if lead is None:
        return rides

    def short_term(i: int, ride: np.ndarray) -> np.ndarray:
        k = np.zeros(n)
        k[: len(processed[i].k_power)] = processed[i].k_power
        k *= 10.0 ** ((gains_db[i] + ride) / 10.0)
        w = window_power(k, SHORT_TERM_BLOCKS)
        with np.errstate(divide="ignore"):
            return 10.0 * np.log10(np.concatenate((w, np.full(n - len(w), w[-1] if len(w) else 0.0))) + 1e-30)

    lead_k = np.zeros(n)
    lead_k[: len(processed[lead].k_power)] = processed[lead].k_power
    playing = active_blocks(lead_k)
    # A short-term window "belongs" to the lead where its centre block is active.
    centre = np.zeros(n, bool)
    half = SHORT_TERM_BLOCKS // 2
    centre[: max(0, n - half)] = playing[half:] if n > half else False
    lead_st = short_term(lead, rides[lead])
    for i in range(len(processed)):
        if i == lead:
            continue
        for _ in range(3):  # the held, eased curve changes the windows: settle in a few rounds
            excess = short_term(i, rides[i]) - (lead_st - RIDE_MARGIN_LU)
            need = np.where(centre & (excess > 0), excess, 0.0)
            if not need.any():
                break
            # Spread each window's need over the blocks that window covers, widen by half a
            # second each side and average over a second: a smooth ride that still covers the need.
            spread = np.zeros(n)
            for j in np.flatnonzero(need):
                spread[j : j + SHORT_TERM_BLOCKS] = np.maximum(spread[j : j + SHORT_TERM_BLOCKS], need[j])
            wide = spread.copy()
            for shift in range(1, 6):
                wide[shift:] = np.maximum(wide[shift:], spread[:-shift])
                wide[:-shift] = np.maximum(wide[:-shift], spread[shift:])
            eased = np.convolve(np.pad(wide, 5, mode="edge"), np.ones(11) / 11.0, mode="valid")
            rides[i] = np.maximum(rides[i] - eased - 0.1, -RIDE_MAX_CUT_DB)
    return rides


def automation_points(ride_db: np.ndarray, block_s: float) -> list[tuple[float, float]]:
    """Breakpoints (s, dB) of a per-block curve: only where its slope changes (empty when flat at 0)."""
    if not np.any(ride_db):
        return []
    r = np.round(ride_db, 2)
    keep = np.ones(len(r), bool)
    if len(r) > 2:
        d = np.diff(r)
        keep[1:-1] = np.abs(d[1:] - d[:-1]) > 1e-9
    return [(round(float(i * block_s), 3), float(r[i])) for i in np.flatnonzero(keep)]


#: Samples a ride's gain is held for: its breakpoints are interpolated every 64 samples (1.5 ms at
#: 44.1 kHz), smooth enough for a fader.
RIDE_HOLD = 64


def ride_gains(points: list[tuple[float, float]], frames: int, sample_rate: int) -> np.ndarray | None:
    """Linear gain every :data:`RIDE_HOLD` samples from automation breakpoints (linear in dB
    between them; ``(time s, dB)``), or None without any."""
    if not points:
        return None
    t = np.array([p[0] for p in points]) * sample_rate
    db = np.array([p[1] for p in points])
    grid = np.arange(0, frames, RIDE_HOLD, dtype=np.float64)
    return (10.0 ** (np.interp(grid, t, db) / 20.0)).astype(np.float32)


def ride_curve(points: list[tuple[float, float]], frames: int, sample_rate: int) -> np.ndarray | None:
    """Per-sample gain (linear) from automation breakpoints (:func:`ride_gains`, held), or None."""
    gain = ride_gains(points, frames, sample_rate)
    return None if gain is None else np.repeat(gain, RIDE_HOLD)[:frames]


def bus_eq_db(mix_bands_db: np.ndarray, genre: str) -> np.ndarray:
    """Bus EQ per third-octave band towards the genre's tonal curve (bounded, smoothed)."""
    return correction_db(mix_bands_db, style_curve_db(GENRES[genre]), BUS_EQ_LIMITS)
