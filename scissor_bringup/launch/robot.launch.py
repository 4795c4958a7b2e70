"""ros2 launch scissor_bringup robot.launch.py [model:=...] [config_file:=FILE] [namespace:=NS] ...

The robot side of a two-host deployment: camera, device, agent and annotator (``scissor testbed --side robot``).
The edge runs elsewhere, from ``edge.launch.py``; see the README's deployment section.

`ros2 launch scissor_bringup robot.launch.py --show-args` lists the arguments
(scissor_bringup.testbed.LAUNCH_ARGUMENTS).
"""
from scissor_bringup.launch_description import launch_description


def generate_launch_description():
    return launch_description("robot", __file__)
