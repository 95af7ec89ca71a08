"""The per-batch loss of a run, kept in bounded memory.

`BatchLosses.add` is O(1) amortised: each loss goes into a bucket; when ``capacity``
buckets exist, neighbours are merged and buckets become twice as wide. The mean of the
series is kept exactly, whatever the run's length.
"""

from __future__ import annotations


class BatchLosses:
    """Downsampled per-batch loss: bucket ``i`` covers ``stride`` batches from ``steps[i]``.

    Args:
        capacity: at most this many buckets (0 keeps nothing).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.stride = 1
        self._steps: list[int] = []
        self._sums: list[float] = []
        self._ns: list[int] = []
        self._cur_step = 0
        self._cur_sum = 0.0
        self._cur_n = 0
        self._cur_count = 0

    def add(self, step: int, value: float | None) -> None:
        """One batch: ``value`` None or non-finite counts as a batch without a loss (a NaN stretch)."""
        if not self.capacity:
            return
        if self._cur_count == 0:
            self._cur_step = step
        self._cur_count += 1
        if value is not None and value - value == 0.0:  # finite
            self._cur_sum += value
            self._cur_n += 1
        if self._cur_count >= self.stride:
            self._steps.append(self._cur_step)
            self._sums.append(self._cur_sum)
            self._ns.append(self._cur_n)
            self._cur_sum, self._cur_n, self._cur_count = 0.0, 0, 0
            if len(self._steps) >= self.capacity:
                self._compact()

    def _compact(self) -> None:
        steps, sums, ns = self._steps, self._sums, self._ns
        self._steps = steps[0::2]
        self._sums = [a + b for a, b in zip(sums[0::2], sums[1::2], strict=False)]
        self._ns = [a + b for a, b in zip(ns[0::2], ns[1::2], strict=False)]
        if len(sums) % 2:
            self._sums.append(sums[-1])
            self._ns.append(ns[-1])
        self.stride *= 2

    def series(self) -> tuple[list[int], list[float | None]]:
        """``(steps, means)``; a bucket without any finite loss has mean None."""
        steps = list(self._steps)
        values: list[float | None] = [total / n if n else None for total, n in zip(self._sums, self._ns, strict=False)]
        if self._cur_count:
            steps.append(self._cur_step)
            values.append(self._cur_sum / self._cur_n if self._cur_n else None)
        return steps, values
