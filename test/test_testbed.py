"""The live testbed end to end: real camera, device, edge and agent processes over DDS on loopback."""
from __future__ import annotations

import io
import os
import signal
import threading
import time

import torch

from scissor_bringup.launcher import Launcher
from scissor_bringup.testbed import EDGE_NODES, describe_testbed, reliable_camera
from scissor_bringup.testbed_run import run_testbed
from scissor_core.config import load_config
from scissor_core.models.classification import topk
from scissor_core.models.registry import load_model
from scissor_core.policies.a2c import A2CPolicy
from scissor_core.policies.serving import default_policy_path, default_profile_path
from scissor_core.runtime.costs import ModelProfile, SplitCosts
from scissor_core.runtime.outcome import read_csv
from scissor_core.sources.scene import TrafficScene
from scissor_msgs.msg import InferenceResult, QueueState, SplitDecision

from conftest import CAMERA_SEED, write_config
from ros_graph import graph_node, unique_domain_id


def run_nodes(config_file, nodes, duration, overrides=None, stop_when=None):
    """Run ``nodes`` with a reliable camera topic: these tests count every frame (best effort loses large
    images over shared memory on Jazzy's Fast DDS 2.14, rmw_fastrtps#739). ``stop_when(output)`` gets the
    nodes' output so far."""
    launcher = Launcher(describe_testbed(config_file, nodes=nodes, overrides=reliable_camera(into=overrides or {})),
                        grace=20, output=io.StringIO())
    codes = launcher.run(duration=duration,
                         until=(lambda: stop_when(launcher.output.getvalue())) if stop_when else None)
    return codes, launcher.output.getvalue()


def assert_one_outcome_per_frame_read(outcomes, output):
    seqs = [o.seq for o in outcomes]
    assert len(seqs) == len(set(seqs)), "a frame has two outcomes"
    # The camera waits for the device's subscription (camera.wait_for_subscribers 1: a loaded machine started the
    # nodes slower than 30 frames last, and no frame was read), which comes once edge and agent are up; every frame
    # the camera published on loopback was read, and each has exactly one outcome.
    assert seqs and sorted(seqs) == list(range(min(seqs), max(seqs) + 1))
    assert f"device_node: read {len(seqs)} frames, recorded {len(seqs)} outcomes" in output


def test_every_split_through_the_testbed_equals_the_local_result(tmp_path, domain):
    config_file = write_config(tmp_path, camera={"max_frames": 60, "wait_for_subscribers": 1},
                               agent={"policy": "round-robin"})
    model = load_model(load_config(config_file))
    results: dict[int, InferenceResult] = {}
    with graph_node("testbed_results", domain) as t:
        t.node.create_subscription(InferenceResult, "scissor/result", lambda m: results.setdefault(m.seq, m), 100)
        stop = threading.Event()
        spinner = threading.Thread(target=lambda: [t.executor.spin_once(timeout_sec=0.05)
                                                   for _ in iter(stop.is_set, True)], daemon=True)
        spinner.start()
        log = tmp_path / "outcomes.csv"
        codes, output = run_nodes(config_file, ("camera_node", "device_node", "edge_node", "agent_node"), 90,
                                  stop_when=lambda _output: log.exists() and log.read_text().count("\n") > 45)
        stop.set()
        spinner.join()
    assert all(code in (0, -2) for code in codes.values()), f"{codes}\n{output[-6000:]}"
    outcomes = read_csv(log)
    assert_one_outcome_per_frame_read(outcomes, output)
    completed = [o for o in outcomes if o.completed]
    assert {o.split for o in completed} == set(model.candidates), output[-2000:]
    scene = TrafficScene(seed=CAMERA_SEED)
    model.warm_up()
    checked, mismatches = 0, []
    for o in completed:
        if o.split == "last":
            continue
        result = results.get(o.seq)
        if result is None:  # published before this test's listener had matched the edge: not seen here
            continue
        assert result.error == "" and result.split == o.split
        x, _ = model.preprocess(scene.frame(o.seq))
        with torch.inference_mode():
            local = topk(model.module(x), len(result.topk_classes))
        # InferenceResult carries float32 scores: compare with the local scores rounded the same way.
        if (list(result.topk_classes) != list(local.class_ids)
                or list(result.topk_scores) != [float(torch.tensor(s, dtype=torch.float32)) for s in local.scores]):
            mismatches.append((o.seq, o.split, list(result.topk_classes), list(local.class_ids)))
        checked += 1
    assert not mismatches, mismatches
    assert checked >= 20


def test_a_silent_agent_times_out_and_the_fallback_decision_is_recorded(tmp_path, domain):
    config_file = write_config(tmp_path, camera={"max_frames": 80, "wait_for_subscribers": 1},
                               device={"decision_deadline": 0.05, "fallback_policy": "fixed:conv4"})
    log = tmp_path / "outcomes.csv"
    with graph_node("silent_agent", domain) as t:  # an agent on the graph that never answers
        t.node.create_subscription(QueueState, "scissor/queue_state", lambda m: None, 10)
        t.node.create_publisher(SplitDecision, "scissor/split_decision", 10)
        codes, output = run_nodes(config_file, ("camera_node", "device_node", "edge_node"), 45,
                                  stop_when=lambda _output: log.exists() and log.read_text().count("\n") > 15)
    outcomes = read_csv(log)
    # A frame that arrived just before the stop may have had no decision yet (dropped at shutdown).
    decided = [o for o in outcomes if o.policy]
    assert all(o.drop_reason == "shutdown" for o in outcomes if not o.policy)
    assert decided and all(o.fallback_decision and o.policy == "fixed-conv4" for o in decided), output[-2000:]
    # The fallback's frames really ran (a loaded machine may time a few out, and stopping drops some).
    assert sum(o.completed for o in decided) >= len(decided) // 2, [(o.seq, o.drop_reason) for o in outcomes]
    assert_one_outcome_per_frame_read(outcomes, output)


def test_sigterm_to_the_device_leaves_a_complete_outcome_log(tmp_path, domain):
    config_file = write_config(tmp_path, agent={"policy": "fixed:0"}, link={"trace": "const:1MB"})
    log = tmp_path / "outcomes.csv"
    launcher = Launcher(describe_testbed(config_file, overrides=reliable_camera()), grace=20, output=io.StringIO())
    device = {}

    def terminate_device_after_some_outcomes() -> bool:
        if not device and log.exists() and log.read_text().count("\n") > 8:
            node = next(n for n in launcher.nodes if n.spec.name == "device")
            os.killpg(node.process.pid, signal.SIGTERM)
            device["at"] = time.monotonic()
        return bool(device) and next(n for n in launcher.nodes if n.spec.name == "device").process.poll() is not None

    codes = launcher.run(duration=90, until=terminate_device_after_some_outcomes)
    output = launcher.output.getvalue()
    assert device, output[-2000:]
    outcomes = read_csv(log)
    assert_one_outcome_per_frame_read(outcomes, output)
    # 0.6 MB frames on a 1 MB/s link pile up: frames were still queued or in flight when it stopped.
    assert any(o.drop_reason in ("shutdown", "offload_timeout") for o in outcomes)
    assert codes["device"] in (0, -15), output[-2000:]


def test_the_agent_learns_online_and_saves_checkpoints(tmp_path, domain):
    checkpoint = tmp_path / "online.pt"
    # The shipped policy updates every 20 transitions (its file's settings): checkpoint after 30 outcomes.
    config_file = write_config(tmp_path, camera={"max_frames": 50, "wait_for_subscribers": 1},
                               agent={"policy": "a2c", "learn_online": True, "checkpoint_every": 30,
                                      "checkpoint_file": str(checkpoint)})
    saved = "saved the online policy after 30 outcomes"
    # Stop once the agent says it saved (the file is renamed into place just before it says so).
    codes, output = run_nodes(config_file, ("camera_node", "device_node", "edge_node", "agent_node"), 60,
                              stop_when=lambda output: saved in output)
    assert checkpoint.exists() and saved in output, output[-2000:]
    assert not checkpoint.with_name(checkpoint.name + ".partial").exists()
    config = load_config(config_file)
    costs = SplitCosts.from_profile(ModelProfile.load(default_profile_path(config, "alexnet")))
    shipped = A2CPolicy.load(default_policy_path(config, "alexnet"), costs)
    online = A2CPolicy.load(checkpoint, costs)
    # The critic learns from every TD error; the actor may not move when the shipped policy is already
    # deterministic (a saturated softmax has no gradient), so compare both networks.
    before = [*shipped.actor.state_dict().values(), *shipped.critic.state_dict().values()]
    after = [*online.actor.state_dict().values(), *online.critic.state_dict().values()]
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True)), "online learning changed nothing"


def test_testbeds_are_isolated_by_namespace_and_domain(tmp_path, domain):
    """Two testbeds on one network: one namespace each (or one ROS_DOMAIN_ID each). A testbed in
    namespace car1 is heard on /car1/... of its domain and nowhere else."""
    config_file = write_config(tmp_path, camera={"max_frames": 20, "wait_for_subscribers": 1},  # the device
                               agent={"policy": "fixed:conv5"})
    heard: dict[str, int] = {"/car1": 0, "/car2": 0, "/": 0, "other domain": 0}

    def count(key):
        return lambda _msg: heard.__setitem__(key, heard[key] + 1)

    with graph_node("isolation_here", domain) as here, graph_node("isolation_there", unique_domain_id()) as there:
        for ns in ("/car1", "/car2"):
            here.node.create_subscription(InferenceResult, f"{ns}/scissor/result", count(ns), 100)
        here.node.create_subscription(InferenceResult, "/scissor/result", count("/"), 100)
        there.node.create_subscription(InferenceResult, "/car1/scissor/result", count("other domain"), 100)
        stop = threading.Event()

        def spin():
            while not stop.is_set():
                here.executor.spin_once(timeout_sec=0.02)
                there.executor.spin_once(timeout_sec=0.02)

        spinner = threading.Thread(target=spin, daemon=True)
        spinner.start()
        log = tmp_path / "outcomes.csv"
        launcher = Launcher(describe_testbed(config_file, "car1", overrides=reliable_camera("car1")), grace=20,
                            output=io.StringIO())
        codes = launcher.run(duration=90, until=lambda: log.exists() and log.read_text().count("\n") > 18)
        time.sleep(0.5)
        stop.set()
        spinner.join()
    output = launcher.output.getvalue()
    (tmp_path / "nodes.log").write_text(output)
    assert all(code in (0, -2) for code in codes.values()), (codes, output[-2000:])
    # The test's own listener may match the edge a few results late: some results, not all, are heard.
    assert heard["/car1"] >= 1, (heard, output[-2000:])
    assert heard["/car2"] == heard["/"] == heard["other domain"] == 0, heard


def test_the_robot_side_and_the_edge_side_run_as_two_launches(tmp_path, domain):
    """Two hosts' worth of nodes from two launchers (here on one machine): the robot side finds the edge
    on the graph, every frame completes through it, and each side stops cleanly."""
    # A generous decision deadline: on a loaded machine (Jazzy, in a fresh clone) the agent's first answer
    # once came after the default 0.1 s, and the fallback ran that frame device-only.
    config_file = write_config(tmp_path, camera={"max_frames": 12, "wait_for_subscribers": 1},
                               agent={"policy": "fixed:conv2"}, device={"decision_deadline": 10.0})
    edge = Launcher(describe_testbed(config_file, nodes=EDGE_NODES), grace=20, output=io.StringIO())
    edge.start()
    try:
        run = run_testbed(config_file, 120, tmp_path / "robot", side="robot", stop_after_outcomes=12,
                          extra=reliable_camera())
    finally:
        edge_codes = edge.shutdown()
    assert set(run.exit_codes) == {"camera", "device", "agent", "annotator"}, run.summary
    assert all(c in (0, -2) for c in run.exit_codes.values()), run.summary
    assert edge_codes["edge"] in (0, -2), edge.output.getvalue()[-2000:]
    assert sorted(o.seq for o in run.outcomes) == list(range(12)), run.summary
    assert all(o.completed and o.split == "conv2" for o in run.outcomes), run.summary


def test_the_codec_chosen_with_the_split_runs_live(tmp_path, domain):
    """``codec.min_map`` in the live testbed: the agent names (split, codec) options, the device encodes each
    frame with its option's codec, the edge decodes it from the wire format alone. The table is test data
    (AlexNet has no accuracy table); the floor keeps all but one of its rows."""
    from scissor_core.runtime.codec_table import CodecEffect, write_codec_csv

    # split, codec, bytes, encode ms, decode ms, agreement: no pair is both bigger and slower than another
    rows = [CodecEffect(split, codec, size, ms, ms, 0.0, agreement) for split, codec, size, ms, agreement in [
        ("0", "jpeg-q80", 10_000, 5.0, 0.97), ("0", "raw", 600_000, 0.2, 1.0),
        ("conv2", "int8-per_tensor+zstd", 20_000, 3.0, 0.96), ("conv2", "fp16", 90_000, 1.0, 0.999),
        ("conv5", "raw+lz4", 9_000, 1.0, 1.0), ("conv5", "int8-per_channel", 3_000, 0.5, 0.5)]]
    table = write_codec_csv(rows, tmp_path / "alexnet-codecs.csv")
    config_file = write_config(tmp_path, camera={"max_frames": 30, "wait_for_subscribers": 1},
                               agent={"policy": "round-robin"},
                               codec={"min_map": 0.95, "table": str(table)})
    options = SplitCosts.for_config(ModelProfile.load(default_profile_path(load_config(config_file), "alexnet")),
                                    load_config(config_file).codec).splits
    assert options == ("0@jpeg-q80", "0@raw", "conv2@int8-per_tensor+zstd", "conv2@fp16", "conv5@raw+lz4", "last")
    log = tmp_path / "outcomes.csv"
    codes, output = run_nodes(config_file, ("camera_node", "device_node", "edge_node", "agent_node"), 90,
                              stop_when=lambda _output: log.exists() and log.read_text().count("\n") > 20)
    assert all(code in (0, -2) for code in codes.values()), f"{codes}\n{output[-6000:]}"
    outcomes = read_csv(log)
    assert_one_outcome_per_frame_read(outcomes, output)
    completed = [o for o in outcomes if o.completed]
    sent = {(o.split, o.codec) for o in completed}
    assert sent == {("0", "jpeg-q80"), ("0", "raw"), ("conv2", "int8-per_tensor+zstd"), ("conv2", "fp16"),
                    ("conv5", "raw+lz4"), ("last", "")}, output[-3000:]
    by_pair = {(o.split, o.codec): o.bytes_sent for o in completed}
    # the real encoded sizes differ by codec (the table's bytes are only estimates)
    assert by_pair[("0", "jpeg-q80")] < by_pair[("0", "raw")] / 10
    assert by_pair[("conv2", "int8-per_tensor+zstd")] < by_pair[("conv2", "fp16")]


def test_a_bounded_testbed_run_ends_when_every_frame_has_its_outcome(tmp_path, domain, capsys):
    """``scissor testbed --max-frames N`` stops once the N outcomes are in, not at ``--duration``: the camera
    waits for the device and publishes reliably (no frame is lost: best effort lost them all on Jazzy), and the
    run ends long before its 400 s. (The bound below is 5x what the run takes on a loaded machine: it fails only
    if the run waited for --duration.)"""
    from scissor_cli.main import main

    config_file = write_config(tmp_path, agent={"policy": "edge-window"})
    start = time.monotonic()
    code = main(["testbed", "--config", config_file, "--max-frames", "8", "--duration", "400",
                 "--output", str(tmp_path / "run")])
    elapsed = time.monotonic() - start
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    assert elapsed < 300, f"the run took {elapsed:.0f} s: it waited for --duration"
    outcomes = read_csv(tmp_path / "run" / "outcomes.csv")
    assert sorted(o.seq for o in outcomes) == list(range(8)), out[-3000:]
    assert "frames read by the device: 8; outcomes recorded: 8" in out
