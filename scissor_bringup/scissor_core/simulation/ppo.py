"""PPO (stable-baselines3) on the gymnasium environment: a second learner next to scissor's A2C.

:func:`train_ppo` trains one seed on :class:`~scissor_core.simulation.gym_env.ScissorEnv` (the paper's state, a
frame's reward when it finishes, episodes of ``agent.episode_frames`` frames; with ``sim.devices`` > 1 one agent
deciding every device's frames at a shared edge) for ``timesteps`` decisions and
records each episode's mean reward per frame, as :func:`scissor_core.simulation.train.train_seed` does for A2C,
so the two learners' curves and median runs compare directly. :class:`PPOPolicy` decides with the trained
network (its most probable split) behind the one :class:`Policy` interface, so the simulator and ``scissor
evaluate`` (policy ``ppo:FILE``) run it (not yet the live agent node, which serves A2C files). A policy file is
SB3's zip plus a ``.json`` beside it naming the model and the candidate splits, checked on load.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from scissor_core.config import ScissorConfig
from scissor_core.runtime.costs import ModelProfile, SplitCosts
from scissor_core.runtime.policy import Policy
from scissor_core.runtime.queues import ObservedState
from scissor_core.simulation.train import TrainRun

PPO_PREFIX = "ppo:"
"""A policy name ``ppo:FILE``: the PPO policy trained into FILE (``scissor train --learner ppo``)."""


class PPOPolicy(Policy):
    """A trained stable-baselines3 PPO actor, deciding its most probable split."""

    name = "ppo"

    def __init__(self, costs: SplitCosts, model) -> None:
        super().__init__(costs)
        if model.action_space.n != len(costs.splits):
            raise ValueError(f"the PPO policy has {model.action_space.n} actions, the profile "
                             f"{len(costs.splits)} candidate splits")
        self.model = model

    def decide(self, state: ObservedState) -> str:
        action, _ = self.model.predict(np.asarray(state.vector(), dtype=np.float32), deterministic=True)
        return self.costs.splits[int(action)]

    def save(self, path: str | Path) -> Path:
        """SB3's zip at ``path`` (``.zip`` added if missing) and the ``.json`` of its model and splits."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.model.save(path)
        zip_path = path if path.suffix == ".zip" else path.with_name(path.name + ".zip")
        zip_path.with_suffix(".json").write_text(json.dumps({"model": self.costs.model,
                                                              "splits": list(self.costs.splits)}))
        return zip_path

    @classmethod
    def load(cls, path: str | Path, costs: SplitCosts) -> PPOPolicy:
        """A saved PPO policy, refused if it was trained for another model or candidate set."""
        from stable_baselines3 import PPO

        path = Path(path)
        meta_path = path.with_suffix(".json")
        if not path.is_file() or not meta_path.is_file():
            raise FileNotFoundError(f"PPO policy {path} (and {meta_path.name} beside it) not found: train one with "
                                    "`scissor train --learner ppo`")
        meta = json.loads(meta_path.read_text())
        if meta.get("model") != costs.model or meta.get("splits") != list(costs.splits):
            raise ValueError(f"{path}: trained for {meta.get('model')} over {meta.get('splits')}, not "
                             f"{costs.model} over {list(costs.splits)}")
        return cls(costs, PPO.load(path, device="cpu"))


def train_ppo(config: ScissorConfig, profile: ModelProfile, seed: int, timesteps: int) -> tuple[TrainRun, PPOPolicy]:
    """One seed of PPO for ``timesteps`` frames; its per-episode mean reward per frame and the policy."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    from scissor_core.simulation.gym_env import ScissorEnv

    frames = config.agent.episode_frames
    env = ScissorEnv(config, profile, episode_frames=frames)  # PPO(seed=) seeds its arrivals
    decisions = frames * config.sim.devices  # per episode: every device's frames
    run = TrainRun(seed=seed)

    class Episodes(BaseCallback):
        """Sums the rewards of each episode (a truncation ends it) into the run's curve."""

        total = 0.0

        def _on_step(self) -> bool:
            self.total += float(self.locals["rewards"][0])
            if self.locals["dones"][0]:
                run.rewards.append(self.total / decisions)
                self.total = 0.0
            return True

    torch.set_num_threads(1)
    model = PPO("MlpPolicy", env, seed=seed, verbose=0, n_steps=min(decisions, 2048), batch_size=100, device="cpu")
    start = time.perf_counter()
    model.learn(timesteps, callback=Episodes(), progress_bar=False)
    run.seconds = time.perf_counter() - start
    return run, PPOPolicy(env.costs, model)
