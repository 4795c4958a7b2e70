"""scissor_msgs: the .msg definitions, and the package built into .venv by `make`.

- pure: every .msg parses (rosbags), has the agreed fields, a comment per field and a
  std_msgs/Header first where stamped;
- built package: importable without sourcing anything, classes match the .msg files,
  CDR from rclpy decodes with rosbags;
- integration: a publisher and a subscriber process exchange FeatureMaps with 4 MB
  numpy payloads over DDS on loopback (own ROS_DOMAIN_ID), intact (length + sha256).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from repo_paths import MSGS_DIR

MSG_DIR = MSGS_DIR / "msg"
HELPER = Path(__file__).resolve().with_name("msgs_pubsub_helper.py")

H = "std_msgs/Header"
# The agreed interface: name -> [(type, field), ...] in order.
EXPECTED = {
    "Tensor": [
        ("string", "name"), ("string", "dtype"), ("uint32[]", "shape"), ("string", "encoding"),
        ("string", "compression"), ("float32[]", "scale"), ("int32[]", "zero_point"),
        ("uint8[]", "data"),
    ],
    "FeatureMap": [
        (H, "header"), ("uint64", "seq"), ("string", "model"), ("string", "split"),
        ("string", "codec"), ("uint8[]", "payload"), ("Tensor[]", "tensors"),
        ("float64", "local_wait"), ("float64", "local_compute"), ("float64", "offload_wait"),
        ("float64", "transmit"), ("uint64", "payload_bytes"), ("uint32", "frame_width"), ("uint32", "frame_height"),
    ],
    "SplitDecision": [
        (H, "header"), ("uint64", "seq"), ("string", "split"), ("string", "policy"),
        ("string[]", "candidates"), ("float32[]", "probabilities"), ("bool", "fallback"),
    ],
    "QueueState": [
        (H, "header"), ("uint64", "seq"), ("uint32", "local_queue"), ("uint32", "offload_queue"),
        ("float64", "bandwidth_estimate"), ("float64", "pending_work"),
        ("float64", "pending_bytes"), ("float64", "device_backlog"), ("float64", "inflight_bytes"),
        ("float64", "offload_bytes"), ("uint32", "edge_frames"), ("float64", "edge_work"), ("string[]", "candidates"),
    ],
    "LinkState": [
        (H, "header"), ("float64", "bandwidth_estimate"), ("float64", "rtt"),
        ("float64", "shaped_rate"),
    ],
    "Detection": [
        ("int32", "class_id"), ("string", "class_name"), ("float32", "score"),
        ("float32", "x1"), ("float32", "y1"), ("float32", "x2"), ("float32", "y2"),
    ],
    "InferenceResult": [
        (H, "header"), ("uint64", "seq"), ("string", "model"), ("string", "split"),
        ("Detection[]", "detections"), ("int32[]", "topk_classes"), ("float32[]", "topk_scores"),
        ("float64", "decode_time"), ("float64", "edge_compute"), ("float64", "edge_wait"),
        ("string", "error"),
    ],
    "FeatureReceipt": [
        (H, "header"), ("uint64", "seq"), ("string", "model"), ("uint64", "payload_bytes"), ("uint32", "edge_queue"),
    ],
    "FrameOutcome": [
        (H, "header"), ("uint64", "seq"), ("string", "model"), ("string", "split"),
        ("string", "codec"), ("string", "policy"), ("bool", "completed"),
        ("string", "drop_reason"), ("string", "drop_place"), ("bool", "fallback_decision"),
        ("uint64", "bytes_sent"), ("float64", "local_wait"), ("float64", "local_compute"),
        ("float64", "offload_wait"), ("float64", "transmit"), ("float64", "edge_wait"), ("float64", "edge_compute"),
        ("float64", "total_delay"), ("float64", "reward"),
    ],
}
UNSTAMPED = {"Tensor", "Detection"}


def _field_lines(name: str) -> list[str]:
    lines = []
    for raw in (MSG_DIR / f"{name}.msg").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def test_msg_files_are_exactly_the_agreed_set():
    assert sorted(p.stem for p in MSG_DIR.glob("*.msg")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_msg_file_fields_header_and_comments(name):
    fields = []
    for line in _field_lines(name):
        decl, sep, comment = line.partition("#")
        assert sep and comment.strip(), f"{name}.msg: field without a comment: {line!r}"
        ftype, fname = decl.split()
        fields.append((ftype, fname))
    assert fields == EXPECTED[name]
    if name in UNSTAMPED:
        assert all(ftype != H for ftype, _ in fields)
    else:
        assert fields[0] == (H, "header"), f"{name}.msg: stamped message must start with a header"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_msg_file_parses_with_rosbags(name):
    from rosbags.typesys import get_types_from_msg

    full = f"scissor_msgs/msg/{name}"
    types = get_types_from_msg((MSG_DIR / f"{name}.msg").read_text(), full)
    consts, fields = types[full]
    assert consts == []
    assert [f for f, _ in fields] == [f for _, f in EXPECTED[name]]
    if name not in UNSTAMPED:
        assert fields[0][1][1] == "std_msgs/msg/Header"


def _rosbags_typestore():
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for name in EXPECTED:
        types.update(get_types_from_msg((MSG_DIR / f"{name}.msg").read_text(), f"scissor_msgs/msg/{name}"))
    store.register(types)
    return store


def test_built_package_is_importable_without_sourcing():
    """A fresh interpreter of the venv, with no ROS variables at all, can import and use it."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AMENT_", "COLCON_", "ROS_", "_ROS_WHEELS", "CMAKE_PREFIX"))
           and k not in ("LD_LIBRARY_PATH", "PYTHONPATH")}
    code = (
        "import rclpy.serialization as s, scissor_msgs.msg as m, numpy as np;"
        "f = m.FeatureMap(); f.payload = np.arange(10, dtype=np.uint8);"
        "b = s.serialize_message(f); g = s.deserialize_message(b, m.FeatureMap);"
        "assert bytes(g.payload) == bytes(range(10)); print('ok', m.__file__)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok ")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_built_classes_match_msg_files(name):
    import scissor_msgs.msg as msgs

    cls = getattr(msgs, name)
    assert list(cls.get_fields_and_field_types()) == [f for _, f in EXPECTED[name]], (
        f"scissor_msgs in the venv is stale: re-run make ({cls.__module__})")


def test_rclpy_cdr_decodes_with_rosbags():
    from rclpy.serialization import serialize_message

    from scissor_msgs.msg import Detection, FrameOutcome, InferenceResult

    store = _rosbags_typestore()
    res = InferenceResult()
    res.header.frame_id = "camera"
    res.header.stamp.sec = 12
    res.seq = 7
    res.model = "ssd"
    det = Detection()
    det.class_id, det.class_name, det.score = 3, "car", 0.75
    det.x1, det.y1, det.x2, det.y2 = 1.0, 2.0, 30.5, 40.25
    res.detections = [det]
    res.topk_classes = np.array([3, 1], dtype=np.int32)
    res.topk_scores = np.array([0.75, 0.125], dtype=np.float32)
    res.edge_compute = 0.5
    got = store.deserialize_cdr(serialize_message(res), "scissor_msgs/msg/InferenceResult")
    assert got.header.stamp.sec == 12 and got.header.frame_id == "camera" and got.seq == 7
    assert got.detections[0].class_name == "car" and got.detections[0].y2 == 40.25
    assert list(got.topk_classes) == [3, 1] and got.edge_compute == 0.5

    out = FrameOutcome()
    out.completed, out.drop_reason, out.drop_place = False, "offload_timeout", "offload"
    out.bytes_sent, out.total_delay, out.reward = 123456, 1.5, -1.0
    got = store.deserialize_cdr(serialize_message(out), "scissor_msgs/msg/FrameOutcome")
    assert (got.completed, got.drop_reason, got.drop_place) == (False, "offload_timeout", "offload")
    assert (got.bytes_sent, got.total_delay, got.reward) == (123456, 1.5, -1.0)


def _domain_id() -> int:
    # 1..100, from the pid (distinct for test runs alive at the same time on this machine,
    # up to pid collisions mod 100); the topic name is unique as well.
    return 1 + os.getpid() % 100


@pytest.mark.timeout(60)
def test_feature_map_4mb_pubsub_over_dds():
    count, size = 3, 4 * 1024 * 1024
    topic = f"/scissor_test/feature_map_{uuid.uuid4().hex[:12]}"
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(_domain_id()), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               PYTHONUNBUFFERED="1")
    env.pop("ROS_LOCALHOST_ONLY", None)
    sub = subprocess.Popen([sys.executable, str(HELPER), "sub", topic, str(count), "40"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pub = None
    try:
        ready = sub.stdout.readline()
        assert json.loads(ready or "{}").get("ready"), f"subscriber not ready: {ready!r} {sub.stderr.read()}"
        pub = subprocess.Popen([sys.executable, str(HELPER), "pub", topic, str(count), str(size), "40"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sub_out, sub_err = sub.communicate(timeout=45)
        pub_out, pub_err = pub.communicate(timeout=15)
    finally:
        for proc in (sub, pub):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    assert sub.returncode == 0, f"subscriber rc={sub.returncode}\n{sub_out}\n{sub_err}\npub:\n{pub_err}"
    assert pub.returncode == 0, f"publisher rc={pub.returncode}\n{pub_out}\n{pub_err}"

    sent = {m["seq"]: m for m in map(json.loads, pub_out.splitlines())}
    got = {m["seq"]: m for m in map(json.loads, sub_out.splitlines())}
    assert sorted(sent) == sorted(got) == list(range(count))
    for seq in range(count):
        assert got[seq]["len"] == sent[seq]["len"] == size
        assert got[seq]["sha256"] == sent[seq]["sha256"]
        assert got[seq]["payload_bytes"] == size
        assert (got[seq]["model"], got[seq]["split"], got[seq]["codec"]) == ("alexnet", "features.5", "int8+zstd")
        assert got[seq]["frame_id"] == "camera" and got[seq]["stamp"][0] > 0
        assert got[seq]["tensors"] == [["features.5", "float32", [1, 192, 13, 13], "int8", "zstd", [0.5], [3]]]
        assert got[seq]["transmit"] == 0.125 * seq
    assert len({m["sha256"] for m in got.values()}) == count  # distinct payloads, not one repeated
