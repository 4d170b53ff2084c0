"""End-to-end jobs: ``produce`` (compose → render → mix → master) and ``batch`` (a command over a catalogue)."""

from tunesmith.pipeline.batch import BatchReport, run_batch
from tunesmith.pipeline.produce import ProduceOptions, ProduceReport, produce

__all__ = ["BatchReport", "ProduceOptions", "ProduceReport", "produce", "run_batch"]
