"""Checkpoint registries: destinations that record every checkpoint really written.

- `JsonlRegistry` (type ``checkpoints``): the embedded default, ``<run_dir>/checkpoints.jsonl``.
- ``alertcb.registry.mlflow``: the MLflow model registry (``pip install "alertcb[mlflow]"``).

Both subclass `Registry` (itself an `alertcb.channels.base.Channel`), built from
``checkpoint`` events (`CheckpointRecord`), see docs/lifecycle.md.
"""

from __future__ import annotations

from alertcb.registry.base import CheckpointRecord, Registry
from alertcb.registry.jsonl import JsonlRegistry

__all__ = ["CheckpointRecord", "JsonlRegistry", "Registry"]
