"""ros2 launch scissor_bringup edge.launch.py [model:=...] [config_file:=FILE] [namespace:=NS] ...

The edge server's side of a two-host deployment: the edge node alone (``scissor testbed --side edge``).

`ros2 launch scissor_bringup edge.launch.py --show-args` lists the arguments
(scissor_bringup.testbed.LAUNCH_ARGUMENTS).
"""
from scissor_bringup.launch_description import launch_description


def generate_launch_description():
    return launch_description("edge", __file__)
