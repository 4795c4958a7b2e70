"""Learning at a shared edge: one A2C learner with a stream per device, PPO deciding for every device, and the
shared-edge simulator as a coroutine."""
from __future__ import annotations

import dataclasses

import numpy as np
from gymnasium.utils.env_checker import check_env as gym_check_env
from simhelpers import toy_profile

from scissor_core.analysis.evaluate import run_policy
from scissor_core.config import ScissorConfig
from scissor_core.policies import make_policy
from scissor_core.policies.a2c import A2CPolicy
from scissor_core.runtime.costs import SplitCosts
from scissor_core.runtime.outcome import FrameOutcome
from scissor_core.runtime.queues import ObservedState
from scissor_core.runtime.traces import ConstantTrace
from scissor_core.simulation.gym_env import ScissorEnv
from scissor_core.simulation.ppo import train_ppo
from scissor_core.simulation.shared_edge import SharedEdgeSimulator
from scissor_core.simulation.simulator import Simulator
from scissor_core.simulation.train import episodes, train_seed

PROFILE = toy_profile("resnet18")


def shared_config(devices: int = 2) -> ScissorConfig:
    config = ScissorConfig()
    config.model.name = "resnet18"
    config.sim.devices = devices
    config.sim.interval = 0.3
    config.agent.episodes, config.agent.episode_frames = 4, 100
    config.agent.convergence_window, config.agent.patience = 2, 2
    return config


def state(seq: int) -> ObservedState:
    return ObservedState(seq, 0.1 * seq, seq % 3, 0, 5e6, 0.01 * seq, 1000.0 * seq, 0.0, 0.0, 0.0, 0, 0.0)


def outcome(seq: int, reward: float) -> FrameOutcome:
    return FrameOutcome(seq, 0.0, "resnet18", "0", "raw", "a2c", True, "", "", False, 1000, 0.0, 0.0, 0.0, 0.0,
                        0.0, 0.0, 0.1, reward)


def test_each_stream_pairs_a_frame_with_its_own_devices_next_state():
    """Device A's frame 0 completes a transition only with A's frame 1; B's frame 0, whose device has not
    decided again, stays pending, even though both devices' frames are numbered from 0."""
    learner = A2CPolicy(SplitCosts.from_profile(PROFILE), seed=0)
    other = learner.stream()
    learner.decide(state(0))
    other.decide(state(0))
    learner.decide(state(1))
    other.observe(outcome(0, -1.0))
    assert len(learner.buffer) == 0
    learner.observe(outcome(0, -2.0))
    assert len(learner.buffer) == 1 and learner.buffer[0][2] == -2.0
    other.decide(state(1))
    assert len(learner.buffer) == 2 and learner.buffer[1][2] == -1.0
    learner.end_episode()
    assert not other.transitions.pending and other.transitions.previous_seq is None


def test_steps_driven_by_the_devices_policies_is_run():
    def devices() -> list[Simulator]:
        return [Simulator(make_policy(name, PROFILE, frame_interval=0.2), ConstantTrace(2e6), timeout=0.5,
                          interval=0.2) for name in ("greedy", "fixed:0", "device-only")]

    expected = SharedEdgeSimulator(devices()).run(80, seed=4)
    shared = SharedEdgeSimulator(devices())
    steps, policies = shared.steps(80, seed=4), [d.policy for d in shared.devices]
    device, observed = next(steps)
    try:
        while True:
            device, observed = steps.send(policies[device].decide(observed))
    except StopIteration as done:
        got = done.value
    assert [[dataclasses.astuple(o) for o in run] for run in got] == \
        [[dataclasses.astuple(o) for o in run] for run in expected]
    assert sorted(map(dataclasses.astuple, shared.outcomes)) == sorted(dataclasses.astuple(o) for run in got
                                                                        for o in run)


def test_a2c_trains_at_a_shared_edge_on_every_devices_frames():
    config = shared_config(2)
    run = train_seed(config, PROFILE, seed=0, progress=False)
    policy = run.policy
    # early stopping (window 2, patience 2) cannot end 4 episodes sooner; a frame costs at most F
    assert len(run.rewards) == 4 and all(-config.reward.drop_penalty <= r < 0 for r in run.rewards)
    # the first episode's reward is the mean over both devices' frames: replayed by a fresh learner of seed 0
    fresh = A2CPolicy(SplitCosts.for_config(PROFILE, config.codec), config.agent, seed=0)
    first = episodes(config, fresh)(config.agent.episode_frames, config.sim.seed)
    assert sorted(o.seq for o in first) == sorted(2 * list(range(config.agent.episode_frames)))  # both devices
    assert run.rewards[0] == sum(o.reward for o in first) / len(first)
    # both devices' transitions fed the learner: about 2 x 100 per episode, each device's last frame excepted
    assert policy._completed >= len(run.rewards) * 2 * (100 - 10)
    assert policy.updates == policy._completed // config.agent.update_every


def test_a_policy_trained_at_a_shared_edge_evaluates_there(tmp_path):
    config = shared_config(2)
    path = train_seed(config, PROFILE, seed=0, progress=False).policy.save(tmp_path / "shared.pt")
    outcomes = run_policy("a2c", config, PROFILE, seed=10_000, frames=60, a2c_file=path)
    assert len(outcomes) == 120 and {o.policy for o in outcomes} == {"a2c"}


def test_the_gym_env_decides_every_devices_frames_and_pays_every_reward():
    config = shared_config(3)
    env = ScissorEnv(config, PROFILE, episode_frames=30)
    gym_check_env(ScissorEnv(config, PROFILE, episode_frames=30), skip_render_check=True)
    env.reset(seed=5)
    decisions, total, done = 0, 0.0, False
    while not done:
        _, reward, terminated, truncated, _ = env.step(0)
        total += reward
        done = terminated or truncated
        decisions += 1
    assert truncated and not terminated and decisions == 3 * 30
    assert len(env.sim.outcomes) == 90 and np.isclose(total, sum(o.reward for o in env.sim.outcomes))


def test_ppo_trains_at_a_shared_edge():
    config = shared_config(2)
    run, policy = train_ppo(config, PROFILE, seed=0, timesteps=600)
    assert len(run.rewards) == 3  # 200 decisions an episode (2 devices x 100 frames)
    runs = SharedEdgeSimulator.from_config(config, [policy, policy], seed=0).run(20)
    assert [len(run) for run in runs] == [20, 20] and {o.split for run in runs for o in run} <= set(policy.costs.splits)
