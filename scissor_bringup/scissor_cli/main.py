"""The ``scissor`` command line: fetch assets, inspect, verify, profile, simulate, train, evaluate, run and benchmark.

Every subcommand reads the same typed config (``--config``, default
``config/scissor.yaml``) and accepts ``--set section.key=value`` overrides.
Each command group is a module of this package with a ``register`` function.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from scissor_cli import assets, bench, models, simulation, testbed
from scissor_core.config import ConfigError

COMMAND_GROUPS = (assets, models, simulation, testbed, bench)
"""Modules that each add their subcommands to the parser, in --help order."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scissor", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"scissor: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
