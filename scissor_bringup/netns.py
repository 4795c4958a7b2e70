"""A real shaped link for the testbed: device and edge in two Linux network namespaces joined by a veth
pair, the device's uplink shaped by ``tc`` following a bandwidth trace.

``scissor testbed --netns`` puts camera, device and agent in the namespace ``scissor-dev-PID`` and
the edge in ``scissor-edge-PID`` (PID: the scissor process), joined by the veth pair
``scdPID`` (10.213.0.1) / ``scePID`` (10.213.0.2). The device side's egress gets a token-bucket
filter (``tc qdisc ... tbf``) whose rate a thread sets to the trace's rate every ``period`` seconds
(the same trace specs as the application-level shaper; a rate of 0 becomes 8 kbit/s, tbf's floor).
Results come back unshaped, as the trace describes the uplink.

DDS across the namespaces: shared memory would bypass the link (``/dev/shm`` is shared), so every
node uses UDPv4 only (``FASTDDS_BUILTIN_TRANSPORTS=UDPv4``), discovery on the subnet with the other
side as a static peer (``ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET``, ``ROS_STATIC_PEERS``). The device's
own shaper is switched off (``link.shaper: none``) so the kernel does the shaping,
and the edge does not annotate (camera frames would otherwise cross the shaped link too).

Only names this module made are touched: namespaces ``scissor-dev-PID`` / ``scissor-edge-PID``;
deleting a namespace also deletes its veth end. :meth:`NetnsLink.destroy` runs on exit, Ctrl-C or
an error; ``scissor netns-cleanup`` (:func:`cleanup_stale`) removes what a crashed run left behind
(namespaces of scissor processes that no longer run). Needs root (CAP_NET_ADMIN) and iproute2.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass

from scissor_core.runtime.traces import Trace

SUBNET_PREFIX = "10.213.0"
_NS_PATTERN = re.compile(r"^scissor-(dev|edge)-(\d+)$")
MIN_RATE_BITS = 8_000


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
        """DDS settings of a node on ``side``: UDP only, the other side as a static peer."""
        peer = self.addresses["edge" if side == "device" else "device"]
        return {"FASTDDS_BUILTIN_TRANSPORTS": "UDPv4", "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET",
                "ROS_STATIC_PEERS": peer}

    def set_rate(self, bytes_per_s: float) -> None:
        """Shape the device's egress to ``bytes_per_s`` (tbf; bursts of 10 ms, up to 2 s queued)."""
        bits = max(int(bytes_per_s * 8), MIN_RATE_BITS)
        burst = max(bits // 8 // 100, 16_000)
        subprocess.run(["tc", "-n", self.namespaces["device"], "qdisc", "replace", "dev", self.interfaces["device"],
                        "root", "tbf", "rate", f"{bits}bit", "burst", str(burst), "latency", "2s"],
                       check=True, capture_output=True)

    def qdisc_stats(self) -> str:
        """``tc -s qdisc show`` of the shaped interface (rate, bytes sent, drops, overlimits)."""
        return subprocess.run(["tc", "-s", "-n", self.namespaces["device"], "qdisc", "show", "dev",
                               self.interfaces["device"]], capture_output=True, text=True).stdout.strip()


class TraceFollower:
    """A thread that keeps the link's tbf rate at ``trace.rate_at(t)`` (t from :meth:`start`)."""

    def __init__(self, link: NetnsLink, trace: Trace, period: float = 0.25) -> None:
        self.link, self.trace, self.period = link, trace, period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="netns-trace", daemon=True)
        self.changes = 0

    def start(self) -> None:
        self.link.set_rate(self.trace.rate_at(0.0))
        self.origin = time.monotonic()
        self._thread.start()

    def _run(self) -> None:
        current = self.trace.rate_at(0.0)
        while not self._stop.wait(self.period):
            rate = self.trace.rate_at(time.monotonic() - self.origin)
            if rate != current:
                self.link.set_rate(rate)
                current, self.changes = rate, self.changes + 1

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
