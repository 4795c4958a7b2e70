"""scissor evaluate --live: policies on the real testbed on the same input, and the simulator against it."""
from __future__ import annotations

import csv
import math

import pytest

from scissor_bringup.evaluate_live import (LIVE_POLICIES, POLICY_CODECS, calibration_rows, calibration_table,
                                           check_policies, prediction_summary, relative_error, structural_notes)
from scissor_core.analysis.calibrate import mean_absolute_percentage_error, split_distance
from scissor_core.analysis.evaluate import Evaluation
from scissor_core.analysis.metrics import RunMetrics

from conftest import write_config


def metrics(delay: float, drop: float, cost: float, nbytes: float = 0.0) -> RunMetrics:
    return RunMetrics(frames=10, completed=10, mean_bytes=nbytes, mean_delay=delay, mean_local_delay=delay,
                      mean_transmit_delay=0.0, mean_edge_delay=0.0, p50_delay=delay, p95_delay=delay,
                      p99_delay=delay, drop_rate=drop, system_cost=cost)


def test_relative_error_is_the_simulators_error_against_the_testbed():
    assert relative_error(1.1, 1.0) == pytest.approx(0.1)
    assert relative_error(0.5, 1.0) == pytest.approx(-0.5)
    assert relative_error(0.0, 0.0) == 0.0
    assert relative_error(0.2, 0.0) == math.inf and relative_error(-0.2, 0.0) == -math.inf
    assert math.isnan(relative_error(math.nan, 1.0)) and math.isnan(relative_error(1.0, math.nan))


def test_the_oracle_cannot_run_live_and_all_means_the_causal_policies():
    with pytest.raises(ValueError, match="oracle cannot run live"):
        check_policies(["greedy", "myopic-oracle"])
    assert "myopic-oracle" not in LIVE_POLICIES and "a2c" in LIVE_POLICIES
    assert check_policies(["greedy", "dads", "greedy"]) == ["greedy", "dads"]


def test_edge_only_jpeg_runs_the_testbed_in_the_codec_the_simulator_charges():
    from scissor_core.config import CodecConfig
    from scissor_core.policies import JPEG_CODEC
    from scissor_core.wire.codec import CodecSpec

    settings = POLICY_CODECS["edge-only-jpeg"]
    codec = CodecConfig(encoding=settings["codec.encoding"], jpeg_quality=settings["codec.jpeg_quality"])
    assert CodecSpec.of(codec).label == JPEG_CODEC


def test_evaluate_live_refuses_the_oracle_before_anything_runs(capsys):
    from scissor_cli.main import main

    assert main(["evaluate", "--live", "--policies", "greedy,myopic-oracle", "--model", "alexnet"]) == 2
    assert "oracle cannot run live" in capsys.readouterr().err


def test_calibration_rows_and_table():
    sim = {"greedy": metrics(0.11, 0.0, 0.12, 1e4), "dads": metrics(0.2, 0.1, 1.2)}
    live = {"greedy": metrics(0.10, 0.0, 0.10, 1e4), "dads": metrics(0.4, 0.0, 0.4), "edge-only": metrics(1, 0, 1)}
    rows = calibration_rows(sim, live)
    assert [r["policy"] for r in rows] == ["greedy", "dads"]  # only policies with both
    g, d = rows
    assert g["mean_delay_rel_err"] == pytest.approx(0.1) and g["system_cost_rel_err"] == pytest.approx(0.2)
    assert g["drop_rate_rel_err"] == 0.0 and g["mean_bytes_rel_err"] == 0.0 and not g["within_goal"]
    assert d["mean_delay_rel_err"] == pytest.approx(-0.5) and d["drop_rate_rel_err"] == math.inf
    assert d["drop_rate_abs_diff"] == pytest.approx(0.1)
    table = calibration_table(rows)
    assert "| greedy | 0.010 | 0.010 | 0.000 | 0.110 | 0.100 | 10.000 |" in table
    assert rows[0]["within_goal"] is False and calibration_rows(sim, {"greedy": sim["greedy"]})[0]["within_goal"]


def test_structural_notes_name_the_stages_that_differ():
    def ev(edge: float) -> Evaluation:
        m = metrics(edge, 0.0, edge)
        stages = {"local_wait": 0.0, "local_compute": 0.01, "offload_wait": 0.0, "transmit": 0.001,
                  "edge_wait": 0.0, "edge_compute": edge}
        return Evaluation("p", (m,), m, stages, {"0": 1.0})

    notes = structural_notes({"p": ev(0.03)}, {"p": ev(0.12)})
    assert notes == ["p: edge_compute 120.0 ms live vs 30.0 ms simulated"]


@pytest.mark.timeout(240)
def test_the_prediction_summary_gives_the_delay_mape_and_how_far_the_split_choices_differ():
    assert split_distance({"a": 1.0}, {"a": 1.0}) == 0.0
    assert split_distance({"a": 0.75, "b": 0.25}, {"a": 0.25, "c": 0.75}) == pytest.approx(0.75)
    assert mean_absolute_percentage_error([(1.1, 1.0), (0.8, 1.0)]) == pytest.approx(0.15)
    assert math.isnan(mean_absolute_percentage_error([]))

    def ev(name, delay, share):
        m = metrics(delay, 0.1, delay)
        return Evaluation(name, (m,), m, {}, share)

    sim = {"p": ev("p", 1.1, {"a": 1.0}), "q": ev("q", 0.8, {"a": 0.5, "b": 0.5})}
    live = {"p": ev("p", 1.0, {"a": 1.0}), "q": ev("q", 1.0, {"b": 1.0})}
    text = prediction_summary(sim, live)
    assert "MAPE of the mean delay over 2 policies: 15.0%" in text
    assert "| q | 0.800 | 1.000 | -20.000 | 10.000 | 10.000 | 50.000 |" in text


def test_two_policies_live_on_the_same_bag_frames(tmp_path, domain):
    from scissor_cli.main import main
    from scissor_core.runtime.outcome import read_csv
    from scissor_core.sources.scene import TrafficScene

    from test_bags import IMAGE, START_NS, STEP_NS, image_msg, write_bag

    frames = 10
    scene = TrafficScene(seed=5)
    bag = write_bag(tmp_path / "bag", "mcap",
                    {"/camera/image_raw": (IMAGE, [image_msg(scene.frame(k), "rgb8", START_NS + k * STEP_NS)
                                                   for k in range(frames)])})
    out = tmp_path / "out"
    code = main(["evaluate", "--live", "--bag", str(bag), "--config", write_config(tmp_path), "--trace", "const:5MB",
                 "--policies", "device-only,edge-only-jpeg", "--interval", "0.15", "--output", str(out),
                 "--no-progress"])
    assert code == 0
    for name in ("alexnet.csv", "alexnet.md", "alexnet.png", "alexnet-sim.csv", "alexnet-calibration.csv",
                 "alexnet-calibration.png", "config.yaml"):
        assert (out / name).is_file(), name
    for policy in ("device-only", "edge-only-jpeg"):
        outcomes = read_csv(out / "runs" / policy / "outcomes.csv")
        assert sorted(o.seq for o in outcomes) == list(range(frames)), policy
        assert {o.policy for o in outcomes} == {policy}  # the agent's or the device's copy of the same policy
    assert {o.split for o in read_csv(out / "runs" / "device-only" / "outcomes.csv")} == {"last"}
    jpeg = read_csv(out / "runs" / "edge-only-jpeg" / "outcomes.csv")
    assert {o.split for o in jpeg} == {"0"} and {o.codec for o in jpeg} == {"jpeg-q90"}
    with (out / "alexnet.csv").open() as f:
        live = {r["policy"]: r for r in csv.DictReader(f)}
    assert set(live) == {"device-only", "edge-only-jpeg"} and all(int(r["frames"]) == frames for r in live.values())
    with (out / "alexnet-calibration.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["policy"] for r in rows] == ["device-only", "edge-only-jpeg"]
    for r in rows:
        assert math.isfinite(float(r["mean_delay_rel_err"])) and math.isfinite(float(r["system_cost_rel_err"]))
        assert math.isfinite(float(r["drop_rate_abs_diff"]))
    assert "calibration: simulator against testbed" in (out / "alexnet.md").read_text()
