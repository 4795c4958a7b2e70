"""Commands in the simulator: simulate, train, evaluate (also --live), experiment."""
from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from scissor_cli.common import (PAPER_HELP, add_config_options, add_progress_option, add_simulation_options,
                                config_of, log, simulation_setup)
from scissor_core.config import CONFIG_DIR, ConfigError, use_paper_agent
from scissor_core.models.registry import MODEL_NAMES


def cmd_simulate(args: argparse.Namespace) -> int:
    from scissor_core.analysis.metrics import RunMetrics, format_table, per_split, plot_run
    from scissor_core.policies import make_policy
    from scissor_core.runtime.costs import SplitCosts
    from scissor_core.runtime.outcome import write_csv
    from scissor_core.runtime.traces import parse_trace
    from scissor_core.simulation.simulator import Simulator

    config, profile, names = simulation_setup(args)
    model, sim_cfg = profile.model, config.sim
    trace = parse_trace(config.link.trace, seed=sim_cfg.seed)
    print(f"# {model} profile {args.profile} ({profile.weights}); trace {trace.name} "
          f"(mean {trace.mean_rate() / 1e6:.3g} MB/s); interval {sim_cfg.interval_for(model):g} s, "
          f"T {config.queues.timeout_for(model):g} s, w {config.reward.w:g}, F {config.reward.drop_penalty:g}, "
          f"{sim_cfg.frames} frames, seed {sim_cfg.seed}")
    # codec.min_map: every policy chooses (split, codec) options of the codec table; --codec is then unused
    chosen_codecs = SplitCosts.for_config(profile, config.codec) if config.codec.min_map is not None else None
    rows = {}
    for name in names:
        policy = make_policy(name, profile, codec=args.codec, w=config.reward.w,
                             frame_interval=sim_cfg.interval_for(model), costs=chosen_codecs)
        outcomes = Simulator.from_config(config, policy, trace).run(sim_cfg.frames)
        rows[name] = RunMetrics.of(outcomes)
        stem = args.output / f"{model}-{name.replace(':', '_')}"
        written = [write_csv(outcomes, stem.with_suffix(".csv"))]
        if not args.no_plot:
            written.append(plot_run(outcomes, stem.with_suffix(".png"), f"{model}, {name}, {trace.name}",
                                    list(policy.costs.splits)))
        log.info("wrote %s", ", ".join(map(str, written)))
        if len(names) == 1:
            print(format_table(rows))
            print()
            print(format_table(per_split(outcomes), label="split"))
    if len(names) > 1:
        print(format_table(rows))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from scissor_core.simulation.train import summarise, train, write_curves

    config, profile, _ = simulation_setup(args)
    agent = config.agent
    for key in ("seeds", "episodes", "episode_frames"):
        if getattr(args, key) is not None:
            setattr(agent, key, getattr(args, key))
    if args.paper:
        use_paper_agent(agent)
    model = profile.model
    if args.learner == "ppo":
        return train_ppo_command(args, config, profile)
    print(f"# training a2c on {model} (profile {args.profile}, {profile.weights}); trace {config.link.trace}, "
          f"interval {config.sim.interval_for(model):g} s, T {config.queues.timeout_for(model):g} s; "
          f"{agent.seeds} seed(s), up to {agent.episodes} episodes of {agent.episode_frames} frames; "
          f"{agent.describe()}")
    best, runs = train(config, profile, agent.seeds, progress=not args.no_progress)
    out_dir = args.results / model
    csv_path, png_path = write_curves(runs, agent.convergence_window, out_dir,
                                      f"A2C on {model}: mean reward per frame ({len(runs)} seeds)")
    policy_path = best.policy.save(args.output or out_dir / "policy.pt")
    print(summarise(runs, agent.convergence_window))
    print(f"kept the median run (seed {best.seed}); wrote {policy_path}, {csv_path}, {png_path}")
    return 0


def train_ppo_command(args: argparse.Namespace, config, profile) -> int:
    """``scissor train --learner ppo``: stable-baselines3 PPO, ``agent.seeds`` seeds, the median run kept."""
    from scissor_core.simulation.ppo import train_ppo
    from scissor_core.simulation.train import median_run, summarise, write_curves

    agent, model = config.agent, profile.model
    timesteps = args.timesteps or agent.episodes * agent.episode_frames
    print(f"# training ppo on {model} (profile {args.profile}); trace {config.link.trace}, interval "
          f"{config.sim.interval_for(model):g} s; {agent.seeds} seed(s), {timesteps} frames each in episodes of "
          f"{agent.episode_frames}")
    trained = [train_ppo(config, profile, seed, timesteps) for seed in range(agent.seeds)]
    window = agent.convergence_window
    runs = [run for run, _ in trained]
    best_run, best = trained[median_run(runs, window)]
    out_dir = args.results / model
    csv_path, png_path = write_curves(runs, window, out_dir, f"PPO on {model}: mean reward per frame")
    policy_path = best.save(args.output or out_dir / "ppo.zip")
    print(summarise(runs, window))
    print(f"kept the median run (seed {best_run.seed}); wrote {policy_path}, {csv_path}, {png_path}; evaluate it "
          f"with --policy ppo:{policy_path}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from scissor_core.analysis.evaluate import (A2C, ALL_POLICIES, CLAIRVOYANT, bound_gaps, bound_per_frame,
                                                breakdown_table,
                                                clairvoyant_reference, evaluate, improvements, markdown_table,
                                                metrics_rows, oracle_gaps, plot_bars, run_bounds, write_rows)
    from scissor_core.analysis.metrics import format_table
    from scissor_core.policies.serving import default_policy_path
    from scissor_core.simulation.bound import MAX_LABELS

    if args.live:
        return evaluate_live_command(args)
    if args.profile is None:
        raise ConfigError("scissor evaluate: --profile is required (or --live)")
    if args.bound_labels is not None and (not args.bound or args.bound_labels < 1):
        raise ConfigError("scissor evaluate: --bound-labels needs --bound and a count of at least 1")
    if args.frames is None:
        args.frames = 5000
    for flag, value in (("--bag", args.bag), ("--model", args.model), ("--topic", args.topic),
                        ("--netns", args.netns or None)):
        if value is not None:
            raise ConfigError(f"scissor evaluate: {flag} needs --live")
    args.output = args.output or Path("results/evaluate")
    config, profile, names = simulation_setup(args)
    if args.policy == "all":
        names = list(ALL_POLICIES)
    model = profile.model
    policy_file = args.policy_file or default_policy_path(config, model)
    seeds = [config.sim.seed + i for i in range(args.seeds)]
    print(f"# {model}: profile {args.profile}; trace {config.link.trace}, "
          f"interval {config.sim.interval_for(model):g} s, "
          f"T {config.queues.timeout_for(model):g} s, w {config.reward.w:g}, F {config.reward.drop_penalty:g}; "
          f"{config.sim.frames} frames x seeds {seeds}" + (f"; a2c from {policy_file}" if A2C in names else ""))
    evaluations = evaluate(config, profile, names, seeds, config.sim.frames, policy_file,
                           progress=not args.no_progress)
    summaries = {name: ev.summary for name, ev in evaluations.items()}
    text = [format_table(summaries), "", breakdown_table(evaluations)]
    if A2C in summaries and len(summaries) > 1:
        gains = improvements(summaries)
        text += ["", "% improvement of a2c over each policy (positive = a2c lower):", "",
                 markdown_table(["a2c vs", "data %", "delay %", "drop rate %", "system cost %"],
                                [[n, *g.values()] for n, g in gains.items()])]
    if any(name in summaries for name in CLAIRVOYANT):
        reference = clairvoyant_reference(summaries)[0]
        text += ["", markdown_table(["policy", f"cost over {reference} (clairvoyant) %"],
                                    oracle_gaps(summaries).items())]
    if args.bound:
        bounds = run_bounds(config, profile, seeds, config.sim.frames, args.bound_labels or MAX_LABELS)
        bound = bound_per_frame(bounds)
        text += ["", f"lower bound on the system cost: {bound:.3f} (per seed: queueing DP "
                 + ", ".join(f"{b.queueing.per_frame:.3f}" for b in bounds) + "; capacity LP "
                 + ", ".join(f"{b.capacity / b.queueing.frames:.3f}" for b in bounds) + ")", "",
                 markdown_table(["policy", "cost over the lower bound %"], bound_gaps(summaries, bound).items())]
    print("\n".join(text))
    stem = args.output / model
    written = [write_rows(metrics_rows({"model": model}, evaluations), stem.with_suffix(".csv"))]
    stem.with_suffix(".md").write_text("\n".join(text) + "\n")
    written += [stem.with_suffix(".md"),
                plot_bars({model: summaries}, stem.with_suffix(".png"), f"{model}: every policy")]
    print(f"wrote {', '.join(map(str, written))}")
    return 0


def evaluate_live_command(args: argparse.Namespace) -> int:
    """``scissor evaluate --live``: scissor_bringup/evaluate_live.py (imports rclpy: only here)."""
    from scissor_bringup.evaluate_live import LIVE_POLICIES, check_policies, evaluate_live, scenario_config

    config = config_of(args)  # --set, --model: refuse a bad config before any node starts
    model = config.model.name
    names = check_policies(list(LIVE_POLICIES) if args.policy == "all" else args.policy.split(","))
    output = args.output or Path("results/evaluate-live")
    overrides = dict(item.partition("=")[::2] for item in args.overrides)
    scenario = scenario_config(args.config, {k.strip(): yaml.safe_load(v) for k, v in overrides.items()}, output,
                               model=model, trace=args.trace or config.link.trace, interval=args.interval,
                               frames=args.frames, bag=args.bag, topic=args.topic, profile=args.profile,
                               policy_file=args.policy_file, timeout=args.timeout)
    print(f"# live evaluation of {', '.join(names)} on {model}: {scenario.frames} frames of {scenario.source}, "
          f"one every {scenario.interval:g} s, trace {scenario.trace}; config {scenario.config_file}")
    report = evaluate_live(scenario, names, output, progress=not args.no_progress, netns=args.netns)
    print(report.text)
    print(f"wrote {', '.join(map(str, report.written))} and {output}/runs/POLICY/")
    return 1 if any(run.problems for run in report.runs.values()) else 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from scissor_core.analysis.experiments import EXPERIMENTS, Plan

    config = config_of(args)
    if args.paper:
        use_paper_agent(config.agent)
    plan = Plan(config, profiles=args.profiles, profile_dir=args.profile_dir, results=args.results,
                frames=args.frames, eval_seeds=args.seeds, train_seeds=args.train_seeds,
                progress=not args.no_progress)
    for key in ("episodes", "episode_frames"):
        if getattr(args, key) is not None:
            setattr(plan.base.agent, key, getattr(args, key))
    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    for name in names:
        written, markdown = EXPERIMENTS[name](plan)
        print(markdown)
        print(f"\nwrote {', '.join(map(str, written))}\n")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate policies on a profile and a bandwidth trace",
                       description="Discrete-event simulation of the device's queues, the link (bandwidth trace) "
                                   "and the edge, driven by a profile from `scissor profile`. Prints the metrics "
                                   "(bytes/frame, delays, p50/p95/p99, drop rate, system cost, frames/s) and writes "
                                   "one CSV of FrameOutcome records and one PNG of delay over time per policy.")
    add_simulation_options(p, frames=None, policy="greedy")
    p.add_argument("--codec", default="raw", help="wire codec label whose profiled bytes are sent (default raw; "
                   "unused with codec.min_map, where every policy chooses the codec with the split)")
    p.add_argument("--output", type=Path, default=Path("results/simulate"),
                   help="folder for MODEL-POLICY.csv/.png (default results/simulate)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("train", help="train the A2C agent in the simulator (several seeds, keep the median)",
                       description="Train A2C on a profile in the simulator: episodes of agent.episode_frames "
                                   "frames until the moving average of the episode reward stops improving or "
                                   "agent.episodes is reached, for several seeds; keeps the median run's "
                                   "policy and writes the reward curves (CSV + PNG, the paper's Figure 13).")
    add_simulation_options(p, frames=None, policy="a2c")
    p.add_argument("--seeds", type=int, help="training runs with seeds 0..N-1 (default agent.seeds, 5)")
    p.add_argument("--episodes", type=int, help="maximum episodes per seed (default agent.episodes, 500)")
    p.add_argument("--episode-frames", type=int, help="frames per episode (default agent.episode_frames, 1000)")
    p.add_argument("--paper", action="store_true", help=PAPER_HELP)
    p.add_argument("--learner", choices=("a2c", "ppo"), default="a2c",
                   help="a2c (scissor's agent; --paper for the paper's settings) or ppo (stable-baselines3 on the "
                        "gymnasium environment, the paper's 5-value state)")
    p.add_argument("--timesteps", type=int,
                   help="with --learner ppo: frames per seed (default agent.episodes x agent.episode_frames)")
    p.add_argument("--output", type=Path, help="policy file (default RESULTS/MODEL/policy.pt, ppo: ppo.zip)")
    p.add_argument("--results", type=Path, default=Path("results/train"),
                   help="folder for the reward curves (default results/train)")
    add_progress_option(p)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("evaluate", help="every policy (a2c from a policy file + baselines) on the same traces/seeds",
                       description="Run every policy on the same arrivals, trace and seeds; print the metrics "
                                   "table, latency breakdown, a2c's improvement and the oracle gap; write "
                                   "OUTPUT/MODEL.csv, .md and .png (bar charts).")
    add_simulation_options(p, frames=5000, policy="all")
    p.add_argument("--policy-file", type=Path, help="a2c policy file (default agent.policy_file or "
                                                     "config/policies/MODEL.pt)")
    p.add_argument("--seeds", type=int, default=5, help="seeds sim.seed .. sim.seed+N-1 (arrivals, trace) (default 5)")
    p.add_argument("--output", type=Path, help="folder (default results/evaluate, with --live results/evaluate-live)")
    add_progress_option(p)
    p.add_argument("--bound", action="store_true",
                   help="also compute each seed's lower bound (no policy does better on those frames; "
                        "sim.compute_spread must be 0) and every policy's gap to it")
    p.add_argument("--bound-labels", type=int, default=None, metavar="N",
                   help="with --bound: labels the queueing DP keeps per frame before merging (default "
                        "bound.MAX_LABELS, 512; more is tighter and slower: ResNet18 at 0.15 s, 1000 frames: 64 labels "
                        "0.221 in 5 s, 512 labels 0.290 in 25 s, DP and LP)")
    p.add_argument("--netns", action="store_true",
                   help="with --live: the robot side and the edge as two hosts behind a tc-shaped veth link "
                        "following the trace (root); see scissor testbed --netns")
    p.add_argument("--live", action="store_true",
                   help="run each policy on the live testbed (not the myopic oracle) on the same frames and trace, one "
                        "frame per --interval, then the simulator on the same scenario: writes the metrics and "
                        "the simulator-vs-testbed calibration (--profile: default device.profile or "
                        "config/profiles/MODEL.json; --frames: default 60 scene frames, or every frame of --bag)")
    p.add_argument("--policies", dest="policy", default=argparse.SUPPRESS, help="same as --policy")
    p.add_argument("--bag", type=Path, help="with --live: replay this rosbag2's frames (default: the synthetic scene)")
    p.add_argument("--topic", help="with --bag: image topic (default: the bag's only image topic)")
    p.add_argument("--model", choices=MODEL_NAMES, help="with --live: model (default model.name of the config)")
    p.set_defaults(func=cmd_evaluate, frames=None)
    p._option_string_actions["--profile"].required = False  # not with --live: the device's profile
    from scissor_core.analysis.experiments import EXPERIMENTS, PROFILE_SETS
    p = sub.add_parser("experiment", help="one of the paper's experiments (or all): CSV, PNG, markdown",
                       description="Run an experiment of the paper and write RESULTS/NAME/PROFILES/NAME.csv, .md "
                                   ".png. Settings needing A2C train it first (cached under RESULTS/policies/).")
    p.add_argument("name", choices=[*EXPERIMENTS, "all"], help="experiment")
    p.add_argument("--profiles", choices=PROFILE_SETS, default="paper",
                   help="paper: config/profiles/MODEL-paper.json (default); measured: MODEL.json")
    p.add_argument("--profile-dir", type=Path, default=CONFIG_DIR / "profiles", help="where the profiles are")
    p.add_argument("--paper", action="store_true", help=PAPER_HELP)
    p.add_argument("--results", type=Path, default=Path("results"), help="results root (default results)")
    p.add_argument("--frames", type=int, default=5000, help="frames per evaluation run (default 5000)")
    p.add_argument("--seeds", type=int, default=5, help="evaluation seeds per policy (default 5)")
    p.add_argument("--train-seeds", type=int, default=5, help="A2C training seeds, median kept (default 5)")
    p.add_argument("--episodes", type=int, help="maximum training episodes (default agent.episodes)")
    p.add_argument("--episode-frames", type=int, help="frames per training episode (default agent.episode_frames)")
    add_progress_option(p)
    add_config_options(p)
    p.set_defaults(func=cmd_experiment)
