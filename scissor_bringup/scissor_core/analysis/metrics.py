"""Per-run metrics from FrameOutcome records (simulator and live testbed alike).

Definitions (docs/design.md §1; where the paper leaves room, the choice is stated):

- mean bytes/frame: over *all* frames (a frame dropped before sending counts 0);
- delays (total, local, transmission, edge, p50/p95/p99): over completed frames;
  local delay = local wait + local compute, transmission delay = offload wait +
  transmit, edge delay = edge compute (the paper's Table 4 split of the latency);
- drop rate: dropped / all frames, also per drop reason;
- system cost: mean over all frames of ``w*o + tau`` (o in MB, tau = total delay),
  ``F`` for a drop -- i.e. the mean of -reward, so it is computed with the same
  ``w`` and ``F`` the run's rewards used;
- frames/s: completed frames over the span from the first capture to the last
  completion.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from scissor_core.runtime.costs import option_name
from scissor_core.runtime.outcome import FrameOutcome


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default) of an already sorted list."""
    if not sorted_values:
        return math.nan
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


@dataclass(frozen=True)
class RunMetrics:
    """Summary of one run (or one split's share of a run)."""

    frames: int
    completed: int
    mean_bytes: float
    mean_delay: float
    mean_local_delay: float
    mean_transmit_delay: float
    mean_edge_delay: float
    p50_delay: float
    p95_delay: float
    p99_delay: float
    drop_rate: float
    drops_by_reason: dict[str, int] = field(default_factory=dict)
    system_cost: float = math.nan
    frames_per_s: float = math.nan

    @classmethod
    def of(cls, outcomes: Iterable[FrameOutcome]) -> RunMetrics:
        outcomes = list(outcomes)
        done = [o for o in outcomes if o.completed]
        delays = sorted(o.total_delay for o in done)
        n = len(outcomes)
        span = (max(o.capture + o.total_delay for o in done) - min(o.capture for o in outcomes)) if done else 0.0
        return cls(
            frames=n,
            completed=len(done),
            mean_bytes=_mean([float(o.bytes_sent) for o in outcomes]),
            mean_delay=_mean(delays),
            mean_local_delay=_mean([o.local_wait + o.local_compute for o in done]),
            mean_transmit_delay=_mean([o.offload_wait + o.transmit for o in done]),
            mean_edge_delay=_mean([o.edge_compute for o in done]),
            p50_delay=percentile(delays, 50),
            p95_delay=percentile(delays, 95),
            p99_delay=percentile(delays, 99),
            drop_rate=(n - len(done)) / n if n else math.nan,
            drops_by_reason=dict(sorted(Counter(o.drop_reason for o in outcomes if not o.completed).items())),
            system_cost=_mean([-o.reward for o in outcomes]),
            frames_per_s=len(done) / span if span > 0 else math.nan,
        )


def per_split(outcomes: Iterable[FrameOutcome]) -> dict[str, RunMetrics]:
    """Metrics of each split's frames, in order of first use; a split whose frames were sent with several
    codecs (``codec.min_map``) gets one row per ``SPLIT@CODEC``."""
    outcomes = list(outcomes)
    codecs: dict[str, set[str]] = {}
    for o in outcomes:
        codecs.setdefault(o.split, set()).add(o.codec)
    groups: dict[str, list[FrameOutcome]] = {}
    for o in outcomes:
        groups.setdefault(option_name(o.split, o.codec) if len(codecs[o.split]) > 1 else o.split, []).append(o)
    return {split: RunMetrics.of(group) for split, group in groups.items()}


_COLUMNS = (
    ("frames", "frames", "{:d}"),
    ("bytes/frame", "mean_bytes", "{:,.0f}"),
    ("delay s", "mean_delay", "{:.3f}"),
    ("local s", "mean_local_delay", "{:.3f}"),
    ("transmit s", "mean_transmit_delay", "{:.3f}"),
    ("edge s", "mean_edge_delay", "{:.3f}"),
    ("p50 s", "p50_delay", "{:.3f}"),
    ("p95 s", "p95_delay", "{:.3f}"),
    ("p99 s", "p99_delay", "{:.3f}"),
    ("drop %", "drop_rate", "{:.1%}"),
    ("system cost", "system_cost", "{:.3f}"),
    ("frames/s", "frames_per_s", "{:.2f}"),
)


def _cell(fmt: str, value: float | int) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return fmt.format(value).replace("%", "") if fmt.endswith("%}") else fmt.format(value)


def format_table(rows: Mapping[str, RunMetrics], label: str = "policy") -> str:
    """Markdown table, one row per labelled run, plus the drops by reason."""
    head = f"| {label} | " + " | ".join(c[0] for c in _COLUMNS) + " | drops by reason |"
    lines = [head, "|---|" + "---:|" * len(_COLUMNS) + "---|"]
    for name, m in rows.items():
        cells = " | ".join(_cell(fmt, getattr(m, attr)) for _, attr, fmt in _COLUMNS)
        reasons = ", ".join(f"{k} {v}" for k, v in m.drops_by_reason.items()) or "-"
        lines.append(f"| {name} | {cells} | {reasons} |")
    return "\n".join(lines)


def plot_run(outcomes: list[FrameOutcome], path: str | Path, title: str = "", splits: list[str] | None = None) -> Path:
    """PNG of one run over time: total delay per frame (drops marked), and the split chosen."""
    from scissor_core.plots import plt, save

    splits = splits or list(dict.fromkeys(o.split for o in outcomes))
    rank = {s: i for i, s in enumerate(splits)}
    done = [o for o in outcomes if o.completed]
    dropped = [o for o in outcomes if not o.completed]
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(9, 5), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    ax.plot([o.capture for o in done], [o.total_delay for o in done], ".", ms=2, color="#2c7fb8", label="completed")
    if dropped:
        ax.plot([o.capture for o in dropped], [o.total_delay for o in dropped], "x", ms=3, color="#d7301f",
                label=f"dropped ({len(dropped)})")
    ax.set_ylabel("total delay (s)")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax2.plot([o.capture for o in outcomes], [rank[o.split] for o in outcomes], ".", ms=2, color="#555555")
    ax2.set_yticks(range(len(splits)), splits, fontsize=7)
    ax2.set_ylabel("split")
    ax2.set_xlabel("capture time (s)")
    fig.tight_layout()
    return save(fig, path, dpi=110)
