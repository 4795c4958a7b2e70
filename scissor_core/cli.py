"""The ``scissor`` command line: inspect splits, verify, profile and benchmark models.

Every subcommand reads the same typed config (``--config``, default
``config/scissor.yaml``) and accepts ``--set section.key=value`` overrides.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from scissor_core.config import DEFAULT_CONFIG, ConfigError, ScissorConfig, load_config
from scissor_core.models.registry import DEVICE_ONLY, MODEL_NAMES, VisionModel, load_model

log = logging.getLogger("scissor")


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
    return parser


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
