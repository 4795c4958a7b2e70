"""``scissor testbed``: run the live testbed for a bounded time and summarise it.

Starts the nodes of :func:`scissor_bringup.testbed.describe_testbed` with the
rclpy-only :class:`~scissor_bringup.launcher.Launcher` (the same description
``launch/testbed.launch.py`` uses), stops them after ``duration`` seconds (or on
Ctrl-C) with SIGINT so the device writes the outcome of every frame still in
flight, then reads the device's outcome log and writes, under ``output``:
``outcomes.csv`` (one FrameOutcome per frame), ``summary.md`` (the tables
printed) and ``delay.png`` (delay and split over time). With ``record`` a
:class:`~scissor_bringup.recorder.Recorder` in this process writes the run's
topics to a new rosbag2 folder, from before the first node starts until after
the last one has exited; the summary lists the bag's topics and message counts.
:func:`run_testbed_online` is the same run with the agent learning online from the
shipped policy: its reward log, checkpoints and ``reward.png`` (``scissor testbed --learn-online``).
"""
from __future__ import annotations

import re
import shutil
import signal
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scissor_bringup.launcher import Launcher
from scissor_bringup.netns import Impairment, Outages, first_frame_in
from scissor_bringup.testbed import SIDES, describe_testbed
from scissor_core.analysis.metrics import RunMetrics, format_table, per_split, plot_run
from scissor_core.analysis.annotated_run import AnnotatedRun
from scissor_core.config import load_config
from scissor_core.runtime.outcome import FrameOutcome, OutcomeTail, read_csv
from scissor_core.runtime.traces import parse_trace
from scissor_core.simulation.online import OnlineCurve, reward_log_path


@dataclass
class TestbedRun:
    """What a bounded testbed run produced."""

    outcomes: list[FrameOutcome]
    exit_codes: dict[str, int]
    peak_rss: dict[str, int]
    summary: str
    output: Path
    bag: Path | None = None
    """The rosbag2 folder of the run (with ``record``)."""
    bag_topics: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Topic -> (type, messages) of the bag."""
    online: OnlineCurve | None = None
    """The agent's online-learning reward log, read back (:func:`run_testbed_online`)."""
    checkpoint: Path | None = None
    """The online policy's checkpoint file (:func:`run_testbed_online`)."""


DEVICE_FINAL = re.compile(r"device_node: read (\d+) frames, recorded (\d+) outcomes .*; ignored (\d+) "
                          r"duplicate or late results; edge away (\d+) times")
"""The device's last log line: frames read, outcomes recorded, results ignored, edge departures."""


def device_counts(output: str) -> tuple[int, int, int, int] | None:
    """(frames read, outcomes recorded, results ignored, edge departures) from the device's last report in
    ``output``, or None when it printed none (it crashed or was killed)."""
    reports = DEVICE_FINAL.findall(output)
    return tuple(int(g) for g in reports[-1]) if reports else None


def summarise(outcomes: list[FrameOutcome], exit_codes: dict[str, int], peak_rss: dict[str, int],
              title: str, frames_read: int | None) -> str:
    """Markdown summary: frames read against outcomes, overall metrics, drops by reason, per split, node
    exit codes and memory. ``frames_read`` is the device's own count (None: it did not report one)."""
    seqs = [o.seq for o in outcomes]
    read = "unknown (the device printed no final report)" if frames_read is None else str(frames_read)
    lines = [f"# {title}", "",
             f"frames read by the device: {read}; outcomes recorded: {len(outcomes)}; "
             f"duplicates: {len(seqs) - len(set(seqs))}; fallback decisions: "
             f"{sum(o.fallback_decision for o in outcomes)}", ""]
    if frames_read is not None and frames_read != len(outcomes):
        lines += [f"**{frames_read - len(outcomes)} frames read have no outcome in the log**", ""]
    if outcomes:
        lines += [format_table({"testbed": RunMetrics.of(outcomes)}), "", "by split:", "",
                  format_table(per_split(outcomes), label="split"), ""]
        drops: dict[str, int] = {}
        for o in outcomes:
            if not o.completed:
                drops[o.drop_reason] = drops.get(o.drop_reason, 0) + 1
        lines += ["drops by reason: " + (", ".join(f"{k} {v}" for k, v in sorted(drops.items())) or "none"), ""]
    lines += ["| node | exit code | peak RSS MB |", "|---|---:|---:|"]
    lines += [f"| {name} | {code} | {peak_rss.get(name, 0) / 1e6:.0f} |" for name, code in exit_codes.items()]
    return "\n".join(lines)


def annotated_summary(folder: Path, output: Path) -> str:
    """What the run detected (from the annotator's files, when it ran), and the contact sheet
    (OUTPUT/contact_sheet.png) and annotated video (OUTPUT/annotated.mp4, at the camera's measured rate) made
    of them."""
    if not folder.is_dir():
        return ""
    run = AnnotatedRun.read(folder)
    fps = run.camera_fps() or 1.0  # one frame (or no stamps): any rate shows it
    made = [p for p in (run.contact_sheet(output / "contact_sheet.png"), run.video(output / "annotated.mp4", fps))
            if p]
    return "\n\n" + run.summary() + ("\n\nannotated frames: " + ", ".join(str(p) for p in made) if made else "")


FAILED_TAIL = 80
"""Lines of a failed node's output the summary quotes (its error, or the stacks of a node that hung)."""


def failed_node_tails(exit_codes: dict[str, int], last_lines: dict[str, Iterable[str]]) -> str:
    """The last lines of every node that did not exit cleanly (0, or -SIGINT when interrupted), for the
    summary: why it failed, or, for a node killed after a hang, the thread stacks it printed."""
    text = ""
    for name, code in exit_codes.items():
        if code not in (0, -signal.SIGINT):
            tail = list(last_lines.get(name, ()))[-FAILED_TAIL:]
            text += f"\n\n{name} exited with {code}; its last {len(tail)} lines:\n\n" + "".join(
                f"    {line.rstrip()}\n" for line in tail)
    return text


def summarise_bag(bag: Path, storage: str, topics: dict[str, tuple[str, int]]) -> str:
    """Markdown: where the recording is and how many messages each topic holds."""
    lines = [f"rosbag2 recording ({storage}): {bag}", "", "| topic | type | messages |", "|---|---|---:|"]
    lines += [f"| {topic} | {msgtype} | {count} |" for topic, (msgtype, count) in topics.items()]
    return "\n".join(lines)


def run_testbed(config_file: str | Path, duration: float, output: Path, *, namespace: str = "",
                policy: str | None = None, max_frames: int = 0, extra: dict[str, dict] | None = None,
                grace: float = 20.0, stop_after_outcomes: int = 0, record: Path | None = None,
                storage: str = "mcap", netns: bool = False, side: str = "both", impairment: Impairment | None = None,
                outages: Outages | None = None) -> TestbedRun:
    """Run the testbed for ``duration`` s (camera: at most ``max_frames`` frames if > 0) and summarise;
    with ``stop_after_outcomes`` > 0 it stops earlier, once the outcome log holds that many outcomes.
    With ``record`` (a folder that must not exist: RecordError, a ValueError, before any node starts) the
    run's topics go to a rosbag2 there, in ``storage`` (mcap or sqlite3). With ``netns`` the edge runs in
    its own network namespace behind a veth link shaped by tc (:mod:`scissor_bringup.netns`): the robot
    side's nodes in one, the edge side's in the other. ``side`` runs only one host's nodes
    (:data:`~scissor_bringup.testbed.SIDES`: ``robot`` or ``edge``), to meet the other side on the network.
    ``impairment`` (loss, delay) and ``outages`` (the link down) apply to the netns link."""
    if side not in SIDES:
        raise ValueError(f"side {side!r}: choose one of {', '.join(SIDES)}")
    if netns and (record is not None or side != "both"):
        raise ValueError("--netns runs both sides, in two namespaces, and cannot record (the recorder cannot "
                         "reach the namespaces)")
    if record is not None and side == "edge":
        raise ValueError("--record needs the robot side: the recorder counts on the camera and the device")
    if record is not None:
        from scissor_bringup.recorder import (DECISIONS, RECORDED, Recorder, bag_counts,  # rclpy: only when recording
                                              check_new_bag)

        record = record.resolve()
        check_new_bag(record, storage)
    output = output.resolve()
    output.mkdir(parents=True, exist_ok=True)
    log_path = output / "outcomes.csv"
    if log_path.exists():
        log_path.unlink()
    annotated = output / "annotated"
    if annotated.exists():
        shutil.rmtree(annotated)
    overrides: dict[str, dict] = {"device_node": {"device.outcome_log": str(log_path)},
                                  "annotator_node": {"device.annotate_dir": str(annotated)}}
    if policy:
        overrides["agent_node"] = {"agent.policy": policy}
    if max_frames:
        overrides["camera_node"] = {"camera.max_frames": max_frames}
    for node, params in (extra or {}).items():
        overrides.setdefault(node, {}).update(params)
    base = load_config(config_file)

    def configured(node: str, dotted: str) -> Any:
        """What ``node`` runs with for ``section.key``: this run's override, else the config file's value."""
        section, _, key = dotted.partition(".")
        return overrides.get(node, {}).get(dotted, getattr(getattr(base, section), key))

    if record is not None:
        # The recorder is one more camera subscriber: the camera also waits for it (from 0: for it alone,
        # which is on the graph before the camera starts), so the bag has every frame the camera published.
        waits = configured("camera_node", "camera.wait_for_subscribers")
        overrides.setdefault("camera_node", {})["camera.wait_for_subscribers"] = int(waits) + 1
    two_hosts = None
    if netns:
        from scissor_bringup.netns import NetnsTestbed

        trace = parse_trace(configured("device_node", "link.trace"))
        two_hosts = NetnsTestbed(trace, impairment, outages,  # trace and outages from the first frame
                                 first_frame=first_frame_in(OutcomeTail(log_path)))
        two_hosts.adapt(overrides, namespace)
    nodes = SIDES[side]
    overrides = {node: params for node, params in overrides.items() if node in nodes}
    specs = describe_testbed(config_file, namespace, nodes=nodes, overrides=overrides)
    prefixes: dict[str, list[str]] = {}
    if two_hosts is not None:
        specs, prefixes = two_hosts.place(specs)
    launcher = Launcher(specs, grace=grace, command_prefix=prefixes)

    recorder = None
    if record is not None:
        # Every topic this run publishes is heard before the camera's first frame leaves (no time limit: on a
        # loaded machine the nodes took more than CAMERA_AFTER to start, and frame 0's QueueState was lost).
        use_agent = configured("device_node", "device.use_agent")
        recorder = Recorder(record, storage, namespace, awaited=frozenset(
            r.topic for r in RECORDED if use_agent or r.topic != DECISIONS))

    def enough_outcomes() -> bool:  # the header line, then one line per outcome
        # When recording, also once the bag holds them: the device publishes each outcome just after it logs
        # it, and a SIGINT between the two lost the last FrameOutcome of a recording on a loaded machine.
        return (log_path.exists() and log_path.read_text().count("\n") > stop_after_outcomes
                and (recorder is None or recorder.outcomes_heard() >= stop_after_outcomes))

    try:
        if recorder is not None:
            recorder.start()
        if two_hosts is not None:
            two_hosts.open()
        codes = launcher.run(duration=duration, until=enough_outcomes if stop_after_outcomes else None)
    finally:
        if recorder is not None:  # after every node has exited: nothing they published is missing
            recorder.stop()
        if two_hosts is not None:
            two_hosts.close()
    peak = {n.spec.name: n.peak_rss for n in launcher.nodes}
    outcomes = read_csv(log_path) if log_path.exists() else []
    title = f"testbed run: {duration:g} s, config {config_file}" + (f", policy {policy}" if policy else "")
    counts = device_counts("".join(launcher.last_lines.get("device", ())))
    summary = summarise(outcomes, codes, peak, title, counts[0] if counts else None)
    topics: dict[str, tuple[str, int]] = {}
    if record is not None:
        topics = bag_counts(record)
        summary += "\n\n" + summarise_bag(record, storage, topics)
    if two_hosts is not None:
        summary += "\n\n" + two_hosts.report()
    summary += annotated_summary(annotated, output)
    summary += failed_node_tails(codes, launcher.last_lines)
    (output / "summary.md").write_text(summary + "\n")
    if outcomes:
        plot_run(outcomes, output / "delay.png", title, sorted({o.split for o in outcomes}))
    return TestbedRun(outcomes, codes, peak, summary, output, record, topics)


DEFAULT_CHECKPOINT_EVERY = 100
"""Outcomes between checkpoints of ``--learn-online`` when ``agent.checkpoint_every`` is 0."""


def run_testbed_online(config_file: str | Path, duration: float, output: Path, *, checkpoint: Path | None = None,
                       checkpoint_every: int | None = None, policy: str | None = None,
                       extra: dict[str, dict] | None = None, **kwargs) -> TestbedRun:
    """:func:`run_testbed` with the agent learning online: it starts from the shipped A2C policy (the a2c
    policy file of the config), learns from every FrameOutcome and saves ``checkpoint`` (default
    ``OUTPUT/policy-online.pt``) every ``checkpoint_every`` outcomes (default ``agent.checkpoint_every``,
    else :data:`DEFAULT_CHECKPOINT_EVERY`) and at shutdown. Then writes ``reward.png`` (reward per outcome,
    its moving average, checkpoints) and adds the online-learning line to the summary."""
    if policy not in (None, "a2c"):
        raise ValueError(f"online learning needs the a2c policy, not {policy!r}")
    output = output.resolve()
    checkpoint = (checkpoint or output / "policy-online.pt").resolve()
    if checkpoint_every is None:
        checkpoint_every = load_config(config_file).agent.checkpoint_every or DEFAULT_CHECKPOINT_EVERY
    rewards = reward_log_path(checkpoint)
    if rewards.exists():
        rewards.unlink()
    extra = {node: dict(params) for node, params in (extra or {}).items()}
    extra.setdefault("agent_node", {}).update({
        "agent.policy": "a2c", "agent.learn_online": True, "agent.checkpoint_file": str(checkpoint),
        "agent.checkpoint_every": int(checkpoint_every)})
    run = run_testbed(config_file, duration, output, policy="a2c", extra=extra, **kwargs)
    run.checkpoint = checkpoint
    if rewards.exists():
        run.online = OnlineCurve.read(rewards)
        line = run.online.summary()
        if run.online.reward:
            run.online.plot(output / "reward.png", f"online learning from the shipped policy: {config_file}")
    else:
        line = f"online learning: the agent wrote no reward log ({rewards})"
    run.summary += "\n\n" + line
    (output / "summary.md").write_text(run.summary + "\n")
    return run
