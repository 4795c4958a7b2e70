"""Benchmarks of the live testbed that print measured figures.

- ``scissor bench testbed``: run the real testbed (light load, so queues stay empty)
  and compare every completed frame's measured total delay with the ideal
  ``local compute + bytes / link rate + edge compute``: what the ROS plumbing
  (DDS hops, serialisation, scheduling, result return) adds on top of the work.
- ``scissor bench agent``: the agent's decision path: QueueState published by this
  process -> agent_node (a separate process) -> SplitDecision back, over DDS; and the
  policy's own forward pass in-process.
"""
from __future__ import annotations

import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from scissor_bringup.launcher import Launcher
from scissor_bringup.testbed import describe_testbed
from scissor_bringup.testbed_run import run_testbed
from scissor_core.config import load_config
from scissor_core.runtime.outcome import FrameOutcome
from scissor_core.runtime.traces import parse_trace


def ideal_delay(o: FrameOutcome, link_rate: float) -> float:
    """The work a frame needs with no waiting anywhere: compute on both sides plus the bytes on the link."""
    return o.local_compute + o.bytes_sent / link_rate + o.edge_compute


def bench_testbed(config_file: str, duration: float, policy: str, output: Path) -> str:
    """Median overhead of measured over ideal delay, overall and per split, from one testbed run."""
    config = load_config(config_file)
    trace = parse_trace(config.link.trace)
    run = run_testbed(config_file, duration, output, policy=policy)
    done = [o for o in run.outcomes if o.completed and o.split != "last"]
    if not done:
        return "no completed offloaded frame: nothing to compare"
    rows = ["| split | frames | median ideal s | median measured s | median overhead |", "|---|---:|---:|---:|---:|"]
    groups: dict[str, list[FrameOutcome]] = {}
    for o in done:
        groups.setdefault(o.split, []).append(o)
    groups["all"] = done
    for split, outcomes in groups.items():
        ideal = [ideal_delay(o, trace.rate_at(0.0)) for o in outcomes]
        measured = [o.total_delay for o in outcomes]
        overhead = statistics.median((m - i) / i for m, i in zip(measured, ideal, strict=True))
        rows.append(f"| {split} | {len(outcomes)} | {statistics.median(ideal):.4f} | "
                    f"{statistics.median(measured):.4f} | {overhead * 100:.1f}% |")
    return (f"testbed {duration:g} s, policy {policy}, link {config.link.trace}, "
            f"{len(run.outcomes)} frames ({len(done)} completed offloaded)\n" + "\n".join(rows)
            + "\n(ideal = local compute + bytes / link rate + edge compute; goal: median overhead <= 5%)")


def bench_agent(config_file: str, messages: int, rate: float) -> str:
    """Round trip QueueState -> agent_node -> SplitDecision over DDS, and the policy's forward pass."""
    import rclpy

    from scissor_core.policies.serving import default_profile_path, serve_policy
    from scissor_core.runtime.costs import ModelProfile
    from scissor_core.runtime.queues import ObservedState
    from scissor_msgs.msg import QueueState, SplitDecision
    from scissor_ros.messages import QUEUE_STATE, to_message

    config = load_config(config_file)
    profile = ModelProfile.load(default_profile_path(config, config.model.name))
    policy = serve_policy(config, profile, config.agent.policy)
    state = ObservedState(0, 0.0, 2, 1, 5e6, 0.8, 2e6, 0.4, 1e5, 1e6, 1, 0.5)
    for _ in range(200):
        policy.decide(state)
    forward = []
    for _ in range(2000):
        start = time.perf_counter()
        policy.decide(state)
        forward.append(time.perf_counter() - start)

    sent: dict[int, float] = {}
    round_trips: list[float] = []
    launcher = Launcher(describe_testbed(config_file, nodes=("agent_node",)), output=io.StringIO())
    launcher.start()
    rclpy.init()
    node = rclpy.create_node("bench_agent")
    try:
        publisher = node.create_publisher(QueueState, "scissor/queue_state", 10)

        def on_decision(msg: SplitDecision) -> None:
            if msg.seq in sent:
                round_trips.append(time.perf_counter() - sent.pop(msg.seq))

        node.create_subscription(SplitDecision, "scissor/split_decision", on_decision, 10)
        deadline = time.monotonic() + 60
        while publisher.get_subscription_count() == 0:
            if time.monotonic() > deadline or launcher.nodes[0].process.poll() is not None:
                raise RuntimeError("agent_node did not come up:\n" + launcher.output.getvalue()[-2000:])
            rclpy.spin_once(node, timeout_sec=0.1)
        candidates = list(policy.costs.splits)
        warmup = 20  # discovery, first allocations
        for seq in range(messages + warmup):
            if seq == warmup:
                round_trips.clear()
            msg = to_message(QUEUE_STATE, state._replace(seq=seq), candidates=candidates)
            sent[seq] = time.perf_counter()
            publisher.publish(msg)
            next_at = sent[seq] + 1.0 / rate
            while time.perf_counter() < next_at:
                rclpy.spin_once(node, timeout_sec=max(0.0, next_at - time.perf_counter()))
        end = time.monotonic() + 2
        while sent and time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.05)
    finally:
        node.destroy_node()
        rclpy.shutdown()
        launcher.shutdown()
    lost = len(sent)
    rt = np.asarray(round_trips) * 1e3
    fw = np.asarray(forward) * 1e6
    return (f"agent policy {policy.name} ({config.model.name}); {len(rt)} decisions at {rate:g}/s, "
            f"{lost} unanswered\n"
            "| measure | p50 | p99 | max |\n|---|---:|---:|---:|\n"
            f"| QueueState -> SplitDecision over DDS (ms) | {np.percentile(rt, 50):.3f} | "
            f"{np.percentile(rt, 99):.3f} | {rt.max():.3f} |\n"
            f"| policy.decide in-process (us) | {np.percentile(fw, 50):.1f} | {np.percentile(fw, 99):.1f} | "
            f"{fw.max():.1f} |\n(goals: p99 <= 2 ms over DDS, <= 100 us for the policy's forward pass)")


def bench_config(base: str, **sections: dict) -> str:
    """A temporary config file: ``base`` with ``sections`` merged in (benchmarks run on their own settings)."""
    data = yaml.safe_load(Path(base).read_text()) or {}
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    yaml.safe_dump(data, handle)
    handle.close()
    return handle.name

