"""Chord progressions: learned from POP909, from a style's list, by jazz and blues grammars, or the user's.

Every generator returns a list of :class:`Slot` — a chord with its start and length
in beats — for one section. Sections are built phrase by phrase (four bars), the
second phrase repeating the first with its ending varied, and the last chord of a
section made a cadence: a half cadence (V) before a contrasting section, a full
one (V–I or IV–I) where a chorus or the song ends. Choruses open on a different
chord than verses so the two contrast.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from tunesmith.compose.style import Style
from tunesmith.errors import UsageError
from tunesmith.score.theory import Chord, ChordParseError, Key, detect_key, parse_chord, parse_roman, roman_numeral

MODEL_PATH = Path(__file__).with_name("data") / "progressions.json"
PHRASE_BARS = 4
# Sections that end on a full cadence; the others end on the dominant (a half cadence).
_CLOSING = ("chorus", "outro", "b", "loop")


@dataclass(frozen=True)
class Slot:
    """A chord for a span of time (beats from the song's start)."""

    start: float
    duration: float
    chord: Chord

    @property
    def end(self) -> float:
        """End, beats."""
        return self.start + self.duration


@cache
def progression_model() -> dict:
    """The POP909 chord statistics written by ``scripts/train_progressions.py``."""
    return json.loads(MODEL_PATH.read_text())


def model_id() -> dict[str, str]:
    """Identity of the learned progression model, for recipes."""
    import hashlib

    return {"id": "pop909-progressions", "sha256": hashlib.sha256(MODEL_PATH.read_bytes()).hexdigest()}


def parse_chord_list(text: str, bar_beats: float) -> list[tuple[Chord, float]]:
    """Read ``--chords "C G Am F"``: symbols a bar each, ``G:2`` for two beats, ``|`` ignored.

    Raises
    ------
    UsageError
        For an unreadable chord or length (names the chord).
    """
    out = []
    for token in text.replace("|", " ").replace(",", " ").split():
        symbol, _, length = token.partition(":")
        try:
            chord = parse_chord(symbol)
        except ChordParseError as exc:
            raise UsageError(f"--chords: {exc}") from None
        if chord is None:
            raise UsageError(f"--chords: {symbol!r} (no chord) cannot be played; give a chord symbol")
        try:
            beats = float(length) if length else bar_beats
        except ValueError:
            raise UsageError(f"--chords: bad length {length!r} in {token!r} (beats, e.g. G:2)") from None
        if not 0 < beats <= 64:
            raise UsageError(f"--chords: length of {token!r} must be 0 < beats <= 64")
        out.append((chord, beats))
    if not out:
        raise UsageError("--chords: no chords given")
    return out


def key_of_chords(chords: list[tuple[Chord, float]]) -> Key:
    """The key a chord list implies (Krumhansl–Schmuckler on its chord tones, roots weighted double)."""
    hist = np.zeros(12)
    for chord, beats in chords:
        for i, pc in enumerate(chord.pitch_classes):
            hist[pc] += beats * (2.0 if i == 0 else 1.0)
    return detect_key(hist)[0]


def _bar_rhythm(style: Style, rng: np.random.Generator, bars: int) -> list[list[float]]:
    """Chord lengths (beats) per bar for a phrase: each bar holds one chord, two, or is held over."""
    bar = style.bar_beats
    out: list[list[float]] = []
    choice = [float(r) for r in style.harmonic_rhythm]
    while len(out) < bars:
        r = choice[int(rng.integers(len(choice)))]
        if r >= bar:  # one chord across several bars
            n = max(1, min(round(r / bar), bars - len(out)))
            out.append([bar * n])
            out.extend([] for _ in range(n - 1))
        else:
            k = max(1, round(bar / r))
            out.append([bar / k] * k)
    return out


def _lengths(rhythm: list[list[float]]) -> list[float]:
    return [d for bar in rhythm for d in bar]


def _head(numeral: str) -> str:
    """The root part of a numeral, case-blind (``V7`` and ``Vsus4`` are both ``V``)."""
    m = re.match(r"^[b#]?[IViv]+", numeral)
    return (m.group(0) if m else numeral).upper()


def _sample(
    weights: dict[str, float], rng: np.random.Generator, avoid: set[str] = frozenset(), temp: float = 1.0
) -> str:
    """Draw a numeral from ``weights`` (sharpened or flattened by ``temp``), skipping roots in ``avoid``."""
    heads = {_head(a) for a in avoid}
    items = [(k, v) for k, v in weights.items() if _head(k) not in heads] or list(weights.items())
    p = np.array([v for _, v in items], dtype=np.float64) ** (1.0 / temp)
    p /= p.sum()
    return items[int(rng.choice(len(items), p=p))][0]


def _outside_key(numeral: str, key: Key) -> int:
    """How many of a numeral's chord tones lie outside the key's scale."""
    return sum(1 for pc in parse_roman(numeral, key).pitch_classes if pc not in key.scale)


def _diatonic(table: dict[str, float], key: Key, limit: int) -> dict[str, float]:
    """``table`` without chords that bring more than ``limit`` notes from outside the key."""
    kept = {k: v for k, v in table.items() if _outside_key(k, key) <= limit}
    return kept or table


def _learned_phrase(
    mode_model: dict, n: int, first: str | None, rng: np.random.Generator, key: Key, chromatic: bool
) -> list[str]:
    """``n`` numerals from the second-order chain, backing off to first order; no chord repeats itself.

    Unless the style is chromatic, chords bringing two or more notes from outside the key
    (POP909 has a few, e.g. a major III) are left out: one borrowed note (bVII, iv in
    major, V in minor) keeps the song in its key; two pull it elsewhere.
    """
    limit = 12 if chromatic else 1
    seq = [first or _sample(_diatonic(mode_model["start"], key, limit), rng, temp=1.3)]
    while len(seq) < n:
        prev = seq[-1]
        context = f"{seq[-2]} {prev}" if len(seq) >= 2 else ""
        table = mode_model["second_order"].get(context) or mode_model["first_order"].get(prev) or mode_model["start"]
        table = _diatonic(table, key, limit)
        # No chord repeats itself, and A-B-A ping-pong is mostly avoided: it sounds stuck.
        avoid = {prev} | ({seq[-2]} if len(seq) >= 2 and rng.random() < 0.75 else set())
        seq.append(_sample(table, rng, avoid=avoid, temp=1.2))
    return seq


def _cadence(numerals: list[str], mode: str, closing: bool, rng: np.random.Generator) -> list[str]:
    """End a phrase on a cadence: ``… V I`` / ``… IV I`` when closing, ``… V`` (half cadence) otherwise."""
    tonic, dominant = ("i", "V") if mode == "minor" else ("I", "V")
    out = list(numerals)
    if closing:
        if len(out) >= 2:
            out[-2] = dominant if rng.random() < 0.7 else ("iv" if mode == "minor" else "IV")
        out[-1] = tonic
    else:
        out[-1] = dominant
        if len(out) >= 2 and _head(out[-2]) == "V":
            out[-2] = "iv" if mode == "minor" else "IV"
    return out


def _learned_section(style: Style, key: Key, name: str, bars: int, rng: np.random.Generator) -> list[tuple[str, float]]:
    model = progression_model()["minor" if key.mode == "minor" else "major"]
    tonic = "i" if key.mode == "minor" else "I"
    # Verses start at home; choruses and bridges open elsewhere so they contrast with the verse.
    openers = {"verse": [tonic], "intro": [tonic], "a": [tonic], "loop": [tonic]}
    contrast = ["IV", "vi", "IV", "ii"] if key.mode != "minor" else ["VI", "iv", "VI", "III"]
    first = openers.get(name, [contrast[int(rng.integers(len(contrast)))]])[0]
    if name in ("bridge", "solo", "breakdown"):
        first = contrast[(int(rng.integers(len(contrast))) + 1) % len(contrast)]
    phrase_bars = min(PHRASE_BARS, bars)
    rhythm = _bar_rhythm(style, rng, phrase_bars)
    lengths = _lengths(rhythm)
    phrase = _learned_phrase(model, len(lengths), first, rng, key, style.chromatic)
    return _fill_section(phrase, lengths, bars, phrase_bars, name, key, style, rng)


def _style_table(style: Style, key: Key) -> dict:
    """The chain a ``transitions`` style samples from in ``key``: its own table for the key's mode, in
    the shape of :func:`progression_model`'s (no second order); POP909's when the style has none."""
    mode = "minor" if key.mode == "minor" else "major"
    rows = style.transitions.get(mode)
    if not rows:
        return progression_model()[mode]
    return {"start": rows["start"], "first_order": {k: v for k, v in rows.items() if k != "start"}, "second_order": {}}


def _table_section(style: Style, key: Key, name: str, bars: int, rng: np.random.Generator) -> list[tuple[str, float]]:
    """A section from a learned style's own chord table (``tunesmith learn``): its first chord from the
    table's openings (the tonic for a first section where the musician opens there), then the chain."""
    model = _style_table(style, key)
    tonic = "i" if key.mode == "minor" else "I"
    starts = model["start"]
    if name in ("verse", "intro", "a", "loop") and tonic in starts:
        first = tonic
    else:
        others = {k: v for k, v in starts.items() if k != tonic} or starts
        first = _sample(_diatonic(others, key, 12 if style.chromatic else 1), rng, temp=1.3)
    phrase_bars = min(PHRASE_BARS, bars)
    lengths = _lengths(_bar_rhythm(style, rng, phrase_bars))
    phrase = _learned_phrase(model, len(lengths), first, rng, key, style.chromatic)
    return _fill_section(phrase, lengths, bars, phrase_bars, name, key, style, rng)


def _fill_section(
    phrase: list[str],
    lengths: list[float],
    bars: int,
    phrase_bars: int,
    name: str,
    key: Key,
    style: Style,
    rng: np.random.Generator,
) -> list[tuple[str, float]]:
    """Repeat a phrase to fill the section, varying the repeats' endings and closing with a cadence."""
    out: list[tuple[str, float]] = []
    n_phrases = math.ceil(bars / phrase_bars)
    for i in range(n_phrases):
        numerals = list(phrase)
        last = i == n_phrases - 1
        if style.cadence:
            # Odd phrases end open (half cadence), the section's last closes per its role.
            numerals = _cadence(numerals, key.mode, closing=(last and name in _CLOSING), rng=rng)
        out.extend(zip(numerals, lengths, strict=True))
    # Trim to the section's length (a section need not be a whole number of phrases).
    total, trimmed = bars * style.bar_beats, []
    t = 0.0
    for numeral, d in out:
        if t >= total - 1e-9:
            break
        trimmed.append((numeral, min(d, total - t)))
        t += d
    return trimmed


def _list_section(style: Style, key: Key, name: str, bars: int, rng: np.random.Generator) -> list[tuple[str, float]]:
    table = style.progressions
    choices = table.get(name) or table.get(style.section(name).name) or table.get("verse") or next(iter(table.values()))
    prog = choices[int(rng.integers(len(choices)))]
    tokens = []
    for token in prog.split():
        numeral, _, length = token.partition(":")
        tokens.append((numeral, float(length) if length else None))
    rhythm = _bar_rhythm(style, rng, bars)
    default = _lengths(rhythm)[0] if rhythm and rhythm[0] else style.bar_beats
    phrase = [(n, d if d is not None else default) for n, d in tokens]
    phrase_beats = sum(d for _, d in phrase)
    total = bars * style.bar_beats
    out: list[tuple[str, float]] = []
    t, rep = 0.0, 0
    while t < total - 1e-9:
        for numeral, d in phrase:
            if t >= total - 1e-9:
                break
            out.append((numeral, min(d, total - t)))
            t += d
        rep += 1
        if phrase_beats <= 0:
            break
    if style.cadence and name in _CLOSING and len(out) >= 2 and key.mode in ("major", "minor"):
        numerals = _cadence([n for n, _ in out], key.mode, True, rng)
        out = list(zip(numerals, [d for _, d in out], strict=True))
    return out


# Jazz: units of a ii-V-I grammar (numeral:beats); a section is built from them and ends on a cadence.
_JAZZ_UNITS_MAJOR = (
    "Imaj7:4",
    "I6:4",
    "ii7:2 V7:2",
    "ii7:4 V7:4",
    "iii7:2 VI7:2",
    "Imaj7:2 vi7:2",
    "IVmaj7:4",
    "iv7:2 bVII7:2",  # backdoor
    "II7:4",  # V of V
    "ii7:2 bII7:2",  # tritone substitute of V
    "#ivø7:2 VII7:2",
)
_JAZZ_UNITS_MINOR = ("i7:4", "i6:4", "iiø7:2 V7:2", "VImaj7:4", "iv7:4", "iiø7:4 V7:4", "bII7:2 V7:2", "III7:4")
_JAZZ_CADENCE = {"major": "ii7:2 V7:2 Imaj7:4", "minor": "iiø7:2 V7:2 i6:4"}
_JAZZ_TURNAROUND = {"major": "Imaj7:2 vi7:2 ii7:2 V7:2", "minor": "i7:2 VI7:2 iiø7:2 V7:2"}


def _tokens(text: str) -> list[tuple[str, float]]:
    return [(t.split(":")[0], float(t.split(":")[1])) for t in text.split()]


def _jazz_section(style: Style, key: Key, name: str, bars: int, rng: np.random.Generator) -> list[tuple[str, float]]:
    mode = "minor" if key.mode == "minor" else "major"
    units = _JAZZ_UNITS_MINOR if mode == "minor" else _JAZZ_UNITS_MAJOR
    total = bars * style.bar_beats
    ending = _tokens(_JAZZ_CADENCE[mode] if name in _CLOSING else _JAZZ_TURNAROUND[mode])
    ending_beats = sum(d for _, d in ending)
    body: list[tuple[str, float]] = [("i7" if mode == "minor" else "Imaj7", style.bar_beats)]
    t = style.bar_beats
    while t < total - ending_beats - 1e-9:
        unit = _tokens(units[int(rng.integers(len(units)))])
        # Repeat the opening half of a long section as its second half: AABA-like return.
        for numeral, d in unit:
            if t >= total - ending_beats - 1e-9:
                break
            d = min(d, total - ending_beats - t)
            body.append((numeral, d))
            t += d
    if ending_beats > total:
        return _clip(ending, total)
    return _clip(body, total - ending_beats) + ending


def _clip(seq: list[tuple[str, float]], total: float) -> list[tuple[str, float]]:
    out, t = [], 0.0
    for n, d in seq:
        if t >= total - 1e-9:
            break
        out.append((n, min(d, total - t)))
        t += d
    return out


_BLUES_FORMS = {
    "major": (
        "I7 I7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7",  # the basic 12-bar
        "I7 IV7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7",  # quick change
        "I7 IV7 I7 I7 IV7 IV7 I7 VI7 ii7 V7 I7 V7",  # with a ii-V
    ),
    "minor": (
        "i7 i7 i7 i7 iv7 iv7 i7 i7 bVI7 V7 i7 V7",
        "i7 iv7 i7 i7 iv7 iv7 i7 i7 bVI7 V7 i7 V7",
    ),
}


def _blues_section(style: Style, key: Key, name: str, bars: int, rng: np.random.Generator) -> list[tuple[str, float]]:
    mode = "minor" if key.mode == "minor" else "major"
    forms = _BLUES_FORMS[mode]
    bar = style.bar_beats
    out: list[tuple[str, float]] = []
    if bars < 12:  # intros and outros: the form's last bars (the turnaround) or its first
        form = forms[0].split()
        tail = form[12 - bars :] if name != "outro" else form[:bars]
        if name in ("outro", "loop") and tail:
            tail[-1] = "i7" if mode == "minor" else "I7"
        return [(n, bar) for n in tail]
    for chorus in range(bars // 12):
        form = forms[int(rng.integers(len(forms)))].split()
        if chorus == bars // 12 - 1 and name in ("outro",):
            form[-1] = form[0]
        out.extend((n, bar) for n in form)
    out.extend((n, bar) for n in forms[0].split()[: bars % 12])
    return out


_SOURCES = {
    "learned": _learned_section,
    "progressions": _list_section,
    "jazz": _jazz_section,
    "blues": _blues_section,
    "transitions": _table_section,
}


def section_progression(
    style: Style, key: Key, name: str, bars: int, rng: np.random.Generator, memory: dict[str, list[tuple[str, float]]]
) -> list[tuple[Chord, float]]:
    """Chords (with lengths in beats) for one section of ``bars`` bars.

    A section name seen before returns its earlier progression with light variation
    (a repeated verse is recognisably the same verse), so the form is heard.
    """
    if name in memory and sum(d for _, d in memory[name]) >= bars * style.bar_beats - 1e-9:
        numerals = _clip(memory[name], bars * style.bar_beats)
        varied = ("learned", "progressions", "transitions")
        if style.harmony_source in varied and len(numerals) >= 4 and rng.random() < 0.5:
            # Vary the repeat: re-pick one chord in the middle from the learned transitions.
            i = int(rng.integers(1, len(numerals) - 2))
            if style.harmony_source == "transitions":
                model = _style_table(style, key)
            else:
                model = progression_model()["minor" if key.mode == "minor" else "major"]
            table = _diatonic(model["first_order"].get(numerals[i - 1][0], {}), key, 12 if style.chromatic else 1)
            nxt = numerals[i + 1][0]
            candidates = {k: v * (model["first_order"].get(k, {}).get(nxt, 0) + 1) for k, v in table.items()}
            if candidates:
                numerals[i] = (_sample(candidates, rng, avoid={numerals[i - 1][0], nxt}), numerals[i][1])
    else:
        numerals = _SOURCES[style.harmony_source](style, key, name, bars, rng)
        memory[name] = numerals
    return [(parse_roman(n, key), d) for n, d in numerals]


def numerals_of(chords: list[tuple[Chord, float]], key: Key) -> list[str]:
    """Roman numerals of a chord list in ``key`` (for reports)."""
    return [roman_numeral(c, key) for c, _ in chords]
