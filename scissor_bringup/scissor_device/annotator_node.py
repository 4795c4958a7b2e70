"""annotator_node: draws each result on its camera frame and publishes ``scissor/annotated``.

It runs on the robot side, where the frames are (the edge needs nothing but the feature maps): it keeps
the recent ``camera/image_raw`` frames by capture stamp for ``queues.timeout`` seconds, and for every
``scissor/result`` publishes that frame (a gray canvas when it is no longer kept) with the boxes, or the
top-k classes (named from ``model.class_names`` when set), and the seq and split drawn; the annotated
image keeps the result's header (capture stamp, frame id). Frames run device-only are drawn too: the
device publishes their results. With ``device.annotate_dir`` it also writes every annotated frame and a
results.jsonl there (the testbed's contact sheet, video and detection counts). The testbed starts it
when ``device.annotate`` is true.

A camera waiting for its readers (``camera.wait_for_subscribers``) does not count this node's
subscription (its name holds "annotator"): the device must be reading before the first frame leaves.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from scissor_core.models.detection import load_class_names
from scissor_core.runtime.annotation import AnnotatedLog, draw_result
from scissor_core.sources.imaging import ImageError
from scissor_core.sources.recent_frames import RecentFrames
from scissor_msgs.msg import InferenceResult
from scissor_ros.diagnostics import Diagnostics
from scissor_ros.images import bgr_to_image, subscribe_camera
from scissor_ros.messages import RESULT, from_message, header_stamp_ns
from scissor_ros.parameters import declare_config
from scissor_ros.process import run_and_exit
from scissor_ros.topics import publisher, subscription


class AnnotatorNode(Node):
    """Camera frames in, results in, annotated frames out."""

    def __init__(self, **node_options: Any) -> None:
        """``node_options`` go to rclpy's Node (e.g. ``parameter_overrides``, ``context``)."""
        super().__init__("annotator_node", **node_options)
        config = declare_config(self, {"model": ["name", "class_names"], "queues": ["timeout"],
                                       "device": ["image_transport", "annotate_dir"],
                                       "ros": ["diagnostics_period"]})
        names = config.model.class_names
        self.class_names = load_class_names(config.resolve_path(names)) if names else []
        self.frames = RecentFrames(config.queues.timeout_for(config.model.name))
        self.frame_size = (640, 480)
        """(width, height) of the latest camera frame: the canvas of a result whose frame is gone."""
        self.publisher = publisher(self, Image, "scissor/annotated")
        folder = config.device.annotate_dir
        self.log = AnnotatedLog(Path(folder).expanduser()) if folder else None
        self.camera = subscribe_camera(self, config.device.image_transport, self.on_image)
        subscription(self, InferenceResult, "scissor/result", self.on_result)
        self.diagnostics = Diagnostics(self, config.ros.diagnostics_period)
        self.diagnostics.set(message="waiting for results")
        self.get_logger().info(f"drawing scissor/result on {self.camera.topic_name} to scissor/annotated")

    def on_image(self, msg: Image | CompressedImage, decode: Callable[[], np.ndarray]) -> None:
        try:
            frame = decode()
        except ImageError as exc:
            self.get_logger().warning(f"{self.camera.topic_name}: ignoring a frame: {exc}",
                                      throttle_duration_sec=10.0)
            return
        self.frames.add(header_stamp_ns(msg), frame)
        self.frame_size = (frame.shape[1], frame.shape[0])

    def on_result(self, msg: InferenceResult) -> None:
        result = from_message(RESULT, msg)
        frame = self.frames.get(result.stamp_ns)
        self.diagnostics.count("annotated" if frame is not None else "without_frame")
        image = draw_result(result, frame, self.frame_size, self.class_names)
        self.publisher.publish(bgr_to_image(image, header=msg.header))
        if self.log is not None:
            self.log.add(result, image, frame is not None)

    def stop(self) -> None:
        """Close the results log."""
        if getattr(self, "log", None) is not None:
            self.log.close()

    def destroy_node(self) -> None:
        self.stop()
        super().destroy_node()


def main(args: Sequence[str] | None = None) -> int:
    return run_and_exit(AnnotatorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
