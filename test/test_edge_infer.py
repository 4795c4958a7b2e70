"""EdgeNode.infer in-process (no DDS traffic): YOLOv3 detections through the edge equal the local ones."""
from __future__ import annotations

import numpy as np
import pytest
import rclpy
from rclpy.context import Context
from rclpy.parameter import Parameter

from conftest import small_config
from scissor_bringup import cdr
from scissor_core.codec import CodecSpec
from scissor_core.models.registry import load_model
from scissor_edge.edge_node import EdgeNode, InputError, fill_result
from scissor_msgs.msg import InferenceResult


@pytest.fixture(scope="module")
def yolo_edge():
    context = Context()
    rclpy.init(context=context)
    overrides = [Parameter("model.name", value="yolov3"), Parameter("model.input_size", value=128),
                 Parameter("model.candidates", value=["0", "4", "8", "last"]), Parameter("model.conf_threshold", value=0.0),
                 Parameter("edge.annotate", value=False)]
    node = EdgeNode(context=context, parameter_overrides=overrides)
    yield node
    node.destroy_node()
    rclpy.shutdown(context=context)


def test_yolov3_detections_through_the_edge_equal_local(yolo_edge, traffic_frame):
    config = small_config("yolov3", 128)
    config.model.candidates, config.model.conf_threshold = ["0", "4", "8", "last"], 0.0
    model = load_model(config)
    x, meta = model.preprocess(traffic_frame)
    reference = model.postprocess(model.splitter.run_full(x), meta).detections
    assert reference, "the random-init model should still produce boxes at threshold 0"
    for split in model.candidates:
        blob = model.encode_split(split, model.splitter.run_device(x, split), CodecSpec())
        msg = cdr.message(cdr.FEATURE_MAP, model="yolov3", split=split, payload=np.frombuffer(blob, np.uint8),
                          payload_bytes=len(blob))
        prediction, decode_time, compute_time = yolo_edge.infer(msg, traffic_frame)
        assert prediction.detections == reference, split
        assert decode_time > 0 and compute_time >= 0
    result = InferenceResult()
    fill_result(result, prediction, model.class_names)
    assert [d.class_name for d in result.detections] == [model.class_names[d.class_id] for d in reference]
    assert result.detections[0].x2 == pytest.approx(reference[0].box[2])


def test_edge_infer_names_the_field(yolo_edge):
    msg = cdr.message(cdr.FEATURE_MAP, model="yolov3", split="4", payload=np.zeros(3, np.uint8), payload_bytes=3)
    with pytest.raises(InputError, match="^payload: ") as info:
        yolo_edge.infer(msg, None)
    assert info.value.field == "payload"
