"""Evaluate policies side by side: every policy on the same arrivals, trace and seeds.

One evaluation = one setting (config + profile). For each seed, each policy gets
a fresh policy object and a simulator run of ``frames`` frames with the arrival
seed and the trace seed set to that seed, so every policy sees the same frames
at the same times and the same bandwidth. The learned policy (``a2c``) is loaded
from a policy file and decides greedily (argmax, not learning).

Metrics are :class:`~scissor_core.analysis.metrics.RunMetrics` per seed; the summary of
several seeds is the mean of each metric over the seeds (``frames``,
``completed`` and the drops by reason are summed). The latency breakdown (the
paper's Table 4) is the mean of each stage over all completed frames.

The same functions write every result of ``scissor evaluate`` and of
``scissor experiment``: a CSV of metrics, a markdown table, and bar charts.
"""
from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from tqdm import tqdm

from scissor_core.analysis.metrics import RunMetrics
from scissor_core.config import ScissorConfig
from scissor_core.policies import POLICY_NAMES, make_policy
from scissor_core.policies.a2c import A2CPolicy
from scissor_core.runtime.costs import ModelProfile, SplitCosts
from scissor_core.runtime.outcome import FrameOutcome
from scissor_core.runtime.policy import Policy
from scissor_core.runtime.traces import parse_trace
from scissor_core.simulation.bound import MAX_LABELS, RunBound, shared_edge_bound, simulator_bound
from scissor_core.simulation.ppo import PPO_PREFIX, PPOPolicy
from scissor_core.simulation.shared_edge import SharedEdgeSimulator
from scissor_core.simulation.simulator import Simulator
from scissor_core.wire.codec import codec_labels

A2C = "a2c"
ORACLE = "myopic-oracle"
HINDSIGHT = "best-fixed"
"""Clairvoyant reference: per seed, the candidate split (one for every frame) with the lowest system cost on
that very run, chosen after running them all. The per-frame oracle is myopic and loses to a good fixed split
under sustained load; the gap to the limit is measured against the cheaper of the two (:func:`oracle_gaps`)."""
CLAIRVOYANT: tuple[str, ...] = (ORACLE, HINDSIGHT)
BASELINES: tuple[str, ...] = tuple(n for n in POLICY_NAMES if n != ORACLE)
"""The causal baselines (everything but the clairvoyant references)."""
ALL_POLICIES: tuple[str, ...] = (A2C, *POLICY_NAMES, HINDSIGHT)

STAGES: tuple[str, ...] = ("local_wait", "local_compute", "offload_wait", "transmit", "edge_wait", "edge_compute")
"""The latency stages of the paper's Table 4, as FrameOutcome fields."""

METRIC_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(RunMetrics) if f.name != "drops_by_reason")


@dataclass(frozen=True)
class Evaluation:
    """One policy in one setting: metrics per seed, their summary and the latency breakdown."""

    policy: str
    per_seed: tuple[RunMetrics, ...]
    summary: RunMetrics
    breakdown: dict[str, float]
    """Mean seconds per stage (:data:`STAGES`) over the completed frames of all seeds."""
    split_share: dict[str, float]
    """Fraction of all frames processed with each split (each ``SPLIT@CODEC`` option with ``codec.min_map``)."""


def summarise(runs: Sequence[RunMetrics]) -> RunMetrics:
    """Mean of each metric over seeds (NaNs skipped); frames, completed and drops summed."""
    values = {}
    for name in METRIC_FIELDS:
        xs = [getattr(r, name) for r in runs]
        if name in ("frames", "completed"):
            values[name] = sum(xs)
        else:
            finite = [x for x in xs if not math.isnan(x)]
            values[name] = sum(finite) / len(finite) if finite else math.nan
    drops: dict[str, int] = {}
    for r in runs:
        for reason, count in r.drops_by_reason.items():
            drops[reason] = drops.get(reason, 0) + count
    return RunMetrics(**values, drops_by_reason=dict(sorted(drops.items())))


def latency_breakdown(outcomes: Iterable[FrameOutcome]) -> dict[str, float]:
    """Mean seconds of each stage over completed frames (NaN if none completed)."""
    done = [o for o in outcomes if o.completed]
    return {s: (sum(getattr(o, s) for o in done) / len(done) if done else math.nan) for s in STAGES}


def build_policy(name: str, config: ScissorConfig, profile: ModelProfile, a2c_file: Path | None = None) -> Policy:
    """``a2c`` from ``a2c_file`` (deciding by argmax), ``ppo:FILE`` (:mod:`scissor_core.simulation.ppo`), or a
    baseline over the profile with the config's codec, ``w`` and frame interval."""
    if name == A2C:
        if a2c_file is None:
            raise ValueError("evaluating a2c needs a policy file")
        return A2CPolicy.load(a2c_file, SplitCosts.for_config(profile, config.codec))
    if name.startswith(PPO_PREFIX):
        return PPOPolicy.load(name[len(PPO_PREFIX):], SplitCosts.for_config(profile, config.codec))
    tensor_codec, frame_codec = codec_labels(config.codec)
    return make_policy(name, profile, codec=tensor_codec, frame_codec=frame_codec, w=config.reward.w,
                       frame_interval=config.sim.interval_for(profile.model),
                       costs=SplitCosts.for_config(profile, config.codec))


def run_policy(name: str, config: ScissorConfig, profile: ModelProfile, seed: int, frames: int,
               a2c_file: Path | None = None) -> list[FrameOutcome]:
    """One seeded run of one policy: arrivals and trace seeded by ``seed`` (with ``sim.devices`` > 1, device
    ``i``'s by ``seed + i``, and the outcomes of every device together)."""
    if name == HINDSIGHT:
        runs = [run_policy(f"fixed:{split}", config, profile, seed, frames)
                for split in SplitCosts.for_config(profile, config.codec).splits]
        return min(runs, key=lambda outcomes: RunMetrics.of(outcomes).system_cost)
    if config.sim.devices > 1:  # several devices at one edge, each with its own copy of the policy and uplink
        policies = [build_policy(name, config, profile, a2c_file) for _ in range(config.sim.devices)]
        return [o for run in SharedEdgeSimulator.from_config(config, policies, seed).run(frames, seed=seed)
                for o in run]
    policy = build_policy(name, config, profile, a2c_file)
    trace = parse_trace(config.link.trace, seed=seed)
    return Simulator.from_config(config, policy, trace).run(frames, seed=seed)


def evaluate(config: ScissorConfig, profile: ModelProfile, names: Sequence[str], seeds: Sequence[int],
             frames: int, a2c_file: Path | None = None, progress: bool = True) -> dict[str, Evaluation]:
    """Every policy in ``names`` on the same seeds (same arrivals and trace per seed)."""
    results = {}
    bar = tqdm(total=len(names) * len(seeds), desc=f"evaluate {profile.model}", unit="run", disable=not progress,
               leave=False)
    costs = SplitCosts.for_config(profile, config.codec)
    for name in names:
        runs, outcomes = [], []
        for seed in seeds:
            run = run_policy(name, config, profile, seed, frames, a2c_file)
            runs.append(RunMetrics.of(run))
            outcomes.extend(run)
            bar.update()
        splits = Counter(costs.candidate(o.split, o.codec) for o in outcomes)
        results[name] = Evaluation(name, tuple(runs), summarise(runs), latency_breakdown(outcomes),
                                   {s: n / len(outcomes) for s, n in splits.items()})
    bar.close()
    return results


def run_bounds(config: ScissorConfig, profile: ModelProfile, seeds: Sequence[int], frames: int,
               max_labels: int = MAX_LABELS) -> list[RunBound]:
    """The lower bound (:mod:`scissor_core.simulation.bound`) of each seed's run: no policy's run on those
    arrivals and that trace costs less (with ``sim.devices`` > 1, :func:`shared_edge_bound` of every device's
    run at the one edge). ``max_labels``: the DP's label budget (more is tighter and slower)."""
    costs = SplitCosts.for_config(profile, config.codec)
    bounds = []
    for seed in seeds:
        if config.sim.devices > 1:
            shared = SharedEdgeSimulator.from_config(config, [Policy(costs)] * config.sim.devices, seed)
            bounds.append(shared_edge_bound(shared, frames, seed=seed, max_labels=max_labels))
        else:
            simulator = Simulator.from_config(config, Policy(costs), parse_trace(config.link.trace, seed=seed))
            bounds.append(simulator_bound(simulator, frames, seed=seed, max_labels=max_labels))
    return bounds


def bound_per_frame(bounds: Sequence[RunBound]) -> float:
    """The bound on the system cost over several seeds' runs: their summed bounds over their frames (NaN: none)."""
    frames = sum(b.queueing.frames for b in bounds)
    return sum(b.total for b in bounds) / frames if frames else math.nan


def bound_gaps(rows: Mapping[str, RunMetrics], bound: float) -> dict[str, float]:
    """Per policy: its system cost over the lower bound (a mean cost per frame), in percent (NaN without one)."""
    return {name: (m.system_cost / bound - 1.0) * 100.0 if bound > 0 else math.nan for name, m in rows.items()}


def improvement(policy: float, baseline: float) -> float:
    """Percent by which ``policy`` is lower than ``baseline`` (positive = better; NaN if baseline is 0)."""
    return (baseline - policy) / baseline * 100.0 if baseline else math.nan


IMPROVEMENT_METRICS: tuple[tuple[str, str], ...] = (
    ("mean_bytes", "data"), ("mean_delay", "total delay"), ("drop_rate", "drop rate"),
    ("system_cost", "system cost"),
)
"""The metrics of the paper's Table 2 (attribute, label)."""


def improvements(rows: Mapping[str, RunMetrics], reference: str = A2C) -> dict[str, dict[str, float]]:
    """Per other policy: % improvement of ``reference`` over it on each Table 2 metric."""
    ref = rows[reference]
    return {name: {attr: improvement(getattr(ref, attr), getattr(m, attr)) for attr, _ in IMPROVEMENT_METRICS}
            for name, m in rows.items() if name != reference}


def clairvoyant_reference(rows: Mapping[str, RunMetrics]) -> tuple[str, float]:
    """The cheapest clairvoyant row (:data:`CLAIRVOYANT`) present: its name and system cost."""
    present = [name for name in CLAIRVOYANT if name in rows]
    if not present:
        raise ValueError(f"no clairvoyant reference ({', '.join(CLAIRVOYANT)}) among {list(rows)}")
    best = min(present, key=lambda name: rows[name].system_cost)
    return best, rows[best].system_cost


def oracle_gaps(rows: Mapping[str, RunMetrics]) -> dict[str, float]:
    """Per policy: its system cost over the clairvoyant reference's (:func:`clairvoyant_reference`), in percent
    (0 = as good as the best clairvoyant policy; the other clairvoyant policy's own gap is listed too)."""
    best, cost = clairvoyant_reference(rows)
    return {name: (m.system_cost / cost - 1.0) * 100.0 for name, m in rows.items() if name != best}


# ------------------------------------------------------------------ output
def write_rows(rows: Sequence[Mapping[str, object]], path: Path) -> Path:
    """A CSV with the union of the rows' keys as columns (first row's order first); floats at 6 digits."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return path


def metrics_rows(labels: Mapping[str, object], evaluations: Mapping[str, Evaluation]) -> list[dict[str, object]]:
    """CSV rows for one setting: its labels, the policy, the summary metrics and the latency breakdown."""
    rows = []
    for name, ev in evaluations.items():
        m = ev.summary
        rows.append({**labels, "policy": name, "seeds": len(ev.per_seed),
                     **{f: getattr(m, f) for f in METRIC_FIELDS},
                     **{f"mean_{s}": v for s, v in ev.breakdown.items()},
                     "drops_by_reason": ";".join(f"{k}={v}" for k, v in m.drops_by_reason.items()),
                     "split_share": ";".join(f"{k}={v:.3f}" for k, v in ev.split_share.items())})
    return rows


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A markdown table; floats printed with 3 decimals."""
    def cell(v: object) -> str:
        if isinstance(v, float):
            return "-" if math.isnan(v) else f"{v:.3f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def breakdown_table(evaluations: Mapping[str, Evaluation], label: str = "policy") -> str:
    """Markdown: mean seconds per latency stage and the total, one row per labelled evaluation."""
    rows = [[name, *(ev.breakdown[s] for s in STAGES), ev.summary.mean_delay] for name, ev in evaluations.items()]
    return markdown_table([label, *(f"{s} s" for s in STAGES), "total s"], rows)


BAR_METRICS: tuple[tuple[str, str, float], ...] = (
    ("mean_bytes", "data per frame (MB)", 1e-6), ("mean_delay", "total delay (s)", 1.0),
    ("drop_rate", "drop rate (%)", 100.0), ("system_cost", "system cost", 1.0),
)
"""The panels of the paper's Figures 9-12: attribute, axis label, scale."""


def plot_bars(groups: Mapping[str, Mapping[str, RunMetrics]], path: Path, title: str = "",
              metrics: Sequence[tuple[str, str, float]] = BAR_METRICS) -> Path:
    """Grouped bar charts, one panel per metric: a group per setting (model, bandwidth, ...), a bar per policy."""
    import numpy as np

    from scissor_core.plots import plt, save

    policies = list(dict.fromkeys(p for rows in groups.values() for p in rows))
    x = np.arange(len(groups))
    width = 0.8 / max(len(policies), 1)
    colours = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.8), squeeze=False)
    for ax, (attr, label, scale) in zip(axes[0], metrics, strict=True):
        for k, policy in enumerate(policies):
            values = [getattr(rows[policy], attr) * scale if policy in rows else math.nan for rows in groups.values()]
            ax.bar(x + (k - (len(policies) - 1) / 2) * width, values, width, label=policy, color=colours(k % 10))
        ax.set_xticks(x, list(groups), fontsize=8)
        ax.set_ylabel(label)
    axes[0][0].legend(fontsize=7, ncol=2)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save(fig, path)


def plot_values(groups: Mapping[str, Mapping[str, float]], path: Path, ylabel: str, title: str = "") -> Path:
    """One panel of grouped bars of plain values (improvements, gaps): a group per setting, a bar per key."""
    import numpy as np

    from scissor_core.plots import plt, save

    keys = list(dict.fromkeys(k for values in groups.values() for k in values))
    x = np.arange(len(groups))
    width = 0.8 / max(len(keys), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(keys) * len(groups)), 4))
    for k, key in enumerate(keys):
        ax.bar(x + (k - (len(keys) - 1) / 2) * width, [v.get(key, math.nan) for v in groups.values()], width,
               label=key, color=plt.get_cmap("tab10")(k % 10))
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(x, list(groups), fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return save(fig, path)


def plot_breakdown(evaluations: Mapping[str, Evaluation], path: Path, title: str = "") -> Path:
    """Stacked bars of the latency stages (the paper's Table 4 as a figure), one bar per label."""
    from scissor_core.plots import plt, save

    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(evaluations)), 4))
    bottom = [0.0] * len(evaluations)
    for k, stage in enumerate(STAGES):
        values = [0.0 if math.isnan(ev.breakdown[stage]) else ev.breakdown[stage] for ev in evaluations.values()]
        ax.bar(list(evaluations), values, bottom=bottom, label=stage, color=plt.get_cmap("tab10")(k))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("mean seconds per completed frame")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    return save(fig, path)
