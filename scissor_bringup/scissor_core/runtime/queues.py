"""The device's two queues, their drop rules, the observed state s_t, and the edge's serving queue.

One model, used by the simulator (simulated time) and the live device node
(``time.monotonic()``): every method takes the current time ``now`` explicitly.

- **local queue**: frames waiting for the device to compute their part;
- **offloading queue**: feature maps waiting for the link;
- a frame whose wait in either queue exceeds ``T`` is dropped (``*_timeout``);
- a frame (or its feature maps) arriving at a queue that already holds its
  length threshold is dropped (``*_queue_full``; the arrival is dropped, the
  queued frames keep their places).

Every :class:`Job` ends in exactly one :class:`FrameOutcome`, passed to the
``emit`` callback: the queue owns that invariant. :class:`EdgeQueue` is the edge's
serving model (FIFO, a configured number of frames in service at once), run by the
live edge (:mod:`scissor_core.runtime.edge`).

Choices where the paper is silent (also in docs/design.md §1):

- The split is decided when the frame arrives, before it enters a queue.
- Split ``0`` (edge-only) has nothing to compute on the device: the frame goes
  straight to the offloading queue (otherwise the semi-fixed baseline's "send
  raw frames while the local queue is long" could not relieve the queue).
- Split ``last`` (device-only) completes on the device: its result is consumed
  locally, nothing enters the offloading queue, bytes sent = 0.
- Timeouts are exact although expiry is lazy: a frame is dropped iff its
  service would start more than ``T`` after it entered the queue; its drop time
  (and so its total delay) is ``enqueued + T``. The wait in the local queue and
  the wait in the offloading queue are limited separately, each by ``T``.
- A frame being computed or transmitted is never dropped by the queues.
- ``tau`` counts frames *waiting* in the queues (not those in service), as the
  paper's "frames in the local queue"; ``o`` is the bytes those frames will send.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from scissor_core.runtime.outcome import MB, DropPlace, DropReason, FrameOutcome, Reward


@dataclass(slots=True, eq=False)
class Job:
    """One frame on its way through the device; estimates come from the profile."""

    seq: int
    capture: float
    split: str
    codec: str
    policy: str
    fallback: bool
    local_time: float
    """Estimated device compute time of the split (s)."""
    edge_time: float
    """Estimated edge compute time of the split (s)."""
    nbytes: int
    """Bytes the split sends over the link (0 for device-only)."""
    needs_local: bool
    needs_link: bool
    enqueued: float = 0.0
    """When the job entered its current queue."""
    started: float = 0.0
    """When its current service (compute or transmit) started."""
    local_wait: float = 0.0
    local_compute: float = 0.0
    offload_wait: float = 0.0
    transmit: float = 0.0
    edge_wait: float = 0.0
    """Waited in the edge's serving queue (set when the edge starts serving it)."""
    at_edge: bool = False
    """On the link or sent, its result not yet back (counted in :attr:`ObservedState.edge_frames`)."""


STATE_SIZES = {"paper": 5, "extended": 7, "edge": 9}
"""Length of each state vector an A2C learner can see (``agent.state``): :meth:`ObservedState.vector`,
:meth:`ObservedState.extended_vector` or :meth:`ObservedState.edge_vector`."""


class ObservedState(NamedTuple):
    """What a policy sees before deciding a frame's split (all observable on the live device).

    The first five quantities are the paper's ``s_t = [l, c, b_hat, tau, o]``;
    ``device_backlog``, ``inflight_bytes`` and ``offload_bytes`` let the queue-aware baselines
    (greedy, DDP, DADS) predict when the device and the link become free; ``edge_frames`` and
    ``edge_work`` are what the device is sending or has sent and still awaits, the only sign of the edge's load
    it has.
    """

    seq: int
    now: float
    local_len: int
    """l_t: frames waiting in the local queue."""
    offload_len: int
    """c_t: feature maps waiting in the offloading queue."""
    bandwidth: float
    """b_hat: bandwidth estimate (bytes/s)."""
    tau: float
    """Estimated local + edge compute of the waiting frames, edge compute of the waiting feature maps (s)."""
    pending_bytes: float
    """o_t: bytes still to send for everything waiting (bytes)."""
    device_backlog: float
    """Estimated device work ahead of a new frame: rest of the frame in compute + waiting frames (s)."""
    inflight_bytes: float
    """Estimated bytes left of the transmission in progress."""
    offload_bytes: float
    """Bytes of the feature maps waiting in the offloading queue (part of ``pending_bytes``)."""
    edge_frames: int
    """Frames on the link or sent whose result has not come back (live: until it arrives; simulated: until the
    edge finishes it, the result path's latency earlier)."""
    edge_work: float
    """Estimated edge compute of those frames (s), from the profile (not reduced by their progress)."""

    def vector(self) -> tuple[float, float, float, float, float]:
        """The paper's state [l, c, b_hat (MB/s), tau (s), o (MB)]."""
        return (float(self.local_len), float(self.offload_len), self.bandwidth / MB, self.tau,
                self.pending_bytes / MB)

    def extended_vector(self) -> tuple[float, ...]:
        """The paper's state plus what it leaves out, the work *in service*: ``device_backlog`` (s, includes
        the rest of the frame being computed) and ``inflight_bytes`` (MB left of the transmission in
        progress). Without them a busy device and an idle one look alike when nothing waits."""
        return (*self.vector(), self.device_backlog, self.inflight_bytes / MB)

    def edge_vector(self) -> tuple[float, ...]:
        """The extended state plus the work sent or being sent and not answered, ``edge_frames`` and
        ``edge_work`` (s): without them an idle edge and one whose queue holds seconds of this device's frames
        look alike."""
        return (*self.extended_vector(), float(self.edge_frames), self.edge_work)

    def features(self, kind: str) -> tuple[float, ...]:
        """The vector of :data:`STATE_SIZES` kind ``paper``, ``extended`` or ``edge``."""
        if kind == "edge":
            return self.edge_vector()
        return self.extended_vector() if kind == "extended" else self.vector()


class DeviceQueues:
    """Local and offloading queues of one device, with the compute unit and the link they feed."""

    def __init__(self, model: str, timeout: float, local_max: int, offload_max: int, reward: Reward,
                 emit: Callable[[FrameOutcome], None]) -> None:
        self.model = model
        self.timeout = timeout
        self.local_max = local_max
        self.offload_max = offload_max
        self.reward = reward
        self.emit = emit
        self.local: deque[Job] = deque()
        self.offload: deque[Job] = deque()
        self.computing: Job | None = None
        self.transmitting: Job | None = None
        self._tau = 0.0
        self._bytes = 0.0
        self._local_work = 0.0
        self._offload_bytes = 0.0
        self._edge_frames = 0
        self._edge_work = 0.0

    # ----------------------------------------------------------- admission
    def admit(self, job: Job, now: float) -> bool:
        """A new frame with its decided split enters the local queue (or, for split 0, the
        offloading queue). Returns False when it was dropped because the queue was full."""
        if job.needs_local:
            self._expire_local(now)
            if len(self.local) >= self.local_max:
                self._drop(job, DropReason.LOCAL_QUEUE_FULL, DropPlace.LOCAL, now)
                return False
            job.enqueued = now
            self.local.append(job)
            self._tau += job.local_time + job.edge_time
            self._bytes += job.nbytes
            self._local_work += job.local_time
            return True
        return self._enter_offload(job, now)

    def _enter_offload(self, job: Job, now: float) -> bool:
        self._expire_offload(now)
        if len(self.offload) >= self.offload_max:
            self._drop(job, DropReason.OFFLOAD_QUEUE_FULL, DropPlace.OFFLOAD, now)
            return False
        job.enqueued = now
        self.offload.append(job)
        self._tau += job.edge_time
        self._bytes += job.nbytes
        self._offload_bytes += job.nbytes
        return True

    # ------------------------------------------------------------- compute
    def start_compute(self, now: float) -> Job | None:
        """The device is free: take the next frame that has not timed out (None when none waits)."""
        if self.computing is not None:
            raise RuntimeError("start_compute while the device is busy")
        self._expire_local(now)
        if not self.local:
            return None
        job = self.local.popleft()
        self._leave_local(job)
        job.local_wait = now - job.enqueued
        job.started = now
        self.computing = job
        return job

    def finish_compute(self, now: float) -> Job:
        """The frame in compute is done: it enters the offloading queue, or completes (device-only)."""
        job = self.computing
        if job is None:
            raise RuntimeError("finish_compute while the device is idle")
        self.computing = None
        job.local_compute = now - job.started
        if job.needs_link:
            self._enter_offload(job, now)
        else:
            self.complete(job, now, 0.0)
        return job

    # ------------------------------------------------------------ transmit
    def start_transmit(self, now: float) -> Job | None:
        """The link is free: take the next feature maps that have not timed out."""
        if self.transmitting is not None:
            raise RuntimeError("start_transmit while the link is busy")
        self._expire_offload(now)
        if not self.offload:
            return None
        job = self.offload.popleft()
        self._leave_offload(job)
        job.offload_wait = now - job.enqueued
        job.started = now
        self.transmitting = job
        job.at_edge = True
        self._edge_frames += 1
        self._edge_work += job.edge_time
        return job

    def finish_transmit(self, now: float) -> Job:
        """The feature maps in transmission have arrived at the edge; the caller completes the job."""
        job = self.transmitting
        if job is None:
            raise RuntimeError("finish_transmit while the link is idle")
        self.transmitting = None
        job.transmit = now - job.started
        return job

    # ------------------------------------------------------------ outcomes
    def complete(self, job: Job, now: float, edge_compute: float) -> FrameOutcome:
        """The frame's result is back at ``now``: emit its success outcome."""
        self._leave_edge(job)
        delay = now - job.capture
        nbytes = job.nbytes if job.needs_link else 0
        outcome = FrameOutcome(
            job.seq, job.capture, self.model, job.split, job.codec, job.policy, True, "", "", job.fallback,
            nbytes, job.local_wait, job.local_compute, job.offload_wait, job.transmit, job.edge_wait, edge_compute,
            delay, self.reward.success(nbytes, delay),
        )
        self.emit(outcome)
        return outcome

    def fail(self, job: Job, now: float, reason: DropReason, place: DropPlace,
             bytes_sent: int = 0) -> FrameOutcome:
        """A frame out of the queues failed (edge lost, decode error, ...): emit its drop outcome."""
        return self._drop(job, reason, place, now, bytes_sent)

    def _drop(self, job: Job, reason: str, place: str, when: float, bytes_sent: int = 0) -> FrameOutcome:
        self._leave_edge(job)
        outcome = FrameOutcome(
            job.seq, job.capture, self.model, job.split, job.codec, job.policy, False, reason, place,
            job.fallback, bytes_sent, job.local_wait, job.local_compute, job.offload_wait, job.transmit,
            job.edge_wait, 0.0, when - job.capture, self.reward.drop,
        )
        self.emit(outcome)
        return outcome

    def abort_compute(self, now: float, reason: DropReason) -> FrameOutcome:
        """The frame in compute failed (live device: its part of the network raised)."""
        job = self.computing
        if job is None:
            raise RuntimeError("abort_compute while the device is idle")
        self.computing = None
        job.local_compute = now - job.started
        return self._drop(job, reason, DropPlace.LOCAL, now)

    def abort_transmit(self, now: float, reason: DropReason) -> FrameOutcome:
        """The feature maps in transmission could not be sent (live device: encoding failed)."""
        job = self.transmitting
        if job is None:
            raise RuntimeError("abort_transmit while the link is idle")
        self.transmitting = None
        job.transmit = now - job.started
        return self._drop(job, reason, DropPlace.LINK, now)

    def drain(self, now: float, reason: DropReason) -> None:
        """Drop every frame still waiting, computing or transmitting (the live testbed stops)."""
        if self.computing is not None:
            self.abort_compute(now, reason)
        if self.transmitting is not None:
            self.abort_transmit(now, reason)
        for queue, place, leave in ((self.local, DropPlace.LOCAL, self._leave_local),
                                    (self.offload, DropPlace.OFFLOAD, self._leave_offload)):
            while queue:
                job = queue.popleft()
                leave(job)
                self._drop(job, reason, place, now)

    # ------------------------------------------------------------- expiry
    def expire(self, now: float) -> None:
        """Drop every waiting frame whose wait already exceeds T (the other methods do this too)."""
        self._expire_local(now)
        self._expire_offload(now)

    def _leave_edge(self, job: Job) -> None:
        if job.at_edge:
            job.at_edge = False
            self._edge_frames -= 1
            self._edge_work = self._edge_work - job.edge_time if self._edge_frames else 0.0

    def _leave_local(self, job: Job) -> None:
        self._tau -= job.local_time + job.edge_time
        self._bytes -= job.nbytes
        self._local_work -= job.local_time
        if not self.local:
            self._local_work = 0.0
            if not self.offload:
                self._tau = self._bytes = 0.0

    def _leave_offload(self, job: Job) -> None:
        self._tau -= job.edge_time
        self._bytes -= job.nbytes
        self._offload_bytes -= job.nbytes
        if not self.offload:
            self._offload_bytes = 0.0  # no float drift when the queues run empty
            if not self.local:
                self._tau = self._bytes = 0.0

    def _expire_local(self, now: float) -> None:
        q, limit = self.local, now - self.timeout
        while q and q[0].enqueued < limit:
            job = q.popleft()
            self._leave_local(job)
            job.local_wait = self.timeout
            self._drop(job, DropReason.LOCAL_TIMEOUT, DropPlace.LOCAL, job.enqueued + self.timeout)

    def _expire_offload(self, now: float) -> None:
        q, limit = self.offload, now - self.timeout
        while q and q[0].enqueued < limit:
            job = q.popleft()
            self._leave_offload(job)
            job.offload_wait = self.timeout
            self._drop(job, DropReason.OFFLOAD_TIMEOUT, DropPlace.OFFLOAD, job.enqueued + self.timeout)

    # --------------------------------------------------------------- state
    def observe(self, now: float, seq: int, bandwidth: float) -> ObservedState:
        """The state a policy sees for frame ``seq`` arriving at ``now`` (expires timed-out frames first)."""
        self._expire_local(now)
        self._expire_offload(now)
        backlog = self._local_work
        job = self.computing
        if job is not None:
            rest = job.started + job.local_time - now
            if rest > 0.0:
                backlog += rest
        inflight = 0.0
        job = self.transmitting
        if job is not None:
            inflight = job.nbytes - bandwidth * (now - job.started)
            if inflight < 0.0:
                inflight = 0.0
        return ObservedState(seq, now, len(self.local), len(self.offload), bandwidth, self._tau, self._bytes,
                             backlog, inflight, self._offload_bytes, self._edge_frames, self._edge_work)

    @property
    def idle(self) -> bool:
        """Nothing waits, computes or transmits."""
        return not self.local and not self.offload and self.computing is None and self.transmitting is None


class EdgeQueue:
    """The edge's serving model with explicit time: FIFO, at most ``capacity`` items in service at once."""

    def __init__(self, capacity: int = 1) -> None:
        if capacity < 1:
            raise ValueError("an edge serves at least one frame at a time")
        self.capacity = capacity
        self.waiting: deque[tuple[Any, float]] = deque()
        self.in_service = 0

    def arrive(self, item: Any, now: float) -> None:
        """An item joins the queue at ``now``."""
        self.waiting.append((item, now))

    def start(self, now: float) -> tuple[Any, float] | None:
        """The next item and how long it waited, if a server is free and one waits (else None)."""
        if self.in_service >= self.capacity or not self.waiting:
            return None
        item, arrived = self.waiting.popleft()
        self.in_service += 1
        return item, now - arrived

    def finish(self) -> None:
        """An item's service has ended: its server is free."""
        if self.in_service == 0:
            raise RuntimeError("finish without an item in service")
        self.in_service -= 1

    @property
    def length(self) -> int:
        """Items waiting (not in service)."""
        return len(self.waiting)
