"""The ``ros2 launch`` description of the testbed, or of one side of it, from :mod:`scissor_bringup.testbed`.

``launch/testbed.launch.py`` (both sides on one machine), ``launch/robot.launch.py`` (camera, device,
agent) and ``launch/edge.launch.py`` (the edge) each return :func:`launch_description` of their side, so
they start exactly the nodes ``scissor testbed [--side robot|edge]`` starts. Needs ``launch`` and
``launch_ros`` (a ROS 2 distro); nothing else in scissor imports this module.
"""
from __future__ import annotations

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from scissor_bringup.testbed import SIDES, describe_testbed
from scissor_core.config import DEFAULT_CONFIG


def launch_description(side: str = "both") -> LaunchDescription:
    """Launch arguments ``config_file`` and ``namespace``, and the nodes of ``side``."""
    nodes = SIDES[side]

    def start(context) -> list[Node]:
        config_file = LaunchConfiguration("config_file").perform(context)
        namespace = LaunchConfiguration("namespace").perform(context)
        return [Node(package=spec.package, executable=spec.executable, name=spec.name, namespace=spec.namespace,
                     parameters=[spec.parameters], additional_env=spec.env, output="screen")
                for spec in describe_testbed(config_file, namespace, nodes=nodes)]

    return LaunchDescription([
        DeclareLaunchArgument("config_file", default_value=str(DEFAULT_CONFIG),
                              description="scissor YAML configuration (defaults of every node parameter)"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace of all testbed topics (several testbeds on one network)"),
        OpaqueFunction(function=start),
    ])
