"""ros2 launch scissor_bringup testbed.launch.py [model:=...] [config_file:=FILE] [namespace:=NS] ...

Both sides on one machine: camera, device, edge, agent and annotator (``scissor testbed`` starts the same nodes).
For two hosts use ``robot.launch.py`` on the robot and ``edge.launch.py`` on the edge server.

`ros2 launch scissor_bringup testbed.launch.py --show-args` lists the arguments
(scissor_bringup.testbed.LAUNCH_ARGUMENTS).
"""
from scissor_bringup.launch_description import launch_description


def generate_launch_description():
    return launch_description("both", __file__)
