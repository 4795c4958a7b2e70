"""device_node: admits camera frames, gets each frame's split, runs the device part, sends the rest.

A thin adapter over :class:`scissor_core.device.DeviceRuntime` (the same queue,
drop and outcome code as the simulator):

- ``camera/image_raw`` -> preprocess, publish ``scissor/queue_state`` (the state
  the decision is made on) and wait for ``scissor/split_decision``; after
  ``device.decision_deadline`` the fallback policy decides (recorded);
- the device part runs in a worker thread, the crossing tensors go through the
  wire codec and the application-level link shaper, then out on
  ``scissor/features`` (serialized publishing: the payload is not converted
  element by element);
- ``scissor/result`` completes frames; frames without a result after
  ``device.edge_timeout`` are dropped as ``edge_lost``;
- every frame's one ``FrameOutcome`` is published on ``scissor/frame_outcome``
  and appended (flushed) to ``device.outcome_log``; on shutdown (Ctrl-C,
  SIGTERM) frames still in the pipeline get a ``shutdown`` outcome, so the log
  is complete.
"""
from __future__ import annotations

import csv
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from rclpy.node import Node
from sensor_msgs.msg import Image

from scissor_bringup import cdr
from scissor_bringup.ros_helpers import (Diagnostics, declare_config, peers_on_both_ends, publisher, run_and_exit,
                                        subscription)
from scissor_bringup.ros_image import image_to_bgr
from scissor_core.device import DeviceRuntime
from scissor_core.imaging import ImageError, parse_frame_id
from scissor_core.models.registry import load_model
from scissor_core.outcome import OUTCOME_FIELDS, FrameOutcome, Reward
from scissor_core.policies.base import SplitCosts
from scissor_core.policies.serving import default_profile_path, serve_policy
from scissor_core.profile import ModelProfile
from scissor_core.queues import Job
from scissor_core.sealing import Sealer, key_from_config
from scissor_core.traces import parse_trace
from scissor_msgs.msg import FrameOutcome as FrameOutcomeMsg
from scissor_msgs.msg import FeatureMap, InferenceResult, LinkState, QueueState, SplitDecision

_NS = 1_000_000_000


class OutcomeLog:
    """CSV of FrameOutcome records, one flushed line per outcome (complete even after a crash)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("w", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(OUTCOME_FIELDS)
        self._file.flush()

    def write(self, outcome: FrameOutcome) -> None:
        self._writer.writerow(dataclasses.astuple(outcome))
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def outcome_message(o: FrameOutcome) -> FrameOutcomeMsg:
    """The ROS message of an outcome (header stamp set by the caller)."""
    return FrameOutcomeMsg(
        seq=o.seq, model=o.model, split=o.split, codec=o.codec, policy=o.policy, completed=o.completed,
        drop_reason=o.drop_reason, drop_place=o.drop_place, fallback_decision=o.fallback_decision,
        bytes_sent=o.bytes_sent, local_wait=o.local_wait, local_compute=o.local_compute,
        offload_wait=o.offload_wait, transmit=o.transmit, edge_compute=o.edge_compute,
        total_delay=o.total_delay, reward=o.reward)


class DeviceNode(Node):
    """The device of the testbed: local queue, split runner, offloading queue, shaped link."""

    def __init__(self) -> None:
        super().__init__("device_node")
        self.config = config = declare_config(self, {
            "model": None, "codec": None, "queues": None, "reward": None, "link": None, "device": None,
            "camera": ["interval"], "profile": ["device_threads"], "ros": ["diagnostics_period"]})
        key = key_from_config(config)  # link.key_file: seal every payload (the edge needs the same key)
        sealer = Sealer(key) if key is not None else None
        torch.set_num_threads(config.profile.device_threads)
        self.model = load_model(config)
        profile_path = default_profile_path(config, self.model.name)
        self.profile = ModelProfile.load(profile_path)
        codec = config.codec.spec()
        costs = SplitCosts.for_config(self.profile, config.codec)
        self.fallback = serve_policy(config, self.profile, config.device.fallback_policy)
        self.log_file = OutcomeLog(config.resolve_path(config.device.outcome_log))
        self.clock_offset_ns = time.time_ns() - time.monotonic_ns()
        """Converts the device's monotonic clock to wall-clock stamps for headers."""

        def seal(job: Job, blob: bytes) -> bytes:  # the metadata send_features puts in the FeatureMap
            return sealer.seal(blob, seq=job.seq, model=self.model.name, split=job.split, codec=job.codec)

        self.runtime = DeviceRuntime(
            self.model, costs, self.fallback, codec=codec, trace=parse_trace(config.link.trace),
            timeout=config.queues.timeout_for(self.model.name), local_max=config.queues.local_max,
            offload_max=config.queues.offload_max, reward=Reward(config.reward.w, config.reward.drop_penalty),
            decision_deadline=config.device.decision_deadline, edge_timeout=config.device.edge_timeout,
            slowdown=float(self.profile.settings["device_slowdown"]),
            initial_bandwidth=config.link.initial_bandwidth, estimator_window=config.link.estimator_window,
            edge_silence_limit=config.device.edge_silence_limit, edge_retry=config.device.edge_retry,
            emit=self.on_outcome, send=self.send_features, seal=seal if sealer is not None else None,
            frame_codec=config.codec.frame_spec())
        self.features_publisher = publisher(self, FeatureMap, "scissor/features")
        self.queue_state_publisher = publisher(self, QueueState, "scissor/queue_state")
        self.link_state_publisher = publisher(self, LinkState, "scissor/link_state")
        self.outcome_publisher = publisher(self, FrameOutcomeMsg, "scissor/frame_outcome")
        self.decision_subscription = subscription(self, SplitDecision, "scissor/split_decision", self.on_decision)
        self.result_subscription = subscription(self, InferenceResult, "scissor/result", self.on_result)
        self.create_timer(config.device.poll_period, self.runtime.poll)
        self.create_timer(config.device.link_state_period, self.publish_link_state)
        self.diagnostics = Diagnostics(self, config.ros.diagnostics_period)
        self.diagnostics.set(message="waiting for frames", model=self.model.name, profile=str(profile_path),
                             weights=self.model.weights_label)
        self.next_seq = 0
        self.outcomes_recorded = 0
        self.runtime.start()
        self.camera_subscription = None
        self.ready_timer = self.create_timer(0.2, self.subscribe_camera_when_ready)
        self.create_timer(0.2, self.watch_edge)
        self.get_logger().info(
            f"{self.model.name} ({self.model.weights_label}); profile {profile_path}; codec {costs.codec_plan}; "
            f"link {config.link.trace}; device slowdown x{self.runtime.slowdown:g}, "
            f"{torch.get_num_threads()} torch thread(s); decisions from "
            f"{'the agent, fallback ' if config.device.use_agent else ''}{self.fallback.name}; "
            f"outcomes -> {self.log_file.path}; feature payload "
            + (f"sealed (AES-256-GCM, session {sealer.session.hex()})" if sealer else "in clear (no link.key_file)"))

    # ---------------------------------------------------------------- frames
    def subscribe_camera_when_ready(self) -> None:
        """Read frames only once an edge (and, when used, an agent) listens: a frame the device reads
        must be able to finish, and frames before that would only pile up as drops."""
        missing = []
        if self.edges_listening() == 0:
            missing.append("edge (scissor/features)")
        if self.config.device.use_agent and self.agents_listening() == 0:
            missing.append("agent (scissor/queue_state)")
        if missing:
            self.diagnostics.set(message="waiting for " + " and ".join(missing))
            return
        self.ready_timer.cancel()
        self.camera_subscription = subscription(self, Image, "camera/image_raw", self.on_image)
        self.get_logger().info("edge" + (" and agent" if self.config.device.use_agent else "")
                               + " present: reading camera/image_raw")

    def on_image(self, msg: Image) -> None:
        """Admit a frame: every frame read gets exactly one outcome from here on."""
        _, seq = parse_frame_id(msg.header.frame_id)
        if seq is None or seq < self.next_seq:
            if seq is not None:  # a restarted camera counts from 0 again: frame numbers stay unique
                self.get_logger().warning(f"camera/image_raw: frame {seq} after {self.next_seq - 1}: "
                                          f"numbered {self.next_seq}", throttle_duration_sec=10.0)
                self.diagnostics.count("renumbered_frames")
            seq = self.next_seq
        self.next_seq = seq + 1
        try:
            frame = image_to_bgr(msg)
        except ImageError as exc:
            self.get_logger().warning(f"camera/image_raw: frame {seq} rejected: {exc}")
            self.diagnostics.count("bad_frames")
            self.runtime.reject_frame(seq)
            return
        state = self.runtime.on_frame(seq, frame)
        if not self.config.device.use_agent or self.agents_listening() == 0:
            # No agent (or it is gone): waiting out the decision deadline would only add delay.
            self.runtime.decide_with_fallback(seq)
            return
        qs = QueueState(seq=seq, local_queue=state.local_len, offload_queue=state.offload_len,
                        bandwidth_estimate=state.bandwidth, pending_work=state.tau,
                        pending_bytes=state.pending_bytes, device_backlog=state.device_backlog,
                        inflight_bytes=state.inflight_bytes, offload_bytes=state.offload_bytes,
                        candidates=list(self.runtime.costs.splits))
        qs.header.stamp = self.get_clock().now().to_msg()
        qs.header.frame_id = msg.header.frame_id
        self.queue_state_publisher.publish(qs)

    def edges_listening(self) -> int:
        """Edges on the graph: they read scissor/features *and* write scissor/result (a recorder or
        monitor of the features is not an edge). A killed edge leaves the graph after its participant's
        lease (a few seconds with the shipped Fast DDS profile); one stopped by a signal leaves at once."""
        return peers_on_both_ends(self.features_publisher, self.result_subscription)

    def agents_listening(self) -> int:
        """Agents on the graph: they read scissor/queue_state *and* write scissor/split_decision (a recorder
        is not an agent)."""
        return peers_on_both_ends(self.queue_state_publisher, self.decision_subscription)

    def watch_edge(self) -> None:
        if self.camera_subscription is not None:
            self.runtime.edge_listeners(self.edges_listening())

    def on_decision(self, msg: SplitDecision) -> None:
        """The agent's split for a frame (addressed by seq; several devices use separate namespaces)."""
        if self.runtime.on_decision(msg.seq, msg.split, msg.policy):
            self.diagnostics.count("decisions")

    def on_result(self, msg: InferenceResult) -> None:
        if msg.model and msg.model != self.model.name:
            return
        if not self.runtime.on_result(msg.seq, msg.edge_compute, msg.error):
            self.diagnostics.count("ignored_results")

    # -------------------------------------------------------------- sending
    def send_features(self, job: Job, blob: bytes) -> None:
        """Publish a frame's encoded cut (called by the link worker once the shaper lets it through)."""
        stamp_ns = int(job.capture * _NS) + self.clock_offset_ns
        msg = cdr.message(
            cdr.FEATURE_MAP, seq=job.seq, model=self.model.name, split=job.split, codec=job.codec,
            payload=np.frombuffer(blob, np.uint8), payload_bytes=len(blob), local_wait=job.local_wait,
            local_compute=job.local_compute, offload_wait=job.offload_wait,
            transmit=self.runtime.clock() - job.started,
            header=cdr.message("std_msgs/msg/Header",
                               stamp=cdr.message("builtin_interfaces/msg/Time", sec=stamp_ns // _NS,
                                                 nanosec=stamp_ns % _NS),
                               frame_id=f"camera#{job.seq}"))
        self.features_publisher.publish(cdr.serialize(msg, cdr.FEATURE_MAP))

    def on_outcome(self, outcome: FrameOutcome) -> None:
        self.outcomes_recorded += 1
        self.log_file.write(outcome)
        msg = outcome_message(outcome)
        stamp_ns = int(outcome.capture * _NS) + self.clock_offset_ns
        msg.header.stamp.sec, msg.header.stamp.nanosec = stamp_ns // _NS, stamp_ns % _NS
        try:
            self.outcome_publisher.publish(msg)
        except Exception:  # noqa: BLE001 -- after rclpy shutdown only the log can still take outcomes
            pass
        self.diagnostics.count("completed" if outcome.completed else "dropped")

    def publish_link_state(self) -> None:
        now = self.runtime.clock()
        msg = LinkState(bandwidth_estimate=self.runtime.estimator.estimate,
                        shaped_rate=self.runtime.shaper.trace.rate_at(now - self.runtime.shaper.origin))
        msg.header.stamp = self.get_clock().now().to_msg()
        self.link_state_publisher.publish(msg)
        stats = self.runtime.stats
        self.diagnostics.set(message="running", frames=stats.frames, in_flight=self.runtime.in_flight,
                             bandwidth_estimate=f"{self.runtime.estimator.estimate:.0f}",
                             fallback_decisions=stats.fallback_decisions, splits=stats.split_counts,
                             edge_available=self.runtime.edge_available,
                             edge_away_decisions=stats.edge_away_decisions, edge_departures=stats.edge_departures)

    def destroy_node(self) -> None:
        """Stop the workers and write the outcome of every frame still in the pipeline."""
        self.runtime.stop()
        self.log_file.close()
        # rclpy's context is usually shut down by now (Ctrl-C), so /rosout is gone: plain stderr.
        stats = self.runtime.stats
        print(f"device_node: read {stats.frames} frames, recorded {self.outcomes_recorded} outcomes in "
              f"{self.log_file.path}; ignored {stats.duplicate_or_late_results} duplicate or late results; "
              f"edge away {stats.edge_departures} times", file=sys.stderr, flush=True)
        super().destroy_node()


def main(args: Sequence[str] | None = None) -> int:
    return run_and_exit(DeviceNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
