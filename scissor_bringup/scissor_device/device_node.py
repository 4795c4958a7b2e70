"""device_node: admits camera frames, gets each frame's split, runs the device part, sends the rest.

An adapter over :class:`scissor_core.runtime.device.DeviceRuntime` (the simulator's queues):
``camera/image_raw`` (or ``camera/image_raw/compressed``, ``device.image_transport``) ->
``scissor/queue_state`` -> ``scissor/split_decision`` (or the fallback after
``device.decision_deadline``) -> device part, codec, link -> ``scissor/features`` (serialized) ->
``scissor/result``. Every frame read gets one ``FrameOutcome`` on ``scissor/frame_outcome`` and in
``device.outcome_log`` (flushed per line; frames in flight at shutdown get ``shutdown``). A frame completed
device-only has its result published here, as the edge publishes the others (``scissor/result`` with split
``last``, and the vision_msgs message), so a consumer of results sees every completed frame.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import numpy as np
import torch
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from scissor_core.models.registry import load_model
from scissor_core.policies.serving import default_profile_path, serve_policy
from scissor_core.runtime.costs import ModelProfile
from scissor_core.runtime.device import DeviceRuntime
from scissor_core.runtime.outcome import FrameOutcome
from scissor_core.runtime.records import EdgeResult, FeaturePayload
from scissor_core.sources.imaging import parse_frame_id
from scissor_msgs.msg import FeatureMap, FeatureReceipt, InferenceResult, LinkState, QueueState, SplitDecision
from scissor_msgs.msg import FrameOutcome as FrameOutcomeMsg
from scissor_ros.diagnostics import Diagnostics
from scissor_ros.images import subscribe_camera
from scissor_ros.messages import (DECISION, LINK_STATE, OUTCOME, QUEUE_STATE, RECEIPT, RESULT, feature_map_cdr,
                                  from_message, header_stamp_ns, to_message)
from scissor_ros.parameters import declare_config
from scissor_ros.process import run_and_exit
from scissor_ros.topics import peers_on_both_ends, publisher, subscription
from scissor_ros.vision import vision_message, vision_publisher


class DeviceNode(Node):
    """The device of the testbed: local queue, split runner, offloading queue, link."""

    def __init__(self) -> None:
        super().__init__("device_node")
        self.config = config = declare_config(self, {
            "model": None, "codec": None, "queues": None, "reward": None, "link": None, "device": None,
            "camera": ["interval"], "profile": ["device_threads"], "ros": ["diagnostics_period"]})
        torch.set_num_threads(config.profile.device_threads)
        model = load_model(config)
        profile = ModelProfile.load(profile_path := default_profile_path(config, model.name))
        self.runtime = DeviceRuntime.from_config(config, model, profile, serve_policy(
            config, profile, config.device.fallback_policy), emit=self.on_outcome, send=self.send_features,
            publish_result=self.publish_local_result)
        self.features_publisher = publisher(self, FeatureMap, "scissor/features")
        self.queue_state_publisher = publisher(self, QueueState, "scissor/queue_state")
        self.link_state_publisher = publisher(self, LinkState, "scissor/link_state")
        self.outcome_publisher = publisher(self, FrameOutcomeMsg, "scissor/frame_outcome")
        self.result_publisher = publisher(self, InferenceResult, "scissor/result")
        self.vision_publisher = vision_publisher(self, model.task)  # None without vision_msgs
        self.decision_subscription = subscription(self, SplitDecision, "scissor/split_decision", self.on_decision)
        self.result_subscription = subscription(self, InferenceResult, "scissor/result", self.on_result)
        subscription(self, FeatureReceipt, "scissor/feature_receipt", self.on_receipt)
        self.create_timer(config.device.poll_period, self.runtime.poll)
        self.create_timer(config.device.link_state_period, self.publish_link_state)
        self.diagnostics = Diagnostics(self, config.ros.diagnostics_period)
        self.diagnostics.set(message="waiting for frames", model=model.name, profile=str(profile_path),
                             weights=model.weights_label)
        self.runtime.start()
        self.camera_subscription = None
        self.ready_timer = self.create_timer(0.2, self.subscribe_camera_when_ready)
        self.create_timer(0.2, self.watch_edge)
        self.get_logger().info(f"{self.runtime.describe()}; profile {profile_path}; decisions from "
                               f"{'the agent' if config.device.use_agent else 'the fallback'}; outcomes -> "
                               f"{config.device.outcome_log}")

    def subscribe_camera_when_ready(self) -> None:
        """Read frames once an edge (and, if used, an agent) listens: before that they could not finish."""
        missing = ["edge (scissor/features)"] if self.edges_listening() == 0 else []
        if self.config.device.use_agent and self.agents_listening() == 0:
            missing.append("agent (scissor/queue_state)")
        if missing:
            self.diagnostics.set(message="waiting for " + " and ".join(missing))
            return
        self.ready_timer.cancel()
        self.camera_subscription = subscribe_camera(self, self.config.device.image_transport, self.on_image)
        self.get_logger().info("edge" + (" and agent" if self.config.device.use_agent else "")
                               + f" present: reading {self.camera_subscription.topic_name}")

    def on_image(self, msg: Image | CompressedImage, decode: Callable[[], np.ndarray]) -> None:
        """Admit a frame: every frame read gets exactly one outcome from here on. It keeps the publisher's
        frame_id and stamp; its number is the camera's when the frame_id carries one (``camera#7``), else
        the device's own count."""
        seq, state = self.runtime.read_frame(parse_frame_id(msg.header.frame_id)[1], decode,
                                             msg.header.frame_id, header_stamp_ns(msg))
        if state is None:
            return  # an unreadable image: its bad_frame outcome is recorded
        if not self.config.device.use_agent or self.agents_listening() == 0:
            self.runtime.decide_with_fallback(seq)  # waiting out the decision deadline would only add delay
            return
        self.queue_state_publisher.publish(to_message(
            QUEUE_STATE, state, stamp_ns=self.get_clock().now().nanoseconds, frame_id=msg.header.frame_id,
            candidates=list(self.runtime.costs.splits)))

    def edges_listening(self) -> int:
        """Edges on the graph read scissor/features *and* write scissor/result (a recorder is not one; nor is
        this device, which writes its device-only results there); a killed edge leaves after its
        participant's lease (4 s with the shipped Fast DDS profile)."""
        return peers_on_both_ends(self.features_publisher, self.result_subscription, own_answers=1)

    def agents_listening(self) -> int:
        """Agents on the graph read scissor/queue_state *and* write scissor/split_decision."""
        return peers_on_both_ends(self.queue_state_publisher, self.decision_subscription)

    def watch_edge(self) -> None:
        if self.camera_subscription is not None:
            self.runtime.edge_listeners(self.edges_listening())

    def on_decision(self, msg: SplitDecision) -> None:
        if self.runtime.on_decision(from_message(DECISION, msg)):
            self.diagnostics.count("decisions")

    def on_result(self, msg: InferenceResult) -> None:
        if not self.runtime.on_result(from_message(RESULT, msg)):
            self.diagnostics.count("ignored_results")

    def on_receipt(self, msg: FeatureReceipt) -> None:
        self.runtime.on_receipt(from_message(RECEIPT, msg))

    def publish_local_result(self, result: EdgeResult) -> None:
        """Publish the result of a frame run device-only (called by the compute worker)."""
        msg = to_message(RESULT, result)
        self.result_publisher.publish(msg)
        if self.vision_publisher is not None:
            model = self.runtime.model
            self.vision_publisher.publish(vision_message(result, model.task, msg.header, model.class_names))

    def send_features(self, payload: FeaturePayload) -> None:
        """Publish a frame's encoded cut (called by the link worker once the link lets it through)."""
        self.features_publisher.publish(feature_map_cdr(payload))

    def on_outcome(self, outcome: FrameOutcome) -> None:
        try:
            self.outcome_publisher.publish(to_message(OUTCOME, outcome,
                                                      stamp_ns=self.runtime.clock.wall_ns(outcome.capture)))
        except Exception:  # noqa: BLE001 -- after rclpy shutdown only the log can still take outcomes
            pass
        self.diagnostics.count("completed" if outcome.completed else "dropped")

    def publish_link_state(self) -> None:
        self.link_state_publisher.publish(to_message(LINK_STATE, self.runtime.link_report(),
                                                     stamp_ns=self.get_clock().now().nanoseconds))
        self.diagnostics.set(message="running", **self.runtime.status())

    def stop(self) -> None:
        """Stop the workers and write the outcome of every frame still in the pipeline."""
        if hasattr(self, "runtime"):  # not when __init__ failed half-way (rclpy destroys the node at shutdown)
            self.runtime.stop()
            # rclpy's context is usually down by now (Ctrl-C), so /rosout is gone: plain stderr.
            print(f"device_node: {self.runtime.final_report()}", file=sys.stderr, flush=True)

    def destroy_node(self) -> None:
        self.stop()
        super().destroy_node()


def main(args: Sequence[str] | None = None) -> int:
    return run_and_exit(DeviceNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
