"""Calibrate a measured profile to a target device/edge speed (the paper's setting), or fit the simulator
to a live run (:func:`fit_run`: ``scissor calibrate --from-run DIR``).

A profile measured on this machine is rescaled by one device factor and one
edge factor so that the full local forward (split ``last`` on the device) takes
``device_time`` seconds and the full edge forward (split ``0`` on the edge)
takes ``edge_time`` seconds. Every split keeps the *shape* measured here: its
device (edge) time is the same fraction of the full local (edge) forward as on
this machine. Bytes are unchanged. The factors, relative to the raw measured
medians, are recorded in ``settings`` (``device_slowdown``, ``edge_slowdown``)
together with the targets (``calibrated_to``).

Targets used for the shipped ``config/profiles/MODEL-paper.json``: the paper's Table 1 (local and
edge inference time per frame), ``PAPER_TIMES``: YOLOv3 4.347 s / 0.759 s, ResNet18 0.187 s / 0.5 s,
AlexNet 0.136 s / 0.616 s (``scissor calibrate MODEL`` with no targets). The paper's edge is slower than
its device for ResNet18 and AlexNet; we take the table as it is.
"""
from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from scissor_core.analysis.link_fidelity import ideal_transmit, trace_origin
from scissor_core.models.registry import DEVICE_ONLY, EDGE_ONLY
from scissor_core.runtime.costs import ModelProfile
from scissor_core.runtime.outcome import FrameOutcome
from scissor_core.runtime.traces import Trace

PAPER_TIMES: dict[str, tuple[float, float]] = {"yolov3": (4.347, 0.759), "resnet18": (0.187, 0.5),
                                               "alexnet": (0.136, 0.616)}
"""The paper's per-frame (full local forward, full edge forward) times in s, its Table 1."""


def calibrate(profile: ModelProfile, device_time: float, edge_time: float, source: str = "") -> ModelProfile:
    """A copy of ``profile`` whose split ``last`` takes ``device_time`` on the device and split ``0``
    takes ``edge_time`` on the edge, every other split scaled by the same two factors."""
    if device_time <= 0 or edge_time <= 0:
        raise ValueError(f"target times must be positive, got device {device_time} s, edge {edge_time} s")
    device_ref = profile.cut(DEVICE_ONLY).device_measured.median
    edge_ref = profile.cut(EDGE_ONLY).edge_measured.median
    if device_ref <= 0 or edge_ref <= 0:
        raise ValueError(f"profile of {profile.model} has no measured full forward to calibrate "
                         f"(device {device_ref} s at {DEVICE_ONLY!r}, edge {edge_ref} s at {EDGE_ONLY!r})")
    cuts = [
        dataclasses.replace(c, device_time=device_time * (c.device_measured.median / device_ref),
                            edge_time=edge_time * (c.edge_measured.median / edge_ref))
        for c in profile.cuts
    ]
    settings = {**profile.settings, "device_slowdown": device_time / device_ref, "edge_slowdown": edge_time / edge_ref,
                "calibrated_to": {"device_time": device_time, "edge_time": edge_time, "source": source}}
    return dataclasses.replace(profile, settings=settings, cuts=cuts)


def targets_from(profile: ModelProfile, calibrated: ModelProfile) -> tuple[float, float]:
    """Full local and edge forward times of ``profile`` under ``calibrated``'s two factors (same hardware)."""
    factors = calibrated.settings
    return (profile.cut(DEVICE_ONLY).device_measured.median * factors["device_slowdown"],
            profile.cut(EDGE_ONLY).edge_measured.median * factors["edge_slowdown"])


def calibrate_file(profile_path: Path, output: Path, device_time: float | None, edge_time: float | None,
                   factors_from: Path | None = None) -> ModelProfile:
    """Load, calibrate (explicit targets, the factors of another calibrated profile, or the paper's
    numbers for the model) and save; returns the calibrated profile."""
    profile = ModelProfile.load(profile_path)
    if factors_from is not None:
        if device_time is not None or edge_time is not None:
            raise ValueError("give either --device-time/--edge-time or --factors-from, not both")
        device_time, edge_time = targets_from(profile, ModelProfile.load(factors_from))
        source = f"factors of {factors_from.name}"
    elif device_time is None and edge_time is None and profile.model in PAPER_TIMES:
        device_time, edge_time = PAPER_TIMES[profile.model]
        source = "paper"
    elif device_time is None or edge_time is None:
        raise ValueError(f"no paper times known for {profile.model}: give --device-time and --edge-time "
                         "or --factors-from")
    else:
        source = "command line"
    calibrated = calibrate(profile, device_time, edge_time, source)
    calibrated.save(output)
    return calibrated


@dataclass(frozen=True)
class RunFit:
    """What a live run says about the system beyond its profile: the factors by which its device and edge
    compute ran slower (> 1) or faster than the profile, the spread of the compute times around that
    (sigma of their log), the transport's cost beyond bytes / rate, and the result's way back. These are
    the simulator's ``sim.compute_spread``, ``sim.transport_overhead`` and ``sim.result_latency``, and a
    profile scaled by the factors (:meth:`apply`). A split with :data:`MIN_SPLIT_FRAMES` frames or more in
    the run gets factors of its own (a live run does not slow every split alike: the device part of split
    ``last`` ran 1.2x its profile on this machine where the median split ran 0.9x); the others the overall
    ones."""

    device_factor: float
    edge_factor: float
    compute_spread: float
    transport_overhead: float
    result_latency: float
    frames: int
    """Completed frames the fit used."""
    device_factors: dict[str, float] = dataclasses.field(default_factory=dict)
    """Split -> its own device factor."""
    edge_factors: dict[str, float] = dataclasses.field(default_factory=dict)
    """Split -> its own edge factor."""

    def apply(self, profile: ModelProfile, source: str) -> ModelProfile:
        """``profile`` with every split's device and edge time scaled by its fitted factors."""
        cuts = [dataclasses.replace(c, device_time=c.device_time * self.device_factors.get(c.split, self.device_factor),
                                    edge_time=c.edge_time * self.edge_factors.get(c.split, self.edge_factor))
                for c in profile.cuts]
        settings = {**profile.settings, "fitted_to_run": {"source": source, **dataclasses.asdict(self)}}
        return dataclasses.replace(profile, settings=settings, cuts=cuts)

    def sim_settings(self) -> dict[str, float]:
        """The ``sim`` section's keys for these values."""
        return {"transport_overhead": self.transport_overhead, "result_latency": self.result_latency,
                "compute_spread": self.compute_spread}


def fit_run(outcomes: Sequence[FrameOutcome], profile: ModelProfile, trace: Trace) -> RunFit:
    """Fit :class:`RunFit` to a run's completed frames (medians, so a few outliers do not move it).

    The link's rate for a frame is ``trace`` from its transmission's start, counted from the run's first
    capture (where the live device and the netns link start the trace). Raises ValueError when the run has
    no completed frame to fit."""
    done = [o for o in outcomes if o.completed]
    if not done:
        raise ValueError("the run has no completed frame to fit")
    origin = trace_origin(outcomes)
    cuts = {c.split: c for c in profile.cuts}
    device = [(o.split, o.local_compute / cuts[o.split].device_time) for o in done
              if o.split in cuts and o.local_compute > 0 and cuts[o.split].device_time > 0]
    edge = [(o.split, o.edge_compute / cuts[o.split].edge_time) for o in done
            if o.split in cuts and o.bytes_sent and cuts[o.split].edge_time > 0]
    device_factor, device_factors = _factors(device)
    edge_factor, edge_factors = _factors(edge)
    logs = ([math.log(r / device_factors.get(s, device_factor)) for s, r in device]
            + [math.log(r / edge_factors.get(s, edge_factor)) for s, r in edge])
    offloaded = [o for o in done if o.bytes_sent]
    transport = [o.transmit - ideal_transmit(o, trace, origin) for o in offloaded]
    back = [o.total_delay - (o.local_wait + o.local_compute + o.offload_wait + o.transmit + o.edge_wait
                             + o.edge_compute) for o in offloaded]
    return RunFit(device_factor, edge_factor, statistics.pstdev(logs) if len(logs) > 1 else 0.0,
                  max(0.0, statistics.median(transport)) if transport else 0.0,
                  max(0.0, statistics.median(back)) if back else 0.0, len(done), device_factors, edge_factors)


MIN_SPLIT_FRAMES = 5
"""Frames of one split a run needs before that split gets compute factors of its own."""


def _factors(ratios: Sequence[tuple[str, float]]) -> tuple[float, dict[str, float]]:
    """The median of (split, measured / profile) ratios overall (1 without any), and per split with at least
    :data:`MIN_SPLIT_FRAMES` of them."""
    by_split: dict[str, list[float]] = {}
    for split, ratio in ratios:
        by_split.setdefault(split, []).append(ratio)
    own = {split: statistics.median(rs) for split, rs in by_split.items() if len(rs) >= MIN_SPLIT_FRAMES}
    return (statistics.median(r for _, r in ratios) if ratios else 1.0), own


def split_distance(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Total variation distance of two split shares (fraction of frames per split): the share of frames
    that run another split in one than in the other; 0 when a policy chose alike in both."""
    return 0.5 * sum(abs(a.get(s, 0.0) - b.get(s, 0.0)) for s in set(a) | set(b))


def mean_absolute_percentage_error(pairs: Iterable[tuple[float, float]]) -> float:
    """Mean of ``|predicted - measured| / measured`` over (predicted, measured) pairs; nan without any."""
    errors = [abs(p - m) / m for p, m in pairs if m]
    return statistics.fmean(errors) if errors else math.nan
