"""Calibration, side-by-side evaluation, the improvement/gap math and every experiment end to end (tiny)."""
from __future__ import annotations

import csv
import math
import re
import shutil

import pytest

from scissor_cli.main import main
from scissor_core.analysis.calibrate import calibrate, calibrate_file
from scissor_core.analysis.evaluate import (ALL_POLICIES, BASELINES, clairvoyant_reference, improvement,
                                            improvements, oracle_gaps, run_policy)
from scissor_core.analysis.experiments import CODEC_MODEL, CODEC_TRACES, EXPERIMENTS, MODELS, SCENARIOS
from scissor_core.analysis.metrics import RunMetrics
from scissor_core.config import CONFIG_DIR, ScissorConfig
from scissor_core.policies.a2c import A2CPolicy
from scissor_core.runtime.costs import ModelProfile, SplitCosts, TimingStats

from simhelpers import toy_profile


def measured_profile(model: str = "alexnet") -> ModelProfile:
    """A toy profile whose measured medians are set (calibration scales those)."""
    profile = toy_profile(model)
    for c in profile.cuts:
        c.device_measured = TimingStats(c.device_time, c.device_time, c.device_time, c.device_time, 1)
        c.edge_measured = TimingStats(c.edge_time, c.edge_time, c.edge_time, c.edge_time, 1)
    return profile


def test_calibrate_hits_targets_exactly_and_keeps_the_shape():
    profile = measured_profile()
    out = calibrate(profile, device_time=4.347, edge_time=0.759)
    assert out.cut("last").device_time == 4.347
    assert out.cut("0").edge_time == 0.759
    for before, after in zip(profile.cuts, out.cuts, strict=True):
        assert after.device_time == pytest.approx(before.device_time * out.settings["device_slowdown"], rel=1e-12)
        assert after.edge_time == pytest.approx(before.edge_time * out.settings["edge_slowdown"], rel=1e-12)
        assert after.bytes == before.bytes
    assert out.settings["device_slowdown"] == pytest.approx(4.347 / 0.5)
    assert out.settings["edge_slowdown"] == pytest.approx(0.759 / 0.3)
    assert profile.cut("last").device_time == 0.5  # the input is not modified


def test_calibrate_file_reuses_factors(tmp_path):
    measured_profile("yolov3").save(tmp_path / "yolov3.json")
    small = measured_profile("alexnet")
    for c in small.cuts:
        c.device_measured = TimingStats(*(2 * c.device_measured.median,) * 4, 1)
    small.save(tmp_path / "alexnet.json")
    paper = calibrate_file(tmp_path / "yolov3.json", tmp_path / "yolov3-paper.json", None, None)
    assert paper.cut("last").device_time == 4.347 and paper.settings["calibrated_to"]["source"] == "paper"
    other = calibrate_file(tmp_path / "alexnet.json", tmp_path / "a.json", None, None, tmp_path / "yolov3-paper.json")
    assert other.settings["device_slowdown"] == pytest.approx(paper.settings["device_slowdown"])
    assert other.cut("last").device_time == pytest.approx(2 * 4.347)
    table1 = calibrate_file(tmp_path / "alexnet.json", tmp_path / "b.json", None, None)  # the paper's Table 1
    assert table1.cut("last").device_time == 0.136 and table1.cut("0").edge_time == pytest.approx(0.616)
    small.model = "yolov3-tiny"  # not in the paper
    small.save(tmp_path / "tiny.json")
    with pytest.raises(ValueError, match="no paper times"):
        calibrate_file(tmp_path / "tiny.json", tmp_path / "c.json", None, None)


def test_every_policy_sees_the_same_frames_and_oracle_beats_greedy():
    """Same arrivals for every policy; on a fluctuating link with time for the queues to drain the
    clairvoyant oracle is never worse than greedy. (Under sustained overload the myopic oracle can
    lose to greedy: it does not weigh its choice's effect on later frames; not asserted here.)"""
    config = ScissorConfig()
    config.sim.jitter = 0.3
    config.sim.interval = 0.5
    config.link.trace = "walk:mean=1MB,sigma=0.8"
    profile = toy_profile()
    for seed in (1, 2):
        runs = {name: run_policy(name, config, profile, seed, 300) for name in BASELINES + ("myopic-oracle",)}
        captures = {name: [o.capture for o in outcomes] for name, outcomes in runs.items()}
        assert len({tuple(c) for c in captures.values()}) == 1
        assert len(captures["greedy"]) == 300
        cost = {name: RunMetrics.of(outcomes).system_cost for name, outcomes in runs.items()}
        assert cost["myopic-oracle"] < cost["greedy"]


def _metrics(**values: float) -> RunMetrics:
    base = dict(frames=10, completed=10, mean_bytes=0.0, mean_delay=0.0, mean_local_delay=0.0,
                mean_transmit_delay=0.0, mean_edge_delay=0.0, p50_delay=0.0, p95_delay=0.0, p99_delay=0.0,
                drop_rate=0.0, system_cost=0.0)
    return RunMetrics(**{**base, **values})


def test_improvement_and_oracle_gap_math():
    rows = {"a2c": _metrics(mean_bytes=1e6, mean_delay=0.7, drop_rate=0.0, system_cost=2.0),
            "device-only": _metrics(mean_bytes=0.0, mean_delay=5.0, drop_rate=0.5, system_cost=8.0),
            "greedy": _metrics(mean_bytes=2e6, mean_delay=0.5, drop_rate=0.1, system_cost=1.6),
            "myopic-oracle": _metrics(system_cost=1.6)}
    gains = improvements(rows)
    assert gains["device-only"]["mean_delay"] == pytest.approx(86.0)
    assert gains["device-only"]["system_cost"] == pytest.approx(75.0)
    assert gains["device-only"]["drop_rate"] == pytest.approx(100.0)
    assert math.isnan(gains["device-only"]["mean_bytes"])  # nothing to improve on
    assert gains["greedy"]["mean_bytes"] == pytest.approx(50.0)
    assert gains["greedy"]["system_cost"] == pytest.approx(-25.0)
    assert improvement(1.0, 3.0) == pytest.approx(200.0 / 3.0)
    gaps = oracle_gaps(rows)
    assert gaps["a2c"] == pytest.approx(25.0) and gaps["greedy"] == pytest.approx(0.0)
    assert set(gaps) == {"a2c", "device-only", "greedy"}
    rows["best-fixed"] = _metrics(system_cost=1.0)  # the cheaper clairvoyant reference is the one measured against
    assert clairvoyant_reference(rows) == ("best-fixed", 1.0)
    gaps = oracle_gaps(rows)
    assert gaps["a2c"] == pytest.approx(100.0) and gaps["myopic-oracle"] == pytest.approx(60.0)
    assert "best-fixed" not in gaps


def test_best_fixed_is_the_cheapest_single_split_of_each_run():
    config = ScissorConfig()
    config.link.trace = "walk:mean=1MB,sigma=0.8"
    profile = toy_profile()
    cost = {s: RunMetrics.of(run_policy(f"fixed:{s}", config, profile, 3, 200)).system_cost
            for s in SplitCosts.from_profile(profile).splits}
    best = run_policy("best-fixed", config, profile, 3, 200)
    assert RunMetrics.of(best).system_cost == min(cost.values())
    assert {o.split for o in best} == {min(cost, key=cost.get)}


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("profiles")
    for model in MODELS:
        toy_profile(model).save(root / f"{model}-paper.json")
    # codec-choice runs the measured YOLOv3-tiny profile (its codec table's splits): the shipped one
    shutil.copy(CONFIG_DIR / "profiles" / f"{CODEC_MODEL}.json", root / f"{CODEC_MODEL}.json")
    return root


TINY = ["--frames", "200", "--seeds", "2", "--train-seeds", "2", "--episodes", "3", "--episode-frames", "200",
        "--no-progress"]


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_experiment_end_to_end(name, toy_dir, tmp_path_factory, capsys):
    results = tmp_path_factory.getbasetemp() / "results"  # shared: the trained policies are cached across tests
    assert main(["experiment", name, "--profile-dir", str(toy_dir), "--results", str(results), *TINY]) == 0
    out = results / name / ("measured" if name == "codec-choice" else "paper")
    for suffix in ("csv", "md", "png"):
        assert (out / f"{name}.{suffix}").stat().st_size > 0
    with (out / f"{name}.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows
    if name == "fig9":
        assert {r["policy"] for r in rows} == set(ALL_POLICIES)
        assert {r["model"] for r in rows} == set(MODELS)
    if name == "codec-choice":  # every policy on each link, with one codec and with the codec chosen
        assert {(r["link.trace"], r["codec"]) for r in rows} == {
            (trace, mode) for _, trace in CODEC_TRACES for mode in ("one codec (raw)", "chosen, mAP >= 0.98")}
        jpeg = {r["codec"]: float(r["accuracy"]) for r in rows if r["policy"] == "edge-only-jpeg"}
        assert jpeg["chosen, mAP >= 0.98"] >= 0.98 > jpeg["one codec (raw)"]  # equal accuracy only when chosen
    if name == "scenarios":  # no policy, clairvoyant or not, beats the lower bound of its own runs
        assert {r["scenario"] for r in rows} == {sc.name for sc in SCENARIOS}
        bound = {r["scenario"]: float(r["system_cost"]) for r in rows if r["policy"] == "lower-bound"}
        assert set(bound) == {sc.name for sc in SCENARIOS}  # a shared edge's too
        assert all(float(r["system_cost"]) >= bound[r["scenario"]] - 1e-9 for r in rows)
        shared = {sc.name for sc in SCENARIOS if sc.overrides.get("sim.devices", 1) > 1}
        assert shared and not any(r["policy"] == "myopic-oracle" for r in rows if r["scenario"] in shared)
        assert any(r["policy"] == "a2c" for r in rows if r["scenario"] in shared)  # learners trained at one edge
    if name == "fig13":
        assert (out / "yolov3" / "rewards.png").is_file()
        assert len(rows) == 2 * len(MODELS)
    assert f"{name}.csv" in capsys.readouterr().out


def test_evaluate_command_writes_table_and_uses_a2c(toy_dir, tmp_path, capsys):
    profile = toy_dir / "alexnet-paper.json"
    assert main(["train", "--profile", str(profile), "--seeds", "1", "--episodes", "2", "--episode-frames", "100",
                 "--output", str(tmp_path / "p.pt"), "--results", str(tmp_path), "--no-progress"]) == 0
    assert main(["evaluate", "--profile", str(profile), "--policy-file", str(tmp_path / "p.pt"), "--frames", "150",
                 "--seeds", "2", "--output", str(tmp_path / "eval"), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "| a2c |" in text and "(clairvoyant) %" in text
    for suffix in ("csv", "md", "png"):
        assert (tmp_path / "eval" / f"alexnet.{suffix}").is_file()


@pytest.mark.parametrize("model", MODELS)
def test_shipped_policy_loads_against_paper_and_measured_profiles(model):
    policy_file = CONFIG_DIR / "policies" / f"{model}.pt"
    for name in (f"{model}.json", f"{model}-paper.json"):
        profile = ModelProfile.load(CONFIG_DIR / "profiles" / name)
        assert A2CPolicy.load(policy_file, SplitCosts.from_profile(profile, "raw")).costs.model == model


def test_evaluate_with_the_bound_prints_every_policys_gap_to_it(toy_dir, tmp_path, capsys):
    profile = toy_dir / "alexnet-paper.json"
    assert main(["evaluate", "--profile", str(profile), "--policy", "greedy,device-only", "--frames", "120",
                 "--seeds", "2", "--bound", "--output", str(tmp_path / "eval"), "--no-progress"]) == 0
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if x.startswith("lower bound on the system cost:"))
    bound = float(line.split(":")[1].split()[0])
    gaps = dict(re.findall(r"^\| (greedy|device-only) \| (-?[0-9.]+) \|$", text, re.M))
    assert set(gaps) == {"greedy", "device-only"} and all(float(g) >= 0.0 for g in gaps.values())
    assert bound > 0


def test_more_bound_labels_give_a_bound_no_lower_and_a_shared_edge_has_one(toy_dir, tmp_path, capsys):
    def bound(*extra: str) -> float:
        assert main(["evaluate", "--profile", str(toy_dir / "resnet18-paper.json"), "--policy", "greedy",
                     "--frames", "150", "--seeds", "1", "--set", "sim.interval=0.1", "--bound", *extra,
                     "--output", str(tmp_path / "eval"), "--no-progress"]) == 0
        line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("lower bound on the system"))
        return float(line.split(":")[1].split()[0])

    assert bound("--bound-labels", "256") >= bound("--bound-labels", "4") > 0
    assert bound("--set", "sim.devices=2") > 0
    assert main(["evaluate", "--profile", str(toy_dir / "resnet18-paper.json"), "--bound-labels", "8"]) == 2
    assert "--bound-labels needs --bound" in capsys.readouterr().err
