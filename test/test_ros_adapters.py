"""scissor_ros: config as ROS parameters, the rosbags CDR path, image messages, the main loop (no DDS traffic)."""
from __future__ import annotations

import array
import os
import subprocess
import sys

import numpy as np
import pytest
import rclpy
from rclpy.context import Context
from rclpy.parameter import Parameter
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from scissor_core.config import ConfigError, ScissorConfig
from scissor_core.sources.imaging import ENCODINGS
from scissor_msgs.msg import FeatureMap
from scissor_ros import cdr
from scissor_ros.images import bgr_to_image, compressed_image_to_bgr, image_to_bgr
from scissor_ros.messages import uint8_array
from scissor_ros.parameters import declare_config
from scissor_ros.process import use_fastdds_profile

from ros_graph import ros_env, unique_domain_id


@pytest.fixture
def make_node():
    context = Context()
    rclpy.init(context=context)
    nodes = []

    def make(*overrides: tuple[str, object]):
        node = rclpy.create_node("params_test", context=context,
                                 parameter_overrides=[Parameter(k, value=v) for k, v in overrides])
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.destroy_node()
    rclpy.shutdown(context=context)


def test_declare_config_defaults_overrides_and_descriptors(make_node):
    node = make_node(("camera.seed", 7), ("camera.interval", 0.25), ("model.name", "alexnet"))
    config = declare_config(node, {"camera": None, "model": ["name", "input_size", "candidates", "weights"]})
    assert (config.camera.seed, config.camera.interval, config.model.name) == (7, 0.25, "alexnet")
    assert config.model.input_size is None and config.model.candidates is None and config.model.weights is None
    assert config.camera.frame_id == ScissorConfig().camera.frame_id  # from the YAML default
    descriptor = node.describe_parameter("camera.encoding")
    assert descriptor.read_only and "encoding" in descriptor.description.lower()
    assert "yuv422" in descriptor.additional_constraints
    assert "none" in node.describe_parameter("camera.interval").description
    assert node.get_parameter("camera.interval").value == 0.25
    assert not node.has_parameter("model.extra_candidates")  # mappings stay YAML-only
    assert not node.has_parameter("codec.encoding")  # only the sections asked for


def test_declare_config_maps_empty_values_to_none_and_lists(make_node):
    node = make_node(("camera.interval", 0.0), ("model.candidates", ["0", "conv2", "last"]),
                     ("model.input_size", 0))
    config = declare_config(node, {"camera": ["interval"], "model": ["candidates", "input_size"]})
    assert config.camera.interval is None and config.model.input_size is None
    assert config.model.candidates == ["0", "conv2", "last"]


def test_declare_config_rejects_invalid_values_naming_the_key(make_node):
    with pytest.raises(ConfigError, match=r"camera\.encoding: 'jpeg' is not one of"):
        declare_config(make_node(("camera.encoding", "jpeg")), {"camera": None})
    with pytest.raises(ConfigError, match=r"camera\.max_frames must be non-negative"):
        declare_config(make_node(("camera.max_frames", -1)), {"camera": None})


RACING_NODE = """
import os, signal, sys, time
import rclpy
from rclpy.node import Node
from scissor_ros.process import run
from scissor_msgs.msg import QueueState

class PublishesWhileTerminated(Node):
    def __init__(self):
        super().__init__("publishes_while_terminated")
        self.publisher = self.create_publisher(QueueState, "queue_state", 1)
        self.create_timer(0.01, self.terminated_mid_callback)

    def terminated_mid_callback(self):
        os.kill(os.getpid(), signal.SIGTERM)
        while rclpy.ok():  # rclpy's handler shuts the context down from its own thread
            time.sleep(0.001)
        self.publisher.publish(QueueState())

    def stop(self):
        print("stopped", flush=True)

sys.exit(run(PublishesWhileTerminated, []))
"""


def test_run_treats_a_publish_racing_sigterm_as_the_shutdown(tmp_path):
    """A SIGTERM that lands inside a callback makes its publish fail; the node must still shut down
    cleanly (exit 0, its stop() runs: that is where the device writes its remaining outcomes)."""
    script = tmp_path / "racing_node.py"
    script.write_text(RACING_NODE)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "stopped" in done.stdout, done.stderr[-2000:]


def test_fastdds_profile_only_when_the_environment_chooses_nothing(monkeypatch):
    config = ScissorConfig()
    for var in ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTDDS_BUILTIN_TRANSPORTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    use_fastdds_profile(config)
    assert "FASTDDS_DEFAULT_PROFILES_FILE" not in os.environ
    monkeypatch.delenv("FASTDDS_BUILTIN_TRANSPORTS")
    use_fastdds_profile(config)
    assert os.environ["FASTDDS_DEFAULT_PROFILES_FILE"].endswith("config/fastdds_profile.xml")


def test_uint8_array_is_one_buffer_copy():
    data = np.arange(300, dtype=np.uint16)
    out = uint8_array(data)
    assert isinstance(out, array.array) and out.typecode == "B" and bytes(out) == data.tobytes()


def test_cdr_matches_rclpy_both_ways():
    payload = np.random.default_rng(0).integers(0, 256, 100_003, dtype=np.uint8)
    ours = cdr.message(cdr.FEATURE_MAP, seq=9, model="alexnet", split="conv2", codec="raw", payload=payload,
                       payload_bytes=payload.size, transmit=0.5)
    ours.header.stamp.sec, ours.header.frame_id = 12, "camera"
    raw = cdr.serialize(ours, cdr.FEATURE_MAP)
    theirs = FeatureMap(check_fields=True)
    theirs.seq, theirs.model, theirs.split, theirs.codec = 9, "alexnet", "conv2", "raw"
    theirs.payload, theirs.payload_bytes, theirs.transmit = uint8_array(payload), payload.size, 0.5
    theirs.header.stamp.sec, theirs.header.frame_id = 12, "camera"
    assert len(raw) == len(serialize_message(theirs))  # equal up to padding bytes, which rclpy leaves as is
    assert deserialize_message(raw, FeatureMap) == theirs
    back = cdr.deserialize(serialize_message(theirs), cdr.FEATURE_MAP)
    assert (back.seq, back.split, back.header.frame_id, back.transmit) == (9, "conv2", "camera", 0.5)
    np.testing.assert_array_equal(back.payload, payload)
    view = cdr.deserialize(raw, cdr.FEATURE_MAP).payload
    assert np.shares_memory(view, np.frombuffer(raw, np.uint8))  # a view of the received bytes, not a copy
    with pytest.raises(TypeError, match="no field"):
        cdr.message(cdr.FEATURE_MAP, sequence=1)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_image_messages_survive_serialization(encoding, traffic_frame):
    msg = bgr_to_image(traffic_frame, encoding)
    back = deserialize_message(serialize_message(msg), Image)
    assert (back.encoding, back.height, back.width) == (encoding, *traffic_frame.shape[:2])
    np.testing.assert_array_equal(image_to_bgr(back), image_to_bgr(msg))
    if encoding in ("bgr8", "rgb8", "rgba8", "bgra8"):
        np.testing.assert_array_equal(image_to_bgr(back), traffic_frame)


def test_compressed_image_message(traffic_frame):
    import cv2

    msg = CompressedImage(format="png")
    msg.data = uint8_array(cv2.imencode(".png", traffic_frame)[1])
    back = deserialize_message(serialize_message(msg), CompressedImage)
    np.testing.assert_array_equal(compressed_image_to_bgr(back), traffic_frame)


def test_results_as_vision_msgs_keep_the_camera_header_and_the_boxes():
    from scissor_core.runtime.records import EdgeResult, ResultDetection
    from scissor_ros import vision

    if vision.Detection2DArray is None:
        pytest.skip("no vision_msgs here (a ROS distro's ros-$DISTRO-vision-msgs; make test builds it)")
    header = Header(frame_id="front_camera_optical_frame")
    header.stamp.sec, header.stamp.nanosec = 12, 34
    detections = (ResultDetection(2, "car", 0.9, 100.0, 120.0, 220.0, 200.0), ResultDetection(7, "", 0.6, 0, 0, 10, 4))
    array = vision.vision_message(EdgeResult(3, 0, "", "yolov3", "8", detections=detections), "detection", header,
                                  [])
    assert array.header == header and [d.header for d in array.detections] == [header, header]
    car, other = array.detections
    assert (car.bbox.center.position.x, car.bbox.center.position.y, car.bbox.size_x, car.bbox.size_y) == \
        (160.0, 160.0, 120.0, 80.0)
    assert [(h.hypothesis.class_id, h.hypothesis.score) for h in car.results] == [("car", 0.9)]
    assert other.results[0].hypothesis.class_id == "7"  # no name: the class index
    top = vision.vision_message(EdgeResult(3, 0, "", "alexnet", "0", topk_classes=(1, 5), topk_scores=(0.5, 0.25)),
                                "classification", header, ["cat", "dog"])
    assert top.header == header and [(r.class_id, r.score) for r in top.results] == [("dog", 0.5), ("5", 0.25)]


NODE_FAILING_IN_A_CALLBACK = """
import sys, rclpy
from rclpy.node import Node
from scissor_ros.process import run

class Failing(Node):
    def __init__(self):
        super().__init__("failing")
        self.create_timer(0.05, self.tick)

    def tick(self):
        if sys.argv[1] == "after-shutdown":
            rclpy.try_shutdown()  # what rclpy's SIGINT handler does, here at a known moment
        raise RuntimeError("Unable to convert call argument '0' to Python object")

sys.exit(run(Failing, []))
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("when, exits", [("after-shutdown", 0), ("while-running", 1)])
def test_a_runtime_error_is_the_shutdown_only_once_the_context_is_down(tmp_path, when, exits):
    """An error from a callback or a take racing SIGINT's context shutdown ends the node cleanly (seen once
    from the annotator in CI); the same error while the context is up is a crash."""

    script = tmp_path / "failing_node.py"
    script.write_text(NODE_FAILING_IN_A_CALLBACK)
    done = subprocess.run([sys.executable, str(script), when], env=ros_env(unique_domain_id()),
                          capture_output=True, text=True, timeout=100)
    assert done.returncode == exits, done.stderr
    assert ("Unable to convert" in done.stderr) == (exits != 0)


NODE_HANGING_IN_CLEANUP = """
import sys, threading, rclpy
from rclpy.node import Node
from scissor_ros import process

class Hanging(Node):
    def __init__(self):
        super().__init__("hanging")
        self.done = rclpy.task.Future()
        self.create_timer(0.05, lambda: self.done.set_result(True))

    def stop(self):
        print("work saved", file=sys.stderr, flush=True)
        threading.Event().wait()  # what a cleanup that never returns looks like

process.CLEANUP_LIMIT = float(sys.argv[1])
process.run_and_exit(Hanging, [])
"""


@pytest.mark.timeout(120)
def test_a_node_whose_cleanup_hangs_exits_with_its_stacks(tmp_path):
    """Past CLEANUP_LIMIT after its spin the process prints every thread's stack and exits 0, its work saved,
    instead of waiting for a SIGKILL (a device and an edge hung so in rclpy's cleanup on a loaded machine)."""
    script = tmp_path / "hanging_node.py"
    script.write_text(NODE_HANGING_IN_CLEANUP)
    done = subprocess.run([sys.executable, str(script), "0.5"], env=ros_env(unique_domain_id()),
                          capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr
    assert "work saved" in done.stderr
    assert "did not finish within 0.5 s of the node's stop" in done.stderr
    assert "in stop" in done.stderr  # the stack shows where it hung


NODE_WHOSE_RCLPY_DESTRUCTION_WOULD_HANG = """
import os, sys, rclpy
from rclpy.node import Node
from std_msgs.msg import String
from scissor_ros import process

class Leaving(Node):
    def __init__(self):
        super().__init__("leaving")
        self.done = rclpy.task.Future()
        self.publisher = self.create_publisher(String, "leaving", 1)
        self.create_timer(0.05, lambda: self.done.set_result(True))

    def stop(self):
        print("work saved", file=sys.stderr, flush=True)

    def destroy_node(self):
        os._exit(3)  # stands for rclpy's node destruction that blocks holding the GIL (seen in fresh clones)

process.run_and_exit(Leaving, [])
"""


@pytest.mark.timeout(120)
def test_a_node_process_leaves_without_rclpys_node_destruction(tmp_path):
    """The node's own stop runs and its endpoints go; rclpy's destroy_node (whose handle destruction was seen to
    block for good holding the GIL, out of any watchdog thread's reach) is never called, by run() or by the
    context's shutdown."""
    script = tmp_path / "leaving_node.py"
    script.write_text(NODE_WHOSE_RCLPY_DESTRUCTION_WOULD_HANG)
    done = subprocess.run([sys.executable, str(script)], env=ros_env(unique_domain_id()), capture_output=True,
                          text=True, timeout=100)
    assert done.returncode == 0, done.stderr
    assert "work saved" in done.stderr
