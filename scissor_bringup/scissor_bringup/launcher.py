"""Start the testbed's nodes as processes with only rclpy installed (no ``launch_ros``).

The launcher takes the :class:`~scissor_bringup.testbed.NodeSpec` list from the
shared description, starts one process per node, prefixes each output line with
the node's name, and shuts everything down cleanly: on Ctrl-C / SIGTERM, when
the run's duration is over, or when a node exits with an error. Shutdown sends
SIGINT (rclpy's clean path, so nodes flush their logs), then SIGTERM, then
SIGKILL to whatever is still alive after each grace period.

Fault injection (tests, ``scissor soak``) kills a node with :meth:`Launcher.kill`
and starts it again with :meth:`Launcher.restart`; such an exit is expected and
does not stop the run.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import psutil

from scissor_bringup.testbed import NodeSpec
from scissor_core.runtime.workers import STACKS_SIGNAL
from scissor_ros.shm import clean_zombie_shm

log = logging.getLogger("scissor.launcher")


NODE_TAIL = 200
"""Lines of each node's output the launcher keeps."""

def resolve_executable(name: str) -> str:
    """An entry point next to this Python (the venv's bin/) first, then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"node executable {name!r} not found beside {sys.executable} nor on PATH "
                                "(is the package installed? run `make`)")
    return found


@dataclass
class NodeProcess:
    """A started node: its spec, process, the thread relaying its output and its peak memory."""

    spec: NodeSpec
    process: subprocess.Popen
    relay: threading.Thread
    peak_rss: int = 0
    killed: bool = False
    """Stopped on purpose by :meth:`Launcher.kill`: its exit is not a failure."""
    """Largest resident set size seen (bytes) of the node's process tree (the ROS wheels re-execute
    Python once, so the node itself is a child of the started process)."""

    rss: int = 0
    """Resident set size at the last sample (bytes)."""

    def sample_rss(self) -> None:
        try:
            root = psutil.Process(self.process.pid)
            self.rss = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
        except psutil.Error:  # exited between poll and sample
            return
        self.peak_rss = max(self.peak_rss, self.rss)


class Launcher:
    """Runs a set of nodes until a duration passes, a signal arrives or a node fails."""

    def __init__(self, specs: list[NodeSpec], grace: float = 10.0,
                 command_prefix: list[str] | dict[str, list[str]] | None = None, output=None) -> None:
        """``command_prefix`` goes before every node's command, or per node name (e.g. ``ip netns exec``)."""
        self.specs = specs
        self.grace = grace
        self.command_prefix = command_prefix or []
        self.output = output or sys.stdout
        self.nodes: list[NodeProcess] = []
        """The current process of every node (a restarted node's latest)."""
        self.retired: list[NodeProcess] = []
        """Processes killed and replaced by a restart."""
        self.last_lines: dict[str, deque[str]] = {}
        """The last :data:`NODE_TAIL` lines each node printed (its final report, for the summary)."""
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def command(self, spec: NodeSpec) -> list[str]:
        prefix = (self.command_prefix.get(spec.name, []) if isinstance(self.command_prefix, dict)
                  else self.command_prefix)
        return [*prefix, resolve_executable(spec.executable), *spec.ros_args()]

    def start(self) -> None:
        for spec in self.specs:
            self.nodes.append(self._spawn(spec))

    def _spawn(self, spec: NodeSpec) -> NodeProcess:
        cmd = self.command(spec)
        log.info("starting %s: %s", spec.name, " ".join(cmd))
        process = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **spec.env}, text=True, bufsize=1, start_new_session=True,
        )
        relay = threading.Thread(target=self._relay, args=(spec.name, process), daemon=True)
        relay.start()
        return NodeProcess(spec, process, relay)

    def node(self, name: str) -> NodeProcess:
        """The current process of the node called ``name``."""
        for n in self.nodes:
            if n.spec.name == name:
                return n
        raise KeyError(f"no node {name!r}; nodes are {[n.spec.name for n in self.nodes]}")

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Stop a node on purpose (default: without a chance to say goodbye) and wait for it to exit."""
        n = self.node(name)
        n.killed = True
        log.info("fault: sending %s to %s", signal.Signals(sig).name, name)
        try:
            os.killpg(n.process.pid, sig)
        except ProcessLookupError:
            pass
        n.process.wait()

    def restart(self, name: str) -> None:
        """Start a killed node again, same spec."""
        old = self.node(name)
        if old.process.poll() is None:
            raise RuntimeError(f"node {name} is still running: kill it first")
        self.retired.append(old)
        self.nodes[self.nodes.index(old)] = self._spawn(old.spec)

    def restarts(self, name: str) -> int:
        return sum(n.spec.name == name for n in self.retired)

    def peak_rss(self, name: str) -> int:
        """Largest RSS of any process that ran the node (bytes)."""
        return max(n.peak_rss for n in [*self.retired, *self.nodes] if n.spec.name == name)

    def _relay(self, name: str, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        tail = self.last_lines.setdefault(name, deque(maxlen=NODE_TAIL))
        for line in process.stdout:
            with self._lock:
                tail.append(line)
                self.output.write(f"[{name}] {line}")
                self.output.flush()

    def request_stop(self, *_args) -> None:
        """Signal handler: ask :meth:`run` to shut the nodes down."""
        self._stop.set()

    def run(self, duration: float | None = None, until=None) -> dict[str, int]:
        """Start, wait for ``duration`` seconds (None: until a signal), ``until()`` true or a node
        failure, then shut down. Returns each node's exit code; peak memory is in ``nodes``."""
        previous = {s: signal.signal(s, self.request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            self._wait(duration, until)
        finally:
            # Also reached when a start fails half-way: never leave started nodes behind.
            codes = self.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return codes

    def _wait(self, duration: float | None, until) -> None:
        deadline = None if duration is None else time.monotonic() + duration
        while not self._stop.is_set():
            failed = [n for n in self.nodes if n.process.poll() not in (None, 0) and not n.killed]
            if failed:
                log.error("node %s exited with code %d: stopping the testbed",
                          failed[0].spec.name, failed[0].process.returncode)
                return
            if until is not None and until():
                return
            if deadline is not None and time.monotonic() >= deadline:
                return
            if all(n.process.poll() is not None and not n.killed for n in self.nodes):
                return
            for n in self.nodes:
                n.sample_rss()
            self._stop.wait(0.2)

    @staticmethod
    def _print_stacks(nodes: list[NodeProcess], after: signal.Signals) -> None:
        """Ask nodes that outlived a grace period for their threads' stacks (into their output) before the
        next signal, so a hang at shutdown shows where it is."""
        asked = False
        for n in nodes:
            log.warning("%s still running after %s: asking for its threads' stacks", n.spec.name, after.name)
            try:
                os.kill(n.process.pid, STACKS_SIGNAL)
                asked = True
            except ProcessLookupError:
                continue
        if asked:
            time.sleep(1.0)  # faulthandler writes at once; let the relays read it before the process dies

    def shutdown(self) -> dict[str, int]:
        """SIGINT, then SIGTERM, then SIGKILL to every node still running after each grace period.

        The first node (the camera: the producer) gets its SIGINT alone first, and a few seconds to exit:
        no frame enters the pipeline while the others shut down, and it never writes to readers that
        are going away at that moment."""
        first = self.nodes[0] if self.nodes else None
        if first is not None and first.process.poll() is None:
            try:
                os.killpg(first.process.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            end = time.monotonic() + min(self.grace, 5.0)
            while time.monotonic() < end and first.process.poll() is None:
                time.sleep(0.05)
        previous = signal.SIGINT
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            alive = [n for n in self.nodes if n.process.poll() is None]
            if not alive:
                break
            if sig != signal.SIGINT:
                self._print_stacks(alive, after=previous)
            previous = sig
            for n in alive:
                log.info("sending %s to %s", signal.Signals(sig).name, n.spec.name)
                try:
                    os.killpg(n.process.pid, sig)
                except ProcessLookupError:
                    pass
            end = time.monotonic() + self.grace
            while time.monotonic() < end and any(n.process.poll() is None for n in alive):
                time.sleep(0.05)
        for n in [*self.retired, *self.nodes]:
            n.process.wait()
            n.relay.join(timeout=2)
        clean_zombie_shm()  # the nodes exit without destroying their DDS participants: free their segments
        return {n.spec.name: n.process.returncode for n in self.nodes}
