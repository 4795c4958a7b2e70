"""Trace a model into a DAG, enumerate its valid cuts, and run either side of a cut.

A *cut* partitions the traced graph into a device side (which always holds the
input) and an edge side. The tensors that cross it are the device-side nodes
with at least one edge-side consumer (or that feed the model output). A cut is
valid when the device side is closed under predecessors: no device node needs a
tensor produced on the edge. Multi-tensor cuts (YOLOv3's three branches) are
first-class.

Running the two halves executes exactly the same operations, in the same order,
as the unsplit ``torch.fx`` graph, so for lossless transport the final output is
bit-identical to the unsplit forward.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import fx, nn

INPUT = "x"
"""Name of the graph's input placeholder: the preprocessed frame."""

_COMPUTE_OPS = ("call_module", "call_function", "call_method")


class CutError(ValueError):
    """A cut specification does not describe a valid cut of the graph."""


class ScissorTracer(fx.Tracer):
    """torch.fx tracer that keeps the given module types as opaque leaf nodes."""

    def __init__(self, leaf_modules: tuple[type[nn.Module], ...] = ()) -> None:
        super().__init__()
        self.leaf_modules = leaf_modules

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, self.leaf_modules) or super().is_leaf_module(m, module_qualified_name)


@dataclass(frozen=True)
class Cut:
    """One way to split the graph.

    ``crossing`` lists the tensors sent from device to edge, in the order the
    device returns them and the edge expects them. ``device_nodes`` are the
    compute nodes run on the device (graph order).
    """

    name: str
    crossing: tuple[str, ...]
    device_nodes: tuple[str, ...]
    edge_nodes: tuple[str, ...] = field(repr=False)

    @property
    def is_edge_only(self) -> bool:
        return not self.device_nodes

    @property
    def is_device_only(self) -> bool:
        return not self.edge_nodes


class SplitGraph:
    """A traced model plus everything needed to split it at any valid cut."""

    def __init__(self, module: nn.Module, leaf_modules: tuple[type[nn.Module], ...] = ()) -> None:
        graph = ScissorTracer(leaf_modules).trace(module)
        self.module = fx.GraphModule(module, graph)
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        if len(placeholders) != 1:
            raise CutError(f"a splittable model takes exactly one input tensor, this one takes {len(placeholders)}")
        placeholders[0].name = INPUT
        self._nodes = {n.name: n for n in graph.nodes}
        self.order = [n.name for n in graph.nodes if n.op in _COMPUTE_OPS]
        """Compute nodes in graph (topological) order."""
        self._index = {name: i for i, name in enumerate(self.order)}
        output = next(n for n in graph.nodes if n.op == "output")
        self.outputs = tuple(n.name for n in output.all_input_nodes)
        self.preds = {name: self._tensor_inputs(self._nodes[name]) for name in self.order}
        self.succs: dict[str, set[str]] = {name: set() for name in [INPUT, *self.order]}
        for name, preds in self.preds.items():
            for p in preds:
                self.succs[p].add(name)
        self.module.eval()

    def _tensor_inputs(self, node: fx.Node) -> frozenset[str]:
        """Producers this node needs; get_attr constants are not transported, so skipped."""
        return frozenset(n.name for n in node.all_input_nodes if n.op != "get_attr")

    # ------------------------------------------------------------------ cuts
    def cut_from_device_set(self, device: Iterable[str], name: str = "") -> Cut:
        """The cut whose device side is exactly ``device`` (compute-node names)."""
        device_set = set(device)
        unknown = device_set - set(self.order)
        if unknown:
            raise CutError(f"cut {name!r}: unknown node(s) {sorted(unknown)}")
        for n in device_set:
            missing = self.preds[n] - device_set - {INPUT}
            if missing:
                raise CutError(f"cut {name!r}: device node {n!r} needs edge-side tensor(s) {sorted(missing)}")
        produced = device_set | {INPUT}
        edge_set = set(self.order) - device_set
        # A device tensor crosses when an edge node needs it or it is a model output.
        crossing = [
            t for t in [INPUT, *self.order]
            if t in produced and (self.succs[t] & edge_set or t in self.outputs)
        ]
        return Cut(
            name=name,
            crossing=tuple(crossing),
            device_nodes=tuple(n for n in self.order if n in device_set),
            edge_nodes=tuple(n for n in self.order if n in edge_set),
        )

    def cut_from_tensors(self, tensors: Sequence[str], name: str = "") -> Cut:
        """The smallest cut that sends exactly ``tensors``; refuses an incomplete list.

        The device side is every ancestor of the listed tensors. If some other
        device-side tensor is also needed by the edge, the list is incomplete and
        the error names the missing tensors.
        """
        if not tensors:
            raise CutError(f"cut {name!r}: no tensors given")
        known = {INPUT, *self.order}
        for t in tensors:
            if t not in known:
                raise CutError(f"cut {name!r}: unknown tensor {t!r}")
        device: set[str] = set()
        stack = [t for t in tensors if t != INPUT]
        while stack:
            n = stack.pop()
            if n not in device:
                device.add(n)
                stack.extend(p for p in self.preds[n] if p != INPUT)
        cut = self.cut_from_device_set(device, name)
        if set(cut.crossing) != set(tensors):
            extra = sorted(set(cut.crossing) - set(tensors))
            unused = sorted(set(tensors) - set(cut.crossing))
            detail = []
            if extra:
                detail.append(f"the edge also needs {extra}")
            if unused:
                detail.append(f"{unused} would not be used by the edge")
            raise CutError(f"cut {name!r}: tensors {list(tensors)} do not form a cut: " + "; ".join(detail))
        order = {t: i for i, t in enumerate(tensors)}
        return Cut(name, tuple(sorted(cut.crossing, key=order.__getitem__)), cut.device_nodes, cut.edge_nodes)

    def edge_only_cut(self, name: str = "0") -> Cut:
        """Send the preprocessed frame; everything runs on the edge."""
        return self.cut_from_device_set((), name)

    def device_only_cut(self, name: str = "last") -> Cut:
        """Run everything on the device; only the output (results) is sent."""
        return self.cut_from_device_set(self.order, name)

    def enumerate_cuts(self, limit: int = 200_000) -> list[Cut]:
        """Every valid cut (every predecessor-closed device set), in a stable order.

        Explores device sets breadth-first by adding one ready node at a time;
        a set is canonicalised as a sorted tuple of graph positions. Raises when
        the graph has more than ``limit`` cuts (a very wide DAG).
        """
        start: tuple[int, ...] = ()
        seen = {start}
        frontier = [start]
        while frontier:
            nxt = []
            for state in frontier:
                members = set(state)
                for i, name in enumerate(self.order):
                    if i in members:
                        continue
                    if all(p == INPUT or self._index[p] in members for p in self.preds[name]):
                        child = tuple(sorted(members | {i}))
                        if child not in seen:
                            seen.add(child)
                            nxt.append(child)
                            if len(seen) > limit:
                                raise CutError(f"more than {limit} valid cuts: the graph is too wide to enumerate")
            frontier = nxt
        states = sorted(seen, key=lambda s: (len(s), s))
        return [
            self.cut_from_device_set((self.order[i] for i in s), name=f"c{k}") for k, s in enumerate(states)
        ]

    # ------------------------------------------------------------- partitions
    def device_part(self, cut: Cut) -> fx.GraphModule:
        """GraphModule mapping the preprocessed frame to the cut's crossing tensors (a tuple)."""
        graph = fx.Graph()
        env: dict[str, fx.Node] = {INPUT: graph.placeholder(INPUT)}
        self._copy_nodes(graph, env, cut.device_nodes)
        graph.output(tuple(env[t] for t in cut.crossing))
        return fx.GraphModule(self.module, graph, class_name="DevicePart")

    def edge_part(self, cut: Cut) -> fx.GraphModule:
        """GraphModule mapping the crossing tensors (positional args, cut order) to the output."""
        graph = fx.Graph()
        env: dict[str, fx.Node] = {t: graph.placeholder(t) for t in cut.crossing}
        self._copy_nodes(graph, env, cut.edge_nodes)
        out_node = next(n for n in self.module.graph.nodes if n.op == "output")
        graph.output(fx.map_arg(out_node.args[0], lambda n: env[n.name]))
        return fx.GraphModule(self.module, graph, class_name="EdgePart")

    def _copy_nodes(self, graph: fx.Graph, env: dict[str, fx.Node], names: Iterable[str]) -> None:
        for name in names:
            node = self._nodes[name]
            for dep in node.all_input_nodes:
                if dep.op == "get_attr" and dep.name not in env:
                    env[dep.name] = graph.node_copy(dep, lambda n: env[n.name])
            env[name] = graph.node_copy(node, lambda n: env[n.name])


class Splitter:
    """Runs a model split at named cuts, caching the two GraphModules per cut."""

    def __init__(self, graph: SplitGraph, cuts: Sequence[Cut]) -> None:
        self.graph = graph
        self.cuts = {c.name: c for c in cuts}
        if len(self.cuts) != len(cuts):
            raise CutError("duplicate cut names")
        self._parts: dict[str, tuple[fx.GraphModule, fx.GraphModule]] = {}

    def cut(self, name: str) -> Cut:
        try:
            return self.cuts[name]
        except KeyError:
            raise CutError(f"unknown split {name!r}; candidates are {list(self.cuts)}") from None

    def parts(self, name: str) -> tuple[fx.GraphModule, fx.GraphModule]:
        if name not in self._parts:
            cut = self.cut(name)
            self._parts[name] = (self.graph.device_part(cut), self.graph.edge_part(cut))
        return self._parts[name]

    @torch.inference_mode()
    def run_device(self, frame: torch.Tensor, name: str) -> dict[str, torch.Tensor]:
        """Device side: preprocessed frame -> {crossing tensor name: tensor}."""
        device, _ = self.parts(name)
        return dict(zip(self.cut(name).crossing, device(frame), strict=True))

    @torch.inference_mode()
    def run_edge(self, tensors: dict[str, torch.Tensor], name: str) -> torch.Tensor:
        """Edge side: the crossing tensors (by name) -> the model's raw output."""
        cut = self.cut(name)
        missing = [t for t in cut.crossing if t not in tensors]
        if missing:
            raise CutError(f"split {name!r}: missing tensor(s) {missing}")
        _, edge = self.parts(name)
        return edge(*(tensors[t] for t in cut.crossing))

    @torch.inference_mode()
    def run_full(self, frame: torch.Tensor) -> torch.Tensor:
        """The unsplit traced forward (the reference for bit-identity)."""
        return self.graph.module(frame)


__all__ = [
    "INPUT",
    "Cut",
    "CutError",
    "ScissorTracer",
    "SplitGraph",
    "Splitter",
]
