"""The live device pipeline without ROS: real model, real threads, the real EdgeRuntime in-process.

Deadlines, timeouts, link pacing and the edge's retry run on an injected :class:`ManualClock`: a test
moves time itself, so nothing here depends on how fast the machine is. Only waiting for the worker
threads to finish their work uses real time, bounded by a patience no healthy run comes near.
"""
from __future__ import annotations

import pytest
import torch

from scissor_core.analysis.link_fidelity import replay_estimates
from scissor_core.config import LinkConfig
from scissor_core.models.registry import load_model
from scissor_core.policies.baselines import FixedSplit
from scissor_core.runtime.costs import SplitCosts
from scissor_core.runtime.device import EDGE_AWAY_POLICY, DeviceRuntime, LinkShaper
from scissor_core.runtime.outcome import Reward
from scissor_core.runtime.records import Decision, EdgeResult
from scissor_core.runtime.traces import parse_trace
from scissor_core.sources.imaging import ImageError
from scissor_core.sources.scene import TrafficScene
from scissor_core.wire.codec import CodecSpec, describe

from conftest import InProcessEdge, ManualClock, small_config, wait_for


@pytest.fixture(scope="module")
def alexnet():
    return load_model(small_config("alexnet"))


def costs_for(model, frame_codec: str | None = None) -> SplitCosts:
    n = len(model.candidates)
    return SplitCosts(model.name, "raw", tuple(model.candidates), tuple(0.01 * i for i in range(n)),
                      tuple(0.01 * (n - i) for i in range(n)), tuple(10_000 for _ in range(n)), frame_codec)


def make_runtime(model, edge, outcomes, split_policy="conv3", costs=None, **overrides):
    """A device runtime wired to ``edge``, on a manual clock unless ``clock`` is given."""
    costs = costs or costs_for(model)
    settings = dict(codec=CodecSpec(), trace=parse_trace("const:50MB"), timeout=5.0, local_max=30, offload_max=30,
                    reward=Reward(), decision_deadline=0.05, edge_timeout=2.0, emit=outcomes.append,
                    send=edge.send, clock=ManualClock())
    settings.update(overrides)
    runtime = DeviceRuntime(model, costs, FixedSplit(costs, split_policy), **settings)
    edge.device = runtime
    return runtime


def decide(runtime, seq, frame, split, policy="agent"):
    runtime.on_frame(seq, frame)
    return runtime.on_decision(Decision(seq, split, policy))


@pytest.fixture
def edge_of(alexnet):
    """In-process edges for a test, stopped at its end."""
    edges = []

    def make(**options):
        edges.append(InProcessEdge(alexnet, **options))
        return edges[-1]

    yield make
    for edge in edges:
        edge.stop()


def test_every_split_completes_with_the_unsplit_result(alexnet, edge_of):
    outcomes, edge = [], edge_of()
    runtime = make_runtime(alexnet, edge, outcomes)
    runtime.start()
    scene = TrafficScene(seed=1)
    frames = {seq: scene.frame(seq) for seq in range(len(alexnet.candidates))}
    for seq, split in enumerate(alexnet.candidates):
        assert decide(runtime, seq, frames[seq], split, "test")
    assert wait_for(lambda: len(outcomes) == len(alexnet.candidates))
    runtime.stop()
    assert sorted(o.seq for o in outcomes) == list(range(len(alexnet.candidates)))
    assert all(o.completed and o.policy == "test" and not o.fallback_decision for o in outcomes)
    assert {(p.frame_width, p.frame_height) for p in edge.received} == {frames[0].shape[1::-1]}  # the frame's size
    for seq, split in enumerate(alexnet.candidates):
        if split == "last":
            assert seq not in edge.served
            continue
        x, meta = alexnet.preprocess(frames[seq])
        with torch.inference_mode():
            local = alexnet.postprocess(alexnet.module(x), meta)
        assert edge.served[seq].prediction == local, split  # top-k classes and scores, exactly


def test_missing_decisions_fall_back_and_are_recorded(alexnet, edge_of):
    outcomes, edge = [], edge_of()
    runtime = make_runtime(alexnet, edge, outcomes, decision_deadline=0.02)
    runtime.start()
    for seq in range(3):
        runtime.on_frame(seq, TrafficScene(seed=2).frame(seq))
    runtime.poll()
    assert runtime.stats.fallback_decisions == 0  # no time has passed on the device's clock
    runtime.clock.advance(0.03)
    runtime.poll()
    assert not runtime.on_decision(Decision(0, "conv1", "late agent"))  # the fallback already decided
    assert wait_for(lambda: len(outcomes) == 3)
    runtime.stop()
    assert all(o.fallback_decision and o.split == "conv3" and o.policy == "fixed-conv3" for o in outcomes)
    assert runtime.stats.late_decisions == 1 and runtime.stats.fallback_decisions == 3


def test_lost_results_are_dropped_as_edge_lost_and_duplicates_ignored(alexnet, edge_of):
    outcomes, edge = [], edge_of(lose_result=lambda seq: seq == 1)
    runtime = make_runtime(alexnet, edge, outcomes, edge_timeout=0.3)
    runtime.start()
    for seq in range(3):
        decide(runtime, seq, TrafficScene(seed=3).frame(seq), "conv5", "test")
    assert wait_for(lambda: len(outcomes) == 2 and len(edge.received) == 3)
    runtime.poll()
    assert len(outcomes) == 2  # frame 1 is still within edge_timeout
    runtime.clock.advance(0.31)
    runtime.poll()
    assert len(outcomes) == 3
    assert not runtime.on_result(EdgeResult(0, 0, "", "alexnet", "conv5"))  # a duplicate of a completed frame
    runtime.stop()
    by_seq = {o.seq: o for o in outcomes}
    assert by_seq[1].drop_reason == "edge_lost" and by_seq[1].drop_place == "edge" and by_seq[1].bytes_sent > 0
    assert by_seq[0].completed and by_seq[2].completed and len(outcomes) == 3
    assert runtime.stats.duplicate_or_late_results == 1


def test_the_state_counts_the_frames_out_at_the_edge_until_their_outcome(alexnet, edge_of):
    """``edge_frames`` of the live device: a frame whose result never comes stays counted, with its edge work,
    until it is declared lost; answered frames leave the count."""
    outcomes, edge = [], edge_of(lose_result=lambda seq: seq == 1)
    runtime = make_runtime(alexnet, edge, outcomes, edge_timeout=0.3)
    runtime.start()
    scene = TrafficScene(seed=3)
    assert decide(runtime, 0, scene.frame(0), "conv5", "test") and decide(runtime, 1, scene.frame(1), "conv5", "test")
    assert wait_for(lambda: len(outcomes) == 1 and len(edge.received) == 2)
    state = runtime.on_frame(2, scene.frame(2))
    conv5 = runtime.costs.index("conv5")
    assert (state.edge_frames, state.edge_work) == (1, pytest.approx(runtime.costs.edge[conv5]))  # frame 1
    runtime.on_decision(Decision(2, "last", "test"))
    runtime.clock.advance(0.31)
    runtime.poll()  # frame 1 is lost
    assert wait_for(lambda: len(outcomes) == 3)
    state = runtime.on_frame(3, scene.frame(3))
    assert (state.edge_frames, state.edge_work) == (0, 0.0)
    runtime.stop()


def test_a_payload_the_edge_never_receipts_is_edge_lost_at_the_link_and_frees_it(alexnet, edge_of):
    """No receipt within edge_timeout of the send: the frame is dropped where it was (the link), counted as
    lost, and the next frame's transmission starts; receipts measure the transmission, and b_hat with it."""
    outcomes, edge = [], edge_of(lose=lambda seq: seq == 0)
    runtime = make_runtime(alexnet, edge, outcomes, edge_timeout=0.5)
    runtime.start()
    scene = TrafficScene(seed=3)
    for seq in range(2):
        decide(runtime, seq, scene.frame(seq), "conv5")
    assert wait_for(lambda: len(edge.received) == 1 and runtime.queues.offload)  # frame 1 waits for the link
    runtime.clock.advance(0.49)
    assert not wait_for(lambda: outcomes, timeout=0.3)  # still within edge_timeout
    runtime.clock.advance(0.02)
    assert wait_for(lambda: len(outcomes) == 2)
    runtime.stop()
    by_seq = {o.seq: o for o in outcomes}
    assert (by_seq[0].drop_reason, by_seq[0].drop_place) == ("edge_lost", "link")
    assert by_seq[1].completed and by_seq[1].transmit == pytest.approx(by_seq[1].bytes_sent / 50e6)  # bytes / rate
    assert runtime.stats.receipts == 1 and runtime._lost_in_a_row == 0  # the result of frame 1 reset it


def test_a_result_before_its_receipt_completes_the_frame(alexnet, edge_of):
    """A result that overtakes its frame's receipt shows the edge held the payload: the frame completes."""
    outcomes, edge = [], edge_of(lose=lambda seq: True)
    runtime = make_runtime(alexnet, edge, outcomes)
    runtime.start()
    decide(runtime, 0, TrafficScene(seed=3).frame(0), "conv5")
    assert wait_for(lambda: len(edge.received) == 1)
    served = edge.runtime.process(edge.received[0])
    assert runtime.on_result(served.result)
    assert wait_for(lambda: len(outcomes) == 1)
    assert not runtime.on_receipt(edge.runtime.accept(edge.received[0]))  # the late receipt: ignored
    runtime.stop()
    assert outcomes[0].completed and runtime.stats.late_receipts == 1


def test_stop_gives_every_frame_in_the_pipeline_an_outcome(alexnet, edge_of):
    """On the system clock with a 2 kB/s link, frames are still computing, queued or transmitting at stop
    however fast the machine: each gets its shutdown outcome."""
    from scissor_core.runtime.clock import SYSTEM_CLOCK

    outcomes, edge = [], edge_of(lose=lambda seq: True)
    runtime = make_runtime(alexnet, edge, outcomes, trace=parse_trace("const:2kB"), decision_deadline=60.0,
                           clock=SYSTEM_CLOCK)
    runtime.start()
    for seq in range(6):
        runtime.on_frame(seq, TrafficScene(seed=4).frame(seq))
        if seq < 5:
            runtime.on_decision(Decision(seq, "0" if seq % 2 else "conv2", "test"))
    runtime.stop()
    assert sorted(o.seq for o in outcomes) == list(range(6))
    assert {o.drop_reason for o in outcomes} == {"shutdown"}
    assert runtime.in_flight == 0


def test_a_send_stuck_in_the_middleware_does_not_keep_stop_from_recording_every_outcome(alexnet, edge_of, caplog):
    """The link worker blocks in send (a middleware call that never returns): stop waits for it no longer
    than its bound, logs where it is stuck, and every frame still gets its outcome."""
    import threading

    outcomes, edge, entered, release = [], edge_of(), threading.Event(), threading.Event()

    def send_stuck(payload):
        entered.set()
        release.wait()

    runtime = make_runtime(alexnet, edge, outcomes, send=send_stuck)
    runtime.start()
    for seq in range(3):
        decide(runtime, seq, TrafficScene(seed=5).frame(seq), "conv5", "test")
    assert entered.wait(60)
    try:
        with caplog.at_level("WARNING", logger="scissor_core.runtime.workers"):
            runtime.stop(join_timeout=0.5)
        assert sorted(o.seq for o in outcomes) == [0, 1, 2]
        assert {o.drop_reason for o in outcomes} == {"shutdown"}
        assert "thread device-link still running" in caplog.text and "in send_stuck" in caplog.text
    finally:
        release.set()


def test_a_device_only_frame_publishes_its_result_as_the_edge_would(alexnet, edge_of):
    """Split last: the device hands its own result (split last, the frame's stamp, the unsplit top-k) to
    publish_result; offloaded frames are the edge's to publish. Reading its own result back is no duplicate."""
    outcomes, published, edge = [], [], edge_of()
    runtime = make_runtime(alexnet, edge, outcomes, publish_result=published.append)
    runtime.start()
    frame = TrafficScene(seed=7).frame(0)
    runtime.on_frame(0, frame, "camera#0", 1_700_000_000_123)
    runtime.on_decision(Decision(0, "last", "test"))
    decide(runtime, 1, TrafficScene(seed=7).frame(1), "conv3", "test")
    assert wait_for(lambda: len(outcomes) == 2)
    runtime.stop()
    assert [(r.seq, r.split, r.stamp_ns, r.frame_id) for r in published] == [(0, "last", 1_700_000_000_123, "camera#0")]
    x, _ = alexnet.preprocess(frame)
    with torch.inference_mode():
        expected = alexnet.postprocess(alexnet.module(x)).topk
    assert list(published[0].topk_classes) == list(expected.class_ids)
    assert runtime.on_result(published[0]) and runtime.stats.duplicate_or_late_results == 0


def test_shaper_follows_the_trace():
    shaper = LinkShaper(parse_trace("const:1MB"), origin=100.0)
    assert shaper.finish_time(101.0, 500_000) == pytest.approx(101.5)


def test_slow_link_paces_transmissions(alexnet, edge_of):
    """At 2 MB/s, four 0.6 MB raw frames take their bytes / 2 MB/s on the device's clock, and b_hat is 2 MB/s."""
    outcomes, edge = [], edge_of()
    runtime = make_runtime(alexnet, edge, outcomes, trace=parse_trace("const:2MB"))
    runtime.start()
    start = runtime.clock.now()
    for seq in range(4):
        decide(runtime, seq, TrafficScene(seed=5).frame(seq), "0", "test")
    assert wait_for(lambda: len(outcomes) == 4)
    elapsed = runtime.clock.now() - start
    runtime.stop()
    sent = sum(o.bytes_sent for o in outcomes)
    assert sent > 4 * 600_000
    assert elapsed == pytest.approx(sent / 2e6, rel=1e-6)
    assert [o.transmit for o in outcomes] == pytest.approx([o.bytes_sent / 2e6 for o in outcomes], rel=1e-6)
    assert runtime.estimator.estimate == pytest.approx(2e6, rel=1e-6)


def test_the_trace_starts_at_the_first_frame_and_the_replayed_b_hat_is_the_devices(alexnet, edge_of):
    """Two raw frames at 2 MB/s, then the link steps to 6 MB/s: the trace counts from the first frame (not
    the runtime's start), b_hat follows the step after two transmissions, and replaying the device's
    estimator over its logged outcomes (scissor bench link) gives the estimate the device held."""
    outcomes, edge = [], edge_of()
    link = LinkConfig()
    runtime = make_runtime(alexnet, edge, outcomes, trace=parse_trace("steps:0.7x2MB,100x6MB"))
    runtime.start()
    runtime.clock.advance(50.0)  # start-up: not on the trace
    assert runtime.link_report().shaped_rate == 2e6
    for seq in range(5):
        decide(runtime, seq, TrafficScene(seed=5).frame(seq), "0", "test")
        assert wait_for(lambda: len(outcomes) == seq + 1)  # noqa: B023 -- waited on at once
    runtime.stop()
    rates = [o.bytes_sent / o.transmit for o in sorted(outcomes, key=lambda o: o.seq)]
    assert rates[:2] == pytest.approx([2e6, 2e6], rel=1e-6) and rates[-2:] == pytest.approx([6e6, 6e6], rel=1e-6)
    assert runtime.estimator.estimate == pytest.approx(6e6, rel=1e-6) and runtime.estimator.steps >= 1
    replayed = replay_estimates(outcomes, runtime.shaper.trace, link)
    assert replayed[-1].b_hat == pytest.approx(runtime.estimator.estimate, rel=1e-9)
    assert [e.rate for e in replayed][-2:] == [6e6, 6e6]


def test_an_unreadable_camera_frame_gets_a_bad_frame_outcome(alexnet, edge_of):
    outcomes, edge = [], edge_of()
    runtime = make_runtime(alexnet, edge, outcomes)

    def unreadable():
        raise ImageError("step: 3 is not width x 3")

    seq, state = runtime.read_frame(7, unreadable)
    assert (seq, state) == (7, None) and runtime.stats.frames == 1 and runtime.in_flight == 0
    [o] = outcomes
    assert (o.seq, o.completed, o.drop_reason, o.drop_place) == (7, False, "bad_frame", "local")
    assert runtime.stats.bad_frames == 1


def test_a_restarted_camera_is_renumbered_and_an_unnumbered_frame_gets_the_next_number(alexnet, edge_of):
    runtime = make_runtime(alexnet, edge_of(), [])
    frame = TrafficScene(seed=1).frame(0)
    seqs = [runtime.read_frame(claimed, lambda: frame)[0] for claimed in (0, 1, 0, None, 9)]
    assert seqs == [0, 1, 2, 3, 9] and runtime.stats.renumbered_frames == 1


def test_a_failed_send_drops_that_frame_and_the_link_goes_on(alexnet, edge_of):
    outcomes, edge = [], edge_of()

    def send_failing_frame_1(payload):
        if payload.seq == 1:
            raise RuntimeError("Failed to publish: publisher's context is invalid")
        edge.send(payload)

    runtime = make_runtime(alexnet, edge, outcomes, send=send_failing_frame_1)
    runtime.start()
    for seq in range(3):
        decide(runtime, seq, TrafficScene(seed=5).frame(seq), "conv5", "test")
    assert wait_for(lambda: len(outcomes) == 3)
    runtime.stop()
    by_seq = {o.seq: o for o in outcomes}
    assert by_seq[1].drop_reason == "local_error" and by_seq[1].drop_place == "link"
    assert by_seq[0].completed and by_seq[2].completed and len(outcomes) == 3


def test_without_a_listening_edge_frames_run_device_only_until_one_returns(alexnet, edge_of):
    outcomes, edge = [], edge_of()
    runtime = make_runtime(alexnet, edge, outcomes)
    runtime.start()
    scene = TrafficScene(seed=6)
    runtime.edge_listeners(0)
    assert not runtime.edge_available
    for seq in range(2):
        decide(runtime, seq, scene.frame(seq), "conv5")
    assert wait_for(lambda: len(outcomes) == 2)
    runtime.edge_listeners(1)  # an edge (re)started
    for seq in range(2, 4):
        decide(runtime, seq, scene.frame(seq), "conv5")
    assert wait_for(lambda: len(outcomes) == 4)
    runtime.stop()
    by_seq = {o.seq: o for o in outcomes}
    for seq in (0, 1):
        assert by_seq[seq].completed and by_seq[seq].split == "last" and by_seq[seq].policy == EDGE_AWAY_POLICY
        assert by_seq[seq].fallback_decision
    for seq in (2, 3):
        assert by_seq[seq].completed and by_seq[seq].split == "conv5" and by_seq[seq].policy == "agent"
    assert runtime.stats.edge_away_decisions == 2 and runtime.stats.edge_departures == 1


def test_an_edge_that_stops_answering_is_away_until_the_retry(alexnet, edge_of):
    answering = [False]
    outcomes, edge = [], edge_of(lose_result=lambda seq: not answering[0])
    runtime = make_runtime(alexnet, edge, outcomes, edge_timeout=0.2, edge_silence_limit=2, edge_retry=1.0)
    runtime.start()
    scene = TrafficScene(seed=7)
    for seq in range(2):  # both lost: the second makes the edge away
        decide(runtime, seq, scene.frame(seq), "conv5")
    assert wait_for(lambda: len(edge.received) == 2)
    runtime.clock.advance(0.21)
    runtime.poll()
    assert [o.drop_reason for o in outcomes] == ["edge_lost", "edge_lost"] and not runtime.edge_available
    decide(runtime, 2, scene.frame(2), "conv5")  # runs device-only while away
    assert wait_for(lambda: len(outcomes) == 3)
    answering[0] = True
    runtime.clock.advance(0.99)
    assert not runtime.edge_available
    runtime.clock.advance(0.02)
    assert runtime.edge_available  # the retry
    decide(runtime, 3, scene.frame(3), "conv5")
    assert wait_for(lambda: len(outcomes) == 4)
    runtime.stop()
    by_seq = {o.seq: o for o in outcomes}
    assert by_seq[2].completed and by_seq[2].split == "last" and by_seq[2].policy == EDGE_AWAY_POLICY
    assert by_seq[3].completed and by_seq[3].split == "conv5"


def test_feature_maps_queued_when_the_edge_leaves_are_dropped_as_edge_lost_at_once(alexnet, edge_of):
    """Frame 0's send is held, so frames 1 and 2 queue behind it; the edge leaves; once the link is free
    they are dropped at once instead of being sent to nobody and waiting out edge_timeout."""
    import threading

    outcomes, edge, release = [], edge_of(), threading.Event()

    def send_holding_frame_0(payload):
        if payload.seq == 0:
            release.wait()
        edge.send(payload)

    runtime = make_runtime(alexnet, edge, outcomes, send=send_holding_frame_0, edge_timeout=60.0)
    runtime.start()
    scene = TrafficScene(seed=8)
    for seq in range(3):
        decide(runtime, seq, scene.frame(seq), "conv5")
    assert wait_for(lambda: runtime.queues.transmitting is not None and len(runtime.queues.offload) == 2)
    runtime.edge_listeners(0)
    release.set()
    assert wait_for(lambda: {o.seq for o in outcomes} >= {1, 2})
    runtime.stop()
    queued = [o for o in outcomes if o.seq in (1, 2)]
    assert [o.drop_reason for o in queued] == ["edge_lost", "edge_lost"] and {o.drop_place for o in queued} == {"link"}
    assert [e.seq for e in edge.received] == [0]


def test_an_overloaded_edge_whose_results_come_late_is_not_away(alexnet, edge_of):
    outcomes, edge = [], edge_of(lose_result=lambda seq: True)
    runtime = make_runtime(alexnet, edge, outcomes, edge_timeout=0.2, edge_silence_limit=2, edge_retry=60.0)
    runtime.start()
    scene = TrafficScene(seed=9)
    for seq in range(2):
        decide(runtime, seq, scene.frame(seq), "conv5")
        assert wait_for(lambda n=seq + 1: len(edge.received) == n)
        runtime.clock.advance(0.21)
        runtime.poll()
        assert len(outcomes) == seq + 1
        if seq == 0:
            assert not runtime.on_result(EdgeResult(0, 0, "", "alexnet", "conv5"))  # late, after its edge_lost
    runtime.stop()
    assert [o.drop_reason for o in outcomes] == ["edge_lost", "edge_lost"]
    assert runtime.edge_available and runtime.stats.edge_departures == 0


def test_a_result_of_another_model_is_ignored(alexnet, edge_of):
    runtime = make_runtime(alexnet, edge_of(), [])
    assert not runtime.on_result(EdgeResult(0, 0, "", "yolov3", "4"))
    assert runtime.stats.duplicate_or_late_results == 0


def test_a_frame_codec_sends_split_0_as_jpeg_and_feature_maps_with_the_tensor_codec(alexnet, edge_of):
    """codec.frame_encoding jpeg: split 0's blob is a JPEG frame, every other split keeps the raw codec,
    and each outcome names the codec its bytes were sent with."""
    outcomes, edge, encodings = [], edge_of(), {}

    def send(payload):
        encodings[payload.seq] = describe(payload.payload)[0]["encoding"]
        edge.send(payload)

    jpeg = CodecSpec("jpeg", jpeg_quality=90)
    with pytest.raises(ValueError, match="frame codec"):
        make_runtime(alexnet, edge, [], frame_codec=jpeg)  # a frame codec the cost table does not have
    runtime = make_runtime(alexnet, edge, outcomes, "0", costs=costs_for(alexnet, "jpeg-q90"), frame_codec=jpeg,
                           send=send)
    runtime.start()
    scene = TrafficScene(seed=2)
    for seq, split in enumerate(["0", "conv3"]):
        assert decide(runtime, seq, scene.frame(seq), split, "test")
    assert wait_for(lambda: len(outcomes) == 2)
    runtime.stop()
    assert encodings == {0: "jpeg", 1: "raw"}
    assert {o.seq: o.codec for o in outcomes} == {0: "jpeg-q90", 1: "raw"}
    assert all(o.completed for o in outcomes)


def test_from_config_wires_the_config_and_profile(alexnet, edge_of, tmp_path):
    """DeviceRuntime.from_config: the config's codec, trace, T and deadlines, the profile's slowdown, the
    outcome log, and the sealer when link.key_file is set."""
    from scissor_core.wire.sealing import write_key

    from simhelpers import toy_profile

    config = small_config("alexnet")
    config.link.trace, config.queues.timeout, config.device.edge_timeout = "const:3MB", 0.7, 4.0
    config.link.key_file = str(write_key(tmp_path / "link.key"))
    config.device.outcome_log = str(tmp_path / "outcomes.csv")
    profile = toy_profile("alexnet", {split: (0.01, 0.01, 1000) for split in alexnet.candidates})
    profile.settings["device_slowdown"] = 3.0
    costs = SplitCosts.for_config(profile, config.codec)
    runtime = DeviceRuntime.from_config(config, alexnet, profile, FixedSplit(costs, "conv3"), emit=lambda o: None,
                                        send=lambda p: None)
    assert runtime.queues.timeout == 0.7 and runtime.edge_timeout == 4.0 and runtime.slowdown == 3.0
    assert runtime.shaper.trace.rate_at(0.0) == 3e6 and runtime.sealer is not None
    assert runtime.costs == costs
    runtime.reject_frame(0)
    runtime.stop()
    assert (tmp_path / "outcomes.csv").read_text().count("\n") == 2  # header + the one outcome
