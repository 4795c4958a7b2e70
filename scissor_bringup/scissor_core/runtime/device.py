"""The live device, without ROS: decisions with a deadline, local compute, a shaped link, results.

``DeviceRuntime`` is what ``device_node`` adapts to topics. It owns the same
:class:`~scissor_core.runtime.queues.DeviceQueues` the simulator runs, so drop rules and
the one-outcome-per-frame invariant come from one place, and adds what only the
live system has:

- **decisions** arrive asynchronously from the agent; a frame whose decision
  has not arrived within ``decision_deadline`` is decided by the device's own
  fallback policy (the outcome records ``fallback_decision``);
- a **compute worker** thread runs the device part of the real model on the
  frame (torch), then sleeps ``(slowdown - 1) x`` the measured time to emulate
  a slower device;
- a **link worker** thread encodes the crossing tensors with the wire codec and
  holds them until an application-level :class:`LinkShaper` says they have
  crossed a link following the bandwidth trace, then hands them to ``send``;
  ``b_hat`` is estimated from these transmissions, as in the simulator;
- **results**: a frame sent to the edge completes when its result arrives; one
  that gets no result within ``edge_timeout`` is dropped as ``edge_lost``;
  duplicate and late results are counted and ignored;
- **edge presence**: while no edge listens (the node reports DDS matching with
  :meth:`DeviceRuntime.edge_listeners`), or after ``edge_silence_limit`` frames in
  a row were lost without a result (an edge that listens but does not answer),
  the edge is *away*: every new frame runs device-only (policy
  ``EDGE_AWAY_POLICY``, a fallback decision) and feature maps about to be sent
  are dropped as ``edge_lost`` at once. A newly matched edge, any result (a late
  one too: an overloaded edge is not away), or ``edge_retry`` seconds of silence
  make it available again;
- **stop** gives every frame still in the pipeline its outcome (``shutdown``).

Every method that takes no ``now`` reads ``clock`` (a :class:`~scissor_core.runtime.clock.Clock`,
monotonic; tests inject one they step by hand): total delay is measured on the
device's clock, and only durations (and the capture stamp) leave the device.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from scissor_core.config import ScissorConfig
from scissor_core.models.graph import INPUT
from scissor_core.models.registry import DEVICE_ONLY, EDGE_ONLY, VisionModel
from scissor_core.runtime.clock import SYSTEM_CLOCK, Clock
from scissor_core.runtime.costs import ModelProfile, SplitCosts
from scissor_core.runtime.outcome import DropPlace, DropReason, FrameOutcome, OutcomeLog, Reward
from scissor_core.runtime.policy import Policy
from scissor_core.runtime.queues import DeviceQueues, Job, ObservedState
from scissor_core.runtime.records import Decision, EdgeResult, FeaturePayload, LinkReport, Receipt, with_prediction
from scissor_core.runtime.workers import STOP_TIMEOUT, Workers, held
from scissor_core.runtime.traces import BandwidthEstimator, Trace, parse_trace
from scissor_core.sources.imaging import ImageError
from scissor_core.wire.codec import CodecSpec
from scissor_core.wire.sealing import Sealer, key_from_config

log = logging.getLogger(__name__)

EDGE_AWAY_POLICY = "device-only(edge-away)"
"""The policy recorded for frames run device-only because no edge was available."""


class LinkShaper:
    """Application-level link emulation: when ``nbytes`` sent at ``start`` have crossed a link that
    follows ``trace`` (trace time 0 = ``origin`` on the device clock). One transmission at a time.

    The device starts the trace at its first frame (``origin`` None until then), as the simulator does and
    as the netns link does (:class:`scissor_bringup.netns.TraceFollower`): a run sees the same stretch of
    the trace whatever its start-up took, in all three worlds."""

    def __init__(self, trace: Trace, origin: float | None = None) -> None:
        self.trace = trace
        self.origin = origin

    def start(self, t: float) -> None:
        """Trace time 0 is ``t``, unless the trace already started."""
        if self.origin is None:
            self.origin = t

    def trace_time(self, t: float) -> float:
        """Trace time of device time ``t`` (0 before the trace started)."""
        return 0.0 if self.origin is None else max(0.0, t - self.origin)

    def finish_time(self, start: float, nbytes: int) -> float:
        self.start(start)
        return self.origin + self.trace.transmit_finish_time(start - self.origin, nbytes)


@dataclass
class _Frame:
    """The data of a frame in the pipeline (jobs only carry estimates)."""

    x: torch.Tensor
    meta: Any
    frame_id: str
    """The camera image's header.frame_id, carried to the edge."""
    size: tuple[int, int]
    """(width, height) of the camera image, carried to the edge (it maps detections to it)."""
    stamp_ns: int | None = None
    """The camera image's header stamp, carried to the edge and back in its result (so a result names its
    frame as the camera stamped it); None or 0 (an unstamped image): the device's arrival time."""
    tensors: dict[str, torch.Tensor] | None = None


@dataclass
class DeviceStats:
    """Counters for diagnostics and the summary."""

    frames: int = 0
    outcomes: int = 0
    bad_frames: int = 0
    renumbered_frames: int = 0
    agent_decisions: int = 0
    fallback_decisions: int = 0
    late_decisions: int = 0
    invalid_decisions: int = 0
    results: int = 0
    duplicate_or_late_results: int = 0
    edge_away_decisions: int = 0
    edge_departures: int = 0
    edge_errors: int = 0
    receipts: int = 0
    late_receipts: int = 0
    edge_queue: int = 0
    """Feature maps waiting at the edge, as the last receipt said."""
    bytes_sent: int = 0
    split_counts: dict[str, int] = field(default_factory=dict)


class DeviceRuntime:
    """One device's live pipeline (thread-safe; ``start`` the workers, ``stop`` to flush)."""

    def __init__(self, model: VisionModel, costs: SplitCosts, fallback: Policy, *, codec: CodecSpec,
                 trace: Trace, timeout: float, local_max: int, offload_max: int, reward: Reward,
                 decision_deadline: float, edge_timeout: float, slowdown: float = 1.0,
                 initial_bandwidth: float = 5e6, estimator_window: int = 5, estimator_step: int = 2,
                 edge_silence_limit: int = 3, edge_retry: float = 10.0,
                 emit: Callable[[FrameOutcome], None], send: Callable[[FeaturePayload], None],
                 clock: Clock = SYSTEM_CLOCK, sealer: Sealer | None = None,
                 frame_codec: CodecSpec | None = None, outcome_log: OutcomeLog | None = None,
                 shaped: bool = True, publish_result: Callable[[EdgeResult], None] | None = None) -> None:
        """``sealer``, when given, seals each encoded blob into the bytes that are shaped, counted and sent
        (payload encryption, :mod:`scissor_core.wire.sealing`). ``frame_codec``, when given, encodes split 0
        (``codec.frame_encoding``). ``send`` publishes a payload; ``emit`` receives every outcome, after
        ``outcome_log`` (closed by :meth:`stop`) has it. ``shaped``: hold each transmission for its bytes at
        the trace's rate before sending (``link.shaper: app``); else send at once (a real link).
        ``publish_result`` receives the result of every frame completed device-only, as the edge's would
        look (split ``last``), so consumers of results see every completed frame."""
        if costs.chooses_codec:  # every option's codec, from its label (the codec section is unused)
            self._specs = {label: CodecSpec.from_label(label) for label in set(costs.codecs) if label}
        else:
            if codec.label != costs.codec:
                raise ValueError(f"codec {codec.label!r} differs from the cost table's {costs.codec!r}")
            if (frame_codec.label if frame_codec else None) != costs.frame_codec:
                raise ValueError(f"frame codec {frame_codec.label if frame_codec else None!r} differs from the "
                                 f"cost table's {costs.frame_codec!r}")
            # encoder settings by label: a job's codec (costs.codec_of its split) names the one to encode with
            self._specs = {spec.label: spec for spec in (codec, frame_codec) if spec is not None}
        self.model, self.costs, self.fallback, self.codec = model, costs, fallback, codec
        self.decision_deadline, self.edge_timeout, self.slowdown = decision_deadline, edge_timeout, slowdown
        self.edge_silence_limit, self.edge_retry = edge_silence_limit, edge_retry
        self.clock, self.send, self._emit_outcome, self.publish_result = clock, send, emit, publish_result
        self.sealer = sealer
        self.outcome_log = outcome_log
        self.shaped = shaped
        self.shaper = LinkShaper(trace)
        self.estimator = BandwidthEstimator(initial_bandwidth, estimator_window, estimator_step)
        self.queues = DeviceQueues(model.name, timeout, local_max, offload_max, reward, self._emit)
        self.stats = DeviceStats()
        self._index = {s: i for i, s in enumerate(costs.splits)}
        self._cv = threading.Condition()
        self._frames: dict[int, _Frame] = {}
        self._undecided: dict[int, tuple[float, _Frame, ObservedState]] = {}
        self._awaiting: dict[int, tuple[Job, float]] = {}
        self._edge_listeners = 1  # the node only reads frames once an edge listens
        self._next_seq = 0
        self._delivered: dict[int, float] = {}
        """Seq -> when the edge's receipt (or a result) said it holds the frame's payload."""
        self._early_results: dict[int, EdgeResult] = {}
        """Results that came before their frame's receipt."""
        self._lost_in_a_row = 0
        self._silent_since: float | None = None
        self._workers = Workers(self._cv, {"device-compute": self._compute_loop, "device-link": self._link_loop})
        self._stop = self._workers.stopping

    @classmethod
    def from_config(cls, config: ScissorConfig, model: VisionModel, profile: ModelProfile, fallback: Policy, *,
                    emit: Callable[[FrameOutcome], None], send: Callable[[FeaturePayload], None],
                    clock: Clock = SYSTEM_CLOCK,
                    publish_result: Callable[[EdgeResult], None] | None = None) -> DeviceRuntime:
        """A device with the config's codec, link, queues, reward, deadlines, sealing key and outcome log,
        the profile's cost estimates and device slowdown, and ``fallback`` deciding when the agent does not
        (mirrors :meth:`~scissor_core.simulation.simulator.Simulator.from_config`)."""
        q, ln, dev = config.queues, config.link, config.device
        key = key_from_config(config)
        return cls(
            model, SplitCosts.for_config(profile, config.codec), fallback, codec=CodecSpec.of(config.codec),
            frame_codec=CodecSpec.frame_of(config.codec), trace=parse_trace(ln.trace),
            timeout=q.timeout_for(model.name), local_max=q.local_max, offload_max=q.offload_max,
            reward=Reward.from_config(config.reward), decision_deadline=dev.decision_deadline,
            edge_timeout=dev.edge_timeout, slowdown=float(profile.settings.get("device_slowdown", 1.0)),
            initial_bandwidth=ln.initial_bandwidth, estimator_window=ln.estimator_window,
            estimator_step=ln.estimator_step,
            edge_silence_limit=dev.edge_silence_limit, edge_retry=dev.edge_retry, emit=emit, send=send,
            clock=clock, sealer=Sealer(key) if key is not None else None,
            outcome_log=OutcomeLog(config.resolve_path(dev.outcome_log)), shaped=ln.shaper == "app",
            publish_result=publish_result)

    # ---------------------------------------------------------------- life
    def start(self) -> None:
        self._workers.start()

    def stop(self, join_timeout: float = STOP_TIMEOUT) -> None:
        """Stop the workers, give every frame still in the pipeline its outcome, close the outcome log
        (bounded: a worker stuck past ``join_timeout`` is logged with its stack and waited for no longer)."""
        self._workers.stop(join_timeout)
        with held(self._cv, 1.0, "recording the outcomes of the frames in flight"):
            now = self.clock.now()
            for seq, (arrival, _, _) in list(self._undecided.items()):
                del self._undecided[seq]
                self.queues.fail(self._job(seq, arrival, "", "", False), now, DropReason.SHUTDOWN, DropPlace.LOCAL)
            self.queues.drain(now, DropReason.SHUTDOWN)
            for seq, (job, _) in list(self._awaiting.items()):
                del self._awaiting[seq]
                self.queues.fail(job, now, DropReason.SHUTDOWN, DropPlace.EDGE, job.nbytes)
        if self.outcome_log is not None:
            self.outcome_log.close()

    def read_frame(self, claimed: int | None, decode: Callable[[], np.ndarray],
                   frame_id: str = "", stamp_ns: int | None = None) -> tuple[int, ObservedState | None]:
        """A camera message arrives: number it, ``decode`` it into a BGR frame and admit it; returns its seq
        and the state its decision is made on (None for an unreadable image, which gets its ``bad_frame``
        outcome). The frame keeps the camera's ``claimed`` number unless it has none or one already used
        (a restarted camera counts from 0 again): frame numbers stay unique."""
        renumbered = claimed is not None and claimed < self._next_seq
        seq = self._next_seq if claimed is None or renumbered else claimed
        self._next_seq = seq + 1
        if renumbered:
            self.stats.renumbered_frames += 1
            log.warning("camera frame %d after %d: numbered %d", claimed, seq - 1, seq)
        try:
            frame = decode()
        except ImageError as exc:
            self.stats.bad_frames += 1
            log.warning("camera frame %d rejected: %s", seq, exc)
            self.reject_frame(seq)
            return seq, None
        return seq, self.on_frame(seq, frame, frame_id, stamp_ns)

    def link_report(self) -> LinkReport:
        """The device's view of its link now: ``b_hat`` and the rate the shaper allows."""
        now = self.clock.now()
        return LinkReport(self.estimator.estimate, shaped_rate=self.shaper.trace.rate_at(self.shaper.trace_time(now)))

    def describe(self) -> str:
        """The device's set-up in one line for its start-up log."""
        sealing = (f"sealed (AES-256-GCM, session {self.sealer.session.hex()})" if self.sealer
                   else "in clear (no link.key_file)")
        return (f"{self.model.name} ({self.model.weights_label}); codec {self.costs.codec_plan}; link "
                f"{self.shaper.trace.name}; device slowdown x{self.slowdown:g}, {torch.get_num_threads()} torch "
                f"thread(s); fallback {self.fallback.name}; feature payload {sealing}")

    def final_report(self) -> str:
        """What the device did, in one line for its last log."""
        stats = self.stats
        log = f" in {self.outcome_log.path}" if self.outcome_log is not None else ""
        return (f"read {stats.frames} frames, recorded {stats.outcomes} outcomes{log}; ignored "
                f"{stats.duplicate_or_late_results} duplicate or late results; edge away {stats.edge_departures} times")

    def status(self) -> dict[str, object]:
        """Values for the node's diagnostics."""
        stats = self.stats
        return {"frames": stats.frames, "in_flight": self.in_flight,
                "bandwidth_estimate": f"{self.estimator.estimate:.0f}", "fallback_decisions": stats.fallback_decisions,
                "splits": stats.split_counts, "edge_available": self.edge_available,
                "edge_away_decisions": stats.edge_away_decisions, "edge_departures": stats.edge_departures,
                "bad_frames": stats.bad_frames, "renumbered_frames": stats.renumbered_frames,
                "receipts": stats.receipts, "late_receipts": stats.late_receipts, "edge_queue": stats.edge_queue}

    @property
    def in_flight(self) -> int:
        """Frames read that have no outcome yet."""
        with self._cv:
            return len(self._undecided) + len(self._frames) + len(self._awaiting)

    # ------------------------------------------------------------ decisions
    def on_frame(self, seq: int, frame_bgr, frame_id: str = "", stamp_ns: int | None = None) -> ObservedState:
        """A camera frame arrives: preprocess it and return the state its decision is made on (``frame_id``
        and ``stamp_ns``, the camera header's, travel with it to the edge and back)."""
        arrival = self.clock.now()
        x, meta = self.model.preprocess(frame_bgr)
        with self._cv:
            self.shaper.start(arrival)
            self.stats.frames += 1
            state = self.queues.observe(arrival, seq, self.estimator.estimate)
            size = (frame_bgr.shape[1], frame_bgr.shape[0])
            self._undecided[seq] = (arrival, _Frame(x, meta, frame_id, size, stamp_ns), state)
        return state

    def reject_frame(self, seq: int) -> None:
        """A camera message that is not a readable image: the frame's outcome is a ``bad_frame`` drop."""
        with self._cv:
            self.stats.frames += 1
            now = self.clock.now()
            self.queues.fail(self._job(seq, now, "", "", False), now, DropReason.BAD_FRAME, DropPlace.LOCAL)

    def on_decision(self, decision: Decision) -> bool:
        """The agent's split for a frame; False when it came too late (the fallback decided)."""
        seq, split, policy = decision.seq, decision.split, decision.policy
        with self._cv:
            if seq not in self._undecided:
                self.stats.late_decisions += 1
                return False
            if split not in self._index:
                self.stats.invalid_decisions += 1
                log.warning("frame %d: agent chose %r, not a candidate %s: falling back", seq, split,
                            list(self.costs.splits))
                self._decide_with_fallback(seq)
                return True
            self.stats.agent_decisions += 1
            self._admit(seq, split, policy, fallback=False)
            return True

    def decide_with_fallback(self, seq: int) -> str:
        """Decide frame ``seq`` now with the device's own policy (no agent, or the deadline passed)."""
        with self._cv:
            return self._decide_with_fallback(seq)

    def _decide_with_fallback(self, seq: int) -> str:
        state = self._undecided[seq][2]
        split = self.fallback.decide(state)
        self.stats.fallback_decisions += 1
        self._admit(seq, split, self.fallback.name, fallback=True)
        return split

    def _job(self, seq: int, arrival: float, split: str, policy: str, fallback: bool) -> Job:
        """The job of candidate ``split``: its model split and codec (an option names both), its estimates."""
        i = self._index.get(split)
        local, edge, nbytes = (0.0, 0.0, 0) if i is None else (self.costs.local[i], self.costs.edge[i],
                                                              self.costs.nbytes[i])
        cut = self.costs.cut_of(split)
        return Job(seq, arrival, cut, self.costs.codec_of(split), policy, fallback, local, edge, nbytes,
                   cut != EDGE_ONLY, cut != DEVICE_ONLY)

    def _admit(self, seq: int, split: str, policy: str, fallback: bool) -> None:
        if split != DEVICE_ONLY and not self._edge_available(self.clock.now()):
            split, policy, fallback = DEVICE_ONLY, EDGE_AWAY_POLICY, True
            self.stats.edge_away_decisions += 1
        arrival, frame, _ = self._undecided.pop(seq)
        self.stats.split_counts[split] = self.stats.split_counts.get(split, 0) + 1
        if self.costs.cut_of(split) == EDGE_ONLY:
            frame.tensors = {INPUT: frame.x}
        self._frames[seq] = frame
        self.queues.admit(self._job(seq, arrival, split, policy, fallback), self.clock.now())
        self._cv.notify_all()

    # -------------------------------------------------------------- results
    def on_result(self, result: EdgeResult) -> bool:
        """The edge's result for a frame; False for a duplicate or late one (ignored), or another model's."""
        if result.model and result.model != self.model.name:
            return False  # another testbed's edge on the same topic
        if result.split == DEVICE_ONLY:
            return True  # this device's own result of a device-only frame: it reads the topic it writes
        with self._cv:
            # Any result, even one too late for its frame, shows the edge is alive (an overloaded edge
            # answers late; it is not away).
            self._lost_in_a_row, self._silent_since = 0, None
            entry = self._awaiting.pop(result.seq, None)
            if entry is None:
                job = self.queues.transmitting
                if job is not None and job.seq == result.seq and result.seq not in self._early_results:
                    # The result overtook the receipt: the edge held the payload; the link worker ends the
                    # transmission now and then completes the frame with this result.
                    self._delivered.setdefault(result.seq, self.clock.now())
                    self._early_results[result.seq] = result
                    self._cv.notify_all()
                    return True
                self.stats.duplicate_or_late_results += 1
                return False
            self._finish(entry[0], result, self.clock.now())
            return True

    def _finish(self, job: Job, result: EdgeResult, now: float) -> None:
        """A frame's result is back: completed, or (an error result) a decode_error drop."""
        if result.error:
            self.stats.edge_errors += 1
            self.queues.fail(job, now, DropReason.DECODE_ERROR, DropPlace.EDGE, job.nbytes)
        else:
            self.stats.results += 1
            job.edge_wait = result.edge_wait
            self.queues.complete(job, now, result.edge_compute)

    def on_receipt(self, receipt: Receipt) -> bool:
        """The edge holds a frame's whole payload: the frame's transmission ends now. False for a receipt of
        no frame in transmission (a duplicate, or one after its frame was dropped), or of another model."""
        if receipt.model and receipt.model != self.model.name:
            return False
        with self._cv:
            job = self.queues.transmitting
            if job is None or job.seq != receipt.seq or receipt.seq in self._delivered:
                self.stats.late_receipts += 1
                return False
            self._delivered[receipt.seq] = self.clock.now()
            self.stats.edge_queue = receipt.edge_queue
            self._cv.notify_all()
            return True

    def poll(self) -> None:
        """Periodic housekeeping: fallback for overdue decisions, queue timeouts, lost results."""
        with self._cv:
            now = self.clock.now()
            for seq, (arrival, _, _) in list(self._undecided.items()):
                if now - arrival >= self.decision_deadline:
                    self._decide_with_fallback(seq)
            self.queues.expire(now)
            for seq, (job, deadline) in list(self._awaiting.items()):
                if now >= deadline:
                    del self._awaiting[seq]
                    self.queues.fail(job, now, DropReason.EDGE_LOST, DropPlace.EDGE, job.nbytes)
                    self._count_lost(now)
            self._cv.notify_all()

    def _count_lost(self, now: float) -> None:
        """One more frame in a row the edge did not answer (no receipt or no result in time); at
        ``edge_silence_limit`` the edge is away for ``edge_retry`` s."""
        self._lost_in_a_row += 1
        if self._lost_in_a_row == self.edge_silence_limit:
            self._silent_since = now
            self.stats.edge_departures += 1
            log.warning("%d frames in a row got no receipt or result: the edge is away for %g s (device-only)",
                        self._lost_in_a_row, self.edge_retry)

    # -------------------------------------------------------- edge presence
    def edge_listeners(self, count: int) -> None:
        """How many subscribers the feature topic has now (DDS matching). None: the edge is away.
        More than last time: a (re)started edge, so offloading may resume at once."""
        with self._cv:
            if count > self._edge_listeners:
                self._lost_in_a_row, self._silent_since = 0, None
                log.warning("an edge subscribed to the feature maps (%d listening): offloading again", count)
            elif count == 0 < self._edge_listeners:
                self.stats.edge_departures += 1
                log.warning("no edge listens to the feature maps: frames run device-only until one returns")
            self._edge_listeners = count

    @property
    def edge_available(self) -> bool:
        with self._cv:
            return self._edge_available(self.clock.now())

    def _edge_available(self, now: float) -> bool:
        if self._silent_since is not None and now - self._silent_since >= self.edge_retry:
            self._lost_in_a_row, self._silent_since = 0, None  # probe it again
        return self._edge_listeners > 0 and self._silent_since is None

    def _emit(self, outcome: FrameOutcome) -> None:
        self._frames.pop(outcome.seq, None)
        self.fallback.observe(outcome)
        self.stats.outcomes += 1
        # Published before it is logged: whoever watches the log (a run that stops after N outcomes) then
        # knows the message left too. Logged first, a stop could come in between: a recording lost the last
        # FrameOutcome message of a run once.
        try:
            self._emit_outcome(outcome)
        finally:  # the log keeps every outcome, whatever the callback does
            if self.outcome_log is not None:
                self.outcome_log.write(outcome)

    # -------------------------------------------------------------- workers
    def _next(self, busy: Callable[[], bool], waiting: Callable[[], bool], start: Callable[[float], Job | None]
              ) -> tuple[Job, _Frame] | None:
        """Block until a job can start (None when stopping)."""
        with self._cv:
            while True:
                if self._stop.is_set():
                    return None
                if not busy() and waiting():
                    job = start(self.clock.now())
                    if job is not None:
                        return job, self._frames[job.seq]
                self._cv.wait(0.05)

    def _compute_loop(self) -> None:
        q = self.queues
        self.model.warm_up()
        while (item := self._next(lambda: q.computing is not None, lambda: bool(q.local), q.start_compute)):
            job, frame = item
            local_result = None
            try:
                begin = time.perf_counter()
                frame.tensors = self.model.splitter.run_device(frame.x, job.split)
                if job.split == DEVICE_ONLY:  # the result is made on the device
                    prediction = self.model.postprocess(next(iter(frame.tensors.values())), frame.meta)
                    local_result = with_prediction(EdgeResult(
                        job.seq, self._stamp_ns(job, frame), frame.frame_id, self.model.name, DEVICE_ONLY),
                        prediction, self.model.class_names)
                extra = (self.slowdown - 1.0) * (time.perf_counter() - begin)
                if extra > 0:
                    self.clock.sleep(extra, self._stop)
                failed = None
            except Exception as exc:  # noqa: BLE001 -- any failure of the model is this frame's outcome
                failed = exc
            with self._cv:
                if q.computing is not job:  # drained by stop() meanwhile
                    continue
                if failed is not None:
                    log.error("frame %d: device part of split %s failed: %r", job.seq, job.split, failed)
                    q.abort_compute(self.clock.now(), DropReason.LOCAL_ERROR)
                    local_result = None
                else:
                    q.finish_compute(self.clock.now())
                self._cv.notify_all()
            if local_result is not None and self.publish_result is not None:
                self._publish_local(local_result)

    def _stamp_ns(self, job: Job, frame: _Frame) -> int:
        """The stamp a frame's payload and result carry: the camera's, else the device's arrival time."""
        return frame.stamp_ns if frame.stamp_ns else self.clock.wall_ns(job.capture)

    def _publish_local(self, result: EdgeResult) -> None:
        try:
            self.publish_result(result)
        except Exception as exc:  # noqa: BLE001 -- the frame has its outcome; a result that cannot go out is logged
            log.error("frame %d: cannot publish its device-only result: %r", result.seq, exc)

    def _link_loop(self) -> None:
        q = self.queues
        while (item := self._next(lambda: q.transmitting is not None, lambda: bool(q.offload), q.start_transmit)):
            job, frame = item
            with self._cv:
                if not self._edge_available(self.clock.now()):  # nobody would answer: do not wait edge_timeout
                    if q.transmitting is job:
                        q.abort_transmit(self.clock.now(), DropReason.EDGE_LOST)
                    continue
            try:
                blob = self.model.encode_split(job.split, frame.tensors, self._specs[job.codec])
                if self.sealer is not None:
                    blob = self.sealer.seal(blob, seq=job.seq, model=self.model.name, split=job.split,
                                            codec=job.codec)
            except Exception as exc:  # noqa: BLE001 -- a frame the codec cannot encode is dropped, not fatal
                log.error("frame %d: cannot encode split %s: %r", job.seq, job.split, exc)
                with self._cv:
                    if q.transmitting is job:
                        q.abort_transmit(self.clock.now(), DropReason.LOCAL_ERROR)
                continue
            job.nbytes = len(blob)
            delay = self.shaper.finish_time(job.started, len(blob)) - self.clock.now() if self.shaped else 0.0
            if delay > 0 and self.clock.sleep(delay, self._stop):
                continue  # stopping: stop() drains the transmission
            try:
                self.send(FeaturePayload(
                    job.seq, self._stamp_ns(job, frame), frame.frame_id, self.model.name, job.split, job.codec,
                    blob, len(blob), job.local_wait, job.local_compute, job.offload_wait,
                    self.clock.now() - job.started, *frame.size))
            except Exception as exc:  # noqa: BLE001 -- e.g. the middleware already shut down by a signal
                log.error("frame %d: cannot send its feature maps: %r", job.seq, exc)
                with self._cv:
                    if q.transmitting is job:
                        q.abort_transmit(self.clock.now(), DropReason.SHUTDOWN if self._stop.is_set()
                                         else DropReason.LOCAL_ERROR)
                continue
            self._await_delivery(job)

    def _await_delivery(self, job: Job) -> None:
        """Hold the link until the edge's receipt for ``job``: its transmission ends when the receipt
        arrives (b_hat is estimated from these delivery times), and it then awaits its result. Without a
        receipt within ``edge_timeout`` of the transmission's start the frame is ``edge_lost`` at the link
        (nobody is known to hold it). So no second frame is sent while one is undelivered: nothing piles
        up unseen in the middleware, and the offloading queue holds what waits for the link."""
        q = self.queues
        deadline = job.started + self.edge_timeout
        with self._cv:
            while q.transmitting is job and not self._stop.is_set():
                delivered = self._delivered.pop(job.seq, None)
                if delivered is not None:
                    q.finish_transmit(delivered)
                    self.estimator.add(job.nbytes, job.transmit)
                    self.stats.bytes_sent += job.nbytes
                    self.stats.receipts += 1
                    self._frames.pop(job.seq, None)
                    early = self._early_results.pop(job.seq, None)
                    if early is not None:
                        self._finish(job, early, self.clock.now())
                    else:
                        self._awaiting[job.seq] = (job, delivered + self.edge_timeout)
                    break
                now = self.clock.now()
                if now >= deadline:
                    log.warning("frame %d: no receipt from the edge %g s after sending: edge_lost", job.seq,
                                self.edge_timeout)
                    q.abort_transmit(now, DropReason.EDGE_LOST)
                    self._count_lost(now)
                    break
                self._cv.wait(0.05)
            self._cv.notify_all()

