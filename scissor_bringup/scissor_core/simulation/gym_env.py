"""A gymnasium environment over the simulator, so that any RL library (stable-baselines3's A2C or
PPO, ...) can learn split decisions on exactly the system the paper's A2C sees.

- observation: the paper's state ``[l, c, b_hat (MB/s), tau (s), o (MB)]`` as float32, not
  normalised (wrap with a normalising wrapper or SB3's ``VecNormalize`` if you like);
- action: the index of a candidate split (``Discrete(len(splits))``);
- reward: a frame's reward only exists when it completes or is dropped, usually after
  later frames have arrived, so ``step`` returns the sum of the rewards of the frames
  that finished since the previous step; over an episode the returns add up to the
  same total as the paper's per-frame rewards;
- an episode is ``episode_frames`` frames from empty queues; it ends with
  ``truncated=True`` (a time limit, not a terminal state of the system), after the
  frames still in flight have finished and their rewards are paid;
- all randomness (arrival jitter, bursts) comes from ``self.np_random`` via ``reset(seed=)``;
- with ``sim.devices`` > 1 the environment is the
  :class:`~scissor_core.simulation.shared_edge.SharedEdgeSimulator`: the agent decides every device's frames in
  the order they arrive (each step's observation is that device's state), the reward is every device's
  finished frames', and an episode is ``episode_frames`` frames per device. One agent for all devices is one
  policy each device then runs a copy of, as ``scissor evaluate`` does.
"""
from __future__ import annotations

from collections.abc import Generator
from typing import Any

import gymnasium as gym
import numpy as np

from scissor_core.config import ScissorConfig
from scissor_core.runtime.costs import ModelProfile, SplitCosts
from scissor_core.runtime.outcome import FrameOutcome
from scissor_core.runtime.policy import Policy
from scissor_core.runtime.queues import ObservedState
from scissor_core.runtime.traces import Trace
from scissor_core.simulation.shared_edge import SharedEdgeSimulator
from scissor_core.simulation.simulator import Simulator


class _ExternalPolicy(Policy):
    """Stands in for the agent inside the simulator: the environment's caller decides."""

    name = "gym"

    def decide(self, state: ObservedState) -> str:  # never called: the environment drives steps()
        raise RuntimeError("the gym environment supplies the actions")


def _states_only(steps: Generator[tuple[int, ObservedState], str, object]) -> Generator[ObservedState, str, object]:
    """A shared edge's ``(device, state)`` coroutine as a coroutine of states (the state says nothing of which
    device it is: every device runs the same policy)."""
    _, state = next(steps)
    while True:
        try:
            _, state = steps.send((yield state))
        except StopIteration as done:
            return done.value


class ScissorEnv(gym.Env):
    """Per-frame split decisions in the discrete-event simulator."""

    metadata = {"render_modes": []}

    def __init__(self, config: ScissorConfig, profile: ModelProfile, episode_frames: int | None = None,
                 codec: str | None = None, trace: Trace | None = None) -> None:
        super().__init__()
        self.costs = (SplitCosts.from_profile(profile, codec) if codec
                      else SplitCosts.for_config(profile, config.codec))
        self.devices = config.sim.devices
        if self.devices > 1:
            if trace is not None:
                raise ValueError("a shared edge's devices each have their own uplink, from the config's trace")
            self.sim = SharedEdgeSimulator.from_config(
                config, [_ExternalPolicy(self.costs) for _ in range(self.devices)], config.sim.seed)
        else:
            self.sim = Simulator.from_config(config, _ExternalPolicy(self.costs), trace)
        self.episode_frames = episode_frames or config.agent.episode_frames
        self.action_space = gym.spaces.Discrete(len(self.costs.splits))
        self.observation_space = gym.spaces.Box(0.0, np.inf, shape=(5,), dtype=np.float32)
        self._steps = None
        self._paid = 0

    @staticmethod
    def _observation(state: ObservedState) -> np.ndarray:
        return np.asarray(state.vector(), dtype=np.float32)

    def _new_rewards(self) -> float:
        outcomes: list[FrameOutcome] = self.sim.outcomes
        reward = sum(o.reward for o in outcomes[self._paid:])
        self._paid = len(outcomes)
        return float(reward)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        steps = self.sim.steps(self.episode_frames, seed=int(self.np_random.integers(2**31)))
        self._steps = _states_only(steps) if self.devices > 1 else steps
        self._paid = 0
        state = next(self._steps)
        return self._observation(state), {"seq": state.seq}

    def step(self, action):
        if self._steps is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        try:
            state = self._steps.send(self.costs.splits[int(action)])
        except StopIteration:
            self._steps = None
            return np.zeros(5, np.float32), self._new_rewards(), False, True, {"outcomes": len(self.sim.outcomes)}
        return self._observation(state), self._new_rewards(), False, False, {"seq": state.seq}
