"""Where training is and how fast it goes: steps seen, time per step, the ETA."""

from __future__ import annotations


class Pace:
    """Step counting and timing for the summary tracker. Not thread-safe: the tracker holds its lock."""

    def __init__(self) -> None:
        self.steps_seen = 0
        self.last_step = -1
        self.epoch_batches = 0
        self._batch_time_s = 0.0
        self._batch_time_n = 0
        self._last_batch_mono: float | None = None

    def batch(self, step: object, now: float) -> int:
        """One batch ended at monotonic time ``now``; returns its global step (0-based)."""
        self.steps_seen += 1
        if type(step) is int and step > self.last_step:
            self.last_step = step
        else:
            self.last_step += 1
        if self.epoch_batches and self._last_batch_mono is not None:
            # time between two batches of one epoch: validation and epoch-end work excluded
            self._batch_time_s += now - self._last_batch_mono
            self._batch_time_n += 1
        self.epoch_batches += 1
        self._last_batch_mono = now
        return self.last_step

    def step_time(self) -> float | None:
        """Mean time between two batches of one epoch (so validation is not counted)."""
        return self._batch_time_s / self._batch_time_n if self._batch_time_n else None

    def eta(
        self,
        *,
        epochs_planned: int | None,
        epochs_done: int,
        steps_per_epoch: int | None,
        epoch_time: float | None,
    ) -> float | None:
        """Seconds left: mean epoch time x epochs left (minus the current epoch's part done),
        else mean step time x steps left; None when unknown."""
        if epochs_planned is not None and epoch_time is not None:
            fraction = min(1.0, self.epoch_batches / steps_per_epoch) if steps_per_epoch else 0.0
            return max(0.0, (epochs_planned - epochs_done - fraction) * epoch_time)
        step_time = self.step_time()
        if epochs_planned is not None and steps_per_epoch is not None and step_time is not None:
            return max(0.0, (epochs_planned * steps_per_epoch - self.steps_seen) * step_time)
        return None
