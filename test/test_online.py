"""Online learning's reward curve: the core log (unit) and `scissor testbed --learn-online` end to end (live)."""
from __future__ import annotations

import csv

import pytest

from scissor_bringup.testbed_run import run_testbed_online
from scissor_cli.main import main
from scissor_core.config import load_config
from scissor_core.policies.a2c import A2CPolicy
from scissor_core.policies.serving import default_profile_path
from scissor_core.runtime.costs import ModelProfile, SplitCosts
from scissor_core.runtime.outcome import FrameOutcome
from scissor_core.simulation.online import MovingAverage, OnlineCurve, OnlineRewardLog, reward_log_path

from conftest import write_config


def outcome(seq: int, reward: float, completed: bool = True) -> FrameOutcome:
    return FrameOutcome(seq, 0.0, "alexnet", "conv2", "fp16", "a2c", completed, "" if completed else "edge_lost",
                        "" if completed else "edge", False, 1000, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, reward)


def test_moving_average_over_a_window():
    average = MovingAverage(3)
    assert [average.add(v) for v in (3.0, 0.0, 3.0, 6.0, 9.0)] == [3.0, 1.5, 2.0, 3.0, 6.0]
    with pytest.raises(ValueError):
        MovingAverage(0)


def test_the_reward_log_is_flushed_per_row_and_reads_back(tmp_path):
    path = reward_log_path(tmp_path / "ckpt" / "policy-online.pt")
    assert path == tmp_path / "ckpt" / "policy-online-rewards.csv"
    log = OnlineRewardLog(path, window=2)
    assert log.record(outcome(7, -1.0)) == -1.0
    assert log.record(outcome(8, -3.0, completed=False)) == -2.0
    log.checkpoint(tmp_path / "ckpt" / "policy-online.pt")
    # Flushed per row: readable while the log is still open (as after a kill).
    rows = list(csv.DictReader(path.open()))
    assert [r["seq"] for r in rows] == ["7", "8", ""] and rows[2]["outcomes"] == "2"
    for seq, reward in ((9, -5.0), (10, -7.0)):
        log.record(outcome(seq, reward))
    log.checkpoint("final.pt")
    log.close()
    # A row cut by a kill is ignored.
    with path.open("a") as f:
        f.write("5,11,1.0,-2")
    curve = OnlineCurve.read(path)
    assert curve.seq == [7, 8, 9, 10]
    assert curve.reward == [-1.0, -3.0, -5.0, -7.0]
    assert curve.completed == [True, False, True, True]
    assert curve.moving_average == [-1.0, -2.0, -4.0, -6.0]
    assert [(n, p) for n, _, p in curve.checkpoints] == [(2, str(tmp_path / "ckpt" / "policy-online.pt")),
                                                         (4, "final.pt")]
    assert curve.first_last() == (-1.0, -7.0)  # 10% of 4 outcomes: one each
    assert curve.summary() == ("online learning: 4 outcomes learned from, moving-average reward first 10% -1.000 "
                               "-> last 10% -7.000, 2 checkpoints saved")
    assert curve.plot(tmp_path / "reward.png", "test").stat().st_size > 1000
    # A new log (a restarted agent) starts a new file.
    OnlineRewardLog(path).close()
    assert OnlineCurve.read(path).seq == []


def test_learn_online_with_a_baseline_policy_is_refused_before_any_node_starts(tmp_path, capsys):
    assert main(["testbed", "--learn-online", "--policy", "greedy", "--output", str(tmp_path / "run")]) == 2
    assert "--learn-online needs the a2c policy" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_testbed_learns_online_and_draws_its_reward_curve(tmp_path, domain):  # noqa: F811
    # The camera waits for the device, which reads once edge and agent listen (a loaded machine may start the
    # nodes slower than the frames last); the run stops after ~40 outcomes.
    config_file = write_config(tmp_path, camera={"max_frames": 80, "wait_for_subscribers": 1})
    checkpoint = tmp_path / "agent" / "online.pt"
    run = run_testbed_online(config_file, 80, tmp_path / "run", checkpoint=checkpoint, checkpoint_every=10,
                             stop_after_outcomes=40, grace=20)
    assert all(code in (0, -2) for code in run.exit_codes.values()), (run.exit_codes, run.summary)
    rewards = reward_log_path(checkpoint)
    assert rewards.exists(), run.summary
    curve = OnlineCurve.read(rewards)
    # One row per outcome the agent saw: the final checkpoint (at shutdown) was saved after all of them.
    assert curve.checkpoints and curve.checkpoints[-1][0] == len(curve.seq) >= 20, (len(curve.seq), run.summary)
    assert len(curve.seq) == len(set(curve.seq))
    # Each is an outcome the device recorded, with its reward; the frames dropped at shutdown never reach it.
    by_seq = {o.seq: o for o in run.outcomes}
    for seq, reward, split in zip(curve.seq, curve.reward, curve.split, strict=True):
        assert abs(by_seq[seq].reward - reward) < 1e-5 and by_seq[seq].split == split
    assert len(curve.seq) >= len([o for o in run.outcomes if o.drop_reason != "shutdown"]) - 3
    assert [n for n, _, _ in curve.checkpoints[:-1]] == list(range(10, 10 * len(curve.checkpoints), 10))
    config = load_config(config_file)
    costs = SplitCosts.from_profile(ModelProfile.load(default_profile_path(config, "alexnet")))
    A2CPolicy.load(checkpoint, costs)
    assert (tmp_path / "run" / "reward.png").stat().st_size > 1000
    assert curve.summary() in run.summary
    assert curve.summary() in (tmp_path / "run" / "summary.md").read_text()
