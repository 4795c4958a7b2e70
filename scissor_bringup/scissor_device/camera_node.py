"""camera_node: publishes camera/image_raw from the synthetic scene, a video (a fetched asset or any OpenCV
capture), an image folder or a rosbag2.

Every ``camera.*`` field of the config is a read-only ROS parameter (defaults from
``config_file``). Each frame is stamped with its capture time; its sequence number
rides in ``header.frame_id`` as ``<frame_id>#<seq>`` (sensor_msgs/Image has no seq
field; turn off with ``camera.seq_in_frame_id``). With ``camera.max_frames`` the node
stops by itself after that many frames, as it does when a source ends; with
``camera.wait_for_subscribers`` it starts only once that many subscribers match (not counting the
annotator's: it only draws, and a camera that starts on it could publish before the device reads).
A rosbag2 source (``bag:PATH[#TOPIC]``) is replayed at its recorded timing divided by
``camera.bag_rate`` (relative to the first frame), or one frame per interval with
``camera.bag_timing: interval``; a video file one frame per interval, or at its own frame rate with
``camera.video_timing: native``.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.task import Future
from sensor_msgs.msg import Image

from scissor_core.sources.bags import BagError, BagSource
from scissor_core.sources.camera import native_interval, open_source
from scissor_core.sources.imaging import frame_id_with_seq
from scissor_ros.diagnostics import Diagnostics
from scissor_ros.images import bgr_to_image
from scissor_ros.parameters import declare_config
from scissor_ros.process import run_and_exit
from scissor_ros.topics import publisher

UNKNOWN_NODE = "_NODE_NAME_UNKNOWN_"
"""The node name rmw gives an endpoint whose node has not announced itself yet (rmw_dds_common)."""
RECORDED_POLL = 0.005
"""Seconds between two checks of the clock when replaying a bag at its recorded timing."""
FINAL_ACK_TIMEOUT = 10.0
"""Seconds the camera waits at its end, at most, for reliable subscribers to acknowledge the last frames (it
leaves as soon as they have). 1 s was too short on a loaded machine: a recorder's reader had not acknowledged
the last 0.9 MB frame when the camera left, and the frame never reached the bag."""


class CameraNode(Node):
    """Reads one frame per interval from the configured source and publishes it."""

    def __init__(self, **node_options: Any) -> None:
        """``node_options`` go to rclpy's Node (e.g. ``parameter_overrides``, ``context``)."""
        super().__init__("camera_node", **node_options)
        config = declare_config(self, {"camera": None, "model": ["name"], "ros": ["diagnostics_period"]})
        self.camera = config.camera
        self.source = open_source(self.camera)
        self.publisher = publisher(self, Image, "camera/image_raw")
        self.diagnostics = Diagnostics(self, config.ros.diagnostics_period)
        self.seq = 0
        self.done: Future = Future()
        """Completes when max_frames frames are out or the source has ended; main() then exits."""
        interval = self.camera.interval_for(config.model.name)
        self.offsets: list[float] | None = None
        """Recorded timing: seconds from the first frame to each frame (the timer then only polls)."""
        self.first_publish: float | None = None
        if isinstance(self.source, BagSource) and self.camera.bag_timing == "recorded":
            self.offsets = self.source.offsets(self.camera.bag_rate)
            interval = RECORDED_POLL
        elif self.camera.video_timing == "native":
            interval = native_interval(self.source)
        self.timer = self.create_timer(interval, self.on_timer)
        self.diagnostics.set(message="starting", source=self.source.description, interval_s=interval,
                             encoding=self.camera.encoding)
        timing = "at the recorded timing" if self.offsets is not None else f"every {interval:g} s"
        self.get_logger().info(f"publishing {self.source.description} on camera/image_raw {timing} "
                               f"as {self.camera.encoding}"
                               + (f", {self.camera.max_frames} frames" if self.camera.max_frames else ""))

    def readers(self) -> int:
        """Matched subscribers that count for ``camera.wait_for_subscribers``: the publisher's matched readers
        (a reader on the graph may not be matched yet, and would lose the first frames) less every reader on
        the graph that is an annotator or whose node is not known yet. Fast DDS lists a reader on the graph
        before it matches it, but names its node only once that node's discovery info arrives: an annotator
        seen matched but not yet named counted as the device once, and the device lost the first frames."""
        infos = self.get_subscriptions_info_by_topic(self.publisher.topic_name)
        uncounted = sum(info.node_name == UNKNOWN_NODE or "annotator" in info.node_name for info in infos)
        return self.publisher.get_subscription_count() - uncounted

    def on_timer(self) -> None:
        """Publish the next frame (once enough subscribers match), plus a burst when one is due; at the
        end (source or max_frames) stop the timer and complete ``done``."""
        if self.seq == 0 and self.readers() < self.camera.wait_for_subscribers:
            # Only the start waits: a reader that leaves later (a killed edge) must not stop the camera.
            self.diagnostics.set(message=f"waiting for {self.camera.wait_for_subscribers} subscriber(s)")
            return
        if self.offsets is not None and not self.recorded_time_reached(self.offsets):
            return
        every = self.camera.burst_every
        burst = self.camera.burst_size if every and self.seq and self.seq % every == 0 else 0
        for _ in range(1 + burst):
            if self.done.done() or not self.publish_next():
                return

    def publish_next(self) -> bool:
        """Read and publish one frame; False once the camera has finished."""
        try:
            frame = self.source.read()
        except BagError as exc:  # a message of the bag that does not decode ends the replay
            self.get_logger().error(str(exc))
            frame = None
        captured = self.get_clock().now()
        if self.first_publish is None:  # recorded timing counts from the first frame's capture
            self.first_publish = time.monotonic()
        if frame is None:
            self.get_logger().info(f"source ended after {self.seq} frames")
            self.finish()
            return False
        msg = bgr_to_image(frame, self.camera.encoding)
        msg.header.stamp = captured.to_msg()
        msg.header.frame_id = (frame_id_with_seq(self.camera.frame_id, self.seq) if self.camera.seq_in_frame_id
                               else self.camera.frame_id)
        self.publisher.publish(msg)
        self.seq += 1
        self.diagnostics.count("frames")
        self.diagnostics.set(message="publishing", seq=self.seq)
        if self.camera.max_frames and self.seq >= self.camera.max_frames:
            self.get_logger().info(f"published max_frames={self.camera.max_frames} frames")
            self.finish()
            return False
        return True

    def recorded_time_reached(self, offsets: list[float]) -> bool:
        """Whether the next frame's recorded offset from the first frame's capture has passed (the first
        frame is due at once): no frame is ever captured earlier than its recorded offset."""
        if self.first_publish is None:
            return True
        return self.seq >= len(offsets) or time.monotonic() - self.first_publish >= offsets[self.seq]

    def finish(self) -> None:
        self.timer.cancel()
        self.source.close()
        # Reliable subscribers get the last frames before main() exits and destroys the publisher.
        if not self.publisher.wait_for_all_acked(Duration(seconds=FINAL_ACK_TIMEOUT)):
            self.get_logger().warning(f"a reliable subscriber had not acknowledged the last frames after "
                                      f"{FINAL_ACK_TIMEOUT:g} s: they may not reach it")
        self.diagnostics.set(level=Diagnostics.OK, message="finished")
        self.done.set_result(self.seq)


def main(args: Sequence[str] | None = None) -> int:
    return run_and_exit(CameraNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
