"""Helpers for integration tests over real DDS (not a test module): an in-process rclpy node on a
test-specific ROS domain, and node processes started on the same domain."""
from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from repo_paths import REPO

_domains = itertools.count()


_first_domain = random.SystemRandom().randrange(232)


def unique_domain_id() -> int:
    """A ROS domain for one test: distinct per test in this run, and a random start so that two test
    runs on one machine rarely share one (valid ids are 0..232; 0 stays the user's default)."""
    return 1 + (_first_domain + next(_domains)) % 232


def ros_env(domain_id: int) -> dict[str, str]:
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               PYTHONUNBUFFERED="1")
    env.pop("ROS_LOCALHOST_ONLY", None)
    return env


class GraphNode:
    """An rclpy node of the test process with its own context and executor."""

    def __init__(self, node: Node, executor: SingleThreadedExecutor) -> None:
        self.node, self.executor = node, executor

    def spin_until(self, condition: Callable[[], bool], timeout: float, what: str,
                   status: Callable[[], str] | None = None) -> None:
        """Spin until ``condition`` holds; after ``timeout`` s fail naming ``what`` (and ``status()``: what was
        reached)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                                     + (f" ({status()})" if status else ""))
            self.executor.spin_once(timeout_sec=0.05)

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)


@contextmanager
def graph_node(name: str, domain_id: int) -> Iterator[GraphNode]:
    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    node = rclpy.create_node(name, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        yield GraphNode(node, executor)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)


@contextmanager
def node_process(module: str, domain_id: int, *ros_args: str) -> Iterator[subprocess.Popen]:
    """``python -m module --ros-args ros_args``; killed at the end if still running."""
    proc = subprocess.Popen([sys.executable, "-m", module, "--ros-args", *ros_args], cwd=REPO,
                            env=ros_env(domain_id), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)


def stop(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str]:
    """Ctrl-C the process; its exit code and output (a loaded machine may take a while to shut a node down)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out
