"""The one way the live runtime reads time and waits, so tests can inject a clock they step by hand."""
from __future__ import annotations

import threading
import time


class Clock:
    """Monotonic seconds and interruptible waits (the system clock; subclass to control time in tests)."""

    def __init__(self) -> None:
        self._wall_offset_ns = time.time_ns() - time.monotonic_ns()

    def wall_ns(self, t: float) -> int:
        """Wall-clock nanoseconds of time ``t`` of :meth:`now`: what a message header's stamp carries."""
        return int(t * 1e9) + self._wall_offset_ns

    def now(self) -> float:
        """Seconds on a monotonic clock."""
        return time.monotonic()

    def sleep(self, seconds: float, interrupt: threading.Event) -> bool:
        """Wait ``seconds`` or until ``interrupt`` is set, whichever comes first; True when interrupted."""
        return interrupt.wait(seconds)


SYSTEM_CLOCK = Clock()
"""The clock of every live node."""
