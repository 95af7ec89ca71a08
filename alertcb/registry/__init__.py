"""Checkpoint registries: destinations that record every checkpoint really written.

- ``alertcb.registry.mlflow``: the MLflow model registry (``pip install "alertcb[mlflow]"``).

Every registry subclasses `Registry` (itself an `alertcb.channels.base.Channel`), built
from ``checkpoint`` events (`CheckpointRecord`).
"""

from __future__ import annotations

from alertcb.registry.base import CheckpointRecord, Registry

__all__ = ["CheckpointRecord", "Registry"]
