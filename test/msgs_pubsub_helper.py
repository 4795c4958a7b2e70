"""Publisher / subscriber processes for test_msgs.py (not a test module itself).

    python msgs_pubsub_helper.py sub TOPIC COUNT TIMEOUT
        prints READY once subscribed, then one JSON line per FeatureMap received
        (seq, payload length, sha256, ...), exits 0 after COUNT messages, 2 on timeout.
    python msgs_pubsub_helper.py pub TOPIC COUNT SIZE TIMEOUT
        waits for a subscriber, publishes COUNT FeatureMaps with SIZE-byte random
        payloads (numpy uint8 arrays), prints one JSON line per message sent, then
        stays up until the subscriber has gone (or TIMEOUT), so reliable delivery
        can finish.

ROS_DOMAIN_ID etc. come from the environment the test sets.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time

import numpy as np
import rclpy
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from scissor_msgs.msg import FeatureMap, Tensor


def qos(depth: int) -> QoSProfile:
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=max(1, depth),
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def run_sub(topic: str, count: int, timeout: float) -> int:
    rclpy.init()
    node = rclpy.create_node("scissor_msgs_test_sub")
    received: list[int] = []

    def on_msg(msg: FeatureMap) -> None:
        payload = msg.payload  # array.array('B')
        emit({
            "seq": msg.seq,
            "len": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
            "payload_bytes": msg.payload_bytes,
            "model": msg.model,
            "split": msg.split,
            "codec": msg.codec,
            "stamp": [msg.header.stamp.sec, msg.header.stamp.nanosec],
            "frame_id": msg.header.frame_id,
            "tensors": [[t.name, t.dtype, list(t.shape), t.encoding, t.compression,
                         [float(s) for s in t.scale], list(t.zero_point)] for t in msg.tensors],
            "transmit": msg.transmit,
        })
        received.append(msg.seq)

    node.create_subscription(FeatureMap, topic, on_msg, qos(count))
    emit({"ready": True})
    deadline = time.monotonic() + timeout
    try:
        while len(received) < count and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        node.destroy_node()
        rclpy.shutdown()
    return 0 if len(received) >= count else 2


def run_pub(topic: str, count: int, size: int, timeout: float) -> int:
    rclpy.init()
    node = rclpy.create_node("scissor_msgs_test_pub")
    pub = node.create_publisher(FeatureMap, topic, qos(count))
    deadline = time.monotonic() + timeout
    try:
        while pub.get_subscription_count() < 1:
            if time.monotonic() > deadline:
                emit({"error": "no subscriber matched"})
                return 3
            rclpy.spin_once(node, timeout_sec=0.05)
        for i in range(count):
            payload = np.random.default_rng(1000 + i).integers(0, 256, size=size, dtype=np.uint8)
            msg = FeatureMap()
            msg.header.stamp = node.get_clock().now().to_msg()
            msg.header.frame_id = "camera"
            msg.seq = i
            msg.model = "alexnet"
            msg.split = "features.5"
            msg.codec = "int8+zstd"
            msg.payload = payload  # numpy uint8 array straight into uint8[] (no list)
            tensor = Tensor()
            tensor.name = "features.5"
            tensor.dtype = "float32"
            tensor.shape = [1, 192, 13, 13]
            tensor.encoding = "int8"
            tensor.compression = "zstd"
            tensor.scale = [0.5]
            tensor.zero_point = [3]
            msg.tensors = [tensor]
            msg.local_compute = 0.25
            msg.transmit = 0.125 * i
            msg.payload_bytes = int(payload.nbytes)
            pub.publish(msg)
            emit({"seq": i, "len": int(payload.nbytes),
                  "sha256": hashlib.sha256(payload.tobytes()).hexdigest()})
            rclpy.spin_once(node, timeout_sec=0.05)
        # Stay up until the subscriber has left (it exits after COUNT messages).
        while pub.get_subscription_count() > 0 and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        node.destroy_node()
        rclpy.shutdown()
    return 0


def main(argv: list[str]) -> int:
    mode, topic = argv[1], argv[2]
    if mode == "sub":
        return run_sub(topic, int(argv[3]), float(argv[4]))
    if mode == "pub":
        return run_pub(topic, int(argv[3]), int(argv[4]), float(argv[5]))
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
