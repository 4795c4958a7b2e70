"""scissor_bringup: ROS helpers shared by every node, the transport benchmark and (later) the launcher."""
