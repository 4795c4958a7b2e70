"""``scissor bench ...``: benchmarks that print measured figures.

split, codec, sim, train (offline); transport, link, testbed, agent (over DDS, live nodes).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from scissor_cli.common import (PAPER_HELP, add_common, add_config_options, add_live_bench_options,
                                add_progress_option, add_simulation_options, config_of, keep_discovery_local,
                                model_and_frame, simulation_setup)
from scissor_core.analysis.link_fidelity import DEFAULT_LINKS
from scissor_core.config import use_paper_agent
from scissor_core.models.registry import DEVICE_ONLY


def cmd_bench_split(args: argparse.Namespace) -> int:
    from scissor_core.analysis.bench import bench_split, format_split_overhead

    _, model, frame = model_and_frame(args)
    x, _ = model.preprocess(frame)
    rows = bench_split(model, x, runs=args.runs, warmup=args.warmup, threads=args.threads,
                       progress=not args.no_progress)
    print(format_split_overhead(rows, goal=args.goal))
    return 0


def cmd_bench_codec(args: argparse.Namespace) -> int:
    from scissor_core.analysis.bench import (bench_codec, codec_frontier, format_codec_effects, format_frontier,
                                             plot_codec_effects)
    from scissor_core.runtime.codec_table import write_codec_csv
    from scissor_core.sources.camera import open_source

    config, model, _ = model_and_frame(args)
    camera = config.camera
    camera.source = args.source or camera.source
    camera.seed = args.scene_seed
    source = open_source(camera)
    frames = []
    while len(frames) < args.frames and (frame := source.read()) is not None:
        frames.append(frame)
    source.close()
    splits = args.splits.split(",") if args.splits else [s for s in model.candidates if s != DEVICE_ONLY]
    codecs = args.codecs.split(",") if args.codecs else config.profile.codecs
    rows = bench_codec(model, frames, splits, codecs, progress=not args.no_progress)
    metric = "top-1 agreement" if model.task == "classification" else "mAP@0.5 vs fp32"
    head = (f"# bench codec {model.name} ({model.weights_label}): {len(frames)} frames of {source.description}; "
            f"{metric} against raw float32 transport (lossless), detections at conf {config.model.conf_threshold:g}")
    text = "\n\n".join([head, format_codec_effects(rows, model.task),
                         format_frontier(codec_frontier(rows, args.min_agreement), args.min_agreement, args.goal)])
    print(text)
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        stem = args.output / f"codec-{model.name}"
        (stem.with_suffix(".md")).write_text(text + "\n")
        write_codec_csv(rows, stem.with_suffix(".csv"))
        plot_codec_effects(rows, stem.with_suffix(".png"), head.removeprefix("# "), metric)
        print(f"wrote {stem}.md, .csv and .png")
    return 0


def cmd_bench_sim(args: argparse.Namespace) -> int:
    from scissor_core.policies import make_policy
    from scissor_core.runtime.traces import parse_trace
    from scissor_core.simulation.simulator import Simulator

    config, profile, names = simulation_setup(args)
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


def cmd_bench_train(args: argparse.Namespace) -> int:
    from scissor_core.config import CONFIG_DIR
    from scissor_core.runtime.costs import ModelProfile
    from scissor_core.simulation.train import train_seed

    config = config_of(args)
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


def cmd_bench_transport(args: argparse.Namespace) -> int:
    import os

    from scissor_bringup.bench_transport import (  # imports rclpy: only here
        LOOPBACK,
        Hosts,
        Plan,
        format_sealing,
        format_table,
        measure_sealing,
        run,
    )
    from scissor_bringup.netns import NetnsLink
    from scissor_core.runtime.traces import parse_rate

    config = config_of(args)
    plan = Plan(tuple(int(float(mb) * 1e6) for mb in args.sizes.split(",")), args.warmup, args.repeats,
                args.timeout, config.ros.malloc_reuse_bytes if args.malloc_reuse is None else args.malloc_reuse)
    profile = config.resolve_path(config.ros.fastdds_profile) if config.ros.fastdds_profile else None
    hosts, where = LOOPBACK, "on loopback"
    if args.netns:
        hosts, where = Hosts(NetnsLink(os.getpid())), "between two network namespaces (veth"
        hosts.link.create()
        if args.link_rate:
            hosts.link.set_rate(parse_rate(args.link_rate))
        where += f", tc {args.link_rate})" if args.link_rate else ", unshaped)"
    try:
        results = run(plan, args.transports.split(","), args.modes.split(","), str(profile) if profile else None,
                      progress=not args.no_progress, hosts=hosts)
    finally:
        if hosts.link is not None:
            hosts.link.destroy()
    allocator = (f"glibc heap reuse below {plan.malloc_reuse_bytes} bytes" if plan.malloc_reuse_bytes
                 else "glibc's default allocator")
    print(f"FeatureMap ping-pong device -> edge {where}, median of {plan.repeats} per size "
          f"(after {plan.warmup} warm-up), {allocator}; DDS MB/s with the ratio to TCP in parentheses")
    print(format_table(results))
    if args.seal_sizes:
        costs = measure_sealing([int(float(mb) * 1e6) for mb in args.seal_sizes.split(",")], args.seal_repeats)
        print(f"\npayload sealing (link.key_file, AES-256-GCM): seal on the device + open on the edge, in this "
              f"process, median of {args.seal_repeats}; as a share of the unsealed transfer time of the same size")
        print(format_sealing(costs, results))
    return 0


def cmd_bench_link(args: argparse.Namespace) -> int:
    from scissor_bringup.bench_link import bench_link, plan

    keep_discovery_local()
    models = args.models.split(",") if args.models else [args.model or "alexnet"]
    cases = plan(str(args.config), models, args.splits.split(",") if args.splits else None,
                 [spec for spec in args.links.split(";") if spec], [float(u) for u in args.use.split(",")],
                 args.seconds, args.loss)
    if args.no_app:
        cases = [c for c in cases if c.shaper != "app"]
    print(f"# {len(cases)} live runs of {args.seconds:g} s of camera time each (robot side and edge in two "
          f"network namespaces, tc on the link; app = the application-level shaper on loopback)")
    text, rows = bench_link(str(args.config), cases, args.output, progress=not args.no_progress)
    print(text)
    print(f"wrote {args.output}/bench-link.csv, .md, b-hat.png and each run under {args.output}/")
    return 0 if all(len(r.outcomes) == r.case.frames for r in rows) else 1


def cmd_bench_testbed(args: argparse.Namespace) -> int:
    from scissor_bringup.bench_live import bench_config, bench_testbed

    keep_discovery_local()
    config_file = bench_config(str(args.config), model={"name": args.model or "alexnet"},
                               camera={"interval": args.interval})
    print(bench_testbed(config_file, args.duration, args.policy, args.output))
    return 0


def cmd_bench_agent(args: argparse.Namespace) -> int:
    from scissor_bringup.bench_live import bench_agent

    keep_discovery_local()
    config_of(args)
    print(bench_agent(str(args.config), args.messages, args.rate))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="benchmarks that print measured figures")
    bench_sub = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    p = bench_sub.add_parser("split", help="split overhead: (device + edge) time over unsplit time per split",
                             description="For every candidate split, time device part + edge part against the "
                                         "unsplit forward, interleaved in the same run; prints the ratio per "
                                         "split (goal <= 1.02).")
    add_common(p)
    p.add_argument("--runs", type=int, default=10, help="timed rounds per split (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed warm-up rounds (default 2)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--goal", type=float, default=1.02, help="ratio to flag as over goal (default 1.02)")
    add_progress_option(p)
    p.set_defaults(func=cmd_bench_split)
    p = bench_sub.add_parser("codec", help="bytes, encode/decode time and output error of each wire codec",
                             description="For each split and codec: mean bytes per frame, median encode/decode "
                                         "time, and the effect on the output against lossless transport (top-1 "
                                         "agreement and max logit error, or mAP@0.5 over all frames of the "
                                         "detections against the fp32 ones); then the cheapest codec per split "
                                         "that keeps --min-agreement, against raw float32.")
    add_common(p)
    p.add_argument("--frames", type=int, default=3, help="frames of the source to measure over (default 3)")
    p.add_argument("--source", help="where the frames come from, as camera.source (default: the config's, the "
                                    "street clip asset:bikes.mp4; scene for the synthetic scene of --scene-seed)")
    p.add_argument("--splits", help="comma-separated splits (default: every candidate but 'last')")
    p.add_argument("--codecs", help="comma-separated codec labels, e.g. raw,fp16,int8-per_channel+zstd,jpeg-q75 "
                                    "(default: profile.codecs of the config)")
    p.add_argument("--min-agreement", type=float, default=0.99,
                   help="agreement the frontier keeps (default 0.99: mAP@0.5 or top-1 against fp32)")
    p.add_argument("--goal", type=float, default=8.0, help="bytes reduction over raw float32 to flag (default 8)")
    p.add_argument("--output", type=Path, help="also write codec-MODEL.md, .csv and .png (bytes vs agreement) here")
    add_progress_option(p)
    p.set_defaults(func=cmd_bench_codec)
    p = bench_sub.add_parser("sim", help="simulator throughput: simulated frames per second",
                             description="Run the discrete-event simulator with fixed policies on a constant and "
                                         "a Mahimahi trace and print simulated frames per second "
                                         "(goal >= 100,000 with a fixed policy).")
    add_simulation_options(p, frames=200_000, policy="device-only,edge-only,semi-fixed,greedy")
    p.add_argument("--traces", default="const:5MB;mahimahi:config/traces/Verizon-LTE-short.up,scale=8",
                   help="';'-separated trace specs to run each policy on")
    p.set_defaults(func=cmd_bench_sim)
    p = bench_sub.add_parser("train", help="one-seed A2C training on the paper's schedule: wall time",
                             description="Train A2C for one seed (agent.episodes episodes of agent.episode_frames "
                                         "frames at most, early stop per config) and print the wall time "
                                         "(goal <= 2 minutes).")
    add_common(p)
    p.add_argument("--profile", type=Path, help="profile (default config/profiles/MODEL-paper.json)")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--paper", action="store_true", help=PAPER_HELP)
    add_progress_option(p)
    p.set_defaults(func=cmd_bench_train)
    p = bench_sub.add_parser("transport",
                             help="FeatureMap throughput over DDS against a TCP socket (loopback, or --netns)",
                             description="Send FeatureMaps of each size device -> edge between two processes over "
                                         "DDS (per transport and publishing/subscription mode) and over a TCP "
                                         "socket in the same run; print MB/s and the DDS/TCP ratio.")
    add_common(p, model=False)
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
    add_progress_option(p)
    p.add_argument("--netns", action="store_true",
                   help="run each pair as two hosts: two network namespaces joined by a veth pair (root), TCP "
                        "between their addresses and DDS with the two-host UDPv4 profile (--transports ignored)")
    p.add_argument("--link-rate", help="with --netns: shape the device's side with tc to this rate, e.g. 10MB")
    p.add_argument("--seal-sizes", default="1,20",
                   help="comma-separated payload sizes in MB whose seal+open cost (link.key_file) is measured "
                        "(default 1,20; empty = skip)")
    p.add_argument("--seal-repeats", type=int, default=7, help="timed seal+open runs per size (default 7)")
    p.set_defaults(func=cmd_bench_transport)
    p = bench_sub.add_parser("link", help="the real tc-shaped link against its trace: models x splits x links x use "
                                          "(root)",
                             description="One live run per case, robot side and edge in two network namespaces "
                                         "behind a tc-shaped veth link: median/p95 of (measured - ideal)/ideal "
                                         "delay, drops and edge_lost, b_hat against the tc rate and its lag after "
                                         "rate steps; per link one case also through the application-level "
                                         "shaper (goals: median <= 10%, p95 <= 25%, 0 edge_lost on const and "
                                         "steps, b_hat within 10%, a step followed within 3 transmissions, app "
                                         "vs tc within 10%).")
    add_live_bench_options(p)
    p.add_argument("--models", help="comma-separated models (default: the model argument, else alexnet)")
    p.add_argument("--splits", help="comma-separated splits (default: 0, the middle and the last offloaded)")
    p.add_argument("--links", default=";".join(DEFAULT_LINKS),
                   help=f"';'-separated trace specs (default {';'.join(DEFAULT_LINKS)})")
    p.add_argument("--use", default="0.5,0.8", help="comma-separated shares of the mean link rate (default 0.5,0.8)")
    p.add_argument("--seconds", type=float, default=30.0,
                   help="camera time per run in s (default 30; at least 10 frames)")
    p.add_argument("--loss", type=float, default=0.0,
                   help="fraction of packets the kernel drops on the tc link, both ways (default 0; no app runs)")
    p.add_argument("--no-app", action="store_true", help="skip the application-level shaper runs")
    p.add_argument("--output", type=Path, default=Path("results/bench-link"), help="output folder")
    add_progress_option(p)
    p.set_defaults(func=cmd_bench_link)
    p = bench_sub.add_parser("testbed", help="live testbed: measured delay over the ideal (compute + bytes/rate)",
                             description="Run the live testbed at a light load (queues stay empty) and compare "
                                         "each completed frame's total delay with local compute + bytes / link "
                                         "rate + edge compute; prints the median overhead per split (goal <= 5%).")
    add_live_bench_options(p)
    p.add_argument("--duration", type=float, default=40.0, help="seconds of testbed (default 40)")
    p.add_argument("--interval", type=float, default=0.5, help="camera interval in s (default 0.5: no queueing)")
    p.add_argument("--policy", default="round-robin", help="policy the agent serves (default round-robin)")
    p.add_argument("--output", type=Path, default=Path("results/bench-testbed"), help="output folder")
    p.set_defaults(func=cmd_bench_testbed)
    p = bench_sub.add_parser("agent", help="agent decision latency over DDS and the policy's forward pass",
                             description="Start agent_node, publish QueueState messages from this process and "
                                         "time each SplitDecision's return (p50/p99, goal p99 <= 2 ms), and time "
                                         "the policy's decide() in-process (goal <= 100 us).")
    add_config_options(p, "YAML configuration (agent.policy, model)", overridable=False)
    p.add_argument("--messages", type=int, default=500, help="timed decisions (default 500)")
    p.add_argument("--rate", type=float, default=50.0, help="QueueState messages per second (default 50)")
    p.set_defaults(func=cmd_bench_agent)
