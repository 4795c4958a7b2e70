"""Every baseline on a hand-made profile picks the expected split; DADS's min cut equals brute force."""
from __future__ import annotations

import random

import pytest

from scissor_core.models.graph import INPUT
from scissor_core.models.registry import load_model
from scissor_core.policies import (DDP, Dads, DagCosts, EdgeWindow, Greedy, SemiFixed, SplitCosts, heavy_load_cut,
                                   make_policy, min_cut, predict_delay)
from scissor_core.runtime.queues import ObservedState

from conftest import small_config
from simhelpers import toy_profile

PROFILE = toy_profile()
COSTS = SplitCosts.from_profile(PROFILE)


def state(bandwidth: float = 1e6, local_len: int = 0, device_backlog: float = 0.0, pending: float = 0.0,
          offload: float = 0.0, inflight: float = 0.0, now: float = 0.0) -> ObservedState:
    return ObservedState(0, now, local_len, 0, bandwidth, 0.0, pending, device_backlog, inflight, offload, 0, 0.0)


def test_split_costs_from_profile():
    assert COSTS.splits == ("0", "a", "b", "c", "d", "last")
    assert COSTS.local[0] == 0.0 and COSTS.edge[-1] == 0.0 and COSTS.nbytes[-1] == 0  # last sends nothing
    jpeg = SplitCosts.from_profile(PROFILE, "jpeg-q90")
    assert jpeg.splits == ("0", "last") and jpeg.nbytes[0] == 100_000
    with pytest.raises(ValueError, match="no bytes for codec"):
        SplitCosts.from_profile(PROFILE, "fp16")


def test_a_frame_codec_changes_only_split_0():
    mixed = SplitCosts.from_profile(PROFILE, "raw", frame_codec="jpeg-q90")
    assert mixed.splits == COSTS.splits and mixed.local == COSTS.local and mixed.edge == COSTS.edge
    assert mixed.nbytes[0] == 100_000 and mixed.nbytes[1:] == COSTS.nbytes[1:]
    assert [mixed.codec_of(s) for s in ("0", "a", "last")] == ["jpeg-q90", "raw", "raw"]
    assert SplitCosts.from_profile(PROFILE, "raw", frame_codec="raw") == COSTS  # the same codec: no frame codec
    with pytest.raises(ValueError, match="frame codec 'jpeg-q50'"):
        SplitCosts.from_profile(PROFILE, "raw", frame_codec="jpeg-q50")
    config = small_config("alexnet")
    config.codec.frame_encoding = "jpeg"
    assert SplitCosts.for_config(PROFILE, config.codec) == mixed
    greedy = make_policy("greedy", PROFILE, frame_codec="jpeg-q90")
    assert greedy.costs == mixed and make_policy("edge-only", PROFILE, frame_codec="jpeg-q90").costs == COSTS


def test_fixed_baselines():
    s = state()
    assert make_policy("device-only", PROFILE).decide(s) == "last"
    assert make_policy("edge-only", PROFILE).decide(s) == "0"
    jpeg = make_policy("edge-only-jpeg", PROFILE)
    assert jpeg.decide(s) == "0" and jpeg.costs.codec == "jpeg-q90"
    assert make_policy("fixed:c", PROFILE).decide(s) == "c"
    for bad in ("fixed:zz", "nonsense"):
        with pytest.raises(ValueError):
            make_policy(bad, PROFILE)


def test_semi_fixed_is_the_fifth_candidate_until_more_than_ten_wait():
    policy = SemiFixed(COSTS)
    assert policy.decide(state(local_len=10)) == "d"
    assert policy.decide(state(local_len=11)) == "0"


def test_predicted_delay_includes_queueing_per_split_kind():
    s = state(bandwidth=1e6, device_backlog=2.0, pending=300_000, offload=100_000, inflight=50_000)
    assert predict_delay(COSTS, 0, s) == pytest.approx(0.15 + 1.0 + 0.3)  # behind the link's queue only
    assert predict_delay(COSTS, 2, s) == pytest.approx(2.0 + 0.3 + 0.1 + 0.05)  # device backlog dominates
    assert predict_delay(COSTS, 5, s) == pytest.approx(2.5)


def test_greedy_and_ddp():
    # Empty queues, 1 MB/s: costs w*MB + delay = 2.3, 4.3, 0.55, 0.47, 0.43, 0.5 -> d.
    assert Greedy(COSTS, w=1.0).decide(state(1e6)) == "d"
    # A long local backlog: the raw frame is cheapest.
    assert Greedy(COSTS, w=1.0).decide(state(1e7, device_backlog=2.0)) == "0"
    # 10 MB/s: latency 0.4, 0.5, 0.36, 0.375, 0.411, 0.5 -> DDP picks b; greedy with w=10 avoids data.
    assert DDP(COSTS).decide(state(1e7)) == "b"
    assert Greedy(COSTS, w=10.0).decide(state(1e7)) == "last"


def test_dads_light_and_heavy_load_on_the_candidate_chain():
    light = Dads(COSTS, frame_interval=1.0)
    assert light.decide(state(1e7)) == "b" and not light.heavy  # the latency minimum, as DDP with no queues
    heavy = Dads(COSTS, frame_interval=0.25)  # b's slowest stage (0.3 s device) cannot keep up
    assert heavy.decide(state(1e7)) == "a" and heavy.heavy  # max stage 0.2 s
    assert heavy.decide(state(1.02e7)) == "a"  # within 5%: no re-plan
    dag = DagCosts.chain(COSTS)
    assert dag.is_chain and len(dag.nodes) == 5
    for k in range(6):
        d, x, e = dag.stages(frozenset(dag.nodes[:k]), 1e7)
        assert (d, x, e) == pytest.approx((COSTS.local[k], COSTS.nbytes[k] / 1e7, COSTS.edge[k]))


@pytest.mark.parametrize("name", ["alexnet", "resnet18", "yolov3", "yolov3-tiny"])
def test_dads_min_cut_equals_brute_force_over_every_valid_cut(name):
    """Seeded random per-node times and tensor sizes (so optima fall anywhere, multi-tensor cuts
    included) on the real DAG of each model; brute force uses SplitGraph's own cut semantics."""
    graph = load_model(small_config(name, 64 if name.startswith("yolov3") else None)).graph
    cuts = graph.enumerate_cuts()
    rng = random.Random(name)
    crossing_sizes = set()
    for _ in range(8):
        device = {v: rng.uniform(0.0, 0.01) for v in graph.order}
        edge = {v: rng.uniform(0.0, 0.01) for v in graph.order}
        tensor_bytes = {INPUT: 1e6, **{v: rng.lognormvariate(11, 1.5) for v in graph.order}}
        dag = DagCosts.from_graph(graph, device, edge, tensor_bytes)
        bandwidth = 1e6

        def cost(cut, device=device, edge=edge, tensor_bytes=tensor_bytes, bandwidth=bandwidth) -> float:
            return (sum(device[v] for v in cut.device_nodes) + sum(edge[v] for v in cut.edge_nodes)
                    + sum(tensor_bytes[t] for t in cut.crossing) / bandwidth)

        best = min(cost(c) for c in cuts)
        found = graph.cut_from_device_set(min_cut(dag, bandwidth))  # raises if the cut is not valid
        assert list(found.crossing) == dag.crossing(frozenset(found.device_nodes))
        assert cost(found) == pytest.approx(best, rel=1e-9, abs=1e-12)
        assert sum(dag.stages(frozenset(found.device_nodes), bandwidth)) == pytest.approx(best, rel=1e-9)
        crossing_sizes.add(len(found.crossing))
        heavy = graph.cut_from_device_set(heavy_load_cut(dag, bandwidth))
        assert max(dag.stages(frozenset(heavy.device_nodes), bandwidth)) <= \
            max(dag.stages(frozenset(found.device_nodes), bandwidth)) + 1e-12
    if name == "yolov3":
        assert max(crossing_sizes) >= 3  # the three-branch cuts were exercised


def test_load_aware_prices_the_backlog_a_frame_leaves_past_the_next_arrival():
    from scissor_core.policies import LoadAware

    s = state(1e7)
    # w=10 at 10 MB/s: a lone frame is cheapest device-only (0.5 s, no data), as greedy finds
    assert Greedy(COSTS, w=10.0).decide(s) == "last"
    # ... and with a frame every second nothing is left queued at the next arrival: the same choice
    assert LoadAware(COSTS, w=10.0, frame_interval=1.0, horizon=2.0).decide(s) == "last"
    # every 0.25 s device-only leaves 0.25 s of device work for the next frame (x2: 0.5); d leaves 0.15 (0.3)
    # and sends 10 kB: 0.1 + 0.411 + 0.3 < 0.5 + 0.5
    assert LoadAware(COSTS, w=10.0, frame_interval=0.25, horizon=2.0).decide(s) == "d"
    # the link's queued bytes count too: 2 MB ahead at 10 MB/s is 0.2 s, + d's 10 kB, under 0.25 s: still d
    assert LoadAware(COSTS, w=10.0, frame_interval=0.25, horizon=2.0).decide(state(1e7, pending=2e6)) == "d"
    # horizon 0 is greedy
    assert LoadAware(COSTS, w=10.0, frame_interval=0.25, horizon=0.0).decide(s) == "last"


def test_load_aware_keeps_a_slow_device_from_falling_behind_where_greedy_does():
    """A frame every 0.3 s, device-only taking 0.5 s and data priced high (w=10): greedy takes device-only while
    the queue is short, falls behind and drops 40% of the frames; the load-aware greedy prices the device work
    it leaves for the next frames and drops fewer (25%; neither predicts timeouts), at a lower cost."""
    from scissor_core.analysis.metrics import RunMetrics
    from scissor_core.runtime.traces import parse_trace
    from scissor_core.simulation.simulator import Simulator

    config = small_config("alexnet")
    config.sim.interval = 0.3
    config.reward.w = 10.0
    runs = {name: RunMetrics.of(Simulator.from_config(config, make_policy(name, PROFILE, w=10.0, frame_interval=0.3),
                                                      parse_trace("const:10MB")).run(400))
            for name in ("greedy", "load-aware")}
    assert runs["load-aware"].system_cost < runs["greedy"].system_cost
    assert runs["load-aware"].drop_rate <= runs["greedy"].drop_rate


def test_edge_window_sends_the_frame_while_fewer_than_the_window_are_out():
    policy = EdgeWindow(COSTS, window=2)
    assert make_policy("edge-window", PROFILE).name == "edge-window"
    idle = state()
    assert policy.decide(idle) == "0"
    for out in (idle._replace(edge_frames=2), idle._replace(offload_len=1, edge_frames=1)):
        assert policy.decide(out) == "last"
    assert policy.decide(idle._replace(edge_frames=1, local_len=4)) == "0"  # the device's queue does not count
    with pytest.raises(ValueError, match="at least 1 frame"):
        EdgeWindow(COSTS, window=0)


def test_edge_window_never_has_more_than_its_window_out_in_the_simulator():
    """In the simulator (the live device's queue model) the frames a decision sees out -- queued for the link,
    on it, at the edge -- never exceed the window, and both kinds of frame run."""
    from scissor_core.simulation.simulator import Simulator
    from scissor_core.runtime.traces import parse_trace

    class Watched(EdgeWindow):
        seen: list[ObservedState] = []

        def decide(self, s: ObservedState) -> str:
            self.seen.append(s)
            return super().decide(s)

    config = small_config("alexnet")
    config.sim.interval = 0.05
    policy = Watched(COSTS, window=2)
    outcomes = Simulator.from_config(config, policy, parse_trace("const:1MB")).run(300)
    out = [s.offload_len + s.edge_frames for s in policy.seen]
    assert max(out) == 2 and {o.split for o in outcomes} == {"0", "last"}
