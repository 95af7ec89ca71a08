"""`StepCounter`: the global step of a batch, counted once, inside the engine's lock."""

from __future__ import annotations


class StepCounter:
    """0-based global batch index from (epoch, batch in epoch), as Keras numbers batches.

    With the steps per epoch known (``params["steps"]``) the step is ``epoch * steps +
    batch`` (the over-long last chunk of ``steps_per_execution`` clamped to the epoch);
    otherwise the batches of earlier epochs are counted as they are seen. Without a
    batch index (a custom loop that passes neither), steps count up from 0.

    Args:
        steps: batches per epoch, or None if unknown.

    Example:
        >>> counter = StepCounter(steps=100)
        >>> counter.epoch_begin(2)
        >>> counter.step(5)
        205
    """

    def __init__(self, steps: int | None = None) -> None:
        self.steps = steps
        self.epoch = 0
        self.last = -1
        self._offset = 0
        self._max = -1

    def epoch_begin(self, epoch: int | None) -> None:
        """A new epoch (0-based); None counts on from the previous one."""
        if self._max >= 0:
            self._offset += self._max + 1
            self._max = -1
        self.epoch = epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else self.epoch + 1

    def step(self, batch: int | None) -> int:
        """The global step of ``batch`` (index in the current epoch), remembered as `last`."""
        if batch is None:
            self.last += 1
            return self.last
        steps = self.steps
        if steps is not None:
            step = self.epoch * steps + (batch if batch < steps else steps - 1)
        else:
            if batch > self._max:
                self._max = batch
            step = self._offset + batch
        self.last = step
        return step
