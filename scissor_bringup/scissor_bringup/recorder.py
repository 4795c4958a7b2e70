"""Record a testbed run into a rosbag2 folder (MCAP or sqlite3) with the pure-Python ``rosbags`` writer.

There is no ``ros2 bag`` here (ROS 2 comes from pip wheels, without rosbag2_py), so :class:`Recorder`
is a small rclpy node that subscribes *raw* (serialized CDR, never converted to Python objects) to the
testbed's topics of :data:`RECORDED` and writes every message with its receive time (rmw's
``received_timestamp``, ns since the epoch). Names are relative, so they follow the testbed's namespace.

- **Feature maps**: ``scissor/features`` carries the whole wire-codec blob (0.1-20 MB per frame). The bag
  gets a metadata-only copy on ``scissor/features/metadata``: the same FeatureMap with ``payload`` and every
  tensor's ``data`` emptied, ``payload_bytes`` and all timings kept. Another topic name, so that
  ``ros2 bag play`` of a recording into a live testbed never hands an edge a FeatureMap without its payload.
- **Types**: the bag holds the full message definitions (MCAP schemas, sqlite3 ``message_definitions``)
  made from the typestore of :mod:`scissor_ros.cdr` (ROS 2 Kilted plus scissor_msgs, registered from its
  .msg files), and each topic's offered QoS (the publishers' profile of
  :data:`~scissor_ros.topics.TOPIC_QOS`), so ``ros2 bag info/play`` of a ROS 2 install and
  ``rosbags`` read it. The subscriptions use the same profiles, with a deeper history (a burst
  must not overflow the recorder while it writes).

**Where it runs: inside the ``scissor testbed`` process**, not as one more launched node, because a
recorder must hear everything the run published. It is subscribed before the first node starts, and it
stops only after every node has exited: the launcher sends SIGINT to all nodes at once, so a recorder
node would stop together with the device and lose the last results and outcomes. Ctrl-C / SIGTERM of
``scissor testbed`` reaches the launcher (the nodes run in sessions of their own), which stops the nodes;
then :meth:`Recorder.stop` takes what is still queued and closes the bag (writing ``metadata.yaml``), also
when the run ends with an exception. ``python -m scissor_bringup.recorder DIR`` runs it alone (e.g. next to
``ros2 launch``) until SIGINT / SIGTERM, then closes the bag the same way.

Its subscriptions join the ROS graph, and two nodes count readers: the camera's
``camera.wait_for_subscribers`` (``run_testbed`` raises it by one when recording, so the camera also waits
for the recorder and none of its frames is lost to the bag) and the device, which takes a peer that reads
``scissor/queue_state`` *and* writes ``scissor/split_decision`` for an agent (a recorder writes nothing, so it
is never one). Every subscription but the camera's exists before the first node starts, so each node's
writers match the recorder while that node starts up: a subscription made only when an agent appeared
lost frame 0's QueueState once in CI, the device publishing it before its writer had matched that late
reader. The camera subscription comes last, once the camera's publisher is known (its QoS decides how it
is recorded) and every topic the run publishes (``awaited``, which ``run_testbed`` derives from its config)
has matched a publisher: the camera waits for it, so the first frame only leaves once the recorder hears the
device, edge and agent too, and the bag holds every frame's messages. Run alone, the recorder cannot know
what will publish, so after ``CAMERA_AFTER`` s it records the camera anyway and warns what it has not heard.

rclpy runs here without its signal handlers (the process's own handlers stay in charge), in a context of
its own, and everything that touches the bag runs in the recorder's thread (sqlite3 connections are
bound to the thread that opened them).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rosbags.interfaces import Connection, Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from sensor_msgs.msg import Image

from scissor_core.config import load_config
from scissor_msgs.msg import (FeatureMap, FeatureReceipt, FrameOutcome, InferenceResult, LinkState, QueueState,
                              SplitDecision)
from scissor_ros import cdr
from scissor_ros.process import prepare_process
from scissor_ros.topics import TOPIC_QOS, qos

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
"""``--storage`` names -> rosbags storage plugins (MCAP is ``ros2 bag record``'s default since Iron)."""
HISTORY_DEPTH = 100
"""History depth of the recorder's subscriptions (the publishers' depth is 5 or 10)."""
FEATURES_METADATA = "scissor/features/metadata"


@dataclass(frozen=True)
class RecordedTopic:
    """One recorded topic: the name the nodes use, its rclpy type and ROS type name, the name in the bag."""

    topic: str
    msg_class: type
    msgtype: str
    bag_topic: str = ""
    """Name in the bag when it differs from ``topic`` (the metadata-only feature maps)."""


OUTCOMES = "scissor/frame_outcome"
DECISIONS = "scissor/split_decision"
RECORDED: tuple[RecordedTopic, ...] = (
    RecordedTopic("camera/image_raw", Image, "sensor_msgs/msg/Image"),
    RecordedTopic("scissor/queue_state", QueueState, "scissor_msgs/msg/QueueState"),
    RecordedTopic(DECISIONS, SplitDecision, "scissor_msgs/msg/SplitDecision"),
    RecordedTopic("scissor/features", FeatureMap, cdr.FEATURE_MAP, FEATURES_METADATA),
    RecordedTopic("scissor/feature_receipt", FeatureReceipt, "scissor_msgs/msg/FeatureReceipt"),
    RecordedTopic("scissor/result", InferenceResult, "scissor_msgs/msg/InferenceResult"),
    RecordedTopic(OUTCOMES, FrameOutcome, "scissor_msgs/msg/FrameOutcome"),
    RecordedTopic("scissor/link_state", LinkState, "scissor_msgs/msg/LinkState"),
)
"""What a testbed recording holds (``scissor/annotated`` is left out: it repeats the camera's frames, and a
second image topic would make ``scissor replay`` ask which one)."""
CAMERA = "camera/image_raw"
CAMERA_AFTER = 15.0
"""Seconds after which a recorder not told what to expect (``awaited=None``, e.g. next to ``ros2 launch``)
records the camera even if some topic has no publisher (e.g. no agent)."""


class RecordError(ValueError):
    """A recording cannot start or did not complete; the message names the bag and the problem."""


def check_new_bag(path: Path, storage: str) -> None:
    """Refuse, before anything starts, what ``rosbags`` would refuse later: an existing path, a bad storage."""
    if storage not in STORAGES:
        raise RecordError(f"unknown rosbag2 storage {storage!r}: choose {' or '.join(STORAGES)}")
    if path.exists() or path.is_symlink():
        raise RecordError(f"cannot record to {path}: it exists already (a rosbag2 recording never "
                          "overwrites; choose a new folder or remove it)")


def strip_payload(raw: bytes) -> bytes:
    """A serialized FeatureMap -> the same FeatureMap without its payload bytes (``payload_bytes`` kept)."""
    msg = cdr.deserialize(raw, cdr.FEATURE_MAP)
    empty = np.empty(0, np.uint8)
    msg = dataclasses.replace(msg, payload=empty,
                              tensors=[dataclasses.replace(t, data=empty) for t in msg.tensors])
    return cdr.serialize(msg, cdr.FEATURE_MAP)


def offered_qos(topic: str) -> Qos:
    """The publishers' QoS of a testbed topic as rosbag2 stores it (played back with the same profile)."""
    profile: QoSProfile = qos(TOPIC_QOS[topic])
    zero = QosTime(0, 0)
    return Qos(QosHistory.KEEP_LAST, profile.depth,
               QosReliability.RELIABLE if profile.reliability == ReliabilityPolicy.RELIABLE
               else QosReliability.BEST_EFFORT,
               QosDurability.TRANSIENT_LOCAL if profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
               else QosDurability.VOLATILE,
               zero, zero, QosLiveliness.AUTOMATIC, zero, False)


def bag_counts(path: Path) -> dict[str, tuple[str, int]]:
    """Topic -> (type, message count) of a closed rosbag2 folder, as its metadata says."""
    with Reader(path) as reader:
        return {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}


class Recorder:
    """Records :data:`RECORDED` into a new rosbag2 folder from :meth:`start` to :meth:`stop`."""

    def __init__(self, path: Path, storage: str = "mcap", namespace: str = "", settle: float = 0.5,
                 awaited: frozenset[str] | None = None) -> None:
        """``settle``: at :meth:`stop`, seconds without a new message before the bag is closed. ``awaited``: the
        topics (names of :data:`RECORDED`) the run will publish, each heard before the camera is recorded, with
        no time limit (the run's own bounds it); None: every topic, or whatever is heard after ``CAMERA_AFTER``."""
        check_new_bag(path, storage)
        unknown = sorted(set(awaited or ()) - {r.topic for r in RECORDED})
        if unknown:
            raise RecordError(f"recording to {path}: {', '.join(unknown)} is not a recorded topic")
        self.path, self.storage, self.namespace, self.settle = path, storage, namespace, settle
        self.awaited = awaited
        self.counts: dict[str, int] = {}
        """Messages written per bag topic."""
        self.skipped = 0
        """Feature maps that did not deserialize (not written)."""
        self._ready, self._stop = threading.Event(), threading.Event()
        self._error: BaseException | None = None
        self._last_message = time.monotonic()
        self._give_up_at = float("inf")
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- control (any thread)
    def start(self, timeout: float = 30.0) -> None:
        """Open the bag and subscribe; returns once every subscription (but the camera's) exists."""
        prepare_process(load_config())  # the nodes' Fast DDS transports (set before the participant exists)
        self._thread = threading.Thread(target=self._main, name="recorder", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) and self._error is None:
            self._stop.set()
            raise RecordError(f"recording to {self.path}: the recorder did not start within {timeout:g} s")
        if self._error is not None:
            raise RecordError(f"recording to {self.path}: {self._error}") from self._error

    def outcomes_heard(self) -> int:
        """FrameOutcome messages recorded so far."""
        return self.counts.get("/" + "/".join(part for part in (self.namespace.strip("/"), OUTCOMES) if part), 0)

    def stop(self, limit: float = 10.0) -> None:
        """Take what is still queued (until ``settle`` s pass without a message, at most ``limit`` s) and
        close the bag. Raises RecordError when the recording failed."""
        self._give_up_at = time.monotonic() + limit
        self._stop.set()
        if self._thread is not None:
            self._thread.join(limit + self.settle + 30)
            if self._thread.is_alive():
                raise RecordError(f"recording to {self.path}: the recorder did not stop")
        if self._error is not None:
            raise RecordError(f"recording to {self.path}: {self._error}") from self._error

    def __enter__(self) -> Recorder:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- the recorder's thread
    def _main(self) -> None:
        context = Context()
        writer = Writer(self.path, version=Writer.VERSION_LATEST, storage_plugin=STORAGES[self.storage])
        opened = False
        try:
            writer.open()
            opened = True
            rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
            namespace = f"/{self.namespace.strip('/')}" if self.namespace.strip("/") else ""
            node = rclpy.create_node("recorder", namespace=namespace, context=context)
            executor = SingleThreadedExecutor(context=context)
            executor.add_node(node)
            try:
                self._record(node, executor, writer)
            finally:
                executor.shutdown()
                node.destroy_node()
        except BaseException as exc:  # noqa: BLE001 - reported by start()/stop() in the caller's thread
            self._error = exc
        finally:
            if opened:  # also after a failure: what was recorded stays readable
                try:
                    writer.close()
                except Exception as exc:  # noqa: BLE001
                    self._error = self._error or exc
                    with contextlib.suppress(Exception):
                        writer.abort()
            if context.ok():
                rclpy.shutdown(context=context)
            self._ready.set()

    def _record(self, node, executor: SingleThreadedExecutor, writer: Writer) -> None:
        store = cdr.typestore()
        camera: list[tuple[RecordedTopic, Connection]] = []
        subscriptions: dict[str, Any] = {}
        for recorded in RECORDED:
            bag_topic = node.resolve_topic_name(recorded.bag_topic or recorded.topic)
            connection = writer.add_connection(bag_topic, recorded.msgtype, typestore=store,
                                               offered_qos_profiles=[offered_qos(recorded.topic)])
            self.counts[bag_topic] = 0
            if recorded.topic == CAMERA:
                camera.append((recorded, connection))
            else:
                subscriptions[recorded.topic] = self._subscribe(node, writer, recorded, connection)
        started = time.monotonic()
        awaited = self.awaited if self.awaited is not None else frozenset(subscriptions)

        def subscribe_camera_once_the_rest_is_heard() -> None:
            # The camera's own offer must be known too: its QoS decides how it is recorded.
            offers = node.get_publishers_info_by_topic(node.resolve_topic_name(CAMERA))
            unheard = sorted(t for t in awaited if t in subscriptions and subscriptions[t].get_publisher_count() == 0)
            late = self.awaited is None and time.monotonic() - started >= CAMERA_AFTER
            if camera and ((offers and not unheard) or late):
                if unheard or not offers:
                    node.get_logger().warning(
                        f"recording the camera after {CAMERA_AFTER:g} s with no publisher heard on "
                        f"{', '.join(unheard + ([] if offers else [CAMERA]))}: their first messages may be missing")
                # A camera made reliable (a QoS override) is recorded reliably: no frame is lost while
                # this side of the match completes. A best-effort one only matches a best-effort reader.
                reliable = bool(offers) and all(o.qos_profile.reliability == ReliabilityPolicy.RELIABLE
                                                for o in offers)
                self._subscribe(node, writer, *camera.pop(), reliable=reliable)
                camera_timer.cancel()

        camera_timer = node.create_timer(0.05, subscribe_camera_once_the_rest_is_heard)
        node.get_logger().info(f"recording {len(RECORDED)} topics to {self.path} ({self.storage})")
        self._ready.set()
        while not (self._stop.is_set() and (time.monotonic() - self._last_message >= self.settle
                                            or time.monotonic() >= self._give_up_at)):
            executor.spin_once(timeout_sec=0.05)

    def _subscribe(self, node, writer: Writer, recorded: RecordedTopic, connection: Connection,
                   reliable: bool = False):
        topic = connection.topic
        strip = recorded.bag_topic == FEATURES_METADATA

        def on_message(raw: bytes, info: dict[str, Any]) -> None:
            self._last_message = time.monotonic()
            if strip:
                try:
                    raw = strip_payload(raw)
                except Exception as exc:  # noqa: BLE001 - rosbags raises several kinds on bad CDR
                    self.skipped += 1
                    node.get_logger().warning(f"{recorded.topic}: a FeatureMap that does not deserialize "
                                              f"was not recorded: {exc}")
                    return
            writer.write(connection, info.get("received_timestamp") or time.time_ns(), raw)
            self.counts[topic] += 1

        profile = qos(TOPIC_QOS[recorded.topic])
        return node.create_subscription(recorded.msg_class, recorded.topic, on_message,
                                 QoSProfile(history=profile.history, depth=max(profile.depth, HISTORY_DEPTH),
                                            reliability=ReliabilityPolicy.RELIABLE if reliable else profile.reliability,
                                            durability=profile.durability),
                                 raw=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m scissor_bringup.recorder DIR [--storage mcap|sqlite3] [--namespace NS]``: record the
    testbed's topics until SIGINT / SIGTERM, then close the bag and print its topics."""
    parser = argparse.ArgumentParser(prog="python -m scissor_bringup.recorder", description=__doc__.split("\n")[0])
    parser.add_argument("bag", type=Path, help="new rosbag2 folder")
    parser.add_argument("--storage", choices=list(STORAGES), default="mcap", help="storage format (default mcap)")
    parser.add_argument("--namespace", default="", help="the testbed's namespace")
    args = parser.parse_args(argv)
    try:
        recorder = Recorder(args.bag, args.storage, args.namespace)
    except RecordError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    recorder.start()
    stop.wait()
    recorder.stop(limit=1.0)  # a live testbed may never fall quiet: take what is queued, then close
    for topic, (msgtype, count) in bag_counts(args.bag).items():
        print(f"{topic} ({msgtype}): {count} messages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
