"""Composition: styles, progressions, melodies and arrangements (``tunesmith compose``)."""

from tunesmith.compose.song import ComposeOptions, Composition, compose, parse_structure, write_song
from tunesmith.compose.style import Style, get_style, list_styles, load_style

__all__ = [
    "ComposeOptions",
    "Composition",
    "Style",
    "compose",
    "get_style",
    "list_styles",
    "load_style",
    "parse_structure",
    "write_song",
]
