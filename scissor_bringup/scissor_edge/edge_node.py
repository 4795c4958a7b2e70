"""edge_node: finishes the inference of every FeatureMap and publishes the result.

An adapter over :class:`scissor_core.runtime.edge.EdgeRuntime`: ``scissor/features`` is read raw (CDR
bytes; the payload is a numpy view of them) and queued for the runtime's server (one frame at a
time unless ``edge.capacity``); each FeatureMap gets exactly one ``scissor/result`` (detections with
class names, or the top-k classes; decode, compute and queue-wait times), with ``error`` naming the
field at fault when it cannot be processed (``payload: ...``, ``sealing: tampered: ...``); when
vision_msgs is installed, each result that ran also as ``vision_msgs/Detection2DArray`` on
``scissor/detections`` (detectors) or ``Classification`` on ``scissor/classification`` (classifiers),
with the camera frame's header (:mod:`scissor_ros.vision`). It reads nothing else: annotated images
are drawn on the robot side, where the frames are (``annotator_node``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from rclpy.node import Node

from scissor_core.runtime.edge import EdgeRuntime, Served
from scissor_core.runtime.records import EdgeResult
from scissor_msgs.msg import FeatureMap, FeatureReceipt, InferenceResult
from scissor_ros.diagnostics import Diagnostics
from scissor_ros.messages import RECEIPT, RESULT, feature_payload_from_cdr, to_message
from scissor_ros.parameters import declare_config
from scissor_ros.process import run_and_exit
from scissor_ros.topics import publisher, subscription
from scissor_ros.vision import vision_message, vision_publisher

class EdgeNode(Node):
    """Tail inference of the split model, one FeatureMap at a time."""

    def __init__(self, **node_options: Any) -> None:
        """``node_options`` go to rclpy's Node (e.g. ``parameter_overrides``, ``context``)."""
        super().__init__("edge_node", **node_options)
        self.config = declare_config(self, {
            "model": None, "edge": None, "profile": ["edge_threads"],
            "queues": ["timeout"], "ros": ["diagnostics_period"], "link": ["key_file"]})
        torch.set_num_threads(self.config.profile.edge_threads)
        self.runtime = EdgeRuntime.from_config(self.config, emit=self.on_served)
        model = self.runtime.model
        self.result_publisher = publisher(self, InferenceResult, "scissor/result")
        self.receipt_publisher = publisher(self, FeatureReceipt, "scissor/feature_receipt")
        self.vision_publisher = vision_publisher(self, model.task)  # None without vision_msgs
        subscription(self, FeatureMap, "scissor/features", self.on_features, raw=True)
        self.diagnostics = Diagnostics(self, self.config.ros.diagnostics_period)
        self.diagnostics.set(message="waiting for features", model=model.name, device=str(self.runtime.device),
                             weights=model.weights_label)
        self.runtime.start()
        self.get_logger().info(
            f"{model.name} ({model.weights_label}) input {model.input_size} on {self.runtime.device}, "
            f"{torch.get_num_threads()} torch thread(s), serving {self.config.edge.capacity} frame(s) at a time; "
            f"splits {', '.join(model.candidates)}; payload "
            + ("sealed (AES-256-GCM, link.key_file)" if self.runtime.opener else "in clear (no link.key_file)"))

    def on_features(self, raw: bytes) -> None:
        """Queue one FeatureMap for the runtime and send its receipt; one that is not a FeatureMap gets its
        error result now."""
        try:
            payload = feature_payload_from_cdr(raw)
        except Exception as exc:  # noqa: BLE001 -- rosbags raises many types for CDR it cannot read
            self.get_logger().error(f"scissor/features: cannot read a {len(raw)}-byte message: {exc!r}")
            self.diagnostics.count("errors")
            self.result_publisher.publish(to_message(RESULT, EdgeResult(0, 0, "", "", "", error=f"cdr: {exc!r}")))
            return
        # The wait at the edge starts here, with the whole payload in hand: rmw's received_timestamp is when
        # its first fragment came (on a slow link that is the transmission again, which ends at the receipt).
        receipt = self.runtime.accept(payload)
        self.receipt_publisher.publish(to_message(RECEIPT, receipt))  # the device's transmission ends here
        self.diagnostics.set(queue_length=self.runtime.queue_length)

    def on_served(self, served: Served) -> None:
        """Publish a result (from the runtime's server thread)."""
        result = served.result
        if result.error:
            self.get_logger().warning(f"seq {result.seq}: rejected: {result.error}")
            self.diagnostics.count("errors")
            if served.rejection:
                self.diagnostics.count(f"rejected_{served.rejection}")
            self.diagnostics.set(level=Diagnostics.WARN, last_error=result.error)
        else:
            self.diagnostics.count("results")
            self.diagnostics.set(level=Diagnostics.OK, message="processing", split=result.split,
                                 decode_s=f"{result.decode_time:.4f}", edge_compute_s=f"{result.edge_compute:.4f}",
                                 edge_wait_s=f"{result.edge_wait:.4f}")
        self.diagnostics.set(queue_length=self.runtime.queue_length)
        msg = to_message(RESULT, result)
        try:
            self.result_publisher.publish(msg)
            if self.vision_publisher is not None and not result.error:
                model = self.runtime.model
                self.vision_publisher.publish(vision_message(result, model.task, msg.header, model.class_names))
        except Exception:  # noqa: BLE001 -- a frame served while rclpy shuts down: the device records it
            if self.context.ok():
                raise

    def stop(self) -> None:
        """Stop serving (also when __init__ failed half-way: rclpy destroys the node at shutdown)."""
        left = self.runtime.stop() if hasattr(self, "runtime") else 0
        if left:
            print(f"edge_node: stopped with {left} feature map(s) still queued", flush=True)

    def destroy_node(self) -> None:
        self.stop()
        super().destroy_node()


def main(args: Sequence[str] | None = None) -> int:
    return run_and_exit(EdgeNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
