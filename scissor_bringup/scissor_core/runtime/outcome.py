"""The one per-frame outcome record, shared by the simulator and the live testbed.

:class:`FrameOutcome` mirrors ``scissor_msgs/msg/FrameOutcome.msg`` field for
field (``capture`` is the header stamp, in seconds), so a node converts 1:1 and
one metrics module reads both. Every frame read gets exactly one outcome:
completed, or dropped with a reason and the place it was dropped.

The reward is DNN-Scissor's (docs/design.md §1): ``-(w * o + tau)`` for a completed frame,
with ``o`` the frame's real transmitted size in MB (10^6 bytes; the paper says
"MB" without saying which, we take SI) and ``tau`` its real total delay in
seconds; ``-F`` for a dropped frame.
"""
from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from scissor_core.config import RewardConfig

MB = 1e6
"""Bytes per MB in the reward and the metrics (SI megabyte)."""


class DropReason(StrEnum):
    """Why a frame did not complete."""

    LOCAL_TIMEOUT = "local_timeout"
    """Waited longer than T in the local (compute) queue."""
    OFFLOAD_TIMEOUT = "offload_timeout"
    """Its feature maps waited longer than T in the offloading queue."""
    LOCAL_QUEUE_FULL = "local_queue_full"
    """Arrived while the local queue was at its length threshold."""
    OFFLOAD_QUEUE_FULL = "offload_queue_full"
    """Its feature maps arrived while the offloading queue was at its threshold."""
    EDGE_LOST = "edge_lost"
    """Sent, but no result came back in time (edge gone, message lost)."""
    DECODE_ERROR = "decode_error"
    """The edge could not decode the feature maps."""
    LOCAL_ERROR = "local_error"
    """The device failed to run its part of the network."""
    BAD_FRAME = "bad_frame"
    """The camera image could not be read (wrong step, size or encoding; live testbed only)."""
    SHUTDOWN = "shutdown"
    """Still in the pipeline when the testbed stopped (live testbed only)."""


class DropPlace(StrEnum):
    """Where a frame was dropped."""

    LOCAL = "local"
    OFFLOAD = "offload"
    LINK = "link"
    EDGE = "edge"


@dataclass(slots=True)
class FrameOutcome:
    """Final outcome of one frame; durations in seconds, sizes in bytes."""

    seq: int
    """Frame sequence number."""
    capture: float
    """Capture time of the frame (s; simulated time, or the device's clock)."""
    model: str
    split: str
    """Split the frame was processed with."""
    codec: str
    """Wire codec label, e.g. ``raw`` or ``jpeg-q90``."""
    policy: str
    """Name of the policy that chose the split."""
    completed: bool
    drop_reason: str
    """A :class:`DropReason` value; empty when completed."""
    drop_place: str
    """A :class:`DropPlace` value; empty when completed."""
    fallback_decision: bool
    """True when the split came from the device's fallback rule, not the policy."""
    bytes_sent: int
    """Bytes that went over the link for this frame (0 when dropped before sending)."""
    local_wait: float
    local_compute: float
    offload_wait: float
    transmit: float
    edge_wait: float
    """Waited at the edge for a server (its serving queue) before the tail ran (s)."""
    edge_compute: float
    total_delay: float
    """Capture to result (completed) or capture to drop (dropped)."""
    reward: float

    @property
    def cost(self) -> float:
        """The system cost of this frame: ``w*o + tau``, or ``F`` for a drop (= -reward)."""
        return -self.reward


OUTCOME_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(FrameOutcome))
_CONVERTERS = {
    f.name: {"int": int, "float": float, "str": str, "bool": lambda s: s == "True"}[f.type]
    for f in dataclasses.fields(FrameOutcome)
}


@dataclass(frozen=True, slots=True)
class Reward:
    """DNN-Scissor's reward: ``-(w*o + tau)`` on success (o in MB, tau in s), ``-F`` on a drop."""

    w: float = 1.0
    drop_penalty: float = 10.0

    @classmethod
    def from_config(cls, config: RewardConfig) -> Reward:
        """The reward of a ``reward`` config section."""
        return cls(config.w, config.drop_penalty)

    def success(self, nbytes: int, total_delay: float) -> float:
        """Reward of a frame that completed after ``total_delay`` s having sent ``nbytes``."""
        return -self.cost(nbytes, total_delay)

    def cost(self, nbytes: float, total_delay: float) -> float:
        """System cost of a completed frame, ``w*MB + delay``: what policies that predict it minimise."""
        return self.w * nbytes / MB + total_delay

    @property
    def drop(self) -> float:
        """Reward of a dropped frame."""
        return -self.drop_penalty


class OutcomeLog:
    """A CSV of outcomes, one column per field; with ``flush_each`` every line is flushed as it is written,
    so the log of a live device is complete up to its last outcome even after a crash."""

    def __init__(self, path: str | Path, flush_each: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", newline="")
        self._writer = csv.writer(self._file)
        self._flush_each = flush_each
        self._writer.writerow(OUTCOME_FIELDS)
        self._file.flush()

    def write(self, outcome: FrameOutcome) -> None:
        self._writer.writerow(dataclasses.astuple(outcome))
        if self._flush_each:
            self._file.flush()

    def close(self) -> None:
        self._file.close()


def write_csv(outcomes: list[FrameOutcome], path: str | Path) -> Path:
    """Write outcomes as CSV with one column per field (header = field names)."""
    log = OutcomeLog(path, flush_each=False)
    for outcome in outcomes:
        log.write(outcome)
    log.close()
    return log.path


def read_csv(path: str | Path) -> list[FrameOutcome]:
    """Read outcomes written by :func:`write_csv`; a wrong header or value names the line."""
    path = Path(path)
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = tuple(next(reader, ()))
        if header != OUTCOME_FIELDS:
            raise ValueError(f"{path}: not a FrameOutcome CSV (header {list(header)[:4]}...)")
        outcomes = []
        for lineno, row in enumerate(reader, start=2):
            try:
                outcomes.append(_outcome_of_row(row))
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: {exc}") from None
    return outcomes


def _outcome_of_row(row: list[str]) -> FrameOutcome:
    if len(row) != len(OUTCOME_FIELDS):
        raise ValueError(f"{len(row)} columns, expected {len(OUTCOME_FIELDS)}")
    return FrameOutcome(*(_CONVERTERS[k](v) for k, v in zip(OUTCOME_FIELDS, row)))


class OutcomeTail:
    """Follows an outcome CSV that a running device appends to: :meth:`read` returns the outcomes of
    the complete lines written since the last call (a half-written last line waits for the next)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.outcomes: list[FrameOutcome] = []
        self._offset = 0
        self._header_seen = False

    def read(self) -> list[FrameOutcome]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        complete = chunk[:chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        rows = list(csv.reader(complete.decode().splitlines()))
        if rows and not self._header_seen:
            if tuple(rows[0]) != OUTCOME_FIELDS:
                raise ValueError(f"{self.path}: not a FrameOutcome CSV (header {rows[0][:4]}...)")
            rows, self._header_seen = rows[1:], True
        new = [_outcome_of_row(row) for row in rows]
        self.outcomes += new
        return new
