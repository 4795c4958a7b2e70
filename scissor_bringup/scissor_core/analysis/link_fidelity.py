"""How close a run's link came to the ideal link of its trace: per-frame delay over the ideal, and the
device's ``b_hat`` against the rate the link had (``scissor bench link``).

Both read only a run's outcomes (simulated or live) and its trace, with trace time 0 at the run's first
frame (where the device's shaper, the netns link and the simulator all start the trace).

- **Ideal delay** of a delivered frame: its measured queue waits and compute (``local_wait + local_compute
  + offload_wait``, ``edge_wait + edge_compute``) and, between them, its bytes at the trace's rate from the
  moment its transmission started (a perfect pipe). What the measured delay adds to that is what the
  transport (DDS, UDP, the kernel's shaper, receipts, the result's way back) costs beyond the bytes, frame
  by frame: a slow transmission that makes the next frame wait shows in this frame, not twice.
- **b_hat**: the device's estimator (:class:`~scissor_core.runtime.traces.BandwidthEstimator`, the same
  class and settings) replayed over the delivered transmissions in order. This is what the device held:
  it adds exactly each delivered frame's ``(bytes_sent, transmit)``, and only those (frames dropped at the
  link carry ``bytes_sent`` 0); ``test_link_fidelity`` checks the replay against a live device runtime.
"""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scissor_core.config import LinkConfig
from scissor_core.runtime.outcome import DropReason, FrameOutcome
from scissor_core.runtime.traces import BandwidthEstimator, Trace

DEFAULT_LINKS = ("const:1MB", "const:5MB", "steps:15x1MB,15x3MB",
                 "mahimahi:config/traces/ATT-LTE-driving-2016.up,scale=4")
"""The links ``scissor bench link`` measures: two constant rates, a steps trace and a real LTE uplink
(ATT-LTE-driving-2016, scaled x4 to ~1 MB/s mean, outages of up to 4 s kept)."""


def delivered(outcomes: Sequence[FrameOutcome]) -> list[FrameOutcome]:
    """The frames whose payload reached the edge, in the order they used the link (the offloading queue is
    FIFO and one frame crosses at a time, so sequence order)."""
    return sorted((o for o in outcomes if o.bytes_sent > 0 and o.transmit > 0), key=lambda o: o.seq)


def trace_origin(outcomes: Sequence[FrameOutcome]) -> float:
    """Trace time 0 on the run's clock: the first frame's capture."""
    if not outcomes:
        raise ValueError("no outcomes: the run has no first frame")
    return min(o.capture for o in outcomes)


def transmit_start(o: FrameOutcome, origin: float) -> float:
    """Trace time a frame's transmission started (after its device part and its wait for the link)."""
    return o.capture - origin + o.local_wait + o.local_compute + o.offload_wait


def ideal_transmit(o: FrameOutcome, trace: Trace, origin: float) -> float:
    """Seconds the frame's bytes take on the trace from its transmission's start: a perfect pipe."""
    start = transmit_start(o, origin)
    return trace.transmit_finish_time(start, o.bytes_sent) - start


def ideal_delays(outcomes: Sequence[FrameOutcome], trace: Trace) -> dict[int, float]:
    """Seq -> ideal delay of every delivered frame (module docstring)."""
    origin = trace_origin(outcomes)
    return {o.seq: o.local_wait + o.local_compute + o.offload_wait + ideal_transmit(o, trace, origin)
            + o.edge_wait + o.edge_compute for o in delivered(outcomes)}


@dataclass(frozen=True)
class DelayError:
    """(measured - ideal) / ideal of the completed offloaded frames of one run."""

    frames: int
    median: float
    p95: float

    @classmethod
    def of(cls, outcomes: Sequence[FrameOutcome], trace: Trace) -> DelayError:
        ideal = ideal_delays(outcomes, trace)
        errors = sorted((o.total_delay - ideal[o.seq]) / ideal[o.seq] for o in outcomes
                        if o.completed and o.seq in ideal and ideal[o.seq] > 0)
        if not errors:
            return cls(0, float("nan"), float("nan"))
        return cls(len(errors), statistics.median(errors), errors[min(len(errors) - 1, int(0.95 * len(errors)))])


@dataclass(frozen=True)
class Estimate:
    """``b_hat`` just after one delivered transmission, and the link's rate then (trace time ``at``)."""

    seq: int
    at: float
    """Trace time the transmission ended (s)."""
    started: float
    """Trace time the transmission started (s)."""
    nbytes: int
    b_hat: float
    rate: float


def replay_estimates(outcomes: Sequence[FrameOutcome], trace: Trace, link: LinkConfig) -> list[Estimate]:
    """The device's ``b_hat`` after each delivered transmission (module docstring)."""
    origin = trace_origin(outcomes)
    estimator = BandwidthEstimator(link.initial_bandwidth, link.estimator_window, link.estimator_step)
    estimates = []
    for o in delivered(outcomes):
        started = transmit_start(o, origin)
        at = started + o.transmit
        estimates.append(Estimate(o.seq, at, started, o.bytes_sent, estimator.add(o.bytes_sent, o.transmit),
                                  trace.rate_at(at)))
    return estimates


def estimate_error(estimates: Sequence[Estimate], skip: int) -> float:
    """Median of ``b_hat / rate - 1`` after the first ``skip`` transmissions (the window filling from the
    initial guess); nan when none is left."""
    errors = [e.b_hat / e.rate - 1 for e in estimates[skip:] if e.rate > 0]
    return statistics.median(errors) if errors else float("nan")


def step_lags(estimates: Sequence[Estimate], trace: Trace, tolerance: float = 0.1) -> list[int | None]:
    """For every rate step the run crossed: how many transmissions started after it until ``b_hat`` is
    within ``tolerance`` of the new rate (None: not before the next step or the run's end). A step is a
    change of ``trace.rate_at`` between consecutive transmissions' starts, sampled at their start."""
    lags: list[int | None] = []
    target = None
    count = 0
    for previous, current in zip(estimates, estimates[1:], strict=False):
        new_rate = trace.rate_at(current.started)
        if new_rate != trace.rate_at(previous.started):
            if target is not None:
                lags.append(None)
            target, count = new_rate, 0
        if target is None:
            continue
        count += 1
        if abs(current.b_hat / target - 1) <= tolerance:
            lags.append(count)
            target = None
    if target is not None:
        lags.append(None)
    return lags


def lost(outcomes: Sequence[FrameOutcome]) -> int:
    """Frames dropped as ``edge_lost``."""
    return sum(o.drop_reason == DropReason.EDGE_LOST for o in outcomes)
