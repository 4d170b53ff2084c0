"""Styles: declarative TOML files that say how a genre is played.

A style names its tempo range, metre, feel, keys, harmony source and typical
progressions, song structure, melody rhythm cells, and the parts of its band —
each with a General MIDI program, a range, and the comping, bass or drum
patterns it plays per section. The built-in styles live in
``tunesmith/compose/styles``; a user adds one by dropping a ``.toml`` file in
the user styles folder (``tunesmith styles`` lists both). The file format is
documented in ``docs/STYLES.md``; :func:`load_style` checks every field and
reports the first problem with the file's name.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.errors import InputFileError, UsageError
from tunesmith.score.theory import ChordParseError, Key, parse_roman

BUILTIN_DIR = Path(__file__).with_name("styles")

#: GM percussion keys of the drum instrument names a groove may use.
DRUM_KEYS: dict[str, int] = {
    "kick": 36,
    "kick2": 35,
    "side_stick": 37,
    "rim": 37,
    "snare": 38,
    "clap": 39,
    "snare2": 40,
    "tom_lo": 45,
    "hat": 42,
    "hat_pedal": 44,
    "hat_open": 46,
    "tom_mid": 47,
    "tom_hi": 50,
    "crash": 49,
    "ride": 51,
    "ride_bell": 53,
    "tambourine": 54,
    "cowbell": 56,
    "conga_hi": 62,
    "conga_lo": 64,
    "shaker": 70,
    "claves": 75,
}
#: GM drum-kit programs (bank 128) by name.
KITS: dict[str, int] = {"standard": 0, "room": 8, "power": 16, "electronic": 24, "tr808": 25, "jazz": 32, "brush": 40}
ROLES = ("melody", "chords", "pad", "bass", "drums", "counter-melody", "voice")
COMPING_KINDS = ("block", "arpeggio", "strum", "pad", "chorale")
VOICINGS = ("close", "open", "shell", "spread", "drop2", "chorale")
SECTION_NAMES = ("intro", "verse", "prechorus", "chorus", "bridge", "solo", "breakdown", "outro", "loop", "a", "b")
HARMONY_SOURCES = ("learned", "progressions", "jazz", "blues", "transitions")
#: Style tags of the melody model (``tunesmith.models.melody.TAGS``), for ``[melody] tag``.
MELODY_TAGS = ("pop", "song", "dance")
#: Files a learned style (``tunesmith learn``) may name in its ``[learned]`` table, beside its ``style.toml``.
LEARNED_FILES = ("melody_adapter", "chord_adapter", "originality_index", "card")
_RHYTHM_RE = re.compile(r"^[x\-.]+$")
_BASS_RE = re.compile(r"^[R3578AS\-.]+$")
_DRUM_RE = re.compile(r"^[xXo.]+$")
_STRUCTURE_RE = re.compile(r"^([a-z][a-z0-9_]*):(\d+)$")


class StyleError(InputFileError):
    """A style file is missing a field or has a value that cannot be used."""


@dataclass(frozen=True)
class Part:
    """One instrument of the band.

    Attributes
    ----------
    name : str
        Track name (``piano``, ``bass``…).
    role : str
        One of :data:`ROLES`; decides which generator plays it.
    program : int
        General MIDI program 0–127 (the kit for drums).
    range : tuple of int
        Lowest and highest MIDI note it plays.
    voicing : str
        How chords are spread (:data:`VOICINGS`).
    comping : tuple of str
        Names of comping patterns it may play.
    bass : tuple of str
        Names of bass patterns it may play.
    voice : int
        For chorale voices: 1 = alto, 2 = tenor, 3 = bass.
    """

    name: str
    role: str
    program: int = 0
    range: tuple[int, int] = (36, 96)
    voicing: str = "close"
    comping: tuple[str, ...] = ()
    bass: tuple[str, ...] = ()
    voice: int = 0

    @property
    def is_drum(self) -> bool:
        """Plays on the GM percussion channel."""
        return self.role == "drums"


@dataclass(frozen=True)
class SectionStyle:
    """How the band plays one kind of section."""

    name: str
    energy: float = 0.7
    parts: tuple[str, ...] = ()
    groove: str = ""
    comping: dict[str, str] = field(default_factory=dict)
    bass: str = ""
    ending: bool = False


@dataclass(frozen=True)
class Comping:
    """A comping pattern: what the chord instrument plays in one bar."""

    name: str
    kind: str
    rhythm: str
    order: str = "up"


@dataclass(frozen=True)
class Groove:
    """A drum groove or fill: one step string per drum, one or two bars long."""

    name: str
    lines: dict[str, str]
    variations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Style:
    """A genre, as read from its TOML file (see ``docs/STYLES.md``)."""

    name: str
    description: str
    path: Path
    tempo_min: float
    tempo_max: float
    tempo_default: float
    numerator: int
    denominator: int
    swing: float
    swing_unit: float
    keys: tuple[str, ...]
    chromatic: bool
    chromatic_reason: str
    harmony_source: str
    harmonic_rhythm: tuple[float, ...]
    cadence: bool
    progressions: dict[str, tuple[str, ...]]
    structure: str
    loop_structure: str
    melody_range: tuple[int, int]
    melody_rhythms: tuple[str, ...]
    cadence_rhythm: str
    leap: int
    bass_lock: bool
    parts: tuple[Part, ...]
    sections: dict[str, SectionStyle]
    comping: dict[str, Comping]
    bass: dict[str, str]
    grooves: dict[str, Groove]
    fills: dict[str, Groove]
    #: ``source = "transitions"``: per mode (``major``/``minor``), ``{"start": {numeral: weight},
    #: numeral: {next numeral: weight}}`` — a chord table learned from a musician's pieces.
    transitions: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    #: The melody model's style tag for this style's tunes (``""``: chosen by the style's name).
    melody_tag: str = ""
    #: Files of a learned style by kind (:data:`LEARNED_FILES`), resolved beside the style file.
    learned: dict[str, Path] = field(default_factory=dict)
    #: ``[melody] repeat_penalty``: nats taken from the model's log-probability of repeating a pitch.
    repeat_penalty: float = 0.0
    #: ``[melody] duration_bias``: nats added to the melody model's log-probability of notes of so many ticks.
    duration_bias: dict[int, float] = field(default_factory=dict)
    #: ``[melody] interval_bias``: nats added to the melody model's log-probability of a step of so many semitones.
    interval_bias: dict[int, float] = field(default_factory=dict)
    #: ``[metres]``: the share of songs in this style's own metre, and the style in each other metre
    #: with its share (:func:`choose_metre` draws one per song).
    metre_weight: float = 1.0
    metre_variants: tuple[tuple[float, Style], ...] = ()

    @property
    def bar_beats(self) -> float:
        """Bar length in quarter-note beats."""
        return self.numerator * 4.0 / self.denominator

    def part(self, name: str) -> Part:
        """The part called ``name``."""
        for p in self.parts:
            if p.name == name:
                return p
        raise KeyError(name)

    def section(self, name: str) -> SectionStyle:
        """How a section is played; unknown names fall back to the verse (or the first section)."""
        if name in self.sections:
            return self.sections[name]
        fallback = {"a": "verse", "b": "chorus", "solo": "verse", "breakdown": "bridge", "prechorus": "verse"}
        alt = fallback.get(name, "verse")
        return self.sections.get(alt) or next(iter(self.sections.values()))


def user_styles_dir() -> Path:
    """Where user styles live: ``$TUNESMITH_STYLES`` or ``<data dir>/tunesmith/styles``."""
    env = os.environ.get("TUNESMITH_STYLES")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tunesmith" / "styles"


def style_paths() -> dict[str, Path]:
    """Every known style by name: built-in first, then user styles (a user style may not shadow one)."""
    found = {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.toml"))}
    user = user_styles_dir()
    if user.is_dir():
        for p in sorted(user.glob("*.toml")):
            found.setdefault(p.stem, p)
        for p in sorted(user.glob("*/style.toml")):  # learned styles: a folder per style
            found.setdefault(p.parent.name, p)
    return found


def list_styles() -> list[str]:
    """Names of the known styles, sorted."""
    return sorted(style_paths())


def get_style(name: str) -> Style:
    """Load a style by name or by path to a ``.toml`` file.

    Raises
    ------
    UsageError
        For an unknown name (the message lists the known ones).
    StyleError
        For a style file with a problem.
    """
    if name.endswith(".toml") or os.sep in name:
        return load_style(name)
    paths = style_paths()
    if name not in paths:
        raise UsageError(f"unknown style {name!r}; known styles: {', '.join(sorted(paths))}")
    return load_style(paths[name])


_CACHE: dict[tuple[str, float], Style] = {}


def load_style(path: str | os.PathLike[str]) -> Style:
    """Read and check a style file.

    Raises
    ------
    StyleError
        Naming the file and the first problem found.
    """
    p = Path(path)
    try:
        stamp = p.stat().st_mtime
    except OSError:
        raise StyleError("no such style file", p) from None
    cached = _CACHE.get((str(p), stamp))
    if cached is not None:
        return cached
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StyleError(f"not a valid TOML style file ({exc})", p) from None
    except RecursionError:  # arrays nested thousands deep
        raise StyleError("not a valid TOML style file (nested too deeply)", p) from None
    try:
        style = _build(doc, p)
    # AttributeError: a table written as a plain value; OverflowError: inf where an integer belongs.
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        msg = f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
        raise StyleError(msg, p) from None
    _CACHE[(str(p), stamp)] = style
    return style


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


def _pair(value: Any, what: str) -> tuple[int, int]:
    _need(isinstance(value, list) and len(value) == 2, f"{what} must be [low, high]")
    lo, hi = int(value[0]), int(value[1])
    _need(0 <= lo < hi <= 127, f"{what} must be MIDI notes with low < high, got {value}")
    return lo, hi


def _steps(text: Any, pattern: re.Pattern[str], what: str) -> str:
    _need(isinstance(text, str), f"{what} must be a string")
    # "|" separates the bars of a multi-bar pattern and is kept; spaces are only for reading.
    compact = text.replace(" ", "").strip("|")
    body = compact.replace("|", "")
    _need(bool(body) and pattern.match(body) is not None, f"{what}: unexpected character in {text!r}")
    return compact


def _build(doc: dict[str, Any], path: Path) -> Style:
    name = str(doc.get("name", path.stem if path.name != "style.toml" else path.parent.name))
    tempo = doc["tempo"]
    tmin, tmax = float(tempo["min"]), float(tempo["max"])
    tdef = float(tempo.get("default", (tmin + tmax) / 2))
    _need(30 <= tmin <= tdef <= tmax <= 300, f"tempo needs 30 <= min <= default <= max <= 300, got {tempo}")
    metre = str(doc.get("metre", "4/4"))
    m = re.match(r"^(\d+)/(1|2|4|8|16)$", metre)
    _need(m is not None, f"metre must look like 4/4 or 12/8, got {metre!r}")
    assert m is not None
    num, den = int(m.group(1)), int(m.group(2))
    swing = float(doc.get("swing", 0.0))
    _need(0.0 <= swing <= 1.0, f"swing must be 0..1, got {swing}")
    swing_unit = float(doc.get("swing_unit", 0.5))
    _need(swing_unit in (0.25, 0.5), f"swing_unit must be 0.5 (eighths) or 0.25 (sixteenths), got {swing_unit}")
    keys = tuple(str(k) for k in doc.get("keys", ["C"]))
    for k in keys:
        try:
            Key.parse(k)
        except ValueError as exc:
            raise ValueError(f"keys: {exc}") from None

    harmony = doc.get("harmony", {})
    source = str(harmony.get("source", "progressions"))
    _need(source in HARMONY_SOURCES, f"harmony.source must be one of {', '.join(HARMONY_SOURCES)}, got {source!r}")
    rhythm = tuple(float(r) for r in harmony.get("rhythm", [num * 4.0 / den]))
    _need(all(r > 0 for r in rhythm), "harmony.rhythm must list positive beat lengths")
    progressions: dict[str, tuple[str, ...]] = {}
    for sec, items in harmony.get("progressions", {}).items():
        progressions[sec] = tuple(str(s) for s in items)
        for prog in progressions[sec]:
            for token in prog.split():
                numeral = token.split(":")[0]
                try:
                    parse_roman(numeral, Key(0))
                except ChordParseError as exc:
                    raise ValueError(f"harmony.progressions.{sec}: {exc}") from None
    _need(source != "progressions" or bool(progressions), "harmony.source 'progressions' needs harmony.progressions")
    transitions = _transitions(harmony.get("transitions", {}))
    _need(source != "transitions" or bool(transitions), "harmony.source 'transitions' needs harmony.transitions")

    structure = doc.get("structure", {})
    default_structure = str(structure.get("default", "verse:8 chorus:8"))
    loop_structure = str(structure.get("loop", "loop:8"))
    for text in (default_structure, loop_structure):
        for token in text.split():
            _need(_STRUCTURE_RE.match(token) is not None, f"structure: {token!r} is not name:bars")

    melody = doc.get("melody", {})
    rhythms = tuple(
        _steps(r, _RHYTHM_RE, "melody.rhythms").replace("|", "") for r in melody.get("rhythms", ["x---x---x---x---"])
    )
    cadence_rhythm = _steps(melody.get("cadence_rhythm", "x-------x-------"), _RHYTHM_RE, "melody.cadence_rhythm")
    cadence_rhythm = cadence_rhythm.replace("|", "")
    melody_tag = str(melody.get("tag", ""))
    _need(not melody_tag or melody_tag in MELODY_TAGS, f"melody.tag must be one of {', '.join(MELODY_TAGS)}")
    repeat_penalty = float(melody.get("repeat_penalty", 0.0))
    _need(-10.0 <= repeat_penalty <= 10.0, f"melody.repeat_penalty must be -10..10 nats, got {repeat_penalty}")
    interval_bias = {int(k): float(v) for k, v in melody.get("interval_bias", {}).items()}
    for step, nats in interval_bias.items():
        _need(
            -12 <= step <= 12 and -10.0 <= nats <= 10.0,
            f"melody.interval_bias: {step} = {nats} (-12..12, -10..10 nats)",
        )
    duration_bias = {int(k): float(v) for k, v in melody.get("duration_bias", {}).items()}
    for ticks, nats in duration_bias.items():
        _need(
            1 <= ticks <= 96 and -10.0 <= nats <= 10.0,
            f"melody.duration_bias: {ticks} = {nats} (ticks 1..96, -10..10 nats)",
        )
    learned: dict[str, Path] = {}
    for kind, value in doc.get("learned", {}).items():
        _need(kind in LEARNED_FILES, f"learned.{kind}: unknown entry (known: {', '.join(LEARNED_FILES)})")
        _need(isinstance(value, str) and "/" not in value and "\\" not in value, f"learned.{kind} must be a file name")
        learned[kind] = path.parent / value
        _need(learned[kind].is_file(), f"learned.{kind}: {value} is missing beside the style file")

    comping = {}
    for cname, c in doc.get("comping", {}).items():
        kind = str(c.get("kind", "block"))
        _need(kind in COMPING_KINDS, f"comping.{cname}.kind must be one of {', '.join(COMPING_KINDS)}")
        order = str(c.get("order", "up"))
        _need(order in ("up", "down", "updown", "random"), f"comping.{cname}.order must be up|down|updown|random")
        comping[cname] = Comping(cname, kind, _steps(c["rhythm"], _RHYTHM_RE, f"comping.{cname}.rhythm"), order)
    bass = {bname: _steps(b["steps"], _BASS_RE, f"bass.{bname}.steps") for bname, b in doc.get("bass", {}).items()}

    def grooves(table: dict[str, Any], what: str) -> dict[str, Groove]:
        out = {}
        for gname, g in table.items():
            lines = {}
            for drum, steps in g.items():
                if drum == "variations":
                    continue
                _need(drum in DRUM_KEYS, f"{what}.{gname}: unknown drum {drum!r} (known: {', '.join(DRUM_KEYS)})")
                lines[drum] = _steps(steps, _DRUM_RE, f"{what}.{gname}.{drum}")
            _need(bool(lines), f"{what}.{gname} has no drum lines")
            out[gname] = Groove(gname, lines, tuple(g.get("variations", ())))
        return out

    groove_table, fill_table = grooves(doc.get("grooves", {}), "grooves"), grooves(doc.get("fills", {}), "fills")
    for g in groove_table.values():
        for v in g.variations:
            _need(v in groove_table, f"grooves.{g.name}: unknown variation {v!r}")

    parts = []
    for pname, p in doc["parts"].items():
        role = str(p["role"])
        _need(role in ROLES, f"parts.{pname}.role must be one of {', '.join(ROLES)}, got {role!r}")
        if role == "drums":
            kit = str(p.get("kit", "standard"))
            _need(kit in KITS, f"parts.{pname}.kit must be one of {', '.join(KITS)}")
            parts.append(Part(pname, role, KITS[kit], (35, 81)))
            continue
        program = int(p.get("program", 0))
        _need(0 <= program <= 127, f"parts.{pname}.program must be 0..127")
        voicing = str(p.get("voicing", "close"))
        _need(voicing in VOICINGS, f"parts.{pname}.voicing must be one of {', '.join(VOICINGS)}")
        comp = tuple(str(c) for c in p.get("comping", ()))
        for c in comp:
            _need(c in comping, f"parts.{pname}: unknown comping pattern {c!r}")
        basses = tuple(str(b) for b in p.get("bass", ()))
        for b in basses:
            _need(b in bass, f"parts.{pname}: unknown bass pattern {b!r}")
        _need(role not in ("chords", "pad") or bool(comp), f"parts.{pname}: a {role} part needs comping patterns")
        _need(role != "bass" or bool(basses), f"parts.{pname}: a bass part needs bass patterns")
        parts.append(
            Part(
                pname,
                role,
                program,
                _pair(p.get("range", [36, 96]), f"parts.{pname}.range"),
                voicing,
                comp,
                basses,
                int(p.get("voice", 0)),
            )
        )
    _need(bool(parts), "a style needs at least one part")
    part_names = {p.name for p in parts}
    if any(p.is_drum for p in parts):
        _need(bool(groove_table), "a style with drums needs [grooves]")

    sections = {}
    for sname, s in doc.get("sections", {}).items():
        sparts = tuple(str(x) for x in s.get("parts", sorted(part_names)))
        for x in sparts:
            _need(x in part_names, f"sections.{sname}: unknown part {x!r}")
        groove = str(s.get("groove", ""))
        _need(not groove or groove in groove_table, f"sections.{sname}: unknown groove {groove!r}")
        comp_map = {str(k): str(v) for k, v in s.get("comping", {}).items()}
        for k, v in comp_map.items():
            _need(k in part_names and v in comping, f"sections.{sname}.comping: {k} = {v!r} is not a part and pattern")
        sb = str(s.get("bass", ""))
        _need(not sb or sb in bass, f"sections.{sname}: unknown bass pattern {sb!r}")
        energy = float(s.get("energy", 0.7))
        _need(0.0 <= energy <= 1.0, f"sections.{sname}.energy must be 0..1")
        sections[sname] = SectionStyle(sname, energy, sparts, groove, comp_map, sb, bool(s.get("ending", False)))
    _need(bool(sections), "a style needs [sections.*]")

    return Style(
        name=name,
        description=str(doc.get("description", "")),
        path=path,
        tempo_min=tmin,
        tempo_max=tmax,
        tempo_default=tdef,
        numerator=num,
        denominator=den,
        swing=swing,
        swing_unit=swing_unit,
        keys=keys,
        chromatic=bool(doc.get("chromatic", False)),
        chromatic_reason=str(doc.get("chromatic_reason", "")),
        harmony_source=source,
        harmonic_rhythm=rhythm,
        cadence=bool(harmony.get("cadence", True)),
        progressions=progressions,
        structure=default_structure,
        loop_structure=loop_structure,
        melody_range=_pair(melody.get("range", [60, 79]), "melody.range"),
        melody_rhythms=rhythms,
        cadence_rhythm=cadence_rhythm,
        leap=int(melody.get("leap", 5)),
        bass_lock=bool(doc.get("bass_lock", True)),
        parts=tuple(parts),
        sections=sections,
        comping=comping,
        bass=bass,
        grooves=groove_table,
        fills=fill_table,
        transitions=transitions,
        melody_tag=melody_tag,
        learned=learned,
        repeat_penalty=repeat_penalty,
        duration_bias=duration_bias,
        interval_bias=interval_bias,
        **_metres(doc, path, metre),
    )


#: Tables of a ``[metres."6/8"]`` entry merged into the style's own, entry by entry; any other
#: table it names (parts, sections, comping, bass, grooves, fills, structure) replaces the style's.
MERGED_IN_VARIANTS = ("tempo", "harmony", "melody")
_REPLACED_IN_VARIANTS = ("structure", "parts", "sections", "comping", "bass", "grooves", "fills")
_VARIANT_KEYS = ("weight", *MERGED_IN_VARIANTS, *_REPLACED_IN_VARIANTS)


def _metres(doc: dict[str, Any], path: Path, metre: str) -> dict[str, Any]:
    """``metre_weight`` and ``metre_variants`` from a ``[metres]`` table (a style that writes in several metres).

    Each entry is a metre with its ``weight`` (share of songs); the style's own metre holds its
    weight only, every other entry the tables that differ in that metre (see ``docs/STYLES.md``).
    """
    table = doc.get("metres")
    if table is None:
        return {}
    _need(isinstance(table, dict) and bool(table), "metres must be a table of metre = { weight = … }")
    _need(metre in table, f"metres must list the style's own metre {metre!r}")
    weight, variants = 1.0, []
    for text, entry in table.items():
        what = f"metres.{text!r}"
        _need(isinstance(entry, dict) and "weight" in entry, f"{what} needs a weight")
        w = float(entry["weight"])
        _need(0.0 < w < float("inf"), f"{what}.weight must be positive, got {w}")
        unknown = sorted(set(entry) - set(_VARIANT_KEYS))
        _need(not unknown, f"{what}: unknown entry {', '.join(unknown)} (known: {', '.join(_VARIANT_KEYS)})")
        if text == metre:
            _need(len(entry) == 1, f"{what} is the style's own metre: it holds its weight only")
            weight = w
            continue
        sub = {k: v for k, v in doc.items() if k != "metres"}
        for k, v in entry.items():
            if k == "weight":
                continue
            merge = k in MERGED_IN_VARIANTS and isinstance(v, dict) and isinstance(sub.get(k), dict)
            sub[k] = {**sub[k], **v} if merge else v
        sub["metre"] = text
        try:
            variants.append((w, _build(sub, path)))
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            msg = f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
            raise ValueError(f"{what}: {msg}") from None
    return {"metre_weight": weight, "metre_variants": tuple(variants)}


def choose_metre(style: Style, rng: Any) -> Style:
    """The style in one of its metres, drawn by their shares (``style`` itself when it has one metre).

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws once, and only when the style has other metres.
    """
    if not style.metre_variants:
        return style
    weights = [style.metre_weight, *(w for w, _ in style.metre_variants)]
    pick = float(rng.random()) * sum(weights)
    for i, w in enumerate(weights):
        pick -= w
        if pick < 0:
            return style if i == 0 else style.metre_variants[i - 1][1]
    return style.metre_variants[-1][1]


def _transitions(table: Any) -> dict[str, dict[str, dict[str, float]]]:
    """Check ``[harmony.transitions.<mode>]``: numerals that parse, positive weights, a ``start`` row."""
    _need(isinstance(table, dict), "harmony.transitions must be a table of modes")
    out: dict[str, dict[str, dict[str, float]]] = {}
    for mode, rows in table.items():
        what = f"harmony.transitions.{mode}"
        _need(mode in ("major", "minor"), f"{what}: the mode must be major or minor")
        _need(isinstance(rows, dict) and isinstance(rows.get("start"), dict), f"{what} needs a start table")
        clean: dict[str, dict[str, float]] = {}
        for numeral, nexts in rows.items():
            _need(isinstance(nexts, dict) and bool(nexts), f"{what}.{numeral} must be a table of numeral = weight")
            for n in [numeral, *nexts] if numeral != "start" else list(nexts):
                try:
                    parse_roman(n, Key(0, mode))
                except ChordParseError as exc:
                    raise ValueError(f"{what}: {exc}") from None
            weights = {str(k): float(v) for k, v in nexts.items()}
            _need(all(w > 0 for w in weights.values()), f"{what}.{numeral}: weights must be positive")
            clean[str(numeral)] = weights
        out[mode] = clean
    return out
