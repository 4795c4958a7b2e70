"""Register the editable scissor_bringup in a venv's ament index, as ``colcon build --symlink-install`` would.

``pip install -e`` installs the Python packages and the console scripts but no data files, so neither
``ros2 launch``/``ros2 run`` nor scissor's own data lookup (``scissor_core.resources``) would find the
package. This links, under the venv prefix:

- ``share/ament_index/resource_index/packages/scissor_bringup`` (the index entry),
- ``share/scissor_bringup/{package.xml,config}`` -> the source file and folder (edits show at once, and
  what ``scissor profile`` writes lands in the repository),
- ``share/scissor_bringup/launch/*.launch.py`` -> the source files, one link each (``ros2 launch`` walks
  the share folder without following a linked folder),
- ``lib/scissor_bringup/<node>`` -> ``bin/<node>`` for every console script (where ``ros2 run`` looks).

Usage: python tools/register_ament.py PACKAGE_DIR  (run with the venv's python). Idempotent.
"""
from __future__ import annotations

import sys
from importlib.metadata import distribution
from pathlib import Path

from scissor_core.resources import INDEX_MARKER, PACKAGE  # what the data lookup reads is what this writes

SHARED = ("package.xml", "config")
LAUNCH = "launch"


def link(target: Path, link_path: Path) -> None:
    """Make ``link_path`` a symlink to ``target``, replacing whatever was there."""
    link_path.parent.mkdir(parents=True, exist_ok=True)
    if link_path.is_symlink() or link_path.is_file():
        link_path.unlink()
    elif link_path.is_dir():
        raise SystemExit(f"register_ament: {link_path} is a folder, not a link: remove it first")
    link_path.symlink_to(target)


def register(package_dir: Path, prefix: Path) -> None:
    index = prefix / INDEX_MARKER
    index.parent.mkdir(parents=True, exist_ok=True)
    index.touch()
    share = prefix / "share" / PACKAGE
    for name in SHARED:
        link(package_dir / name, share / name)
    if (share / LAUNCH).is_symlink():  # an older registration linked the folder
        (share / LAUNCH).unlink()
    for launch_file in sorted((package_dir / LAUNCH).glob("*.launch.py")):
        link(launch_file, share / LAUNCH / launch_file.name)
    scripts = [ep.name for ep in distribution(PACKAGE).entry_points if ep.group == "console_scripts"]
    for name in scripts:
        link(prefix / "bin" / name, prefix / "lib" / PACKAGE / name)
    print(f"register_ament: {PACKAGE} in the ament index of {prefix} (share -> {package_dir}; "
          f"{len(scripts)} executables in lib/{PACKAGE})")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    register(Path(sys.argv[1]).resolve(), Path(sys.prefix))
