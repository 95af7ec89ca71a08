"""RunningMeanDecoder: per-batch values from Keras' epoch running means."""

from __future__ import annotations

import itertools

import pytest

from alertcb.detectors import RunningMeanDecoder


def running_means(values: list[float]) -> list[float]:
    return [sum(values[: i + 1]) / (i + 1) for i in range(len(values))]


def test_recovers_each_batch_from_running_means() -> None:
    """Each batch's own value is recovered exactly from consecutive running means."""
    values = [0.9, 0.5, 34.5, 0.4, 0.45]
    decoder = RunningMeanDecoder()
    decoded = [decoder.decode(b, m, epoch=0) for b, m in enumerate(running_means(values))]
    assert [pytest.approx(v) for v in values] == [d[0] for d in decoded if d is not None]
    assert [1] * 5 == [d[1] for d in decoded if d is not None]


def test_resets_at_each_epoch() -> None:
    """A new epoch restarts the running mean, so the first batch is its own value."""
    decoder = RunningMeanDecoder()
    decoder.decode(0, 1.0, epoch=0)
    decoder.decode(1, 2.0, epoch=0)
    assert (5.0, 1) == decoder.decode(0, 5.0, epoch=1)


def test_steps_per_execution_chunks() -> None:
    """With steps_per_execution=4 each value is the mean of its chunk, the last index clamped."""
    values = [1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 10.0, 3.0, 3.0]
    means = running_means(values)
    decoder = RunningMeanDecoder(steps_per_epoch=10)
    out = [decoder.decode(b, means[min(b, 9)], epoch=0) for b in (3, 7, 11)]
    assert [(1.0, 4), (4.0, 4), (3.0, 2)] == [(round(v, 9), n) for v, n in filter(None, out)]


def test_chunk_formula_with_uneven_chunks() -> None:
    """The chunk mean follows ((end+1)*m_end - (prev+1)*m_prev) / (end - prev)."""
    values = [2.0, 4.0, 6.0, 8.0, 10.0]
    means = running_means(values)
    decoder = RunningMeanDecoder()
    assert (pytest.approx(3.0), 2) == decoder.decode(1, means[1], epoch=0)
    value, n = decoder.decode(4, means[4], epoch=0) or (0.0, 0)
    assert (pytest.approx(8.0), 3) == (value, n)


def test_out_of_order_and_duplicate_calls_are_dropped() -> None:
    """A late (out-of-order) or repeated batch returns None: its batches are in a later value."""
    decoder = RunningMeanDecoder()
    decoder.decode(0, 1.0, epoch=0)
    decoder.decode(2, 1.0, epoch=0)
    assert decoder.decode(1, 1.0, epoch=0) is None
    assert decoder.decode(2, 1.0, epoch=0) is None


def test_without_epoch_a_backwards_batch_starts_an_epoch() -> None:
    """Without an epoch number, a batch index that goes backwards means a new epoch."""
    decoder = RunningMeanDecoder()
    decoder.decode(0, 1.0)
    decoder.decode(1, 1.0)
    assert (7.0, 1) == decoder.decode(0, 7.0)


def test_nan_mean_decodes_to_nan() -> None:
    """Once the running mean is NaN, decoded values are NaN (never a bogus finite value)."""
    decoder = RunningMeanDecoder()
    decoder.decode(0, 1.0, epoch=0)
    value, _ = decoder.decode(1, float("nan"), epoch=0) or (0.0, 0)
    assert value != value


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_decoded_chunk_means_average_back_to_the_epoch_mean(k: int) -> None:
    """For any steps_per_execution, chunk means weighted by size give the epoch mean."""
    values = [float((i * 7) % 11 + 1) for i in range(23)]
    means = running_means(values)
    decoder = RunningMeanDecoder()
    total = 0.0
    for end in itertools.chain(range(k - 1, len(values), k), [len(values) - 1]):
        out = decoder.decode(end, means[end], epoch=0)
        if out is not None:
            total += out[0] * out[1]
    assert pytest.approx(sum(values)) == total
