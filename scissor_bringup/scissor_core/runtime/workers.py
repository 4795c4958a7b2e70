"""The threads of one live runtime (the device's compute and link workers, the edge's servers)."""
from __future__ import annotations

import threading
from collections.abc import Callable


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

    def stop(self, join_timeout: float = 30.0) -> None:
        self.stopping.set()
        with self.condition:
            self.condition.notify_all()
        for thread in self.threads:
            if thread.is_alive():
                thread.join(join_timeout)
