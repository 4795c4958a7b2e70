"""scissor_bringup: the ament_python package (``colcon build`` finds it next to ``scissor_msgs``).

It installs every Python package of the project, one layer each (docs/design.md §2): the ROS-free
core (``scissor_core``), what nodes import from ROS (``scissor_ros``), the nodes (``scissor_device``,
``scissor_edge``, ``scissor_agent``), orchestration (``scissor_bringup``) and the command line
(``scissor_cli``), plus the ``scissor`` command and the ``ros2 run``-style node entry points.
``scissor_msgs`` is a separate ament_cmake package built with colcon (see the Makefile).
Every data file under ``config/`` and the launch files are installed to ``share/scissor_bringup``, where
the code finds them through the ament index (:mod:`scissor_core.resources`).
"""
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "scissor_bringup"


def share_files(folder: str) -> list[tuple[str, list[str]]]:
    """data_files entries installing every file under ``folder`` to ``share/PACKAGE/folder``, tree kept."""
    by_dir: dict[str, list[str]] = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            by_dir.setdefault(f"share/{PACKAGE}/{path.parent.as_posix()}", []).append(path.as_posix())
    return list(by_dir.items())


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(
        include=["scissor_core*", "scissor_ros*", "scissor_device*", "scissor_edge*", "scissor_agent*",
                 "scissor_bringup*", "scissor_cli*"]
    ),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        *share_files("config"),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="scissor maintainers",
    maintainer_email="maintainers@scissor.example.com",
    description="Dynamic DNN partitioning for edge-assisted video analytics on ROS 2",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "scissor = scissor_cli.main:main",
            "camera_node = scissor_device.camera_node:main",
            "device_node = scissor_device.device_node:main",
            "edge_node = scissor_edge.edge_node:main",
            "agent_node = scissor_agent.agent_node:main",
            "annotator_node = scissor_device.annotator_node:main",
        ],
    },
)
