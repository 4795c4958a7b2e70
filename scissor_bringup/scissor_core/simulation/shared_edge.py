"""Several devices sharing one edge: each device its own camera, queues, uplink and policy; one edge queue.

:meth:`SharedEdgeSimulator.run` lets each device's policy decide its frames; :meth:`SharedEdgeSimulator.steps` is
the same run as a coroutine (device and state out, split in) for a learning environment that decides for all.

Every device is a :class:`~scissor_core.simulation.simulator.Simulator` (its policy, trace, queues, reward
and workload); :class:`SharedEdgeSimulator` runs them against one
:class:`~scissor_core.runtime.queues.EdgeQueue`, the live edge's serving model (FIFO over every device's
feature maps, ``edge.capacity`` at once). The device queues are the same
:class:`~scissor_core.runtime.queues.DeviceQueues`, so drops and outcomes come from the one queue model.
Device ``i``'s frames start ``i / N`` of an interval after device 0's (cameras are not synchronised) and use
arrival seed ``seed + i``.

The single-device simulator's loop compares four event times; with N devices the next event comes from a
heap ordered as that loop orders them (at one instant: edge completions, then the link, the device and the
arrival; devices by index), so one device here gives exactly :meth:`Simulator.run`'s outcomes (tested).
Policies that read the simulator's future (the myopic oracle) are refused: their view is one device's.
"""
from __future__ import annotations

import random
from collections.abc import Generator, Sequence
from heapq import heappop, heappush
from operator import attrgetter

from scissor_core.config import ScissorConfig
from scissor_core.models.registry import DEVICE_ONLY, EDGE_ONLY
from scissor_core.runtime.outcome import DropPlace, DropReason, FrameOutcome
from scissor_core.runtime.policy import Policy
from scissor_core.runtime.queues import DeviceQueues, EdgeQueue, Job, ObservedState
from scissor_core.runtime.traces import parse_trace
from scissor_core.simulation.simulator import Simulator, arrival_times

EDGE, LINK, DEVICE, ARRIVAL = range(4)
"""Event kinds, in the order events at one instant run."""


class SharedEdgeSimulator:
    """N simulated devices (one :class:`Simulator` each, for its settings) and one edge."""

    def __init__(self, devices: list[Simulator]) -> None:
        if not devices:
            raise ValueError("a shared edge needs at least one device")
        if any(d.policy.clairvoyant for d in devices):
            raise ValueError("clairvoyant policies read one simulator's future: not with a shared edge")
        self.devices = devices
        first = devices[0]
        self.edge_capacity, self.edge_timeout = first.edge_capacity, first.edge_timeout
        self.result_latency, self.compute_spread = first.result_latency, first.compute_spread
        self.outcomes: list[FrameOutcome] = []
        """Outcomes of the current run so far, every device's, in the order frames finished."""

    @classmethod
    def from_config(cls, config: ScissorConfig, policies: Sequence[Policy], seed: int) -> SharedEdgeSimulator:
        """One device per policy, each with the config's settings and its own uplink: the trace seeded
        ``seed + i`` for device ``i``."""
        return cls([Simulator.from_config(config, policy, parse_trace(config.link.trace, seed=seed + i))
                    for i, policy in enumerate(policies)])

    def arrivals(self, frames: int, seed: int | None = None) -> list[list[float]]:
        """Each device's capture times in a run with arrival seed ``seed`` (device ``i``: ``seed + i``, offset
        ``i / N`` of its interval)."""
        n, base = len(self.devices), self.devices[0].seed if seed is None else seed
        return [[i * sim.interval / n + t for t in arrival_times(frames, sim.interval, sim.jitter, sim.burst_every,
                                                                 sim.burst_size, base + i)]
                for i, sim in enumerate(self.devices)]

    def run(self, frames: int, *, seed: int | None = None) -> list[list[FrameOutcome]]:
        """``frames`` frames per device from empty queues, each device's policy deciding; per device, one
        outcome per frame sorted by seq."""
        steps = self.steps(frames, seed=seed)
        policies = [sim.policy.decide for sim in self.devices]
        try:
            i, state = next(steps)
            while True:
                i, state = steps.send(policies[i](state))
        except StopIteration as done:
            return done.value

    def steps(self, frames: int, *, seed: int | None = None
              ) -> Generator[tuple[int, ObservedState], str, list[list[FrameOutcome]]]:
        """The run as a coroutine, as :meth:`Simulator.steps`: yields ``(device, state)`` at each frame's arrival
        and expects that device's split back; returns :meth:`run`'s outcomes. Every outcome is also appended
        to :attr:`outcomes` (all devices, in the order frames finished) and passed to its device's
        ``policy.observe``."""
        n = len(self.devices)
        base = self.devices[0].seed if seed is None else seed
        outcomes: list[list[FrameOutcome]] = [[] for _ in range(n)]
        finished: list[FrameOutcome] = []
        self.outcomes = finished
        queues, estimators, names = [], [], []
        arrivals = self.arrivals(frames, base)
        for i, sim in enumerate(self.devices):
            policy = sim.policy
            learn = policy.observe if type(policy).observe is not Policy.observe else None

            def emit(outcome: FrameOutcome, _out=outcomes[i].append, _learn=learn) -> None:
                _out(outcome)
                finished.append(outcome)
                if _learn is not None:
                    _learn(outcome)
            queues.append(DeviceQueues(policy.costs.model, sim.timeout, sim.local_max, sim.offload_max, sim.reward,
                                       emit))
            sim.estimator.reset()
            estimators.append(sim.estimator)
            names.append(policy.name)
        latency, lost_after, sigma = self.result_latency, self.edge_timeout, self.compute_spread
        spread = random.Random(7919 + base)
        draw = (lambda: spread.lognormvariate(-sigma * sigma / 2, sigma)) if sigma else (lambda: 1.0)
        edge = EdgeQueue(self.edge_capacity)
        events: list[tuple] = [(arrivals[i][0], ARRIVAL, i, 0, None) for i in range(n)]
        events.sort()
        busy_device = [False] * n
        busy_link = [False] * n
        next_frame = [0] * n

        def serve(t: float) -> None:
            started = edge.start(t)
            if started is not None:
                (i, job), job.edge_wait = started
                service = job.edge_time * draw()
                heappush(events, (t + service, EDGE, i, job.seq, (job, service)))

        while events:
            t, kind, i, _, payload = heappop(events)
            q = queues[i]
            if kind == EDGE:
                job, service = payload
                edge.finish()
                deadline = job.started + job.transmit + lost_after
                if t + latency > deadline:
                    q.fail(job, deadline, DropReason.EDGE_LOST, DropPlace.EDGE, job.nbytes)
                else:
                    q.complete(job, t + latency, service)
                serve(t)
                continue
            sim = self.devices[i]
            if kind == LINK:
                busy_link[i] = False
                job = q.finish_transmit(t)
                estimators[i].add(job.nbytes, job.transmit)
                edge.arrive((i, job), t)
                serve(t)
            elif kind == DEVICE:
                busy_device[i] = False
                q.finish_compute(t)
            else:
                k = next_frame[i]
                costs = sim.policy.costs
                split = yield i, q.observe(t, k, estimators[i].estimate)
                j = costs.splits.index(split)
                cut = costs.cuts[j]
                q.admit(Job(k, t, cut, costs.codecs[j], names[i], False, costs.local[j], costs.edge[j],
                            costs.nbytes[j], cut != EDGE_ONLY, cut != DEVICE_ONLY), t)
                next_frame[i] = k + 1
                if k + 1 < frames:
                    heappush(events, (arrivals[i][k + 1], ARRIVAL, i, k + 1, None))
            if not busy_device[i] and q.local:
                job = q.start_compute(t)
                if job is not None:
                    busy_device[i] = True
                    heappush(events, (t + job.local_time * draw(), DEVICE, i, job.seq, None))
            if not busy_link[i] and q.offload:
                job = q.start_transmit(t)
                if job is not None:
                    busy_link[i] = True
                    done = sim.trace.transmit_finish_time(t, job.nbytes) + sim.transport_overhead
                    heappush(events, (done, LINK, i, job.seq, None))
        for out in outcomes:
            out.sort(key=attrgetter("seq"))
        return outcomes

