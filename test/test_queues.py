"""The device queues: drop rules (timeout, length threshold), one outcome per frame, state s_t."""
from __future__ import annotations

import pytest

from scissor_core.runtime.outcome import FrameOutcome, Reward
from scissor_core.runtime.queues import DeviceQueues, Job


def make_queues(timeout: float = 1.0, local_max: int = 5, offload_max: int = 5):
    out: list[FrameOutcome] = []
    return DeviceQueues("toy", timeout, local_max, offload_max, Reward(w=1.0, drop_penalty=10.0), out.append), out


def job(seq: int, t: float, split: str = "b", local: float = 0.3, edge: float = 0.05, nbytes: int = 100_000):
    return Job(seq, t, split, "raw", "test", False, local, edge, nbytes, split != "0", split != "last")


def test_local_timeout_drops_frames_waiting_longer_than_T_at_the_exact_time():
    q, out = make_queues(timeout=1.0)
    q.admit(job(0, 0.0, local=5.0), 0.0)
    assert q.start_compute(0.0).seq == 0
    for seq, t in ((1, 0.5), (2, 0.6), (3, 4.0)):
        assert q.admit(job(seq, t), t)
    q.finish_compute(5.0)  # frame 0's features go to the offloading queue
    started = q.start_compute(5.0)  # 1 and 2 waited > 1 s; 3 waited exactly 1 s: kept
    assert started.seq == 3 and started.local_wait == pytest.approx(1.0)
    drops = {o.seq: o for o in out}
    assert set(drops) == {1, 2}
    for o in drops.values():
        assert (o.completed, o.drop_reason, o.drop_place) == (False, "local_timeout", "local")
        assert o.total_delay == pytest.approx(1.0) and o.local_wait == pytest.approx(1.0) and o.reward == -10.0
        assert o.bytes_sent == 0


def test_length_thresholds_drop_the_arrival():
    q, out = make_queues(local_max=2, offload_max=1)
    assert q.admit(job(0, 0.0), 0.0) and q.admit(job(1, 0.0), 0.0)
    assert not q.admit(job(2, 0.1), 0.1)
    assert q.admit(job(3, 0.1, split="0"), 0.1)  # edge-only bypasses the full local queue
    assert not q.admit(job(4, 0.2, split="0"), 0.2)
    assert [(o.seq, o.drop_reason, o.drop_place) for o in out] == [
        (2, "local_queue_full", "local"), (4, "offload_queue_full", "offload")]
    assert [j.seq for j in q.local] == [0, 1] and [j.seq for j in q.offload] == [3]


def test_offload_timeout_and_a_completed_frame_with_every_duration():
    q, out = make_queues(timeout=1.0)
    q.admit(job(0, 0.0, local=0.2), 0.0)
    q.admit(job(1, 0.1, local=0.2), 0.1)
    q.start_compute(0.0)
    q.finish_compute(0.2)
    assert q.start_transmit(0.3).seq == 0
    assert q.start_compute(0.3).seq == 1
    q.finish_compute(0.5)  # frame 1 waits for the link from 0.5
    sent = q.finish_transmit(2.0)
    assert q.start_transmit(2.0) is None  # frame 1 waited 1.5 s > T
    q.complete(sent, 2.25, 0.25)
    done, dropped = sorted(out, key=lambda o: o.completed)[::-1]
    assert done.completed and done.seq == 0 and done.bytes_sent == 100_000
    assert (done.local_wait, done.local_compute, done.offload_wait, done.transmit, done.edge_compute) == \
        pytest.approx((0.0, 0.2, 0.1, 1.7, 0.25))
    assert done.total_delay == pytest.approx(2.25) and done.reward == pytest.approx(-(0.1 + 2.25))
    assert (dropped.seq, dropped.drop_reason, dropped.drop_place) == (1, "offload_timeout", "offload")
    assert dropped.total_delay == pytest.approx(1.5 - 0.1 + 0.0) and dropped.offload_wait == 1.0
    assert q.idle


def test_device_only_completes_on_the_device_and_failures_are_recorded():
    q, out = make_queues()
    q.admit(job(0, 0.0, split="last", local=0.5, edge=0.0, nbytes=0), 0.0)
    q.start_compute(0.0)
    q.finish_compute(0.5)
    assert out[0].completed and out[0].bytes_sent == 0 and out[0].total_delay == 0.5 and q.idle
    q.admit(job(1, 1.0, split="0"), 1.0)
    lost = q.finish_transmit(1.5) if q.start_transmit(1.0) else None
    q.fail(lost, 3.0, "edge_lost", "edge", bytes_sent=lost.nbytes)
    assert (out[1].drop_reason, out[1].bytes_sent, out[1].total_delay) == ("edge_lost", 100_000, 2.0)


def test_state_is_the_papers_l_c_b_tau_o():
    q, _ = make_queues(timeout=10.0)
    q.admit(job(0, 0.0, local=1.0, edge=0.5, nbytes=1_000), 0.0)
    q.start_compute(0.0)
    q.admit(job(1, 0.1, local=0.3, edge=0.05, nbytes=2_000), 0.1)
    q.admit(job(2, 0.2, local=0.4, edge=0.01, nbytes=3_000), 0.2)
    q.admit(job(3, 0.3, split="0", local=0.0, edge=0.3, nbytes=600_000), 0.3)
    q.start_transmit(0.3)  # frame 3 on the link
    q.admit(job(4, 0.4, split="0", local=0.0, edge=0.3, nbytes=500_000), 0.4)
    s = q.observe(0.5, 5, bandwidth=1e6)
    assert (s.seq, s.local_len, s.offload_len) == (5, 2, 1)
    assert s.tau == pytest.approx((0.3 + 0.05) + (0.4 + 0.01) + 0.3)
    assert s.pending_bytes == 2_000 + 3_000 + 500_000 and s.offload_bytes == 500_000
    assert s.device_backlog == pytest.approx(0.5 + 0.3 + 0.4)
    assert s.inflight_bytes == pytest.approx(600_000 - 1e6 * 0.2)
    assert s.vector() == pytest.approx((2, 1, 1.0, s.tau, 0.505))
    q.finish_transmit(0.6)
    q.finish_compute(1.0)
    for t in (1.0, 1.3):
        q.start_compute(t)
        q.finish_compute(t + 0.3)
    s = q.observe(2.0, 6, 1e6)
    assert [j.seq for j in q.offload] == [4, 0, 1, 2] and (s.local_len, s.device_backlog) == (0, 0.0)
    assert s.tau == pytest.approx(0.3 + 0.5 + 0.05 + 0.01)
    assert s.pending_bytes == s.offload_bytes == 506_000


def test_edge_frames_count_what_was_sent_until_its_outcome():
    """Frames on the link or sent stay counted (with their edge work) until completed or failed, however they
    end."""
    q, out = make_queues(timeout=10.0)
    sent = []
    for seq, edge in ((0, 0.5), (1, 0.25), (2, 0.125)):
        q.admit(job(seq, 0.0, split="0", local=0.0, edge=edge), 0.0)
        q.start_transmit(0.0)
        sent.append(q.finish_transmit(0.1))
    q.admit(job(3, 0.2, split="0", local=0.0, edge=1.0), 0.2)  # waiting for the link: not at the edge
    s = q.observe(0.2, 4, 1e6)
    assert (s.edge_frames, s.edge_work) == (3, pytest.approx(0.875))
    assert s.edge_vector() == (*s.extended_vector(), 3.0, pytest.approx(0.875))
    q.start_transmit(0.2)  # on the link: counted
    assert q.observe(0.2, 5, 1e6).edge_frames == 4
    q.complete(sent[0], 0.3, 0.5)
    q.fail(sent[1], 0.3, "edge_lost", "edge", 100_000)
    s = q.observe(0.3, 6, 1e6)
    assert (s.edge_frames, s.edge_work) == (2, pytest.approx(1.125))
    q.abort_transmit(0.4, "shutdown")  # frame 3 failed on the link
    assert q.observe(0.4, 7, 1e6).edge_frames == 1
    q.fail(sent[2], 0.4, "shutdown", "edge", 100_000)
    s = q.observe(0.5, 8, 1e6)
    assert (s.edge_frames, s.edge_work) == (0, 0.0) and len(out) == 4


def test_service_order_errors():
    q, _ = make_queues()
    with pytest.raises(RuntimeError):
        q.finish_compute(0.0)
    with pytest.raises(RuntimeError):
        q.finish_transmit(0.0)
