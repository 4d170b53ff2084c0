"""Symbolic music: the ``Score`` value type, music theory and MIDI I/O."""

from tunesmith.score.midi import read_midi, write_midi
from tunesmith.score.notation import read_score, write_musicxml
from tunesmith.score.theory import Chord, ChordParseError, Key, detect_key, parse_chord, parse_roman, roman_numeral
from tunesmith.score.types import (
    ChordSymbol,
    KeyChange,
    Note,
    Score,
    Section,
    TempoChange,
    TimeSignature,
    Track,
)

__all__ = [
    "Chord",
    "ChordParseError",
    "ChordSymbol",
    "Key",
    "KeyChange",
    "Note",
    "Score",
    "Section",
    "TempoChange",
    "TimeSignature",
    "Track",
    "detect_key",
    "parse_chord",
    "parse_roman",
    "read_midi",
    "read_score",
    "roman_numeral",
    "write_midi",
    "write_musicxml",
]
