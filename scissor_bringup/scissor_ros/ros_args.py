"""The ``config_file`` a node process was given, read from its ROS arguments before ``rclpy.init``.

A node's process set-up (the Fast DDS profile, the heap setting: :func:`scissor_ros.process.prepare_process`)
must happen before the first DDS participant exists, so before the node can read its parameters; it comes
from the config file the node will read. This finds that file the way rcl will: ``-p config_file:=F`` /
``--param config_file:=F`` (optionally ``NODE:config_file:=F``) and ``--params-file FILE`` sections
(``/**``, ``**`` or the node's name, with ``ros__parameters.config_file``: what ``ros2 launch`` writes),
inside ``--ros-args`` (up to ``--``), the last one winning. What cannot be read (a missing or malformed
params file) is left to rcl, which reports it at init.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

PARAMETER = "config_file"
WILDCARDS = ("/**", "**")


def ros_arguments(argv: Sequence[str]) -> list[str]:
    """The arguments inside every ``--ros-args ... [--]`` section of ``argv``."""
    inside, found = False, []
    for arg in argv:
        if arg == "--ros-args":
            inside = True
        elif arg == "--":
            inside = False
        elif inside:
            found.append(arg)
    return found


def node_name_remap(args: Sequence[str]) -> str | None:
    """The node name given by ``-r __node:=NAME`` (or ``__name``), if any."""
    name = None
    for flag, value in zip(args, args[1:]):
        if flag in ("-r", "--remap"):
            key, sep, target = value.partition(":=")
            if sep and key.rpartition(":")[2] in ("__node", "__name"):
                name = target
    return name


def _from_params_file(path: str, node: str | None) -> str | None:
    """``config_file`` of the params file's sections that apply to ``node`` (any named section when the
    node's name is not known), the last one in the file winning; None when none has it or it is unreadable."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(data, dict):
        return None
    found = None
    for key, section in data.items():
        name = str(key).rstrip("/").rpartition("/")[2]
        applies = str(key) in WILDCARDS or node is None or name == node
        params = section.get("ros__parameters") if isinstance(section, dict) else None
        if applies and isinstance(params, dict) and isinstance(params.get(PARAMETER), str):
            found = params[PARAMETER]
    return found


def _yaml_string(text: str) -> str | None:
    """A ``-p`` value as rcl reads it (a YAML scalar), when it is a string."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return value if isinstance(value, str) and value else None


def config_file_from_ros_args(argv: Sequence[str]) -> str | None:
    """The ``config_file`` parameter ``argv`` gives the node, or None (the node will use the default)."""
    args = ros_arguments(argv)
    node = node_name_remap(args)
    found = None
    for flag, value in zip(args, args[1:]):
        if flag in ("-p", "--param"):
            key, sep, text = value.partition(":=")
            target, _, name = key.rpartition(":")
            if sep and name == PARAMETER and (not target or node is None or target == node):
                found = _yaml_string(text) or found
        elif flag == "--params-file":
            found = _from_params_file(value, node) or found
    return found
