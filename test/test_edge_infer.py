"""EdgeRuntime without ROS: YOLOv3 detections through the edge equal the local ones; bad payloads name their
field; the serving queue serves one frame at a time by default and its length is observable."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from scissor_core.models.registry import load_model
from scissor_core.runtime.edge import EdgeError, EdgeRuntime
from scissor_core.runtime.queues import EdgeQueue
from scissor_core.runtime.records import FeaturePayload
from scissor_core.wire.codec import CodecSpec

from conftest import ManualClock, small_config, wait_for


@pytest.fixture(scope="module")
def yolo():
    config = small_config("yolov3", 128)
    config.model.candidates, config.model.conf_threshold = ["0", "4", "8", "last"], 0.0
    return load_model(config)


FRAME_SIZE = {"frame_width": 640, "frame_height": 480}
"""The size of the scene's frames, as the device sends it."""


def payload_of(model, split, blob, seq=0, **fields):
    return FeaturePayload(seq, 0, "camera", model.name, split, "raw", blob, len(blob), **{**FRAME_SIZE, **fields})


def test_yolov3_detections_through_the_edge_equal_local(yolo, traffic_frame):
    edge = EdgeRuntime(yolo, emit=lambda served: None)
    x, meta = yolo.preprocess(traffic_frame)
    reference = yolo.postprocess(yolo.splitter.run_full(x), meta).detections
    assert reference, "the random-init model should still produce boxes at threshold 0"
    for split in yolo.candidates:
        blob = yolo.encode_split(split, yolo.splitter.run_device(x, split), CodecSpec())
        served = edge.process(payload_of(yolo, split, blob))
        assert not served.result.error and served.prediction.detections == reference, split
        assert served.result.decode_time > 0 and served.result.edge_compute >= 0
    detections = served.result.detections
    assert [d.class_name for d in detections] == [yolo.class_names[d.class_id] for d in reference]
    assert detections[0].x2 == pytest.approx(reference[0].box[2])


def test_boxes_are_mapped_to_the_frame_size_the_payload_carries(yolo, traffic_frame):
    """The edge needs nothing but the feature map: the frame's size travels in it. Half the size, half the box."""
    edge = EdgeRuntime(yolo, emit=lambda served: None)
    x, _ = yolo.preprocess(traffic_frame)
    blob = yolo.encode_split("4", yolo.splitter.run_device(x, "4"), CodecSpec())
    full = edge.process(payload_of(yolo, "4", blob)).result.detections
    half = edge.process(payload_of(yolo, "4", blob, frame_width=320, frame_height=240)).result.detections
    assert full and [d.x2 for d in half] == pytest.approx([d.x2 / 2 for d in full], rel=1e-5, abs=1e-3)


@pytest.mark.parametrize(("change", "field"), [
    ({"model": "alexnet"}, "model"), ({"payload_bytes": 4}, "payload_bytes"), ({"split": "nope"}, "split"),
    ({"payload": b"\x00\x01\x02"}, "payload"), ({"frame_width": 0}, "frame_width")])
def test_a_bad_payload_gets_one_error_result_naming_the_field(yolo, traffic_frame, change, field):
    x, _ = yolo.preprocess(traffic_frame)
    blob = yolo.encode_split("4", yolo.splitter.run_device(x, "4"), CodecSpec())
    payload = payload_of(yolo, "4", blob)
    for key, value in change.items():
        setattr(payload, key, value)
    if "payload" in change:
        payload.payload_bytes = len(change["payload"])
    edge = EdgeRuntime(yolo, emit=lambda served: None)
    with pytest.raises(EdgeError) as info:
        edge.infer(payload)
    assert info.value.field == field and str(info.value).startswith(f"{field}: ")
    served = edge.process(payload)
    assert served.result.error.startswith(f"{field}: ") and served.prediction is None


def test_nan_in_a_tensor_is_refused(yolo, traffic_frame):
    x, _ = yolo.preprocess(traffic_frame)
    tensors = yolo.splitter.run_device(x, "4")
    name = next(iter(tensors))
    tensors[name] = tensors[name].clone()
    tensors[name][0, 0, 0, 0] = float("nan")
    blob = yolo.encode_split("4", tensors, CodecSpec())
    served = EdgeRuntime(yolo, emit=lambda s: None).process(payload_of(yolo, "4", blob))
    assert served.result.error == f"payload: tensor {name!r} contains NaN or Inf"


def test_the_edge_queue_is_fifo_with_capacity_and_measures_the_wait():
    queue = EdgeQueue(capacity=1)
    queue.arrive("a", 0.0)
    queue.arrive("b", 0.5)
    assert queue.start(1.0) == ("a", 1.0) and queue.start(1.0) is None  # one at a time
    assert queue.length == 1 and queue.in_service == 1
    queue.finish()
    assert queue.start(2.0) == ("b", 1.5) and queue.length == 0
    with pytest.raises(ValueError):
        EdgeQueue(capacity=0)
    two = EdgeQueue(capacity=2)
    for item in "xyz":
        two.arrive(item, 0.0)
    assert [two.start(0.0)[0], two.start(0.0)[0], two.start(0.0)] == ["x", "y", None]


def test_the_runtime_serves_one_payload_at_a_time_and_reports_the_queue(yolo, traffic_frame):
    """While the first payload is in service (its consumer blocks), the others wait in the queue: the
    queue length says so, and each result's edge_wait includes its time in the queue."""
    release, served = threading.Event(), []
    clock = ManualClock()

    def emit(s):
        served.append(s)
        if len(served) == 1:
            release.wait()

    edge = EdgeRuntime(yolo, emit=emit, clock=clock)
    x, _ = yolo.preprocess(traffic_frame)
    blob = yolo.encode_split("8", yolo.splitter.run_device(x, "8"), CodecSpec())
    edge.start()
    try:
        for seq in range(3):
            receipt = edge.accept(payload_of(yolo, "8", blob, seq=seq))
            assert (receipt.seq, receipt.payload_bytes) == (seq, len(blob))
        assert wait_for(lambda: len(served) == 1)
        assert edge.queue_length == 2
        clock.advance(0.5)
        release.set()
        assert wait_for(lambda: len(served) == 3)
    finally:
        assert edge.stop() == 0
    assert [s.result.seq for s in served] == [0, 1, 2]
    assert served[0].result.edge_wait == pytest.approx(0.0)
    assert served[1].result.edge_wait == pytest.approx(0.5) and served[2].result.edge_wait == pytest.approx(0.5)
    assert all(np.isfinite(s.result.edge_compute) and not s.result.error for s in served)
