"""Camera input as a robot has it, over real DDS: a driver's sensor_msgs/CompressedImage on its own topic
(remapped), its own optical frame_id and stamps; the device numbers the frames itself and keeps the
driver's header through the edge's result, and the annotator draws each result on its frame."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from scissor_core.runtime.annotation import CANVAS_GRAY
from scissor_core.sources.scene import TrafficScene
from scissor_msgs.msg import FrameOutcome as FrameOutcomeMsg
from scissor_msgs.msg import InferenceResult
from scissor_ros.images import image_to_bgr
from scissor_ros.topics import qos
from scissor_ros.vision import VISION_TOPICS, Classification, Detection2DArray

from ros_graph import graph_node, node_process, stop, unique_domain_id

VISION_TYPES = ({"detection": Detection2DArray, "classification": Classification}
                if Detection2DArray is not None else {})
"""The vision_msgs types the edge publishes (none without vision_msgs: it then publishes scissor/result only)."""

FRAMES = 6
PERIOD = 0.3
TOPIC = "front/image_raw/compressed"
OPTICAL_FRAME = "front_camera_optical_frame"
RELIABLE_INPUT = f"qos_overrides./{TOPIC}.subscription.reliability:=reliable"
"""Best effort is the sensor-data default; a reliable reader is one parameter away (the test counts frames)."""


def driver_frame(seq: int) -> CompressedImage:
    ok, jpeg = cv2.imencode(".jpg", TrafficScene(seed=6).frame(seq), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    msg = CompressedImage(format="jpeg", data=jpeg.tobytes())
    msg.header.frame_id = OPTICAL_FRAME
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp(seq)
    return msg


def stamp(seq: int) -> tuple[int, int]:
    """The driver's capture stamp of frame ``seq``: one every PERIOD seconds, as it publishes them."""
    ns = 1_700_000_000 * 10**9 + int(seq * PERIOD * 1e9) + 123
    return ns // 10**9, ns % 10**9


@pytest.mark.timeout(300)
@pytest.mark.parametrize("model", ["alexnet", "yolov3"])
def test_a_compressed_driver_topic_runs_through_device_edge_and_annotator(tmp_path, model):
    """Also, with vision_msgs, the edge's Detection2DArray (yolov3) or Classification (alexnet) carry the
    driver's header."""
    domain = unique_domain_id()
    results: dict[int, InferenceResult] = {}
    outcomes: dict[int, FrameOutcomeMsg] = {}
    annotated: dict[tuple[int, int], Image] = {}
    vision: list = []
    # One T for the device and the annotator, long enough for a loaded machine: the annotator keeps a frame
    # for T past the newest stamp, and alexnet's default T (0.5 s) forgets frame 0 once frame 2 is in.
    common = ["-p", f"model.name:={model}", "-p", "model.input_size:=128" if model == "yolov3" else "model.seed:=0",
              "-p", "device.image_transport:=compressed", "-r", f"camera/image_raw/compressed:={TOPIC}",
              "-p", RELIABLE_INPUT, "-p", "queues.timeout:=30.0"]
    with graph_node("driver", domain) as t:
        driver = t.node.create_publisher(CompressedImage, TOPIC, qos("reliable"))
        readers = [  # (this test's subscription, how many writers it waits for before the first frame)
            (t.node.create_subscription(InferenceResult, "scissor/result", lambda m: results.setdefault(m.seq, m),
                                        qos("reliable")), 2),  # the edge's and the device's
            (t.node.create_subscription(FrameOutcomeMsg, "scissor/frame_outcome",
                                        lambda m: outcomes.setdefault(m.seq, m), qos("reliable")), 1),
            (t.node.create_subscription(Image, "scissor/annotated", lambda m: annotated.setdefault(
                (m.header.stamp.sec, m.header.stamp.nanosec), m), qos("reliable")), 1)]
        if VISION_TYPES:
            task = "detection" if model == "yolov3" else "classification"
            readers.append((t.node.create_subscription(VISION_TYPES[task], VISION_TOPICS[task], vision.append,
                                                       qos("reliable")), 1))
        with node_process("scissor_edge.edge_node", domain, *common[:4]) as edge, \
                node_process("scissor_device.device_node", domain, *common, "-p", "device.use_agent:=false",
                             "-p", "device.fallback_policy:=edge-only-jpeg",
                             "-p", f"device.outcome_log:={tmp_path / 'outcomes.csv'}") as device, \
                node_process("scissor_device.annotator_node", domain, *common,
                             "-p", "qos_overrides./scissor/annotated.publisher.reliability:=reliable") as annotator:
            t.spin_until(lambda: driver.get_subscription_count() >= 2, 120, "the device and the annotator to read")
            # ... and this test's own readers have matched the nodes' writers: a message published before its
            # reader matched is never delivered
            t.spin_until(lambda: all(r.get_publisher_count() >= n for r, n in readers), 120,
                         "the test's readers to match the nodes' writers")
            for seq in range(FRAMES):
                driver.publish(driver_frame(seq))
                t.spin_for(PERIOD)
            t.spin_until(lambda: len(outcomes) >= FRAMES and len(annotated) >= FRAMES
                         and len(vision) >= (FRAMES if VISION_TYPES else 0), 120,
                         "an outcome, an annotated image and a vision_msgs result per frame",
                         status=lambda: f"outcomes {sorted(outcomes)}, results {sorted(results)}, "
                                        f"annotated {len(annotated)}, vision {len(vision)}")
            codes = [stop(p)[0] for p in (device, annotator, edge)]
    assert codes == [0, 0, 0]
    assert sorted(outcomes) == list(range(FRAMES)) and all(o.completed for o in outcomes.values())
    for seq, msg in results.items():  # the driver's header, kept end to end
        assert msg.header.frame_id == OPTICAL_FRAME
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == stamp(seq)
    for image in annotated.values():  # drawn on the frame of that stamp, not on a canvas
        pixels = image_to_bgr(image)
        assert image.header.frame_id == OPTICAL_FRAME and np.mean(pixels == CANVAS_GRAY) < 0.5
    assert sorted((m.header.stamp.sec, m.header.stamp.nanosec) for m in vision) == \
        ([stamp(seq) for seq in range(FRAMES)] if VISION_TYPES else [])
    assert all(m.header.frame_id == OPTICAL_FRAME for m in vision)
    if VISION_TYPES and model == "alexnet":
        assert all(len(m.results) == 5 and m.results[0].class_id for m in vision)  # model.topk 5
