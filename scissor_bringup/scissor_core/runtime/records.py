"""Core mirrors of the scissor_msgs the nodes exchange, so the runtime, tests and bag fixtures need no ROS.

Each dataclass holds one message's fields under the same names (``scissor_ros.messages`` converts them
and a test checks the field lists against the ``.msg`` files). Two records live where they are made:
:class:`~scissor_core.runtime.outcome.FrameOutcome` (``FrameOutcome.msg``) and
:class:`~scissor_core.runtime.queues.ObservedState` (``QueueState.msg``). Header stamps are carried as
integer nanoseconds of the sender's wall clock (``stamp_ns``), exactly, since the edge and the device
match frames by them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class FeaturePayload:
    """``FeatureMap.msg``: one frame's encoded cut on its way device -> edge."""

    seq: int
    """Frame sequence number."""
    stamp_ns: int
    """Capture time of the frame (header.stamp, ns of the device's wall clock)."""
    frame_id: str
    """The camera frame's header.frame_id."""
    model: str
    split: str
    codec: str
    """Wire codec label of ``payload``."""
    payload: Any
    """The wire-codec blob (bytes-like; sealed when link.key_file is set)."""
    payload_bytes: int
    """Size of ``payload`` as the device sent it (checked by the edge)."""
    local_wait: float = 0.0
    local_compute: float = 0.0
    offload_wait: float = 0.0
    transmit: float = 0.0
    frame_width: int = 0
    """Width of the camera frame the device read (pixels): the edge maps detections to it."""
    frame_height: int = 0
    """Height of that frame (pixels)."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """``FeatureReceipt.msg``: the edge holds a frame's whole payload (the end of its transmission)."""

    seq: int
    stamp_ns: int
    """Capture time of the frame, copied from the FeaturePayload."""
    frame_id: str
    model: str
    payload_bytes: int
    """Bytes of payload the edge received."""
    edge_queue: int = 0
    """Feature maps waiting at the edge when this one arrived (this one not counted)."""


@dataclass(frozen=True, slots=True)
class ResultDetection:
    """``Detection.msg``: one detected object, box in the camera frame's pixels."""

    class_id: int
    class_name: str
    score: float
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(slots=True)
class EdgeResult:
    """``InferenceResult.msg``: the edge's answer to one FeaturePayload (``error`` set when it could not)."""

    seq: int
    stamp_ns: int
    """Capture time of the frame, copied from the FeaturePayload."""
    frame_id: str
    model: str
    split: str
    detections: tuple[ResultDetection, ...] = ()
    topk_classes: tuple[int, ...] = ()
    topk_scores: tuple[float, ...] = ()
    decode_time: float = 0.0
    """Seconds to open and decode the payload."""
    edge_compute: float = 0.0
    """Seconds of the tail's forward pass and post-processing."""
    edge_wait: float = 0.0
    """Seconds from reception to the start of service (the edge's queue)."""
    error: str = ""
    """Empty when the inference ran; else ``<field>: <problem>``."""


def with_prediction(result: EdgeResult, prediction: Any, class_names: Sequence[str]) -> EdgeResult:
    """``result`` filled with a post-processed :class:`~scissor_core.models.registry.Prediction`: its top-k
    classes, or its detections named from ``class_names`` (how the edge and, for a frame run device-only,
    the device report a result)."""
    if prediction.topk is not None:
        result.topk_classes = tuple(prediction.topk.class_ids)
        result.topk_scores = tuple(prediction.topk.scores)
    result.detections = tuple(
        ResultDetection(d.class_id, class_names[d.class_id] if d.class_id < len(class_names) else "", d.score, *d.box)
        for d in prediction.detections or ())
    return result


@dataclass(slots=True)
class Decision:
    """``SplitDecision.msg``: a policy's split for one frame."""

    seq: int
    split: str
    policy: str
    candidates: tuple[str, ...] = ()
    """Candidate splits in the policy's action order."""
    probabilities: tuple[float, ...] = ()
    """The policy's probability per candidate (empty for deterministic policies)."""
    fallback: bool = False


@dataclass(slots=True)
class LinkReport:
    """``LinkState.msg``: the device's view of its link."""

    bandwidth_estimate: float
    """b_hat (bytes/s)."""
    rtt: float = 0.0
    shaped_rate: float = 0.0
    """Rate the application-level shaper allows now (bytes/s)."""

