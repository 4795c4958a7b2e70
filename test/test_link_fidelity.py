"""Delay over the ideal link and the replayed b_hat (scissor bench link's analysis), on simulated runs:
the simulator's link is the ideal pipe, so its frames sit exactly on the ideal, and overheads show up."""
from __future__ import annotations

import pytest

from scissor_core.analysis.link_fidelity import (
    DelayError,
    estimate_error,
    ideal_delays,
    replay_estimates,
    step_lags,
)
from scissor_core.config import LinkConfig
from scissor_core.policies import FixedSplit, SplitCosts
from scissor_core.runtime.traces import parse_trace
from scissor_core.simulation.simulator import Simulator

from simhelpers import toy_profile

COSTS = SplitCosts.from_profile(toy_profile())
STEPS = "steps:10x2MB,10x0.8MB"


def run(trace_spec: str, split: str = "b", interval: float = 0.3, frames: int = 200, **kw):
    trace = parse_trace(trace_spec)
    sim = Simulator(FixedSplit(COSTS, split), trace, timeout=3.0, interval=interval, **kw)
    return sim, trace, sim.run(frames)


def test_the_simulator_sits_on_the_ideal_link_also_with_queues_and_steps():
    sim, trace, outcomes = run(STEPS, split="0", interval=0.45)  # 1 MB frames: the 0.8 MB/s phase queues
    assert any(o.offload_wait > 0.1 for o in outcomes)
    ideal = ideal_delays(outcomes, trace)
    done = [o for o in outcomes if o.completed]
    assert done and all(o.total_delay == pytest.approx(ideal[o.seq], abs=1e-9) for o in done)
    error = DelayError.of(outcomes, trace)
    assert error.frames == len(done) and error.median == pytest.approx(0, abs=1e-9)
    assert error.p95 == pytest.approx(0, abs=1e-9)


def test_a_transport_overhead_is_measured_over_the_ideal():
    _, trace, outcomes = run("const:1MB", transport_overhead=0.02)  # 0.1 s of bytes + 0.02 s per frame
    error = DelayError.of(outcomes, trace)
    assert error.median == pytest.approx(0.02 / (0.3 + 0.1 + 0.05), rel=1e-6)


def test_the_replayed_estimate_is_the_simulators_and_follows_each_step():
    sim, trace, outcomes = run(STEPS, interval=0.3)
    link = LinkConfig()
    estimates = replay_estimates(outcomes, trace, link)
    assert estimates[-1].b_hat == pytest.approx(sim.estimator.estimate)
    assert estimate_error(estimates, skip=link.estimator_window) == pytest.approx(0, abs=0.02)
    lags = step_lags(estimates, trace)
    assert len(lags) >= 5 and all(lag is not None and lag <= link.estimator_step + 1 for lag in lags)


def test_without_step_detection_the_window_lags_behind_a_step():
    _, trace, outcomes = run(STEPS, interval=0.3)
    lags = step_lags(replay_estimates(outcomes, trace, LinkConfig(estimator_step=0)), trace)
    assert max(lag for lag in lags if lag is not None) > 3
