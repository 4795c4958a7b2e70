"""Train the A2C agent in the simulator: episodes, convergence, several seeds, the median run.

An episode is ``agent.episode_frames`` consecutive frames from empty queues
(the policy's weights are kept across episodes). The episode's score is the
mean reward per frame. Training stops after ``agent.episodes`` episodes or
when the moving average over ``agent.convergence_window`` episodes has not
improved for ``agent.patience`` episodes. With several seeds, the run whose
final moving average is the median is kept (the paper reports the median of 5).
Each episode uses its own arrival seed (jitter, bursts); the bandwidth trace
restarts from its beginning every episode. With ``sim.devices`` > 1 the episode runs in the
:class:`~scissor_core.simulation.shared_edge.SharedEdgeSimulator`: every device decides with the one learner
(:meth:`A2CPolicy.stream`, its own transitions), on its own uplink (the trace seeded ``sim.seed + i``), and the
episode's score is the mean reward per frame over all devices.
"""
from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from scissor_core.config import ScissorConfig
from scissor_core.policies.a2c import A2CPolicy
from scissor_core.runtime.costs import ModelProfile, SplitCosts
from scissor_core.runtime.outcome import FrameOutcome
from scissor_core.simulation.shared_edge import SharedEdgeSimulator
from scissor_core.simulation.simulator import Simulator


@dataclass
class TrainRun:
    """One seed's training: per-episode mean reward, where it stopped, and the trained policy."""

    seed: int
    rewards: list[float] = field(default_factory=list)
    seconds: float = 0.0
    converged: bool = False
    policy: A2CPolicy | None = None

    def moving_average(self, window: int) -> list[float]:
        out, total = [], 0.0
        for i, r in enumerate(self.rewards):
            total += r
            if i >= window:
                total -= self.rewards[i - window]
            out.append(total / min(i + 1, window))
        return out

    def final_score(self, window: int) -> float:
        return self.moving_average(window)[-1] if self.rewards else float("-inf")


def train_seed(config: ScissorConfig, profile: ModelProfile, seed: int, progress: bool = True) -> TrainRun:
    """Train one A2C policy from scratch with ``seed``."""
    agent = config.agent
    costs = SplitCosts.for_config(profile, config.codec)
    policy = A2CPolicy(costs, config.agent, seed=seed)
    episode_of = episodes(config, policy)
    run = TrainRun(seed=seed, policy=policy)
    best, since_best = float("-inf"), 0
    start = time.perf_counter()
    bar = tqdm(range(agent.episodes), desc=f"train {profile.model} seed {seed}", unit="ep", disable=not progress)
    for episode in bar:
        outcomes = episode_of(agent.episode_frames, config.sim.seed + episode)
        policy.end_episode()
        run.rewards.append(sum(o.reward for o in outcomes) / len(outcomes))
        average = run.moving_average(agent.convergence_window)[-1]
        bar.set_postfix(reward=f"{run.rewards[-1]:.3f}", avg=f"{average:.3f}")
        if episode + 1 < agent.convergence_window:
            continue
        if average > best + 1e-9:
            best, since_best = average, 0
        else:
            since_best += 1
            if since_best >= agent.patience:
                run.converged = True
                break
    run.seconds = time.perf_counter() - start
    return run


def episodes(config: ScissorConfig, policy: A2CPolicy) -> Callable[[int, int], list[FrameOutcome]]:
    """``episode(frames, seed)``: one training episode's outcomes, on one device or, with ``sim.devices`` > 1,
    on every device of a shared edge (all of them deciding with ``policy``)."""
    devices = config.sim.devices
    if devices == 1:
        sim = Simulator.from_config(config, policy)
        return lambda frames, seed: sim.run(frames, seed=seed)
    shared = SharedEdgeSimulator.from_config(config, [policy, *(policy.stream() for _ in range(devices - 1))],
                                             config.sim.seed)
    return lambda frames, seed: [o for run in shared.run(frames, seed=seed) for o in run]


def train(config: ScissorConfig, profile: ModelProfile, seeds: int,
          progress: bool = True) -> tuple[TrainRun, list[TrainRun]]:
    """Train ``seeds`` runs; return the median run (by final moving average) and all runs."""
    runs = [train_seed(config, profile, seed, progress) for seed in range(seeds)]
    return runs[median_run(runs, config.agent.convergence_window)], runs


def median_run(runs: list[TrainRun], window: int) -> int:
    """The index of the run whose final moving average is the median (the lower one of an even count)."""
    ranked = sorted(range(len(runs)), key=lambda i: runs[i].final_score(window))
    return ranked[(len(ranked) - 1) // 2]


def write_curves(runs: list[TrainRun], window: int, out_dir: Path, title: str) -> tuple[Path, Path]:
    """Reward curves of every seed (the paper's Figure 13): CSV and PNG."""
    from scissor_core.plots import plt, save

    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "rewards.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["seed", "episode", "mean_reward", "moving_average"])
        for run in runs:
            for i, (r, m) in enumerate(zip(run.rewards, run.moving_average(window), strict=True)):
                writer.writerow([run.seed, i, f"{r:.6f}", f"{m:.6f}"])
    fig, ax = plt.subplots(figsize=(7, 4))
    for run in runs:
        ax.plot(run.rewards, alpha=0.25, linewidth=0.8)
        ax.plot(run.moving_average(window), linewidth=1.6, label=f"seed {run.seed}")
    ax.set_xlabel("episode")
    ax.set_ylabel("mean reward per frame")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return csv_path, save(fig, out_dir / "rewards.png", dpi=120)


def summarise(runs: list[TrainRun], window: int) -> str:
    lines = ["| seed | episodes | converged | final moving avg | seconds |", "|---:|---:|---|---:|---:|"]
    for r in runs:
        lines.append(f"| {r.seed} | {len(r.rewards)} | {'yes' if r.converged else 'no (episode limit)'} | "
                     f"{r.final_score(window):.4f} | {r.seconds:.1f} |")
    lines.append(f"\nmedian final moving average {np.median([r.final_score(window) for r in runs]):.4f}")
    return "\n".join(lines)
