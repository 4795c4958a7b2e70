"""edge_node over real DDS: results at every split equal the unsplit local result; malformed input
yields an error result (naming the field) and the node keeps running; clean Ctrl-C."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from scissor_core.models.registry import load_model
from scissor_core.wire.codec import CodecSpec, encode
from scissor_msgs.msg import FeatureMap, InferenceResult
from scissor_ros.messages import uint8_array
from scissor_ros.topics import publisher, qos

from conftest import small_config
from ros_graph import graph_node, node_process, stop, unique_domain_id

SPLITS = ["0", "conv2", "conv5", "fc1", "last"]


def feature_map(seq: int, split: str, blob: bytes, model: str = "alexnet") -> FeatureMap:
    msg = FeatureMap(check_fields=True)
    msg.seq, msg.model, msg.split, msg.codec = seq, model, split, "raw"
    msg.header.frame_id = "camera"
    msg.header.stamp.sec = 1000 + seq
    msg.payload, msg.payload_bytes = uint8_array(np.frombuffer(blob, np.uint8)), len(blob)
    return msg


@pytest.mark.timeout(120)
def test_edge_results_equal_unsplit_and_survive_malformed_input(traffic_frame):
    model = load_model(small_config("alexnet"))
    x, _ = model.preprocess(traffic_frame)
    reference = model.postprocess(model.splitter.run_full(x)).topk
    blobs = {s: model.encode_split(s, model.splitter.run_device(x, s), CodecSpec()) for s in SPLITS}
    good = [feature_map(i, s, blobs[s]) for i, s in enumerate(SPLITS)]
    bad = {
        100: (feature_map(100, "conv2", b"not a wire-codec blob"), "payload: "),
        101: (feature_map(101, "nope", blobs["conv2"]), "split: "),
        102: (feature_map(102, "conv5", blobs["conv2"]), "payload: "),  # tensors of another split
        105: (feature_map(105, "conv2", encode({"features_5": torch.zeros(1, 3, 4, 4)}, CodecSpec())),
              "payload: tensors do not fit"),
        103: (feature_map(103, "conv2", blobs["conv2"], model="resnet18"), "model: "),
    }
    poisoned = {k: t.clone() for k, t in model.splitter.run_device(x, "conv2").items()}
    poisoned["features_5"][0, 0, 0, 0] = float("nan")
    bad[106] = (feature_map(106, "conv2", model.encode_split("conv2", poisoned, CodecSpec())),
                "payload: tensor 'features_5' contains NaN or Inf")
    short = feature_map(104, "conv2", blobs["conv2"])
    short.payload_bytes = 7
    bad[104] = (short, "payload_bytes: ")
    after_blob = model.encode_split("conv1", model.splitter.run_device(x, "conv1"), CodecSpec())
    after = feature_map(200, "conv1", after_blob)

    domain = unique_domain_id()
    results: dict[int, InferenceResult] = {}
    with graph_node("edge_test", domain) as t:
        features = publisher(t.node, FeatureMap, "scissor/features")
        result_sub = t.node.create_subscription(InferenceResult, "scissor/result",
                                                lambda m: results.setdefault(m.seq, m), qos("reliable"))
        with node_process("scissor_edge.edge_node", domain, "-p", "model.name:=alexnet") as edge:
            t.spin_until(lambda: features.get_subscription_count() > 0 and result_sub.get_publisher_count() > 0,
                         60, "the edge node to match")
            # Discovery completes on each side on its own: probe until a result is back.
            probe = feature_map(999, "conv1", after_blob)
            for _ in range(100):
                features.publish(probe)
                t.spin_for(0.2)
                if 999 in results:
                    break
            assert 999 in results, "no answer to the probe FeatureMap"
            results.clear()
            for msg in [*good, *(m for m, _ in bad.values()), after]:
                features.publish(msg)
                t.spin_for(0.02)
            expected = {m.seq for m in good} | set(bad) | {after.seq}
            t.spin_until(lambda: expected <= set(results), 60, "a result for every FeatureMap")
            assert edge.poll() is None, "the edge node died"
            code, output = stop(edge)
    assert code == 0, output

    for msg in good:
        r = results[msg.seq]
        assert r.error == "", r.error
        assert (r.model, r.split, r.header.stamp.sec, r.header.frame_id) == ("alexnet", msg.split, msg.header.stamp.sec,
                                                                             "camera")
        assert list(r.topk_classes) == list(reference.class_ids)
        np.testing.assert_array_equal(np.asarray(r.topk_scores), np.float32(reference.scores))
        assert r.decode_time > 0 and r.edge_compute >= 0 and not r.detections
    for seq, (_, prefix) in bad.items():
        assert results[seq].error.startswith(prefix), (seq, results[seq].error)
        assert not len(results[seq].topk_classes)
        assert f"seq {seq}: rejected: {prefix}" in output
    assert results[after.seq].error == "" and list(results[after.seq].topk_classes) == list(reference.class_ids)
