"""End-to-end jobs: ``produce`` (compose → render → mix → master)."""

from tunesmith.pipeline.produce import ProduceOptions, ProduceReport, produce

__all__ = ["ProduceOptions", "ProduceReport", "produce"]
