"""What every command group shares: config loading with ``--set`` overrides, common options, helpers."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import yaml

from scissor_core.config import DEFAULT_CONFIG, ConfigError, ScissorConfig, load_config
from scissor_core.models.registry import MODEL_NAMES, VisionModel, load_model
from scissor_core.policies import POLICY_NAMES

log = logging.getLogger("scissor")

PAPER_HELP = ("train A2C with the paper's learner settings (batch 5 every 5 from a 10,000 replay buffer, no entropy "
              "bonus or advantage normalisation, the paper's 5-value state, patience 50)")


def add_config_options(p: argparse.ArgumentParser, config_help: str = "YAML configuration file",
                       overridable: bool = True) -> None:
    """``--config``, ``--set`` (unless the command hands the file itself to nodes: not ``overridable``)
    and ``-v``: what every command that reads the config takes."""
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                   help=f"{config_help} (default: {DEFAULT_CONFIG.relative_to(DEFAULT_CONFIG.parents[1])})")
    if overridable:
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override one config value (YAML syntax for the value); repeatable")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")


def add_progress_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def add_common(p: argparse.ArgumentParser, model: bool = True) -> None:
    """The model argument, the config options, ``--weights``, ``--input-size`` and ``--scene-seed``."""
    if model:
        p.add_argument("model", nargs="?", choices=MODEL_NAMES,
                       help="model to work on (default: model.name of the config, yolov3)")
    add_config_options(p)
    p.add_argument("--weights", help="weight file (state_dict .pt/.pth, or Darknet .weights for yolov3); "
                                     "overrides model.weights; without one a seeded random init is used")
    p.add_argument("--input-size", type=int, help="network input side in pixels (multiple of 32)")
    p.add_argument("--scene-seed", type=int, default=0,
                   help="seed of the synthetic traffic scene whose first frame is the input")


def add_live_bench_options(p: argparse.ArgumentParser) -> None:
    """The model argument (default alexnet) and the base config of a benchmark or soak on the live testbed."""
    p.add_argument("model", nargs="?", choices=MODEL_NAMES, help="model (default alexnet)")
    add_config_options(p, "base YAML configuration", overridable=False)


def config_of(args: argparse.Namespace) -> ScissorConfig:
    """The config of a command: ``--config`` with ``--set``, the model argument, ``--weights``, ``--input-size``."""
    overrides = {}
    for item in getattr(args, "overrides", []):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects SECTION.KEY=VALUE, got {item!r}")
        overrides[key.strip()] = yaml.safe_load(value)
    if getattr(args, "model", None):
        overrides["model.name"] = args.model
    if getattr(args, "weights", None):
        overrides["model.weights"] = str(Path(args.weights).resolve())
    if getattr(args, "input_size", None):
        overrides["model.input_size"] = args.input_size
    return load_config(args.config, overrides)


def model_and_frame(args: argparse.Namespace) -> tuple[ScissorConfig, VisionModel, object]:
    """Config, the model it names, and the first frame of the synthetic scene (``--scene-seed``)."""
    from scissor_core.sources.scene import TrafficScene

    config = config_of(args)
    model = load_model(config)
    print(f"# {model.name}: weights {model.weights_label}, input {model.input_size}x{model.input_size}")
    frame = TrafficScene(seed=args.scene_seed).frame(0)
    return config, model, frame


def simulation_setup(args: argparse.Namespace) -> tuple[ScissorConfig, object, list[str]]:
    """Config (with the command's overrides), the profile and the policy names of a simulate/bench run."""
    from scissor_core.config import validate
    from scissor_core.policies import POLICY_NAMES
    from scissor_core.runtime.costs import ModelProfile

    config = config_of(args)
    for key, value in (("sim.frames", args.frames), ("sim.seed", args.seed), ("sim.interval", args.interval),
                       ("queues.timeout", args.timeout), ("link.trace", args.trace)):
        if value is not None:
            section, _, field_name = key.partition(".")
            setattr(getattr(config, section), field_name, value)
    validate(config, "the command line")
    profile = ModelProfile.load(args.profile)
    names = list(POLICY_NAMES) if args.policy == "all" else args.policy.split(",")
    return config, profile, names


def add_simulation_options(p: argparse.ArgumentParser, frames: int | None, policy: str) -> None:
    """The options of every command that simulates on a profile."""
    p.add_argument("--profile", type=Path, required=True,
                   help="profile JSON written by `scissor profile MODEL` (its model names the run)")
    p.add_argument("--policy", default=policy,
                   help=f"policy name, comma-separated names, or 'all' (default {policy}): "
                        f"{', '.join(POLICY_NAMES)}, fixed:SPLIT")
    p.add_argument("--frames", type=int, default=frames,
                   help=f"frames per run (default {frames if frames else 'sim.frames of the config'})")
    p.add_argument("--trace", help="bandwidth trace spec (default link.trace): const:5MB, steps:10x5MB,10x1MB, "
                                   "walk:mean=5MB,sigma=0.2, mahimahi:FILE[,scale=K] or a Mahimahi file")
    p.add_argument("--interval", type=float, help="frame interval in s (default: the paper's for the model)")
    p.add_argument("--timeout", type=float, help="queue timeout T in s (default: the paper's for the model)")
    p.add_argument("--seed", type=int, help="seed of arrivals and random-walk traces (default sim.seed)")
    add_config_options(p)


def keep_discovery_local() -> None:
    """Keep DDS discovery on this machine unless the environment configured otherwise."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


def testbed_exit_code(run, outcomes_expected: bool = True) -> int:
    """1 when a node failed (not stopped by the launcher's SIGINT) or, where the device runs
    (``outcomes_expected``), no outcome was recorded; else 0."""
    failed = {name: code for name, code in run.exit_codes.items() if code not in (0, -2)}
    return 1 if failed or (outcomes_expected and not run.outcomes) else 0
