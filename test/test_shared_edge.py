"""Several devices sharing one edge: one device reproduces the single-device simulator exactly."""
from __future__ import annotations

import dataclasses

import pytest
from simhelpers import toy_profile

from scissor_core.policies import make_policy
from scissor_core.runtime.costs import SplitCosts
from scissor_core.runtime.traces import ConstantTrace, parse_trace
from scissor_core.simulation.shared_edge import SharedEdgeSimulator
from scissor_core.simulation.simulator import Simulator

PROFILE = toy_profile("resnet18")


def device(policy: str, trace_seed: int = 0, **kw) -> Simulator:
    kw = {"timeout": 0.5, "interval": 0.15, "local_max": 5, "offload_max": 4, **kw}
    trace = parse_trace("walk:mean=2MB,sigma=0.6,duration=60", seed=trace_seed)
    return Simulator(make_policy(policy, PROFILE, frame_interval=kw["interval"]), trace, **kw)


@pytest.mark.parametrize("policy", ["greedy", "load-aware", "semi-fixed", "round-robin", "fixed:0"])
@pytest.mark.parametrize("settings", [{}, {"jitter": 0.4, "burst_every": 7, "burst_size": 3},
                                      {"compute_spread": 0.3, "result_latency": 0.01, "transport_overhead": 0.002},
                                      {"edge_timeout": 0.4, "interval": 0.05}], ids=["plain", "bursts", "spread",
                                                                                     "edge-timeout"])
def test_one_device_runs_exactly_as_the_single_device_simulator(policy, settings):
    single = device(policy, **settings).run(300, seed=3)
    [shared] = SharedEdgeSimulator([device(policy, **settings)]).run(300, seed=3)
    assert [dataclasses.astuple(o) for o in shared] == [dataclasses.astuple(o) for o in single]


def test_devices_queue_at_the_one_edge():
    """Edge-only frames: 1 MB at 10 MB/s (0.1 s) and 0.3 s at the edge, one every 1.2 s per device: one device
    never waits at the edge; four share it and wait, and every frame still gets exactly one outcome."""
    def edge_only() -> Simulator:
        return Simulator(make_policy("fixed:0", PROFILE), ConstantTrace(1e7), timeout=5.0, interval=1.2)

    [alone] = SharedEdgeSimulator([edge_only()]).run(50)
    four = SharedEdgeSimulator([edge_only() for _ in range(4)]).run(50)
    assert all(o.completed for o in alone) and max(o.edge_wait for o in alone) == 0.0
    assert [len(run) for run in four] == [50] * 4 and all([o.seq for o in run] == list(range(50)) for run in four)
    assert max(o.edge_wait for run in four for o in run) > 0.0
    # the edge serves one frame at a time: no two services overlap
    spans = sorted((o.capture + o.total_delay - o.edge_compute, o.capture + o.total_delay) for run in four
                   for o in run if o.completed)
    assert all(a_end <= b_start + 1e-9 for (_, a_end), (b_start, _) in zip(spans, spans[1:]))


def test_clairvoyant_policies_are_refused():
    with pytest.raises(ValueError, match="clairvoyant"):
        SharedEdgeSimulator([Simulator(make_policy("myopic-oracle", PROFILE), ConstantTrace(1e6), timeout=1.0)])


def test_each_device_keeps_its_own_policy():
    costs = SplitCosts.from_profile(PROFILE)
    runs = SharedEdgeSimulator([device("device-only"), device("fixed:0", trace_seed=1)]).run(40)
    assert {o.split for o in runs[0]} == {costs.splits[-1]} and {o.split for o in runs[1]} == {"0"}
