"""The paper's experiments, one command each: ``scissor experiment NAME``.

Every experiment evaluates policies with :mod:`scissor_core.analysis.evaluate` (the code
behind ``scissor evaluate``) and writes ``NAME.csv``, ``NAME.md`` and
``NAME.png`` under ``RESULTS/NAME/PROFILES/`` (``PROFILES`` = ``paper`` for the
paper-calibrated profiles ``config/profiles/MODEL-paper.json``, ``measured``
for this machine's ``config/profiles/MODEL.json``).

Settings (docs/design.md §1 defaults from the config, one change per sweep):

- ``fig9``: every method on each model; ``fig10``: YOLOv3 at 1, 5, 10 MB/s
  (constant traces); ``fig11``: YOLOv3 with ``w`` in 0, 0.5, 1, 1.5, 2;
  ``fig12``: every model at the paper's Table 5 frame intervals (YOLOv3 0.8, 1, 1.2 s;
  ResNet18 and AlexNet 0.10, 0.15, 0.20 s); ``fig13``: the reward curves of the A2C training of each model;
  ``table2``: % improvement of A2C over every other policy (YOLOv3);
  ``table4``: latency breakdown of the learned policy of each model;
  ``oracle-gap``: every policy's system cost over the best clairvoyant policy's (the per-frame oracle or
  the best single split in hindsight); ``lte`` (beyond the paper): every model on the ATT LTE uplink
  trace with split 0 sending the JPEG frame (``codec.frame_encoding: jpeg``); ``codec-choice`` (beyond the
  paper, YOLOv3-tiny): every policy with one codec and with the codec chosen with the split at a mAP floor,
  against edge-only JPEG at equal accuracy.
- A setting that needs A2C trains it (``agent`` section of the config,
  ``train_seeds`` seeds, the median run kept) and caches the policy file and
  the reward curves under ``RESULTS/policies/``, keyed by a hash of the
  profile and every config section the training reads; a later experiment
  with the same setting reuses it.
- Evaluation seeds are ``sim.seed + 10000 + i``: held out from the training
  episodes' arrival seeds (``sim.seed + episode``).
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from scissor_core.analysis.evaluate import (A2C, ALL_POLICIES, BASELINES, HINDSIGHT, IMPROVEMENT_METRICS, STAGES,
                                            Evaluation, bound_gaps, bound_per_frame, breakdown_table,
                                            clairvoyant_reference, evaluate, improvements, markdown_table,
                                            metrics_rows, oracle_gaps, plot_bars, plot_breakdown, plot_values,
                                            run_bounds, write_rows)
from scissor_core.analysis.metrics import RunMetrics, format_table
from scissor_core.config import CONFIG_DIR, ScissorConfig, use_paper_agent
from scissor_core.models.registry import DEVICE_ONLY, EDGE_ONLY
from scissor_core.runtime.costs import OPTION_MARK, ModelProfile, codec_table_path
from scissor_core.simulation.ppo import PPO_PREFIX, train_ppo
from scissor_core.simulation.train import TrainRun, median_run, summarise, train, write_curves
from scissor_core.wire.codec import codec_labels

MODELS: tuple[str, ...] = ("alexnet", "resnet18", "yolov3")
PROFILE_SETS: tuple[str, ...] = ("paper", "measured")
EVAL_SEED_OFFSET = 10_000
"""Evaluation seeds start here (above ``sim.seed``), away from the training episodes' seeds."""
PAPER_TABLE2 = "the paper's Table 2 (YOLOv3): A2C 86% lower delay than device-only, 67% lower system cost than greedy"


PPO_TIMESTEPS = 100_000
"""Frames per PPO seed in the experiments (at most ``agent.episodes`` x ``agent.episode_frames``): about 45 s
on one core here."""


def ppo_timesteps(config: ScissorConfig) -> int:
    return min(PPO_TIMESTEPS, config.agent.episodes * config.agent.episode_frames)


@dataclass
class TrainedPolicy:
    """A cached training result: the kept policy file and every seed's reward curve."""

    path: Path
    kept_seed: int
    runs: list[TrainRun]


@dataclass
class Plan:
    """How the experiments run: base config, profile set, sizes, where results go."""

    base: ScissorConfig
    profiles: str = "paper"
    profile_dir: Path = CONFIG_DIR / "profiles"
    results: Path = Path("results")
    frames: int = 5000
    """Frames per evaluation run."""
    eval_seeds: int = 5
    train_seeds: int = 5
    progress: bool = True
    _evaluations: dict[str, dict[str, Evaluation]] = field(default_factory=dict, repr=False)

    def profile_path(self, model: str) -> Path:
        return self.profile_dir / (f"{model}-paper.json" if self.profiles == "paper" else f"{model}.json")

    def out(self, name: str) -> Path:
        return self.results / name / self.profiles

    def setting(self, model: str, overrides: Mapping[str, object] | None = None) -> ScissorConfig:
        """The base config for ``model`` with dotted ``section.key`` overrides."""
        config = copy.deepcopy(self.base)
        config.model.name = model
        config.agent.seeds = self.train_seeds
        for dotted, value in (overrides or {}).items():
            section, _, key = dotted.partition(".")
            setattr(getattr(config, section), key, value)
        return config

    def trained(self, config: ScissorConfig) -> TrainedPolicy:
        """The A2C policy for this setting: from the cache, or trained now and cached."""
        path = self.profile_path(config.model.name)
        key = _training_key(config, path)
        stem = self.results / "policies" / self.profiles / f"{config.model.name}-{key}"
        meta = stem.with_suffix(".json")
        if not (meta.is_file() and stem.with_suffix(".pt").is_file()):
            best, runs = train(config, ModelProfile.load(path), config.agent.seeds, progress=self.progress)
            best.policy.save(stem.with_suffix(".pt"))
            meta.write_text(json.dumps({
                "profile": str(path), "kept_seed": best.seed,
                "runs": [{"seed": r.seed, "rewards": r.rewards, "seconds": r.seconds, "converged": r.converged}
                         for r in runs]}))
        data = json.loads(meta.read_text())
        return TrainedPolicy(stem.with_suffix(".pt"), data["kept_seed"], [TrainRun(**r) for r in data["runs"]])

    def trained_ppo(self, config: ScissorConfig) -> Path:
        """The PPO policy for this setting (``agent.seeds`` seeds of :func:`ppo_timesteps` frames, the median
        run kept): from the cache, or trained now and cached next to the A2C policies."""
        path = self.profile_path(config.model.name)
        timesteps = ppo_timesteps(config)
        stem = self.results / "policies" / self.profiles / \
            f"{config.model.name}-ppo{timesteps}-{_training_key(config, path)}"
        if not (stem.with_suffix(".zip").is_file() and stem.with_suffix(".json").is_file()):
            profile = ModelProfile.load(path)
            trained = [train_ppo(config, profile, seed, timesteps) for seed in range(config.agent.seeds)]
            kept = median_run([run for run, _ in trained], config.agent.convergence_window)
            trained[kept][1].save(stem.with_suffix(".zip"))
        return stem.with_suffix(".zip")

    def evaluate(self, config: ScissorConfig, names: Sequence[str] = ALL_POLICIES) -> dict[str, Evaluation]:
        """Every policy in ``names`` in this setting (training A2C first if needed); memoised per setting."""
        key = json.dumps([_training_key(config, self.profile_path(config.model.name)), list(names)])
        if key not in self._evaluations:
            a2c = self.trained(config).path if A2C in names else None
            seeds = self.eval_seed_list(config)
            self._evaluations[key] = evaluate(config, ModelProfile.load(self.profile_path(config.model.name)),
                                              names, seeds, self.frames, a2c, progress=self.progress)
        return self._evaluations[key]

    def eval_seed_list(self, config: ScissorConfig) -> list[int]:
        """The held-out evaluation seeds of a setting: ``sim.seed + EVAL_SEED_OFFSET + i``."""
        return [config.sim.seed + EVAL_SEED_OFFSET + i for i in range(self.eval_seeds)]

    def header(self, title: str, models: Sequence[str], overrides: Mapping[str, object] | None = None) -> str:
        """What was run: profiles (with their full local / edge forward times), sizes, training, codec and
        the settings ``overrides`` changes from the base config."""
        setting = self.setting(models[0], overrides)
        tensor_codec, frame_codec = codec_labels(setting.codec)
        lines = [f"# {title}", "",
                 f"Profiles `{self.profiles}`; evaluation {self.frames} frames x {self.eval_seeds} seed(s) per "
                 f"policy (metrics: mean over seeds); A2C trained with {self.train_seeds} seed(s), median run "
                 f"kept, up to {self.base.agent.episodes} episodes of {self.base.agent.episode_frames} frames "
                 f"({self.base.agent.describe()}); codec "
                 f"{tensor_codec}, split 0 sends the frame {frame_codec or 'with the same codec'} "
                 f"(edge-only: raw, edge-only-jpeg: jpeg); trace "
                 f"{setting.link.trace}.", ""]
        for model in models:
            profile = ModelProfile.load(self.profile_path(model))
            source = profile.settings.get("calibrated_to", {}).get("source", "measured on this machine")
            lines.append(f"- {model}: `{self.profile_path(model)}` ({source}): full local forward "
                         f"{profile.cut(DEVICE_ONLY).device_time:.3f} s, full edge forward "
                         f"{profile.cut(EDGE_ONLY).edge_time:.3f} s; T {self.base.queues.timeout_for(model):g} s")
        return "\n".join(lines) + "\n"

    def write(self, name: str, rows: list[dict[str, object]], markdown: str,
              plot: Callable[[Path], Path]) -> list[Path]:
        out = self.out(name)
        out.mkdir(parents=True, exist_ok=True)
        md = out / f"{name}.md"
        md.write_text(markdown + "\n")
        return [write_rows(rows, out / f"{name}.csv"), md, plot(out / f"{name}.png")]


def _training_key(config: ScissorConfig, profile_path: Path) -> str:
    """Hash of the profile's content and of every config section training or evaluation depends on."""
    table = codec_table_path(config.codec, config.model.name) if config.codec.min_map is not None else None
    data = {"profile": hashlib.sha256(profile_path.read_bytes()).hexdigest(), "model": config.model.name,
            **dict(zip(("codec", "frame_codec"), codec_labels(config.codec))),
            **({"min_map": config.codec.min_map, "table": hashlib.sha256(table.read_bytes()).hexdigest()}
               if table else {}),
            **{s: asdict(getattr(config, s)) for s in ("queues", "reward", "link", "sim", "agent")}}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def _summaries(evaluations: Mapping[str, Evaluation]) -> dict[str, RunMetrics]:
    return {name: ev.summary for name, ev in evaluations.items()}


def _sweep(plan: Plan, name: str, title: str, key: str, values: Sequence[tuple[str, object]],
           model: str = "yolov3") -> tuple[list[Path], str]:
    """Every policy on ``model`` for each value of one config key."""
    return _settings(plan, name, title, key, [(label, model, value) for label, value in values])


def _settings(plan: Plan, name: str, title: str, key: str,
              settings: Sequence[tuple[str, str, object]]) -> tuple[list[Path], str]:
    """Every policy in each (label, model, value of ``key``) setting."""
    groups, rows, tables = {}, [], []
    for label, model, value in tqdm(settings, desc=name, unit="setting", disable=not plan.progress):
        evaluations = plan.evaluate(plan.setting(model, {key: value}))
        groups[label] = _summaries(evaluations)
        rows += metrics_rows({"model": model, key: value}, evaluations)
        tables.append(f"## {model}, {label}\n\n{format_table(groups[label])}")
    models = list(dict.fromkeys(model for _, model, _ in settings))
    markdown = plan.header(title, models) + "\n" + "\n\n".join(tables)
    return plan.write(name, rows, markdown, lambda p: plot_bars(groups, p, f"{title} ({plan.profiles} profiles)")), \
        markdown


def _every_model(plan: Plan, name: str, title: str,
                 overrides: Mapping[str, object] | None = None) -> tuple[list[Path], str]:
    """Every policy on each model in one setting."""
    groups, rows, tables = {}, [], []
    for model in tqdm(MODELS, desc=name, unit="model", disable=not plan.progress):
        evaluations = plan.evaluate(plan.setting(model, overrides))
        groups[model] = _summaries(evaluations)
        rows += metrics_rows({"model": model}, evaluations)
        tables.append(f"## {model}\n\n{format_table(groups[model])}\n\n"
                      + markdown_table(["policy", "gap to the best clairvoyant %"], oracle_gaps(groups[model]).items()))
    markdown = plan.header(title, MODELS, overrides) + "\n" + "\n\n".join(tables)
    return plan.write(name, rows, markdown, lambda p: plot_bars(groups, p, f"{title} ({plan.profiles} profiles)")), \
        markdown


def fig9(plan: Plan) -> tuple[list[Path], str]:
    """All methods on every model: data, delay, drop rate, system cost."""
    return _every_model(plan, "fig9", "Fig. 9: every method on each model")


LTE_TRACE = "mahimahi:config/traces/ATT-LTE-driving-2016.up"
"""A real uplink with outages (1.9 Mbit/s mean, 8 gaps of 1 s or more in 120 s; config/traces/SOURCES.md)."""


def lte(plan: Plan) -> tuple[list[Path], str]:
    """Beyond the paper: every model on a real LTE uplink, split 0 sending the JPEG frame. Under a constant
    link one split is optimal for every frame; here the best split changes with the link."""
    return _every_model(plan, "lte", "Every method on each model, ATT LTE uplink trace, JPEG frames at split 0",
                        {"link.trace": LTE_TRACE, "codec.frame_encoding": "jpeg"})


def fig10(plan: Plan) -> tuple[list[Path], str]:
    return _sweep(plan, "fig10", "Fig. 10: YOLOv3 at 1, 5, 10 MB/s", "link.trace",
                  [(f"{b} MB/s", f"const:{b}MB") for b in (1, 5, 10)])


def fig11(plan: Plan) -> tuple[list[Path], str]:
    return _sweep(plan, "fig11", "Fig. 11: YOLOv3, data weight w from 0 to 2", "reward.w",
                  [(f"w={w:g}", w) for w in (0.0, 0.5, 1.0, 1.5, 2.0)])


TABLE5_INTERVALS: dict[str, tuple[float, ...]] = {"yolov3": (0.8, 1.0, 1.2), "resnet18": (0.10, 0.15, 0.20),
                                                   "alexnet": (0.10, 0.15, 0.20)}
"""The paper's Table 5: frame reading intervals (s) per model."""


def fig12(plan: Plan) -> tuple[list[Path], str]:
    return _settings(plan, "fig12", "Fig. 12: every model at the paper's Table 5 frame intervals", "sim.interval",
                     [(f"{model} {i:g} s", model, i) for model in MODELS for i in TABLE5_INTERVALS[model]])


def fig13(plan: Plan) -> tuple[list[Path], str]:
    """Convergence: every training seed's reward curve, per model."""
    window = plan.base.agent.convergence_window
    rows, tables, written = [], [], []
    for model in tqdm(MODELS, desc="fig13", unit="model", disable=not plan.progress):
        trained = plan.trained(plan.setting(model))
        written += write_curves(trained.runs, window, plan.out("fig13") / model,
                                f"A2C on {model} ({plan.profiles} profile): mean reward per frame")
        for r in trained.runs:
            rows.append({"model": model, "seed": r.seed, "episodes": len(r.rewards), "converged": r.converged,
                         "final_moving_average": r.final_score(window), "seconds": r.seconds,
                         "kept": r.seed == trained.kept_seed})
        tables.append(f"## {model} (kept seed {trained.kept_seed})\n\n{summarise(trained.runs, window)}")
    markdown = plan.header("Fig. 13: convergence of A2C training", MODELS) + "\n" + "\n\n".join(tables)

    def plot(path: Path) -> Path:
        finals = {m: {f"seed {r['seed']}": r["final_moving_average"] for r in rows if r["model"] == m} for m in MODELS}
        return plot_values(finals, path, "final moving average of the reward", "Fig. 13: where each seed ended")

    return plan.write("fig13", rows, markdown, plot) + written, markdown


def table2(plan: Plan) -> tuple[list[Path], str]:
    """% improvement of A2C over every other policy on YOLOv3."""
    model = "yolov3"
    summaries = _summaries(plan.evaluate(plan.setting(model)))
    gains = improvements(summaries)
    labels = [label for _, label in IMPROVEMENT_METRICS]
    rows = [{"model": model, "baseline": name, **{f"{attr}_improvement_pct": pct for attr, pct in g.items()}}
            for name, g in gains.items()]
    table = markdown_table(["A2C vs", *(f"{label} %" for label in labels)],
                           [[name, *g.values()] for name, g in gains.items()])
    markdown = (plan.header("Table 2: % improvement of A2C over each policy (YOLOv3; positive = A2C lower)", [model])
                + f"\n{table}\n\nFor reference, {PAPER_TABLE2}.\n\n{format_table(summaries)}")

    def plot(path: Path) -> Path:
        by_metric = {label: {name: g[attr] for name, g in gains.items()} for attr, label in IMPROVEMENT_METRICS}
        return plot_values(by_metric, path, "A2C improvement (%)", f"Table 2 ({plan.profiles} profiles, YOLOv3)")

    return plan.write("table2", rows, markdown, plot), markdown


def table4(plan: Plan) -> tuple[list[Path], str]:
    """Latency breakdown of the learned policy of each model."""
    learned = {model: plan.evaluate(plan.setting(model))[A2C]
               for model in tqdm(MODELS, desc="table4", unit="model", disable=not plan.progress)}
    rows = [{"model": m, **{f"mean_{s}": ev.breakdown[s] for s in STAGES}, "mean_delay": ev.summary.mean_delay,
             "drop_rate": ev.summary.drop_rate,
             "split_share": ";".join(f"{k}={v:.3f}" for k, v in ev.split_share.items())} for m, ev in learned.items()]
    shares = markdown_table(["model", "splits used (share of frames)"],
                            [[m, ", ".join(f"{k} {v:.1%}" for k, v in ev.split_share.items())]
                             for m, ev in learned.items()])
    markdown = (plan.header("Table 4: latency breakdown of the learned (A2C) policies", MODELS)
                + f"\n{breakdown_table(learned, label='model')}\n\n{shares}")
    return plan.write("table4", rows, markdown,
                      lambda p: plot_breakdown(learned, p, f"Table 4: A2C latency breakdown ({plan.profiles})")), \
        markdown


def oracle_gap(plan: Plan) -> tuple[list[Path], str]:
    """Every policy's system cost over the best clairvoyant policy's, per model."""
    gaps, rows, reference = {}, [], {}
    for model in tqdm(MODELS, desc="oracle-gap", unit="model", disable=not plan.progress):
        summaries = _summaries(plan.evaluate(plan.setting(model)))
        gaps[model] = oracle_gaps(summaries)
        reference[model] = clairvoyant_reference(summaries)
        rows += [{"model": model, "policy": name, "system_cost": summaries[name].system_cost,
                  "reference": reference[model][0], "reference_cost": reference[model][1], "gap_pct": gap}
                 for name, gap in gaps[model].items()]
    policies = list(dict.fromkeys(p for g in gaps.values() for p in g))
    table = markdown_table(["policy", *(f"{m} gap %" for m in MODELS)],
                           [[p, *(gaps[m].get(p, 0.0) for m in MODELS)] for p in policies])
    references = ", ".join(f"{m}: {name} ({cost:.3f})" for m, (name, cost) in reference.items())
    markdown = (plan.header("Oracle gap: system cost over the best clairvoyant policy's, % (goal for A2C <= 10%)",
                            MODELS)
                + f"\n{table}\n\nReference per model (0 in its column): {references}. The clairvoyant policies are "
                  "the per-frame oracle (exact future, myopic: see policies/oracle.py) and best-fixed (the "
                  "cheapest single split on each run, in hindsight); a policy that plans ahead can beat both "
                  "(negative gap).")
    return plan.write("oracle-gap", rows, markdown,
                      lambda p: plot_values(gaps, p, "system cost over the best clairvoyant policy's (%)",
                                            f"Oracle gap ({plan.profiles} profiles)")), markdown


@dataclass(frozen=True)
class Scenario:
    """A named setting where splitting matters: a model and the config keys it changes."""

    name: str
    model: str
    overrides: Mapping[str, object]
    train_trace: str | None = None
    """The trace the learners train on when the scenario's own is a real uplink (never the evaluated one)."""


SCENARIO_JITTER = 0.1
"""``sim.jitter`` of every scenario: each frame interval scaled by U[0.9, 1.1]. Without it a constant link's
runs are the same for every arrival seed, so the held-out evaluation seeds would replay a training episode."""
SCENARIO_SETTINGS = {"codec.frame_encoding": "jpeg", "sim.jitter": SCENARIO_JITTER}
TMOBILE_TRACE = "mahimahi:config/traces/TMobile-LTE-short.up"
VERIZON_TRACE = "mahimahi:config/traces/Verizon-LTE-short.up"
SCENARIOS: tuple[Scenario, ...] = (
    *(Scenario(f"{model}-{interval:g}s", model, {"sim.interval": interval, **SCENARIO_SETTINGS})
      for model in MODELS for interval in TABLE5_INTERVALS[model]),
    Scenario("resnet18-bursts", "resnet18",
             {"sim.interval": 0.2, "sim.burst_every": 10, "sim.burst_size": 4, **SCENARIO_SETTINGS}),
    Scenario("alexnet-lte-att", "alexnet", {"link.trace": LTE_TRACE, **SCENARIO_SETTINGS}, VERIZON_TRACE),
    Scenario("resnet18-lte-tmobile", "resnet18", {"link.trace": TMOBILE_TRACE, **SCENARIO_SETTINGS}, LTE_TRACE),
    Scenario("yolov3-lte-verizon", "yolov3", {"link.trace": VERIZON_TRACE, **SCENARIO_SETTINGS}, TMOBILE_TRACE),
    *(Scenario(f"yolov3-shared-edge-{n}", "yolov3", {"sim.devices": n, **SCENARIO_SETTINGS}) for n in (2, 4)),
    *(Scenario(f"resnet18-shared-edge-{n}", "resnet18", {"sim.interval": 0.2, "sim.devices": n, **SCENARIO_SETTINGS})
      for n in (2, 4)),
)
"""``scissor experiment scenarios``: the paper's Table 5 intervals with its Table 1 profiles, bursts (4 extra
frames at once every 10), the LTE uplinks of config/traces/, and 2 and 4 devices sharing one edge (each its own
camera, queues, uplink and copy of the policy); split 0 sends the JPEG frame in all of them
(a raw frame is never worth its bytes; with it, edge-only-jpeg would be a candidate no other policy has), and
the frame intervals vary by :data:`SCENARIO_JITTER`."""
SCENARIO_POLICIES: tuple[str, ...] = tuple(n for n in (*BASELINES, "myopic-oracle", HINDSIGHT) if n != "edge-only")
"""What ``scenarios`` runs: every causal baseline choosing among the config's candidates (not ``edge-only``,
whose raw frame is not one: the bound covers the candidates only) and both clairvoyant references."""
SPLITTING_MATTERS = 5.0
"""A scenario where the bound is more than this many percent below the best fixed split."""
SCREEN_LABELS = 64
"""The DP's label budget for a first, fast bound of each scenario: when the best fixed split is already within
:data:`SPLITTING_MATTERS` % of it, splitting does not matter (a tighter bound only comes closer); otherwise the
bound is recomputed with the default budget (``bound.MAX_LABELS``)."""


LEARNERS: tuple[str, ...] = ("a2c", "a2c-paper", "ppo")
"""scissor's A2C (default settings), the paper's A2C (``--paper``) and PPO (stable-baselines3)."""
GOAL_GAP = 10.0
"""The goal: where splitting matters, the best learner beats every causal baseline and is within this many
percent of the bound."""


def _learners(plan: Plan, scenario: Scenario, config: ScissorConfig) -> dict[str, Evaluation]:
    """Each learner trained for the scenario -- on its ``train_trace`` when it has one, else on the training
    episodes' arrival seeds -- and evaluated on the scenario's held-out seeds (:data:`EVAL_SEED_OFFSET`)."""
    training = copy.deepcopy(config)
    if scenario.train_trace:
        training.link.trace = scenario.train_trace
    paper = copy.deepcopy(training)
    use_paper_agent(paper.agent)
    runs = {"a2c": (A2C, plan.trained(training).path), "a2c-paper": (A2C, plan.trained(paper).path),
            "ppo": (f"{PPO_PREFIX}{plan.trained_ppo(training)}", None)}
    profile = ModelProfile.load(plan.profile_path(config.model.name))
    seeds = plan.eval_seed_list(config)
    out = {}
    for label, (name, file) in runs.items():
        [evaluation] = evaluate(config, profile, [name], seeds, plan.frames, file, progress=False).values()
        out[label] = dataclasses.replace(evaluation, policy=label)
    return out


def scenarios(plan: Plan) -> tuple[list[Path], str]:
    """Every causal baseline in each scenario of :data:`SCENARIOS`, with the lower bound of the same runs
    (:mod:`scissor_core.simulation.bound`) and each policy's gap to it; where splitting matters (the bound more
    than :data:`SPLITTING_MATTERS` % below the best fixed split) the learners too, and whether the goal is met.
    At a shared edge the bound is :func:`~scissor_core.simulation.bound.shared_edge_bound`, the learners train
    there (every device deciding with the one learner) and the myopic oracle is left out (its view is one
    device's)."""
    rows, table, gaps, costs = [], [], {}, {}
    for scenario in tqdm(SCENARIOS, desc="scenarios", unit="scenario", disable=not plan.progress):
        config = plan.setting(scenario.model, scenario.overrides)
        shared = config.sim.devices > 1
        evaluations = dict(plan.evaluate(config, [n for n in SCENARIO_POLICIES
                                                  if not (shared and n == "myopic-oracle")]))
        seeds = plan.eval_seed_list(config)
        profile = ModelProfile.load(plan.profile_path(scenario.model))
        bounds = run_bounds(config, profile, seeds, plan.frames, SCREEN_LABELS)
        fixed = evaluations[HINDSIGHT].summary.system_cost
        if fixed > bound_per_frame(bounds) * (1 + SPLITTING_MATTERS / 100):  # splitting may matter: tighten the bound
            bounds = [max(screen, tight, key=lambda b: b.total)
                      for screen, tight in zip(bounds, run_bounds(config, profile, seeds, plan.frames), strict=True)]
        frames = sum(b.queueing.frames for b in bounds)
        bound = bound_per_frame(bounds)
        matters = fixed > bound * (1 + SPLITTING_MATTERS / 100)
        if matters:
            evaluations.update(_learners(plan, scenario, config))
        summaries = _summaries(evaluations)
        causal = {n: m.system_cost for n, m in summaries.items() if n in BASELINES}
        best = min(causal, key=causal.get)
        gaps[scenario.name] = bound_gaps({n: m for n, m in summaries.items() if n != "myopic-oracle"}, bound)
        costs[scenario.name] = {"lower-bound": bound, **{n: m.system_cost for n, m in summaries.items()}}
        learned = {n: summaries[n].system_cost for n in LEARNERS if n in summaries}
        top = min(learned, key=learned.get) if learned else None
        goal = ("-" if not matters else "met" if learned[top] < causal[best] and gaps[scenario.name][top] <= GOAL_GAP
                else "not met")
        table.append([scenario.name, bound, fixed, best, causal[best], gaps[scenario.name][best], top or "-",
                      learned.get(top, math.nan), gaps[scenario.name].get(top, math.nan) if top else math.nan,
                      "yes" if matters else "no", goal])
        labels = {"scenario": scenario.name, "model": scenario.model,
                  **{k: str(v) for k, v in scenario.overrides.items()}, "train_trace": scenario.train_trace or ""}
        rows += [{**labels, "policy": n, "system_cost": m.system_cost, "drop_rate": m.drop_rate, "bound": bound,
                  "gap_to_bound_pct": gaps[scenario.name].get(n, math.nan)} for n, m in summaries.items()]
        rows.append({**labels, "policy": "lower-bound", "system_cost": bound,
                     "bound_queueing_dp": sum(b.queueing.total for b in bounds) / frames,
                     "bound_capacity_lp": sum(b.capacity for b in bounds) / frames})
    columns = [*LEARNERS, *SCENARIO_POLICIES]
    matrix = markdown_table(["scenario", "lower bound", *columns],
                            [[name, c["lower-bound"], *(c.get(p, math.nan) for p in columns)]
                             for name, c in costs.items()])
    summary = markdown_table(["scenario", "lower bound", "best fixed", "best causal", "its cost", "its gap %",
                              "best learner", "its cost", "its gap %", f"bound > {SPLITTING_MATTERS:g}% below fixed",
                              f"goal (beats every causal, gap <= {GOAL_GAP:g}%)"], table)
    settings = "; ".join(f"{sc.name} = {sc.model} " + ", ".join(f"{k}={v}" for k, v in sc.overrides.items())
                         + (f" (learners trained on {sc.train_trace})" if sc.train_trace else "") for sc in SCENARIOS)
    markdown = (plan.header("Scenarios where splitting matters: learners and causal baselines against the lower "
                            "bound", list(MODELS))
                + f"\nScenarios (each changes the header's settings): {settings}. Learners (a2c, a2c-paper: the "
                  f"paper's settings, ppo: stable-baselines3, {PPO_TIMESTEPS} frames per seed) are trained only where "
                  "splitting matters. Gaps are to the lower bound.\n\n"
                + f"## System cost per frame\n\n{matrix}\n\n## Best causal and best learner against the bound"
                  f"\n\n{summary}\n")
    return plan.write("scenarios", rows, markdown, lambda p: plot_scenario_gaps(table, p, plan.profiles)), markdown


def plot_scenario_gaps(table: Sequence[Sequence[object]], path: Path, profiles: str) -> Path:
    """Per scenario with a bound: the gap to it of the best fixed split, the best causal policy and the best
    learner (rows of the scenarios summary table)."""
    bars = {}
    for name, bound, fixed, _, _, causal_gap, _, _, learner_gap, *_ in table:
        if not math.isnan(bound):
            bars[name] = {"best fixed": (fixed / bound - 1) * 100 if bound > 0 else math.nan,
                          "best causal": causal_gap, "best learner": learner_gap}
    return plot_values(bars, path, "system cost over the lower bound (%)",
                       f"Scenarios ({profiles} profiles): gap to the lower bound (learners only where "
                       f"splitting matters)")


CODEC_MODEL = "yolov3-tiny"
"""The model of ``codec-choice``: the one with real weights, so its codec table's accuracy is real."""
CODEC_FLOOR = 0.98
"""``codec.min_map`` of ``codec-choice``."""
CODEC_TRACES: tuple[tuple[str, str], ...] = (("5 MB/s", "const:5MB"), ("ATT LTE", LTE_TRACE),
                                              ("80 kB/s", "const:80kB"))
"""Links of ``codec-choice``: fast, a real LTE uplink, and one too slow for the smallest JPEG at the floor."""


def codec_choice(plan: Plan) -> tuple[list[Path], str]:
    """[real-models] The codec chosen with the split, against edge-only JPEG at equal accuracy (YOLOv3-tiny,
    its codec table ``config/codecs/yolov3-tiny.csv``). On each link every policy runs twice: with the config's
    one codec (raw float32, lossless; edge-only-jpeg then sends JPEG q90, which is *less* accurate), and with
    ``codec.min_map`` = :data:`CODEC_FLOOR`, where every policy chooses (split, codec) pairs of the table at
    that mAP or better and edge-only-jpeg sends the smallest JPEG that reaches it. Accuracy column: the
    share-weighted mAP agreement of the pairs each policy sent (device-only and raw frames: 1). The paper has
    no YOLOv3-tiny, so this runs on the measured profile whatever ``--profiles`` says."""
    from scissor_core.policies import JPEG_CODEC
    from scissor_core.runtime.codec_table import read_codec_csv

    plan = dataclasses.replace(plan, profiles="measured", _evaluations={})  # no paper calibration of this model
    model, groups, rows, tables, costs = CODEC_MODEL, {}, [], [], []
    table_path = codec_table_path(plan.setting(model, {"codec.min_map": CODEC_FLOOR}).codec, model)
    agreement = {(r.split, r.codec): r.agreement for r in read_codec_csv(table_path)}

    def accuracy(policy: str, ev: Evaluation, chosen: bool) -> float:
        if not chosen:  # raw float32 is lossless; only edge-only-jpeg sends something else
            return agreement[(EDGE_ONLY, JPEG_CODEC)] if policy == "edge-only-jpeg" else 1.0
        return sum(share * agreement.get(tuple(option.split(OPTION_MARK, 1)), 1.0) for option, share in
                   ev.split_share.items())

    for label, trace in tqdm(CODEC_TRACES, desc="codec-choice", unit="link", disable=not plan.progress):
        for mode, overrides in (("one codec (raw)", {}), (f"chosen, mAP >= {CODEC_FLOOR:g}",
                                                         {"codec.min_map": CODEC_FLOOR})):
            evaluations = plan.evaluate(plan.setting(model, {"link.trace": trace, **overrides}))
            group = f"{label}, {mode}"
            groups[group] = _summaries(evaluations)
            sent = {name: accuracy(name, ev, bool(overrides)) for name, ev in evaluations.items()}
            rows += [{**row, "accuracy": sent[row["policy"]]}
                     for row in metrics_rows({"model": model, "link.trace": trace, "codec": mode}, evaluations)]
            costs.append((group, {name: (ev.summary.system_cost, sent[name]) for name, ev in evaluations.items()}))
            shares = markdown_table(["policy", "pairs sent (share of frames)"],
                                    [[name, ", ".join(f"{k} {v:.0%}" for k, v in sorted(
                                        ev.split_share.items(), key=lambda kv: -kv[1])[:4])]
                                     for name, ev in evaluations.items()])
            tables.append(f"## {group}\n\n{format_table(groups[group])}\n\n{shares}")
    policies = list(dict.fromkeys(name for _, by in costs for name in by))
    summary = markdown_table(["policy", *(f"{g}: cost (mAP)" for g, _ in costs)],
                             [[name, *(f"{by[name][0]:.3f} ({by[name][1]:.3f})" if name in by else "-"
                                       for _, by in costs)] for name in policies])
    markdown = (plan.header(f"Codec chosen with the split vs edge-only JPEG at equal accuracy ({model}, "
                            f"mAP floor {CODEC_FLOOR:g}, table {table_path})", [model])
                + "\n## System cost (accuracy of what was sent) per link and codec mode\n\n" + summary
                + "\n\n" + "\n\n".join(tables))
    return plan.write("codec-choice", rows, markdown,
                      lambda p: plot_bars(groups, p, f"codec-choice ({plan.profiles} profiles)")), markdown


EXPERIMENTS: dict[str, Callable[[Plan], tuple[list[Path], str]]] = {
    "fig9": fig9, "fig10": fig10, "fig11": fig11, "fig12": fig12, "fig13": fig13,
    "table2": table2, "table4": table4, "oracle-gap": oracle_gap, "scenarios": scenarios, "lte": lte,
    "codec-choice": codec_choice,
}
