"""Split-decision policies behind one interface, and a factory by name.

Names: ``device-only``, ``edge-only``, ``edge-only-jpeg``, ``semi-fixed``,
``greedy``, ``load-aware``, ``dads``, ``ddp``, ``edge-window``, ``myopic-oracle`` (simulation only),
``fixed:SPLIT`` for any one candidate split, and ``round-robin`` (every split in
turn: for tests and demos of the live testbed).
"""
from __future__ import annotations

from scissor_core.policies.baselines import (DDP, EdgeWindow, FixedSplit, Greedy, LoadAware, RoundRobin, SemiFixed,
                                             device_only, edge_only, edge_only_jpeg, predict_delay)
from scissor_core.policies.dads import Dads, DagCosts, heavy_load_cut, min_cut
from scissor_core.policies.oracle import Oracle
from scissor_core.models.registry import EDGE_ONLY
from scissor_core.runtime.costs import ModelProfile, SplitCosts
from scissor_core.runtime.policy import Policy

POLICY_NAMES = ("device-only", "edge-only", "edge-only-jpeg", "semi-fixed", "greedy", "load-aware", "dads", "ddp",
                "edge-window", "myopic-oracle")
LOAD_AWARE_HORIZON = 2.0
"""Frames the load-aware greedy charges for each second of work a frame leaves queued past the next arrival.
Chosen in the simulator over 1, 2, T/interval and 2T/interval (3,000 frames x 3 seeds): 2 tied the best
baseline on yolov3-tiny (measured, 5 MB/s: 0.852 against greedy's 2.418) and beat every baseline on ResNet18
(paper profile, 0.10 s: 0.641 against DDP's 0.782; 0.15 s: 0.598 against the best fixed split's 0.656; h=1
0.592); on the ATT LTE trace (YOLOv3, AlexNet, yolov3-tiny) it was within 0.3% of the best baseline."""
EDGE_WINDOW = 2
"""Frames the edge-window baseline keeps out at the edge. Chosen in the simulator over 1-4 (the scenarios of
``scissor experiment scenarios``, 2000 frames x 3 held-out seeds): 2 is best where the device and the edge
together cannot keep up (AlexNet at 0.10 s: 1.599 against 1.672 for 1, 1.698 for 3; ResNet18 at 0.10 s: 3.150
against 3.249 and 3.248); 1 is best with bursts (1.508 against 1.577) and on the TMobile LTE uplink (0.300
against 0.430)."""
JPEG_CODEC = "jpeg-q90"
"""Codec of the edge-only-jpeg baseline (a label the profiler records by default)."""


def make_policy(name: str, profile: ModelProfile, *, codec: str = "raw", frame_codec: str | None = None,
                w: float = 1.0, frame_interval: float = 1.0, costs: SplitCosts | None = None) -> Policy:
    """Build policy ``name`` over ``profile``'s splits with wire codec ``codec`` (and ``frame_codec`` for
    split 0, if given; ``edge-only`` still sends the raw preprocessed frame, as in the paper).

    ``costs``, when given, is the table to decide over instead (``SplitCosts.for_config``). When its
    candidates are (split, codec) options (``codec.min_map``), every policy chooses the codec with the split:
    ``edge-only`` sends the raw frame, ``edge-only-jpeg`` the smallest JPEG of the table at the accuracy
    floor (the same accuracy as every other option), ``fixed:`` takes an option name, and DADS and
    semi-fixed, which plan over a chain of splits, take the fewest-bytes codec of each split.

    ``w`` is the reward's data weight (greedy, load-aware); ``frame_interval`` the sampling
    interval DADS and load-aware plan for.
    """
    if costs is not None and costs.chooses_codec:
        if name == "edge-only-jpeg":
            return FixedSplit(costs, costs.cheapest(EDGE_ONLY, "jpeg"), "edge-only-jpeg")
        if name == "edge-only":
            return FixedSplit(costs, costs.cheapest(EDGE_ONLY, "raw"), "edge-only")
    elif name == "edge-only-jpeg":
        return edge_only_jpeg(SplitCosts.from_profile(profile, JPEG_CODEC))
    elif name == "edge-only":
        return edge_only(SplitCosts.from_profile(profile, codec))
    costs = costs or SplitCosts.from_profile(profile, codec, frame_codec)
    if name.startswith("fixed:"):
        return FixedSplit(costs, name.partition(":")[2])
    builders = {
        "device-only": lambda: device_only(costs),
        "semi-fixed": lambda: SemiFixed(costs.one_per_cut()),
        "greedy": lambda: Greedy(costs, w),
        "load-aware": lambda: LoadAware(costs, w, frame_interval, LOAD_AWARE_HORIZON),
        "dads": lambda: Dads(costs.one_per_cut(), frame_interval),
        "ddp": lambda: DDP(costs),
        "edge-window": lambda: EdgeWindow(costs, EDGE_WINDOW),
        "myopic-oracle": lambda: Oracle(costs),
        "round-robin": lambda: RoundRobin(costs),
    }
    if name not in builders:
        raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(POLICY_NAMES)}, round-robin "
                         "or fixed:SPLIT")
    return builders[name]()


__all__ = [
    "DDP", "POLICY_NAMES", "Dads", "DagCosts", "EdgeWindow", "FixedSplit", "Greedy", "LoadAware", "Oracle", "Policy",
    "RoundRobin", "SemiFixed",
    "SplitCosts", "device_only", "edge_only", "edge_only_jpeg", "heavy_load_cut", "make_policy", "min_cut",
    "predict_delay",
]
