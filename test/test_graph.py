"""Cut enumeration and split execution on small hand-made DAGs and on the real models."""
from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from scissor_core.models.graph import INPUT, CutError, SplitGraph, Splitter


class Diamond(nn.Module):
    """x -> a -> (b, c) -> d: the smallest graph with a two-tensor cut."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.c = nn.Linear(4, 4)
        self.d = nn.Linear(4, 2)

    def forward(self, x):
        h = self.a(x)
        return self.d(self.b(h) * self.c(h))


def brute_force_ideals(graph: SplitGraph) -> set[frozenset[str]]:
    """All predecessor-closed subsets, by trying every subset (small graphs only)."""
    out = set()
    for r in range(len(graph.order) + 1):
        for subset in itertools.combinations(graph.order, r):
            s = set(subset)
            if all(p == INPUT or p in s for n in s for p in graph.preds[n]):
                out.add(frozenset(s))
    return out


def test_enumeration_matches_brute_force_on_diamond():
    g = SplitGraph(Diamond().eval())
    cuts = g.enumerate_cuts()
    assert {frozenset(c.device_nodes) for c in cuts} == brute_force_ideals(g)
    assert len(cuts) == len({c.device_nodes for c in cuts})
    # After a and b on the device, both h (for c) and b's output cross.
    two = g.cut_from_device_set(["a", "b"], "ab")
    assert set(two.crossing) == {"a", "b"}


def test_every_cut_of_diamond_is_bit_identical():
    torch.manual_seed(0)
    m = Diamond().eval()
    g = SplitGraph(m)
    cuts = g.enumerate_cuts()
    sp = Splitter(g, cuts)
    x = torch.randn(3, 4)
    ref = m(x)
    for c in cuts:
        assert torch.equal(sp.run_edge(sp.run_device(x, c.name), c.name), ref), c


def test_invalid_cut_specifications_are_refused():
    g = SplitGraph(Diamond().eval())
    with pytest.raises(CutError, match="needs edge-side tensor"):
        g.cut_from_device_set(["b"], "bad")
    with pytest.raises(CutError, match="unknown tensor"):
        g.cut_from_tensors(["nope"], "bad")
    with pytest.raises(CutError, match="the edge also needs"):
        g.cut_from_tensors(["b"], "incomplete")
    with pytest.raises(CutError, match="unknown node"):
        g.cut_from_device_set(["zzz"], "bad")


def test_edge_only_and_device_only_cuts():
    g = SplitGraph(Diamond().eval())
    assert g.edge_only_cut().crossing == (INPUT,)
    assert g.edge_only_cut().is_edge_only
    last = g.device_only_cut()
    assert last.is_device_only and last.crossing == g.outputs


def test_run_edge_names_missing_tensors():
    g = SplitGraph(Diamond().eval())
    sp = Splitter(g, [g.cut_from_tensors(["a"], "a")])
    with pytest.raises(CutError, match="missing tensor"):
        sp.run_edge({}, "a")
    with pytest.raises(CutError, match="unknown split"):
        sp.cut("zzz")


def test_enumeration_limit_is_enforced():
    g = SplitGraph(Diamond().eval())
    with pytest.raises(CutError, match="more than 2 valid cuts"):
        g.enumerate_cuts(limit=2)
