"""Small timing helpers shared by the profiler and the benchmarks."""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class TimingStats:
    """Summary of repeated measurements, in seconds."""

    median: float
    p95: float
    mean: float
    min: float
    runs: int

    @classmethod
    def of(cls, samples: list[float]) -> TimingStats:
        a = np.asarray(samples, dtype=np.float64)
        if a.size == 0:
            return cls(0.0, 0.0, 0.0, 0.0, 0)
        return cls(float(np.median(a)), float(np.percentile(a, 95)), float(a.mean()), float(a.min()), int(a.size))

    def scaled(self, factor: float) -> TimingStats:
        """The same statistics multiplied by ``factor`` (device/edge emulation)."""
        return TimingStats(self.median * factor, self.p95 * factor, self.mean * factor, self.min * factor, self.runs)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, restoring the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def time_call(fn: Callable[[], object], runs: int, warmup: int) -> list[float]:
    """Wall-clock seconds of ``runs`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples
