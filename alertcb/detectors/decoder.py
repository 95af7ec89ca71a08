"""Per-batch losses from the running means Keras passes to batch hooks.

Why not watch ``logs["loss"]``: during an epoch Keras reports the running mean of the
loss, so a 5x batch late in an epoch moves it by ~1% and an early spike keeps it high
for the rest of the epoch. `RunningMeanDecoder` recovers each batch's own loss (or each
chunk's mean with ``steps_per_execution > 1``) for the spike and divergence detectors.
"""

from __future__ import annotations


class RunningMeanDecoder:
    """Recovers per-batch values from the running means Keras passes to batch hooks.

    Given the running mean ``m_end`` at batch ``end`` and the previous one ``m_prev`` at
    ``prev`` (same epoch), the mean of batches ``prev+1 .. end`` is
    ``((end+1)*m_end - (prev+1)*m_prev) / (end-prev)``. With ``steps_per_execution=k``
    hooks see every k-th batch, so each decoded value is the mean of a k-batch chunk.
    The last batch of an epoch may be smaller; Keras weights the mean by batch size, so
    its decoded value is a blend of its own loss and the epoch mean (never a false spike).
    Keras may report a last chunk index beyond the epoch (11 for 10 steps and k=4):
    with ``steps_per_epoch`` known, indices are clamped to ``steps_per_epoch - 1``.

    Args:
        steps_per_epoch: batches per epoch if known (Keras ``params["steps"]``).

    Example:
        >>> d = RunningMeanDecoder()
        >>> d.decode(0, 1.0, epoch=0), d.decode(1, 2.0, epoch=0)
        ((1.0, 1), (3.0, 1))
    """

    __slots__ = ("_epoch", "_end", "_mean", "steps_per_epoch")

    def __init__(self, steps_per_epoch: int | None = None) -> None:
        self.steps_per_epoch = steps_per_epoch
        self._epoch: int | None = None
        self._end = -1
        self._mean = 0.0

    def reset(self, epoch: int | None = None) -> None:
        """Start a new epoch."""
        self._epoch = epoch
        self._end = -1
        self._mean = 0.0

    def decode(self, batch: int, mean: float, epoch: int | None = None) -> tuple[float, int] | None:
        """Take the running mean reported at ``batch`` (0-based index within the epoch).

        Args:
            batch: the hook's ``batch`` argument (last batch of the chunk).
            mean: the running mean reported there.
            epoch: the current epoch; a new value resets the decoder. Without it, a batch
                index that goes backwards starts a new epoch.

        Returns:
            ``(value, n_batches)`` for the batches since the previous call, or None for a
            duplicate or out-of-order call (its batches are already in a later value).
        """
        steps = self.steps_per_epoch
        if steps is not None and batch >= steps:
            batch = steps - 1
        if epoch is not None:
            if epoch != self._epoch:
                self.reset(epoch)
        elif batch <= self._end:
            self.reset(None)
        end = self._end
        if batch <= end:
            return None
        n = batch - end
        value = ((batch + 1) * mean - (end + 1) * self._mean) / n if end >= 0 else mean
        self._end = batch
        self._mean = mean
        return value, n
