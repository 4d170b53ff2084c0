"""tunesmith: an AI music-production studio that runs offline on a CPU."""

__version__ = "0.1.0"
