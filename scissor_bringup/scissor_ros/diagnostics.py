"""Diagnostics: one DiagnosticStatus per node and period on /diagnostics (diagnostic_updater has no wheel)."""
from __future__ import annotations

import socket

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

from scissor_ros.topics import publisher


class Diagnostics:
    """One DiagnosticStatus of this node on ``/diagnostics`` every period: level, message, values, rates.

    ``diagnostic_updater`` is not available as a wheel; this is the small shared replacement.
    """

    OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR

    def __init__(self, node: Node, period: float) -> None:
        self._node = node
        self._publisher = publisher(node, DiagnosticArray, "/diagnostics")
        self._period = period
        self.level, self.message = self.OK, "starting"
        self.values: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        self._counted_at_last: dict[str, int] = {}
        node.create_timer(period, self.publish)

    def set(self, level: bytes | None = None, message: str | None = None, **values: object) -> None:
        """Update the status and any number of named values (shown as text)."""
        if level is not None:
            self.level = level
        if message is not None:
            self.message = message
        self.values.update({k: str(v) for k, v in values.items()})

    def count(self, name: str, n: int = 1) -> None:
        """Add to a counter; each message shows its total and its rate over the last period."""
        self._counts[name] = self._counts.get(name, 0) + n

    def publish(self) -> None:
        values = dict(self.values)
        for name, total in self._counts.items():
            rate = (total - self._counted_at_last.get(name, 0)) / self._period
            values[name], values[f"{name}_per_s"] = str(total), f"{rate:.2f}"
        self._counted_at_last = dict(self._counts)
        status = DiagnosticStatus(level=self.level, name=self._node.get_fully_qualified_name(),
                                  message=self.message, hardware_id=socket.gethostname(),
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        array_msg = DiagnosticArray(status=[status])
        array_msg.header.stamp = self._node.get_clock().now().to_msg()
        self._publisher.publish(array_msg)
