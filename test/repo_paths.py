"""Where the tests find the repository's own files (the installed data is found as the code finds it:
``scissor_core.config.CONFIG_DIR``, through the ament index)."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
"""The repository root (the colcon workspace's ``src/scissor`` in a ROS user's layout)."""
PACKAGE_DIR = REPO / "scissor_bringup"
"""The ament_python package folder: setup.py, package.xml, launch/, config/ and the Python packages."""
MSGS_DIR = REPO / "scissor_msgs"
"""The ament_cmake interface package."""
