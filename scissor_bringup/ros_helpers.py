"""ROS helpers shared by every scissor node: QoS table, transport profile, config as parameters,
diagnostics and the ros2/examples-style main loop."""
from __future__ import annotations

import array
import ctypes
import dataclasses
import os
import socket
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.subscription import RCLError, Subscription
from rclpy.task import Future

from scissor_core.config import DEFAULT_CONFIG, ConfigError, ScissorConfig, field_docs, from_dict, load_config

QOS_PROFILES: dict[str, QoSProfile] = {
    "sensor": qos_profile_sensor_data,
    "reliable": QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.VOLATILE),
    "latched": QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL),
}
"""Named QoS profiles: sensor data (best effort, depth 5), reliable (depth 10), latched (transient local, depth 1)."""

TOPIC_QOS: dict[str, str] = {
    "camera/image_raw": "sensor",
    "scissor/annotated": "sensor",
    "scissor/features": "reliable",
    "scissor/result": "reliable",
    "scissor/split_decision": "reliable",
    "scissor/queue_state": "reliable",
    "scissor/link_state": "reliable",
    "scissor/frame_outcome": "reliable",
    "/diagnostics": "reliable",  # absolute, as diagnostic_updater and aggregators use it
}
"""The QoS profile of every scissor topic (overridable per topic with the standard qos_overrides parameters)."""


def qos(name: str) -> QoSProfile:
    """A named profile of :data:`QOS_PROFILES`."""
    return QOS_PROFILES[name]


def publisher(node: Node, msg_type: type, topic: str) -> Publisher:
    """A publisher with the topic's QoS from :data:`TOPIC_QOS`; history, depth and reliability can be
    overridden at start-up (``-p qos_overrides./camera/image_raw.publisher.reliability:=reliable``)."""
    return node.create_publisher(msg_type, topic, qos(TOPIC_QOS[topic]),
                                 qos_overriding_options=QoSOverridingOptions.with_default_policies())


def subscription(node: Node, msg_type: type, topic: str, callback: Callable[..., None], raw: bool = False
                 ) -> Subscription:
    """A subscription with the topic's QoS (overridable like :func:`publisher`'s); ``raw`` delivers CDR bytes."""
    return node.create_subscription(msg_type, topic, callback, qos(TOPIC_QOS[topic]), raw=raw,
                                    qos_overriding_options=QoSOverridingOptions.with_default_policies())


def peers_on_both_ends(requests: Publisher, answers: Subscription) -> int:
    """How many peers both read what ``requests`` publishes and write what ``answers`` reads (a node that
    only listens, such as a recorder, is not a peer; a stand-in that only answers is not one either)."""
    return min(requests.get_subscription_count(), answers.get_publisher_count())


def uint8_array(buffer: object) -> array.array:
    """A buffer as ``array.array('B')`` with one memcpy: what a uint8[] field stores without per-element
    conversion (assigning a numpy array instead costs ~0.1 s per MB). Assign it to a message made with
    ``check_fields=True`` to store it by reference."""
    out = array.array("B")
    out.frombytes(memoryview(np.ascontiguousarray(buffer)).cast("B"))
    return out


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def reuse_freed_memory(size: int) -> None:
    """Make glibc serve allocations below ``size`` bytes from the heap and keep freed memory (0: no change).

    By default glibc maps every multi-MB buffer freshly and unmaps it on free, so each large message
    page-faults through its whole size in every copy on both sides (measured: a 20 MB FeatureMap takes
    ~70 ms instead of ~33 ms once smaller messages went before it). No-op off glibc.
    """
    if size == 0 or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(_M_MMAP_THRESHOLD, size)
    libc.mallopt(_M_TRIM_THRESHOLD, 4 * size)


def prepare_process(config: ScissorConfig) -> None:
    """What every scissor ROS process does before rclpy.init: transport profile, allocator."""
    use_fastdds_profile(config)
    reuse_freed_memory(config.ros.malloc_reuse_bytes)


def use_fastdds_profile(config: ScissorConfig) -> None:
    """Point Fast DDS at ``ros.fastdds_profile`` unless the environment already chooses its transports.

    Fast DDS reads the variable when the first participant is created, so call this before rclpy.init.
    """
    if config.ros.fastdds_profile is None:
        return
    if not {"FASTDDS_DEFAULT_PROFILES_FILE", "FASTDDS_BUILTIN_TRANSPORTS"} & set(os.environ):
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(config.resolve_path(config.ros.fastdds_profile))


# ----------------------------------------------------------------------------- config as parameters

_PARAM_TYPES: dict[Any, int] = {
    bool: ParameterType.PARAMETER_BOOL,
    int: ParameterType.PARAMETER_INTEGER,
    float: ParameterType.PARAMETER_DOUBLE,
    str: ParameterType.PARAMETER_STRING,
}
_NONE_AS: dict[int, Any] = {ParameterType.PARAMETER_INTEGER: 0, ParameterType.PARAMETER_DOUBLE: 0.0,
                            ParameterType.PARAMETER_STRING: ""}


def _parameter_type(annotation: Any) -> tuple[int | None, bool, tuple[str, ...]]:
    """(ROS parameter type or None when not representable, whether None is allowed, Literal choices)."""
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(options) < len(typing.get_args(annotation))
        if len(options) != 1:
            return None, optional, ()
        annotation = options[0]
    if typing.get_origin(annotation) is Literal:
        return ParameterType.PARAMETER_STRING, optional, tuple(typing.get_args(annotation))
    if typing.get_origin(annotation) is list and typing.get_args(annotation) == (str,):
        return ParameterType.PARAMETER_STRING_ARRAY, optional, ()
    return _PARAM_TYPES.get(annotation), optional, ()


def declare_config(node: Node, fields: Mapping[str, Sequence[str] | None]) -> ScissorConfig:
    """Declare the node's config as read-only ROS parameters and return the validated config they give.

    ``config_file`` names the YAML (default ``config/scissor.yaml``); then every ``section.field`` in
    ``fields`` (None = the whole section) becomes a parameter defaulting from that file, described by the
    field's docstring. A None value is given as 0 / 0.0 / "" / unset; mappings stay YAML-only.
    Raises :class:`ConfigError` naming the parameter when a value is invalid.
    """
    read_only = {"read_only": True}
    path = node.declare_parameter(
        "config_file", str(DEFAULT_CONFIG),
        ParameterDescriptor(description="scissor YAML configuration the other parameters default from",
                            **read_only)).value
    config = load_config(path)
    data = dataclasses.asdict(config)
    for section, names in fields.items():
        cls = type(getattr(config, section))
        hints, docs = typing.get_type_hints(cls), field_docs(cls)
        for f in dataclasses.fields(cls):
            if names is not None and f.name not in names:
                continue
            kind, optional, choices = _parameter_type(hints[f.name])
            if kind is None:
                continue
            description = docs.get(f.name, "")
            if optional:
                description += " (0, empty or unset = none)"
            constraints = f"one of {', '.join(choices)}" if choices else ""
            descriptor = ParameterDescriptor(description=description, type=kind,
                                             additional_constraints=constraints, **read_only)
            value = data[section][f.name]
            if value is None or value == []:
                value = _NONE_AS.get(kind, Parameter.Type.STRING_ARRAY)
            got = node.declare_parameter(f"{section}.{f.name}", value, descriptor).value
            if got is None or (optional and got == _NONE_AS.get(kind)):
                got = None if optional else []
            data[section][f.name] = got
    return from_dict(data, f"{path} with the ROS parameters of {node.get_fully_qualified_name()}")


# ----------------------------------------------------------------------------- diagnostics


class Diagnostics:
    """One DiagnosticStatus of this node on ``/diagnostics`` every period: level, message, values, rates.

    ``diagnostic_updater`` is not available as a wheel; this is the small shared replacement.
    """

    OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR

    def __init__(self, node: Node, period: float) -> None:
        self._node = node
        self._publisher = publisher(node, DiagnosticArray, "/diagnostics")
        self._period = period
        self.level, self.message = self.OK, "starting"
        self.values: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        self._counted_at_last: dict[str, int] = {}
        node.create_timer(period, self.publish)

    def set(self, level: bytes | None = None, message: str | None = None, **values: object) -> None:
        """Update the status and any number of named values (shown as text)."""
        if level is not None:
            self.level = level
        if message is not None:
            self.message = message
        self.values.update({k: str(v) for k, v in values.items()})

    def count(self, name: str, n: int = 1) -> None:
        """Add to a counter; each message shows its total and its rate over the last period."""
        self._counts[name] = self._counts.get(name, 0) + n

    def publish(self) -> None:
        values = dict(self.values)
        for name, total in self._counts.items():
            rate = (total - self._counted_at_last.get(name, 0)) / self._period
            values[name], values[f"{name}_per_s"] = str(total), f"{rate:.2f}"
        self._counted_at_last = dict(self._counts)
        status = DiagnosticStatus(level=self.level, name=self._node.get_fully_qualified_name(),
                                  message=self.message, hardware_id=socket.gethostname(),
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        array_msg = DiagnosticArray(status=[status])
        array_msg.header.stamp = self._node.get_clock().now().to_msg()
        self._publisher.publish(array_msg)


# ----------------------------------------------------------------------------- main loop


def run(make_node: Callable[[], Node], args: Sequence[str] | None = None) -> int:
    """The ros2/examples main: prepare the process (from the default config file: this happens before
    the node reads its parameters), init, spin until the node's ``done`` future (if any) completes or
    Ctrl-C / shutdown, clean up. Returns 0, or 2 with a one-line message on an invalid configuration.

    (rclpy.experimental.EventsExecutor cuts a 0.1 MB round trip from ~1.6 to ~0.6 ms, but in this rclpy
    its spin() and spin_until_future_complete() without a timeout busy-loop without running callbacks.)
    """
    try:
        prepare_process(load_config())
        with rclpy.init(args=list(args) if args is not None else None):
            node = make_node()
            try:
                done: Future | None = getattr(node, "done", None)
                if done is None:
                    rclpy.spin(node)
                else:
                    rclpy.spin_until_future_complete(node, done)
            except RCLError:
                if rclpy.ok():
                    raise
                # A callback was mid-way when SIGINT/SIGTERM shut the context down: its publish
                # failed, and the shutdown goes on as if the signal had arrived a moment earlier.
            finally:
                node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def run_and_exit(make_node: Callable[[], Node], args: Sequence[str] | None = None) -> int:
    """A node process's main: :func:`run`, then exit at once with its code. The node's work is saved and
    the middleware shut down by then; skipping the interpreter's own teardown avoids an exit that was
    seen to hang in Fast DDS/rclpy object finalisation (nodes that then needed SIGKILL)."""
    code = run(make_node, args)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
