"""The ``Audio`` value type shared by every stage."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_SAMPLE_RATE_HZ = 8_000
MAX_SAMPLE_RATE_HZ = 192_000
MAX_CHANNELS = 8


@dataclass(frozen=True, eq=False)
class Audio:
    """Samples with their sample rate.

    Parameters
    ----------
    samples : numpy.ndarray
        ``float32`` array of shape ``(frames, channels)``, full scale = 1.0.
        A 1-D array is taken as mono and reshaped to ``(frames, 1)``; other
        float dtypes are converted to ``float32``.
    sample_rate : int
        Samples per second per channel, in Hz.

    Examples
    --------
    >>> import numpy as np
    >>> a = Audio(np.zeros(48000, dtype=np.float32), 48000)
    >>> a.channels, a.duration_s
    (1, 1.0)
    """

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        x = np.asarray(self.samples)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2:
            raise ValueError(f"Audio samples must be (frames, channels), got shape {x.shape}")
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        object.__setattr__(self, "samples", x)
        object.__setattr__(self, "sample_rate", int(self.sample_rate))
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")

    @property
    def frames(self) -> int:
        """Number of sample frames."""
        return int(self.samples.shape[0])

    @property
    def channels(self) -> int:
        """Number of channels."""
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        """Duration in seconds."""
        return self.frames / self.sample_rate
