"""Quantisation to integer PCM with TPDF dither.

Triangular-PDF dither of ±1 LSB peak (the difference of two independent uniform
variables) makes the quantisation error independent of the signal, so fades and
reverb tails decay into benign noise instead of distortion. The generator is
seeded, so the same input always gives bit-identical output.
"""

from __future__ import annotations

import numpy as np


class Quantizer:
    """Turn float samples into integers of ``bits`` bits, block after block.

    Parameters
    ----------
    bits : int
        Target word length: 16 or 24.
    dither : bool
        Add TPDF dither of ±1 LSB before rounding.
    seed : int
        Seed of the dither noise generator.
    """

    def __init__(self, bits: int, dither: bool = True, seed: int = 0) -> None:
        if bits not in (16, 24):
            raise ValueError(f"unsupported bit depth {bits}")
        self.bits = bits
        self.dither = dither
        self._rng = np.random.default_rng(seed)
        self.clipped_samples = 0

    def __call__(self, block: np.ndarray) -> np.ndarray:
        """Quantise one ``(frames, channels)`` float block.

        Returns
        -------
        numpy.ndarray
            ``int16`` for 16 bits; for 24 bits ``int32`` holding the value in
            its top 24 bits, which is how soundfile expects 24-bit PCM.
        """
        scale = float(2 ** (self.bits - 1))
        x = block.astype(np.float64) * scale
        if self.dither:
            noise = self._rng.random(x.shape) - self._rng.random(x.shape)
            x += noise
        np.rint(x, out=x)
        lo, hi = -scale, scale - 1
        over = (x < lo) | (x > hi)
        self.clipped_samples += int(np.count_nonzero(over))
        np.clip(x, lo, hi, out=x)
        if self.bits == 16:
            return x.astype(np.int16)
        return (x.astype(np.int64) << (32 - self.bits)).astype(np.int32)
