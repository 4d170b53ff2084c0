"""Music theory: pitch classes, intervals, scales, chord symbols, roman numerals, key finding.

Chord symbols are read in two spellings — lead-sheet (``Cmaj7``, ``F#m7b5``,
``Bb/D``, ``Gsus4``, ``C6``, ``Cadd9``) and Harte/POP909 (``C:maj7``,
``F#:hdim7``, ``Bb:maj/3``, ``G:sus4(b7)``, ``N`` for no chord) — into one
:class:`ChordQuality` vocabulary, and printed in lead-sheet form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from tunesmith.audio.keys import KRUMHANSL_MAJOR, KRUMHANSL_MINOR

SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

#: Scales and modes as semitone steps from the tonic.
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),  # natural minor / aeolian
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "melodic_minor": (0, 2, 3, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "major_pentatonic": (0, 2, 4, 7, 9),
    "minor_pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
}

#: Chord qualities: canonical name -> (intervals above the root, lead-sheet suffix).
CHORD_QUALITIES: dict[str, tuple[tuple[int, ...], str]] = {
    "maj": ((0, 4, 7), ""),
    "min": ((0, 3, 7), "m"),
    "7": ((0, 4, 7, 10), "7"),
    "maj7": ((0, 4, 7, 11), "maj7"),
    "min7": ((0, 3, 7, 10), "m7"),
    "minmaj7": ((0, 3, 7, 11), "m(maj7)"),
    "hdim7": ((0, 3, 6, 10), "m7b5"),
    "dim": ((0, 3, 6), "dim"),
    "dim7": ((0, 3, 6, 9), "dim7"),
    "aug": ((0, 4, 8), "aug"),
    "sus2": ((0, 2, 7), "sus2"),
    "sus4": ((0, 5, 7), "sus4"),
    "7sus4": ((0, 5, 7, 10), "7sus4"),
    "maj6": ((0, 4, 7, 9), "6"),
    "min6": ((0, 3, 7, 9), "m6"),
    "add9": ((0, 4, 7, 14), "add9"),
    "9": ((0, 4, 7, 10, 14), "9"),
    "maj9": ((0, 4, 7, 11, 14), "maj9"),
    "min9": ((0, 3, 7, 10, 14), "m9"),
    "11": ((0, 4, 7, 10, 14, 17), "11"),
    "min11": ((0, 3, 7, 10, 14, 17), "m11"),
    "13": ((0, 4, 7, 10, 14, 21), "13"),
}

# Lead-sheet suffixes (and common variants) -> canonical quality. Longest match wins.
_LEAD_SHEET = {
    "": "maj",
    "maj": "maj",
    "M": "maj",
    "m": "min",
    "min": "min",
    "-": "min",
    "7": "7",
    "dom7": "7",
    "maj7": "maj7",
    "M7": "maj7",
    "Δ": "maj7",
    "Δ7": "maj7",
    "m7": "min7",
    "min7": "min7",
    "-7": "min7",
    "m(maj7)": "minmaj7",
    "mMaj7": "minmaj7",
    "minmaj7": "minmaj7",
    "m7b5": "hdim7",
    "ø": "hdim7",
    "ø7": "hdim7",
    "hdim7": "hdim7",
    "dim": "dim",
    "°": "dim",
    "o": "dim",
    "dim7": "dim7",
    "°7": "dim7",
    "o7": "dim7",
    "aug": "aug",
    "+": "aug",
    "sus2": "sus2",
    "sus4": "sus4",
    "sus": "sus4",
    "7sus4": "7sus4",
    "7sus": "7sus4",
    "6": "maj6",
    "maj6": "maj6",
    "m6": "min6",
    "min6": "min6",
    "add9": "add9",
    "9": "9",
    "maj9": "maj9",
    "M9": "maj9",
    "m9": "min9",
    "min9": "min9",
    "11": "11",
    "m11": "min11",
    "min11": "min11",
    "13": "13",
}
# Harte (POP909) qualities -> canonical.
_HARTE = {
    "maj": "maj",
    "min": "min",
    "7": "7",
    "maj7": "maj7",
    "min7": "min7",
    "minmaj7": "minmaj7",
    "hdim7": "hdim7",
    "dim": "dim",
    "dim7": "dim7",
    "aug": "aug",
    "sus2": "sus2",
    "sus4": "sus4",
    "sus4(b7)": "7sus4",
    "maj6": "maj6",
    "min6": "min6",
    "9": "9",
    "maj9": "maj9",
    "min9": "min9",
    "11": "11",
    "13": "13",
    "": "maj",
}
# Harte bass degrees -> semitones above the root.
_DEGREE = {
    "1": 0,
    "b2": 1,
    "2": 2,
    "b3": 3,
    "3": 4,
    "4": 5,
    "#4": 6,
    "b5": 6,
    "5": 7,
    "#5": 8,
    "b6": 8,
    "6": 9,
    "bb7": 9,
    "b7": 10,
    "7": 11,
    "9": 2,
    "b9": 1,
}

_ROOT_RE = re.compile(r"^([A-Ga-g])([#b♯♭]*)")


class ChordParseError(ValueError):
    """A chord symbol that cannot be read."""


def parse_pitch_class(name: str) -> int:
    """Pitch class 0–11 of a note name such as ``C``, ``F#``, ``Bb``, ``Ebb``.

    Raises
    ------
    ValueError
        For anything else.
    """
    m = _ROOT_RE.match(name.strip())
    if not m or m.end() != len(name.strip()):
        raise ValueError(f"not a note name: {name!r}")
    pc = _LETTER[m.group(1).upper()]
    for acc in m.group(2):
        pc += 1 if acc in "#♯" else -1
    return pc % 12


def pitch_class_name(pc: int, flats: bool = False) -> str:
    """Name of pitch class ``pc`` with sharps (default) or flats."""
    return (FLAT_NAMES if flats else SHARP_NAMES)[pc % 12]


def midi_note_name(pitch: int, flats: bool = False) -> str:
    """Scientific name of a MIDI note number: 60 -> ``C4``."""
    return f"{pitch_class_name(pitch, flats)}{pitch // 12 - 1}"


def interval_name(semitones: int) -> str:
    """Conventional name of an interval up to an octave (larger ones reduced): 7 -> ``P5``."""
    names = ("P1", "m2", "M2", "m3", "M3", "P4", "TT", "P5", "m6", "M6", "m7", "M7")
    octaves, rest = divmod(abs(semitones), 12)
    return "P8" if rest == 0 and octaves else names[rest]


@dataclass(frozen=True)
class Key:
    """A key: tonic pitch class and mode (``major``/``minor`` or another entry of :data:`SCALES`)."""

    tonic: int
    mode: str = "major"

    @classmethod
    def parse(cls, text: str) -> Key:
        """Read ``C``, ``Am``, ``F#m``, ``Bb major``, ``G minor``, ``Gb:maj`` (POP909), ``D dorian``."""
        t = text.strip().replace(":", " ")
        m = _ROOT_RE.match(t)
        if not m:
            raise ValueError(f"not a key: {text!r}")
        tonic = parse_pitch_class(m.group(0))
        rest = t[m.end() :].strip().lower()
        mode = {"": "major", "m": "minor", "min": "minor", "maj": "major", "major": "major", "minor": "minor"}.get(
            rest, rest
        )
        if mode not in SCALES:
            raise ValueError(f"unknown mode {rest!r} in key {text!r}")
        return cls(tonic, mode)

    @property
    def scale(self) -> tuple[int, ...]:
        """Pitch classes of the key's scale, tonic first."""
        return tuple((self.tonic + s) % 12 for s in SCALES[self.mode])

    def name(self) -> str:
        """``C major``, ``F# minor`` (flats for flat keys)."""
        flats = self.tonic in ((1, 3, 5, 8, 10) if self.mode == "major" else (0, 2, 5, 7, 10))
        return f"{pitch_class_name(self.tonic, flats)} {self.mode.replace('_', ' ')}"

    def short(self) -> str:
        """``C``, ``F#m``: the form used on lead sheets and in ``--key``."""
        flats = self.tonic in ((1, 3, 5, 8, 10) if self.mode == "major" else (0, 2, 5, 7, 10))
        return pitch_class_name(self.tonic, flats) + ("m" if self.mode == "minor" else "")

    def contains(self, pitch: int) -> bool:
        """Whether a MIDI pitch (or pitch class) is in the key's scale."""
        return pitch % 12 in self.scale


@dataclass(frozen=True)
class Chord:
    """A chord symbol's content: root, quality and bass, all as pitch classes.

    Attributes
    ----------
    root : int
        Pitch class of the root.
    quality : str
        Key of :data:`CHORD_QUALITIES`.
    bass : int or None
        Pitch class of a bass note other than the root (slash chords).
    """

    root: int
    quality: str = "maj"
    bass: int | None = None

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        """Pitch classes of the chord tones, root first (bass added if it is not one)."""
        pcs = tuple(dict.fromkeys((self.root + i) % 12 for i in CHORD_QUALITIES[self.quality][0]))
        return pcs if self.bass is None or self.bass in pcs else (*pcs, self.bass)

    def symbol(self, flats: bool = False) -> str:
        """Lead-sheet spelling: ``Cmaj7``, ``F#m7b5``, ``Bb/D``."""
        text = pitch_class_name(self.root, flats) + CHORD_QUALITIES[self.quality][1]
        if self.bass is not None and self.bass != self.root:
            text += "/" + pitch_class_name(self.bass, flats)
        return text

    def transpose(self, semitones: int) -> Chord:
        """The same chord ``semitones`` higher."""
        bass = None if self.bass is None else (self.bass + semitones) % 12
        return Chord((self.root + semitones) % 12, self.quality, bass)


def parse_chord(text: str) -> Chord | None:
    """Read a chord symbol in lead-sheet or Harte/POP909 spelling; ``N``/``NC`` give None.

    Examples
    --------
    >>> parse_chord("F#m7b5").symbol()
    'F#m7b5'
    >>> parse_chord("Bb:maj/3").symbol(flats=True)
    'Bb/D'
    >>> parse_chord("G:sus4(b7)").quality
    '7sus4'

    Raises
    ------
    ChordParseError
        For an unreadable symbol.
    """
    t = text.strip()
    if t.upper() in ("N", "NC", "N.C.", "X", ""):
        return None
    m = _ROOT_RE.match(t)
    if not m:
        raise ChordParseError(f"not a chord symbol: {text!r}")
    root = parse_pitch_class(m.group(0))
    rest = t[m.end() :]
    if rest.startswith(":"):  # Harte / POP909
        body, _, bass_text = rest[1:].partition("/")
        quality = _HARTE.get(body)
        if quality is None:
            raise ChordParseError(f"unknown chord quality {body!r} in {text!r}")
        bass = None
        if bass_text:
            if bass_text not in _DEGREE:
                raise ChordParseError(f"unknown bass degree {bass_text!r} in {text!r}")
            bass = (root + _DEGREE[bass_text]) % 12
        return Chord(root, quality, bass)
    body, _, bass_text = rest.partition("/")
    quality = _LEAD_SHEET.get(body)
    if quality is None:
        raise ChordParseError(f"unknown chord quality {body!r} in {text!r}")
    bass = None
    if bass_text:
        try:
            bass = parse_pitch_class(bass_text)
        except ValueError:
            raise ChordParseError(f"unknown bass note {bass_text!r} in {text!r}") from None
    return Chord(root, quality, bass)


_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII")


def roman_numeral(chord: Chord, key: Key) -> str:
    """Roman numeral of ``chord`` in ``key`` (``V7``, ``ii``, ``bVII``, ``viio``, ``IV/3`` style inversions omitted).

    Degrees outside the scale get a ``b``/``#`` prefix relative to the major scale of the tonic.
    """
    scale = SCALES["major"] if key.mode != "minor" else SCALES["minor"]
    offset = (chord.root - key.tonic) % 12
    # Chromatic degrees by convention: bII, bIII, #IV, bVI, bVII in major; in minor the
    # raised degrees #III, #IV, #VI, #VII (and bII).
    chromatic = (
        {1: ("b", 1), 3: ("b", 2), 6: ("#", 3), 8: ("b", 5), 10: ("b", 6)}
        if key.mode != "minor"
        else {1: ("b", 1), 4: ("#", 2), 6: ("#", 3), 9: ("#", 5), 11: ("#", 6)}
    )
    if offset in scale:
        degree, prefix = scale.index(offset), ""
    else:
        prefix, degree = chromatic[offset]
    numeral = _ROMAN[degree]
    q = chord.quality
    minorish = q in ("min", "min7", "min6", "min9", "min11", "minmaj7", "hdim7", "dim", "dim7")
    numeral = numeral.lower() if minorish else numeral
    suffix = {
        "7": "7",
        "maj7": "maj7",
        "min7": "7",
        "hdim7": "ø7",
        "dim": "o",
        "dim7": "o7",
        "aug": "+",
        "maj6": "6",
        "min6": "6",
        "9": "9",
        "sus2": "sus2",
        "sus4": "sus4",
        "7sus4": "7sus4",
    }.get(q, "")
    return prefix + numeral + suffix


_ROMAN_RE = re.compile(r"^([b#]?)(VII|VI|IV|V|III|II|I|vii|vi|iv|v|iii|ii|i)")
# Roman-numeral suffix -> quality, for upper-case (major-based) and lower-case (minor-based) numerals.
_ROMAN_UPPER = {
    "": "maj",
    "7": "7",
    "maj7": "maj7",
    "6": "maj6",
    "9": "9",
    "maj9": "maj9",
    "add9": "add9",
    "sus2": "sus2",
    "sus4": "sus4",
    "7sus4": "7sus4",
    "+": "aug",
    "11": "11",
    "13": "13",
}
_ROMAN_LOWER = {
    "": "min",
    "7": "min7",
    "6": "min6",
    "9": "min9",
    "11": "min11",
    "o": "dim",
    "o7": "dim7",
    "ø7": "hdim7",
    "ø": "hdim7",
    "m7b5": "hdim7",
    "maj7": "minmaj7",
}


def parse_roman(text: str, key: Key) -> Chord:
    """Chord of a roman numeral in ``key`` (the inverse of :func:`roman_numeral`).

    Degrees count along the key's scale (natural minor in minor keys), so in A minor
    ``i`` is Am, ``III`` is C, ``V`` is E and ``v`` is Em; ``b``/``#`` lower or raise the
    root. Upper case means a major-family chord, lower case a minor-family one; the
    suffix picks the quality (``7``, ``maj7``, ``6``, ``9``, ``sus4``, ``o``, ``ø7``…), and
    ``/N`` (a scale degree 1–7) puts another bass note under it.

    Examples
    --------
    >>> parse_roman("V7", Key(0)).symbol()
    'G7'
    >>> parse_roman("VII", Key(9, "minor")).symbol()
    'G'
    >>> parse_roman("bVII", Key(9)).symbol()
    'G'
    >>> parse_roman("ii7", Key(7)).symbol()
    'Am7'

    Raises
    ------
    ChordParseError
        For text that is not a roman numeral.
    """
    body, _, bass_text = text.strip().partition("/")
    m = _ROMAN_RE.match(body)
    if not m:
        raise ChordParseError(f"not a roman numeral: {text!r}")
    accidental, numeral = m.group(1), m.group(2)
    suffix = body[m.end() :]
    table = _ROMAN_UPPER if numeral.isupper() else _ROMAN_LOWER
    if suffix not in table:
        raise ChordParseError(f"unknown chord quality {suffix!r} in roman numeral {text!r}")
    scale = SCALES["minor"] if key.mode == "minor" else SCALES["major"]
    degree = _ROMAN.index(numeral.upper())
    root = (key.tonic + scale[degree] + {"b": -1, "#": 1, "": 0}[accidental]) % 12
    bass = None
    if bass_text:
        if not (bass_text.isdigit() and 1 <= int(bass_text) <= 7):
            raise ChordParseError(f"bass of {text!r} must be a scale degree 1-7")
        bass = (key.tonic + scale[int(bass_text) - 1]) % 12
    return Chord(root, table[suffix], bass)


def strong_beats(numerator: int, denominator: int) -> tuple[float, ...]:
    """Positions (beats from the bar line) of the metrically strong beats of a metre.

    4/4 and 2/2: beats 1 and 3; 3/4 and 2/4: the downbeat; compound metres (6/8, 9/8,
    12/8): every dotted-quarter pulse; anything else: the downbeat.
    """
    bar = numerator * 4.0 / denominator
    if denominator == 8 and numerator % 3 == 0:
        return tuple(i * 1.5 for i in range(numerator // 3))
    if (numerator, denominator) in ((4, 4), (2, 2), (4, 2)):
        return (0.0, bar / 2)
    return (0.0,)


def detect_key(pitch_class_weights: np.ndarray) -> tuple[Key, float]:
    """Krumhansl–Schmuckler key finding from a 12-bin pitch-class histogram (C first).

    Weight each note by its duration for the usual duration-weighted histogram.

    Returns
    -------
    tuple
        The best key and its correlation with the rotated profile (−1…1).
    """
    weights = np.asarray(pitch_class_weights, dtype=np.float64)
    if weights.shape != (12,) or not np.any(weights):
        raise ValueError("need a non-zero 12-bin pitch-class histogram")
    best: tuple[float, Key] | None = None
    for tonic in range(12):
        rotated = np.roll(weights, -tonic)
        for mode, profile in (("major", KRUMHANSL_MAJOR), ("minor", KRUMHANSL_MINOR)):
            r = float(np.corrcoef(rotated, profile)[0, 1])
            if best is None or r > best[0]:
                best = (r, Key(tonic, mode))
    assert best is not None
    return best[1], best[0]


# Practical written ranges (MIDI notes) per General MIDI family of eight programs, with
# overrides where one instrument in a family differs a lot (piccolo, tuba, contrabass…).
_GM_FAMILY_RANGES = (
    (21, 108),  # 0-7 pianos
    (48, 96),  # 8-15 chromatic percussion (celesta, glockenspiel, vibraphone, marimba, …)
    (36, 96),  # 16-23 organs
    (40, 88),  # 24-31 guitars
    (28, 60),  # 32-39 basses (bass guitar E1-C4)
    (55, 103),  # 40-47 strings (violin … contrabass; overridden below)
    (36, 96),  # 48-55 ensembles
    (52, 84),  # 56-63 brass (trumpet … overridden below)
    (49, 91),  # 64-71 reed (saxes, oboe, bassoon, clarinet; overridden below)
    (60, 96),  # 72-79 pipe (piccolo, flute, recorder, …)
    (36, 96),  # 80-87 synth lead
    (36, 96),  # 88-95 synth pad
    (36, 96),  # 96-103 synth effects
    (48, 84),  # 104-111 ethnic
    (48, 84),  # 112-119 percussive
    (36, 84),  # 120-127 sound effects
)
_GM_RANGE_OVERRIDES = {
    40: (55, 103),
    41: (48, 91),
    42: (36, 76),
    43: (28, 67),  # violin, viola, cello, contrabass
    56: (54, 84),
    57: (40, 77),
    58: (28, 58),
    60: (34, 77),  # trumpet, trombone, tuba, French horn
    64: (56, 88),
    65: (49, 81),
    66: (44, 76),
    67: (36, 69),  # soprano, alto, tenor, baritone sax
    68: (58, 91),
    70: (34, 75),
    71: (50, 94),
    72: (74, 108),
    73: (60, 96),  # oboe, bassoon, clarinet, piccolo, flute
    52: (40, 84),  # a choir: basses (E2) to sopranos
    53: (40, 81),
    54: (48, 81),  # choir aahs, voice oohs, synth voice
}


def instrument_range(program: int, is_drum: bool = False) -> tuple[int, int]:
    """Practical range ``(lowest, highest)`` MIDI note of a General MIDI program.

    Drums return the GM percussion key range (35–81).

    Raises
    ------
    ValueError
        For a program outside 0–127.
    """
    if is_drum:
        return (35, 81)
    if not 0 <= program <= 127:
        raise ValueError(f"GM program must be 0-127, got {program}")
    return _GM_RANGE_OVERRIDES.get(program, _GM_FAMILY_RANGES[program // 8])
