"""camera_node over real DDS: frames arrive bit-exact, stamped, numbered, on overridable QoS; diagnostics."""
from __future__ import annotations

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from scissor_core.sources.imaging import parse_frame_id
from scissor_core.sources.scene import TrafficScene
from scissor_ros.images import image_to_bgr

from ros_graph import graph_node, node_process, unique_domain_id


@pytest.mark.timeout(90)
def test_camera_publishes_scene_frames_bit_exact():
    frames, seed, domain = 20, 3, unique_domain_id()
    received: dict[int, Image] = {}
    diagnostics: list[DiagnosticArray] = []
    with graph_node("camera_test", domain) as t:
        t.node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
        with node_process("scissor_device.camera_node", domain, "-p", "camera.source:=scene",
                          "-p", f"camera.max_frames:={frames}", "-p", "camera.interval:=0.1",
                          "-p", f"camera.seed:={seed}", "-p", "camera.encoding:=rgb8",
                          "-p", "camera.wait_for_subscribers:=1", "-p", "ros.diagnostics_period:=0.2",
                          "-p", "qos_overrides./camera/image_raw.publisher.reliability:=reliable") as camera:
            # The camera publishes nothing before its image subscriber: subscribe only once its diagnostics
            # writer is known here, so its statuses over the run reach us however slow discovery is.
            t.spin_until(lambda: t.node.count_publishers("/diagnostics") >= 1, 60, "the camera's diagnostics")
            # RELIABLE readers only match RELIABLE writers: receiving at all proves the QoS override works.
            reliable = QoSProfile(depth=frames, reliability=ReliabilityPolicy.RELIABLE)
            t.node.create_subscription(Image, "camera/image_raw",
                                       lambda m: received.setdefault(parse_frame_id(m.header.frame_id)[1], m),
                                       reliable)
            t.spin_until(lambda: camera.poll() is not None, 60, "the camera to stop after max_frames")
            t.spin_for(0.3)
            output = camera.stdout.read()
        assert camera.returncode == 0, output
    assert f"published max_frames={frames} frames" in output
    assert sorted(received) == list(range(frames))  # reliable, and nothing published before we matched
    scene = TrafficScene(seed=seed)
    stamps = []
    for seq, msg in sorted(received.items()):
        assert msg.encoding == "rgb8" and (msg.height, msg.width) == (480, 640)
        assert parse_frame_id(msg.header.frame_id) == ("camera", seq)
        np.testing.assert_array_equal(image_to_bgr(msg), scene.frame(seq))
        stamps.append(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)
    assert all(b > a for a, b in zip(stamps, stamps[1:]))
    statuses = [s for d in diagnostics for s in d.status if s.name.endswith("camera_node")]
    names = [s.name for d in diagnostics for s in d.status]
    assert statuses, f"no diagnostics from camera_node: {len(diagnostics)} arrays, statuses of {names}"
    values = {kv.key: kv.value for kv in statuses[-1].values}
    assert "frames" in values and "synthetic traffic scene" in values["source"]


def test_camera_bursts_publish_extra_frames_back_to_back():
    received: dict[int, float] = {}
    domain = unique_domain_id()
    with graph_node("burst_test", domain) as t:
        reliable = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
        t.node.create_subscription(
            Image, "camera/image_raw", lambda m: received.setdefault(
                parse_frame_id(m.header.frame_id)[1], m.header.stamp.sec + m.header.stamp.nanosec * 1e-9), reliable)
        with node_process("scissor_device.camera_node", domain, "-p", "camera.source:=scene",
                          "-p", "camera.max_frames:=12", "-p", "camera.interval:=0.3", "-p", "camera.width:=64",
                          "-p", "camera.height:=64", "-p", "camera.burst_every:=5", "-p", "camera.burst_size:=3",
                          "-p", "camera.wait_for_subscribers:=1",
                          "-p", "qos_overrides./camera/image_raw.publisher.reliability:=reliable") as camera:
            t.spin_until(lambda: camera.poll() is not None, 60, "the camera to stop after max_frames")
            t.spin_for(0.3)
    assert sorted(received) == list(range(12))
    # Frames 5..8 are one tick and its burst of 3, published back to back; ticks stay on their 0.3 s grid
    # (a late tick does not move the next), so frames 4 and 9, two ticks apart, are at least ~0.6 s apart.
    assert received[8] - received[5] < 0.15
    assert received[9] - received[4] > 0.4


@pytest.mark.timeout(60)
def test_camera_rejects_an_invalid_parameter():
    with node_process("scissor_device.camera_node", unique_domain_id(), "-p", "camera.encoding:=jpeg") as camera:
        output, _ = camera.communicate(timeout=45)
    assert camera.returncode == 2
    assert "camera.encoding" in output and "jpeg" in output


@pytest.mark.timeout(90)
def test_an_annotators_subscription_does_not_start_a_waiting_camera():
    """camera.wait_for_subscribers counts the readers that need every frame, not an annotator (which only
    draws): with only an annotator subscribed the camera waits; the first other reader gets frame 0 on."""
    import rclpy

    frames, domain = 8, unique_domain_id()
    drawn: list[Image] = []
    read: dict[int, Image] = {}
    reliable = QoSProfile(depth=frames, reliability=ReliabilityPolicy.RELIABLE)
    with graph_node("camera_wait_test", domain) as t:
        annotator = rclpy.create_node("annotator", context=t.node.context)
        t.executor.add_node(annotator)
        probe = annotator.create_subscription(Image, "camera/image_raw", drawn.append, reliable)
        with node_process("scissor_device.camera_node", domain, "-p", "camera.source:=scene",
                          "-p", f"camera.max_frames:={frames}", "-p", "camera.interval:=0.1",
                          "-p", "camera.wait_for_subscribers:=1",
                          "-p", "qos_overrides./camera/image_raw.publisher.reliability:=reliable") as camera:
            t.spin_until(lambda: probe.get_publisher_count() > 0, 60, "the annotator to match the camera")
            t.spin_for(2.0)  # matched for a while: the camera still waits
            assert not drawn and camera.poll() is None
            t.node.create_subscription(Image, "camera/image_raw",
                                       lambda m: read.setdefault(parse_frame_id(m.header.frame_id)[1], m), reliable)
            t.spin_until(lambda: camera.poll() is not None, 60, "the camera to stop after max_frames")
            t.spin_for(0.3)
        t.executor.remove_node(annotator)
        annotator.destroy_node()
    assert sorted(read) == list(range(frames)) and len(drawn) == frames


def test_a_node_process_prints_its_threads_stacks_on_sigusr1_and_goes_on():
    """What the launcher asks of a node that outlived its SIGINT grace: where every thread is."""
    import signal

    from scissor_core.runtime.workers import STACKS_SIGNAL

    domain = unique_domain_id()
    with graph_node("stacks_test", domain) as t:
        with node_process("scissor_device.camera_node", domain, "-p", "camera.wait_for_subscribers:=1") as camera:
            t.spin_until(lambda: bool(t.node.get_publishers_info_by_topic("/camera/image_raw")), 60,
                         "the camera to be up")
            camera.send_signal(STACKS_SIGNAL)
            t.spin_for(1.0)
            assert camera.poll() is None  # still running
            camera.send_signal(signal.SIGINT)
            output, _ = camera.communicate(timeout=60)
    assert camera.returncode == 0, output
    assert "Current thread" in output or "Thread 0x" in output
    # the main thread's stack, wherever it was (in rclpy's spin, or still in a lazy import of __init__)
    assert "camera_node.py" in output and " in main" in output
