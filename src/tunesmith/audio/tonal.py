"""Tonal balance: third-octave band levels, style target curves, and the EQ correction towards them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Third-octave band centres, Hz (base-2 series around 1 kHz: 24.8 Hz ... 20.2 kHz).
BAND_CENTRES_HZ = 1000.0 * 2.0 ** (np.arange(-16, 14) / 3.0)

# Target long-term third-octave balance per style, dB relative to the 1 kHz band, as
# (frequency Hz, dB) break points interpolated in log frequency. "balanced" follows
# the average long-term spectrum of commercial pop/rock masters (a low-frequency
# plateau, then roughly -3.5 dB per octave above 300 Hz, steeper above 10 kHz); the
# others are gentle, musically named departures from it.
STYLE_CURVES: dict[str, tuple[tuple[float, float], ...]] = {
    "balanced": (
        (25, 4.0),
        (50, 8.0),
        (100, 8.5),
        (200, 7.0),
        (400, 4.5),
        (1000, 0.0),
        (2000, -3.0),
        (4000, -6.5),
        (8000, -10.5),
        (12000, -14.0),
        (16000, -19.0),
        (20000, -26.0),
    ),
    "warm": (
        (25, 5.0),
        (50, 9.5),
        (100, 10.0),
        (200, 8.5),
        (400, 5.5),
        (1000, 0.0),
        (2000, -3.8),
        (4000, -8.0),
        (8000, -12.5),
        (12000, -16.5),
        (16000, -21.5),
        (20000, -28.0),
    ),
    "bright": (
        (25, 3.0),
        (50, 7.0),
        (100, 7.5),
        (200, 6.0),
        (400, 4.0),
        (1000, 0.0),
        (2000, -2.2),
        (4000, -5.0),
        (8000, -8.5),
        (12000, -11.5),
        (16000, -16.0),
        (20000, -23.0),
    ),
    "punchy": (
        (25, 4.0),
        (50, 9.5),
        (100, 10.0),
        (200, 6.5),
        (400, 3.5),
        (1000, 0.0),
        (2000, -2.5),
        (4000, -5.5),
        (8000, -10.0),
        (12000, -13.5),
        (16000, -18.5),
        (20000, -25.0),
    ),
}
STYLES = ("auto", *STYLE_CURVES)

#: Bands that set the overall level when two curves are compared (the ear's most sensitive range).
_NORMALISE_LO_HZ, _NORMALISE_HI_HZ = 80.0, 10_000.0


def band_levels_db(freqs: np.ndarray, power: np.ndarray, centres: np.ndarray = BAND_CENTRES_HZ) -> np.ndarray:
    """Power per third-octave band, dB (summed over the FFT bins inside each band).

    Bands above Nyquist or without bins get NaN.
    """
    levels = np.full(len(centres), np.nan)
    half = 2.0 ** (1.0 / 6.0)
    for i, c in enumerate(centres):
        sel = (freqs >= c / half) & (freqs < c * half)
        if sel.any():
            levels[i] = 10.0 * np.log10(max(float(power[sel].sum()), 1e-30))
    return levels


def style_curve_db(style: str, centres: np.ndarray = BAND_CENTRES_HZ) -> np.ndarray:
    """A built-in style's target band levels, dB relative to its 1 kHz band."""
    points = np.array(STYLE_CURVES[style])
    return np.interp(np.log2(centres), np.log2(points[:, 0]), points[:, 1])


def normalised_difference(a_db: np.ndarray, b_db: np.ndarray, centres: np.ndarray = BAND_CENTRES_HZ) -> np.ndarray:
    """``a - b`` per band, shifted so its mean over 80 Hz–10 kHz is zero (NaN where either is missing)."""
    diff = a_db - b_db
    sel = (centres >= _NORMALISE_LO_HZ) & (centres <= _NORMALISE_HI_HZ) & np.isfinite(diff)
    if not sel.any():
        return np.zeros_like(diff)
    return diff - float(np.mean(diff[sel]))


def choose_style(input_db: np.ndarray) -> str:
    """The style whose curve the input is already closest to (least EQ needed): ``--style auto``."""
    best, best_err = "balanced", np.inf
    for name in STYLE_CURVES:
        diff = normalised_difference(style_curve_db(name), input_db)
        err = float(np.nanmean(np.abs(diff)))
        if err < best_err:
            best, best_err = name, err
    return best


@dataclass(frozen=True)
class EqLimits:
    """How far the tonal EQ may go.

    Attributes
    ----------
    max_boost_db, max_cut_db : float
        Largest boost / cut in any band, dB (cut given as a positive number).
    amount : float
        Fraction of the measured difference applied (0–1).
    smoothing_bands : int
        Width of the moving average across bands (odd), so the EQ follows the
        broad balance, not single resonances.
    """

    max_boost_db: float
    max_cut_db: float
    amount: float
    smoothing_bands: int = 3


#: Style targets are a direction, not a measurement of this song: move gently.
STYLE_LIMITS = EqLimits(max_boost_db=4.0, max_cut_db=5.0, amount=0.6, smoothing_bands=5)
#: A reference is the song's own target, chosen by the user: follow it closely. Real
#: songs differ by up to ±20 dB in the outermost bands, so the limits are wide; the
#: never-boost-what-is-not-there rule still protects empty bands.
REFERENCE_LIMITS = EqLimits(max_boost_db=18.0, max_cut_db=24.0, amount=1.0, smoothing_bands=1)


def correction_db(
    input_db: np.ndarray,
    target_db: np.ndarray,
    limits: EqLimits,
    centres: np.ndarray = BAND_CENTRES_HZ,
    normalise: bool = True,
) -> np.ndarray:
    """EQ gain per band that moves ``input_db`` towards ``target_db``, dB.

    The difference is level-normalised (unless ``normalise`` is False: the side
    channel's level relative to the mid sets the stereo width), smoothed across ``limits.smoothing_bands``
    bands, scaled by ``limits.amount`` and clipped to the boost/cut limits. Bands
    where the input has (next to) nothing — more than 60 dB below its loudest
    band, or above Nyquist — are never boosted, so the EQ cannot lift noise or
    create content that is not there.
    """
    diff = normalised_difference(target_db, input_db, centres) if normalise else target_db - input_db
    valid = np.isfinite(diff)
    if not valid.any():
        return np.zeros(len(centres))
    filled = np.interp(np.arange(len(diff)), np.flatnonzero(valid), diff[valid])
    k = max(1, limits.smoothing_bands)
    if k > 1:
        padded = np.pad(filled, k // 2, mode="edge")
        filled = np.convolve(padded, np.ones(k) / k, mode="valid")
    gain = np.clip(filled * limits.amount, -limits.max_cut_db, limits.max_boost_db)
    floor = np.nanmax(input_db) - 60.0
    empty = ~np.isfinite(input_db) | (np.nan_to_num(input_db, nan=-np.inf) < floor)
    gain[empty] = np.minimum(gain[empty], 0.0)
    return gain
