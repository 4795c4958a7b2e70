#!/usr/bin/env python3
"""Rewrite the build machine's include paths in the ROS 2 wheels' CMake files.

The ``ros-kilted-*`` message wheels export CMake targets whose
INTERFACE_INCLUDE_DIRECTORIES name folders of the machine that built them
(``/opt/python/cp311-cp311/...``). CMake refuses non-existent include paths,
so building an interface package (``scissor_msgs``) against them fails with
"includes non-existent path /opt/python/cp311-cp311/include/python3.11".

Run this with the virtualenv's own interpreter: it replaces those two folders,
in every ``*.cmake`` file below ``sys.prefix``, with this Python's include
folder (``sysconfig.get_paths()['include']``) and this environment's
``numpy.get_include()``. Idempotent: files without foreign paths are left as
they are, so a second run changes nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
import sysconfig
from pathlib import Path

FOREIGN_PYTHON_INCLUDE = "/opt/python/cp311-cp311/include/python3.11"
FOREIGN_NUMPY_INCLUDE = "/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include"


def replacements() -> list[tuple[str, str]]:
    import numpy  # installed with the wheels (rosidl_generator_py needs it)

    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    for path in (python_include, numpy_include):
        if not os.path.isdir(path):
            raise SystemExit(f"fix_ros_wheel_cmake: include folder {path} does not exist")
    # Numpy's first: the two foreign paths share the /opt/python/cp311-cp311 prefix,
    # but neither is a prefix of the other, so the order only matters for clarity.
    return [(FOREIGN_NUMPY_INCLUDE, numpy_include), (FOREIGN_PYTHON_INCLUDE, python_include)]


def fix(prefix: Path, verbose: bool = False) -> int:
    subs = replacements()
    changed = 0
    for root in (prefix / "share", prefix / "lib"):
        if not root.is_dir():
            continue
        for path in root.rglob("*.cmake"):
            if not path.is_file():
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if "/opt/python/cp311-cp311" not in text:
                continue
            new = text
            for old, repl in subs:
                new = new.replace(old, repl)
            if new != text:
                tmp = path.with_name(path.name + ".tmp-fix")
                tmp.write_text(new, encoding="utf-8")
                os.replace(tmp, path)
                changed += 1
                if verbose:
                    print(f"fixed {path}")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", type=Path, default=Path(sys.prefix),
                        help="environment prefix to fix (default: this interpreter's sys.prefix)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    changed = fix(args.prefix, args.verbose)
    print(f"fix_ros_wheel_cmake: rewrote foreign include paths in {changed} file(s) under {args.prefix}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
