"""The gymnasium environment over the simulator passes the API checkers and trains with SB3."""
from __future__ import annotations

import numpy as np
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from scissor_core.config import ScissorConfig
from scissor_core.simulation.gym_env import ScissorEnv

from simhelpers import toy_profile


def make_env(frames: int = 50) -> ScissorEnv:
    config = ScissorConfig()
    config.sim.jitter = 0.2
    return ScissorEnv(config, toy_profile(), episode_frames=frames)


def test_passes_gymnasium_and_sb3_checks():
    gym_check_env(make_env(), skip_render_check=True)
    sb3_check_env(make_env(), warn=True)


def test_seeded_episodes_repeat_and_rewards_add_up_to_the_outcomes():
    env = make_env(40)
    totals = []
    for _ in range(2):
        obs, _ = env.reset(seed=7)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(len(env.costs.splits) - 1)
            total += reward
            done = terminated or truncated
        assert truncated and not terminated
        assert len(env.sim.outcomes) == 40
        assert np.isclose(total, sum(o.reward for o in env.sim.outcomes))
        totals.append(total)
    assert totals[0] == totals[1]


def test_stable_baselines3_a2c_and_ppo_train_on_it():
    for algo, extra in ((A2C, {}), (PPO, {"batch_size": 20})):
        model = algo("MlpPolicy", make_env(60), seed=0, n_steps=20, device="cpu", **extra)
        model.learn(total_timesteps=200)
        action, _ = model.predict(np.zeros(5, np.float32), deterministic=True)
        assert 0 <= int(action) < len(model.env.get_attr("costs")[0].splits)
