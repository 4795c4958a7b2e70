"""The ``ros2 launch`` description of the testbed, or of one side of it, from :mod:`scissor_bringup.testbed`.

``launch/testbed.launch.py`` (both sides on one machine), ``launch/robot.launch.py`` (camera, device,
agent, annotator) and ``launch/edge.launch.py`` (the edge) each return :func:`launch_description` of their
side, so they start exactly the nodes ``scissor testbed [--side robot|edge]`` starts, with the launch
arguments of :data:`scissor_bringup.testbed.LAUNCH_ARGUMENTS`. Needs ``launch`` and ``launch_ros`` (a ROS 2
distro); nothing else in scissor imports this module.

An argument the file does not declare is an error naming the known ones when the file is the one
``ros2 launch`` was given; included from another launch file, the arguments on the command line are the
parent's and are not checked here.
"""
from __future__ import annotations

import sys
from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from scissor_bringup.testbed import LAUNCH_ARGUMENTS, SIDES, nodes_from_launch_arguments, unknown_arguments


def launched_directly(launch_file: str, argv: list[str]) -> bool:
    """Whether ``ros2 launch`` (command line ``argv``) was given ``launch_file`` itself."""
    return Path(launch_file).name in {Path(a).name for a in argv}


def launch_description(side: str = "both", launch_file: str = "") -> LaunchDescription:
    """The launch arguments, and the nodes of ``side`` as they ask (``launch_file``: the caller's ``__file__``)."""
    nodes = SIDES[side]

    def start(context) -> list[Node]:
        if launch_file and launched_directly(launch_file, sys.argv):
            error = unknown_arguments([a.partition(":=")[0] for a in context.argv if ":=" in a])
            if error:
                raise ValueError(f"{Path(launch_file).name}: {error}")
        values = {a.name: LaunchConfiguration(a.name).perform(context) for a in LAUNCH_ARGUMENTS}
        return [Node(package=spec.package, executable=spec.executable, name=spec.name, namespace=spec.namespace,
                     parameters=[spec.parameters], remappings=list(spec.remappings), additional_env=spec.env,
                     output="screen")
                for spec in nodes_from_launch_arguments(values, nodes)]

    return LaunchDescription([
        *(DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
          for a in LAUNCH_ARGUMENTS),
        OpaqueFunction(function=start),
    ])
