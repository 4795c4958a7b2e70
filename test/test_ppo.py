"""PPO (stable-baselines3) as a learner: it trains on the gymnasium environment and runs in the simulator."""
from __future__ import annotations

import pytest
from simhelpers import toy_profile

from scissor_cli.main import main
from scissor_core.analysis.evaluate import run_policy
from scissor_core.config import ScissorConfig
from scissor_core.runtime.costs import SplitCosts
from scissor_core.runtime.traces import parse_trace
from scissor_core.simulation.ppo import PPOPolicy, train_ppo
from scissor_core.simulation.simulator import Simulator


@pytest.fixture(scope="module")
def trained():
    profile = toy_profile("alexnet")
    config = ScissorConfig()
    config.model.name = "alexnet"
    config.agent.episode_frames = 200
    run, policy = train_ppo(config, profile, seed=0, timesteps=1000)
    return profile, config, run, policy


def test_ppo_records_one_curve_point_per_episode_and_decides_candidate_splits(trained):
    profile, config, run, policy = trained
    assert len(run.rewards) == 5 and all(r <= 0 for r in run.rewards) and run.seconds > 0
    outcomes = Simulator.from_config(config, policy, parse_trace(config.link.trace)).run(100)
    assert [o.seq for o in outcomes] == list(range(100))
    assert {o.split for o in outcomes} <= set(policy.costs.splits)


def test_a_saved_ppo_policy_loads_by_name_and_is_refused_for_another_candidate_set(trained, tmp_path):
    profile, config, _, policy = trained
    path = policy.save(tmp_path / "ppo")
    assert path.name == "ppo.zip" and path.with_suffix(".json").is_file()
    again = run_policy(f"ppo:{path}", config, profile, seed=1, frames=60)
    assert [o.split for o in again] == [o.split for o in run_policy(f"ppo:{path}", config, profile, 1, 60)]
    fewer = SplitCosts.from_profile(profile, "jpeg-q90")  # only splits 0 and last
    with pytest.raises(ValueError, match="trained for alexnet over"):
        PPOPolicy.load(path, fewer)
    with pytest.raises(FileNotFoundError, match="scissor train --learner ppo"):
        PPOPolicy.load(tmp_path / "missing.zip", policy.costs)


def test_scissor_train_learner_ppo_writes_the_policy_and_curves(tmp_path, capsys):
    profile = tmp_path / "alexnet.json"
    toy_profile("alexnet").save(profile)
    assert main(["train", "--learner", "ppo", "--profile", str(profile), "--seeds", "2", "--timesteps", "400",
                 "--episode-frames", "100", "--results", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "kept the median run" in out and (tmp_path / "alexnet" / "ppo.zip").is_file()
    assert (tmp_path / "alexnet" / "rewards.png").is_file()
