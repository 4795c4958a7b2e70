"""Serialized (CDR) scissor_msgs through rosbags: the fast path for large messages.

rclpy converts a received uint8[] field into an ``array.array`` with three copies;
a raw subscription hands over the serialized bytes instead, and rosbags reads them
into message objects whose uint8[] fields are numpy views of those bytes (no
copy). The same store serializes messages built with numpy payloads for
``publisher.publish(bytes)``. The CDR is the one rclpy speaks (checked in tests).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from ament_index_python.packages import get_package_share_directory
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

FEATURE_MAP = "scissor_msgs/msg/FeatureMap"
_BASE_DEFAULTS: dict[str, Any] = {"string": "", "bool": False, "float32": 0.0, "float64": 0.0}
_NUMPY_TYPES = {name: np.dtype(name) for name in
                ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32", "float64")}


@lru_cache(maxsize=1)
def typestore() -> Typestore:
    """ROS 2 Kilted's standard types plus scissor_msgs, read from its installed .msg files."""
    store = get_typestore(Stores.ROS2_KILTED)
    msg_dir = Path(get_package_share_directory("scissor_msgs")) / "msg"
    types: dict[str, Any] = {}
    for path in sorted(msg_dir.glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"scissor_msgs/msg/{path.stem}"))
    store.register(types)
    return store


def deserialize(raw: bytes, typename: str) -> Any:
    """CDR bytes of a raw subscription -> rosbags message (uint8[] fields are views of ``raw``).

    Raises rosbags' SerdeError on bytes that are not a ``typename``."""
    return typestore().deserialize_cdr(memoryview(raw), typename)  # slicing bytes would copy them


def serialize(message: Any, typename: str) -> bytes:
    """rosbags message -> CDR bytes for ``publisher.publish``."""
    return bytes(typestore().serialize_cdr(message, typename))


def message(typename: str, **fields: Any) -> Any:
    """A rosbags message of ``typename``; fields not given take ROS defaults (zero, empty)."""
    store = typestore()
    values = {name: fields[name] if name in fields else _default(kind, detail)
              for name, (kind, detail) in store.fielddefs[typename][1]}
    unknown = set(fields) - set(values)
    if unknown:
        raise TypeError(f"{typename} has no field(s) {sorted(unknown)}")
    return store.types[typename](**values)


def _default(kind: Nodetype, detail: Any) -> Any:
    if kind == Nodetype.NAME:
        return message(detail)
    if kind == Nodetype.SEQUENCE:
        (item_kind, item_detail), _ = detail
        if item_kind == Nodetype.BASE and item_detail[0] in _NUMPY_TYPES:
            return np.empty(0, _NUMPY_TYPES[item_detail[0]])
        return []
    if kind == Nodetype.BASE:
        return _BASE_DEFAULTS.get(detail[0], 0)
    raise NotImplementedError(f"no default for field kind {kind}")  # fixed arrays: not in scissor_msgs
