"""ros2 launch scissor_bringup testbed.launch.py [config_file:=FILE] [namespace:=NS]

Both sides on one machine: camera, device, edge, agent and annotator (``scissor testbed`` starts the same nodes).
For two hosts use ``robot.launch.py`` on the robot and ``edge.launch.py`` on the edge server.
"""
from scissor_bringup.launch_description import launch_description


def generate_launch_description():
    return launch_description("both")
