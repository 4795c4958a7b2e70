"""The ``scissor`` command line: inspect splits, verify, profile and benchmark models.

Every subcommand reads the same typed config (``--config``, default
``config/scissor.yaml``) and accepts ``--set section.key=value`` overrides.
"""
from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from scissor_core.config import DEFAULT_CONFIG, ConfigError, ScissorConfig, load_config, use_paper_agent
from scissor_core.models.registry import DEVICE_ONLY, MODEL_NAMES, VisionModel, load_model

log = logging.getLogger("scissor")

PAPER_HELP = ("train A2C with the paper's learner settings (batch 5 every 5 from a 10,000 replay buffer, no entropy "
              "bonus or advantage normalisation, the paper's 5-value state, patience 50)")


def _add_common(p: argparse.ArgumentParser, model: bool = True) -> None:
    if model:
        p.add_argument("model", nargs="?", choices=MODEL_NAMES,
                       help="model to work on (default: model.name of the config, yolov3)")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                   help=f"YAML configuration file (default: {DEFAULT_CONFIG.relative_to(DEFAULT_CONFIG.parents[1])})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config value (YAML syntax for the value); repeatable")
    p.add_argument("--weights", help="weight file (state_dict .pt/.pth, or Darknet .weights for yolov3); "
                                     "overrides model.weights; without one a seeded random init is used")
    p.add_argument("--input-size", type=int, help="network input side in pixels (multiple of 32)")
    p.add_argument("--scene-seed", type=int, default=0, help="seed of the synthetic traffic scene whose first frame is the input")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")


def _config(args: argparse.Namespace) -> ScissorConfig:
    overrides = {}
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects SECTION.KEY=VALUE, got {item!r}")
        overrides[key.strip()] = yaml.safe_load(value)
    if getattr(args, "model", None):
        overrides["model.name"] = args.model
    if args.weights:
        overrides["model.weights"] = str(Path(args.weights).resolve())
    if args.input_size:
        overrides["model.input_size"] = args.input_size
    return load_config(args.config, overrides)


def _model_and_frame(args: argparse.Namespace) -> tuple[ScissorConfig, VisionModel, object]:
    from scissor_core.scene import TrafficScene

    config = _config(args)
    model = load_model(config)
    print(f"# {model.name}: weights {model.weights_label}, input {model.input_size}x{model.input_size}")
    frame = TrafficScene(seed=args.scene_seed).frame(0)
    return config, model, frame


def cmd_splits(args: argparse.Namespace) -> int:
    import torch
    from torch.fx.passes.shape_prop import ShapeProp

    config = _config(args)
    model = load_model(config)
    graph = model.graph
    ShapeProp(graph.module).propagate(model.example_input())
    shapes = {n.name: tuple(n.meta["tensor_meta"].shape) for n in graph.module.graph.nodes
              if isinstance(n.meta.get("tensor_meta"), torch.fx.passes.shape_prop.TensorMetadata)}

    def describe(crossing: Sequence[str]) -> tuple[str, int]:
        numel = sum(int(torch.Size(shapes[t]).numel()) for t in crossing)
        return ", ".join(f"{t}{list(shapes[t])}" for t in crossing), numel * 4

    print(f"# {model.name}: {len(graph.order)} graph nodes; weights {model.weights_label}")
    print("| split | device nodes | crossing tensors | raw float32 bytes |\n|---|---:|---|---:|")
    for name in model.candidates:
        cut = model.cut(name)
        text, size = describe(cut.crossing)
        print(f"| {name} | {len(cut.device_nodes)} | {text} | {size:,} |")
    print(f"('{DEVICE_ONLY}' sends only the post-processed result, not the output tensor listed.)")
    if args.all:
        cuts = graph.enumerate_cuts()
        counts: dict[int, int] = {}
        for c in cuts:
            counts[len(c.crossing)] = counts.get(len(c.crossing), 0) + 1
        print(f"\n{len(cuts)} valid cuts in all; by number of crossing tensors: "
              + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
        if args.all_limit:
            print("| cut | device nodes | crossing tensors | raw float32 bytes |\n|---|---:|---|---:|")
            for c in cuts[: args.all_limit]:
                text, size = describe(c.crossing)
                print(f"| {c.name} | {len(c.device_nodes)} | {text} | {size:,} |")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from scissor_core.verify import format_table, verify_model

    _, model, frame = _model_and_frame(args)
    rows = verify_model(model, frame)
    print(format_table(rows))
    bad = [r.split for r in rows if not r.identical]
    if bad:
        print(f"FAIL: split output differs from the unsplit forward at {bad}", file=sys.stderr)
        return 1
    print(f"OK: all {len(rows)} splits bit-identical to the unsplit forward (raw float32 through the wire codec)")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from scissor_core.profile import format_profile, plot_profile, profile_model

    config, model, frame = _model_and_frame(args)
    settings = config.profile
    for key in ("runs", "warmup", "device_threads", "edge_threads", "device_slowdown", "edge_slowdown"):
        value = getattr(args, key)
        if value is not None:
            setattr(settings, key, value)
    profile = profile_model(model, frame, settings, progress=not args.no_progress)
    out = args.output or Path("profiles") / f"{model.name}.json"
    profile.save(out)
    png = plot_profile(profile, out.with_suffix(".png"))
    print(f"full forward: median {profile.full_forward.median * 1e3:.1f} ms "
          f"(p95 {profile.full_forward.p95 * 1e3:.1f}) with {settings.device_threads} thread(s)")
    print(format_profile(profile))
    print(f"wrote {out} and {png}")
    return 0


def cmd_bench_split(args: argparse.Namespace) -> int:
    from scissor_core.bench import bench_split, format_split_overhead

    _, model, frame = _model_and_frame(args)
    x, _ = model.preprocess(frame)
    rows = bench_split(model, x, runs=args.runs, warmup=args.warmup, threads=args.threads,
                       progress=not args.no_progress)
    print(format_split_overhead(rows, goal=args.goal))
    return 0


def cmd_bench_codec(args: argparse.Namespace) -> int:
    from scissor_core.bench import bench_codec, format_codec_effects
    from scissor_core.scene import TrafficScene

    config, model, _ = _model_and_frame(args)
    scene = TrafficScene(seed=args.scene_seed)
    frames = [scene.frame(i * 7) for i in range(args.frames)]
    splits = args.splits.split(",") if args.splits else [s for s in model.candidates if s != DEVICE_ONLY]
    codecs = args.codecs.split(",") if args.codecs else config.profile.codecs
    rows = bench_codec(model, frames, splits, codecs, progress=not args.no_progress)
    print(f"{args.frames} synthetic traffic frames; errors are against raw float32 transport (lossless)")
    print(format_codec_effects(rows, model.task))
    return 0


def _simulation(args: argparse.Namespace) -> tuple[ScissorConfig, object, list[str]]:
    """Config (with the command's overrides), the profile and the policy names of a simulate/bench run."""
    from scissor_core.config import validate
    from scissor_core.policies import POLICY_NAMES
    from scissor_core.profile import ModelProfile

    config = _config(args)
    for key, value in (("sim.frames", args.frames), ("sim.seed", args.seed), ("sim.interval", args.interval),
                       ("queues.timeout", args.timeout), ("link.trace", args.trace)):
        if value is not None:
            section, _, field_name = key.partition(".")
            setattr(getattr(config, section), field_name, value)
    validate(config, "the command line")
    profile = ModelProfile.load(args.profile)
    names = list(POLICY_NAMES) if args.policy == "all" else args.policy.split(",")
    return config, profile, names


def cmd_simulate(args: argparse.Namespace) -> int:
    from scissor_core.metrics import RunMetrics, format_table, per_split, plot_run
    from scissor_core.outcome import write_csv
    from scissor_core.policies import make_policy
    from scissor_core.simulator import Simulator
    from scissor_core.traces import parse_trace

    config, profile, names = _simulation(args)
    model, sim_cfg = profile.model, config.sim
    trace = parse_trace(config.link.trace, seed=sim_cfg.seed)
    print(f"# {model} profile {args.profile} ({profile.weights}); trace {trace.name} "
          f"(mean {trace.mean_rate() / 1e6:.3g} MB/s); interval {sim_cfg.interval_for(model):g} s, "
          f"T {config.queues.timeout_for(model):g} s, w {config.reward.w:g}, F {config.reward.drop_penalty:g}, "
          f"{sim_cfg.frames} frames, seed {sim_cfg.seed}")
    rows = {}
    for name in names:
        policy = make_policy(name, profile, codec=args.codec, w=config.reward.w,
                             frame_interval=sim_cfg.interval_for(model))
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


def cmd_bench_sim(args: argparse.Namespace) -> int:
    import time

    from scissor_core.policies import make_policy
    from scissor_core.simulator import Simulator
    from scissor_core.traces import parse_trace

    config, profile, names = _simulation(args)
    interval = config.sim.interval_for(profile.model)
    frames = config.sim.frames
    print(f"# simulated frames per second, {frames:,} frames per run, {profile.model} "
          f"(interval {interval:g} s), goal >= 100,000 with a fixed policy")
    print("| policy | trace | frames/s | wall s |\n|---|---|---:|---:|")
    for name in names:
        for spec in args.traces.split(";"):
            trace = parse_trace(spec, seed=config.sim.seed)
            sim = Simulator.from_config(config, make_policy(name, profile, w=config.reward.w,
                                                            frame_interval=interval), trace)
            start = time.perf_counter()
            sim.run(frames)
            wall = time.perf_counter() - start
            print(f"| {name} | {trace.name} | {frames / wall:,.0f} | {wall:.2f} |")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from scissor_core.train import summarise, train, write_curves

    config, profile, _ = _simulation(args)
    agent = config.agent
    for key in ("seeds", "episodes", "episode_frames"):
        if getattr(args, key) is not None:
            setattr(agent, key, getattr(args, key))
    if args.paper:
        use_paper_agent(agent)
    model = profile.model
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


def cmd_bench_transport(args: argparse.Namespace) -> int:
    from scissor_bringup.bench_transport import (  # imports rclpy: only here
        Plan, format_sealing, format_table, measure_sealing, run)

    config = _config(args)
    plan = Plan(tuple(int(float(mb) * 1e6) for mb in args.sizes.split(",")), args.warmup, args.repeats,
                args.timeout, config.ros.malloc_reuse_bytes if args.malloc_reuse is None else args.malloc_reuse)
    profile = config.resolve_path(config.ros.fastdds_profile) if config.ros.fastdds_profile else None
    results = run(plan, args.transports.split(","), args.modes.split(","), str(profile) if profile else None,
                  progress=not args.no_progress)
    allocator = (f"glibc heap reuse below {plan.malloc_reuse_bytes} bytes" if plan.malloc_reuse_bytes
                 else "glibc's default allocator")
    print(f"FeatureMap ping-pong device -> edge on loopback, median of {plan.repeats} per size "
          f"(after {plan.warmup} warm-up), {allocator}; DDS MB/s with the ratio to TCP in parentheses")
    print(format_table(results))
    if args.seal_sizes:
        costs = measure_sealing([int(float(mb) * 1e6) for mb in args.seal_sizes.split(",")], args.seal_repeats)
        print(f"\npayload sealing (link.key_file, AES-256-GCM): seal on the device + open on the edge, in this "
              f"process, median of {args.seal_repeats}; as a share of the unsealed transfer time of the same size")
        print(format_sealing(costs, results))
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from scissor_core.sealing import write_key

    path = write_key(args.path)
    print(f"wrote a new 256-bit key to {path} (64 hex digits, mode 0600). Give the device and the edge the "
          f"same key file (copy it over a secure channel) and set link.key_file: {path.resolve()}")
    return 0


def cmd_testbed(args: argparse.Namespace) -> int:
    import os

    from scissor_bringup.testbed_run import run_testbed, run_testbed_online

    _config(args)  # refuse a bad config here, before any node starts
    if args.learn_online or args.checkpoint:  # the same run, with the agent learning online from the shipped policy
        if args.policy not in (None, "a2c"):
            raise ConfigError(f"--learn-online needs the a2c policy, not --policy {args.policy}")
        runner = functools.partial(run_testbed_online, checkpoint=args.checkpoint,
                                   checkpoint_every=args.checkpoint_every)
    else:
        runner = run_testbed
    # Keep DDS discovery on this machine unless the user configured otherwise.
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    run = runner(args.config, args.duration, args.output, namespace=args.namespace, policy=args.policy,
                 max_frames=args.max_frames, record=args.record, storage=args.storage, netns=args.netns)
    print(run.summary)
    print(f"\nwrote {run.output}/outcomes.csv, summary.md and delay.png"
          + (f"; rosbag2 of the run: {run.bag} ({sum(n for _, n in run.bag_topics.values())} messages)"
             if run.bag else ""))
    if run.checkpoint is not None:
        from scissor_core.online import reward_log_path

        print(f"online learning: checkpoint {run.checkpoint}, rewards {reward_log_path(run.checkpoint)}, "
              f"reward curve {run.output}/reward.png")
    failed = {name: code for name, code in run.exit_codes.items() if code not in (0, -2)}
    return 1 if failed or not run.outcomes else 0


def cmd_netns_cleanup(args: argparse.Namespace) -> int:
    from scissor_bringup.netns import cleanup_stale

    removed = cleanup_stale()
    print("removed " + (", ".join(removed) if removed else "nothing: no namespace of a finished scissor run"))
    return 0


def cmd_bench_link(args: argparse.Namespace) -> int:
    import os

    from scissor_bringup.bench_live import bench_config, bench_link

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    config_file = bench_config(str(args.config), model={"name": args.model or "alexnet"},
                               camera={"interval": args.interval, "wait_for_subscribers": 1},
                               link={"trace": args.trace}, agent={"policy": args.policy}, edge={"annotate": False})
    text, _ = bench_link(config_file, args.frames, args.output)
    print(text)
    return 0


def cmd_soak(args: argparse.Namespace) -> int:
    import os

    from tqdm import tqdm

    from scissor_bringup.bench_live import bench_config
    from scissor_bringup.soak import SoakSettings, parse_faults, run_soak

    _config(args)  # refuse a bad config before any node starts
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    settings = SoakSettings(frames=args.frames, faults=parse_faults(args.faults), fault_every=args.fault_every,
                            down=args.down, interval=args.interval, max_rss_growth=args.max_rss_growth)
    config_file = bench_config(str(args.config), model={"name": args.model or "alexnet"})
    with tqdm(total=settings.frames, desc="soak", unit="frame", disable=args.no_progress) as bar:
        report = run_soak(config_file, settings, args.output, namespace=args.namespace,
                          progress=lambda n: bar.update(n - bar.n))
    print(report.summary)
    print(f"\nwrote {args.output}/soak.md, outcomes.csv, nodes.log, rss.png and delay.png")
    return 0 if report.passed else 1


REPLAY_STARTUP = 30.0
"""Seconds the default ``scissor replay --duration`` allows for the nodes to start, on top of the replay."""


def cmd_replay(args: argparse.Namespace) -> int:
    import os

    from scissor_bringup.testbed_run import run_testbed
    from scissor_core.bags import BagSource

    config = _config(args)
    rate = config.camera.bag_rate if args.rate is None else args.rate
    if rate <= 0 or (args.interval is not None and args.interval <= 0):
        raise ConfigError("--rate and --interval must be positive")
    camera = {"camera.source": f"bag:{args.bag.resolve()}" + (f"#{args.topic}" if args.topic else ""),
              # Start once the device (it subscribes last, when edge and agent are up) and the annotating edge read.
              "camera.bag_rate": rate, "camera.wait_for_subscribers": 1 + int(config.edge.annotate)}
    interval = args.interval
    if interval:
        camera.update({"camera.bag_timing": "interval", "camera.interval": interval})
    elif config.camera.bag_timing == "interval":
        interval = config.camera.interval_for(config.model.name)
    # Refuse a bag that cannot be replayed (BagError: exit code 2) before any node starts.
    source = BagSource(args.bag, args.topic)
    try:
        source.read()  # the first frame decodes
        frames = min(len(source.stamps), config.camera.max_frames or len(source.stamps))
        length = frames * interval if interval else source.offsets(rate)[frames - 1]
    finally:
        source.close()
    duration = args.duration or REPLAY_STARTUP + length
    print(f"replaying {source.description} ({length:.1f} s) for up to {duration:.0f} s, model {config.model.name}")
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    run = run_testbed(args.config, duration, args.output, policy=args.policy, extra={"camera_node": camera},
                      stop_after_outcomes=frames)
    print(run.summary)
    print(f"\nwrote {run.output}/outcomes.csv, summary.md and delay.png")
    failed = {name: code for name, code in run.exit_codes.items() if code not in (0, -2)}
    return 1 if failed or not run.outcomes else 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from scissor_core.calibrate import calibrate_file
    from scissor_core.config import CONFIG_DIR
    from scissor_core.profile import ModelProfile

    source = args.profile or CONFIG_DIR / "profiles" / f"{args.model}.json"
    output = args.output or CONFIG_DIR / "profiles" / f"{args.model}-paper.json"
    if ModelProfile.load(source).model != args.model:
        raise ValueError(f"{source} is a profile of {ModelProfile.load(source).model}, not {args.model}")
    profile = calibrate_file(source, output, args.device_time, args.edge_time, args.factors_from)
    s = profile.settings
    print(f"# {args.model}: {source} calibrated ({s['calibrated_to']['source']}): device x{s['device_slowdown']:.4g}, "
          f"edge x{s['edge_slowdown']:.4g}")
    print("| split | measured device s | device s | measured edge s | edge s |\n|---|---:|---:|---:|---:|")
    for c in profile.cuts:
        print(f"| {c.split} | {c.device_measured.median:.4f} | {c.device_time:.4f} | {c.edge_measured.median:.4f} | "
              f"{c.edge_time:.4f} |")
    print(f"wrote {output}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from scissor_core.evaluate import (
        A2C, ALL_POLICIES, CLAIRVOYANT, breakdown_table, clairvoyant_reference, evaluate, improvements,
        markdown_table, metrics_rows, oracle_gaps, plot_bars, write_rows,
    )
    from scissor_core.metrics import format_table
    from scissor_core.policies.serving import default_policy_path

    if args.live:
        return _evaluate_live(args)
    if args.profile is None:
        raise ConfigError("scissor evaluate: --profile is required (or --live)")
    if args.frames is None:
        args.frames = 5000
    for flag, value in (("--bag", args.bag), ("--model", args.model), ("--topic", args.topic)):
        if value is not None:
            raise ConfigError(f"scissor evaluate: {flag} needs --live")
    args.output = args.output or Path("results/evaluate")
    config, profile, names = _simulation(args)
    if args.policy == "all":
        names = list(ALL_POLICIES)
    model = profile.model
    policy_file = args.policy_file or default_policy_path(config, model)
    seeds = [config.sim.seed + i for i in range(args.seeds)]
    print(f"# {model}: profile {args.profile}; trace {config.link.trace}, interval {config.sim.interval_for(model):g} s, "
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
    print("\n".join(text))
    stem = args.output / model
    written = [write_rows(metrics_rows({"model": model}, evaluations), stem.with_suffix(".csv"))]
    stem.with_suffix(".md").write_text("\n".join(text) + "\n")
    written += [stem.with_suffix(".md"), plot_bars({model: summaries}, stem.with_suffix(".png"), f"{model}: every policy")]
    print(f"wrote {', '.join(map(str, written))}")
    return 0


def _evaluate_live(args: argparse.Namespace) -> int:
    """``scissor evaluate --live``: scissor_bringup/evaluate_live.py (imports rclpy: only here)."""
    from scissor_bringup.evaluate_live import LIVE_POLICIES, check_policies, evaluate_live, scenario_config

    config = _config(args)  # --set, --model: refuse a bad config before any node starts
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
    report = evaluate_live(scenario, names, output, progress=not args.no_progress)
    print(report.text)
    print(f"wrote {', '.join(map(str, report.written))} and {output}/runs/POLICY/")
    return 1 if any(run.problems for run in report.runs.values()) else 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from scissor_core.experiments import EXPERIMENTS, Plan

    config = _config(args)
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


def cmd_bench_train(args: argparse.Namespace) -> int:
    from scissor_core.config import CONFIG_DIR
    from scissor_core.profile import ModelProfile
    from scissor_core.train import train_seed

    config = _config(args)
    if args.paper:
        use_paper_agent(config.agent)
    path = args.profile or CONFIG_DIR / "profiles" / f"{config.model.name}-paper.json"
    profile = ModelProfile.load(path)
    agent = config.agent
    print(f"# one-seed A2C training on {profile.model} ({path}): up to {agent.episodes} episodes of "
          f"{agent.episode_frames} frames, early stop after {agent.patience} episodes without improvement of the "
          f"{agent.convergence_window}-episode moving average ({agent.describe()}); goal <= 120 s")
    run = train_seed(config, profile, args.seed, progress=not args.no_progress)
    frames = len(run.rewards) * agent.episode_frames
    print("| seed | episodes | converged | frames | wall s | frames/s |\n|---:|---:|---|---:|---:|---:|")
    print(f"| {run.seed} | {len(run.rewards)} | {'yes' if run.converged else 'no (episode limit)'} | {frames:,} | "
          f"{run.seconds:.1f} | {frames / run.seconds:,.0f} |")
    return 0


def cmd_bench_testbed(args: argparse.Namespace) -> int:
    import os

    from scissor_bringup.bench_live import bench_config, bench_testbed

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    config_file = bench_config(str(args.config), model={"name": args.model or "alexnet"},
                               camera={"interval": args.interval})
    print(bench_testbed(config_file, args.duration, args.policy, args.output))
    return 0


def cmd_bench_agent(args: argparse.Namespace) -> int:
    import os

    from scissor_bringup.bench_live import bench_agent

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    _config(args)
    print(bench_agent(str(args.config), args.messages, args.rate))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scissor", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("splits", help="list a model's candidate splits and the tensors crossing each",
                       description="List the candidate splits (name, device nodes, crossing tensors and shapes, "
                                   "raw bytes); with --all also enumerate every valid cut of the traced graph.")
    _add_common(p)
    p.add_argument("--all", action="store_true", help="also enumerate all valid cuts of the DAG")
    p.add_argument("--all-limit", type=int, default=0, metavar="N",
                   help="with --all, print the first N cuts in full (default 0: counts only)")
    p.set_defaults(func=cmd_splits)

    p = sub.add_parser("verify", help="check every split is bit-identical to the unsplit forward (Table 3)",
                       description="Run every candidate split on a synthetic traffic frame through the raw wire "
                                   "codec and compare with the unsplit forward; exit 1 on any difference.")
    _add_common(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("profile", help="measure device/edge time and bytes per codec for every split",
                       description="Profile every candidate split: device-side and edge-side compute time "
                                   "(warm-up, median and p95) and encoded bytes per codec; writes JSON + PNG.")
    _add_common(p)
    p.add_argument("--runs", type=int, help="timed runs per split and side (default: profile.runs)")
    p.add_argument("--warmup", type=int, help="untimed warm-up runs (default: profile.warmup)")
    p.add_argument("--device-threads", type=int, help="torch threads on the device side")
    p.add_argument("--edge-threads", type=int, help="torch threads on the edge side")
    p.add_argument("--device-slowdown", type=float, help="multiply device times (emulate a slower device)")
    p.add_argument("--edge-slowdown", type=float, help="multiply edge times (below 1: a faster edge)")
    p.add_argument("--output", type=Path, help="profile JSON path (default: profiles/MODEL.json; PNG beside it)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_profile)

    bench = sub.add_parser("bench", help="benchmarks that print measured figures")
    bench_sub = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    p = bench_sub.add_parser("split", help="split overhead: (device + edge) time over unsplit time per split",
                             description="For every candidate split, time device part + edge part against the "
                                         "unsplit forward, interleaved in the same run; prints the ratio per "
                                         "split (goal <= 1.02).")
    _add_common(p)
    p.add_argument("--runs", type=int, default=10, help="timed rounds per split (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed warm-up rounds (default 2)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--goal", type=float, default=1.02, help="ratio to flag as over goal (default 1.02)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_bench_split)

    p = bench_sub.add_parser("codec", help="bytes, encode/decode time and output error of each wire codec",
                             description="For each split and codec: mean bytes per frame, median encode/decode "
                                         "time, and the effect on the output against lossless transport (top-1 "
                                         "agreement and max logit error, or mAP@0.5 of the detections).")
    _add_common(p)
    p.add_argument("--frames", type=int, default=3, help="synthetic traffic frames to average over (default 3)")
    p.add_argument("--splits", help="comma-separated splits (default: every candidate but 'last')")
    p.add_argument("--codecs", help="comma-separated codec labels, e.g. raw,fp16,int8-per_channel+zstd,jpeg-q75 "
                                    "(default: profile.codecs of the config)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_bench_codec)

    p = bench_sub.add_parser("testbed", help="live testbed: measured delay over the ideal (compute + bytes/rate)",
                             description="Run the live testbed at a light load (queues stay empty) and compare "
                                         "each completed frame's total delay with local compute + bytes / link "
                                         "rate + edge compute; prints the median overhead per split (goal <= 5%).")
    p.add_argument("model", nargs="?", choices=MODEL_NAMES, help="model (default alexnet)")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="base YAML configuration")
    p.add_argument("--duration", type=float, default=40.0, help="seconds of testbed (default 40)")
    p.add_argument("--interval", type=float, default=0.5, help="camera interval in s (default 0.5: no queueing)")
    p.add_argument("--policy", default="round-robin", help="policy the agent serves (default round-robin)")
    p.add_argument("--output", type=Path, default=Path("results/bench-testbed"), help="output folder")
    p.set_defaults(func=cmd_bench_testbed, verbose=False)

    p = bench_sub.add_parser("link", help="application-level shaper vs a real tc-shaped link (root only)",
                             description="Run the same frames twice: through the device's application-level "
                                         "shaper on loopback, then with the edge in another network namespace "
                                         "behind a veth link shaped by tc following the same trace; print delay "
                                         "figures of both and their relative difference (goal: within 10%).")
    p.add_argument("model", nargs="?", choices=MODEL_NAMES, help="model (default alexnet)")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="base YAML configuration")
    p.add_argument("--trace", default="const:1MB", help="bandwidth trace of both runs (default const:1MB)")
    p.add_argument("--policy", default="fixed:conv2", help="policy the agent serves (default fixed:conv2)")
    p.add_argument("--frames", type=int, default=40, help="camera frames per run (default 40)")
    p.add_argument("--interval", type=float, default=0.5, help="camera interval in s (default 0.5)")
    p.add_argument("--output", type=Path, default=Path("results/bench-link"), help="output folder")
    p.set_defaults(func=cmd_bench_link, verbose=False)

    p = bench_sub.add_parser("agent", help="agent decision latency over DDS and the policy's forward pass",
                             description="Start agent_node, publish QueueState messages from this process and "
                                         "time each SplitDecision's return (p50/p99, goal p99 <= 2 ms), and time "
                                         "the policy's decide() in-process (goal <= 100 us).")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="YAML configuration (agent.policy, model)")
    p.add_argument("--messages", type=int, default=500, help="timed decisions (default 500)")
    p.add_argument("--rate", type=float, default=50.0, help="QueueState messages per second (default 50)")
    p.set_defaults(func=cmd_bench_agent, overrides=[], weights=None, input_size=None, verbose=False)

    p = bench_sub.add_parser("sim", help="simulator throughput: simulated frames per second",
                             description="Run the discrete-event simulator with fixed policies on a constant and "
                                         "a Mahimahi trace and print simulated frames per second "
                                         "(goal >= 100,000 with a fixed policy).")
    _add_simulation_options(p, frames=200_000, policy="device-only,edge-only,semi-fixed,greedy")
    p.add_argument("--traces", default="const:5MB;mahimahi:config/traces/Verizon-LTE-short.up,scale=8",
                   help="';'-separated trace specs to run each policy on")
    p.set_defaults(func=cmd_bench_sim)

    p = bench_sub.add_parser("transport", help="FeatureMap throughput over DDS against a TCP socket (loopback)",
                             description="Send FeatureMaps of each size device -> edge between two processes over "
                                         "DDS (per transport and publishing/subscription mode) and over a TCP "
                                         "socket in the same run; print MB/s and the DDS/TCP ratio.")
    _add_common(p, model=False)
    p.add_argument("--sizes", default="0.1,1,4,20", help="comma-separated message sizes in MB (default 0.1,1,4,20)")
    p.add_argument("--transports", default="DEFAULT,LARGE_DATA,profile",
                   help="comma-separated: DEFAULT, a FASTDDS_BUILTIN_TRANSPORTS value (LARGE_DATA, SHM, UDPv4, ...), "
                        "or profile (the XML of ros.fastdds_profile) (default DEFAULT,LARGE_DATA,profile)")
    p.add_argument("--modes", default="message,raw-sub,serialized",
                   help="comma-separated: message, raw-sub, serialized (default: all three)")
    p.add_argument("--repeats", type=int, default=10, help="timed messages per size (default 10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed messages per size first (default 3)")
    p.add_argument("--timeout", type=float, default=120.0, help="bound on one configuration in s (default 120)")
    p.add_argument("--malloc-reuse", type=int, metavar="BYTES",
                   help="glibc heap reuse threshold of every process (default: ros.malloc_reuse_bytes; 0 = off)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress lines")
    p.add_argument("--seal-sizes", default="1,20",
                   help="comma-separated payload sizes in MB whose seal+open cost (link.key_file) is measured "
                        "(default 1,20; empty = skip)")
    p.add_argument("--seal-repeats", type=int, default=7, help="timed seal+open runs per size (default 7)")
    p.set_defaults(func=cmd_bench_transport)

    p = sub.add_parser("keygen", help="write a new key file for payload sealing (link.key_file)",
                       description="Write 32 random bytes as 64 hex digits to PATH with mode 0600 (an existing "
                                   "file is never overwritten). Device and edge given the same file with "
                                   "link.key_file seal and open every feature payload with AES-256-GCM.")
    p.add_argument("path", type=Path, metavar="PATH", help="key file to create")
    p.set_defaults(func=cmd_keygen, verbose=False)

    p = sub.add_parser("simulate", help="simulate policies on a profile and a bandwidth trace",
                       description="Discrete-event simulation of the device's queues, the link (bandwidth trace) "
                                   "and the edge, driven by a profile from `scissor profile`. Prints the metrics "
                                   "(bytes/frame, delays, p50/p95/p99, drop rate, system cost, frames/s) and writes "
                                   "one CSV of FrameOutcome records and one PNG of delay over time per policy.")
    _add_simulation_options(p, frames=None, policy="greedy")
    p.add_argument("--codec", default="raw", help="wire codec label whose profiled bytes are sent (default raw)")
    p.add_argument("--output", type=Path, default=Path("results/simulate"),
                   help="folder for MODEL-POLICY.csv/.png (default results/simulate)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("train", help="train the A2C agent in the simulator (several seeds, keep the median)",
                       description="Train A2C on a profile in the simulator: episodes of agent.episode_frames "
                                   "frames until the moving average of the episode reward stops improving or "
                                   "agent.episodes is reached, for several seeds; keeps the median run's "
                                   "policy and writes the reward curves (CSV + PNG, the paper's Figure 13).")
    _add_simulation_options(p, frames=None, policy="a2c")
    p.add_argument("--seeds", type=int, help="training runs with seeds 0..N-1 (default agent.seeds, 5)")
    p.add_argument("--episodes", type=int, help="maximum episodes per seed (default agent.episodes, 500)")
    p.add_argument("--episode-frames", type=int, help="frames per episode (default agent.episode_frames, 1000)")
    p.add_argument("--paper", action="store_true", help=PAPER_HELP)
    p.add_argument("--output", type=Path, help="policy file (default RESULTS/MODEL/policy.pt)")
    p.add_argument("--results", type=Path, default=Path("results/train"),
                   help="folder for the reward curves (default results/train)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("testbed", help="run the live ROS 2 testbed for a bounded time and summarise it",
                       description="Start camera, device, edge and agent nodes (the description launch/"
                                   "testbed.launch.py uses) as processes over DDS, stop them after --duration "
                                   "seconds or Ctrl-C, then print the summary (frames, completed, drops by "
                                   "reason, delays, bytes/frame, system cost, per split, node memory) and write "
                                   "outcomes.csv, summary.md and delay.png.")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="YAML configuration of every node")
    p.add_argument("--duration", type=float, default=60.0, help="seconds to run (default 60)")
    p.add_argument("--policy", help="policy the agent serves (default agent.policy: a2c)")
    p.add_argument("--max-frames", type=int, default=0, help="camera frames to publish (default: no limit)")
    p.add_argument("--namespace", default="", help="namespace of every topic (several testbeds on one network)")
    p.add_argument("--output", type=Path, default=Path("results/testbed"), help="output folder")
    p.add_argument("--learn-online", action="store_true",
                   help="the agent starts from the shipped a2c policy and learns from every frame outcome; writes "
                        "the rewards CSV next to the checkpoint and reward.png (reward per frame, moving average, "
                        "checkpoints) in --output")
    p.add_argument("--checkpoint", type=Path, metavar="PATH",
                   help="online policy checkpoint (implies --learn-online; default OUTPUT/policy-online.pt)")
    p.add_argument("--checkpoint-every", type=int, metavar="N",
                   help="outcomes between checkpoints (default agent.checkpoint_every, or 100 if that is 0)")
    p.add_argument("--record", type=Path, metavar="DIR",
                   help="record the run's topics to a new rosbag2 folder DIR (must not exist; camera frames, "
                        "queue states, decisions, feature-map metadata, results, outcomes, link states)")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap",
                   help="rosbag2 storage of --record (default mcap)")
    p.add_argument("--netns", action="store_true",
                   help="edge in its own network namespace behind a veth link shaped by tc following link.trace "
                        "(root only; see scissor_bringup/netns.py)")
    p.set_defaults(func=cmd_testbed, overrides=[], weights=None, input_size=None, verbose=False)

    p = sub.add_parser("netns-cleanup", help="delete network namespaces left by crashed `scissor testbed --netns` runs",
                       description="Delete the namespaces scissor-dev-PID / scissor-edge-PID whose scissor process "
                                   "no longer runs (their veth ends go with them). Touches nothing else; idempotent.")
    p.set_defaults(func=cmd_netns_cleanup, verbose=False)

    p = sub.add_parser("soak", help="long testbed run with injected faults; checks every frame has one outcome",
                       description="Run the live testbed for --frames camera frames while killing and restarting "
                                   "the edge and the agent, collapsing the link, bursting the camera and "
                                   "duplicating results (see scissor_bringup/soak.py); then check frames read = "
                                   "outcomes recorded, no duplicates, no node crashed, memory flat. Exit code 1 "
                                   "when a check fails.")
    _add_common(p)
    p.add_argument("--frames", type=int, default=10_000, help="camera frames (default 10000)")
    p.add_argument("--faults", default="all", help="all, none or a comma list of edge,agent,link,burst,duplicates")
    p.add_argument("--fault-every", type=int, default=200, help="frames from the start or the last restart to the next node kill (default 200)")
    p.add_argument("--down", type=float, default=6.0, help="seconds a killed node stays down (default 6)")
    p.add_argument("--interval", type=float, default=0.1, help="seconds between camera frames (default 0.1)")
    p.add_argument("--max-rss-growth", type=float, default=0.10,
                   help="largest allowed memory growth of camera and device over the run (default 0.10)")
    p.add_argument("--namespace", default="", help="namespace of every topic")
    p.add_argument("--output", type=Path, default=Path("results/soak"), help="output folder")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_soak)

    p = sub.add_parser("replay", help="replay a rosbag2's camera frames through the live testbed",
                       description="Run the live testbed (as 'scissor testbed') with the camera publishing the "
                                   "frames of a rosbag2 folder (sqlite3 or MCAP; sensor_msgs/Image in rgb8, bgr8, "
                                   "rgba8, bgra8, mono8, mono16, yuv422 or CompressedImage jpeg/png) at the "
                                   "recorded timing (or a fixed --interval). A bag without a usable image topic "
                                   "is refused (exit code 2) with the topics it has, before any node starts.")
    p.add_argument("bag", type=Path, help="rosbag2 folder")
    p.add_argument("--topic", help="image topic (default: the bag's only image topic)")
    p.add_argument("--policy", help="policy the agent serves (default agent.policy: a2c)")
    p.add_argument("--rate", type=float, help="replay speed relative to the recording (default camera.bag_rate: 1)")
    p.add_argument("--interval", type=float, help="publish one frame every INTERVAL s instead of the recorded timing")
    p.add_argument("--duration", type=float,
                   help=f"seconds to run at most (default: {REPLAY_STARTUP:g} s of start-up + the replay's "
                        "length); the run stops earlier once every frame has its outcome")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="YAML configuration of every node")
    p.add_argument("--output", type=Path, default=Path("results/replay"), help="output folder")
    p.set_defaults(func=cmd_replay, overrides=[], weights=None, input_size=None, verbose=False)

    p = sub.add_parser("calibrate", help="rescale a measured profile to a target device/edge speed (paper setting)",
                       description="Scale a measured profile's device and edge times by one factor each so that "
                                   "split 'last' takes --device-time s on the device and split '0' takes "
                                   "--edge-time s on the edge (per-split shape kept; factors recorded in settings). "
                                   "Without times: the paper's (YOLOv3 4.347 s / 0.759 s), or --factors-from.")
    p.add_argument("model", choices=MODEL_NAMES, help="model of the profile")
    p.add_argument("--profile", type=Path, help="measured profile (default config/profiles/MODEL.json)")
    p.add_argument("--device-time", type=float, help="full local forward time to reach (s)")
    p.add_argument("--edge-time", type=float, help="full edge forward time to reach (s)")
    p.add_argument("--factors-from", type=Path,
                   help="reuse the two slowdown factors of this calibrated profile (same device and edge hardware)")
    p.add_argument("--output", type=Path, help="calibrated profile (default config/profiles/MODEL-paper.json)")
    p.set_defaults(func=cmd_calibrate, verbose=False)

    p = sub.add_parser("evaluate", help="every policy (a2c from a policy file + baselines) on the same traces/seeds",
                       description="Run every policy on the same arrivals, trace and seeds; print the metrics "
                                   "table, latency breakdown, a2c's improvement and the oracle gap; write "
                                   "OUTPUT/MODEL.csv, .md and .png (bar charts).")
    _add_simulation_options(p, frames=5000, policy="all")
    p.add_argument("--policy-file", type=Path, help="a2c policy file (default agent.policy_file or "
                                                     "config/policies/MODEL.pt)")
    p.add_argument("--seeds", type=int, default=5, help="seeds sim.seed .. sim.seed+N-1 (arrivals, trace) (default 5)")
    p.add_argument("--output", type=Path, help="folder (default results/evaluate, with --live results/evaluate-live)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--live", action="store_true",
                   help="run each policy on the live testbed (not the oracle) on the same frames and trace, one "
                        "frame per --interval, then the simulator on the same scenario: writes the metrics and "
                        "the simulator-vs-testbed calibration (--profile: default device.profile or "
                        "config/profiles/MODEL.json; --frames: default 60 scene frames, or every frame of --bag)")
    p.add_argument("--policies", dest="policy", default=argparse.SUPPRESS, help="same as --policy")
    p.add_argument("--bag", type=Path, help="with --live: replay this rosbag2's frames (default: the synthetic scene)")
    p.add_argument("--topic", help="with --bag: image topic (default: the bag's only image topic)")
    p.add_argument("--model", choices=MODEL_NAMES, help="with --live: model (default model.name of the config)")
    p.set_defaults(func=cmd_evaluate, frames=None)
    p._option_string_actions["--profile"].required = False  # not with --live: the device's profile

    from scissor_core.experiments import EXPERIMENTS, PROFILE_SETS

    p = sub.add_parser("experiment", help="one of the paper's experiments (or all): CSV, PNG, markdown",
                       description="Run an experiment of the paper and write RESULTS/NAME/PROFILES/NAME.csv, .md "
                                   ".png. Settings needing A2C train it first (cached under RESULTS/policies/).")
    p.add_argument("name", choices=[*EXPERIMENTS, "all"], help="experiment")
    p.add_argument("--profiles", choices=PROFILE_SETS, default="paper",
                   help="paper: config/profiles/MODEL-paper.json (default); measured: MODEL.json")
    p.add_argument("--profile-dir", type=Path, default=Path("config/profiles"), help="where the profiles are")
    p.add_argument("--paper", action="store_true", help=PAPER_HELP)
    p.add_argument("--results", type=Path, default=Path("results"), help="results root (default results)")
    p.add_argument("--frames", type=int, default=5000, help="frames per evaluation run (default 5000)")
    p.add_argument("--seeds", type=int, default=5, help="evaluation seeds per policy (default 5)")
    p.add_argument("--train-seeds", type=int, default=5, help="A2C training seeds, median kept (default 5)")
    p.add_argument("--episodes", type=int, help="maximum training episodes (default agent.episodes)")
    p.add_argument("--episode-frames", type=int, help="frames per training episode (default agent.episode_frames)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="YAML configuration file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config value (YAML syntax for the value); repeatable")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    p.set_defaults(func=cmd_experiment, weights=None, input_size=None)

    p = bench_sub.add_parser("train", help="one-seed A2C training on the paper's schedule: wall time",
                             description="Train A2C for one seed (agent.episodes episodes of agent.episode_frames "
                                         "frames at most, early stop per config) and print the wall time "
                                         "(goal <= 2 minutes).")
    _add_common(p)
    p.add_argument("--profile", type=Path, help="profile (default config/profiles/MODEL-paper.json)")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--paper", action="store_true", help=PAPER_HELP)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_bench_train)
    return parser


def _add_simulation_options(p: argparse.ArgumentParser, frames: int | None, policy: str) -> None:
    p.add_argument("--profile", type=Path, required=True,
                   help="profile JSON written by `scissor profile MODEL` (its model names the run)")
    p.add_argument("--policy", default=policy,
                   help=f"policy name, comma-separated names, or 'all' (default {policy}): device-only, "
                        "edge-only, edge-only-jpeg, semi-fixed, greedy, dads, ddp, oracle, fixed:SPLIT")
    p.add_argument("--frames", type=int, default=frames,
                   help=f"frames per run (default {frames if frames else 'sim.frames of the config'})")
    p.add_argument("--trace", help="bandwidth trace spec (default link.trace): const:5MB, steps:10x5MB,10x1MB, "
                                   "walk:mean=5MB,sigma=0.2, mahimahi:FILE[,scale=K] or a Mahimahi file")
    p.add_argument("--interval", type=float, help="frame interval in s (default: the paper's for the model)")
    p.add_argument("--timeout", type=float, help="queue timeout T in s (default: the paper's for the model)")
    p.add_argument("--seed", type=int, help="seed of arrivals and random-walk traces (default sim.seed)")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="YAML configuration file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config value (YAML syntax for the value); repeatable")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    p.set_defaults(weights=None, input_size=None)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"scissor: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
