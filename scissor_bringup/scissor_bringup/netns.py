"""A real shaped link for the testbed: device and edge in two Linux network namespaces joined by a veth
pair, the device's uplink shaped by ``tc`` following a bandwidth trace.

``scissor testbed --netns`` puts camera, device, agent and annotator in the namespace ``scissor-dev-PID`` and
the edge in ``scissor-edge-PID`` (PID: the scissor process), joined by the veth pair
``scdPID`` (10.213.0.1) / ``scePID`` (10.213.0.2). The device side's egress gets a token-bucket
filter (``tc qdisc ... tbf``) whose rate a thread sets to the trace's rate every ``period`` seconds
(the same trace specs as the application-level shaper; a rate of 0 becomes 8 kbit/s, tbf's floor).
Results come back unshaped, as the trace describes the uplink.

DDS across the namespaces: shared memory would bypass the link (``/dev/shm`` is shared), so every
node uses UDPv4 only (``FASTDDS_BUILTIN_TRANSPORTS=UDPv4``), discovery on the subnet with the other
side as a static peer (``ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET``, ``ROS_STATIC_PEERS``). The device's
own shaper is switched off (``link.shaper: none``) so the kernel does the shaping; the annotator runs
with the camera on the robot side, so no camera frame crosses the link.

Only names this module made are touched: namespaces ``scissor-dev-PID`` / ``scissor-edge-PID``;
deleting a namespace also deletes its veth end. :meth:`NetnsLink.destroy` runs on exit, Ctrl-C or
an error; ``scissor netns-cleanup`` (:func:`cleanup_stale`) removes what a crashed run left behind
(namespaces of scissor processes that no longer run). Needs root (CAP_NET_ADMIN) and iproute2.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from scissor_bringup.testbed import EDGE_NODES, NodeSpec, reliable_camera
from scissor_core.config import CONFIG_DIR
from scissor_core.runtime.outcome import OutcomeTail
from scissor_core.runtime.traces import Trace

SUBNET_PREFIX = "10.213.0"
_NS_PATTERN = re.compile(r"^scissor-(dev|edge)-(\d+)$")
MIN_RATE_BITS = 8_000
UDP_PROFILE = CONFIG_DIR / "fastdds_udp_profile.xml"
"""Fast DDS over UDPv4 only, tuned for a slow, lossy link between two hosts (see the file's comments)."""
_SKF_AD_RANDOM = 2**32 - 0x1000 + 56
"""Classic BPF's ancillary load of a random u32 (SKF_AD_OFF + SKF_AD_RANDOM), as an unsigned k."""


class NetnsError(RuntimeError):
    """The namespaces cannot be made (no root, no iproute2, ...); the message says what to do."""


def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise NetnsError(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")
    return done.stdout


def check_available() -> None:
    if os.geteuid() != 0:
        raise NetnsError("--netns needs root (CAP_NET_ADMIN) to create network namespaces and shape with tc")
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            raise NetnsError(f"--netns needs `{tool}` (iproute2) on PATH")


@dataclass
class NetnsLink:
    """Two namespaces and the veth pair between them, named after ``tag`` (the owning process id)."""

    tag: int
    _clsact: set[str] = field(default_factory=set)
    _netem: bool = False

    @property
    def namespaces(self) -> dict[str, str]:
        return {"device": f"scissor-dev-{self.tag}", "edge": f"scissor-edge-{self.tag}"}

    @property
    def interfaces(self) -> dict[str, str]:
        return {"device": f"scd{self.tag}", "edge": f"sce{self.tag}"}

    @property
    def addresses(self) -> dict[str, str]:
        return {"device": f"{SUBNET_PREFIX}.1", "edge": f"{SUBNET_PREFIX}.2"}

    def create(self) -> None:
        """Make both namespaces, the veth pair, addresses and loopbacks (destroying them on a failure)."""
        check_available()
        try:
            for ns in self.namespaces.values():
                _ip("netns", "add", ns)
            dev, edge = self.interfaces["device"], self.interfaces["edge"]
            _ip("link", "add", dev, "type", "veth", "peer", "name", edge)
            for side in ("device", "edge"):
                ns, ifname = self.namespaces[side], self.interfaces[side]
                _ip("link", "set", ifname, "netns", ns)
                _ip("-n", ns, "addr", "add", f"{self.addresses[side]}/30", "dev", ifname)
                _ip("-n", ns, "link", "set", ifname, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
                # Multicast (SPDP announcements) leaves through the veth: no default route in here.
                _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", ifname)
        except NetnsError:
            self.destroy()
            raise

    def destroy(self) -> None:
        """Delete both namespaces (and with them the veth pair); idempotent."""
        existing = set(list_namespaces())
        for ns in self.namespaces.values():
            if ns in existing:
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def prefix(self, side: str) -> list[str]:
        """Command prefix that runs a process in ``side``'s namespace."""
        return ["ip", "netns", "exec", self.namespaces[side]]

    def env(self, side: str) -> dict[str, str]:
        """DDS settings of a node on ``side``: UDP only (:data:`UDP_PROFILE`: small datagrams, frequent
        heartbeats, for a slow and lossy link), the other side as a static peer."""
        peer = self.addresses["edge" if side == "device" else "device"]
        return {"FASTDDS_DEFAULT_PROFILES_FILE": str(UDP_PROFILE), "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET",
                "ROS_STATIC_PEERS": peer}

    def _tc(self, *args: str, side: str = "device") -> None:
        done = subprocess.run(["tc", "-n", self.namespaces[side], *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise NetnsError(f"`tc {' '.join(args)}` failed: {done.stderr.strip()}")

    def set_loss(self, fraction: float) -> None:
        """Drop ``fraction`` of the packets leaving either end at random (a link loses both ways: data one
        way, receipts, results and acknowledgements the other): a classic-BPF filter on each end's clsact
        egress hook (kernel random numbers, ``SKF_AD_RANDOM``), ahead of the rate's qdisc. It needs only
        cls_bpf, which kernels without netem (this project's machines) have."""
        keep_below = min(int((1.0 - fraction) * 2**32), 2**32 - 1)
        # A = random u32; A >= keep_below: return TC_ACT_SHOT (2, drop) else TC_ACT_OK (0)
        program = f"4,32 0 0 {_SKF_AD_RANDOM},53 0 1 {keep_below},6 0 0 2,6 0 0 0"
        for side, dev in self.interfaces.items():
            if side not in self._clsact:
                self._tc("qdisc", "add", "dev", dev, "clsact", side=side)
                self._clsact.add(side)
            else:
                self._tc("filter", "del", "dev", dev, "egress", side=side)
            self._tc("filter", "add", "dev", dev, "egress", "bpf", "da", "bytecode", program, side=side)

    def set_delay(self, delay: float, jitter: float = 0.0) -> None:
        """Delay the device's egress by ``delay`` ± ``jitter`` s with netem (the root qdisc, the rate's tbf
        its child). Kernels without sch_netem refuse it (NetnsError naming netem)."""
        spread = [f"{jitter * 1e3:g}ms"] if jitter else []
        try:
            self._tc("qdisc", "replace", "dev", self.interfaces["device"], "root", "handle", "1:", "netem",
                     "delay", f"{delay * 1e3:g}ms", *spread)
        except NetnsError as exc:
            raise NetnsError(f"delay needs tc netem, which this kernel does not have ({exc})") from None
        self._netem = True

    def set_rate(self, bytes_per_s: float) -> None:
        """Shape the device's egress to ``bytes_per_s`` (tbf, under netem when there is a delay; bursts of
        10 ms, up to 2 s queued)."""
        bits = max(int(bytes_per_s * 8), MIN_RATE_BITS)
        burst = max(bits // 8 // 100, 16_000)
        where = ["parent", "1:1", "handle", "10:"] if self._netem else ["root"]
        self._tc("qdisc", "replace", "dev", self.interfaces["device"], *where, "tbf", "rate", f"{bits}bit",
                 "burst", str(burst), "latency", "2s")

    def qdisc_stats(self) -> str:
        """``tc -s qdisc show`` of the shaped interface (rate, bytes sent, drops, overlimits)."""
        return subprocess.run(["tc", "-s", "-n", self.namespaces["device"], "qdisc", "show", "dev",
                               self.interfaces["device"]], capture_output=True, text=True).stdout.strip()


@dataclass(frozen=True)
class Impairment:
    """What the device's uplink does besides its rate: packet loss (a fraction), delay and jitter (s)."""

    loss: float = 0.0
    delay: float = 0.0
    jitter: float = 0.0


@dataclass(frozen=True)
class Outages:
    """The link down (both ways) for ``duration`` s every ``every`` s, the first ``first`` s after the
    trace started (the first frame: whatever the nodes' start-up took)."""

    duration: float
    every: float
    first: float

    def down(self, t: float) -> bool:
        return t >= self.first and (t - self.first) % self.every < self.duration


FirstFrame = Callable[[], float | None]
"""The device-clock (CLOCK_MONOTONIC) time of the run's first frame, once known; None before."""


def first_frame_in(tail: OutcomeTail, *, reads: bool = True) -> FirstFrame:
    """A :data:`FirstFrame` from a device's outcome log: the earliest capture among its first outcomes
    (the first outcome is written a frame's delay after its capture). ``reads``: this callable reads the
    tail itself (False when its owner already reads it)."""

    def first() -> float | None:
        if reads:
            tail.read()
        return min(o.capture for o in tail.outcomes) if tail.outcomes else None

    return first


class TraceFollower:
    """A thread that keeps the link's tbf rate at ``trace.rate_at(t)``, its loss and delay at
    ``impairment``, and the link down (every packet dropped) during ``outages``.

    Trace time 0 is the first frame (``first_frame``; without it, :meth:`start`), like the device's own
    shaper and the simulator: until the first frame is known the link holds ``rate_at(0)``, then it follows
    the trace from that frame's capture on (learnt a frame's delay later, so the first fraction of a second
    of the trace is applied late). Device clock and this one are the same CLOCK_MONOTONIC."""

    def __init__(self, link: NetnsLink, trace: Trace, period: float = 0.25, impairment: Impairment = Impairment(),
                 outages: Outages | None = None, first_frame: FirstFrame | None = None) -> None:
        self.link, self.trace, self.period = link, trace, period
        self.impairment, self.outages, self.first_frame = impairment, outages, first_frame
        self.origin: float | None = None
        """Trace time 0 on CLOCK_MONOTONIC, once known."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="netns-trace", daemon=True)
        self.changes = 0
        self.outages_started = 0

    def start(self) -> None:
        if self.impairment.delay or self.impairment.jitter:
            self.link.set_delay(self.impairment.delay, self.impairment.jitter)
        if self.impairment.loss or self.outages is not None:
            self.link.set_loss(self.impairment.loss)
        self.link.set_rate(self.trace.rate_at(0.0))
        if self.first_frame is None:
            self.origin = time.monotonic()
        self._thread.start()

    def _run(self) -> None:
        current, down = self.trace.rate_at(0.0), False
        while not self._stop.wait(self.period):
            if self.origin is None:
                self.origin = self.first_frame()
                if self.origin is None:
                    continue
            t = time.monotonic() - self.origin
            rate = self.trace.rate_at(t)
            if rate != current:
                self.link.set_rate(rate)
                current, self.changes = rate, self.changes + 1
            now_down = self.outages is not None and self.outages.down(t)
            if now_down != down:
                self.link.set_loss(1.0 if now_down else self.impairment.loss)  # down: every packet dropped
                self.outages_started += now_down
                down = now_down

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


def list_namespaces() -> list[str]:
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def cleanup_stale() -> list[str]:
    """Delete the namespaces of scissor runs whose process no longer exists; returns their names."""
    removed = []
    for ns in list_namespaces():
        match = _NS_PATTERN.match(ns)
        if match is None:
            continue
        pid = int(match.group(2))
        if pid != os.getpid() and not os.path.exists(f"/proc/{pid}"):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            removed.append(ns)
    return removed


class NetnsTestbed:
    """The testbed as two hosts on one machine: the robot side's nodes in the device namespace, the edge's
    in the edge namespace, the uplink shaped by tc following ``trace``, with ``impairment`` (loss, delay)
    and ``outages``. :meth:`adapt` the node parameters, :meth:`place` the nodes, :meth:`open` before the
    launcher starts them and :meth:`close` after (always)."""

    def __init__(self, trace: Trace, impairment: Impairment | None = None, outages: Outages | None = None,
                 first_frame: FirstFrame | None = None, tag: int | None = None) -> None:
        check_available()
        self.link = NetnsLink(os.getpid() if tag is None else tag)
        self.follower = TraceFollower(self.link, trace, impairment=impairment or Impairment(), outages=outages,
                                      first_frame=first_frame)
        self.stats = ""

    @staticmethod
    def adapt(overrides: dict[str, dict], namespace: str = "") -> dict[str, dict]:
        """The parameters two hosts need, added to ``overrides``: the kernel shapes (the device's own
        shaper off) and the camera is reliable (no shared memory: best-effort ~1 MB frames lose UDP
        fragments)."""
        overrides.setdefault("device_node", {})["link.shaper"] = "none"
        return reliable_camera(namespace, into=overrides)

    def place(self, specs: list[NodeSpec]) -> tuple[list[NodeSpec], dict[str, list[str]]]:
        """Each node's DDS settings for its side, and the command prefix that runs it in its namespace."""
        sides = {spec.name: "edge" if spec.executable in EDGE_NODES else "device" for spec in specs}
        placed = [dataclasses.replace(s, env={**s.env, **self.link.env(sides[s.name])}) for s in specs]
        return placed, {name: self.link.prefix(side) for name, side in sides.items()}

    def open(self) -> None:
        self.link.create()
        self.follower.start()

    def close(self) -> None:
        self.follower.stop()
        self.stats = self.link.qdisc_stats()
        self.link.destroy()

    def report(self) -> str:
        """What the link did: rate changes, outages, and ``tc -s qdisc`` of the shaped interface."""
        impairment = self.follower.impairment
        return (f"shaped link (tc -s qdisc of the device's veth end, {self.follower.changes} rate changes, "
                f"{self.follower.outages_started} outages, loss {impairment.loss:.0%}, delay "
                f"{impairment.delay * 1e3:g} ms ± {impairment.jitter * 1e3:g} ms):\n\n"
                + "\n".join(f"    {line}" for line in self.stats.splitlines()))
