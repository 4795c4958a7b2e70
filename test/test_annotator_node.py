"""annotator_node over real DDS: each result drawn on its own camera frame (by capture stamp), a canvas
for a result whose frame it does not hold, the result's header kept; and the drawing itself."""
from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import Image

from scissor_core.runtime.annotation import CANVAS_GRAY, draw_result, result_lines
from scissor_core.runtime.records import EdgeResult, ResultDetection
from scissor_core.sources.scene import TrafficScene
from scissor_msgs.msg import InferenceResult
from scissor_ros.images import bgr_to_image, image_to_bgr
from scissor_ros.messages import RESULT, to_message
from scissor_ros.topics import publisher, qos

from ros_graph import graph_node, node_process, stop, unique_domain_id

CAR = ResultDetection(2, "car", 0.9, 100.0, 120.0, 220.0, 200.0)


def result(seq: int, stamp_ns: int, **fields) -> EdgeResult:
    return EdgeResult(seq, stamp_ns, "camera", "yolov3", "8", **fields)


def test_a_result_is_drawn_on_its_frame_or_on_a_canvas():
    frame = TrafficScene(seed=2).frame(0)
    drawn = draw_result(result(1, 5, detections=(CAR,)), frame)
    assert drawn.shape == frame.shape and not np.array_equal(drawn, frame)
    np.testing.assert_array_equal(drawn[400:, 400:], frame[400:, 400:])  # away from the box and the text
    canvas = draw_result(result(1, 5, error="payload: bad"), None, (320, 240))
    assert canvas.shape == (240, 320, 3) and (canvas[200:, 200:] == CANVAS_GRAY).all()
    topk = result(3, 5, topk_classes=(1, 7), topk_scores=(0.5, 0.25))
    assert result_lines(topk, ["cat", "dog"]) == ["seq 3 split 8", "dog 0.50", "7 0.25"]
    assert result_lines(result(4, 5, error="payload: bad")) == ["seq 4 split 8 ERROR payload: bad"]


@pytest.mark.timeout(120)
def test_the_annotator_draws_each_result_on_its_camera_frame():
    frame = TrafficScene(seed=4).frame(3)
    domain = unique_domain_id()
    annotated: dict[int, Image] = {}
    # Reliable images both ways: best effort lost 921 kB images often enough on a loaded machine that the
    # loop below once ran out of tries (it still retries: a result can still come before its frame).
    with graph_node("annotator_test", domain) as t:
        camera = t.node.create_publisher(Image, "camera/image_raw", qos("reliable"))
        results = publisher(t.node, InferenceResult, "scissor/result")
        t.node.create_subscription(Image, "scissor/annotated",
                                   lambda m: annotated.setdefault(m.header.stamp.nanosec, m), qos("reliable"))
        with node_process("scissor_device.annotator_node", domain, "-p", "model.name:=yolov3",
                          "-p", "qos_overrides./camera/image_raw.subscription.reliability:=reliable",
                          "-p", "qos_overrides./scissor/annotated.publisher.reliability:=reliable") as node:
            t.spin_until(lambda: results.get_subscription_count() > 0 and camera.get_subscription_count() > 0,
                         60, "the annotator to subscribe")
            for _ in range(100):  # a result whose frame it never had: a canvas
                results.publish(to_message(RESULT, result(1, 1)))
                t.spin_for(0.2)
                if 1 in annotated:
                    break
            image = bgr_to_image(frame)
            image.header.stamp.sec, image.header.stamp.nanosec, image.header.frame_id = 0, 2, "camera#2"
            for _ in range(100):  # until one frame is kept and its result drawn on it
                camera.publish(image)
                t.spin_for(0.1)
                results.publish(to_message(RESULT, result(2, 2, detections=(CAR,)), frame_id="camera#2"))
                t.spin_for(0.2)
                if 2 in annotated and not (image_to_bgr(annotated[2])[400:, 400:] == CANVAS_GRAY).all():
                    break
                annotated.pop(2, None)
            assert node.poll() is None, "the annotator died"
            code, output = stop(node)
    assert code == 0, output
    assert (image_to_bgr(annotated[1]) == CANVAS_GRAY).sum() > 0.9 * 640 * 480 * 3
    drawn = image_to_bgr(annotated[2])
    assert annotated[2].header.frame_id == "camera#2"
    np.testing.assert_array_equal(drawn, draw_result(result(2, 2, detections=(CAR,)), frame))


def test_the_annotators_files_give_the_summary_contact_sheet_and_video(tmp_path):
    """What the testbed reads back: a results.jsonl line and an image per result; a cut-off last line skipped."""
    from scissor_core.analysis.annotated_run import AnnotatedRun
    from scissor_core.runtime.annotation import RESULTS_FILE, AnnotatedLog

    log = AnnotatedLog(tmp_path)
    frame = TrafficScene(seed=2).frame(0)
    for seq in range(3):  # stamps 0.5 s apart: a camera at 2 frames/s
        log.add(result(seq, seq * 500_000_000, detections=(CAR,) if seq else ()), draw_result(result(seq, seq), frame),
                True)
    log.close()
    with (tmp_path / RESULTS_FILE).open("a") as f:
        f.write('{"seq": 3, "spl')  # a stop mid-write
    run = AnnotatedRun.read(tmp_path)
    assert run.drawn() == [0, 1, 2]
    assert "annotated results: 3 (3 drawn on their own frame" in run.summary()
    assert "detections per frame: mean 0.67, max 1" in run.summary() and "classes seen: car x2" in run.summary()
    assert run.contact_sheet(tmp_path / "sheet.png").stat().st_size > 10_000
    assert run.camera_fps() == pytest.approx(2.0)  # the video's rate, whatever camera.interval said
    assert run.video(tmp_path / "run.mp4", 2.0).stat().st_size > 1_000
    assert AnnotatedRun(tmp_path, {0: run.records[0]}).camera_fps() is None  # one frame: no rate to measure
