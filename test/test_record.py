"""`scissor testbed --record`: a real testbed run written to a rosbag2 (MCAP and sqlite3) by the in-process
recorder, read back with rosbags, and replayed with `scissor replay`."""
from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from scissor_bringup.launcher import Launcher
from scissor_bringup.recorder import CAMERA, FEATURES_METADATA, RECORDED, Recorder, RecordError, check_new_bag
from scissor_bringup.testbed import reliable_camera
from scissor_bringup.testbed_run import run_testbed
from scissor_cli.main import main
from scissor_core.sources.bags import BagSource
from scissor_core.sources.imaging import parse_frame_id
from scissor_core.sources.scene import TrafficScene
from scissor_msgs.msg import LinkState, QueueState
from scissor_ros import cdr
from scissor_ros.topics import publisher
from sensor_msgs.msg import Image

from ros_graph import graph_node

FRAMES = 10
SEED = 5
TOPICS = {"/" + (t.bag_topic or t.topic): t.msgtype for t in RECORDED}
"""The bag's topics (no namespace) and their types."""


def write_config(tmp_path: Path) -> str:
    """AlexNet; the camera (FRAMES frames of a known scene) starts once the device reads (the annotator
    does not count), so that every frame it publishes is read (the recorder adds itself
    to that count)."""
    data = {"model": {"name": "alexnet"},
            "camera": {"source": "scene", "interval": 0.12, "seed": SEED, "max_frames": FRAMES,
                       "wait_for_subscribers": 1},
            "agent": {"policy": "round-robin"}}
    path = tmp_path / "testbed.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def read_bag(bag: Path) -> dict[str, list[tuple[int, object]]]:
    """Topic -> [(receive time, message)], deserialized with the scissor typestore."""
    store = cdr.typestore()
    messages: dict[str, list[tuple[int, object]]] = defaultdict(list)
    with Reader(bag) as reader:
        assert {c.topic: c.msgtype for c in reader.connections} == TOPICS
        for connection, stamp, raw in reader.messages():
            messages[connection.topic].append((stamp, store.deserialize_cdr(raw, connection.msgtype)))
    return messages


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_a_recorded_run_holds_every_topic_and_replays(tmp_path, domain, storage, capsys):
    config_file = write_config(tmp_path)
    bag = tmp_path / "bag"
    started = time.time_ns()
    # Reliable camera -> device: a best-effort first frame can be lost while the device's side of the
    # match completes, and this test counts every frame.
    run = run_testbed(config_file, 90, tmp_path / "run", record=bag, storage=storage, stop_after_outcomes=FRAMES,
                      extra=reliable_camera())
    ended = time.time_ns()
    out = capsys.readouterr().out
    assert all(code in (0, -2) for code in run.exit_codes.values()), f"{run.exit_codes}\n{run.summary}"
    assert (bag / "metadata.yaml").is_file()  # closed cleanly
    assert len(run.outcomes) == FRAMES, out[-3000:]

    messages = read_bag(bag)
    counts = {topic: len(msgs) for topic, msgs in messages.items()}
    assert run.bag == bag.resolve() and run.bag_topics == {t: (TOPICS[t], counts.get(t, 0)) for t in TOPICS}
    assert f"rosbag2 recording ({storage}): {bag.resolve()}" in run.summary
    assert "| /scissor/frame_outcome | scissor_msgs/msg/FrameOutcome | 10 |" in run.summary
    assert all(started <= stamp <= ended for msgs in messages.values() for stamp, _ in msgs)  # receive times

    # One FrameOutcome message per row of outcomes.csv, the same frames.
    outcome_msgs = [m for _, m in messages["/scissor/frame_outcome"]]
    assert sorted((m.seq, m.split, m.completed) for m in outcome_msgs) == \
        sorted((o.seq, o.split, o.completed) for o in run.outcomes)
    # The camera's frames are the frames the device read, pixel for pixel the camera's scene.
    images = [m for _, m in messages["/camera/image_raw"]]
    assert [parse_frame_id(m.header.frame_id)[1] for m in images] == list(range(FRAMES))
    assert sorted(o.seq for o in run.outcomes) == list(range(FRAMES))
    assert f"read {FRAMES} frames, recorded {FRAMES} outcomes" in out
    assert f"frames read by the device: {FRAMES}; outcomes recorded: {FRAMES}; duplicates: 0" in run.summary
    source = BagSource(bag)
    try:
        assert source.connection.topic == "/camera/image_raw"
        scene = TrafficScene(seed=SEED)
        for seq in range(FRAMES):
            assert np.array_equal(source.read(), scene.frame(seq))
        assert source.read() is None
    finally:
        source.close()

    # Every frame's state and decision; feature maps without their payload but with its size.
    assert sorted(m.seq for _, m in messages["/scissor/queue_state"]) == list(range(FRAMES))
    assert {m.seq for _, m in messages["/scissor/split_decision"]} <= set(range(FRAMES))
    features = [m for _, m in messages["/" + FEATURES_METADATA]]
    offloaded = {o.seq for o in run.outcomes if o.completed and o.split != "last"}
    assert offloaded and offloaded <= {f.seq for f in features}
    assert all(len(f.payload) == 0 and f.payload_bytes > 0 and all(len(t.data) == 0 for t in f.tensors)
               for f in features)
    results = {m.seq: m for _, m in messages["/scissor/result"]}
    assert offloaded <= set(results) and all(results[s].error == "" for s in offloaded)
    assert counts["/scissor/link_state"] >= 1

    # The bag describes its own types: rosbags reads it with no type registered beforehand.
    with AnyReader([bag], default_typestore=get_typestore(Stores.EMPTY)) as reader:
        assert sum(1 for _ in reader.messages()) == sum(counts.values())
        connection = next(c for c in reader.connections if c.topic == "/" + FEATURES_METADATA)
        last = None
        for conn, _, raw in reader.messages(connections=[connection]):
            last = reader.deserialize(raw, conn.msgtype)
        assert last is not None and last.payload_bytes > 0

    if storage == "mcap":  # `scissor replay` of the recording picks its one image topic and runs every frame
        code = main(["replay", str(bag), "--config", config_file, "--output", str(tmp_path / "replay"),
                     "--duration", "90"])
        out = capsys.readouterr().out
        assert code == 0, out[-3000:]
        assert f"replaying rosbag2 {bag.resolve()} topic /camera/image_raw (Image, {FRAMES} frames)" in out
        assert f"read {FRAMES} frames, recorded {FRAMES} outcomes" in out
    assert f"frames read by the device: {FRAMES}; outcomes recorded: {FRAMES}; duplicates: 0" in run.summary


def test_the_camera_is_recorded_only_once_every_awaited_topic_is_heard(tmp_path, domain):
    """The camera's first frame waits for the recorder's camera reader; that reader comes only once every topic
    the run will publish has a publisher heard, with no time limit (a lost frame-0 QueueState in CI)."""
    recorder = Recorder(tmp_path / "bag", "mcap", awaited=frozenset({CAMERA, "scissor/link_state",
                                                                      "scissor/queue_state"}))
    with graph_node("robot", domain) as robot:
        camera = publisher(robot.node, Image, CAMERA)
        link_state = publisher(robot.node, LinkState, "scissor/link_state")
        recorder.start()
        try:
            robot.spin_until(lambda: link_state.get_subscription_count() == 1, 60, "the recorder's link_state reader")
            robot.spin_for(2.0)  # a recorder that ignored the unheard QueueState would read the camera by now
            assert camera.get_subscription_count() == 0
            publisher(robot.node, QueueState, "scissor/queue_state")
            robot.spin_until(lambda: camera.get_subscription_count() == 1, 60, "the recorder's camera reader")
        finally:
            recorder.stop(limit=1.0)
    with pytest.raises(RecordError, match="scissor/nothing is not a recorded topic"):
        Recorder(tmp_path / "other", "mcap", awaited=frozenset({"scissor/nothing"}))


def test_recording_to_an_existing_folder_fails_before_any_node_starts(tmp_path, monkeypatch, capsys):
    def no_nodes(self):
        raise AssertionError("a node was started")

    monkeypatch.setattr(Launcher, "start", no_nodes)
    config_file = write_config(tmp_path)
    existing = tmp_path / "bag"
    existing.mkdir()
    for target in (existing, tmp_path / "testbed.yaml"):
        code = main(["testbed", "--config", config_file, "--record", str(target), "--output",
                     str(tmp_path / "run")])
        err = capsys.readouterr().err
        assert code == 2
        assert f"cannot record to {target.resolve()}: it exists already" in err
    assert not (tmp_path / "run").exists()
    assert list(existing.iterdir()) == []
    with pytest.raises(RecordError, match="unknown rosbag2 storage 'zip'"):
        check_new_bag(tmp_path / "new", "zip")
