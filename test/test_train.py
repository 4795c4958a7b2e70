"""Training loop: episodes, early stop on a flat moving average, median of seeds, curves on disk."""
from __future__ import annotations

from scissor_core.config import ScissorConfig
from scissor_core.policies.a2c import A2CPolicy
from scissor_core.runtime.costs import SplitCosts
from scissor_core.simulation.train import TrainRun, summarise, train, write_curves

from simhelpers import toy_profile


def small_config() -> ScissorConfig:
    config = ScissorConfig()
    config.agent.episodes, config.agent.episode_frames = 6, 100
    config.agent.convergence_window, config.agent.patience = 2, 2
    return config


def test_moving_average_and_early_stop():
    run = TrainRun(seed=0, rewards=[-3.0, -1.0, -2.0, -2.0])
    assert run.moving_average(2) == [-3.0, -2.0, -1.5, -2.0]
    assert run.final_score(2) == -2.0


def test_train_keeps_the_median_seed_and_writes_curves(tmp_path):
    config = small_config()
    profile = toy_profile()
    best, runs = train(config, profile, seeds=3, progress=False)
    assert [r.seed for r in runs] == [0, 1, 2]
    scores = sorted(r.final_score(2) for r in runs)
    assert best.final_score(2) == scores[1]
    assert all(1 <= len(r.rewards) <= 6 for r in runs)
    assert isinstance(best.policy, A2CPolicy) and best.policy.updates > 0
    csv_path, png_path = write_curves(runs, 2, tmp_path, "test")
    assert csv_path.read_text().count("\n") == 1 + sum(len(r.rewards) for r in runs)
    assert png_path.stat().st_size > 5_000
    assert "median final moving average" in summarise(runs, 2)
    loaded = A2CPolicy.load(best.policy.save(tmp_path / "p.pt"), SplitCosts.from_profile(profile))
    assert loaded.costs.splits == best.policy.costs.splits


def test_training_is_deterministic_by_seed():
    config = small_config()
    a, _ = train(config, toy_profile(), seeds=1, progress=False)
    b, _ = train(config, toy_profile(), seeds=1, progress=False)
    assert a.rewards == b.rewards


def test_train_cli_paper_flag_records_the_papers_learner(tmp_path, capsys):
    """`scissor train --paper` trains with PAPER_AGENT and the policy file says so; without it, the defaults."""
    import torch

    from scissor_cli.main import main
    from scissor_core.config import PAPER_AGENT

    profile = tmp_path / "toy.json"
    toy_profile().save(profile)
    for flag, state in ((["--paper"], "paper"), ([], "extended")):
        out = tmp_path / f"{state}.pt"
        assert main(["train", "--profile", str(profile), "--seeds", "1", "--episodes", "2", "--episode-frames",
                     "100", "--no-progress", "--results", str(tmp_path), "--output", str(out), *flag]) == 0
        settings = torch.load(out, weights_only=True)["settings"]
        assert settings["state"] == state
        assert (settings["batch"] == PAPER_AGENT["batch"]) == (state == "paper")
    assert "paper learner settings" in capsys.readouterr().out
