"""``scissor bench link``: how true the real link is to its trace, over models x splits x links x link use.

Every case is one live testbed run (:func:`~scissor_bringup.testbed_run.run_testbed`) with the robot side
and the edge in two network namespaces behind a veth link that tc shapes to the trace (root), a fixed
split served by the agent (and by the device's fallback, so no frame takes another split), a camera
interval chosen so the split's bytes use the given share of the trace's mean rate. For each run it
prints, from the outcomes alone (:mod:`scissor_core.analysis.link_fidelity`):

- the median and p95 of (measured - ideal) / ideal over the completed offloaded frames (ideal: the frame's
  measured compute and edge queue wait, and its bytes through a perfect pipe following the trace);
- drops by reason, and ``edge_lost`` apart;
- ``b_hat`` against the link's rate: the median relative error after the window filled, and for every rate
  step the transmissions it took ``b_hat`` to come within 10% of the new rate.

Per link, the first model's middle split at the first link use also runs through the device's
application-level shaper on loopback (every node in one namespace) on the same trace and frames: the
mean delays of the two worlds are compared. A split whose compute is slower than the interval that link
use would need runs at a longer interval, and its row says the link use it reached.
"""
from __future__ import annotations

import csv
import dataclasses
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from scissor_bringup.bench_live import bench_config
from scissor_bringup.netns import Impairment
from scissor_bringup.testbed_run import run_testbed
from scissor_core.analysis.link_fidelity import (
    DelayError,
    Estimate,
    estimate_error,
    lost,
    replay_estimates,
    step_lags,
)
from scissor_core.analysis.metrics import RunMetrics
from scissor_core.config import LinkConfig, load_config
from scissor_core.policies.serving import default_profile_path
from scissor_core.runtime.costs import ModelProfile, SplitCosts, needs_link
from scissor_core.runtime.outcome import FrameOutcome
from scissor_core.runtime.traces import parse_trace

MIN_BYTES_FOR_ESTIMATE = 30_000
"""Payloads below this are dominated by per-message costs: their b_hat is not compared with the rate."""
MIN_FRAMES = 10
"""Frames of a run at least, however long its interval."""
COMPUTE_HEADROOM = 2.0
"""The interval is at least this many times a frame's device or edge compute (two cores for all nodes)."""


@dataclass(frozen=True)
class LinkCase:
    """One run: a model's fixed split on a link at a link use, through tc (``shaper`` tc) or the app shaper."""

    model: str
    split: str
    link: str
    use: float
    """Target share of the trace's mean rate the split's bytes use."""
    interval: float
    """Camera interval of the run (s)."""
    nbytes: int
    """The split's bytes per frame (profile)."""
    frames: int
    """Camera frames of the run."""
    mean_rate: float
    """The trace's mean rate (bytes/s)."""
    shaper: str = "tc"
    loss: float = 0.0
    """Packets the kernel drops on the tc link, both ways (a fraction)."""

    @property
    def reached_use(self) -> float:
        return self.nbytes / self.interval / self.mean_rate

    @property
    def label(self) -> str:
        loss = f"-loss{self.loss:g}" if self.loss else ""
        link = self.link.split(",")[0].split("/")[-1]
        return f"{self.model}-{self.split}-{self.shaper}-{link}-{self.use:g}{loss}"


def middle_and_ends(costs: SplitCosts) -> list[str]:
    """Split 0 (the raw frame), the middle offloaded split and the last offloaded one."""
    offloaded = [s for s in costs.splits if needs_link(s)]
    return list(dict.fromkeys([offloaded[0], offloaded[len(offloaded) // 2], offloaded[-1]]))


def plan(config_file: str, models: Sequence[str], splits: Sequence[str] | None, links: Sequence[str],
         uses: Sequence[float], seconds: float, loss: float = 0.0) -> list[LinkCase]:
    """Every case of the matrix, each ``seconds`` of camera time (at least :data:`MIN_FRAMES` frames), and per
    link the app-shaper twin of its first case with a middle split (not with ``loss``: the app shaper
    loses nothing)."""
    config = load_config(config_file)
    cases = []
    for mi, model in enumerate(models):
        costs = SplitCosts.for_config(ModelProfile.load(default_profile_path(config, model)), config.codec)
        chosen = list(splits) if splits else middle_and_ends(costs)
        for link in links:
            mean = parse_trace(link).mean_rate()
            for ui, use in enumerate(uses):
                for si, split in enumerate(chosen):
                    i = costs.index(split)
                    if not needs_link(split):
                        raise ValueError(f"split {split!r} of {model} sends nothing over the link")
                    interval = max(costs.nbytes[i] / (use * mean),
                                   COMPUTE_HEADROOM * max(costs.local[i], costs.edge[i], 0.02))
                    case = LinkCase(model, split, link, use, interval, costs.nbytes[i],
                                    max(MIN_FRAMES, round(seconds / interval)), mean, loss=loss)
                    cases.append(case)
                    if mi == 0 and ui == 0 and si == len(chosen) // 2 and not loss:
                        cases.append(dataclasses.replace(case, shaper="app"))
    return cases


@dataclass
class LinkRow:
    """What one case measured."""

    case: LinkCase
    outcomes: list[FrameOutcome]
    error: DelayError
    b_hat_error: float
    """Median b_hat / rate - 1 after the window filled (nan: too small a payload or too few transmissions)."""
    lags: list[int | None]
    """Transmissions until b_hat within 10% after each rate step (None: never)."""
    estimates: list[Estimate]
    """The device's b_hat after each delivered transmission."""

    @property
    def metrics(self) -> RunMetrics:
        return RunMetrics.of(self.outcomes)

    def drops(self) -> str:
        counts = Counter(o.drop_reason for o in self.outcomes if not o.completed)
        return ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items())) or "none"


def run_case(case: LinkCase, config_file: str, output: Path) -> LinkRow:
    """One case on the live testbed; its run folder is ``output/LABEL``."""
    policy = f"fixed:{case.split}"
    run_config = bench_config(config_file, model={"name": case.model}, link={"trace": case.link},
                              camera={"interval": case.interval, "wait_for_subscribers": 1},
                              agent={"policy": policy}, device={"fallback_policy": policy, "annotate": False})
    run = run_testbed(run_config, 90.0 + 3 * case.frames * case.interval, output / case.label,
                      max_frames=case.frames, stop_after_outcomes=case.frames, netns=case.shaper == "tc",
                      impairment=Impairment(loss=case.loss) if case.loss else None)
    return row_of(case, run.outcomes, load_config(run_config).link)


def row_of(case: LinkCase, outcomes: list[FrameOutcome], link: LinkConfig) -> LinkRow:
    """What a case's outcomes say of its link (``link``: the estimator settings the device ran with)."""
    trace = parse_trace(case.link)
    if not outcomes:
        return LinkRow(case, [], DelayError(0, math.nan, math.nan), math.nan, [], [])
    estimates = replay_estimates(outcomes, trace, link)
    b_hat_error = (estimate_error(estimates, skip=link.estimator_window)
                   if case.nbytes >= MIN_BYTES_FOR_ESTIMATE and trace.name.startswith("const") else math.nan)
    lags = step_lags(estimates, trace) if trace.name.startswith("steps") else []
    return LinkRow(case, outcomes, DelayError.of(outcomes, trace), b_hat_error, lags, estimates)


def bench_link(config_file: str, cases: Sequence[LinkCase], output: Path, *,
               progress: bool = True) -> tuple[str, list[LinkRow]]:
    """Run every case; write ``bench-link.csv``, ``bench-link.md`` and ``b-hat.png`` under ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    rows = [run_case(case, config_file, output)
            for case in tqdm(cases, desc="bench link", unit="run", disable=not progress)]
    write_csv(rows, output / "bench-link.csv")
    text = format_report(rows)
    (output / "bench-link.md").write_text(text + "\n")
    plot_estimates(rows, output / "b-hat.png")
    return text, rows


CSV_FIELDS = ("model", "split", "shaper", "link", "loss", "use", "reached_use", "interval", "bytes", "frames",
              "outcomes", "completed", "edge_lost", "drops", "mean_delay", "error_frames", "median_error", "p95_error",
              "b_hat_error", "step_lags")


def write_csv(rows: Sequence[LinkRow], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_FIELDS)
        for r in rows:
            c, m = r.case, r.metrics
            writer.writerow([c.model, c.split, c.shaper, c.link, c.loss, c.use, f"{c.reached_use:.3f}",
                             f"{c.interval:.4f}", c.nbytes, c.frames, len(r.outcomes), m.completed if r.outcomes else 0,
                             lost(r.outcomes), r.drops(),
                             f"{m.mean_delay:.4f}" if r.outcomes else "", r.error.frames, f"{r.error.median:.4f}",
                             f"{r.error.p95:.4f}", f"{r.b_hat_error:.4f}", " ".join(map(str, r.lags))])


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:+.1%}"


def format_report(rows: Sequence[LinkRow]) -> str:
    """The table, the goals each row meets, and app shaper vs tc per link."""
    lines = ["# scissor bench link: error = (measured - ideal) / ideal of completed offloaded frames", "",
             "| model | split | link | shaper | loss | use (reached) | interval s | bytes | done | edge_lost | "
             "drops | median err | p95 err | b_hat err | step lags |",
             "|---|---|---|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---|"]
    for r in rows:
        c = r.case
        lags = " ".join("never" if lag is None else str(lag) for lag in r.lags) or "-"
        done = r.metrics.completed if r.outcomes else 0
        lines.append(f"| {c.model} | {c.split} | {c.link} | {c.shaper} | {c.loss:.0%} | "
                     f"{c.use:.0%} ({c.reached_use:.0%}) | "
                     f"{c.interval:.3f} | {c.nbytes:,} | {done}/{len(r.outcomes)} | {lost(r.outcomes)} | {r.drops()} | "
                     f"{_pct(r.error.median)} | {_pct(r.error.p95)} | {_pct(r.b_hat_error)} | {lags} |")
    tc = [r for r in rows if r.case.shaper == "tc" and r.outcomes]
    medians = [r.error.median for r in tc if not math.isnan(r.error.median)]
    p95s = [r.error.p95 for r in tc if not math.isnan(r.error.p95)]
    steady = [r for r in tc if not r.case.link.startswith("mahimahi")]
    estimates = [r.b_hat_error for r in tc if not math.isnan(r.b_hat_error)]
    lags = [lag for r in tc for lag in r.lags]
    lines += ["", "goals (tc runs):",
              f"- median error <= 10%: {sum(m <= 0.10 for m in medians)} of {len(medians)} runs "
              f"(worst {_pct(max(medians, default=math.nan))})",
              f"- p95 error <= 25%: {sum(p <= 0.25 for p in p95s)} of {len(p95s)} runs "
              f"(worst {_pct(max(p95s, default=math.nan))})",
              f"- 0 edge_lost on const and steps links: {sum(lost(r.outcomes) == 0 for r in steady)} of "
              f"{len(steady)} runs ({sum(lost(r.outcomes) for r in steady)} frames lost)",
              f"- every frame has an outcome: {sum(len(r.outcomes) == r.case.frames for r in rows)} of "
              f"{len(rows)} runs",
              f"- b_hat within 10% of the rate on const links (payload >= {MIN_BYTES_FOR_ESTIMATE:,} B): "
              f"{sum(abs(e) <= 0.10 for e in estimates)} of {len(estimates)} runs "
              f"(worst {_pct(max(estimates, key=abs, default=math.nan))})",
              f"- b_hat following a rate step within 3 transmissions: {sum(x is not None and x <= 3 for x in lags)} "
              f"of {len(lags)} steps"]
    for app in (r for r in rows if r.case.shaper == "app" and r.outcomes):
        twin = next((r for r in tc if (r.case.model, r.case.split, r.case.link, r.case.use)
                     == (app.case.model, app.case.split, app.case.link, app.case.use)), None)
        if twin is not None:
            a, t = app.metrics.mean_delay, twin.metrics.mean_delay
            lines.append(f"- app shaper vs tc, {app.case.model} {app.case.split} on {app.case.link}: mean delay "
                         f"{a:.3f} s vs {t:.3f} s, tc {t / a - 1:+.1%} (goal within 10%)")
    return "\n".join(lines)


def plot_estimates(rows: Sequence[LinkRow], path: Path) -> None:
    """b_hat after each transmission against the link's rate, one panel per tc run on a varying link whose
    payload is large enough for b_hat to mean the link (:data:`MIN_BYTES_FOR_ESTIMATE`), two columns."""
    from scissor_core.plots import plt, save

    shown = [r for r in rows if r.case.shaper == "tc" and r.estimates and not r.case.link.startswith("const")
             and r.case.nbytes >= MIN_BYTES_FOR_ESTIMATE]
    if not shown:
        return
    cols = 2
    lines = -(-len(shown) // cols)
    fig, axes = plt.subplots(lines, cols, figsize=(11, 2.3 * lines), squeeze=False)
    for ax in axes.flat[len(shown):]:
        ax.set_visible(False)
    for ax, r in zip(axes.flat, shown, strict=False):
        trace, estimates = parse_trace(r.case.link), r.estimates
        end = estimates[-1].at
        ts = [end * i / 400 for i in range(401)]
        ax.plot(ts, [trace.rate_at(t) / 1e6 for t in ts], color="0.6", label="tc rate")
        ax.plot([e.at for e in estimates], [e.b_hat / 1e6 for e in estimates], "o-", ms=2, label="b_hat")
        link = r.case.link.split(",")[0].split("/")[-1]
        ax.set_title(f"{r.case.model} {r.case.split} ({r.case.nbytes / 1e3:.0f} kB), {link}, use {r.case.use:.0%}",
                     fontsize=8)
        ax.set_ylabel("MB/s", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("trace time (s)", fontsize=8)
    fig.tight_layout()
    save(fig, path)
