"""``scissor evaluate --live``: every policy on the real testbed, same frames, same link trace; and the
simulator's prediction of the same scenario next to it (calibration of the simulator against the testbed).

One *scenario* = a config, a model, the camera input (the frames of a rosbag2, or the synthetic scene), a
frame count, one frame interval and a link trace. :func:`scenario_config` writes it as one config file
(``OUTPUT/config.yaml``) that every node of every run and the simulator read, so they cannot disagree:

- the camera publishes the same frames at a fixed interval: a bag is replayed with
  ``camera.bag_timing: interval`` (not its recorded timing, which the simulator's periodic arrivals could
  not reproduce); ``sim.interval`` is the same interval, with no jitter and no bursts;
- ``link.trace`` is the device's link shaper and the simulator's trace; ``device.profile`` (default
  ``config/profiles/MODEL.json``, measured on this machine) is what the agent's and the device's policies
  and the simulator's service times come from; ``agent.policy_file`` is the a2c both serve;
- ``agent.learn_online`` is off (a2c decides by argmax in both).

:func:`run_live` runs the testbed once per policy (``agent.policy`` = the name) until every frame has its
outcome, and :func:`simulate` runs the simulator on the same scenario. :func:`calibration_rows` puts the two
side by side with the relative error of the simulator against the testbed (:func:`relative_error`).
The oracle is refused: it needs the future of the trace and runs in the simulator only.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from tqdm import tqdm

from scissor_core.analysis.evaluate import (A2C, BASELINES, ORACLE, STAGES, Evaluation, evaluate, latency_breakdown,
                                            markdown_table)
from scissor_core.analysis.calibrate import mean_absolute_percentage_error, split_distance
from scissor_core.analysis.metrics import RunMetrics
from scissor_core.config import ConfigError, ScissorConfig, load_config
from scissor_core.policies.serving import default_policy_path, default_profile_path
from scissor_core.runtime.outcome import FrameOutcome

LIVE_POLICIES: tuple[str, ...] = (A2C, *BASELINES)
"""What ``--policy all`` runs live: a2c and every causal baseline (not the oracle)."""

STARTUP = 30.0
"""Seconds each live run allows for its nodes to start, on top of the frames' length."""

CALIBRATION_METRICS: tuple[tuple[str, str], ...] = (
    ("mean_bytes", "data"), ("mean_delay", "mean delay"), ("drop_rate", "drop rate"),
    ("system_cost", "system cost"),
)
"""The metrics compared between simulator and testbed (attribute, label)."""

GOAL = 0.10
"""The calibration goal: the simulator within 10% of the testbed."""

POLICY_CODECS: dict[str, dict[str, object]] = {"edge-only-jpeg": {"codec.encoding": "jpeg", "codec.jpeg_quality": 90}}
"""Per policy, the codec every node runs with: ``edge-only-jpeg`` (split 0 as JPEG q90,
:data:`scissor_core.policies.JPEG_CODEC`) needs the testbed's codec in JPEG, where the simulator charges it
JPEG bytes whatever the config's codec (the config's ``codec.frame_encoding`` applies to every other policy)."""


def check_policies(names: Sequence[str]) -> list[str]:
    """The policies to run live; ``myopic-oracle`` is refused (ValueError) with the reason."""
    if ORACLE in names:
        raise ValueError("the myopic oracle cannot run live: it decides from the exact future of the trace and the "
                         "queues, which only the simulator knows (scissor evaluate without --live runs it)")
    if not names:
        raise ValueError("no policy to evaluate")
    return list(dict.fromkeys(names))


def relative_error(sim: float, live: float) -> float:
    """(sim - live) / |live|: the simulator's error relative to the testbed's measurement.
    0 when both are equal (also both 0), +-inf when only the testbed's is 0, NaN when either is NaN."""
    if math.isnan(sim) or math.isnan(live):
        return math.nan
    if sim == live:
        return 0.0
    if live == 0:
        return math.copysign(math.inf, sim - live)
    return (sim - live) / abs(live)


@dataclass(frozen=True)
class Scenario:
    """The common input of every run: written by :func:`scenario_config`."""

    config_file: Path
    config: ScissorConfig
    model: str
    frames: int
    interval: float
    trace: str
    source: str
    """``scene`` or ``bag:PATH[#TOPIC]``."""


def scenario_config(base: Path, overrides: Mapping[str, object], output: Path, *, model: str, trace: str,
                    interval: float | None, frames: int | None, bag: Path | None = None,
                    topic: str | None = None, profile: Path | None = None, policy_file: Path | None = None,
                    timeout: float | None = None) -> Scenario:
    """Write ``output/config.yaml``: ``base`` with the dotted ``overrides`` and the scenario's settings.

    ``interval`` None = the camera's interval for the model (``camera.interval`` or the paper's); ``frames``
    None = every frame of the bag, or 60 scene frames; with a bag, at most ``frames`` of its frames. A bag
    that cannot be replayed raises :class:`scissor_core.sources.bags.BagError` before anything runs."""
    data = yaml.safe_load(Path(base).read_text()) or {}
    for dotted, value in {**overrides, "model.name": model}.items():
        section = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            section = section.setdefault(p, {})
        section[leaf] = value
    config = load_config(base, {**overrides, "model.name": model})  # refuse a bad base config here
    interval = interval if interval is not None else config.camera.interval_for(model)
    if interval <= 0 or (frames is not None and frames <= 0):
        raise ConfigError("--interval and --frames must be positive")
    if bag is not None:
        from scissor_core.sources.bags import BagSource

        bag = bag.resolve()
        src = BagSource(bag, topic)
        try:
            src.read()  # the first frame decodes
            available = len(src.stamps)
        finally:
            src.close()
        frames = min(frames or available, available)
        source = f"bag:{bag}" + (f"#{topic}" if topic else "")
    else:
        frames = frames or 60
        source = "scene"
    settings = {
        "camera": {"source": source, "bag_timing": "interval", "interval": interval, "max_frames": frames,
                   "burst_every": 0, "burst_size": 0,
                   # start once the device reads (it subscribes once edge and agent are up; the annotator
                   # does not count)
                   "wait_for_subscribers": 1},
        "sim": {"interval": interval, "jitter": 0.0, "burst_every": 0, "burst_size": 0, "frames": frames},
        "link": {"trace": trace},
        "agent": {"learn_online": False},
    }
    if profile is not None:
        settings["device"] = {"profile": str(Path(profile).resolve())}
    if policy_file is not None:
        settings["agent"]["policy_file"] = str(Path(policy_file).resolve())
    if timeout is not None:
        settings["queues"] = {"timeout": timeout}
    for section, values in settings.items():
        data.setdefault(section, {}).update(values)
    output.mkdir(parents=True, exist_ok=True)
    path = output.resolve() / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    config = load_config(path)
    return Scenario(path, config, model, frames, interval, trace, source)


@dataclass
class LiveRun:
    """One policy on the testbed."""

    policy: str
    outcomes: list[FrameOutcome]
    exit_codes: dict[str, int]
    output: Path
    problems: list[str] = field(default_factory=list)
    """What went wrong (missing outcomes, a node that failed), empty for a clean run."""
    load: tuple[float, float] = (math.nan, math.nan)
    """The machine's 1-minute load average before and after the run."""

    @property
    def fallbacks(self) -> int:
        """Frames the device decided itself (the agent's decision missed device.decision_deadline)."""
        return sum(o.fallback_decision for o in self.outcomes)


def as_evaluation(name: str, outcomes: Sequence[FrameOutcome]) -> Evaluation:
    """One run's outcomes as an :class:`Evaluation` of one 'seed' (the report code of the simulator's)."""
    m = RunMetrics.of(outcomes)
    splits: dict[str, int] = {}
    for o in outcomes:
        splits[o.split] = splits.get(o.split, 0) + 1
    return Evaluation(name, (m,), m, latency_breakdown(outcomes),
                      {s: n / len(outcomes) for s, n in splits.items()} if outcomes else {})


def run_live(scenario: Scenario, names: Sequence[str], output: Path, *, progress: bool = True,
             namespace: str = "", netns: bool = False) -> dict[str, LiveRun]:
    """The testbed once per policy on the scenario; each run under ``output/runs/POLICY/``; with ``netns``
    the robot side and the edge as two hosts behind the tc-shaped link (root)."""
    from scissor_bringup.testbed import reliable_camera
    from scissor_bringup.testbed_run import run_testbed

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # DDS discovery on this machine
    timeout = scenario.config.queues.timeout_for(scenario.model)
    duration = STARTUP + scenario.frames * scenario.interval + 2 * timeout + 10.0
    runs = {}
    for name in tqdm(names, desc=f"live {scenario.model}", unit="policy", disable=not progress):
        load_before = os.getloadavg()[0]
        # The device's fallback is the policy under evaluation too: a decision the agent sends later than
        # device.decision_deadline (a loaded machine) is made by the same policy on the device.
        codec = POLICY_CODECS.get(name, {})
        extra = {node: dict(codec) for node in ("device_node", "edge_node", "agent_node")}
        extra["device_node"]["device.fallback_policy"] = name
        reliable_camera(namespace, into=extra)  # every frame of the scenario reaches the device
        run = run_testbed(scenario.config_file, duration, output / "runs" / name.replace(":", "-"),
                          namespace=namespace, policy=name, stop_after_outcomes=scenario.frames, extra=extra,
                          netns=netns)
        problems = []
        if len(run.outcomes) != scenario.frames:
            problems.append(f"{len(run.outcomes)} outcomes for {scenario.frames} frames")
        failed = {n: c for n, c in run.exit_codes.items() if c not in (0, -2)}
        if failed:
            problems.append(f"node exit codes {failed}")
        runs[name] = LiveRun(name, run.outcomes, run.exit_codes, run.output, problems,
                             (load_before, os.getloadavg()[0]))
    return runs


def simulate(scenario: Scenario, names: Sequence[str]) -> dict[str, Evaluation]:
    """The simulator on the scenario: the device's profile, the same interval, frames, trace and policies
    (one run: periodic arrivals without jitter are the same for every seed)."""
    from scissor_core.runtime.costs import ModelProfile

    config = scenario.config
    profile = ModelProfile.load(default_profile_path(config, scenario.model))
    return evaluate(config, profile, names, [config.sim.seed], scenario.frames,
                    default_policy_path(config, scenario.model), progress=False)


def calibration_rows(sim: Mapping[str, RunMetrics], live: Mapping[str, RunMetrics]) -> list[dict[str, object]]:
    """Per policy in both: each metric's simulated and live value and the simulator's relative error;
    ``within_goal`` = mean delay and system cost both within :data:`GOAL`."""
    rows = []
    for name in live:
        if name not in sim:
            continue
        row: dict[str, object] = {"policy": name}
        for attr, _ in CALIBRATION_METRICS:
            s, v = getattr(sim[name], attr), getattr(live[name], attr)
            row.update({f"sim_{attr}": s, f"live_{attr}": v, f"{attr}_rel_err": relative_error(s, v)})
        row["drop_rate_abs_diff"] = sim[name].drop_rate - live[name].drop_rate
        row["within_goal"] = all(abs(row[f"{a}_rel_err"]) <= GOAL for a in ("mean_delay", "system_cost"))
        rows.append(row)
    return rows


def calibration_table(rows: Sequence[Mapping[str, object]]) -> str:
    """Markdown: per policy, sim / live / relative error (%) of each compared metric."""
    header = ["policy"]
    for _, label in CALIBRATION_METRICS:
        header += [f"{label} sim", f"{label} live", f"{label} err %"]
    header.append(f"delay & cost within {GOAL:.0%}")
    body = []
    for r in rows:
        cells: list[object] = [r["policy"]]
        for attr, _ in CALIBRATION_METRICS:
            scale = 1e-6 if attr == "mean_bytes" else 100.0 if attr == "drop_rate" else 1.0
            cells += [float(r[f"sim_{attr}"]) * scale, float(r[f"live_{attr}"]) * scale,
                      float(r[f"{attr}_rel_err"]) * 100.0]
        cells.append("yes" if r["within_goal"] else "no")
        body.append(cells)
    return (markdown_table(header, body)
            + "\n\n(data in MB/frame, drop rate in %, delay in s; err = (sim - live) / live)")


def prediction_summary(sim: Mapping[str, Evaluation], live: Mapping[str, Evaluation]) -> str:
    """Did the simulator predict the testbed: per policy mean delay and drop rate, simulated and live, and
    how far the split choices differ; then the MAPE of the mean delay over the policies (goal 10%)."""
    names = [n for n in live if n in sim]
    rows = [[n, sim[n].summary.mean_delay, live[n].summary.mean_delay,
             100 * relative_error(sim[n].summary.mean_delay, live[n].summary.mean_delay),
             100 * sim[n].summary.drop_rate, 100 * live[n].summary.drop_rate,
             100 * split_distance(sim[n].split_share, live[n].split_share)] for n in names]
    mape = mean_absolute_percentage_error((sim[n].summary.mean_delay, live[n].summary.mean_delay) for n in names)
    return (markdown_table(["policy", "delay sim s", "delay live s", "delay err %", "drops sim %", "drops live %",
                            "frames on another split %"], rows)
            + f"\n\nMAPE of the mean delay over {len(names)} policies: {100 * mape:.1f}% (goal <= {GOAL:.0%}); "
              "frames on another split = total variation distance of the split shares (0 = the same choices)")


def stage_table(sim: Mapping[str, Evaluation], live: Mapping[str, Evaluation]) -> str:
    """Markdown: the latency stages of each policy, simulated over live, and what the stages do not cover
    (total delay minus their sum: in the testbed, e.g. the agent's decision and the DDS hops)."""
    rows = []
    for name in live:
        for kind, ev in (("sim", sim.get(name)), ("live", live[name])):
            if ev is None:
                continue
            stages = [ev.breakdown[s] for s in STAGES]
            rest = ev.summary.mean_delay - sum(stages)
            rows.append([f"{name} ({kind})", *stages, rest, ev.summary.mean_delay])
    return markdown_table(["policy", *(f"{s} s" for s in STAGES), "other s", "total s"], rows)


def structural_notes(sim: Mapping[str, Evaluation], live: Mapping[str, Evaluation], factor: float = 1.5,
                     floor: float = 0.002) -> list[str]:
    """Where a latency stage of a policy differs by more than ``factor`` between testbed and simulator
    (ignoring stages under ``floor`` s in both): the simulator's model of that stage does not hold here."""
    notes = []
    for name, ev in live.items():
        if name not in sim:
            continue
        for stage in STAGES:
            s, v = sim[name].breakdown[stage], ev.breakdown[stage]
            if math.isnan(s) or math.isnan(v) or max(s, v) < floor:
                continue
            if v > factor * s or s > factor * v:
                notes.append(f"{name}: {stage} {v * 1e3:.1f} ms live vs {s * 1e3:.1f} ms simulated")
    return notes


def plot_calibration(sim: Mapping[str, RunMetrics], live: Mapping[str, RunMetrics], path: Path,
                     title: str = "") -> Path:
    """Bars side by side per policy: simulated and live mean delay, drop rate and system cost."""
    from scissor_core.analysis.evaluate import BAR_METRICS, plot_bars

    groups = {name: {"simulator": sim[name], "testbed": m} for name, m in live.items() if name in sim}
    return plot_bars(groups, path, title, BAR_METRICS)


@dataclass
class LiveReport:
    """What :func:`evaluate_live` measured and wrote."""

    runs: dict[str, LiveRun]
    live: dict[str, Evaluation]
    sim: dict[str, Evaluation]
    calibration: list[dict[str, object]]
    text: str
    written: list[Path]


def evaluate_live(scenario: Scenario, names: Sequence[str], output: Path, *, progress: bool = True,
                  namespace: str = "", netns: bool = False) -> LiveReport:
    """Every policy live, then the simulator on the same scenario; writes under ``output``: ``MODEL.csv``,
    ``.md``, ``.png`` (the testbed's metrics, as ``scissor evaluate`` writes the simulator's),
    ``MODEL-sim.csv``, ``MODEL-calibration.csv`` and ``.png`` (simulator against testbed), and each run's
    ``runs/POLICY/outcomes.csv``, ``summary.md``, ``delay.png``."""
    from scissor_core.analysis.evaluate import breakdown_table, metrics_rows, plot_bars, write_rows
    from scissor_core.analysis.metrics import format_table

    names = check_policies(names)
    output = output.resolve()
    runs = run_live(scenario, names, output, progress=progress, namespace=namespace, netns=netns)
    live = {name: as_evaluation(name, run.outcomes) for name, run in runs.items() if run.outcomes}
    sim = simulate(scenario, names)
    live_m = {n: ev.summary for n, ev in live.items()}
    sim_m = {n: ev.summary for n, ev in sim.items()}
    rows = calibration_rows(sim_m, live_m)
    model, cfg = scenario.model, scenario.config
    profile = default_profile_path(cfg, model)
    head = (f"{model}: {scenario.frames} frames of {scenario.source}, one every {scenario.interval:g} s; "
            f"trace {scenario.trace}; T {cfg.queues.timeout_for(model):g} s, w {cfg.reward.w:g}, "
            f"F {cfg.reward.drop_penalty:g}; profile {profile}")
    text = [f"# live evaluation: {head}", "", "## testbed", "", format_table(live_m), "", breakdown_table(live)]
    text += ["", f"per run: frames the device decided itself because the agent's decision came after "
                 f"device.decision_deadline ({cfg.device.decision_deadline:g} s; the device runs the same policy), "
                 f"and the machine's 1-minute load average before / after ({os.cpu_count()} CPUs):", "",
             markdown_table(["policy", "outcomes", "device decided", "load before", "load after"],
                            [[n, len(r.outcomes), r.fallbacks, *r.load] for n, r in runs.items()])]
    problems = [f"- {n}: {'; '.join(r.problems)}" for n, r in runs.items() if r.problems]
    if problems:
        text += ["", "problems:", "", *problems]
    notes = structural_notes(sim, live)
    text += ["", "## simulator on the same scenario", "", format_table(sim_m), "",
             "## calibration: simulator against testbed", "", prediction_summary(sim, live), "",
             calibration_table(rows), "",
             "latency stages, simulated and live:", "", stage_table(sim, live)]
    if notes:
        text += ["", "stages where testbed and simulator differ by more than 1.5x (the simulator takes them from "
                     "the profile and the trace):", "", *(f"- {n}" for n in notes)]
    labels = {"model": model, "mode": "live", "frames_in": scenario.frames, "interval": scenario.interval,
              "trace": scenario.trace, "source": scenario.source}
    stem = output / model
    live_rows = metrics_rows(labels, live)
    for r in live_rows:
        r["device_decided"] = runs[str(r["policy"])].fallbacks
    written = [write_rows(live_rows, stem.with_suffix(".csv")),
               write_rows(metrics_rows({**labels, "mode": "sim"}, sim), output / f"{model}-sim.csv"),
               write_rows(rows, output / f"{model}-calibration.csv")]
    stem.with_suffix(".md").write_text("\n".join(text) + "\n")
    written.append(stem.with_suffix(".md"))
    if live_m:
        written.append(plot_bars({model: live_m}, stem.with_suffix(".png"), f"{model} on the testbed: {head}"))
        written.append(plot_calibration(sim_m, live_m, output / f"{model}-calibration.png",
                                        f"{model}: simulator vs testbed, trace {scenario.trace}, "
                                        f"interval {scenario.interval:g} s"))
    return LiveReport(runs, live, sim, rows, "\n".join(text), written)
