"""A clairvoyant reference policy, for simulation only.

For each frame the oracle asks the simulator for the *exact* cost of every
candidate split -- exact queue contents and service times, and the future
bandwidth of the trace -- and picks the cheapest: ``w*MB + delay`` if the frame
would complete, ``F`` if it would be dropped (timeout or full queue).

What it optimises, and what it does not: it is the per-frame (myopic) optimum
with perfect information. It does not weigh how its choice delays later frames,
and it assumes no later frame overtakes this one on the link (a later edge-only
frame could, when this one still computes). So it is the limit of any policy
that greedily optimises each frame, not the global optimum; a learned policy
may in principle beat it on long queues.
"""
from __future__ import annotations

from typing import Protocol

from scissor_core.runtime.costs import SplitCosts
from scissor_core.runtime.policy import Policy
from scissor_core.runtime.queues import ObservedState


class ClairvoyantSource(Protocol):
    """What the oracle needs from the simulator."""

    def clairvoyant_cost(self, split_index: int, now: float) -> float: ...


class Oracle(Policy):
    """Per frame, the split with the lowest exact cost (see the module docstring)."""

    name = "myopic-oracle"
    clairvoyant = True

    def __init__(self, costs: SplitCosts) -> None:
        super().__init__(costs)
        self._source: ClairvoyantSource | None = None

    def attach(self, simulator: ClairvoyantSource) -> None:
        """Called by the simulator before its runs."""
        self._source = simulator

    def decide(self, state: ObservedState) -> str:
        if self._source is None:
            raise RuntimeError("the oracle runs only inside the simulator (it reads the future)")
        cost = self._source.clairvoyant_cost
        best = min(range(len(self.costs.splits)), key=lambda i: cost(i, state.now))
        return self.costs.splits[best]
