"""The discrete-event simulator: one outcome per frame, determinism, hand-computed runs, oracle, CLI."""
from __future__ import annotations

import pytest

from scissor_cli.main import main
from scissor_core.analysis.metrics import RunMetrics
from scissor_core.config import ScissorConfig
from scissor_core.policies import POLICY_NAMES, FixedSplit, Policy, SplitCosts, make_policy
from scissor_core.runtime.outcome import Reward, read_csv
from scissor_core.runtime.traces import ConstantTrace, PiecewiseTrace, parse_trace
from scissor_core.simulation.simulator import Simulator, arrival_times

from simhelpers import toy_profile

PROFILE = toy_profile()


def simulate(policy: Policy, trace=None, frames: int = 400, **kw):
    kw = {"timeout": 1.0, "interval": 0.25, **kw}
    return Simulator(policy, trace or ConstantTrace(1e6), **kw).run(frames)


def test_arrivals_jitter_and_bursts():
    assert arrival_times(4, 0.5) == [0.0, 0.5, 1.0, 1.5]
    assert arrival_times(7, 1.0, burst_every=2, burst_size=2) == [0.0, 1.0, 1.0, 1.0, 2.0, 3.0, 3.0]
    jittered = arrival_times(1000, 1.0, jitter=0.2, seed=4)
    gaps = [b - a for a, b in zip(jittered, jittered[1:])]
    assert min(gaps) >= 0.8 and max(gaps) <= 1.2 and jittered == arrival_times(1000, 1.0, jitter=0.2, seed=4)


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_every_frame_gets_exactly_one_outcome(name):
    trace = parse_trace("walk:mean=1MB,sigma=0.5,duration=60", seed=2)
    policy = make_policy(name, PROFILE, frame_interval=0.2)
    sim = Simulator(policy, trace, timeout=0.8, interval=0.2, jitter=0.5, burst_every=20, burst_size=6,
                    local_max=4, offload_max=3, seed=1)
    outcomes = sim.run(1500)
    assert [o.seq for o in outcomes] == list(range(1500))
    assert sim.queues.idle
    for o in outcomes:
        assert o.policy == policy.name and o.completed == (o.drop_reason == "")
        if o.completed:
            parts = o.local_wait + o.local_compute + o.offload_wait + o.transmit + o.edge_wait + o.edge_compute
            assert o.total_delay == pytest.approx(parts, abs=1e-9)
            assert o.reward == pytest.approx(-(o.bytes_sent / 1e6 + o.total_delay))
        else:
            assert o.reward == -10.0


def test_same_seed_same_outcomes_other_seed_differs():
    def run(seed):
        policy = make_policy("greedy", PROFILE)
        return simulate(policy, parse_trace("walk:mean=1MB", seed=seed), 500, jitter=0.3, seed=seed)

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_a_single_frame_matches_the_hand_computation():
    costs = SplitCosts.from_profile(PROFILE)
    (o,) = simulate(FixedSplit(costs, "b"), ConstantTrace(2e6), frames=1, reward=Reward(w=2.0))
    assert o.completed and o.split == "b" and o.bytes_sent == 100_000
    assert (o.local_wait, o.local_compute, o.offload_wait, o.transmit, o.edge_compute) == \
        pytest.approx((0.0, 0.3, 0.0, 0.05, 0.05))
    assert o.total_delay == pytest.approx(0.4) and o.reward == pytest.approx(-(2 * 0.1 + 0.4))


def test_overload_drops_by_timeout_and_the_estimator_follows_the_link():
    costs = SplitCosts.from_profile(PROFILE)
    outcomes = simulate(FixedSplit(costs, "0"), ConstantTrace(2e6), 200, interval=0.25)  # 0.5 s per frame
    m = RunMetrics.of(outcomes)
    assert m.drops_by_reason.keys() == {"offload_timeout"} and 0.3 < m.drop_rate < 0.7
    sim = Simulator(FixedSplit(costs, "a"), ConstantTrace(3e6), timeout=1.0, interval=2.0, initial_bandwidth=1e5)
    sim.run(5)
    assert sim.estimator.estimate == pytest.approx(3e6)


def test_oracle_beats_every_fixed_split_without_queueing():
    """Frames far apart (little queueing) on a trace whose best split changes: edge-only at 5 MB/s,
    the middle split at 1 MB/s and 200 kB/s, device-only at 20 kB/s. The oracle knows the future rate."""
    profile = toy_profile(table={"0": (0.0, 0.05, 500_000), "mid": (0.2, 0.03, 50_000), "last": (0.6, 0.0, 44)})
    trace = PiecewiseTrace([7.0, 5.0, 6.0, 11.0], [5e6, 2e5, 2e4, 1e6])
    kw = {"interval": 2.0, "timeout": 1.0, "reward": Reward(w=0.0)}
    oracle_outcomes = simulate(make_policy("myopic-oracle", profile), trace, 300, **kw)
    assert {o.split for o in oracle_outcomes} == {"0", "mid", "last"}
    oracle = RunMetrics.of(oracle_outcomes).system_cost
    costs = SplitCosts.from_profile(profile)
    fixed = {s: RunMetrics.of(simulate(FixedSplit(costs, s), trace, 300, **kw)).system_cost for s in costs.splits}
    assert oracle <= min(fixed.values()) - 0.01
    with pytest.raises(RuntimeError, match="inside the simulator"):
        make_policy("myopic-oracle", profile).decide(None)


def test_from_config_uses_the_papers_interval_and_timeout():
    sim = Simulator.from_config(ScissorConfig(), make_policy("device-only", PROFILE))
    assert (sim.interval, sim.timeout) == (0.15, 0.5)  # the toy profile is an "alexnet"
    yolo = Simulator.from_config(ScissorConfig(), make_policy("device-only", toy_profile("yolov3")))
    assert (yolo.interval, yolo.timeout) == (1.0, 2.0)


def test_cli_simulate_writes_outcomes_and_plot(tmp_path, capsys):
    profile = PROFILE.save(tmp_path / "toy.json")
    out = tmp_path / "res"
    assert main(["simulate", "--profile", str(profile), "--policy", "greedy", "--frames", "300",
                 "--trace", "steps:5x2MB,5x200kB", "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| greedy | 300 |" in text and "| split |" in text
    assert len(read_csv(out / "alexnet-greedy.csv")) == 300 and (out / "alexnet-greedy.png").stat().st_size > 0
    assert main(["simulate", "--profile", str(profile), "--policy", "device-only,myopic-oracle", "--frames", "50",
                 "--no-plot", "--output", str(out)]) == 0
    assert "| myopic-oracle | 50 |" in capsys.readouterr().out
    assert main(["bench", "sim", "--profile", str(profile), "--frames", "2000", "--policy", "device-only",
                 "--traces", "const:1MB"]) == 0
    assert "| device-only | const 1 MB/s |" in capsys.readouterr().out
    assert main(["simulate", "--profile", str(profile), "--trace", "warp:9"]) == 2


def test_steps_can_be_driven_from_outside_and_start_walks_the_trace():
    costs = SplitCosts.from_profile(PROFILE)
    trace = parse_trace("steps:3x2MB,3x100kB")
    sim = Simulator(FixedSplit(costs, "b"), trace, timeout=1.0, interval=0.5)
    steps = sim.steps(40)
    states, state = [], next(steps)
    try:
        while True:
            states.append(state)
            state = steps.send("b" if state.seq % 2 else "c")
    except StopIteration as done:
        driven = done.value
    assert [s.seq for s in states] == list(range(40)) and [o.split for o in driven[:3]] == ["c", "b", "c"]
    later = sim.run(40, start=3.0)
    assert later[0].capture == 3.0 and later != sim.run(40)


def test_the_live_systems_overheads_add_to_one_frame_exactly():
    """sim.transport_overhead lengthens each transmission, sim.result_latency the result's way back; the
    oracle's exact cost includes both."""
    costs = SplitCosts.from_profile(PROFILE)
    (o,) = simulate(FixedSplit(costs, "b"), ConstantTrace(2e6), frames=1, transport_overhead=0.02, result_latency=0.01)
    assert (o.local_compute, o.transmit, o.edge_compute) == pytest.approx((0.3, 0.05 + 0.02, 0.05))
    assert o.total_delay == pytest.approx(0.3 + 0.07 + 0.05 + 0.01)
    sim = Simulator(make_policy("myopic-oracle", PROFILE), ConstantTrace(2e6), timeout=1.0, interval=5.0,
                    transport_overhead=0.02, result_latency=0.01)
    predicted = []
    sim.policy.decide = lambda state: predicted.append(sim.clairvoyant_cost(costs.index("b"), state.now)) or "b"
    (o,) = sim.run(1)
    assert predicted == [pytest.approx(o.cost)]


def test_compute_spread_varies_each_frame_around_the_profile_and_repeats_by_seed():
    costs = SplitCosts.from_profile(PROFILE)

    def run(seed):
        return simulate(FixedSplit(costs, "b"), ConstantTrace(50e6), frames=2000, interval=1.0, compute_spread=0.3,
                        seed=seed)

    outcomes = run(1)
    local = [o.local_compute for o in outcomes]
    assert len(set(local)) > 1900 and sum(local) / len(local) == pytest.approx(0.3, rel=0.05)  # mean-1 factor
    assert [o.local_compute for o in run(1)] == local and [o.local_compute for o in run(2)] != local
    assert [o.local_compute for o in simulate(FixedSplit(costs, "b"), frames=5)] == [pytest.approx(0.3)] * 5


def test_fit_run_recovers_the_simulators_own_settings():
    """A run simulated with known factors, spread, overhead and latency: fit_run gives them back, and the
    simulator configured from the fit predicts that run's mean delay."""
    from scissor_core.analysis.calibrate import fit_run

    costs = SplitCosts.from_profile(PROFILE)
    slow = toy_profile(table={s: (d * 1.5, e * 0.8, n) for s, (d, e, n) in
                              {"0": (0.0, 0.3, 1_000_000), "a": (0.1, 0.2, 2_000_000), "b": (0.3, 0.05, 100_000),
                               "c": (0.35, 0.02, 50_000), "d": (0.4, 0.01, 10_000), "last": (0.5, 0.0, 44)}.items()})
    truth = simulate(FixedSplit(SplitCosts.from_profile(slow), "b"), ConstantTrace(2e6), frames=1500, interval=1.0,
                     timeout=5.0, transport_overhead=0.02, result_latency=0.01, compute_spread=0.2, seed=3)
    fit = fit_run(truth, PROFILE, ConstantTrace(2e6))
    assert fit.frames == 1500
    assert (fit.device_factor, fit.edge_factor) == pytest.approx((1.5, 0.8), rel=0.03)
    assert fit.compute_spread == pytest.approx(0.2, rel=0.1)
    assert (fit.transport_overhead, fit.result_latency) == pytest.approx((0.02, 0.01), rel=1e-6)
    predicted = simulate(FixedSplit(SplitCosts.from_profile(fit.apply(PROFILE, "test")), "b"), ConstantTrace(2e6),
                         frames=1500, interval=1.0, timeout=5.0, seed=4, **fit.sim_settings())
    assert RunMetrics.of(predicted).mean_delay == pytest.approx(RunMetrics.of(truth).mean_delay, rel=0.02)
    assert costs.splits  # the fitted profile keeps the split set


def test_fit_run_gives_a_split_seen_often_enough_factors_of_its_own():
    from scissor_core.analysis.calibrate import MIN_SPLIT_FRAMES, fit_run

    slower = {"0": (0.0, 0.3, 1_000_000), "a": (0.1, 0.2, 2_000_000), "b": (0.3 * 1.5, 0.05, 100_000),
              "c": (0.35 * 1.1, 0.02 * 2.0, 50_000), "d": (0.4, 0.01, 10_000), "last": (0.5, 0.0, 44)}
    truth_costs = SplitCosts.from_profile(toy_profile(table=slower))
    outcomes = [o for split in ("b", "c") for o in simulate(FixedSplit(truth_costs, split), ConstantTrace(2e6),
                                                             frames=20, interval=2.0, timeout=5.0)]
    outcomes += simulate(FixedSplit(truth_costs, "d"), ConstantTrace(2e6), frames=MIN_SPLIT_FRAMES - 1, interval=2.0)
    fit = fit_run(outcomes, PROFILE, ConstantTrace(2e6))
    assert fit.device_factors == pytest.approx({"b": 1.5, "c": 1.1})  # d: too few frames, the overall factor
    assert fit.edge_factors == pytest.approx({"b": 1.0, "c": 2.0})
    fitted = {c.split: c for c in fit.apply(PROFILE, "test").cuts}
    assert fitted["b"].device_time == pytest.approx(0.45) and fitted["c"].edge_time == pytest.approx(0.04)
    assert fitted["d"].device_time == pytest.approx(0.4 * fit.device_factor)


def test_calibrate_from_run_writes_the_fitted_profile_and_sim_settings(tmp_path, capsys):
    import yaml

    from scissor_core.runtime.costs import ModelProfile
    from scissor_core.runtime.outcome import write_csv

    costs = SplitCosts.from_profile(PROFILE)
    run = tmp_path / "run"
    write_csv(simulate(FixedSplit(costs, "b"), ConstantTrace(2e6), frames=300, interval=1.0, transport_overhead=0.03),
              run / "outcomes.csv")
    (run / "config.yaml").write_text(yaml.safe_dump({"link": {"trace": "const:2MB"}}))
    profile = PROFILE.save(tmp_path / "toy.json")
    assert main(["calibrate", "--from-run", str(run), "--profile", str(profile)]) == 0
    assert "| 1.000 | 1.000 | 0.000 | 0.0300 | 0.0000 |" in capsys.readouterr().out
    fitted = yaml.safe_load((run / "sim-fitted.yaml").read_text())
    assert fitted["sim"]["transport_overhead"] == pytest.approx(0.03)
    assert ModelProfile.load(fitted["device"]["profile"]).settings["fitted_to_run"]["frames"] == 300
    assert main(["calibrate"]) == 2  # neither a model nor a run


def test_a_result_later_than_edge_timeout_after_delivery_is_edge_lost_as_on_the_live_device():
    """Split 0 of the toy profile: 1 MB at 10 MB/s (0.1 s), then 0.3 s at the edge; a frame every 0.1 s piles
    up at the edge. With edge_timeout 0.5 s a frame whose result comes back 0.5 s or more after its
    delivery is dropped as edge_lost at delivery + 0.5 s; the edge still serves it, so the next one waits."""
    kw = {"timeout": 100.0, "interval": 0.1, "offload_max": 100}
    fast = ConstantTrace(1e7)
    ample = simulate(FixedSplit(SplitCosts.from_profile(PROFILE), "0"), fast, frames=20, **kw)
    strict = simulate(FixedSplit(SplitCosts.from_profile(PROFILE), "0"), fast, frames=20, edge_timeout=0.5, **kw)
    assert all(o.completed for o in ample)
    for loose, tight in zip(ample, strict, strict=True):
        delivered = loose.capture + loose.local_wait + loose.offload_wait + loose.transmit
        if loose.total_delay - (delivered - loose.capture) <= 0.5:
            assert tight.completed and tight.total_delay == pytest.approx(loose.total_delay)
        else:
            assert (tight.drop_reason, tight.drop_place) == ("edge_lost", "edge")
            assert tight.total_delay == pytest.approx(delivered + 0.5 - loose.capture)
            assert tight.bytes_sent == 1_000_000
    assert sum(not o.completed for o in strict) > 0
