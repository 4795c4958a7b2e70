"""scissor_bringup: orchestration, above the nodes.

The one testbed description (``testbed``) that both ``launch/testbed.launch.py`` and ``scissor
testbed`` start, the rclpy-only launcher and the runs built on it (``launcher``, ``testbed_run``),
the rosbag2 recorder, the network-namespace link (``netns``), the fault-injection soak, the live
benchmarks (``bench_live``, ``bench_transport``) and the live evaluation (``evaluate_live``).
"""
