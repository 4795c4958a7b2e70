"""The one policy interface: the simulator, the agent node and the device's fallback all hold a Policy.

A policy maps the observed state to a split (``decide``) and may learn from
each frame's outcome (``observe``). Stochastic policies also leave their
action probabilities (candidate order) in ``last_probabilities`` after
``decide``, for the ``SplitDecision`` message. The implementations live in
:mod:`scissor_core.policies`; the runtime only needs this interface.
"""
from __future__ import annotations

from scissor_core.runtime.costs import SplitCosts
from scissor_core.runtime.outcome import FrameOutcome
from scissor_core.runtime.queues import ObservedState


class Policy:
    """Decides a split per frame; subclasses implement :meth:`decide`."""

    name = "policy"
    clairvoyant = False
    """True for simulation-only policies that read the simulator's future (the oracle)."""

    def __init__(self, costs: SplitCosts) -> None:
        self.costs = costs
        self.last_probabilities: tuple[float, ...] | None = None

    def decide(self, state: ObservedState) -> str:
        """The split for the frame the state was observed for."""
        raise NotImplementedError

    def observe(self, outcome: FrameOutcome) -> None:
        """Learn from one frame's outcome (baselines ignore it)."""

    def attach(self, simulator: object) -> None:
        """Called by the simulator before its runs; only clairvoyant policies use it."""
