"""``scissor soak``: a long live-testbed run with faults injected on a schedule, then the checks of the
reliability promise.

Faults (``--faults all`` or a comma list):

- ``edge``: the edge node is killed with SIGKILL (no goodbye on the DDS graph)
  ``fault_every`` frames after the start or the last restart, stays down ``down`` seconds (longer than the
  Fast DDS lease, so the device notices), and is started again;
- ``agent``: the same for the agent (the device's fallback policy decides meanwhile);
  edge and agent faults alternate when both are chosen;
- ``link``: the link trace collapses to 0 B/s for ``outage`` seconds every
  ``outage_every`` seconds and recovers;
- ``burst``: every 50 frames the camera publishes 8 extra frames back to back, faster
  than the device can admit;
- ``duplicates``: an in-process node republishes every result out of order (pairs
  reversed) and every 10th once more 3 s later, after its frame has its outcome.

At the end the soak checks: frames read by the device = outcomes recorded = rows of
the outcome log; no frame has two outcomes; no node exited on its own with an error;
and, for runs long enough to judge (``MEMORY_JUDGED_AFTER`` s), that the resident
memory of the nodes that ran throughout (camera, device) grew by at most
``max_rss_growth`` between the second fifth of the run and its last fifth. It writes
``outcomes.csv``, ``soak.md`` (the tables printed), ``rss.png`` and ``delay.png``
under the output folder.
"""
from __future__ import annotations

import hashlib
import re
import signal
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import rclpy
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

from scissor_bringup.bench_live import bench_config
from scissor_bringup.launcher import Launcher
from scissor_bringup.netns import Impairment, NetnsTestbed, Outages, first_frame_in
from scissor_bringup.testbed import describe_testbed
from scissor_bringup.testbed_run import device_counts
from scissor_core.analysis.metrics import RunMetrics, format_table, plot_run
from scissor_core.config import load_config
from scissor_core.runtime.outcome import OutcomeTail
from scissor_core.runtime.traces import parse_trace
from scissor_msgs.msg import InferenceResult
from scissor_ros.process import use_fastdds_profile
from scissor_ros.topics import publisher, subscription

FAULTS = ("edge", "agent", "link", "burst", "duplicates", "loss1", "loss5", "delay", "outage")
LINK_FAULTS = ("loss1", "loss5", "delay", "outage")
"""Faults of the real (netns) link, made by the kernel: they need ``--netns``."""
LOOPBACK_FAULTS = ("edge", "agent", "link", "burst", "duplicates")
"""What ``--faults all`` means without ``--netns``."""
NETNS_FAULTS = ("edge", "agent", "burst", "loss5", "outage")
"""What ``--faults all`` means with ``--netns`` (delay needs netem, which some kernels lack)."""
KILLED_NODES = ("edge", "agent")
LONG_LIVED_NODES = ("camera", "device")
MEMORY_JUDGED_AFTER = 120.0
"""Seconds a run must last before its memory growth is judged (shorter runs are still warming up)."""


def parse_faults(text: str, netns: bool = False) -> tuple[str, ...]:
    """``all`` (every fault the link mode allows), ``none`` or a comma list of :data:`FAULTS`."""
    if text == "all":
        return NETNS_FAULTS if netns else LOOPBACK_FAULTS
    if text == "none":
        return ()
    chosen = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in chosen if f not in FAULTS]
    if unknown:
        raise ValueError(f"unknown fault(s) {unknown}: choose from {', '.join(FAULTS)}, all or none")
    return chosen


@dataclass
class SoakSettings:
    frames: int = 10_000
    faults: tuple[str, ...] = LOOPBACK_FAULTS
    fault_every: int = 200
    """Frames from the start, or from a killed node's restart, to the next kill (edge and agent alternate)."""
    max_kills: int = 0
    """Stop killing after this many kills (0 = no limit), e.g. to leave time to watch the last recovery."""
    down: float = 6.0
    """Seconds a killed node stays down (the shipped Fast DDS lease is 4 s)."""
    interval: float = 0.1
    outage: float = 4.0
    outage_every: float = 30.0
    link_rate: str = "5MB"
    max_rss_growth: float = 0.10
    netns: bool = False
    """Robot and edge side in two network namespaces behind a kernel-shaped link (root): the link faults."""
    link_outage: float = 10.0
    """Seconds the netns link is down (both ways) in an ``outage``, every ``outage_every`` s."""

    def __post_init__(self) -> None:
        link_faults = [f for f in self.faults if f in LINK_FAULTS]
        if {"loss1", "loss5"} <= set(self.faults):
            raise ValueError("choose one loss fault: loss1 or loss5")
        if link_faults and not self.netns:
            raise ValueError(f"fault(s) {link_faults} act on the real link: they need --netns")
        if self.netns and "duplicates" in self.faults:
            raise ValueError("the duplicates fault injects results from this process, which cannot reach the "
                             "namespaces: leave it out with --netns")

    def impairment(self) -> Impairment:
        """The netns link's loss and delay for the chosen faults (the paper-free values of the fault menu:
        1% or 5% loss, 20 ms +- 10 ms delay)."""
        loss = 0.05 if "loss5" in self.faults else 0.01 if "loss1" in self.faults else 0.0
        delayed = "delay" in self.faults
        return Impairment(loss=loss, delay=0.02 if delayed else 0.0, jitter=0.01 if delayed else 0.0)


class ResultInjector:
    """An rclpy node of the soak process: republishes the edge's results out of order, and some late.

    Its own republished messages come back to its subscription; a hash of every message it has seen
    keeps it from echoing them again."""

    LATE_EVERY, LATE_AFTER = 10, 3.0

    def __init__(self, namespace: str) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("soak_result_injector", namespace=namespace or None, context=self.context)
        self.publisher = publisher(self.node, InferenceResult, "scissor/result")
        subscription(self.node, InferenceResult, "scissor/result", self.on_result, raw=True)
        self.seen: set[bytes] = set()
        self.held: bytes | None = None
        self.late: list[tuple[float, bytes]] = []
        self.originals = self.injected = 0
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.node.create_timer(0.1, self.publish_late)
        self._thread = threading.Thread(target=self._spin, name="soak-injector", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            while self.context.ok():
                self.executor.spin_once(timeout_sec=0.1)
        except ExternalShutdownException:  # close() shut the context down mid-wait
            pass

    def _publish(self, raw: bytes) -> None:
        self.publisher.publish(raw)
        self.injected += 1

    def on_result(self, raw: bytes) -> None:
        digest = hashlib.blake2b(raw, digest_size=16).digest()
        if digest in self.seen:
            return
        self.seen.add(digest)
        self.originals += 1
        if self.originals % self.LATE_EVERY == 0:
            self.late.append((time.monotonic() + self.LATE_AFTER, raw))
        if self.held is None:
            self.held = raw
            return
        self._publish(raw)  # the newer first: out of order
        self._publish(self.held)
        self.held = None

    def publish_late(self) -> None:
        now = time.monotonic()
        due = [raw for at, raw in self.late if at <= now]
        self.late = [(at, raw) for at, raw in self.late if at > now]
        for raw in due:
            self._publish(raw)

    def close(self) -> None:
        self.context.shutdown()
        self._thread.join(timeout=5)
        self.executor.shutdown()
        self.node.destroy_node()


@dataclass
class SoakReport:
    """What the soak measured and whether the promise held."""

    frames_published: int
    frames_read: int
    outcomes_recorded: int
    log_rows: int
    duplicate_outcomes: int
    ignored_results: int
    injected_results: int
    edge_departures: int
    restarts: dict[str, int]
    exit_codes: dict[str, int]
    peak_rss: dict[str, int]
    rss_growth: dict[str, float]
    seconds: float
    summary: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def _rss_growth(samples: list[tuple[float, int]]) -> float:
    """Median RSS of the last fifth of the samples over that of the second fifth, minus 1."""
    n = len(samples)
    if n < 10:
        return 0.0
    early = statistics.median(r for _, r in samples[n // 5: 2 * n // 5])
    late = statistics.median(r for _, r in samples[4 * n // 5:])
    return late / early - 1.0


def soak_config(config_file: str, settings: SoakSettings, outcome_log: Path) -> str:
    """The soak's config file: ``config_file`` with the camera, log, link and burst settings of the run.
    The camera waits for the device (an annotator does not count), so that every frame
    it publishes can be read."""
    sections: dict[str, dict] = {
        "camera": {"interval": settings.interval, "max_frames": settings.frames, "wait_for_subscribers": 1},
        "device": {"outcome_log": str(outcome_log)},
    }
    if "link" in settings.faults:
        up = max(settings.outage_every - settings.outage, 1.0)
        sections["link"] = {"trace": f"steps:{up:g}x{settings.link_rate},{settings.outage:g}x0MB"}
    if "burst" in settings.faults:
        sections["camera"].update(burst_every=50, burst_size=8)
    return bench_config(config_file, **sections)


def run_soak(config_file: str, settings: SoakSettings, output: Path, namespace: str = "",
             log_stream=None, progress=None) -> SoakReport:
    """Run the testbed with the faults of ``settings`` until the camera has published every frame and
    the pipeline has emptied, stop it, and check the outcome log. ``progress(n)`` gets outcome counts."""
    output = output.resolve()
    output.mkdir(parents=True, exist_ok=True)
    log_path = output / "outcomes.csv"
    if log_path.exists():
        log_path.unlink()
    soak_file = soak_config(config_file, settings, log_path)
    tail = OutcomeTail(log_path)
    two_hosts, prefixes, overrides = None, {}, {}
    if settings.netns:
        outages = (Outages(settings.link_outage, settings.outage_every, settings.outage_every / 2)
                   if "outage" in settings.faults else None)
        two_hosts = NetnsTestbed(parse_trace(load_config(soak_file).link.trace), settings.impairment(), outages,
                                 first_frame=first_frame_in(tail, reads=False))
        overrides = two_hosts.adapt({}, namespace)
    specs = describe_testbed(soak_file, namespace, overrides=overrides)
    if two_hosts is not None:
        specs, prefixes = two_hosts.place(specs)
    node_log = (output / "nodes.log").open("w")
    launcher = Launcher(specs, grace=20, output=log_stream or node_log, command_prefix=prefixes)
    kills = [n for n in KILLED_NODES if n in settings.faults]
    schedule = {"next_kill_at": settings.fault_every, "turn": 0, "down": None, "quiet_since": None}
    rss: dict[str, list[tuple[float, int]]] = {n.name: [] for n in specs}
    started = time.monotonic()
    use_fastdds_profile(load_config(config_file))  # the injector talks to the nodes like one of them
    injector = ResultInjector(namespace) if "duplicates" in settings.faults else None

    def tick() -> bool:
        now = time.monotonic()
        new = tail.read()
        if progress is not None and new:
            progress(len(tail.outcomes))
        for n in launcher.nodes:
            if n.process.poll() is None and n.rss:  # the launcher samples every node while it waits
                rss[n.spec.name].append((now - started, n.rss))
        if schedule["down"] is not None:
            name, since = schedule["down"]
            if now - since >= settings.down:
                launcher.restart(name)
                # The next kill comes fault_every frames after this restart, so each recovery shows.
                schedule.update(down=None, next_kill_at=len(tail.outcomes) + settings.fault_every)
        elif (kills and len(tail.outcomes) >= schedule["next_kill_at"]
              and not (settings.max_kills and schedule["turn"] >= settings.max_kills)):
            name = kills[schedule["turn"] % len(kills)]
            launcher.kill(name, signal.SIGKILL)
            schedule.update(down=(name, now), turn=schedule["turn"] + 1)
        camera_done = launcher.node("camera").process.poll() is not None
        if not camera_done or schedule["down"] is not None:
            return False
        # The camera is done: stop once the pipeline is quiet (no outcome for longer than a frame's life).
        if new or schedule["quiet_since"] is None:
            schedule["quiet_since"] = now
        return now - schedule["quiet_since"] > 8.0

    try:
        if two_hosts is not None:
            two_hosts.open()
        codes = launcher.run(until=tick)
    finally:
        if two_hosts is not None:
            two_hosts.close()
        if injector is not None:
            injector.close()
        node_log.close()
    seconds = time.monotonic() - started
    tail.read()
    text = (output / "nodes.log").read_text() if log_stream is None else ""
    link = two_hosts.report() if two_hosts is not None else ""
    return _report(settings, launcher, codes, tail, rss, injector, text, seconds, output, link)


def _report(settings, launcher, codes, tail, rss, injector, node_output, seconds, output, link="") -> SoakReport:
    outcomes = tail.outcomes
    final = device_counts(node_output)
    frames_read, recorded, ignored, departures = final if final else (-1, -1, -1, -1)
    published = re.findall(r"published max_frames=(\d+) frames", node_output)
    seqs = Counter(o.seq for o in outcomes)
    peak = {name: launcher.peak_rss(name) for name in rss}
    growth = {name: _rss_growth(rss[name]) for name in LONG_LIVED_NODES if name in rss}
    report = SoakReport(
        frames_published=int(published[0]) if published else 0, frames_read=frames_read,
        outcomes_recorded=recorded, log_rows=len(outcomes), duplicate_outcomes=sum(c - 1 for c in seqs.values()),
        ignored_results=ignored, injected_results=injector.injected if injector else 0,
        edge_departures=departures, restarts={n: launcher.restarts(n) for n in KILLED_NODES},
        exit_codes=codes, peak_rss=peak, rss_growth=growth, seconds=seconds)
    if final is None:
        report.problems.append("the device did not report its frame and outcome counts (did it crash?)")
    elif not frames_read == recorded == len(outcomes):
        report.problems.append(f"frames read {frames_read}, outcomes recorded {recorded}, log rows {len(outcomes)}")
    if report.duplicate_outcomes:
        report.problems.append(f"{report.duplicate_outcomes} frames have more than one outcome")
    crashed = {name: code for name, code in codes.items() if code not in (0, -signal.SIGINT)}
    if crashed:
        report.problems.append(f"nodes exited with an error: {crashed}")
    if seconds >= MEMORY_JUDGED_AFTER:
        grown = {n: g for n, g in growth.items() if g > settings.max_rss_growth}
        if grown:
            report.problems.append(f"memory grew by more than {settings.max_rss_growth:.0%}: "
                                   + ", ".join(f"{n} {g:+.1%}" for n, g in grown.items()))
    report.summary = _summary(settings, report, outcomes) + (f"\n\n{link}" if link else "")
    (output / "soak.md").write_text(report.summary + "\n")
    _plot_rss(rss, output / "rss.png")
    if outcomes:
        plot_run(outcomes, output / "delay.png", f"soak: {len(outcomes)} frames, faults {','.join(settings.faults)}")
    return report


def _summary(settings: SoakSettings, r: SoakReport, outcomes) -> str:
    drops = Counter(o.drop_reason for o in outcomes if not o.completed)
    policies = Counter(o.policy for o in outcomes)
    memory_note = ("" if r.seconds >= MEMORY_JUDGED_AFTER
                   else f" (not judged: runs shorter than {MEMORY_JUDGED_AFTER:g} s are still warming up)")
    lines = [
        f"# soak: {settings.frames} frames, faults {', '.join(settings.faults) or 'none'}, {r.seconds:.0f} s",
        "",
        "| check | value |", "|---|---:|",
        f"| frames published by the camera | {r.frames_published} |",
        f"| frames read by the device | {r.frames_read} |",
        f"| outcomes recorded (device count) | {r.outcomes_recorded} |",
        f"| outcome log rows | {r.log_rows} |",
        f"| frames with more than one outcome | {r.duplicate_outcomes} |",
        f"| results injected (duplicate, out of order, late) | {r.injected_results} |",
        f"| results the device ignored as duplicate or late | {r.ignored_results} |",
        f"| times the device saw the edge go away | {r.edge_departures} |",
        *(f"| restarts survived: {n} | {c} |" for n, c in r.restarts.items()),
        "",
        "drops by reason: " + (", ".join(f"{k} {v}" for k, v in sorted(drops.items())) or "none"),
        "",
        "decisions by policy: " + ", ".join(f"{k} {v}" for k, v in sorted(policies.items())),
        "",
    ]
    if outcomes:
        lines += [format_table({"soak": RunMetrics.of(outcomes)}), ""]
    lines += ["| node | exit code | peak RSS MB | RSS growth |", "|---|---:|---:|---:|"]
    lines += [f"| {n} | {c} | {r.peak_rss.get(n, 0) / 1e6:.0f} | "
              f"{f'{r.rss_growth[n]:+.1%}' if n in r.rss_growth else 'restarted'} |" for n, c in r.exit_codes.items()]
    lines += ["", f"memory growth limit {settings.max_rss_growth:.0%}{memory_note}", "",
              "result: " + ("PASSED" if r.passed else "FAILED: " + "; ".join(r.problems))]
    return "\n".join(lines)


def _plot_rss(rss: dict[str, list[tuple[float, int]]], path: Path) -> None:
    from scissor_core.plots import plt, save

    fig, ax = plt.subplots(figsize=(8, 4))
    for name, samples in rss.items():
        if samples:
            ax.plot([t for t, _ in samples], [r / 1e6 for _, r in samples], ".", markersize=2, label=name)
    ax.set_xlabel("s since start")
    ax.set_ylabel("RSS MB (process tree)")
    ax.set_title("resident memory per node (gaps: killed and restarted)")
    ax.legend()
    save(fig, path)
