"""package.xml names a rosdep key for every runtime Python dependency that has one, and the requirements
files keep the ROS wheels apart from the pure-Python pins a distro user installs."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from repo_paths import PACKAGE_DIR, REPO

ROSDEP_KEYS = {
    "torch": "python3-pytorch-pip", "numpy": "python3-numpy", "scipy": "python3-scipy",
    "opencv-python-headless": "python3-opencv",
    "PyYAML": "python3-yaml", "matplotlib": "python3-matplotlib", "tqdm": "python3-tqdm",
    "psutil": "python3-psutil", "cryptography": "python3-cryptography", "gymnasium": "python3-gymnasium-pip",
    "stable-baselines3": "python3-stable-baselines3-pip", "rosbags": "python3-rosbags-pip",
    "zstandard": None, "lz4": None,  # no rosdep key exists (checked in ros/rosdistro rosdep/python.yaml)
}
"""Runtime pin (requirements-python.txt) -> its rosdep key (ros/rosdistro rosdep/python.yaml), None: none."""
TEST_TOOLS = {"pytest", "ruff", "pytest-timeout", "hypothesis"}


def pins(name: str) -> list[str]:
    text = (REPO / name).read_text()
    return [m.group(1) for m in re.finditer(r"^([A-Za-z0-9_.\[\]-]+)==", text, re.M)]


def test_every_runtime_pin_has_its_rosdep_key_in_package_xml():
    manifest = ET.parse(PACKAGE_DIR / "package.xml").getroot()
    exec_depends = {e.text for e in manifest.iter("exec_depend")}
    runtime = set(pins("requirements-python.txt")) - TEST_TOOLS
    assert runtime == set(ROSDEP_KEYS), "a pin without an entry in ROSDEP_KEYS (or the reverse)"
    assert {key for key in ROSDEP_KEYS.values() if key} <= exec_depends
    assert {"rclpy", "sensor_msgs", "std_msgs", "diagnostic_msgs", "scissor_msgs"} <= exec_depends


def test_no_ros_wheel_among_the_pure_python_pins():
    assert not [p for p in pins("requirements-python.txt") if p.startswith("ros-")]
    for name in ("requirements.txt", "requirements-jazzy.txt"):
        text = (REPO / name).read_text()
        assert "-r requirements-python.txt" in text, name
    assert all(p.startswith(("ros-kilted-", "colcon")) for p in pins("requirements.txt"))
    assert all(p.startswith(("ros-jazzy-", "colcon")) for p in pins("requirements-jazzy.txt"))
