"""edge_node: finishes the inference of every FeatureMap and publishes the result.

Subscribes ``scissor/features`` raw (CDR bytes): the payload is read as a numpy view
of the received bytes and decoded with the model's wire codec, the tail runs on the
GPU when there is one, and the post-processed result goes to ``scissor/result``
(InferenceResult: detections with class names, or the top-k classes; decode, compute
and wait times). A malformed message never stops the node: its result carries
``error`` naming the offending field. With ``edge.annotate`` the node also listens
to ``camera/image_raw`` and publishes ``scissor/annotated``, the matching camera
frame (or a gray canvas when it has none) with the boxes or top-k drawn on it.

With ``link.key_file`` every payload is opened (AES-256-GCM, :mod:`scissor_core.sealing`)
before it is decoded: a tampered, replayed or unsealed one gets an error result
``sealing: <kind>: ...`` and is counted per kind (``rejected_tampered``, ...) in the
diagnostics. Without a key, a sealed payload gets ``sealing: sealed payload but this
edge has no key ...``.

The original frame size, needed to map YOLOv3 boxes back to camera pixels, comes
from the matching camera frame, else from ``camera.width``/``camera.height``.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any
from functools import lru_cache

import numpy as np
import torch
from builtin_interfaces.msg import Time
from rclpy.node import Node
from rclpy.subscription import MessageInfo
from sensor_msgs.msg import Image

from scissor_bringup import cdr
from scissor_bringup.ros_helpers import Diagnostics, declare_config, publisher, run_and_exit, subscription
from scissor_bringup.ros_image import bgr_to_image, image_to_bgr
from scissor_core.codec import CodecError
from scissor_core.graph import CutError
from scissor_core.imaging import ImageError, annotate
from scissor_core.models.detection import LetterboxInfo, letterbox
from scissor_core.models.registry import Prediction, load_model
from scissor_core.sealing import Opener, SealError, is_sealed, key_from_config
from scissor_msgs.msg import Detection, FeatureMap, InferenceResult

_CANVAS_GRAY = 64
_NS = 1_000_000_000


class InputError(ValueError):
    """A FeatureMap the edge cannot process; ``field`` names the offending message field."""

    def __init__(self, field: str, problem: object, kind: str = "") -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.kind = kind
        """For ``sealing``: why the payload was rejected (a SealError kind, or ``no_key``)."""


@lru_cache(maxsize=8)
def letterbox_info(width: int, height: int, size: int) -> LetterboxInfo:
    """How the device letterboxed a ``width`` x ``height`` frame (the same code, on a blank frame)."""
    return letterbox(np.zeros((height, width, 3), np.uint8), size)[1]


def pick_device(choice: str) -> torch.device:
    """``auto``: the GPU when torch sees one, else the CPU."""
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


class EdgeNode(Node):
    """Tail inference of the split model, one FeatureMap at a time."""

    def __init__(self, **node_options: Any) -> None:
        """``node_options`` go to rclpy's Node (e.g. ``parameter_overrides``, ``context``)."""
        super().__init__("edge_node", **node_options)
        self.config = declare_config(self, {
            "model": None, "edge": None, "camera": ["width", "height"], "profile": ["edge_threads"],
            "queues": ["timeout"], "ros": ["diagnostics_period"], "link": ["key_file"]})
        key = key_from_config(self.config)
        self.opener = Opener(key) if key is not None else None
        """Opens sealed payloads (link.key_file); None = payloads arrive in clear."""
        torch.set_num_threads(self.config.profile.edge_threads)
        self.device = pick_device(self.config.edge.device)
        self.model = load_model(self.config)
        self.model.module.to(self.device)
        for split in self.model.candidates:  # build every tail now, not on the first frame of a split
            self.model.splitter.parts(split)
        self.model.warm_up()  # in the thread that spins: the first torch call of a thread differs in low bits
        self.frames: OrderedDict[int, np.ndarray] = OrderedDict()
        """Recent camera frames by capture stamp (ns), kept for the queue timeout: for annotation."""
        self.frame_horizon_ns = int(self.config.queues.timeout_for(self.model.name) * _NS)
        self.result_publisher = publisher(self, InferenceResult, "scissor/result")
        self.annotated_publisher = None
        if self.config.edge.annotate:
            self.annotated_publisher = publisher(self, Image, "scissor/annotated")
            subscription(self, Image, "camera/image_raw", self.on_image)
        subscription(self, FeatureMap, "scissor/features", self.on_features, raw=True)
        self.diagnostics = Diagnostics(self, self.config.ros.diagnostics_period)
        self.diagnostics.set(message="waiting for features", model=self.model.name, device=str(self.device),
                             weights=self.model.weights_label)
        self.get_logger().info(
            f"{self.model.name} ({self.model.weights_label}) input {self.model.input_size} on {self.device}, "
            f"{torch.get_num_threads()} torch thread(s); splits {', '.join(self.model.candidates)}; payload "
            + ("sealed (AES-256-GCM, link.key_file)" if self.opener else "in clear (no link.key_file)"))

    def on_image(self, msg: Image) -> None:
        """Keep the frame for annotation; frames older than the queue timeout are forgotten."""
        try:
            frame = image_to_bgr(msg)
        except ImageError as exc:
            self.get_logger().warning(f"camera/image_raw: ignoring a frame: {exc}", throttle_duration_sec=10.0)
            return
        stamp = msg.header.stamp.sec * _NS + msg.header.stamp.nanosec
        self.frames[stamp] = frame
        while self.frames and next(iter(self.frames)) < stamp - self.frame_horizon_ns:
            self.frames.popitem(last=False)

    def on_features(self, raw: bytes, info: MessageInfo) -> None:
        """Process one FeatureMap; always publish exactly one InferenceResult for it."""
        edge_wait = max(0.0, (time.time_ns() - info["received_timestamp"]) / 1e9)
        try:
            msg = cdr.deserialize(raw, cdr.FEATURE_MAP)
        except Exception as exc:  # noqa: BLE001 -- rosbags raises many types for CDR it cannot read
            self.get_logger().error(f"scissor/features: cannot read a {len(raw)}-byte message: {exc!r}")
            self.diagnostics.count("errors")
            self.result_publisher.publish(InferenceResult(error=f"cdr: {exc!r}", edge_wait=edge_wait))
            return
        result = InferenceResult(seq=msg.seq, model=msg.model, split=msg.split, edge_wait=edge_wait)
        result.header.stamp = Time(sec=msg.header.stamp.sec, nanosec=msg.header.stamp.nanosec)
        result.header.frame_id = msg.header.frame_id
        stamp = msg.header.stamp.sec * _NS + msg.header.stamp.nanosec
        frame = self.frames.get(stamp)
        prediction = None
        try:
            prediction, result.decode_time, result.edge_compute = self.infer(msg, frame)
        except InputError as exc:
            result.error = str(exc)
            self.get_logger().warning(f"seq {msg.seq}: rejected: {exc}")
            self.diagnostics.count("errors")
            if exc.kind:
                self.diagnostics.count(f"rejected_{exc.kind}")
            self.diagnostics.set(level=Diagnostics.WARN, last_error=result.error)
        else:
            fill_result(result, prediction, self.model.class_names)
            self.diagnostics.count("results")
            self.diagnostics.set(level=Diagnostics.OK, message="processing", split=msg.split,
                                 decode_s=f"{result.decode_time:.4f}", edge_compute_s=f"{result.edge_compute:.4f}",
                                 edge_wait_s=f"{edge_wait:.4f}")
        self.result_publisher.publish(result)
        if self.annotated_publisher is not None:
            self.publish_annotated(result, prediction, frame)

    def infer(self, msg: FeatureMap, frame: np.ndarray | None) -> tuple[Prediction, float, float]:
        """Decode, run the tail, post-process: (prediction, decode time, compute time); raises InputError."""
        if msg.model != self.model.name:
            raise InputError("model", f"{msg.model!r}, but this edge runs {self.model.name!r}")
        if msg.payload_bytes != msg.payload.size:
            raise InputError("payload_bytes", f"says {msg.payload_bytes}, payload has {msg.payload.size} bytes")
        start = time.perf_counter()
        payload = memoryview(msg.payload)
        if self.opener is not None:
            try:
                payload = self.opener.open(payload, seq=msg.seq, model=msg.model, split=msg.split, codec=msg.codec)
            except SealError as exc:
                raise InputError("sealing", exc, exc.kind) from None
        elif is_sealed(payload):
            raise InputError("sealing", "sealed payload but this edge has no key (set link.key_file to the "
                                        "device's key file)", "no_key")
        try:
            tensors = self.model.decode_split(msg.split, payload)
        except CutError as exc:
            raise InputError("split", exc) from None
        except CodecError as exc:
            raise InputError("payload", exc) from None
        for name, tensor in tensors.items():  # would only turn into NaN scores or boxes downstream
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise InputError("payload", f"tensor {name!r} contains NaN or Inf")
        decoded = time.perf_counter()
        try:
            output = self.model.splitter.run_edge({k: t.to(self.device) for k, t in tensors.items()}, msg.split)
        except (RuntimeError, CutError) as exc:
            raise InputError("payload", f"tensors do not fit split {msg.split!r}: {exc}") from None
        output = output.cpu()
        computed = time.perf_counter()
        meta = None
        if self.model.task == "detection":
            height, width = frame.shape[:2] if frame is not None else (self.config.camera.height,
                                                                       self.config.camera.width)
            meta = letterbox_info(width, height, self.model.input_size)
        return self.model.postprocess(output, meta), decoded - start, computed - decoded

    def publish_annotated(self, result: InferenceResult, prediction: Prediction | None,
                          frame: np.ndarray | None) -> None:
        if frame is None:
            frame = np.full((self.config.camera.height, self.config.camera.width, 3), _CANVAS_GRAY, np.uint8)
        title = f"seq {result.seq} split {result.split}" + (f" ERROR {result.error}" if result.error else "")
        image = annotate(frame, prediction or Prediction(), self.model.class_names, title)
        self.annotated_publisher.publish(bgr_to_image(image, header=result.header))


def fill_result(result: InferenceResult, prediction: Prediction, class_names: list[str]) -> None:
    """Copy a prediction into an InferenceResult (detections with class names, or top-k)."""
    if prediction.topk is not None:
        result.topk_classes = np.asarray(prediction.topk.class_ids, np.int32)
        result.topk_scores = np.asarray(prediction.topk.scores, np.float32)
    result.detections = [
        Detection(class_id=d.class_id, class_name=class_names[d.class_id] if d.class_id < len(class_names) else "",
                  score=d.score, x1=d.box[0], y1=d.box[1], x2=d.box[2], y2=d.box[3])
        for d in prediction.detections or ()
    ]


def main(args: Sequence[str] | None = None) -> int:
    return run_and_exit(EdgeNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
