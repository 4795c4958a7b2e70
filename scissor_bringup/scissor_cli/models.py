"""Commands on one model: splits, verify, profile, calibrate."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from scissor_cli.common import add_common, add_progress_option, config_of, model_and_frame
from scissor_core.models.registry import DEVICE_ONLY, MODEL_NAMES, load_model


def cmd_splits(args: argparse.Namespace) -> int:
    import torch
    from torch.fx.passes.shape_prop import ShapeProp

    config = config_of(args)
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
    from scissor_core.analysis.verify import format_table, verify_model

    _, model, frame = model_and_frame(args)
    rows = verify_model(model, frame)
    print(format_table(rows))
    bad = [r.split for r in rows if not r.identical]
    if bad:
        print(f"FAIL: split output differs from the unsplit forward at {bad}", file=sys.stderr)
        return 1
    print(f"OK: all {len(rows)} splits bit-identical to the unsplit forward (raw float32 through the wire codec)")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from scissor_core.analysis.profile import format_profile, plot_profile, profile_model

    config, model, frame = model_and_frame(args)
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


def calibrate_from_run(args: argparse.Namespace) -> int:
    """``scissor calibrate --from-run DIR``: fit the simulator to a live run's outcomes."""
    import yaml

    from scissor_core.analysis.calibrate import fit_run
    from scissor_core.config import load_config
    from scissor_core.policies.serving import default_profile_path
    from scissor_core.runtime.costs import ModelProfile
    from scissor_core.runtime.outcome import read_csv
    from scissor_core.runtime.traces import parse_trace

    run = args.from_run
    outcomes = read_csv(run / "outcomes.csv")
    if not outcomes:
        raise ValueError(f"{run / 'outcomes.csv'} holds no outcome")
    config_path = args.config or (run / "config.yaml" if (run / "config.yaml").is_file() else None)
    config = load_config(config_path)
    profile_path = args.profile or default_profile_path(config, outcomes[0].model)
    fit = fit_run(outcomes, ModelProfile.load(profile_path), parse_trace(config.link.trace))
    output = args.output or run / "profile-fitted.json"
    fit.apply(ModelProfile.load(profile_path), str(run)).save(output)
    settings = run / "sim-fitted.yaml"
    settings.write_text(yaml.safe_dump({"device": {"profile": str(output.resolve())}, "sim": fit.sim_settings()}))
    print(f"# {run}: {fit.frames} completed frames against {profile_path} (trace {config.link.trace})")
    print("| device factor | edge factor | compute spread | transport overhead s | result latency s |\n"
          "|---:|---:|---:|---:|---:|\n"
          f"| {fit.device_factor:.3f} | {fit.edge_factor:.3f} | {fit.compute_spread:.3f} | "
          f"{fit.transport_overhead:.4f} | {fit.result_latency:.4f} |")
    own = sorted(set(fit.device_factors) | set(fit.edge_factors))
    if own:
        print("factors of their own (splits with enough frames), device / edge: " + ", ".join(
            f"{s} {fit.device_factors.get(s, fit.device_factor):.3f} / {fit.edge_factors.get(s, fit.edge_factor):.3f}"
            for s in own))
    print(f"wrote {output} (the profile scaled by the fitted factors) and {settings} (its path and the sim "
          "settings: merge them into a config to simulate this system)")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from scissor_core.analysis.calibrate import calibrate_file
    from scissor_core.config import CONFIG_DIR
    from scissor_core.runtime.costs import ModelProfile

    if args.from_run is not None:
        return calibrate_from_run(args)
    if args.model is None:
        raise ValueError("scissor calibrate: give MODEL (or --from-run DIR)")

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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("splits", help="list a model's candidate splits and the tensors crossing each",
                       description="List the candidate splits (name, device nodes, crossing tensors and shapes, "
                                   "raw bytes); with --all also enumerate every valid cut of the traced graph.")
    add_common(p)
    p.add_argument("--all", action="store_true", help="also enumerate all valid cuts of the DAG")
    p.add_argument("--all-limit", type=int, default=0, metavar="N",
                   help="with --all, print the first N cuts in full (default 0: counts only)")
    p.set_defaults(func=cmd_splits)
    p = sub.add_parser("verify", help="check every split is bit-identical to the unsplit forward (Table 3)",
                       description="Run every candidate split on a synthetic traffic frame through the raw wire "
                                   "codec and compare with the unsplit forward; exit 1 on any difference.")
    add_common(p)
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("profile", help="measure device/edge time and bytes per codec for every split",
                       description="Profile every candidate split: device-side and edge-side compute time "
                                   "(warm-up, median and p95) and encoded bytes per codec; writes JSON + PNG.")
    add_common(p)
    p.add_argument("--runs", type=int, help="timed runs per split and side (default: profile.runs)")
    p.add_argument("--warmup", type=int, help="untimed warm-up runs (default: profile.warmup)")
    p.add_argument("--device-threads", type=int, help="torch threads on the device side")
    p.add_argument("--edge-threads", type=int, help="torch threads on the edge side")
    p.add_argument("--device-slowdown", type=float, help="multiply device times (emulate a slower device)")
    p.add_argument("--edge-slowdown", type=float, help="multiply edge times (below 1: a faster edge)")
    p.add_argument("--output", type=Path, help="profile JSON path (default: profiles/MODEL.json; PNG beside it)")
    add_progress_option(p)
    p.set_defaults(func=cmd_profile)
    p = sub.add_parser("calibrate", help="rescale a measured profile to a target device/edge speed (paper setting)",
                       description="Scale a measured profile's device and edge times by one factor each so that "
                                   "split 'last' takes --device-time s on the device and split '0' takes "
                                   "--edge-time s on the edge (per-split shape kept; factors recorded in settings). "
                                   "Without times: the paper's (YOLOv3 4.347 s / 0.759 s), or --factors-from.")
    p.add_argument("model", nargs="?", choices=MODEL_NAMES, help="model of the profile (not with --from-run)")
    p.add_argument("--profile", type=Path, help="measured profile (default config/profiles/MODEL.json; with "
                                                 "--from-run the run's: device.profile of its config)")
    p.add_argument("--from-run", type=Path, metavar="DIR",
                   help="fit the simulator to a live run instead: DIR/outcomes.csv (a testbed's --output) gives the "
                        "device and edge compute factors against the profile, the compute spread, the transport's "
                        "overhead beyond bytes/rate and the result's latency; writes DIR/profile-fitted.json and "
                        "DIR/sim-fitted.yaml")
    p.add_argument("--config", type=Path,
                   help="with --from-run: the run's config (default DIR/config.yaml, else config/scissor.yaml)")
    p.add_argument("--device-time", type=float, help="full local forward time to reach (s)")
    p.add_argument("--edge-time", type=float, help="full edge forward time to reach (s)")
    p.add_argument("--factors-from", type=Path,
                   help="reuse the two slowdown factors of this calibrated profile (same device and edge hardware)")
    p.add_argument("--output", type=Path, help="calibrated profile (default config/profiles/MODEL-paper.json)")
    p.set_defaults(func=cmd_calibrate)
