"""A scissor node process: transport and allocator set-up before rclpy starts, and the ros2/examples main loop."""
from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import io
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.task import Future

from scissor_core.config import ConfigError, ScissorConfig, load_config
from scissor_core.runtime.workers import STACKS_SIGNAL
from scissor_ros.ros_args import config_file_from_ros_args
from scissor_ros.shm import clean_zombie_shm, release_own_segments

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def reuse_freed_memory(size: int) -> None:
    """Make glibc serve allocations below ``size`` bytes from the heap and keep freed memory (0: no change).

    By default glibc maps every multi-MB buffer freshly and unmaps it on free, so each large message
    page-faults through its whole size in every copy on both sides (measured: a 20 MB FeatureMap takes
    ~70 ms instead of ~33 ms once smaller messages went before it). No-op off glibc.
    """
    if size == 0 or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(_M_MMAP_THRESHOLD, size)
    libc.mallopt(_M_TRIM_THRESHOLD, 4 * size)


def prepare_process(config: ScissorConfig) -> None:
    """What every scissor ROS process does before rclpy.init: shared memory of dead participants freed
    (:mod:`scissor_ros.shm`: a killed process cannot free its own), transport profile, allocator."""
    clean_zombie_shm()
    use_fastdds_profile(config)
    reuse_freed_memory(config.ros.malloc_reuse_bytes)


def print_stacks_on_signal() -> None:
    """Print every thread's stack to stderr on :data:`STACKS_SIGNAL` (a node process; not where stderr
    is no file, such as under a test's output capture)."""
    try:
        faulthandler.register(STACKS_SIGNAL, file=sys.stderr, all_threads=True)
    except (AttributeError, ValueError, io.UnsupportedOperation):
        pass


def use_fastdds_profile(config: ScissorConfig) -> None:
    """Point Fast DDS at ``ros.fastdds_profile`` unless the environment already chooses its transports.

    Fast DDS reads the variable when the first participant is created, so call this before rclpy.init.
    """
    if config.ros.fastdds_profile is None:
        return
    if not {"FASTDDS_DEFAULT_PROFILES_FILE", "FASTDDS_BUILTIN_TRANSPORTS"} & set(os.environ):
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(config.resolve_path(config.ros.fastdds_profile))


class RosLogHandler(logging.Handler):
    """Hands the core's Python log records (``scissor_core.*``: the runtime's warnings) to a node's ROS
    logger, so they reach /rosout and the console under the node's name like its own messages."""

    def __init__(self, node: Node) -> None:
        super().__init__(logging.INFO)
        self._logger = node.get_logger()

    def emit(self, record: logging.LogRecord) -> None:
        message = self.format(record)
        if record.levelno >= logging.ERROR:
            self._logger.error(message)
        elif record.levelno >= logging.WARNING:
            self._logger.warning(message)
        else:
            self._logger.info(message)


CLEANUP_LIMIT = 12.0
"""Seconds a node process may take from the end of its spin to its exit. A node's own stop is bounded well
below this (a runtime's threads get 4 s, then every frame's outcome is written); what can block without
bound is rclpy/Fast DDS destroying the entities (seen three times on a loaded machine: a device or an edge that
outlived SIGINT and SIGTERM and was killed). Past the limit the process prints every thread's stack and exits
0: its work is saved by then, and a SIGKILL would only hide where it hung."""


def exit_when_cleanup_hangs() -> threading.Timer:
    """Start the watchdog of :data:`CLEANUP_LIMIT` (a daemon timer; cancel it when cleanup finishes)."""
    limit = CLEANUP_LIMIT

    def give_up() -> None:
        print(f"scissor: the middleware's cleanup did not finish within {limit:g} s of the node's stop; exiting "
              "without it (the node's work is saved). Its threads:", file=sys.stderr, flush=True)
        with contextlib.suppress(Exception):
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        release_own_segments()
        os._exit(0)

    timer = threading.Timer(limit, give_up)
    timer.daemon = True
    timer.start()
    return timer


def leave(node: Node) -> None:
    """End a node before its process exits: its own ``stop()`` (our nodes write what must outlive the process
    there), then every endpoint destroyed, so its peers unmatch at once. Not rclpy's ``destroy_node``: its last
    step, destroying the node's handle (``destroy_when_not_in_use``), was seen to block for good while holding
    the GIL (a device and an annotator, twice in one day's fresh clones), where no watchdog thread can run.
    The process exits right after (:func:`run_and_exit`), which frees the rest; the node is untracked so that
    the context's shutdown does not destroy it either."""
    stop = getattr(node, "stop", None)
    if callable(stop):
        stop()
    for destroy, entities in ((node.destroy_publisher, node.publishers),
                              (node.destroy_subscription, node.subscriptions), (node.destroy_timer, node.timers),
                              (node.destroy_client, node.clients), (node.destroy_service, node.services)):
        for entity in list(entities):
            destroy(entity)
    untrack = getattr(node.context, "untrack_node", None)  # Kilted's context destroys the nodes it tracks
    if untrack is not None:
        untrack(node)


def run(make_node: Callable[[], Node], args: Sequence[str] | None = None) -> int:
    """The ros2/examples main: prepare the process (from the config file the ROS arguments name, read
    before the node exists: :mod:`scissor_ros.ros_args`), init, spin until the node's ``done`` future (if
    any) completes or Ctrl-C / shutdown, clean up. Returns 0, or 2 with a one-line message on an invalid configuration.

    (rclpy.experimental.EventsExecutor cuts a 0.1 MB round trip from ~1.6 to ~0.6 ms, but in this rclpy
    its spin() and spin_until_future_complete() without a timeout busy-loop without running callbacks.)
    """
    try:
        print_stacks_on_signal()
        prepare_process(load_config(config_file_from_ros_args(sys.argv if args is None else args)))
        # Not `with rclpy.init()`: Jazzy's rclpy.init is no context manager.
        rclpy.init(args=list(args) if args is not None else None)
        watchdog: threading.Timer | None = None
        try:
            node = make_node()
            core_log = logging.getLogger("scissor_core")
            core_log.addHandler(RosLogHandler(node))
            core_log.setLevel(logging.INFO)
            core_log.propagate = False
            try:
                done: Future | None = getattr(node, "done", None)
                if done is None:
                    rclpy.spin(node)
                else:
                    rclpy.spin_until_future_complete(node, done)
            except RuntimeError:  # rclpy's RCLError (a RuntimeError), and pybind11's conversion errors
                if rclpy.ok():
                    raise
                # A callback, or the executor's take of a message, was mid-way when SIGINT/SIGTERM shut the
                # context down: its publish failed (RCLError), or the take did ("Unable to convert call
                # argument '0' to Python object", seen once from the annotator in CI), and the shutdown
                # goes on as if the signal had arrived a moment earlier.
            finally:
                watchdog = exit_when_cleanup_hangs()
                leave(node)
        finally:
            rclpy.try_shutdown()
            if watchdog is not None:
                watchdog.cancel()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def run_and_exit(make_node: Callable[[], Node], args: Sequence[str] | None = None) -> int:
    """A node process's main: :func:`run`, then exit at once with its code. The node's work is saved and
    the middleware shut down by then; skipping the interpreter's own teardown avoids an exit that was
    seen to hang in Fast DDS/rclpy object finalisation (nodes that then needed SIGKILL)."""
    code = run(make_node, args)
    release_own_segments()  # os._exit skips the participant's destruction, which would remove them
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
