"""Commands that run the live testbed: testbed, replay, soak, netns-cleanup, keygen."""
from __future__ import annotations

import argparse
import functools
from pathlib import Path

from scissor_cli.common import (add_config_options, add_live_bench_options, add_progress_option, config_of,
                                keep_discovery_local, testbed_exit_code)
from scissor_core.config import ConfigError


def cmd_testbed(args: argparse.Namespace) -> int:
    from scissor_bringup.testbed import reliable_camera
    from scissor_bringup.testbed_run import run_testbed, run_testbed_online

    config = config_of(args)  # refuse a bad config here, before any node starts
    if args.learn_online or args.checkpoint:  # the same run, with the agent learning online from the shipped policy
        if args.policy not in (None, "a2c"):
            raise ConfigError(f"--learn-online needs the a2c policy, not --policy {args.policy}")
        runner = functools.partial(run_testbed_online, checkpoint=args.checkpoint,
                                   checkpoint_every=args.checkpoint_every)
    else:
        runner = run_testbed
    if args.side == "both":
        keep_discovery_local()  # one side alone must meet the other over the network (the user's discovery settings)
    frames = args.max_frames or config.camera.max_frames
    bounded = bool(frames) and args.side != "edge"
    # A bounded run ends once every frame has its outcome, not at --duration. So that every frame reaches the
    # device (one lost frame would keep the run to --duration), the camera waits for the device and publishes
    # reliably: best effort lost every frame of a loopback run on Jazzy (large images over shared memory).
    extra = reliable_camera(args.namespace, {"camera_node": {
        "camera.wait_for_subscribers": max(1, config.camera.wait_for_subscribers)}}) if bounded else None
    run = runner(args.config, args.duration, args.output, namespace=args.namespace, policy=args.policy,
                 max_frames=args.max_frames, record=args.record, storage=args.storage, netns=args.netns,
                 side=args.side, extra=extra, stop_after_outcomes=frames if bounded else 0)
    print(run.summary)
    print(f"\nwrote {run.output}/outcomes.csv, summary.md and delay.png"
          + (f"; rosbag2 of the run: {run.bag} ({sum(n for _, n in run.bag_topics.values())} messages)"
             if run.bag else ""))
    if run.checkpoint is not None:
        from scissor_core.simulation.online import reward_log_path

        print(f"online learning: checkpoint {run.checkpoint}, rewards {reward_log_path(run.checkpoint)}, "
              f"reward curve {run.output}/reward.png")
    return testbed_exit_code(run, outcomes_expected=args.side != "edge")


REPLAY_STARTUP = 30.0
"""Seconds the default ``scissor replay --duration`` allows for the nodes to start, on top of the replay."""


def cmd_replay(args: argparse.Namespace) -> int:
    from scissor_bringup.testbed import reliable_camera
    from scissor_bringup.testbed_run import run_testbed
    from scissor_core.sources.bags import BagSource

    config = config_of(args)
    rate = config.camera.bag_rate if args.rate is None else args.rate
    if rate <= 0 or (args.interval is not None and args.interval <= 0):
        raise ConfigError("--rate and --interval must be positive")
    camera = {"camera.source": f"bag:{args.bag.resolve()}" + (f"#{args.topic}" if args.topic else ""),
              # Start once the device reads (it subscribes last, when edge and agent are up; the annotator
              # does not count).
              "camera.bag_rate": rate, "camera.wait_for_subscribers": 1}
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
    keep_discovery_local()
    extra = reliable_camera(into={"camera_node": camera})  # every frame of the bag reaches the device
    run = run_testbed(args.config, duration, args.output, policy=args.policy, extra=extra,
                      stop_after_outcomes=frames)
    print(run.summary)
    print(f"\nwrote {run.output}/outcomes.csv, summary.md and delay.png")
    return testbed_exit_code(run)


def cmd_soak(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from scissor_bringup.bench_live import bench_config
    from scissor_bringup.soak import SoakSettings, parse_faults, run_soak

    config_of(args)  # refuse a bad config before any node starts
    keep_discovery_local()
    settings = SoakSettings(frames=args.frames, faults=parse_faults(args.faults, args.netns), netns=args.netns,
                            fault_every=args.fault_every,
                            down=args.down, interval=args.interval, max_rss_growth=args.max_rss_growth)
    config_file = bench_config(str(args.config), model={"name": args.model or "alexnet"})
    with tqdm(total=settings.frames, desc="soak", unit="frame", disable=args.no_progress) as bar:
        report = run_soak(config_file, settings, args.output, namespace=args.namespace,
                          progress=lambda n: bar.update(n - bar.n))
    print(report.summary)
    print(f"\nwrote {args.output}/soak.md, outcomes.csv, nodes.log, rss.png and delay.png")
    return 0 if report.passed else 1


def cmd_netns_cleanup(args: argparse.Namespace) -> int:
    from scissor_bringup.netns import cleanup_stale

    removed = cleanup_stale()
    print("removed " + (", ".join(removed) if removed else "nothing: no namespace of a finished scissor run"))
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from scissor_core.wire.sealing import write_key

    path = write_key(args.path)
    print(f"wrote a new 256-bit key to {path} (64 hex digits, mode 0600). Give the device and the edge the "
          f"same key file (copy it over a secure channel) and set link.key_file: {path.resolve()}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("testbed", help="run the live ROS 2 testbed for a bounded time and summarise it",
                       description="Start camera, device, edge, agent and annotator nodes (the description launch/"
                                   "testbed.launch.py uses) as processes over DDS, stop them after --duration "
                                   "seconds, Ctrl-C or the outcome of the last of --max-frames frames, then "
                                   "print the summary (frames, completed, drops by reason, delays, bytes/frame, "
                                   "system cost, per split, node memory) and write outcomes.csv, summary.md and "
                                   "delay.png.")
    add_config_options(p, "YAML configuration of every node", overridable=False)
    p.add_argument("--duration", type=float, default=60.0, help="seconds to run (default 60)")
    p.add_argument("--policy", help="policy the agent serves (default agent.policy: a2c)")
    p.add_argument("--max-frames", type=int, default=0,
                   help="camera frames to publish (default: camera.max_frames, 0 = no limit); the run ends once each "
                        "has its outcome, or at --duration")
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
    p.add_argument("--side", choices=("both", "robot", "edge"), default="both",
                   help="both (default): every node here; robot: camera, device, agent and annotator; edge: the "
                        "edge alone. Two hosts run one side each and find each other with the environment's ROS 2 "
                        "discovery settings (README: Deploy on a robot and an edge server)")
    p.add_argument("--netns", action="store_true",
                   help="edge in its own network namespace behind a veth link shaped by tc following link.trace "
                        "(root only; see scissor_bringup/netns.py)")
    p.set_defaults(func=cmd_testbed)
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
    add_config_options(p, "YAML configuration of every node", overridable=False)
    p.add_argument("--output", type=Path, default=Path("results/replay"), help="output folder")
    p.set_defaults(func=cmd_replay)
    p = sub.add_parser("soak", help="long testbed run with injected faults; checks every frame has one outcome",
                       description="Run the live testbed for --frames camera frames while killing and restarting "
                                   "the edge and the agent, collapsing the link, bursting the camera and "
                                   "duplicating results (see scissor_bringup/soak.py); then check frames read = "
                                   "outcomes recorded, no duplicates, no node crashed, memory flat. Exit code 1 "
                                   "when a check fails.")
    add_live_bench_options(p)
    p.add_argument("--frames", type=int, default=10_000, help="camera frames (default 10000)")
    p.add_argument("--faults", default="all",
                   help="all, none or a comma list of edge,agent,link,burst,duplicates and, with --netns, "
                        "loss1,loss5,delay,outage (the kernel's: 1%%/5%% loss both ways, 20 ms +- 10 ms delay where "
                        "the kernel has netem, the link down 10 s); all = every fault the link mode allows")
    p.add_argument("--netns", action="store_true",
                   help="the robot side and the edge in two network namespaces behind a tc-shaped veth (root)")
    p.add_argument("--fault-every", type=int, default=200,
                   help="frames from the start or the last restart to the next node kill (default 200)")
    p.add_argument("--down", type=float, default=6.0, help="seconds a killed node stays down (default 6)")
    p.add_argument("--interval", type=float, default=0.1, help="seconds between camera frames (default 0.1)")
    p.add_argument("--max-rss-growth", type=float, default=0.10,
                   help="largest allowed memory growth of camera and device over the run (default 0.10)")
    p.add_argument("--namespace", default="", help="namespace of every topic")
    p.add_argument("--output", type=Path, default=Path("results/soak"), help="output folder")
    add_progress_option(p)
    p.set_defaults(func=cmd_soak)
    p = sub.add_parser("netns-cleanup", help="delete network namespaces left by crashed `scissor testbed --netns` runs",
                       description="Delete the namespaces scissor-dev-PID / scissor-edge-PID whose scissor process "
                                   "no longer runs (their veth ends go with them). Touches nothing else; idempotent.")
    p.set_defaults(func=cmd_netns_cleanup)
    p = sub.add_parser("keygen", help="write a new key file for payload sealing (link.key_file)",
                       description="Write 32 random bytes as 64 hex digits to PATH with mode 0600 (an existing "
                                   "file is never overwritten). Device and edge given the same file with "
                                   "link.key_file seal and open every feature payload with AES-256-GCM.")
    p.add_argument("path", type=Path, metavar="PATH", help="key file to create")
    p.set_defaults(func=cmd_keygen)
