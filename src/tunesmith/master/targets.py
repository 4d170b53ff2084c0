"""Delivery targets: integrated loudness and true-peak ceiling per destination."""

from __future__ import annotations

from dataclasses import dataclass

from tunesmith.errors import UsageError


@dataclass(frozen=True)
class Target:
    """A loudness target.

    Attributes
    ----------
    name : str
        Preset name, or ``"custom"``/``"reference"``.
    lufs : float
        Integrated loudness to hit, LUFS.
    ceiling_dbtp : float
        Highest allowed true peak, dBTP.
    """

    name: str
    lufs: float
    ceiling_dbtp: float


#: Presets: what each destination normalises to, and the peak headroom its encoders need.
PRESETS: dict[str, Target] = {
    "streaming": Target("streaming", -14.0, -1.0),  # Spotify, Tidal, Amazon
    "apple": Target("apple", -16.0, -1.0),  # Apple Music sound check, AES TD1008
    "youtube": Target("youtube", -14.0, -1.0),
    "cd": Target("cd", -9.0, -0.3),
    "club": Target("club", -7.0, -0.3),
    "broadcast": Target("broadcast", -23.0, -1.0),  # EBU R128
}

MIN_TARGET_LUFS = -40.0
MAX_TARGET_LUFS = -3.0


def parse_target(text: str | None, ceiling_dbtp: float | None = None, reference_lufs: float | None = None) -> Target:
    """Turn ``--target`` / ``--ceiling`` into a :class:`Target`.

    Parameters
    ----------
    text : str or None
        A preset name or a number of LUFS (``"-12"``, ``"-12.5"``, ``"-12 LUFS"``).
        None means the reference's loudness when there is one, else ``streaming``.
    ceiling_dbtp : float, optional
        Overrides the preset's ceiling, dBTP.
    reference_lufs : float, optional
        Integrated loudness of the reference track(s), LUFS.

    Raises
    ------
    UsageError
        For an unknown name or an out-of-range value.
    """
    if text is None and reference_lufs is not None:
        target = Target("reference", round(reference_lufs, 2), -1.0)
    elif text is None:
        target = PRESETS["streaming"]
    elif text.lower() in PRESETS:
        target = PRESETS[text.lower()]
    else:
        number = text.lower().replace("lufs", "").strip()
        try:
            lufs = float(number)
        except ValueError:
            raise UsageError(
                f"unknown --target {text!r}: use one of {', '.join(PRESETS)} or a loudness in LUFS such as -14"
            ) from None
        if not MIN_TARGET_LUFS <= lufs <= MAX_TARGET_LUFS:
            raise UsageError(f"--target {lufs:g} LUFS is outside {MIN_TARGET_LUFS:g}..{MAX_TARGET_LUFS:g} LUFS")
        target = Target("custom", lufs, -1.0)
    if ceiling_dbtp is not None:
        if not -20.0 <= ceiling_dbtp <= 0.0:
            raise UsageError(f"--ceiling {ceiling_dbtp:g} dBTP is outside -20..0 dBTP")
        target = Target(target.name, target.lufs, ceiling_dbtp)
    return target
