"""Mastering: a finished mix in, a release-ready master out."""

from tunesmith.master.chain import MasterReport, MasterSettings, master
from tunesmith.master.targets import PRESETS, Target, parse_target

__all__ = ["PRESETS", "MasterReport", "MasterSettings", "Target", "master", "parse_target"]
