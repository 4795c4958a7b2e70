"""Payload sealing over real DDS: an edge_node with link.key_file answers a valid sealed FeatureMap with a
real result, and a replayed, a tampered (payload or metadata) and an unsealed one with an error result,
logged and counted per kind in its diagnostics; an edge without a key says so for a sealed payload."""
from __future__ import annotations

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from test_edge_node import feature_map

from scissor_core.models.registry import load_model
from scissor_core.wire.codec import CodecSpec
from scissor_core.wire.sealing import Sealer, load_key, write_key
from scissor_msgs.msg import FeatureMap, InferenceResult
from scissor_ros.topics import qos

from conftest import small_config
from ros_graph import graph_node, node_process, stop, unique_domain_id

NO_KEY = "/nokey"
"""Namespace of the second edge, which runs without a key."""
PROBES = 900
"""Seq numbers from here on are discovery probes (their results may still arrive later)."""


@pytest.mark.timeout(240)  # ~15 s on an idle machine; edge start-up slows a lot under load
def test_sealed_payloads_over_dds(tmp_path, traffic_frame):
    key_file = write_key(tmp_path / "scissor.key")
    sealer = Sealer(load_key(key_file))
    model = load_model(small_config("alexnet"))
    x, _ = model.preprocess(traffic_frame)
    reference = model.postprocess(model.splitter.run_full(x)).topk
    blob = model.encode_split("conv2", model.splitter.run_device(x, "conv2"), CodecSpec())

    def sealed(seq: int) -> FeatureMap:
        return feature_map(seq, "conv2", bytes(sealer.seal(blob, seq=seq, model="alexnet", split="conv2",
                                                           codec="raw")))

    good, after = sealed(1), sealed(5)
    tampered = sealed(2)
    tampered.payload[len(tampered.payload) // 2] ^= 0x01
    relabelled = sealed(3)
    relabelled.split = "conv5"  # metadata changed on the way
    unsealed = feature_map(4, "conv2", blob)
    sequence = [good, good, tampered, relabelled, unsealed, after]  # the second `good` is a replay
    expected = {1: ["", "sealing: replayed: "], 2: ["sealing: tampered: "], 3: ["sealing: tampered: "],
                4: ["sealing: unsealed: "], 5: [""]}

    domain = unique_domain_id()
    results: dict[str, list[InferenceResult]] = {"": [], NO_KEY: []}
    diagnostics: dict[str, dict[str, str]] = {}

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for status in msg.status:
            diagnostics[status.name] = {kv.key: kv.value for kv in status.values}

    with graph_node("sealing_test", domain) as t:
        publishers, subscriptions = {}, {}
        for ns in results:
            publishers[ns] = t.node.create_publisher(FeatureMap, f"{ns}/scissor/features".lstrip("/"),
                                                     qos("reliable"))
            subscriptions[ns] = t.node.create_subscription(InferenceResult, f"{ns}/scissor/result".lstrip("/"),
                                                           results[ns].append, qos("reliable"))
        t.node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, qos("reliable"))
        common = ["-p", "model.name:=alexnet", "-p", "ros.diagnostics_period:=0.2"]
        with node_process("scissor_edge.edge_node", domain, *common, "-p", f"link.key_file:={key_file}") as edge, \
                node_process("scissor_edge.edge_node", domain, *common, "-r", f"__ns:={NO_KEY}") as plain:
            t.spin_until(lambda: all(publishers[ns].get_subscription_count() > 0
                                     and subscriptions[ns].get_publisher_count() > 0 for ns in results),
                         150, "both edge nodes to match")
            # Discovery completes on each side on its own: probe (freshly sealed) until both edges answer.
            for probe in range(PROBES, PROBES + 100):
                for ns in results:
                    if not results[ns]:
                        publishers[ns].publish(sealed(probe))
                t.spin_for(0.2)
                if all(results.values()):
                    break
            assert all(results.values()), "no answer to the probe FeatureMaps"
            assert results[""][0].error == "", results[""][0].error
            assert results[NO_KEY][0].error.startswith("sealing: sealed payload but this edge has no key")
            results[""].clear()
            for msg in sequence:
                publishers[""].publish(msg)
                t.spin_for(0.02)
            t.spin_until(lambda: sum(r.seq < PROBES for r in results[""]) == len(sequence), 120,
                         "a result for every FeatureMap")
            counts = {"rejected_replayed": "1", "rejected_tampered": "2", "rejected_unsealed": "1"}
            t.spin_until(lambda: counts.items() <= diagnostics.get("/edge_node", {}).items()
                         and int(diagnostics.get(f"{NO_KEY}/edge_node", {}).get("rejected_no_key", "0")) >= 1,
                         60, f"diagnostics counting {counts}")
            assert edge.poll() is None and plain.poll() is None, "an edge node died"
            code, output = stop(edge)
            stop(plain)
    assert code == 0, output

    got: dict[int, list[InferenceResult]] = {}
    for r in results[""]:
        if r.seq < PROBES:
            got.setdefault(r.seq, []).append(r)
    assert sorted(got) == sorted(expected)
    for seq, prefixes in expected.items():
        errors = sorted(r.error for r in got[seq])  # "" (the real result) sorts first
        assert len(errors) == len(prefixes) and all(e.startswith(p) for e, p in zip(errors, prefixes)), errors
        for r in got[seq]:
            if r.error:
                assert not len(r.topk_classes)
                assert f"seq {seq}: rejected: {r.error}" in output
            else:
                assert list(r.topk_classes) == list(reference.class_ids)
                np.testing.assert_array_equal(np.asarray(r.topk_scores), np.float32(reference.scores))
    assert got[3][0].split == "conv5"
    assert "payload sealed (AES-256-GCM, link.key_file)" in output
