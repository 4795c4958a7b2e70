"""The live device pipeline without ROS: real model, real threads, an in-process edge."""
from __future__ import annotations

import queue
import threading
import time

import pytest
import torch

from scissor_core.codec import CodecSpec, describe
from scissor_core.device import EDGE_AWAY_POLICY, DeviceRuntime, LinkShaper
from scissor_core.models.registry import load_model
from scissor_core.outcome import Reward
from scissor_core.policies.base import SplitCosts
from scissor_core.policies.baselines import FixedSplit
from scissor_core.scene import TrafficScene
from scissor_core.traces import parse_trace

from conftest import small_config


@pytest.fixture(scope="module")
def alexnet():
    return load_model(small_config("alexnet"))


def costs_for(model) -> SplitCosts:
    n = len(model.candidates)
    return SplitCosts(model.name, "raw", tuple(model.candidates), tuple(0.01 * i for i in range(n)),
                      tuple(0.01 * (n - i) for i in range(n)), tuple(10_000 for _ in range(n)))


class Edge:
    """Finishes every frame the device sends in one worker thread (optionally losing some), like edge_node."""

    def __init__(self, model, lose=lambda seq: False):
        self.model, self.lose = model, lose
        self.outputs: dict[int, torch.Tensor] = {}
        self.runtime: DeviceRuntime | None = None
        self.inbox: queue.Queue = queue.Queue()
        threading.Thread(target=self._serve, daemon=True).start()

    def send(self, job, blob):
        if not self.lose(job.seq):
            self.inbox.put((job.seq, job.split, blob))

    def _serve(self):
        self.model.warm_up()
        while True:
            seq, split, blob = self.inbox.get()
            self.outputs[seq] = self.model.splitter.run_edge(self.model.decode_split(split, blob), split)
            self.runtime.on_result(seq, 0.001)


def make_runtime(model, edge, outcomes, split_policy="conv3", **overrides):
    costs = costs_for(model)
    settings = dict(codec=CodecSpec(), trace=parse_trace("const:50MB"), timeout=5.0, local_max=30, offload_max=30,
                    reward=Reward(), decision_deadline=0.05, edge_timeout=2.0, emit=outcomes.append,
                    send=edge.send)
    settings.update(overrides)
    runtime = DeviceRuntime(model, costs, FixedSplit(costs, split_policy), **settings)
    edge.runtime = runtime
    return runtime


def wait_for(predicate, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end and not predicate():
        time.sleep(0.01)
    return predicate()


def test_every_split_completes_with_the_unsplit_result(alexnet):
    outcomes, edge = [], Edge(alexnet)
    runtime = make_runtime(alexnet, edge, outcomes)
    runtime.start()
    scene = TrafficScene(seed=1)
    frames = {}
    for seq, split in enumerate(alexnet.candidates):
        frames[seq] = scene.frame(seq)
        runtime.on_frame(seq, frames[seq])
        assert runtime.on_decision(seq, split, "test")
        runtime.poll()
    assert wait_for(lambda: len(outcomes) == len(alexnet.candidates))
    runtime.stop()
    assert sorted(o.seq for o in outcomes) == list(range(len(alexnet.candidates)))
    assert all(o.completed and o.policy == "test" and not o.fallback_decision for o in outcomes)
    for seq, split in enumerate(alexnet.candidates):
        if split == "last":
            assert seq not in edge.outputs
            continue
        x, _ = alexnet.preprocess(frames[seq])
        with torch.inference_mode():
            assert torch.equal(edge.outputs[seq], alexnet.module(x)), split


def test_missing_decisions_fall_back_and_are_recorded(alexnet):
    outcomes, edge = [], Edge(alexnet)
    runtime = make_runtime(alexnet, edge, outcomes, decision_deadline=0.02)
    runtime.start()
    for seq in range(3):
        runtime.on_frame(seq, TrafficScene(seed=2).frame(seq))
    time.sleep(0.05)
    runtime.poll()
    assert not runtime.on_decision(0, "conv1", "late agent")  # the fallback already decided
    assert wait_for(lambda: len(outcomes) == 3)
    runtime.stop()
    assert all(o.fallback_decision and o.split == "conv3" and o.policy == "fixed-conv3" for o in outcomes)
    assert runtime.stats.late_decisions == 1 and runtime.stats.fallback_decisions == 3


def test_lost_results_are_dropped_as_edge_lost_and_duplicates_ignored(alexnet):
    outcomes, edge = [], Edge(alexnet, lose=lambda seq: seq == 1)
    runtime = make_runtime(alexnet, edge, outcomes, edge_timeout=0.3)
    runtime.start()
    for seq in range(3):
        runtime.on_frame(seq, TrafficScene(seed=3).frame(seq))
        runtime.on_decision(seq, "conv5", "test")
    assert wait_for(lambda: len(outcomes) == 2)
    time.sleep(0.35)
    runtime.poll()
    assert wait_for(lambda: len(outcomes) == 3)
    assert not runtime.on_result(0, 0.001)  # a duplicate of a completed frame
    runtime.stop()
    by_seq = {o.seq: o for o in outcomes}
    assert by_seq[1].drop_reason == "edge_lost" and by_seq[1].drop_place == "edge" and by_seq[1].bytes_sent > 0
    assert by_seq[0].completed and by_seq[2].completed and len(outcomes) == 3


def test_stop_gives_every_frame_in_the_pipeline_an_outcome(alexnet):
    outcomes, edge = [], Edge(alexnet, lose=lambda seq: True)
    runtime = make_runtime(alexnet, edge, outcomes, trace=parse_trace("const:20kB"), decision_deadline=10.0)
    runtime.start()
    for seq in range(6):
        runtime.on_frame(seq, TrafficScene(seed=4).frame(seq))
        if seq < 5:
            runtime.on_decision(seq, "0" if seq % 2 else "conv2", "test")
    time.sleep(0.3)
    runtime.stop()
    assert sorted(o.seq for o in outcomes) == list(range(6))
    assert {o.drop_reason for o in outcomes} == {"shutdown"}
    assert runtime.in_flight == 0


def test_shaper_follows_the_trace():
    shaper = LinkShaper(parse_trace("const:1MB"), origin=100.0)
    assert shaper.finish_time(101.0, 500_000) == pytest.approx(101.5)


def test_slow_link_paces_transmissions(alexnet):
    """At 2 MB/s, four 0.6 MB raw frames take about 1.2 s to cross."""
    outcomes, edge = [], Edge(alexnet)
    runtime = make_runtime(alexnet, edge, outcomes, trace=parse_trace("const:2MB"))
    runtime.start()
    start = time.monotonic()
    for seq in range(4):
        runtime.on_frame(seq, TrafficScene(seed=5).frame(seq))
        runtime.on_decision(seq, "0", "test")
    assert wait_for(lambda: len(outcomes) == 4)
    elapsed = time.monotonic() - start
    runtime.stop()
    sent = sum(o.bytes_sent for o in outcomes)
    assert sent > 4 * 600_000
    assert elapsed >= sent / 2e6 * 0.95
    assert runtime.estimator.estimate == pytest.approx(2e6, rel=0.05)


def test_an_unreadable_camera_frame_gets_a_bad_frame_outcome(alexnet):
    outcomes, edge = [], Edge(alexnet)
    runtime = make_runtime(alexnet, edge, outcomes)
    runtime.reject_frame(7)
    assert runtime.stats.frames == 1 and runtime.in_flight == 0
    [o] = outcomes
    assert (o.seq, o.completed, o.drop_reason, o.drop_place) == (7, False, "bad_frame", "local")


def test_a_failed_send_drops_that_frame_and_the_link_goes_on(alexnet):
    outcomes, edge = [], Edge(alexnet)

    def send_failing_frame_1(job, blob):
        if job.seq == 1:
            raise RuntimeError("Failed to publish: publisher's context is invalid")
        edge.send(job, blob)

    runtime = make_runtime(alexnet, edge, outcomes, send=send_failing_frame_1)
    runtime.start()
    for seq in range(3):
        runtime.on_frame(seq, TrafficScene(seed=5).frame(seq))
        runtime.on_decision(seq, "conv5", "test")
    assert wait_for(lambda: len(outcomes) == 3)
    runtime.stop()
    by_seq = {o.seq: o for o in outcomes}
    assert by_seq[1].drop_reason == "local_error" and by_seq[1].drop_place == "link"
    assert by_seq[0].completed and by_seq[2].completed and len(outcomes) == 3


def test_without_a_listening_edge_frames_run_device_only_until_one_returns(alexnet):
    outcomes, edge = [], Edge(alexnet)
    runtime = make_runtime(alexnet, edge, outcomes)
    runtime.start()
    scene = TrafficScene(seed=6)
    runtime.edge_listeners(0)
    assert not runtime.edge_available
    for seq in range(2):
        runtime.on_frame(seq, scene.frame(seq))
        runtime.on_decision(seq, "conv5", "agent")
    assert wait_for(lambda: len(outcomes) == 2)
    runtime.edge_listeners(1)  # an edge (re)started
    for seq in range(2, 4):
        runtime.on_frame(seq, scene.frame(seq))
        runtime.on_decision(seq, "conv5", "agent")
    assert wait_for(lambda: len(outcomes) == 4)
    runtime.stop()
    by_seq = {o.seq: o for o in outcomes}
    for seq in (0, 1):
        assert by_seq[seq].completed and by_seq[seq].split == "last" and by_seq[seq].policy == EDGE_AWAY_POLICY
        assert by_seq[seq].fallback_decision
    for seq in (2, 3):
        assert by_seq[seq].completed and by_seq[seq].split == "conv5" and by_seq[seq].policy == "agent"
    assert runtime.stats.edge_away_decisions == 2 and runtime.stats.edge_departures == 1


def test_an_edge_that_stops_answering_is_away_until_the_retry(alexnet):
    answering = threading.Event()
    outcomes, edge = [], Edge(alexnet, lose=lambda seq: not answering.is_set())
    runtime = make_runtime(alexnet, edge, outcomes, edge_timeout=0.2, edge_silence_limit=2, edge_retry=1.0)
    runtime.start()
    scene = TrafficScene(seed=7)

    def frame(seq):
        runtime.on_frame(seq, scene.frame(seq))
        runtime.on_decision(seq, "conv5", "agent")

    for seq in range(2):  # both lost: the second makes the edge away
        frame(seq)
    assert wait_for(lambda: (runtime.poll(), len(outcomes))[1] == 2)
    assert not runtime.edge_available
    frame(2)  # runs device-only while away
    assert wait_for(lambda: len(outcomes) == 3)
    answering.set()
    assert wait_for(lambda: runtime.edge_available, timeout=5.0)  # the retry
    frame(3)
    assert wait_for(lambda: (runtime.poll(), len(outcomes))[1] == 4)
    runtime.stop()
    by_seq = {o.seq: o for o in outcomes}
    assert [by_seq[s].drop_reason for s in (0, 1)] == ["edge_lost", "edge_lost"]
    assert by_seq[2].completed and by_seq[2].split == "last" and by_seq[2].policy == EDGE_AWAY_POLICY
    assert by_seq[3].completed and by_seq[3].split == "conv5"


def test_feature_maps_queued_when_the_edge_leaves_are_dropped_as_edge_lost_at_once(alexnet):
    outcomes, edge = [], Edge(alexnet)
    runtime = make_runtime(alexnet, edge, outcomes, trace=parse_trace("const:20kB"))
    runtime.start()
    scene = TrafficScene(seed=8)
    for seq in range(3):  # the slow link keeps the first transmitting and the others queued
        runtime.on_frame(seq, scene.frame(seq))
        runtime.on_decision(seq, "conv5", "agent")
    assert wait_for(lambda: runtime.queues.transmitting is not None and len(runtime.queues.offload) == 2)
    runtime.edge_listeners(0)
    assert wait_for(lambda: len(outcomes) >= 2, timeout=5.0)
    runtime.stop()
    queued = [o for o in outcomes if o.seq in (1, 2)]
    assert [o.drop_reason for o in queued] == ["edge_lost", "edge_lost"] and {o.drop_place for o in queued} == {"link"}


def test_an_overloaded_edge_whose_results_come_late_is_not_away(alexnet):
    outcomes, edge = [], Edge(alexnet, lose=lambda seq: True)
    runtime = make_runtime(alexnet, edge, outcomes, edge_timeout=0.2, edge_silence_limit=2, edge_retry=60.0)
    runtime.start()
    scene = TrafficScene(seed=9)
    for seq in range(2):
        runtime.on_frame(seq, scene.frame(seq))
        runtime.on_decision(seq, "conv5", "agent")
        assert wait_for(lambda: (runtime.poll(), len(outcomes))[1] == seq + 1)
        if seq == 0:
            assert not runtime.on_result(0, 0.001)  # frame 0's result, after its edge_lost drop
    runtime.stop()
    assert [o.drop_reason for o in outcomes] == ["edge_lost", "edge_lost"]
    assert runtime.edge_available and runtime.stats.edge_departures == 0


def test_a_frame_codec_sends_split_0_as_jpeg_and_feature_maps_with_the_tensor_codec(alexnet):
    """codec.frame_encoding jpeg: split 0's blob is a JPEG frame, every other split keeps the raw codec,
    and each outcome names the codec its bytes were sent with."""
    base = costs_for(alexnet)
    costs = SplitCosts(base.model, base.codec, base.splits, base.local, base.edge, base.nbytes,
                       frame_codec="jpeg-q90")
    outcomes, edge, blobs = [], Edge(alexnet), {}

    def send(job, blob):
        blobs[job.seq] = describe(blob)[0]["encoding"]
        edge.send(job, blob)

    jpeg = CodecSpec("jpeg", jpeg_quality=90)
    with pytest.raises(ValueError, match="frame codec"):
        make_runtime(alexnet, edge, [], frame_codec=jpeg)  # a frame codec the cost table does not have
    runtime = DeviceRuntime(alexnet, costs, FixedSplit(costs, "0"), codec=CodecSpec(), frame_codec=jpeg,
                            trace=parse_trace("const:50MB"), timeout=5.0, local_max=30, offload_max=30,
                            reward=Reward(), decision_deadline=0.05, edge_timeout=2.0, emit=outcomes.append,
                            send=send)
    edge.runtime = runtime
    runtime.start()
    scene = TrafficScene(seed=2)
    for seq, split in enumerate(["0", "conv3"]):
        runtime.on_frame(seq, scene.frame(seq))
        assert runtime.on_decision(seq, split, "test")
    assert wait_for(lambda: len(outcomes) == 2)
    runtime.stop()
    assert blobs == {0: "jpeg", 1: "raw"}
    assert {o.seq: o.codec for o in outcomes} == {0: "jpeg-q90", 1: "raw"}
    assert all(o.completed for o in outcomes)
