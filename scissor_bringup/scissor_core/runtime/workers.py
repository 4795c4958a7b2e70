"""The threads of one live runtime (the device's compute and link workers, the edge's servers)."""
from __future__ import annotations

import logging
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

STOP_TIMEOUT = 4.0
"""Seconds a runtime's stop waits for its threads: below ``ros2 launch``'s 5 s between SIGINT and SIGTERM."""
STACKS_SIGNAL = signal.SIGUSR1
"""A node process prints every thread's stack to stderr on this signal and goes on (a launcher sends it
to a node that outlived a grace period: the node's log then shows where it hangs)."""


@contextmanager
def held(condition: threading.Condition, timeout: float, purpose: str) -> Iterator[bool]:
    """Hold ``condition``'s lock for the block, or run the block without it after ``timeout`` seconds
    (logged): at shutdown a thread stuck while holding it must not keep frames from their outcomes."""
    locked = condition.acquire(timeout=timeout)
    if not locked:
        log.error("%s without the runtime's lock: still held %.0f s after stop", purpose, timeout)
    try:
        yield locked
    finally:
        if locked:
            condition.release()


class Workers:
    """Threads started together and stopped together: :meth:`stop` sets :attr:`stopping`, wakes every
    thread waiting on the runtime's condition and joins them. The threads end when they see it set."""

    def __init__(self, condition: threading.Condition, targets: dict[str, Callable[[], None]]) -> None:
        self.condition = condition
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=target, name=name, daemon=True) for name, target in targets.items()]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self, join_timeout: float = STOP_TIMEOUT) -> list[str]:
        """Stop and join every thread within ``join_timeout`` seconds in all; returns the names of threads
        still running then, each logged with its stack (they are daemons: the process can still exit).

        One bound for all threads, below a launcher's grace, so a thread stuck in a call (say the
        middleware) leaves the runtime time to record the outcome of every frame it holds."""
        deadline = time.monotonic() + join_timeout
        self.stopping.set()
        with held(self.condition, join_timeout, "waking the threads"):
            self.condition.notify_all()
        for thread in self.threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [thread for thread in self.threads if thread.is_alive()]
        frames = sys._current_frames()
        for thread in stuck:
            stack = "".join(traceback.format_stack(frames[thread.ident])) if thread.ident in frames else ""
            log.warning("thread %s still running %.0f s after stop, at:\n%s", thread.name, join_timeout, stack)
        return [thread.name for thread in stuck]
