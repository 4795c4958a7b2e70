"""scissor_msgs <-> the core's records: every conversion between a message and a record, in one place.

Each :class:`Mirror` names the record that mirrors a message and how their fields correspond: the
same names unless ``renamed``; the header's stamp and frame_id carried by record fields (or given by
the sender); ``local`` record fields that never travel (``ObservedState.now``); and message fields
the record does not hold (``extra``: ``QueueState.candidates``, the unused ``FeatureMap.tensors``).
:func:`to_message` and :func:`from_message` follow the table for rclpy messages and rosbags ones
alike; :func:`feature_map_cdr` and :func:`feature_payload_from_cdr` are the FeatureMap's serialized
path, where the payload is a buffer, never converted element by element. ``test/test_message_mirrors.py``
round-trips every mirror with values generated from the message's own field types and checks that
the table covers every field of both sides.
"""
from __future__ import annotations

import array
import dataclasses
import functools
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from builtin_interfaces.msg import Time
from std_msgs.msg import Header

from scissor_core.runtime.outcome import FrameOutcome
from scissor_core.runtime.queues import ObservedState
from scissor_core.runtime.records import Decision, EdgeResult, FeaturePayload, LinkReport, Receipt, ResultDetection
from scissor_msgs.msg import (Detection, FeatureMap, FeatureReceipt, InferenceResult, LinkState, QueueState,
                             SplitDecision)
from scissor_msgs.msg import FrameOutcome as FrameOutcomeMsg
from scissor_ros import cdr

NS = 1_000_000_000


def uint8_array(buffer: object) -> array.array:
    """A buffer as ``array.array('B')`` with one memcpy: what a uint8[] field stores without per-element
    conversion (assigning a numpy array instead costs ~0.1 s per MB). Assign it to a message made with
    ``check_fields=True`` to store it by reference."""
    out = array.array("B")
    out.frombytes(memoryview(np.ascontiguousarray(buffer)).cast("B"))
    return out


@dataclass(frozen=True)
class Mirror:
    """How one core record and one scissor_msgs message correspond, field by field."""

    record: type
    message: type
    renamed: Mapping[str, str] = field(default_factory=dict)
    """Record field -> message field, where the names differ."""
    stamp: str | None = None
    """Record field carried in header.stamp (None: the sender sets the stamp)."""
    stamp_unit: Literal["s", "ns"] = "ns"
    frame_id: str | None = None
    """Record field carried in header.frame_id (None: the sender sets it)."""
    local: tuple[str, ...] = ()
    """Record fields that never travel; :func:`from_message` takes them as keywords."""
    extra: tuple[str, ...] = ()
    """Message fields the record does not hold; :func:`to_message` takes them as keywords."""
    nested: Mapping[str, Mirror] = field(default_factory=dict)
    """Record field -> the mirror of its items (a sequence of messages)."""

    @property
    def typename(self) -> str:
        """The message's ROS type name, e.g. ``scissor_msgs/msg/FrameOutcome``."""
        module = self.message.__module__.split(".")[0]
        return f"{module}/msg/{self.message.__name__}"

    @functools.cached_property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """(record field, message field) of every field that travels outside the header."""
        skip = {self.stamp, self.frame_id, *self.local}
        return tuple((name, self.renamed.get(name, name)) for name in record_fields(self.record) if name not in skip)

    @functools.cached_property
    def hints(self) -> dict[str, Any]:
        return typing.get_type_hints(self.record)


def record_fields(record: type) -> tuple[str, ...]:
    """Field names of a dataclass or NamedTuple record, in order."""
    if dataclasses.is_dataclass(record):
        return tuple(f.name for f in dataclasses.fields(record))
    return tuple(record._fields)


OUTCOME = Mirror(FrameOutcome, FrameOutcomeMsg, stamp="capture", stamp_unit="s")
QUEUE_STATE = Mirror(ObservedState, QueueState, renamed={"local_len": "local_queue", "offload_len": "offload_queue",
                                                         "bandwidth": "bandwidth_estimate", "tau": "pending_work"},
                     local=("now",), extra=("candidates",))
DECISION = Mirror(Decision, SplitDecision)
DETECTION = Mirror(ResultDetection, Detection)
RESULT = Mirror(EdgeResult, InferenceResult, stamp="stamp_ns", frame_id="frame_id", nested={"detections": DETECTION})
FEATURE_MAP = Mirror(FeaturePayload, FeatureMap, stamp="stamp_ns", frame_id="frame_id", extra=("tensors",))
LINK_STATE = Mirror(LinkReport, LinkState)
RECEIPT = Mirror(Receipt, FeatureReceipt, stamp="stamp_ns", frame_id="frame_id")
MIRRORS = (OUTCOME, QUEUE_STATE, DECISION, DETECTION, RESULT, FEATURE_MAP, LINK_STATE, RECEIPT)
"""Every message the nodes convert, with its record."""


def _stamp_ns(mirror: Mirror, record: Any) -> int:
    value = getattr(record, mirror.stamp)
    return round(value * NS) if mirror.stamp_unit == "s" else int(value)


def _fields(mirror: Mirror, record: Any, make: Callable[..., Any], stamp_ns: int | None, frame_id: str | None,
            extra: Mapping[str, Any]) -> dict[str, Any]:
    """The message fields of ``record`` as constructor keywords, nested messages built with ``make``."""
    unknown = set(extra) - set(mirror.extra) - {"header"}
    if unknown:
        raise TypeError(f"{mirror.typename} has no extra field(s) {sorted(unknown)}")
    values: dict[str, Any] = {}
    for name, message_field in mirror.pairs:
        value = getattr(record, name)
        if name in mirror.nested:
            inner = mirror.nested[name]
            value = [make(inner, _fields(inner, item, make, None, None, {})) for item in value]
        elif isinstance(value, tuple):
            value = list(value)
        values[message_field] = value
    if stamp_ns is None and mirror.stamp is not None:
        stamp_ns = _stamp_ns(mirror, record)
    if frame_id is None and mirror.frame_id is not None:
        frame_id = getattr(record, mirror.frame_id)
    if stamp_ns is not None or frame_id is not None:
        values["header"] = (stamp_ns or 0, frame_id or "")
    values.update(extra)
    return values


def _rclpy(mirror: Mirror, values: dict[str, Any]) -> Any:
    if isinstance(values.get("header"), tuple):
        stamp_ns, frame_id = values["header"]
        values["header"] = Header(stamp=Time(sec=stamp_ns // NS, nanosec=stamp_ns % NS), frame_id=frame_id)
    return mirror.message(**values)


def _rosbags(mirror: Mirror, values: dict[str, Any]) -> Any:
    if isinstance(values.get("header"), tuple):
        stamp_ns, frame_id = values["header"]
        values["header"] = cdr.message("std_msgs/msg/Header", frame_id=frame_id, stamp=cdr.message(
            "builtin_interfaces/msg/Time", sec=stamp_ns // NS, nanosec=stamp_ns % NS))
    return cdr.message(mirror.typename, **values)


def to_message(mirror: Mirror, record: Any, *, stamp_ns: int | None = None, frame_id: str | None = None,
               **extra: Any) -> Any:
    """The rclpy message of ``record``; ``stamp_ns`` / ``frame_id`` set (or override) the header,
    ``extra`` sets the message fields the record does not hold."""
    return _rclpy(mirror, _fields(mirror, record, _rclpy, stamp_ns, frame_id, extra))


def from_message(mirror: Mirror, msg: Any, **local: Any) -> Any:
    """The record of a message (rclpy's or rosbags'); ``local`` gives the record fields that never travel."""
    values: dict[str, Any] = dict(local)
    for name, message_field in mirror.pairs:
        value = getattr(msg, message_field)
        if name in mirror.nested:
            value = tuple(from_message(mirror.nested[name], item) for item in value)
        elif typing.get_origin(mirror.hints[name]) is tuple:
            value = tuple(value.tolist() if isinstance(value, np.ndarray) else value)
        elif mirror.hints[name] in (int, float, bool):
            value = mirror.hints[name](value)
        values[name] = value
    if mirror.stamp is not None:
        ns = msg.header.stamp.sec * NS + msg.header.stamp.nanosec
        values[mirror.stamp] = ns / NS if mirror.stamp_unit == "s" else ns
    if mirror.frame_id is not None:
        values[mirror.frame_id] = msg.header.frame_id
    return mirror.record(**values)


def header_stamp_ns(msg: Any) -> int:
    """A message's header stamp in nanoseconds."""
    return msg.header.stamp.sec * NS + msg.header.stamp.nanosec


# ----------------------------------------------------------------------------- FeatureMap, serialized


def feature_map_cdr(payload: FeaturePayload) -> bytes:
    """The serialized FeatureMap of a payload, for ``publisher.publish(bytes)`` (one copy of the blob)."""
    record = dataclasses.replace(payload, payload=np.frombuffer(payload.payload, np.uint8))
    return cdr.serialize(_rosbags(FEATURE_MAP, _fields(FEATURE_MAP, record, _rosbags, None, None, {})),
                         FEATURE_MAP.typename)


def feature_payload_from_cdr(raw: bytes) -> FeaturePayload:
    """The payload of a serialized FeatureMap (its bytes a numpy view of ``raw``); rosbags raises on CDR
    that is not a FeatureMap."""
    return from_message(FEATURE_MAP, cdr.deserialize(raw, FEATURE_MAP.typename))
