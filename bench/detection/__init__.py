"""Replayable detection benchmark: ``python -m bench.detection`` (see docs/detection.md)."""
