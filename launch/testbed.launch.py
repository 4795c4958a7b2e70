"""ros2 launch scissor_bringup testbed.launch.py [config_file:=FILE] [namespace:=NS]

For users with a ROS 2 distro (launch_ros installed). Starts exactly the nodes of
``scissor_bringup.testbed.describe_testbed`` — the same description that
``scissor testbed`` starts without launch_ros — so the two cannot drift apart.
"""
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription
from scissor_bringup.testbed import describe_testbed
from scissor_core.config import DEFAULT_CONFIG


def _nodes(context):
    config_file = LaunchConfiguration("config_file").perform(context)
    namespace = LaunchConfiguration("namespace").perform(context)
    return [
        Node(
            package=spec.package,
            executable=spec.executable,
            name=spec.name,
            namespace=spec.namespace,
            parameters=[spec.parameters],
            additional_env=spec.env,
            output="screen",
        )
        for spec in describe_testbed(config_file, namespace)
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument("config_file", default_value=str(DEFAULT_CONFIG),
                              description="scissor YAML configuration (defaults of every node parameter)"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace of all testbed topics (several testbeds on one network)"),
        OpaqueFunction(function=_nodes),
    ])
