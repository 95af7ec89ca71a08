"""Which worker this process is, from the launcher's environment (no TensorFlow import).

Read, in order: ``TF_CONFIG`` (tf.distribute), ``RANK``/``WORLD_SIZE`` (torchrun,
Horovod, many launchers), ``SLURM_PROCID``/``SLURM_NTASKS``, ``OMPI_COMM_WORLD_RANK``.
The chief is TF_CONFIG's ``chief`` task, or ``worker`` 0 when there is no chief task,
or rank 0.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping

from alertcb.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class WorkerInfo:
    """This process's place in a distributed job.

    Args:
        task_type: ``"chief"``, ``"worker"``, ``"rank"``... or None for single-process runs.
        index: task index / rank.
        world_size: number of workers, when known.
        is_chief: whether this worker sends run-level alerts (``send_from="chief"``).
    """

    task_type: str | None = None
    index: int = 0
    world_size: int | None = None
    is_chief: bool = True

    @property
    def label(self) -> str | None:
        """``"worker:1"``-style identity, or None for a single process."""
        return f"{self.task_type}:{self.index}" if self.task_type else None

    @classmethod
    def parse(cls, text: str) -> WorkerInfo:
        """Parse ``"worker:1"``/``"chief:0"``/``"rank:3"``; the chief is ``chief:*`` or index 0."""
        if not isinstance(text, str) or not text.strip():
            raise ConfigError("worker", f"expected 'TYPE:INDEX' like 'worker:1', got {text!r}")
        task_type, _, index = text.partition(":")
        try:
            number = int(index or 0)
        except ValueError:
            raise ConfigError("worker", f"expected 'TYPE:INDEX' like 'worker:1', got {text!r}") from None
        return cls(task_type=task_type, index=number, is_chief=task_type == "chief" or number == 0)


def detect_worker(environ: Mapping[str, str] | None = None) -> WorkerInfo:
    """Detect this process's `WorkerInfo` from the environment."""
    env = os.environ if environ is None else environ
    tf_config = env.get("TF_CONFIG")
    if tf_config:
        try:
            config = json.loads(tf_config)
            task = config.get("task") or {}
            cluster = config.get("cluster") or {}
            task_type = str(task.get("type", "worker"))
            index = int(task.get("index", 0))
            size = sum(len(v) for k, v in cluster.items() if k in ("chief", "worker"))
            has_chief = bool(cluster.get("chief"))
            chief = task_type == "chief" or (not has_chief and task_type == "worker" and index == 0)
            return WorkerInfo(task_type, index, size or None, chief)
        except (ValueError, TypeError, AttributeError):
            pass  # a malformed TF_CONFIG fails TensorFlow loudly; we just don't guess
    for rank_var, size_var in (
        ("RANK", "WORLD_SIZE"),
        ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
        ("SLURM_PROCID", "SLURM_NTASKS"),
    ):
        rank = env.get(rank_var)
        if rank is not None and rank.strip().isdigit():
            size_text = env.get(size_var, "")
            world = int(size_text) if size_text.isdigit() else None
            if world == 1:
                return WorkerInfo()
            return WorkerInfo("rank", int(rank), world, int(rank) == 0)
    return WorkerInfo()
