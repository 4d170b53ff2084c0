"""Audio values, file I/O, resampling and measurement."""

from tunesmith.audio.io import AudioInfo, AudioReader, AudioWriter, info, load, save
from tunesmith.audio.meter import Loudness, LoudnessMeter, integrated_loudness, measure_loudness, true_peak
from tunesmith.audio.resample import resample
from tunesmith.audio.types import Audio

__all__ = [
    "Audio",
    "AudioInfo",
    "AudioReader",
    "AudioWriter",
    "Loudness",
    "LoudnessMeter",
    "info",
    "integrated_loudness",
    "load",
    "measure_loudness",
    "resample",
    "save",
    "true_peak",
]
