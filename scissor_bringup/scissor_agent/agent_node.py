"""agent_node: serves the split policy — one SplitDecision per QueueState — and can learn online.

Serves ``agent.policy``: ``a2c`` (the trained policy file, by default
``config/policies/MODEL.pt``) or any baseline by name, over the same profile the
device uses. With ``agent.learn_online`` the A2C policy keeps learning from
``scissor/frame_outcome`` while it serves, and saves checkpoints to
``agent.checkpoint_file`` (every ``agent.checkpoint_every`` outcomes, and at
shutdown); each outcome's reward and each checkpoint also go to
``<checkpoint stem>-rewards.csv`` next to it (:class:`~scissor_core.simulation.online.OnlineRewardLog`).
A QueueState whose candidates differ from the policy's is answered with the
device's own fallback: the agent stays silent and logs why.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

from rclpy.node import Node

from scissor_core.policies.a2c import A2CPolicy
from scissor_core.policies.serving import A2C, default_profile_path, serve_policy
from scissor_core.runtime.costs import ModelProfile
from scissor_core.runtime.records import Decision
from scissor_core.simulation.online import OnlineRewardLog, reward_log_path
from scissor_msgs.msg import FrameOutcome as FrameOutcomeMsg
from scissor_msgs.msg import QueueState, SplitDecision
from scissor_ros.diagnostics import Diagnostics
from scissor_ros.messages import DECISION, OUTCOME, QUEUE_STATE, from_message, to_message
from scissor_ros.parameters import declare_config
from scissor_ros.process import run_and_exit
from scissor_ros.topics import publisher, subscription


class AgentNode(Node):
    """Answers every QueueState with a SplitDecision from the configured policy."""

    def __init__(self) -> None:
        super().__init__("agent_node")
        self.config = config = declare_config(self, {
            "model": ["name"], "codec": None, "reward": None, "agent": None, "device": ["profile"],
            "camera": ["interval"], "ros": ["diagnostics_period"]})
        profile_path = default_profile_path(config, config.model.name)
        self.profile = ModelProfile.load(profile_path)
        learn = config.agent.learn_online and config.agent.policy == A2C
        self.policy = serve_policy(config, self.profile, config.agent.policy, training=learn)
        self.learning = learn
        self.outcomes_seen = 0
        self.reward_log = (OnlineRewardLog(reward_log_path(config.resolve_path(config.agent.checkpoint_file)))
                           if learn else None)
        self.candidates = list(self.policy.costs.splits)
        self.decision_publisher = publisher(self, SplitDecision, "scissor/split_decision")
        subscription(self, QueueState, "scissor/queue_state", self.on_queue_state)
        if learn:
            subscription(self, FrameOutcomeMsg, "scissor/frame_outcome", self.on_outcome)
        self.diagnostics = Diagnostics(self, config.ros.diagnostics_period)
        self.diagnostics.set(message="serving", policy=self.policy.name, profile=str(profile_path),
                             learning=learn)
        self.get_logger().info(f"serving {self.policy.name} for {self.profile.model} over splits "
                               f"{', '.join(self.candidates)}" + (" (learning online)" if learn else ""))

    def on_queue_state(self, msg: QueueState) -> None:
        if list(msg.candidates) != self.candidates:
            self.get_logger().warning(
                f"frame {msg.seq}: device offers splits {list(msg.candidates)}, policy knows {self.candidates}: "
                "not answering (the device's fallback decides)", throttle_duration_sec=10.0)
            self.diagnostics.count("refused")
            return
        start = time.perf_counter()
        split = self.policy.decide(from_message(QUEUE_STATE, msg, now=time.monotonic()))
        decide_s = time.perf_counter() - start
        decision = Decision(msg.seq, split, self.policy.name, tuple(self.candidates),
                            tuple(self.policy.last_probabilities or ()))
        self.decision_publisher.publish(to_message(DECISION, decision, stamp_ns=self.get_clock().now().nanoseconds,
                                                   frame_id=msg.header.frame_id))
        self.diagnostics.count("decisions")
        self.diagnostics.set(last_split=split, decide_us=f"{decide_s * 1e6:.1f}")

    def on_outcome(self, msg: FrameOutcomeMsg) -> None:
        """Online learning: the outcome's reward completes a transition of the A2C policy."""
        outcome = from_message(OUTCOME, msg)
        self.policy.observe(outcome)
        self.outcomes_seen += 1
        self.reward_log.record(outcome)
        every = self.config.agent.checkpoint_every
        if every and self.outcomes_seen % every == 0:
            self.save_checkpoint()

    def save_checkpoint(self) -> None:
        assert isinstance(self.policy, A2CPolicy)
        path = self.policy.save(self.config.resolve_path(self.config.agent.checkpoint_file))
        self.reward_log.checkpoint(path)
        self.get_logger().info(f"saved the online policy after {self.outcomes_seen} outcomes to {path}; "
                               f"moving-average reward {self.reward_log.average.value:.4f} "
                               f"(last {len(self.reward_log.average.values)} outcomes)")

    def stop(self) -> None:
        """Save the online policy and close the reward log (what must outlive the process)."""
        if self.learning:
            self.save_checkpoint()
            self.reward_log.close()

    def destroy_node(self) -> None:
        self.stop()
        super().destroy_node()


def main(args: Sequence[str] | None = None) -> int:
    return run_and_exit(AgentNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
