"""Where scissor's installed data lives: the ``scissor_bringup`` package's share folder, found through the
ament index, and how a relative path of the config is resolved against it.

Every data file a node or command reads by default (``config/scissor.yaml``, the profiles, the policies,
the traces, the Darknet cfgs, the Fast DDS profiles, the launch files) is installed to
``<prefix>/share/scissor_bringup/`` by ``colcon build`` (copied, or symlinked with ``--symlink-install``),
by ``make install`` (symlinked into ``.venv/share``) or by ``pip install``. The prefix is the first one
on ``AMENT_PREFIX_PATH`` whose ament index lists the package (what ``ament_index_python`` does; the
index is a folder layout, read here without importing ROS), else ``sys.prefix`` (a plain pip install).
The source tree is never looked at: what runs is what was installed.
"""
from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

PACKAGE = "scissor_bringup"
"""The ROS package that installs scissor's data."""
INDEX_MARKER = Path("share", "ament_index", "resource_index", "packages", PACKAGE)
"""The ament index entry of the package, relative to an install prefix."""


def installed_prefixes(environ: dict[str, str] | None = None, fallback: str = sys.prefix) -> list[Path]:
    """The install prefixes that register the package in their ament index, in lookup order."""
    environ = os.environ if environ is None else environ
    prefixes = [p for p in environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [fallback]
    return [Path(p) for p in dict.fromkeys(prefixes) if (Path(p) / INDEX_MARKER).is_file()]


@cache
def share_dir() -> Path:
    """``<prefix>/share/scissor_bringup`` of the first prefix that has the package; if none has it, the
    place a pip install would use (``sys.prefix``), so that a missing file's error names a real path."""
    found = installed_prefixes()
    return (found[0] if found else Path(sys.prefix)) / "share" / PACKAGE


def not_installed_hint() -> str:
    """A sentence for errors about a missing default file: empty when the package is installed."""
    if installed_prefixes():
        return ""
    return (f" ({PACKAGE} is not in the ament index of any prefix on AMENT_PREFIX_PATH nor of {sys.prefix}: "
            f"install it with `make install`, `colcon build` + `source install/setup.bash`, or pip)")


def resolve_data_path(path: str | Path) -> Path:
    """An absolute path as it is; a relative one names a file of the current directory when it exists
    there, else the installed data's file of that name when that exists (``config/profiles/x.json``),
    else the current directory's (an output to create, or a missing file whose error names it)."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    here = Path.cwd() / p
    if here.exists():
        return here
    packaged = share_dir() / p
    return packaged if packaged.exists() else here
