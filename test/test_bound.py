"""The offline lower bound: checked against brute force over every split sequence of small runs."""
from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from simhelpers import toy_profile

from scissor_core.analysis.metrics import RunMetrics
from scissor_core.policies import make_policy
from scissor_core.runtime.costs import SplitCosts
from scissor_core.runtime.outcome import Reward
from scissor_core.runtime.policy import Policy
from scissor_core.runtime.traces import ConstantTrace, PiecewiseTrace, Trace
from scissor_core.simulation.bound import (PlanPolicy, _pareto, capacity_bound, lower_bound, shared_capacity_bound,
                                           shared_edge_bound, simulator_bound)
from scissor_core.simulation.shared_edge import SharedEdgeSimulator
from scissor_core.simulation.simulator import Simulator


class Scripted(Policy):
    """Decides a fixed sequence of splits."""

    name = "scripted"

    def __init__(self, costs: SplitCosts, splits: tuple[str, ...]) -> None:
        super().__init__(costs)
        self.splits = splits

    def decide(self, state) -> str:
        return self.splits[state.seq]


def simulator(policy: Policy, trace: Trace, **kw) -> Simulator:
    kw = {"timeout": 0.5, "interval": 0.1, "reward": Reward(1.0, 10.0), **kw}
    return Simulator(policy, trace, **kw)


def total(outcomes) -> float:
    return sum(o.cost for o in outcomes)


def brute_force(costs: SplitCosts, trace: Trace, frames: int, **kw) -> float:
    """The cheapest run over every split sequence (the true offline optimum)."""
    return min(total(simulator(Scripted(costs, seq), trace, **kw).run(frames))
               for seq in itertools.product(costs.splits, repeat=frames))


def random_costs(rng: random.Random, splits: tuple[str, ...]) -> SplitCosts:
    local, edge, nbytes = [], [], []
    for s in splits:
        local.append(0.0 if s == "0" else rng.uniform(0.02, 0.3))
        edge.append(0.0 if s == "last" else rng.uniform(0.01, 0.3))
        nbytes.append(0 if s == "last" else rng.randrange(10_000, 800_000))
    return SplitCosts("toy", "raw", splits, tuple(local), tuple(edge), tuple(nbytes))


TRACES = {
    "constant": ConstantTrace(2e6),
    "steps": PiecewiseTrace([0.15, 0.1, 0.2], [3e6, 2e5, 1e6]),
}


@pytest.mark.parametrize("trace", TRACES, ids=str)
@pytest.mark.parametrize("instance", range(12))
def test_the_bound_is_never_above_the_best_of_every_split_sequence(trace, instance):
    rng = random.Random(instance)
    costs = random_costs(rng, ("0", "a", "b", "last"))
    kw = {"interval": rng.choice([0.05, 0.1, 0.2]), "timeout": rng.choice([0.2, 0.5]),
          "local_max": rng.choice([2, 30]), "edge_capacity": rng.choice([1, 1, 2]),
          "result_latency": rng.choice([0.0, 0.01]), "transport_overhead": rng.choice([0.0, 0.005]),
          "edge_timeout": rng.choice([math.inf, 0.3])}
    frames = 5
    optimum = brute_force(costs, TRACES[trace], frames, **kw)
    bound = simulator_bound(simulator(Scripted(costs, ("0",) * frames), TRACES[trace], **kw), frames)
    assert bound.queueing.total <= optimum + 1e-9
    assert bound.capacity <= optimum + 1e-6
    replay = total(simulator(PlanPolicy(costs, bound.queueing.plan), TRACES[trace], **kw).run(frames))
    assert replay >= optimum - 1e-9  # the plan is one of the sequences brute force tried


@pytest.mark.parametrize("lookahead", [1, 2])
@pytest.mark.parametrize("instance", range(6))
def test_the_bound_holds_at_every_lookahead(lookahead, instance):
    """The default keeps the link's and edge's step functions at no later arrival; keeping more is another
    valid relaxation (and the bound takes it when asked)."""
    rng = random.Random(50 + instance)
    costs = random_costs(rng, ("0", "a", "b", "last"))
    kw = {"interval": rng.choice([0.05, 0.1]), "timeout": rng.choice([0.2, 0.5]), "local_max": 30}
    trace = TRACES["steps" if instance % 2 else "constant"]
    optimum = brute_force(costs, trace, 5, **kw)
    bound = simulator_bound(simulator(Scripted(costs, ("0",) * 5), trace, **kw), 5, max_labels=10_000,
                            lookahead=lookahead).queueing
    assert bound.exact and bound.total <= optimum + 1e-9


def test_the_pareto_filter_keeps_exactly_the_labels_nothing_dominates():
    """Against the definition, on random labels with ties in cost and equal states, across several blocks."""
    rng = np.random.default_rng(3)
    n = 700
    dev = rng.integers(0, 6, n).astype(float)
    link, serve = rng.integers(0, 4, (n, 2)).astype(float), rng.integers(0, 4, (n, 2)).astype(float)
    cost = rng.integers(0, 30, n).astype(float)
    kept = _pareto([(dev, link, serve, cost, np.arange(n), 0)])
    state = np.column_stack([dev, link, serve])
    def dominated(i):
        no_later = (state <= state[i]).all(axis=1) & (cost <= cost[i])
        strictly = (state < state[i]).any(axis=1) | (cost < cost[i])
        return (no_later & strictly).any()
    undominated = {tuple([*state[i], cost[i]]) for i in range(n) if not dominated(i)}
    got = [tuple([*row, c]) for row, c in zip(np.column_stack(kept[:3]), kept[3], strict=True)]
    assert len(got) == len(set(got)) == len(undominated)  # one label per undominated (state, cost)
    assert set(got) == undominated
    assert all(cost[p] == c for p, c in zip(kept[4], kept[3], strict=True))  # each keeps its own history


@pytest.mark.parametrize("instance", range(8))
def test_without_edge_only_frames_drops_or_limits_the_bound_is_the_optimum(instance):
    """When nothing the relaxation relaxes can happen (no frame overtakes on the link, none is dropped, no queue
    is full), the bound must equal the brute-force optimum: it is not merely below it."""
    rng = random.Random(100 + instance)
    costs = random_costs(rng, ("a", "b", "c", "last"))
    kw = {"interval": rng.choice([0.1, 0.2]), "timeout": 100.0, "reward": Reward(1.0, 1e6),
          "edge_capacity": 1, "result_latency": 0.01}
    trace = TRACES["steps" if instance % 2 else "constant"]
    optimum = brute_force(costs, trace, 5, **kw)
    bound = simulator_bound(simulator(Scripted(costs, ("a",) * 5), trace, **kw), 5, max_labels=10_000).queueing
    assert bound.exact
    assert bound.total == pytest.approx(optimum, rel=1e-9, abs=1e-12)
    replay = total(simulator(PlanPolicy(costs, bound.plan), trace, **kw).run(5))
    assert replay == pytest.approx(optimum, rel=1e-9)  # and its plan reaches it in the real simulator


def test_merging_labels_only_lowers_the_bound():
    costs = random_costs(random.Random(7), ("0", "a", "b", "c", "last"))
    arrivals = [0.06 * k for k in range(80)]
    kw = {"timeout": 0.5, "w": 1.0, "drop_penalty": 10.0}
    wide = lower_bound(arrivals, costs, TRACES["steps"], max_labels=256, **kw)
    narrow = lower_bound(arrivals, costs, TRACES["steps"], max_labels=3, **kw)
    assert narrow.merged > 0 and not narrow.exact
    assert narrow.total <= wide.total + 1e-9


def test_no_policy_beats_the_bound_on_a_loaded_run():
    """ResNet18-like toy profile, a device that cannot keep up: every policy's run costs at least the bound."""
    profile = toy_profile("resnet18")
    costs = SplitCosts.from_profile(profile)
    trace = ConstantTrace(2e6)
    frames = 300
    bound = simulator_bound(simulator(Scripted(costs, ("0",) * frames), trace, interval=0.12), frames)
    for name in ("device-only", "edge-only", "greedy", "load-aware", "ddp", "myopic-oracle", "semi-fixed"):
        policy = make_policy(name, profile, frame_interval=0.12, costs=costs)
        outcomes = simulator(policy, trace, interval=0.12).run(frames)
        assert RunMetrics.of(outcomes).system_cost >= bound.per_frame - 1e-9, name
    assert bound.capacity > bound.queueing.total  # the device cannot keep up: forced drops, which the DP misses
    plan = simulator(PlanPolicy(costs, bound.queueing.plan), trace, interval=0.12).run(frames)
    assert total(plan) >= bound.total - 1e-9


def test_the_bound_refuses_a_compute_spread():
    costs = random_costs(random.Random(1), ("0", "last"))
    with pytest.raises(ValueError, match="compute_spread"):
        simulator_bound(simulator(Scripted(costs, ("0",)), ConstantTrace(1e6), compute_spread=0.1), 1)


def test_the_capacity_bound_counts_the_drops_a_slow_device_forces():
    """One split, 0.2 s on the device, a frame every 0.1 s for 40 s, T = 0.5 s: the device completes at most
    (39.9 + 0.5 + 0.2) / 0.2 = 203 frames, so at least 197 are dropped (F = 10) and 203 cost 0.2 s each."""
    costs = SplitCosts("toy", "raw", ("last",), (0.2,), (0.0,), (0,))
    arrivals = [0.1 * k for k in range(400)]
    bound = capacity_bound(arrivals, costs, ConstantTrace(1e6), timeout=0.5, w=1.0, drop_penalty=10.0)
    assert bound >= 197 * 10.0 + 203 * 0.2 - 1e-6
    run = simulator(Scripted(costs, ("last",) * 400), ConstantTrace(1e6), local_max=1000).run(400)
    assert total(run) >= bound - 1e-6


@pytest.mark.parametrize("instance", range(8))
def test_the_shared_edge_bound_is_never_above_the_best_of_every_devices_split_sequences(instance):
    """Two devices at one edge, 3 frames each, 3 splits: brute force over all 3^6 pairs of sequences."""
    rng = random.Random(200 + instance)
    costs = random_costs(rng, ("0", "a", "last"))
    kw = {"interval": rng.choice([0.05, 0.1]), "timeout": rng.choice([0.2, 0.5]), "local_max": rng.choice([1, 30]),
          "result_latency": rng.choice([0.0, 0.01]), "edge_timeout": rng.choice([math.inf, 0.3])}
    traces = [TRACES["steps"], ConstantTrace(rng.choice([5e5, 3e6]))]

    def shared(first: tuple[str, ...], second: tuple[str, ...]) -> SharedEdgeSimulator:
        return SharedEdgeSimulator([simulator(Scripted(costs, first), traces[0], **kw),
                                    simulator(Scripted(costs, second), traces[1], **kw)])

    frames = 3
    sequences = list(itertools.product(costs.splits, repeat=frames))
    optimum = min(sum(total(run) for run in shared(a, b).run(frames)) for a in sequences for b in sequences)
    bound = shared_edge_bound(shared(sequences[0], sequences[0]), frames)
    assert bound.queueing.frames == 2 * frames and len(bound.queueing.plan) == 2 * frames
    assert bound.queueing.total <= optimum + 1e-9
    assert bound.capacity <= optimum + 1e-6


def test_the_shared_edge_capacity_bound_counts_the_drops_a_shared_edge_forces():
    """Edge-only frames, 0.3 s at the edge, one every 0.4 s on each of 2 devices for 40 s: alone each device's
    frames fit (0.3 < 0.4), together the edge serves at most (39.6 + 0.1 + 10) / 0.3 = 165 of the 200 within
    F = 10 s; the capacity programme sees the forced drops, the per-device DP cannot."""
    costs = SplitCosts("toy", "raw", ("0",), (0.0,), (0.3,), (1000,))
    arrivals = [0.4 * k for k in range(100)]
    common = {"timeout": 0.5, "w": 1.0, "drop_penalty": 10.0}
    alone = capacity_bound(arrivals, costs, ConstantTrace(1e7), **common)
    assert alone == pytest.approx(100 * (0.3 + 1e-4 + 1e-3), rel=1e-6)
    together = shared_capacity_bound([(arrivals, ConstantTrace(1e7)), ([a + 0.2 for a in arrivals],
                                                                       ConstantTrace(1e7))], costs, **common)
    assert together >= 2 * alone + 30 * (10.0 - 0.301)
    devices = SharedEdgeSimulator([simulator(Scripted(costs, ("0",) * 100), ConstantTrace(1e7), interval=0.4,
                                             local_max=1000, offload_max=1000, edge_timeout=5.0) for _ in range(2)])
    bound = shared_edge_bound(devices, 100)
    assert bound.capacity > bound.queueing.total
    assert sum(total(run) for run in devices.run(100)) >= bound.total - 1e-6


def test_no_policy_beats_the_shared_edge_bound_on_a_loaded_run():
    profile = toy_profile("resnet18")
    costs = SplitCosts.from_profile(profile)
    for devices in (2, 3):
        bound = shared_edge_bound(SharedEdgeSimulator([simulator(Scripted(costs, ("0",) * 200), ConstantTrace(2e6),
                                                                 interval=0.2) for _ in range(devices)]), 200)
        for name in ("device-only", "edge-only", "greedy", "load-aware", "ddp", "semi-fixed"):
            runs = SharedEdgeSimulator([simulator(make_policy(name, profile, frame_interval=0.2, costs=costs),
                                                  ConstantTrace(2e6), interval=0.2) for _ in range(devices)]).run(200)
            assert RunMetrics.of([o for run in runs for o in run]).system_cost >= bound.per_frame - 1e-9, name
