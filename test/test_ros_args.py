"""The config file a node process is given, read from its ROS arguments before rclpy.init (scissor_ros.ros_args)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import yaml
from hypothesis import given
from hypothesis import strategies as st

from scissor_core.config import CONFIG_DIR
from scissor_ros.ros_args import config_file_from_ros_args


def test_a_parameter_on_the_command_line():
    assert config_file_from_ros_args(["node", "--ros-args", "-p", "config_file:=/a.yaml"]) == "/a.yaml"
    assert config_file_from_ros_args(["node", "--ros-args", "--param", "config_file:='/b.yaml'"]) == "/b.yaml"
    # outside --ros-args, or after the closing --, it is the program's own argument
    assert config_file_from_ros_args(["node", "-p", "config_file:=/a.yaml"]) is None
    assert config_file_from_ros_args(["node", "--ros-args", "--", "-p", "config_file:=/a.yaml"]) is None
    # the last one wins; a value that is not a string (or empty) does not count
    assert config_file_from_ros_args(["n", "--ros-args", "-p", "config_file:=/a", "-p", "config_file:=/b"]) == "/b"
    assert config_file_from_ros_args(["n", "--ros-args", "-p", "config_file:=3", "-p", "config_file:=''"]) is None


def test_a_node_prefixed_parameter_counts_for_its_node_only():
    args = ["n", "--ros-args", "-r", "__node:=device", "-p", "edge:config_file:=/e", "-p", "device:config_file:=/d"]
    assert config_file_from_ros_args(args) == "/d"
    assert config_file_from_ros_args(args[:-2]) is None


def test_a_params_file_as_ros2_launch_writes_it(tmp_path):
    """launch_ros writes a node's parameters dict under its fully qualified name (or /** without a name)."""
    params = tmp_path / "launch_params_x"
    params.write_text(yaml.safe_dump({"/car1/device": {"ros__parameters": {"config_file": "/mine.yaml", "x": 1}},
                                      "/car1/edge": {"ros__parameters": {"config_file": "/edge.yaml"}}}))
    args = ["n", "--ros-args", "-r", "__node:=device", "-r", "__ns:=/car1", "--params-file", str(params)]
    assert config_file_from_ros_args(args) == "/mine.yaml"
    params.write_text(yaml.safe_dump({"/**": {"ros__parameters": {"config_file": "/all.yaml"}}}))
    assert config_file_from_ros_args(args) == "/all.yaml"
    # a later -p wins over the file; a missing or malformed file is left to rcl
    assert config_file_from_ros_args([*args, "-p", "config_file:=/cli.yaml"]) == "/cli.yaml"
    assert config_file_from_ros_args(["n", "--ros-args", "--params-file", str(tmp_path / "nope")]) is None
    params.write_text("{not yaml")
    assert config_file_from_ros_args(args) is None


@given(st.lists(st.sampled_from(["--ros-args", "--", "-p", "--param", "-r", "--params-file", "config_file:=/x",
                                 "a:config_file:=/y", "__node:=a", "config_file:=", ":=", "/nonexistent", "x"]),
                max_size=12))
def test_any_argument_list_gives_a_path_or_none(argv):
    found = config_file_from_ros_args(argv)
    assert found is None or found in ("/x", "/y")


@given(st.lists(st.text(max_size=20), max_size=8))
def test_arbitrary_text_never_raises(argv):
    found = config_file_from_ros_args(["--ros-args", *argv])
    assert found is None or isinstance(found, str)


NODE_PROCESS = textwrap.dedent("""
    import os, sys
    from rclpy.node import Node
    from rclpy.task import Future
    from scissor_ros.process import run

    class Probe(Node):
        def __init__(self):
            super().__init__("device")
            print("profile", os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE"), flush=True)
            self.done = Future()
            self.done.set_result(True)

    sys.exit(run(Probe, sys.argv))
""")


def test_a_node_started_by_ros2_launch_sets_up_dds_from_its_own_config_file(tmp_path):
    """The Fast DDS profile of the config file in the launch's params file is the process's, not the
    default config's."""
    profile = tmp_path / "site_profile.xml"
    profile.write_text((CONFIG_DIR / "fastdds_udp_profile.xml").read_text())
    config = tmp_path / "site.yaml"
    config.write_text(yaml.safe_dump({"ros": {"fastdds_profile": str(profile)}}))
    params = tmp_path / "launch_params"
    params.write_text(yaml.safe_dump({"/device": {"ros__parameters": {"config_file": str(config)}}}))
    script = tmp_path / "probe.py"
    script.write_text(NODE_PROCESS)
    env = {k: v for k, v in os.environ.items() if k not in ("FASTDDS_DEFAULT_PROFILES_FILE",
                                                            "FASTDDS_BUILTIN_TRANSPORTS")}
    done = subprocess.run([sys.executable, str(script), "--ros-args", "-r", "__node:=device", "--params-file",
                           str(params)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"profile {profile}" in done.stdout
