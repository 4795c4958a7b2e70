"""Bandwidth traces of the device-to-edge link, and the bandwidth estimator.

Every trace answers two questions with one API, in bytes and seconds:

- ``rate_at(t)``: the link's rate at time ``t`` (for plots and the shaper);
- ``transmit_finish_time(start, nbytes)``: when a message of ``nbytes`` that
  starts at ``start`` has been delivered, integrating the capacity over time
  (the link carries one message at a time; the queue in front of it is the
  offloading queue).

Traces repeat after their period (as Mahimahi's ``mm-link`` does). Kinds:
constant, piecewise-constant steps, a seeded random walk, and Mahimahi files
(one integer millisecond timestamp per line, each one opportunity to deliver
one 1500-byte packet; a message takes ``ceil(nbytes / 1500)`` opportunities at
or after its start).

:class:`BandwidthEstimator` is the ``b_hat`` of the state, used by the simulator
and the live device alike.
"""
from __future__ import annotations

import math
import random
import re
from bisect import bisect_left, bisect_right
from collections import deque
from pathlib import Path

from scissor_core.resources import resolve_data_path

MAHIMAHI_PACKET = 1500
"""Bytes delivered per Mahimahi delivery opportunity."""


class TraceError(ValueError):
    """A trace spec or trace file is invalid; the message says where."""


class Trace:
    """A link whose capacity varies over time."""

    name: str = "trace"

    def rate_at(self, t: float) -> float:
        """Link rate at time ``t`` (bytes/s)."""
        raise NotImplementedError

    def transmit_finish_time(self, start: float, nbytes: int) -> float:
        """Time at which ``nbytes`` sent from ``start`` have been delivered."""
        raise NotImplementedError

    def mean_rate(self) -> float:
        """Mean rate over one period (bytes/s)."""
        raise NotImplementedError


class ConstantTrace(Trace):
    """A link of constant rate: finish = start + nbytes / rate."""

    def __init__(self, rate: float) -> None:
        if not rate > 0:
            raise TraceError(f"constant trace: rate must be positive, got {rate}")
        self.rate = float(rate)
        self.name = f"const {self.rate / 1e6:g} MB/s"

    def rate_at(self, t: float) -> float:
        return self.rate

    def transmit_finish_time(self, start: float, nbytes: int) -> float:
        return start + nbytes / self.rate

    def mean_rate(self) -> float:
        return self.rate


class PiecewiseTrace(Trace):
    """Piecewise-constant rate: segment i lasts ``durations[i]`` s at ``rates[i]`` bytes/s; repeats.

    Zero-rate segments (outages) are allowed as long as the period carries data.
    """

    def __init__(self, durations: list[float], rates: list[float], name: str = "steps") -> None:
        if not durations or len(durations) != len(rates):
            raise TraceError(f"{name}: need as many durations as rates, at least one (got {len(durations)}, "
                             f"{len(rates)})")
        if any(d <= 0 for d in durations) or any(r < 0 for r in rates):
            raise TraceError(f"{name}: durations must be positive and rates non-negative")
        self.name = name
        self.starts: list[float] = []
        self.cum: list[float] = [0.0]
        t = 0.0
        for d, r in zip(durations, rates):
            self.starts.append(t)
            self.cum.append(self.cum[-1] + d * r)
            t += d
        self.rates = [float(r) for r in rates]
        self.period = t
        self.per_period = self.cum[-1]
        if self.per_period <= 0:
            raise TraceError(f"{name}: the trace carries no data (all rates are 0)")

    def _capacity(self, t: float) -> float:
        """Bytes the link could have carried from time 0 to ``t``."""
        cycles = math.floor(t / self.period)
        off = t - cycles * self.period
        i = bisect_right(self.starts, off) - 1
        return cycles * self.per_period + self.cum[i] + self.rates[i] * (off - self.starts[i])

    def rate_at(self, t: float) -> float:
        off = t - math.floor(t / self.period) * self.period
        return self.rates[bisect_right(self.starts, off) - 1]

    def transmit_finish_time(self, start: float, nbytes: int) -> float:
        if nbytes <= 0:
            return start
        target = self._capacity(start) + nbytes
        cycles = math.floor(target / self.per_period)
        c_off = target - cycles * self.per_period
        if c_off <= 0.0 and cycles > 0:  # reached exactly at the end of the previous period
            cycles -= 1
            c_off += self.per_period
        j = bisect_left(self.cum, c_off)  # cum[j-1] < c_off <= cum[j]: inside segment j-1 (rate > 0)
        if j == 0:
            return max(start, cycles * self.period)
        i = j - 1
        return max(start, cycles * self.period + self.starts[i] + (c_off - self.cum[i]) / self.rates[i])

    def mean_rate(self) -> float:
        return self.per_period / self.period


def random_walk(mean: float, sigma: float = 0.2, step: float = 1.0, duration: float = 600.0,
                low: float | None = None, high: float | None = None, seed: int = 0) -> PiecewiseTrace:
    """A seeded geometric random walk: every ``step`` s the rate is multiplied by exp(sigma * N(0, 1)),
    reflected into [low, high] (default mean/10 .. mean*10); starts at ``mean``; repeats after ``duration``."""
    low = mean / 10 if low is None else low
    high = mean * 10 if high is None else high
    if not 0 < low <= mean <= high or sigma < 0 or step <= 0 or duration < step:
        raise TraceError(f"walk: need 0 < low <= mean <= high, sigma >= 0, 0 < step <= duration "
                         f"(got mean={mean}, low={low}, high={high}, sigma={sigma}, step={step}, "
                         f"duration={duration})")
    rng = random.Random(seed)
    log_lo, log_hi = math.log(low), math.log(high)
    x = math.log(mean)
    rates = []
    for _ in range(max(1, round(duration / step))):
        rates.append(math.exp(x))
        x += sigma * rng.gauss(0.0, 1.0)
        while not log_lo <= x <= log_hi:  # reflect at the bounds
            x = 2 * log_lo - x if x < log_lo else 2 * log_hi - x
    return PiecewiseTrace([step] * len(rates), rates, name=f"walk mean {mean / 1e6:g} MB/s seed {seed}")


class MahimahiTrace(Trace):
    """A Mahimahi packet-delivery trace; ``scale`` multiplies the capacity (K opportunities per line)."""

    def __init__(self, times_ms: list[int], name: str = "mahimahi", scale: float = 1.0) -> None:
        if not times_ms:
            raise TraceError(f"{name}: no delivery opportunities (empty trace)")
        if times_ms[-1] <= 0:
            raise TraceError(f"{name}: the last timestamp must be positive (it is the period of the trace)")
        if not scale > 0:
            raise TraceError(f"{name}: scale must be positive, got {scale}")
        self.name = name
        self.times = [t / 1000.0 for t in times_ms]
        self.period = times_ms[-1] / 1000.0
        self.count = len(self.times)
        # first[m] = index of the first opportunity at or after millisecond m: O(1) look-ups
        self._first = [bisect_left(times_ms, m) for m in range(times_ms[-1] + 1)]
        self.packet = MAHIMAHI_PACKET * scale
        """Bytes per opportunity (1500 x scale)."""

    @classmethod
    def from_file(cls, path: str | Path, scale: float = 1.0) -> MahimahiTrace:
        """Parse a trace file; a bad line raises a TraceError naming the file and line number."""
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise TraceError(f"trace file {path} does not exist") from None
        except UnicodeDecodeError:
            raise TraceError(f"{path}: not a text file (Mahimahi traces list integer milliseconds)") from None
        except OSError as exc:  # a folder, no permission, ...
            raise TraceError(f"trace file {path} cannot be read: {exc.strerror or exc}") from None
        times: list[int] = []
        last = 0
        for lineno, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            if not line.isdigit():
                raise TraceError(f"{path}:{lineno}: {line[:40]!r} is not a non-negative integer millisecond "
                                 "timestamp")
            t = int(line)
            if t < last:
                raise TraceError(f"{path}:{lineno}: timestamp {t} is before the previous one ({last})")
            times.append(t)
            last = t
        if not times:
            raise TraceError(f"{path}: empty trace (no timestamps)")
        suffix = f" x{scale:g}" if scale != 1.0 else ""
        return cls(times, name=f"{path.name}{suffix}", scale=scale)

    def _first_at_or_after(self, t: float) -> int:
        """Global index (over the repeated trace) of the first opportunity at or after ``t``
        (timestamps are whole milliseconds; ``t`` within 1 ns of one counts as at it)."""
        cycles = math.floor(t / self.period)
        ms = math.ceil((t - cycles * self.period) * 1000.0 - 1e-6)
        if ms > len(self._first) - 1:
            return (cycles + 1) * self.count
        return cycles * self.count + self._first[ms]

    def _time_of(self, g: int) -> float:
        cycles, i = divmod(g, self.count)
        return cycles * self.period + self.times[i]

    def rate_at(self, t: float) -> float:
        """Mean rate over the second starting at ``t`` (a packet trace has no instantaneous rate)."""
        return (self._first_at_or_after(t + 1.0) - self._first_at_or_after(t)) * self.packet

    def transmit_finish_time(self, start: float, nbytes: int) -> float:
        if nbytes <= 0:
            return start
        packets = math.ceil(nbytes / self.packet)
        return max(start, self._time_of(self._first_at_or_after(start) + packets - 1))

    def mean_rate(self) -> float:
        return self.count * self.packet / self.period


_RATE = re.compile(r"^\s*([0-9.eE+-]+)\s*(k|M|G)?(B|bit|bps)?(?:/s)?\s*$")
_PREFIX = {None: 1.0, "k": 1e3, "M": 1e6, "G": 1e9}


def parse_rate(text: str) -> float:
    """'5MB' or '5MB/s' -> 5e6 bytes/s; '40Mbit' -> 5e6; a plain number is bytes/s."""
    m = _RATE.match(text)
    if not m:
        raise TraceError(f"bad rate {text!r}: use e.g. 5MB, 500kB, 40Mbit or a number of bytes/s")
    try:
        value = float(m.group(1)) * _PREFIX[m.group(2)]
    except ValueError:
        raise TraceError(f"bad rate {text!r}: {m.group(1)!r} is not a number") from None
    return value / 8 if m.group(3) in ("bit", "bps") else value


def _options(text: str, kind: str, allowed: set[str]) -> dict[str, str]:
    opts = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in allowed:
            raise TraceError(f"{kind} trace: bad option {item!r}; known options: {', '.join(sorted(allowed))}")
        opts[key.strip()] = value.strip()
    return opts


def parse_trace(spec: str, seed: int = 0, base: Path | None = None) -> Trace:
    """Build a trace from a spec string (see :class:`scissor_core.config.LinkConfig`).

    ``const:5MB`` | ``steps:10x5MB,10x1MB`` (seconds x rate, repeating) |
    ``walk:mean=5MB[,sigma=0.2][,step=1][,duration=600][,low=..][,high=..][,seed=N]``
    (``seed`` defaults to the run's) | ``mahimahi:FILE[,scale=K]`` or just ``FILE``.
    Relative file paths are resolved against ``base``, by default as the config's are (the current
    directory, else the installed data: ``config/traces/ATT-LTE-driving-2016.up``).
    """

    if not spec.strip():
        raise TraceError("empty trace spec: use e.g. const:5MB, steps:10x5MB,10x1MB or a Mahimahi file")
    kind, sep, rest = spec.partition(":")
    if not sep:
        kind, rest = "mahimahi", spec
    try:
        if kind == "const":
            return ConstantTrace(parse_rate(rest))
        if kind == "steps":
            durations, rates = [], []
            for item in rest.split(","):
                dur, x, rate = item.partition("x")
                if not x:
                    raise TraceError(f"steps trace: {item!r} is not DURATIONxRATE (e.g. 10x5MB)")
                durations.append(float(dur))
                rates.append(parse_rate(rate))
            return PiecewiseTrace(durations, rates, name=f"steps {rest}")
        if kind == "walk":
            opts = _options(rest, "walk", {"mean", "sigma", "step", "duration", "low", "high", "seed"})
            if "mean" not in opts:
                raise TraceError("walk trace: mean=RATE is required")
            return random_walk(
                parse_rate(opts["mean"]), float(opts.get("sigma", 0.2)), float(opts.get("step", 1.0)),
                float(opts.get("duration", 600.0)),
                parse_rate(opts["low"]) if "low" in opts else None,
                parse_rate(opts["high"]) if "high" in opts else None,
                int(opts.get("seed", seed)),
            )
        if kind == "mahimahi":
            path_text, _, options = rest.partition(",")
            opts = _options(options, "mahimahi", {"scale"})
            try:
                path = Path(path_text).expanduser()
            except RuntimeError:  # ~user of no user
                raise TraceError(f"bad trace spec {spec!r}: cannot expand {path_text!r}") from None
            if not path.is_absolute():
                path = base / path if base is not None else resolve_data_path(path)
            return MahimahiTrace.from_file(path, float(opts.get("scale", 1.0)))
    except ValueError as exc:
        if isinstance(exc, TraceError):
            raise
        raise TraceError(f"bad trace spec {spec!r}: {exc}") from None
    raise TraceError(f"unknown trace kind {kind!r} in {spec!r}: use const, steps, walk or mahimahi")


class BandwidthEstimator:
    """``b_hat``: total bytes over total transmission time of the last ``window`` transmissions.

    This is the byte-weighted harmonic mean of the per-transmission throughputs:
    robust to one fast outlier (like the harmonic mean used by MPC-style rate
    control) and, unlike a plain mean of rates, not skewed by small messages
    whose fixed overheads make their rate look low. Before any transmission it
    returns ``initial``. Zero-byte or zero-duration transmissions carry no
    information and are ignored.

    A window alone follows a rate step slowly (after a 1 -> 5 MB/s step, three
    transmissions of five still give 1.9 MB/s). So when the last ``step``
    transmissions all ran more than :attr:`STEP_RATIO` times faster, or all
    slower, than the rest of the window, the rest is dropped: the estimate is
    then those ``step`` transmissions alone and follows a step within ``step``
    transmissions. One outlier never triggers it. ``step`` 0 turns it off.
    """

    STEP_RATIO = 1.3
    """How far (as a factor) each of the newest transmissions must be from the older ones' rate."""

    def __init__(self, initial: float, window: int = 5, step: int = 2) -> None:
        if not initial > 0 or window < 1 or not 0 <= step < window:
            raise ValueError(f"bandwidth estimator: initial must be positive, window >= 1 and 0 <= step < window "
                             f"(got {initial}, {window}, {step})")
        self.initial = float(initial)
        self.step = step
        self._bytes: deque[float] = deque(maxlen=window)
        self._durations: deque[float] = deque(maxlen=window)
        self.estimate = self.initial
        """Current estimate (bytes/s)."""
        self.steps = 0
        """Rate steps detected so far."""

    def add(self, nbytes: int, duration: float) -> float:
        """Record one transmission; returns the new estimate."""
        if nbytes > 0 and duration > 0:
            self._bytes.append(nbytes)
            self._durations.append(duration)
            if self._stepped():
                for _ in range(len(self._bytes) - self.step):
                    self._bytes.popleft()
                    self._durations.popleft()
                self.steps += 1
            self.estimate = sum(self._bytes) / sum(self._durations)
        return self.estimate

    def _stepped(self) -> bool:
        """Each of the newest ``step`` transmissions beyond STEP_RATIO of the older ones, on one side."""
        k = self.step
        if k == 0 or len(self._bytes) <= k:
            return False
        older = sum(list(self._bytes)[:-k]) / sum(list(self._durations)[:-k])
        ratios = [b / d / older for b, d in zip(list(self._bytes)[-k:], list(self._durations)[-k:], strict=True)]
        return all(r > self.STEP_RATIO for r in ratios) or all(r < 1 / self.STEP_RATIO for r in ratios)

    def reset(self) -> None:
        self._bytes.clear()
        self._durations.clear()
        self.estimate = self.initial
