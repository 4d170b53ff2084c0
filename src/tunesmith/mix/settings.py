"""Every mixing decision as plain data: written by ``--settings``, re-rendered exactly by ``--apply``.

The JSON is meant to be read and edited by people (and rebuilt in a DAW): gains
in dB, pan from −1 (left) to +1 (right), EQ bands in Hz/dB/Q, compressor
threshold in dBFS, reverb sends in dB, fader automation as (seconds, dB) points.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from tunesmith.atomic import write_text_atomic
from tunesmith.errors import InputFileError

SETTINGS_VERSION = 1


@dataclass
class EqBand:
    """A bell (peaking) EQ band."""

    freq_hz: float
    gain_db: float
    q: float


@dataclass
class Compressor:
    """Compressor on a stem or the bus (pedalboard's, no make-up gain: the fader sets the level)."""

    threshold_db: float
    ratio: float
    attack_ms: float
    release_ms: float


@dataclass
class StemSettings:
    """One channel strip: high-pass → EQ → compressor → fader (+ automation) → pan/width → reverb send."""

    file: str
    role: str
    role_confidence: float = 1.0
    role_source: str = "user"
    hpf_hz: float | None = None
    eq: list[EqBand] = field(default_factory=list)
    compressor: Compressor | None = None
    gain_db: float = 0.0
    automation: list[tuple[float, float]] = field(default_factory=list)
    pan: float = 0.0
    width: float = 1.0
    reverb_send_db: float | None = None
    silent: bool = False


@dataclass
class BusSettings:
    """The mix bus: glue compressor, tonal EQ towards the genre curve, shared reverb, output level."""

    compressor: Compressor | None = None
    eq_db: dict[str, float] = field(default_factory=dict)
    reverb_room_size: float = 0.45
    reverb_damping: float = 0.5
    reverb_return_hpf_hz: float = 250.0
    target_lufs: float = -18.0
    ceiling_dbtp: float = -6.0


@dataclass
class MixSettings:
    """The whole mix."""

    sample_rate: int
    frames: int
    genre: str
    stems: list[StemSettings]
    bus: BusSettings
    lead: str | None = None  # file of the stem the balance is built around
    version: int = SETTINGS_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write as indented JSON, atomically."""
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")


def _number(d: dict[str, Any], key: str, path: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    value = d.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 1e300:  # beyond any float
        raise InputFileError(f"settings: {key!r} is out of range (a {len(str(abs(value)))}-digit number)", path)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputFileError(f"settings: {key!r} must be a number, got {value!r}", path)
    if not lo <= value <= hi:
        raise InputFileError(f"settings: {key!r} = {value} is outside {lo:g}..{hi:g}", path)
    return float(value)


def _compressor(d: Any, path: str) -> Compressor | None:
    if d is None:
        return None
    if not isinstance(d, dict):
        raise InputFileError("settings: a compressor must be an object or null", path)
    return Compressor(
        threshold_db=_number(d, "threshold_db", path, -100.0, 0.0),
        ratio=_number(d, "ratio", path, 1.0, 100.0),
        attack_ms=_number(d, "attack_ms", path, 0.01, 1000.0),
        release_ms=_number(d, "release_ms", path, 1.0, 10_000.0),
    )


def load_settings(path: str | os.PathLike[str]) -> MixSettings:
    """Read and validate a settings file (as written by ``--settings``, possibly edited).

    Raises
    ------
    InputFileError
        Not JSON, or a value missing or out of range (the message names the key).
    """
    p = os.fspath(path)
    try:
        with open(p, encoding="utf-8") as f:
            d = json.load(f)
    except FileNotFoundError:
        raise InputFileError("settings file not found", p) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputFileError(f"not a settings JSON file ({' '.join(str(exc).split())[:120]})", p) from None
    try:
        return _from_dict(d, p)
    except (AttributeError, TypeError, ValueError, OverflowError) as exc:
        # A hand edit put the wrong kind of value somewhere the checks below do not name (a list
        # where an object belongs, text where a number does): still one line about the file.
        raise InputFileError(f"settings: malformed value ({' '.join(str(exc).split())[:120]})", p) from None


def _from_dict(d: Any, p: str) -> MixSettings:
    """The checked :class:`MixSettings` of a parsed settings document."""
    if not isinstance(d, dict) or not isinstance(d.get("stems"), list) or not isinstance(d.get("bus"), dict):
        raise InputFileError("settings: expected an object with 'stems' (list) and 'bus' (object)", p)
    if d.get("version") != SETTINGS_VERSION:
        raise InputFileError(f"settings: version {d.get('version')!r} is not {SETTINGS_VERSION}", p)
    from tunesmith.mix.roles import ROLES

    stems = []
    for s in d["stems"]:
        if not isinstance(s, dict) or not isinstance(s.get("file"), str):
            raise InputFileError("settings: every stem needs a 'file'", p)
        if s.get("role") not in ROLES:
            raise InputFileError(f"settings: unknown role {s.get('role')!r} (known: {', '.join(ROLES)})", p)
        eq = []
        for band in s.get("eq") or []:
            eq.append(
                EqBand(
                    _number(band, "freq_hz", p, 10.0, 40_000.0),
                    _number(band, "gain_db", p, -30.0, 30.0),
                    _number(band, "q", p, 0.1, 20.0),
                )
            )
        automation = []
        for point in s.get("automation") or []:
            if not (isinstance(point, (list, tuple)) and len(point) == 2):
                raise InputFileError("settings: automation points are [seconds, dB] pairs", p)
            seconds, db = float(point[0]), float(point[1])
            if not (math.isfinite(seconds) and math.isfinite(db)):
                raise InputFileError("settings: automation points must be finite numbers", p)
            automation.append((seconds, db))
        stems.append(
            StemSettings(
                file=s["file"],
                role=s["role"],
                role_confidence=float(s.get("role_confidence", 1.0)),
                role_source=str(s.get("role_source", "user")),
                hpf_hz=None if s.get("hpf_hz") is None else _number(s, "hpf_hz", p, 5.0, 20_000.0),
                eq=eq,
                compressor=_compressor(s.get("compressor"), p),
                gain_db=_number(s, "gain_db", p, -120.0, 60.0),
                automation=automation,
                pan=_number(s, "pan", p, -1.0, 1.0),
                width=_number(s, "width", p, 0.0, 2.0),
                reverb_send_db=None if s.get("reverb_send_db") is None else _number(s, "reverb_send_db", p, -120, 12),
                silent=bool(s.get("silent", False)),
            )
        )
    b = d["bus"]
    bus = BusSettings(
        compressor=_compressor(b.get("compressor"), p),
        eq_db={str(k): float(v) for k, v in (b.get("eq_db") or {}).items()},
        reverb_room_size=_number(b, "reverb_room_size", p, 0.0, 1.0),
        reverb_damping=_number(b, "reverb_damping", p, 0.0, 1.0),
        reverb_return_hpf_hz=_number(b, "reverb_return_hpf_hz", p, 10.0, 5000.0),
        target_lufs=_number(b, "target_lufs", p, -60.0, 0.0),
        ceiling_dbtp=_number(b, "ceiling_dbtp", p, -60.0, 0.0),
    )
    return MixSettings(
        sample_rate=int(_number(d, "sample_rate", p, 8000, 192_000)),
        frames=int(_number(d, "frames", p, 1, 1e12)),
        genre=str(d.get("genre", "pop")),
        stems=stems,
        bus=bus,
        lead=d.get("lead") if isinstance(d.get("lead"), str) else None,
    )
