"""A lower bound on the cost of a simulated run: no policy, not even a clairvoyant one, does better.

Given the whole run -- every arrival, the trace, the profile -- :func:`lower_bound` solves a
*relaxation* of the simulator exactly by dynamic programming over its queue state. Every split
sequence the simulator can run maps to a relaxed run of equal or lower cost, so the relaxation's
optimum is at most the cost of every policy on that run. The relaxation:

- a frame may be dropped at will, at cost ``F``, using nothing (in the simulator a frame is dropped
  only by a timeout or a full queue, and may already have used the device);
- queue length limits are ignored; the timeouts are kept where they stay necessary: a completed
  frame waited at most ``T`` for the device and at most ``T`` for the link (in the relaxation the
  link is never later than in the simulator, so a wait the simulator allows is allowed here);
- the device is exact (FIFO in arrival order); the link and a one-at-a-time edge serve frames in
  order of readiness (compute done, or arrival for split ``0``), as the simulator does, but a frame
  waits only for frames decided *before* it: a later split-``0`` frame that overtakes it on the
  link (arriving while it still computes) does not delay it;
- an edge serving several frames at once (``edge_capacity`` > 1) never queues.

So a frame's cost is known when it is decided, and the state a decision leaves is the time the
device is free and, for each time a later frame could become ready, the times the link and the edge
are free of the frames ready by then: two non-decreasing step functions. They are kept at the next
``lookahead`` arrivals (a split-``0`` frame arriving then is ready on arrival) and for "any later"
(what a computed frame, ready after everything decided before it, waits for); an arrival that enters
the window takes the value of the one before it, a lower bound, unless it comes after every frame
decided so far can be ready (``T`` + the longest compute), when it takes the "later" value. Every
quantity is non-decreasing in the state, so a label that is no later anywhere and no dearer than
another dominates it, and labels are pruned to the Pareto set. When more than ``max_labels`` remain,
labels in the same cell of a time grid are merged into their component-wise minimum: still
optimistic, so still a bound, but no longer the relaxation's exact optimum (:attr:`Bound.exact`,
:attr:`Bound.resolution`).

:func:`capacity_bound` is the second bound, from what the device, link and edge can carry over windows of
the run: it sees the drops a slow device or edge forces, which the DP's merged labels blur. The run's bound
(:class:`RunBound`, :func:`simulator_bound`) is the higher of the two. :func:`shared_edge_bound` gives both
for several devices at one edge.

The cheapest label's decisions are also returned (:attr:`Bound.plan`, ``None`` = drop): replayed
in the real simulator by :class:`PlanPolicy`, they give an offline cost that *is* achievable, an
upper bound on the optimum. The optimum of the run lies between the two. ``compute_spread`` must be
0 (its draws depend on the order of events, which the bound does not replay).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scissor_core.models.registry import DEVICE_ONLY, EDGE_ONLY
from scissor_core.runtime.costs import SplitCosts
from scissor_core.runtime.outcome import MB
from scissor_core.runtime.policy import Policy
from scissor_core.runtime.queues import ObservedState
from scissor_core.runtime.traces import Trace
from scissor_core.simulation.shared_edge import SharedEdgeSimulator
from scissor_core.simulation.simulator import Simulator, arrival_times

MAX_LABELS = 512
"""Labels kept per frame before nearby ones are merged (more = tighter and slower). On 1000 frames of ResNet18 at
0.15 s (Table 1 profile): 256 labels give 0.267, 512 labels 0.290 (25 s), as 1024 and 4096 do on its first 100."""
LOOKAHEAD = 0
"""Arrivals after the current one at which the link's and edge's step functions are kept exactly (more = a
tighter relaxation for split-0 frames that arrive while computed frames are still on the device, but more
dimensions for the labels, so more merging at a given label budget: with 1024 labels on 100 ResNet18 frames at
0.15 s, lookahead 0 gives 0.290, 2 gives 0.282, and 0 is as tight as 4096 labels)."""
CAPACITY_WINDOWS: tuple[float, ...] = (2.0, 5.0, 10.0, 30.0, 100.0)
"""Window lengths (s) :func:`capacity_bound` tries."""
DELAY_TIERS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 5.0)
"""The delay tiers (s) of :func:`capacity_bound` (``F`` closes the last one)."""
DROP = -1
"""The action index of a voluntary drop."""
PARETO_BLOCK = 256
"""Children checked for domination at once (memory ~ block x kept labels x state size)."""


@dataclass(frozen=True)
class Bound:
    """The lower bound of one run, and the decisions that reach it in the relaxation."""

    total: float
    """Lower bound on the run's summed cost (``w*MB + delay`` per completed frame, ``F`` per drop)."""
    frames: int
    exact: bool
    """True when no labels were merged: ``total`` is the relaxation's optimum itself."""
    plan: tuple[str | None, ...]
    """The candidate of each frame on the cheapest path (``None``: dropped)."""
    merged: int
    """Frames at which labels were merged."""
    peak_labels: int
    resolution: float
    """The largest merge cell (s): labels that far apart in device, link or edge time were merged."""

    @property
    def per_frame(self) -> float:
        """The bound on the system cost (the mean cost per frame, as :class:`RunMetrics` reports it)."""
        return self.total / self.frames


@dataclass(frozen=True)
class RunBound:
    """Both lower bounds of one run; the higher one is the run's bound."""

    queueing: Bound
    """The DP over the queue state (:func:`lower_bound`): sees queueing delay, misses forced drops when merged."""
    capacity: float
    """The capacity programme (:func:`capacity_bound`): sees forced drops, no queueing delay."""

    @property
    def total(self) -> float:
        return max(self.queueing.total, self.capacity)

    @property
    def per_frame(self) -> float:
        """The bound on the system cost (mean cost per frame, as :class:`RunMetrics` reports it)."""
        return self.total / self.queueing.frames if self.queueing.frames else 0.0


def simulator_bound(simulator: Simulator, frames: int, *, start: float = 0.0, seed: int | None = None,
                    max_labels: int = MAX_LABELS, lookahead: int = LOOKAHEAD) -> RunBound:
    """The bounds of the run ``simulator.run(frames, start=start, seed=seed)`` would make (same arrivals,
    trace, queues and reward), whatever the policy."""
    s = simulator
    common = _settings(s)
    arrivals = [start + a for a in arrival_times(frames, s.interval, s.jitter, s.burst_every, s.burst_size,
                                                 s.seed if seed is None else seed)]
    costs = s.policy.costs
    return RunBound(lower_bound(arrivals, costs, s.trace, serial_edge=s.edge_capacity == 1, max_labels=max_labels,
                                lookahead=lookahead, **common),
                    capacity_bound(arrivals, costs, s.trace, edge_servers=s.edge_capacity, **common))


def shared_edge_bound(shared: SharedEdgeSimulator, frames: int, *, seed: int | None = None,
                      max_labels: int = MAX_LABELS) -> RunBound:
    """The bounds of the run ``shared.run(frames, seed=seed)`` would make, whatever the devices' policies.

    Queueing DP: each device's own run as if it were alone at the edge, summed (a FIFO edge serves none of a
    device's frames earlier for the other devices' frames being there, and a frame they make late is at most a
    drop, which the relaxation allows at will); its plan is device 0's frames, then device 1's, ...
    Capacity programme: every device's frames at once, the edge shared (:func:`shared_capacity_bound`)."""
    common = _settings(shared.devices[0])
    if any(_settings(d) != common for d in shared.devices):
        raise ValueError("the shared-edge bound needs every device with the same queues, reward and link overheads")
    costs, streams = shared.devices[0].policy.costs, shared.arrivals(frames, seed)
    serial = shared.edge_capacity == 1
    alone = [lower_bound(a, costs, d.trace, serial_edge=serial, max_labels=max_labels, **common)
             for a, d in zip(streams, shared.devices, strict=True)]
    queueing = Bound(sum(b.total for b in alone), sum(b.frames for b in alone), all(b.exact for b in alone),
                     tuple(c for b in alone for c in b.plan), sum(b.merged for b in alone),
                     max(b.peak_labels for b in alone), max(b.resolution for b in alone))
    capacity = shared_capacity_bound([(a, d.trace) for a, d in zip(streams, shared.devices, strict=True)], costs,
                                     edge_servers=shared.edge_capacity, **common)
    return RunBound(queueing, capacity)


def _settings(s: Simulator) -> dict[str, float]:
    """The simulator settings both bounds take; a compute spread is refused (its draws depend on the order of
    events, which the bounds do not replay)."""
    if s.compute_spread:
        raise ValueError("the bound needs sim.compute_spread 0: its compute times are the profile's")
    return {"timeout": s.timeout, "w": s.reward.w, "drop_penalty": s.reward.drop_penalty,
            "overhead": s.transport_overhead, "latency": s.result_latency}


def lower_bound(arrivals: list[float], costs: SplitCosts, trace: Trace, *, timeout: float, w: float,
                drop_penalty: float, overhead: float = 0.0, latency: float = 0.0, serial_edge: bool = True,
                max_labels: int = MAX_LABELS, lookahead: int = LOOKAHEAD) -> Bound:
    """The relaxation's optimum over ``arrivals`` (sorted capture times), by DP over the queue state."""
    if not arrivals:
        return Bound(0.0, 0, True, (), 0, 0, 0.0)
    local = np.asarray(costs.local, dtype=float)
    times = np.asarray(arrivals, dtype=float)
    n = len(times)
    padded = np.concatenate([times, np.full(lookahead + 1, np.inf)])  # past the last frame: "any later"
    reach = timeout + float(local.max(initial=0.0)) + 1e-9
    """A frame decided at ``a`` is ready by ``a + reach``: an arrival after that sees the "later" value."""
    finish = trace.transmit_finish_time
    options = [(local[j], costs.edge[j], costs.nbytes[j], cut != EDGE_ONLY, cut != DEVICE_ONLY)
               for j, cut in enumerate(costs.cuts)]

    dev = np.zeros(1)
    link = np.full((1, lookahead + 2), -np.inf)
    serve = link.copy()
    cost = np.zeros(1)
    back: list[tuple[np.ndarray, np.ndarray]] = []  # per frame: (parent label, action) of each label
    merged = peak = 0
    resolution = 0.0
    for k in range(n):
        a = times[k]
        if k:
            beyond = padded[k + lookahead] > times[k - 1] + reach
            link, serve = _slide(link, beyond), _slide(serve, beyond)
        points = padded[k:k + lookahead + 1]
        children = [(dev, link, serve, cost + drop_penalty, np.arange(len(cost)), DROP)]
        for j, option in enumerate(options):
            child = _decide(j, option, a, points, dev, link, serve, cost, finish, timeout, w, overhead, latency,
                            serial_edge)
            if child is not None:
                children.append(child)
        dev, link, serve, cost, parent, action = _pareto(children)
        peak = max(peak, len(cost))
        if len(cost) > max_labels:
            dev, link, serve, cost, parent, action, cell = _merge(dev, link, serve, cost, parent, action, a,
                                                                 max_labels)
            merged += 1
            resolution = max(resolution, cell)
        back.append((parent, action))
    best = int(np.argmin(cost))
    plan: list[str | None] = []
    for parent, action in reversed(back):
        j = int(action[best])
        plan.append(None if j == DROP else costs.splits[j])
        best = int(parent[best])
    return Bound(float(cost.min()), n, merged == 0, tuple(reversed(plan)), merged, peak, resolution)


def _slide(values: np.ndarray, beyond: bool) -> np.ndarray:
    """Columns for arrivals k-1..k-1+L (+ later) moved to k..k+L (+ later). The new arrival k+L takes the
    "later" value when it is past every frame decided so far, else the value at k-1+L: a lower bound,
    since the link's and the edge's free times only grow with the time a frame becomes ready."""
    fresh = values[:, -1:] if beyond else values[:, -2:-1]
    return np.concatenate([values[:, 1:-1], fresh, values[:, -1:]], axis=1)


def _decide(j, option, a, points, dev, link, serve, cost, finish, timeout, w, overhead, latency, serial_edge):
    """Every label's child for candidate ``j`` at the arrival ``a`` (None when it is infeasible for all)."""
    local, edge, nbytes, on_device, on_link = option
    labels = np.arange(len(cost))
    if on_device:
        started = np.maximum(a, dev)
        ok = started - a <= timeout
        ready = started + local
        new_dev = ready
    else:
        ok = np.ones(len(cost), dtype=bool)
        ready = np.full(len(cost), a)
        new_dev = dev
    if not ok.any():
        return None
    if not on_link:  # device-only: its result is on the device when the compute ends
        return (new_dev[ok], link[ok], serve[ok], (cost + (ready - a))[ok], labels[ok], j)
    # a computed frame is ready after every frame decided before it (the "later" column); split 0 on arrival
    column = -1 if on_device else 0
    sent_at = np.maximum(ready, link[:, column])
    ok &= sent_at - ready <= timeout
    if not ok.any():
        return None
    sent_at, ready, new_dev = sent_at[ok], ready[ok], new_dev[ok]
    link, serve, before = link[ok], serve[ok], cost[ok]
    arrived = (np.array([finish(t, nbytes) for t in sent_at]) if nbytes else sent_at) + overhead
    done = (np.maximum(arrived, serve[:, column]) if serial_edge else arrived) + edge
    frame_cost = w * nbytes / MB + (done + latency - a)
    after = np.concatenate([points[None, :] >= ready[:, None], np.ones((len(ready), 1), dtype=bool)], axis=1)
    new_link = np.where(after, np.maximum(link, arrived[:, None]), link)
    new_serve = np.where(after, np.maximum(serve, done[:, None]), serve) if serial_edge else serve
    return (new_dev, new_link, new_serve, before + frame_cost, labels[ok], j)


def _pareto(children):
    """The children no other child dominates (no later device, link or edge anywhere, and no dearer).

    In order of cost a child is dominated when any child before it is no later anywhere; that one is itself
    kept or dominated by a kept one (domination is transitive), so the check runs a block of children at a
    time against the kept ones and within the block, at once."""
    dev = np.concatenate([c[0] for c in children])
    link = np.concatenate([c[1] for c in children])
    serve = np.concatenate([c[2] for c in children])
    cost = np.concatenate([c[3] for c in children])
    parent = np.concatenate([c[4] for c in children])
    action = np.concatenate([np.full(len(c[3]), c[5]) for c in children])
    state = np.column_stack([dev, link, serve])
    order = np.lexsort((cost, *state.T[::-1]))  # equal states together, cheapest first
    same = (state[order[1:]] == state[order[:-1]]).all(axis=1)
    order = order[np.concatenate([[True], ~same])]  # a dearer label with an equal state is dominated
    order = order[np.lexsort((state[order].sum(axis=1), cost[order]))]  # at equal cost, a dominating one first
    state = state[order]
    kept = np.zeros(len(order), dtype=bool)
    earlier = np.tri(PARETO_BLOCK, k=-1, dtype=bool)  # [i, j]: j comes before i in the block
    survivors = state[:0]
    for start in range(0, len(order), PARETO_BLOCK):
        block = state[start:start + PARETO_BLOCK]
        size = len(block)
        dominated = _no_later(block, survivors).any(axis=1)
        dominated |= (_no_later(block, block) & earlier[:size, :size]).any(axis=1)
        kept[start:start + size] = ~dominated
        survivors = np.concatenate([survivors, block[~dominated]])
    idx = order[kept]
    return dev[idx], link[idx], serve[idx], cost[idx], parent[idx], action[idx]


def _no_later(states: np.ndarray, others: np.ndarray) -> np.ndarray:
    """``[i, j]``: ``others[j]`` is no later than ``states[i]`` in any component (a column at a time: no
    three-dimensional temporary)."""
    result = others[None, :, 0] <= states[:, 0, None]
    for column in range(1, states.shape[1]):
        result &= others[None, :, column] <= states[:, column, None]
    return result


def _merge(dev, link, serve, cost, parent, action, a, max_labels):
    """Labels whose device, link and edge times fall in the same cell of a grid replaced by their
    component-wise minimum (with the cheapest member's history); the cell starts at 1 ms and doubles until at
    most ``max_labels`` remain. Returns the labels and the cell size (s)."""
    state = np.column_stack([dev, link, serve]) - a
    state = np.maximum(state, -1.0)  # all times before the arrival are alike ("free now")
    cell = 1e-3
    while True:
        _, group = np.unique(np.floor(state / cell).astype(np.int64), axis=0, return_inverse=True)
        group = group.ravel()
        if group.max() + 1 <= max_labels:
            break
        cell *= 2.0
    order = np.lexsort((cost, group))  # by group, cheapest first
    starts = np.searchsorted(group[order], np.arange(group.max() + 1))
    first = order[starts]
    return (np.minimum.reduceat(dev[order], starts), np.minimum.reduceat(link[order], starts, axis=0),
            np.minimum.reduceat(serve[order], starts, axis=0), cost[first], parent[first], action[first], cell)


def capacity_bound(arrivals: list[float], costs: SplitCosts, trace: Trace, **settings) -> float:
    """A second lower bound on the run's summed cost, from what the device, the link and the edge can carry
    (:func:`shared_capacity_bound` for one device)."""
    return shared_capacity_bound([(arrivals, trace)], costs, **settings)


def shared_capacity_bound(devices: Sequence[tuple[list[float], Trace]], costs: SplitCosts, *, timeout: float,
                          w: float, drop_penalty: float, overhead: float = 0.0, latency: float = 0.0,
                          edge_servers: int = 1, windows: tuple[float, ...] = CAPACITY_WINDOWS,
                          tiers: tuple[float, ...] = DELAY_TIERS) -> float:
    """A lower bound on the summed cost of a run of devices (each its arrivals and uplink trace) at one edge,
    from what each device, each uplink and the one edge can carry.

    Map any simulator run to the programme below: a dropped frame, or one completing more than ``F`` s after
    capture (it costs more than ``F``), becomes a drop (``F``, using nothing). Every other frame costs at
    least its *isolated* cost (nothing ahead of it, the trace at its own time) and, when it completes in the
    delay tier (D', D] of ``tiers``, at least D' plus its data. Its device part ran within ``T`` + the longest
    compute after capture; its bytes and its edge part within its delay. So for every window of consecutive
    arrivals (the run cut into windows of each length in ``windows``, s) and every tier bound D, the window's
    frames completing within D fit in the device time, the link's bytes and the edge time of the window's span +
    D. The linear programme over those constraints (a frame may be split between options) is solved exactly
    (HiGHS); its optimum is at most every run's cost. Unlike the DP of :func:`lower_bound` it sees the drops
    that a device or an edge too slow for the frame rate forces, but no queueing delay. With several devices
    the device and link constraints are per device (its own frames of the window, its own trace) and the edge
    constraint is over every device's frames of the window: the edge is the one resource they share."""
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    times = np.concatenate([np.asarray(a, dtype=float) for a, _ in devices])
    device_of = np.concatenate([np.full(len(a), d) for d, (a, _) in enumerate(devices)])
    n = len(times)
    if not n:
        return 0.0
    local = np.asarray(costs.local, dtype=float)
    nbytes = np.asarray(costs.nbytes, dtype=float)
    on_device = np.array([cut != EDGE_ONLY for cut in costs.cuts])
    on_link = np.array([cut != DEVICE_ONLY for cut in costs.cuts])
    longest = float(local.max(initial=0.0))
    data = w * nbytes / MB
    delay = np.empty((n, len(local)))  # each frame's delay at each split with nothing ahead of it
    for j in range(len(local)):
        ready = times + local[j]
        if on_link[j]:
            arrived = np.array([devices[d][1].transmit_finish_time(t, int(nbytes[j]))
                                for t, d in zip(ready, device_of)]) + overhead
            delay[:, j] = arrived + costs.edge[j] + latency - times
        else:
            delay[:, j] = ready - times
    use = np.column_stack([np.where(on_device, local, 0.0), np.where(on_link, nbytes, 0.0),
                           np.where(on_link, costs.edge, 0.0)])  # per split: device s, bytes, edge s
    bounds = sorted({*(t for t in tiers if t < drop_penalty), drop_penalty})
    # variables: drop per frame, then (frame, tier, split) for the feasible ones
    frame_of, tier_of, split_of, price = [np.arange(n)], [np.full(n, -1)], [np.full(n, -1)], [np.full(n, drop_penalty)]
    low = 0.0
    for t, high in enumerate(bounds):
        k, j = np.nonzero(delay <= high)
        frame_of.append(k)
        tier_of.append(np.full(len(k), t))
        split_of.append(j)
        price.append(np.maximum(delay[k, j], low) + data[j])
        low = high
    frame_of, tier_of, split_of, price = (np.concatenate(x) for x in (frame_of, tier_of, split_of, price))
    variables = np.arange(len(price))
    one = coo_matrix((np.ones(len(price)), (frame_of, variables)), shape=(n, len(price)))  # one option per frame
    rows, cols, vals, caps = [], [], [], []
    completed = tier_of >= 0
    def limit(chosen: np.ndarray, resource: int, capacity: float) -> None:
        amount = use[split_of[chosen], resource]
        if amount.any():
            rows.append(np.full(len(amount), len(caps)))
            cols.append(variables[chosen])
            vals.append(amount)
            caps.append(capacity)

    device_of_variable = device_of[frame_of]
    for length in windows:
        group = ((times - times.min()) // length).astype(np.int64)
        for g in np.unique(group):
            members = group == g
            inside = completed & (group[frame_of] == g)
            start, end = times[members].min(), times[members].max()
            spans = [(d, trace, own.min(), own.max()) for d, (_, trace) in enumerate(devices)
                     if len(own := times[members & (device_of == d)])]  # each device's first and last arrival
            for t, high in enumerate(bounds):
                chosen = inside & (tier_of <= t)
                limit(chosen, 2, (end - start + high) * edge_servers)  # the edge: every device's frames
                for d, trace, first, last in spans:
                    mine = chosen & (device_of_variable == d)
                    limit(mine, 0, last - first + timeout + longest)
                    limit(mine, 1, _deliverable(trace, first, last + high))
    limits = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                        shape=(len(caps), len(price))) if caps else None
    result = linprog(price, A_ub=limits, b_ub=np.asarray(caps) if caps else None, A_eq=one, b_eq=np.ones(n),
                     bounds=(0, 1), method="highs")
    if result.status != 0:
        raise RuntimeError(f"capacity bound: the linear programme was not solved ({result.message})")
    return float(result.fun)


def _deliverable(trace: Trace, start: float, end: float) -> float:
    """Bytes the trace carries from ``start`` to ``end``, rounded up (bisection on the finish time)."""
    low, high = 0.0, 1.0
    while trace.transmit_finish_time(start, int(high)) <= end:
        low, high = high, high * 2.0
        if high > 1e15:
            return high
    for _ in range(60):
        mid = (low + high) / 2.0
        if trace.transmit_finish_time(start, int(mid)) <= end:
            low = mid
        else:
            high = mid
    return high + 1.0


class PlanPolicy(Policy):
    """Replays a bound's plan in the real simulator (simulation only): the planned candidate of each frame;
    for a frame the plan drops, the candidate with the lowest exact cost (the myopic oracle's view), since a
    policy cannot drop a frame itself. Its cost is an achievable offline cost, at least the optimum."""

    name = "offline-plan"
    clairvoyant = True

    def __init__(self, costs: SplitCosts, plan: tuple[str | None, ...]) -> None:
        super().__init__(costs)
        self.plan = plan
        self._source: Simulator | None = None

    def attach(self, simulator: Simulator) -> None:
        self._source = simulator

    def decide(self, state: ObservedState) -> str:
        planned = self.plan[state.seq]
        if planned is not None:
            return planned
        if self._source is None:
            raise RuntimeError("the offline plan runs only inside the simulator (it reads the future)")
        cost = self._source.clairvoyant_cost
        return self.costs.splits[min(range(len(self.costs.splits)), key=lambda i: cost(i, state.now))]
