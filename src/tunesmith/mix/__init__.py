"""Automatic mixing of multitrack stems: roles, gain, pan, EQ unmasking, dynamics, space, bus."""

from tunesmith.mix.automix import MixOptions, MixReport, automix, find_stems
from tunesmith.mix.roles import ROLES, classify, role_from_name
from tunesmith.mix.settings import MixSettings, load_settings

__all__ = [
    "ROLES",
    "MixOptions",
    "MixReport",
    "MixSettings",
    "automix",
    "classify",
    "find_stems",
    "load_settings",
    "role_from_name",
]
