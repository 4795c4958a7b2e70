"""DADS ("DNN surgery", Hu et al., INFOCOM 2019): partition by minimum s-t cut of the DNN's DAG.

Light load: the cut minimising one frame's latency, ``device + transmit + edge``,
is a minimum s-t cut of a flow network built from the DAG (below). Heavy load:
the cut maximising throughput, i.e. minimising the slowest pipeline stage
``max(device, transmit, edge)``. DADS switches to the heavy-load cut when the
light-load cut's slowest stage cannot keep up with the frame interval (the
sampling rate).

Flow network (source = device, sink = edge): per DAG node ``v`` an edge
``s -> v`` with its edge-side time (cut when ``v`` runs on the edge) and
``v -> t`` with its device time (cut when ``v`` runs on the device); per
dependency ``p -> v`` an infinite edge ``v -> p`` (no device node may need an
edge tensor: the cut is valid); per tensor ``u`` an auxiliary node ``a_u`` with
``u -> a_u`` of capacity ``bytes_u / bandwidth`` and infinite ``a_u -> w`` to
each consumer ``w`` (and to ``t`` for a model output), so a tensor with several
edge-side consumers is paid once. The input tensor is produced by the source.

Choices where the paper leaves room:

- Costs per node are needed. With a profile of candidate splits only, the DAG
  is the *chain of candidate segments* (:meth:`DagCosts.chain`): the same
  solver, on a path; a cut then is a candidate split. Given per-node costs
  (:meth:`DagCosts.from_graph`) it runs on the model's full DAG -- the test
  checks it against brute force over every valid cut of every model.
- Measured cumulative times are not always monotone over the candidates (timer
  noise); the chain uses their running maxima so segment costs are >= 0.
- Heavy load (NP-hard on a general DAG; the paper approximates): on the
  candidate chain an exhaustive search over its cuts (exact); on a full DAG the
  minimum cuts of the latency with the device and edge stages weighted over a
  grid of factors (1/4 .. 4) relative to the link, keeping the cut with the
  smallest slowest stage (exact whenever the best cut is a weighted optimum).
- DADS re-plans when ``b_hat`` moves more than ``replan`` (5%) from the value it
  last planned for; it ignores queue state (its notion of load is the rate).
"""
from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from scissor_core.models.graph import INPUT, SplitGraph
from scissor_core.runtime.costs import SplitCosts
from scissor_core.runtime.policy import Policy
from scissor_core.runtime.queues import ObservedState

_WEIGHTS = (0.25, 0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class DagCosts:
    """A DAG with per-node device and edge compute (s) and per-tensor bytes."""

    nodes: tuple[str, ...]
    """Compute nodes in topological order (the input tensor is ``graph.INPUT``)."""
    preds: Mapping[str, frozenset[str]]
    device_time: Mapping[str, float]
    edge_time: Mapping[str, float]
    tensor_bytes: Mapping[str, float]
    """Bytes of each node's output tensor, and of ``INPUT``."""
    outputs: frozenset[str]
    """Tensors that are model outputs (they cross whenever produced on the device)."""

    @classmethod
    def from_graph(cls, graph: SplitGraph, device_time: Mapping[str, float], edge_time: Mapping[str, float],
                   tensor_bytes: Mapping[str, float]) -> DagCosts:
        return cls(tuple(graph.order), dict(graph.preds), dict(device_time), dict(edge_time),
                   dict(tensor_bytes), frozenset(graph.outputs))

    @classmethod
    def chain(cls, costs: SplitCosts) -> DagCosts:
        """The path of candidate segments: segment i runs between candidates i-1 and i, so the
        cut with the first k segments on the device is candidate k."""
        n = len(costs.splits)
        local = list(itertools.accumulate(costs.local, max))
        edge = list(itertools.accumulate(reversed(costs.edge), max))[::-1]
        nodes = tuple(f"seg{i}" for i in range(1, n))
        return cls(
            nodes=nodes,
            preds={v: frozenset([nodes[i - 1] if i else INPUT]) for i, v in enumerate(nodes)},
            device_time={v: local[i + 1] - local[i] for i, v in enumerate(nodes)},
            edge_time={v: edge[i] - edge[i + 1] for i, v in enumerate(nodes)},
            tensor_bytes={INPUT: costs.nbytes[0], **{v: costs.nbytes[i + 1] for i, v in enumerate(nodes)}},
            outputs=frozenset(nodes[-1:]),
        )

    @property
    def is_chain(self) -> bool:
        """Each node depends only on the one before it (the first on the input)."""
        return all(self.preds[v] == {self.nodes[i - 1] if i else INPUT} for i, v in enumerate(self.nodes))

    def crossing(self, device: frozenset[str]) -> list[str]:
        """Tensors sent: produced on the device, needed by the edge or a model output."""
        produced = device | {INPUT}
        needed = {p for v in self.nodes if v not in device for p in self.preds[v]}
        return [u for u in (INPUT, *self.nodes) if u in produced and (u in needed or u in self.outputs)]

    def stages(self, device: frozenset[str], bandwidth: float) -> tuple[float, float, float]:
        """(device time, transmit time, edge time) of the cut whose device side is ``device``."""
        d = sum(self.device_time[v] for v in device)
        e = sum(self.edge_time[v] for v in self.nodes if v not in device)
        x = sum(self.tensor_bytes[u] for u in self.crossing(device)) / bandwidth
        return d, x, e


class _FlowNetwork:
    """Residual graph for Edmonds-Karp max flow (BFS augmenting paths); small DAGs only."""

    def __init__(self, size: int) -> None:
        self.adj: list[list[int]] = [[] for _ in range(size)]
        self.to: list[int] = []
        self.cap: list[float] = []

    def add(self, u: int, v: int, cap: float) -> None:
        self.adj[u].append(len(self.to))
        self.to.append(v)
        self.cap.append(cap)
        self.adj[v].append(len(self.to))
        self.to.append(u)
        self.cap.append(0.0)

    def _reach(self, s: int, eps: float) -> list[int]:
        """BFS parent edges from ``s`` over residual capacity > eps (-1 = unreached)."""
        parent = [-1] * len(self.adj)
        parent[s] = -2
        queue = deque([s])
        while queue:
            u = queue.popleft()
            for e in self.adj[u]:
                v = self.to[e]
                if parent[v] == -1 and self.cap[e] > eps:
                    parent[v] = e
                    queue.append(v)
        return parent

    def source_side(self, s: int, t: int, eps: float) -> list[bool]:
        """Run max flow; return which vertices stay reachable from ``s`` (the min cut's source side)."""
        while True:
            parent = self._reach(s, eps)
            if parent[t] == -1:
                return [p != -1 for p in parent]
            path, v = [], t
            while v != s:
                e = parent[v]
                path.append(e)
                v = self.to[e ^ 1]
            push = min(self.cap[e] for e in path)
            for e in path:
                self.cap[e] -= push
                self.cap[e ^ 1] += push


def min_cut(dag: DagCosts, bandwidth: float, device_weight: float = 1.0, link_weight: float = 1.0,
            edge_weight: float = 1.0) -> frozenset[str]:
    """Device side of the valid cut minimising ``wd*device + wx*transmit + we*edge`` (a min s-t cut)."""
    ids = {v: i + 2 for i, v in enumerate(dag.nodes)}
    ids[INPUT] = 0
    consumers: dict[str, list[str]] = {u: [] for u in (INPUT, *dag.nodes)}
    for v in dag.nodes:
        for p in dag.preds[v]:
            consumers[p].append(v)
    tensors = [u for u in (INPUT, *dag.nodes) if consumers[u] or u in dag.outputs]
    net = _FlowNetwork(2 + len(dag.nodes) + len(tensors))
    s, t, total = 0, 1, 0.0
    for v in dag.nodes:
        net.add(s, ids[v], edge_weight * dag.edge_time[v])
        net.add(ids[v], t, device_weight * dag.device_time[v])
        total += edge_weight * dag.edge_time[v] + device_weight * dag.device_time[v]
        for p in dag.preds[v]:
            if p != INPUT:
                net.add(ids[v], ids[p], math.inf)
    for k, u in enumerate(tensors):
        aux = 2 + len(dag.nodes) + k
        cost = link_weight * dag.tensor_bytes[u] / bandwidth
        net.add(ids[u], aux, cost)
        total += cost
        for w in consumers[u]:
            net.add(aux, ids[w], math.inf)
        if u in dag.outputs:
            net.add(aux, t, math.inf)
    side = net.source_side(s, t, eps=1e-12 * max(total, 1e-300))
    return frozenset(v for v in dag.nodes if side[ids[v]])


def heavy_load_cut(dag: DagCosts, bandwidth: float) -> frozenset[str]:
    """Throughput cut: the one with the smallest slowest stage (ties: lowest latency, fewer device nodes).

    On a chain every cut is a prefix, so the search is exhaustive and exact. On a
    general DAG it searches the weighted min cuts (device and edge weights 1/4..4
    against the link).
    """
    if dag.is_chain:
        cuts = {frozenset(dag.nodes[:k]) for k in range(len(dag.nodes) + 1)}
    else:
        cuts = {min_cut(dag, bandwidth, wd, 1.0, we) for wd in _WEIGHTS for we in _WEIGHTS}

    def key(cut: frozenset[str]) -> tuple[float, float, int]:
        stages = dag.stages(cut, bandwidth)
        return max(stages), sum(stages), len(cut)

    return min(cuts, key=key)


class Dads(Policy):
    """DADS on the candidate chain: light-load min cut, or the heavy-load cut when the light
    cut's slowest stage exceeds the frame interval."""

    name = "dads"

    def __init__(self, costs: SplitCosts, frame_interval: float, replan: float = 0.05) -> None:
        super().__init__(costs)
        self.dag = DagCosts.chain(costs)
        self.frame_interval = frame_interval
        self.replan = replan
        self._planned_for = -1.0
        self._split = costs.splits[0]
        self.heavy = False
        """Whether the current plan is the heavy-load one."""

    def plan(self, bandwidth: float) -> str:
        """The split DADS picks at this bandwidth (bytes/s)."""
        light = min_cut(self.dag, bandwidth)
        self.heavy = max(self.dag.stages(light, bandwidth)) > self.frame_interval
        cut = heavy_load_cut(self.dag, bandwidth) if self.heavy else light
        return self.costs.splits[len(cut)]

    def decide(self, state: ObservedState) -> str:
        b = state.bandwidth
        if abs(b - self._planned_for) > self.replan * self._planned_for:
            self._split = self.plan(b)
            self._planned_for = b
        return self._split
