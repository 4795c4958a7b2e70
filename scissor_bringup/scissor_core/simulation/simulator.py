"""Seeded, deterministic discrete-event simulator of one device, its link and the edge.

Driven by a profile (through the policy's :class:`SplitCosts`: the profile's
times are both the policies' estimates and the simulated service times), a
frame interval (optional jitter and bursts), a bandwidth trace and a policy.
The device's two queues are :class:`scissor_core.runtime.queues.DeviceQueues` -- the
same code the live device runs -- so the drop rules and every frame's single
:class:`FrameOutcome` (with the reward of docs/design.md §1) come from one place.

Model: the device computes one frame at a time (FIFO local queue); the link
sends one frame's feature maps at a time (FIFO offloading queue) at the rate of
the trace; the edge serves them through the live edge's own serving model,
:class:`~scissor_core.runtime.queues.EdgeQueue` (FIFO, ``edge.capacity`` frames at
once: 1 by default, as a CPU or a one-stream GPU edge; the paper's state has no
edge queue, so a frame waiting there is only seen in its delay). Events at the same
instant run completions first (edge, link, device), then the arrival, so a
policy sees the state after everything that finished by then. ``b_hat`` is
updated when a transmission finishes, from its bytes and duration. A result not at the device
``device.edge_timeout`` after the frame's delivery is ``edge_lost``, as on the live device (whose edge
then counts as away after ``edge_silence_limit`` such frames in a row; the simulator does not model that).

:meth:`Simulator.run` lets the policy decide every frame; :meth:`Simulator.steps`
is the same run as a coroutine (state out, split in) for learning environments;
:meth:`Simulator.clairvoyant_cost` is the oracle's view of the exact future.
The hot loop uses plain floats and local variables: no numpy or torch per event.
"""
from __future__ import annotations

import math
import random
from collections.abc import Generator
from heapq import heappop, heappush
from operator import attrgetter

from scissor_core.config import ScissorConfig
from scissor_core.models.registry import DEVICE_ONLY, EDGE_ONLY
from scissor_core.runtime.costs import needs_link, needs_local
from scissor_core.runtime.outcome import DropPlace, DropReason, FrameOutcome, Reward
from scissor_core.runtime.policy import Policy
from scissor_core.runtime.queues import DeviceQueues, EdgeQueue, Job, ObservedState
from scissor_core.runtime.traces import BandwidthEstimator, Trace, parse_trace


def arrival_times(frames: int, interval: float, jitter: float = 0.0, burst_every: int = 0, burst_size: int = 0,
                  seed: int = 0) -> list[float]:
    """Capture times of ``frames`` frames: every ``interval`` s, each interval scaled by
    U[1-jitter, 1+jitter]; every ``burst_every`` frames, ``burst_size`` extra frames at the same instant."""
    rng = random.Random(seed)
    times: list[float] = []
    t = 0.0
    regular = 0
    while len(times) < frames:
        times.append(t)
        regular += 1
        if burst_every and regular % burst_every == 0:
            times.extend([t] * min(burst_size, frames - len(times)))
        t += interval * (1.0 + jitter * (2.0 * rng.random() - 1.0)) if jitter else interval
    return times


class Simulator:
    """One simulated run per :meth:`run` call; the policy keeps its state across runs."""

    def __init__(self, policy: Policy, trace: Trace, *, timeout: float, local_max: int = 30,
                 offload_max: int = 30, reward: Reward | None = None, interval: float = 1.0, jitter: float = 0.0,
                 burst_every: int = 0, burst_size: int = 0, seed: int = 0, initial_bandwidth: float = 5e6,
                 estimator_window: int = 5, estimator_step: int = 2, edge_capacity: int = 1,
                 transport_overhead: float = 0.0, result_latency: float = 0.0, compute_spread: float = 0.0,
                 edge_timeout: float = math.inf) -> None:
        """``edge_capacity``: frames the edge serves at once (:class:`~scissor_core.runtime.queues.EdgeQueue`,
        the live edge's model; 1 = one at a time, a larger number a GPU edge serving in parallel).
        What the live system has beyond the profile and the trace (``sim`` section): ``transport_overhead``
        s per transmission, ``result_latency`` s from the edge's end of service to the result at the
        device, and ``compute_spread``, the sigma of a mean-1 lognormal factor on each frame's device and
        edge compute time (seeded with the run's arrival seed). ``edge_timeout`` (``device.edge_timeout``): a
        frame whose result is not at the device this long after its delivery to the edge is dropped as
        ``edge_lost`` at that deadline, as the live device drops it; the edge still serves it (it cannot know)."""
        self.policy = policy
        self.trace = trace
        self.timeout = timeout
        self.local_max = local_max
        self.offload_max = offload_max
        self.reward = reward or Reward()
        self.interval = interval
        self.jitter = jitter
        self.burst_every = burst_every
        self.burst_size = burst_size
        self.seed = seed
        self.estimator = BandwidthEstimator(initial_bandwidth, estimator_window, estimator_step)
        self.edge_capacity = edge_capacity
        self.transport_overhead, self.result_latency = transport_overhead, result_latency
        self.compute_spread = compute_spread
        self.edge_timeout = edge_timeout
        self.queues: DeviceQueues | None = None
        self.edge: EdgeQueue | None = None
        self._edge_service: list[tuple[float, int, Job]] = []
        self.outcomes: list[FrameOutcome] = []
        """Outcomes of the current run so far, in the order frames finished."""
        self._dev_end = self._link_end = math.inf
        policy.attach(self)

    @classmethod
    def from_config(cls, config: ScissorConfig, policy: Policy, trace: Trace | None = None) -> Simulator:
        """A simulator with the config's queues, reward, link and workload (paper T and interval per model)."""
        model = policy.costs.model
        q, s, ln = config.queues, config.sim, config.link
        return cls(
            policy, trace or parse_trace(ln.trace, seed=s.seed), timeout=q.timeout_for(model),
            local_max=q.local_max, offload_max=q.offload_max,
            reward=Reward.from_config(config.reward), interval=s.interval_for(model),
            jitter=s.jitter, burst_every=s.burst_every, burst_size=s.burst_size, seed=s.seed,
            initial_bandwidth=ln.initial_bandwidth, estimator_window=ln.estimator_window,
            estimator_step=ln.estimator_step,
            edge_capacity=config.edge.capacity, transport_overhead=s.transport_overhead,
            result_latency=s.result_latency, compute_spread=s.compute_spread,
            edge_timeout=config.device.edge_timeout,
        )

    def run(self, frames: int, *, start: float = 0.0, seed: int | None = None) -> list[FrameOutcome]:
        """Simulate ``frames`` frames from empty queues with the policy deciding; one outcome per
        frame, sorted by seq. ``start`` (s) is where on the trace the first frame arrives (episodes
        can walk along a trace); ``seed`` overrides the arrival seed for this run."""
        steps = self.steps(frames, start=start, seed=seed)
        decide = self.policy.decide
        try:
            state = next(steps)
            while True:
                state = steps.send(decide(state))
        except StopIteration as done:
            return done.value

    def steps(self, frames: int, *, start: float = 0.0,
              seed: int | None = None) -> Generator[ObservedState, str, list[FrameOutcome]]:
        """The simulation as a coroutine: yields the state at each frame's arrival and expects the
        split back (``send``); returns the outcomes sorted by seq. :meth:`run` drives it with the
        policy; a learning environment can drive it step by step. Outcomes are appended to
        :attr:`outcomes` (and passed to ``policy.observe``) as frames finish."""
        policy = self.policy
        outcomes: list[FrameOutcome] = []
        self.outcomes = outcomes
        if type(policy).observe is Policy.observe:
            emit = outcomes.append
        else:
            def emit(outcome: FrameOutcome) -> None:
                outcomes.append(outcome)
                policy.observe(outcome)
        q = self.queues = DeviceQueues(policy.costs.model, self.timeout, self.local_max, self.offload_max,
                                       self.reward, emit)
        est = self.estimator
        est.reset()
        arrivals = arrival_times(frames, self.interval, self.jitter, self.burst_every, self.burst_size,
                                 self.seed if seed is None else seed)
        costs = policy.costs
        index = {s: i for i, s in enumerate(costs.splits)}
        local, edge, nbytes = costs.local, costs.edge, costs.nbytes
        cuts, codecs, name = costs.cuts, costs.codecs, policy.name
        observe, admit = q.observe, q.admit
        waiting_local, waiting_offload = q.local, q.offload
        transmit_finish = self.trace.transmit_finish_time
        inf = math.inf
        dev_end = link_end = inf
        edge_queue = self.edge = EdgeQueue(self.edge_capacity)
        edge_arrive, edge_start, edge_finish = edge_queue.arrive, edge_queue.start, edge_queue.finish
        edge_heap: list[tuple[float, int, Job, float]] = []  # at the edge: (done, seq, job, service time)
        self._edge_service = edge_heap
        overhead, latency, sigma = self.transport_overhead, self.result_latency, self.compute_spread
        lost_after = self.edge_timeout
        spread = random.Random(7919 + (self.seed if seed is None else seed))
        draw = (lambda: spread.lognormvariate(-sigma * sigma / 2, sigma)) if sigma else (lambda: 1.0)
        k, t_arr = 0, start + arrivals[0]
        while True:
            t_edge = edge_heap[0][0] if edge_heap else inf
            if t_edge <= link_end and t_edge <= dev_end and t_edge <= t_arr:
                if t_edge == inf:
                    break
                t, _, job, service = heappop(edge_heap)
                edge_finish()
                deadline = job.started + job.transmit + lost_after  # delivered + edge_timeout
                if t + latency > deadline:
                    q.fail(job, deadline, DropReason.EDGE_LOST, DropPlace.EDGE, job.nbytes)
                else:
                    q.complete(job, t + latency, service)  # the result reaches the device ``latency`` later
                started = edge_start(t)
                if started is not None:
                    job, job.edge_wait = started
                    service = job.edge_time * draw()
                    heappush(edge_heap, (t + service, job.seq, job, service))
                continue
            if link_end <= dev_end and link_end <= t_arr:
                t, link_end = link_end, inf
                job = q.finish_transmit(t)
                est.add(job.nbytes, job.transmit)
                edge_arrive(job, t)
                started = edge_start(t)
                if started is not None:
                    job, job.edge_wait = started
                    service = job.edge_time * draw()
                    heappush(edge_heap, (t + service, job.seq, job, service))
            elif dev_end <= t_arr:
                t, dev_end = dev_end, inf
                q.finish_compute(t)
            else:
                t = t_arr
                self._dev_end, self._link_end = dev_end, link_end
                split = yield observe(t, k, est.estimate)
                i = index[split]
                cut = cuts[i]  # the model split of the candidate (an option SPLIT@CODEC names its codec too)
                admit(Job(k, t, cut, codecs[i], name, False, local[i], edge[i], nbytes[i], cut != EDGE_ONLY,
                          cut != DEVICE_ONLY), t)
                k += 1
                t_arr = start + arrivals[k] if k < frames else inf
            if dev_end == inf and waiting_local:
                job = q.start_compute(t)
                if job is not None:
                    dev_end = t + job.local_time * draw()
            if link_end == inf and waiting_offload:
                job = q.start_transmit(t)
                if job is not None:
                    link_end = transmit_finish(t, job.nbytes) + overhead
        outcomes.sort(key=attrgetter("seq"))
        return outcomes

    def clairvoyant_cost(self, split_index: int, now: float) -> float:
        """Exact cost (``w*MB + delay``, or ``F`` if dropped) of the frame arriving at ``now`` at the
        given split, from the exact queue contents, service times and future trace (the oracle's view).

        Assumes no frame arriving later overtakes this one on the link. The edge's queue is exact for an edge
        serving one frame at a time (``edge_capacity`` 1); a larger capacity is taken as never queueing.
        Compute times are the profile's (a ``compute_spread`` draw is not foreseen)."""
        q, costs, T, drop = self.queues, self.policy.costs, self.timeout, -self.reward.drop
        split = costs.cuts[split_index]
        t_dev = self._dev_end if q.computing is not None else now
        ready: list[tuple[float, Job]] = []  # (joins the offloading queue, job) of frames ahead
        if q.computing is not None and q.computing.needs_link:
            ready.append((self._dev_end, q.computing))
        for job in q.local:
            if t_dev - job.enqueued > T:
                continue  # will time out before its turn
            t_dev += job.local_time
            if job.needs_link:
                ready.append((t_dev, job))
        if needs_local(split):
            if len(q.local) >= q.local_max or t_dev - now > T:
                return drop
            r = t_dev + costs.local[split_index]
        else:
            if len(q.offload) >= q.offload_max:
                return drop
            r = now
        if not needs_link(split):
            return r - now
        trace_finish, overhead = self.trace.transmit_finish_time, self.transport_overhead

        def finish(start: float, nbytes: int) -> float:
            return trace_finish(start, nbytes) + overhead

        serial = self.edge_capacity == 1
        edge = now  # a one-at-a-time edge: when it is free of the frames ahead of this one
        if serial:
            if self._edge_service:
                edge = self._edge_service[0][0]
            edge += sum(job.edge_time for job, _ in self.edge.waiting)
        link = now
        if q.transmitting is not None:
            link = self._link_end
            edge = max(edge, link) + q.transmitting.edge_time
        for job in q.offload:
            if link - job.enqueued <= T:
                link = finish(link, job.nbytes)
                edge = max(edge, link) + job.edge_time
        for ready_at, job in ready:
            if ready_at > r:
                break
            start = max(link, ready_at)
            if start - ready_at <= T:
                link = finish(start, job.nbytes)
                edge = max(edge, link) + job.edge_time
        start = max(link, r)
        if start - r > T:
            return drop
        arrived = finish(start, costs.nbytes[split_index])
        done = (max(edge, arrived) if serial else arrived) + costs.edge[split_index] + self.result_latency
        if done > arrived + self.edge_timeout:
            return drop
        return self.reward.cost(costs.nbytes[split_index], done - now)
