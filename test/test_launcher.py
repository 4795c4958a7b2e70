"""The shared testbed description and the rclpy-only launcher (process handling, clean shutdown)."""
from __future__ import annotations

import importlib.util
import io
import sys
import textwrap

import pytest
from repo_paths import PACKAGE_DIR, REPO

from scissor_bringup.launcher import Launcher
from scissor_bringup.testbed import (LAUNCH_ARGUMENTS, SIDES, TESTBED_NODES, NodeSpec, describe_testbed,
                                     nodes_from_launch_arguments)
from scissor_core.config import DEFAULT_CONFIG, ConfigError


def test_description_lists_every_node_with_the_config_file():
    specs = describe_testbed(DEFAULT_CONFIG, namespace="car1",
                             overrides={"device_node": {"policy": "greedy", "fallback": True, "rate": 2.5}})
    assert [s.executable for s in specs] == list(TESTBED_NODES)
    device = specs[1]
    assert device.ros_args() == [
        "--ros-args", "-r", "__node:=device", "-r", "__ns:=/car1",
        "-p", f"config_file:={DEFAULT_CONFIG.resolve()}",
        "-p", "policy:=greedy", "-p", "fallback:=true", "-p", "rate:=2.5",
    ]
    with pytest.raises(ValueError, match="not in the testbed"):
        describe_testbed(overrides={"typo_node": {}})


def test_the_annotator_runs_on_the_robot_side_only_with_device_annotate(tmp_path):
    assert "annotator_node" in SIDES["robot"] and "annotator_node" not in SIDES["edge"]
    off = tmp_path / "off.yaml"
    off.write_text("device:\n  annotate: false\n")
    nodes = [s.executable for s in describe_testbed(off, overrides={"annotator_node": {"x": 1}})]
    assert nodes == [n for n in TESTBED_NODES if n != "annotator_node"]


def nodes_of_launch_file(name: str, arguments: dict[str, str]) -> list:
    """The launch_ros Nodes ``launch/<name>.launch.py`` would start with ``arguments`` (nothing is run)."""
    launch = pytest.importorskip("launch", reason="no launch stack (a ROS distro, or make test's ros2-src)")
    pytest.importorskip("launch_ros", reason="no launch stack (a ROS distro, or make test's ros2-src)")
    spec = importlib.util.spec_from_file_location(f"{name}_launch", PACKAGE_DIR / "launch" / f"{name}.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context = launch.LaunchContext()
    context.launch_configurations.update(arguments)
    actions = []
    for entity in module.generate_launch_description().entities:
        actions += entity.visit(context) or []
    return actions


@pytest.mark.parametrize(("name", "side"), [("testbed", "both"), ("robot", "robot"), ("edge", "edge")])
def test_each_launch_file_starts_the_nodes_of_its_side(name, side):
    nodes = nodes_of_launch_file(name, {})
    assert [(n.node_package, n.node_executable) for n in nodes] == [("scissor_bringup", e) for e in SIDES[side]]


def test_launch_arguments_reach_the_nodes_they_name():
    """``camera:=false`` leaves the camera out (frames come from the robot's own driver)."""
    nodes = nodes_of_launch_file("robot", {"camera": "false", "model": "resnet18"})
    assert [n.node_executable for n in nodes] == [e for e in SIDES["robot"] if e != "camera_node"]


def test_launch_arguments_become_parameters_and_remappings():
    specs = nodes_from_launch_arguments({"model": "resnet18", "trace": "const:2MB", "image_topic": "/front/image",
                                    "namespace": "car1"}, SIDES["robot"])
    assert [s.executable for s in specs] == list(SIDES["robot"])
    for spec in specs:
        assert spec.parameters["model.name"] == "resnet18" and spec.parameters["link.trace"] == "const:2MB"
        assert "model.weights" not in spec.parameters  # empty: the config file's value stays
        assert spec.remappings == (("camera/image_raw", "/front/image"),
                                   ("camera/image_raw/compressed", "/front/image/compressed"))
        assert spec.namespace == "car1"
        assert ["-r", "camera/image_raw:=/front/image"] == spec.ros_args()[5:7]


def test_bad_launch_arguments_are_refused_before_any_node_starts():
    with pytest.raises(ValueError, match="unknown launch argument\\(s\\) modle; the known ones are config_file, "
                                         "namespace, model"):
        nodes_from_launch_arguments({"modle": "resnet18"})
    with pytest.raises(ConfigError, match="model.name"):
        nodes_from_launch_arguments({"model": "resnet19"})
    with pytest.raises(ValueError, match="camera: 'yes' is not true or false"):
        nodes_from_launch_arguments({"camera": "yes"})


def test_every_launch_argument_is_in_the_readme_table():
    readme = (REPO / "README.md").read_text()
    for argument in LAUNCH_ARGUMENTS:
        assert f"| `{argument.name}` |" in readme, argument.name


def test_the_two_sides_are_the_whole_testbed():
    assert sorted(SIDES["robot"] + SIDES["edge"]) == sorted(SIDES["both"]) == sorted(TESTBED_NODES)
    assert [s.executable for s in describe_testbed(nodes=SIDES["edge"])] == ["edge_node"]


def test_run_testbed_refuses_what_a_side_cannot_do(tmp_path):
    from scissor_bringup.testbed_run import run_testbed

    for kwargs, match in (({"side": "gpu"}, "choose one of both, robot, edge"),
                          ({"side": "edge", "netns": True}, "--netns runs both sides"),
                          ({"side": "edge", "record": tmp_path / "bag"}, "--record needs the robot side")):
        with pytest.raises(ValueError, match=match):
            run_testbed(DEFAULT_CONFIG, 1.0, tmp_path / "out", **kwargs)


def _script(tmp_path, name: str, body: str) -> NodeSpec:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return NodeSpec(executable=str(path), name=name)


class _PythonLauncher(Launcher):
    """Runs the test scripts with this Python instead of looking for installed entry points."""

    def command(self, spec):
        return [sys.executable, spec.executable, *spec.ros_args()]


SLEEPER = """
    import signal, sys, time
    def bye(*_):
        print("flushed log", flush=True)
        sys.exit(0)
    signal.signal(signal.SIGINT, bye)
    print("up", sys.argv[1:], flush=True)
    while True:
        time.sleep(0.05)
"""


def test_runs_for_a_duration_then_interrupts_cleanly(tmp_path):
    out = io.StringIO()
    launcher = _PythonLauncher([_script(tmp_path, "a", SLEEPER), _script(tmp_path, "b", SLEEPER)], output=out)
    codes = launcher.run(duration=1.0)
    assert codes == {"a": 0, "b": 0}  # both stopped by the SIGINT at the end of the duration
    text = out.getvalue()
    assert all(n.peak_rss > 1_000_000 for n in launcher.nodes)  # a Python interpreter is several MB
    assert "[a] up" in text and "[b] flushed log" in text and "__node:=a" in text


def test_a_failing_node_stops_the_others(tmp_path):
    crash = _script(tmp_path, "crash", "import sys, time\ntime.sleep(0.3)\nsys.exit(3)\n")
    launcher = _PythonLauncher([_script(tmp_path, "ok", SLEEPER), crash], output=io.StringIO())
    codes = launcher.run(duration=30)
    assert codes == {"ok": 0, "crash": 3}


STUBBORN = """
    import faulthandler, signal, time
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # as every scissor node process does
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    def hang_here():
        while True:
            time.sleep(0.05)
    print("up", flush=True)
    hang_here()
"""


def test_a_node_ignoring_sigint_prints_its_stacks_and_is_terminated(tmp_path):
    out = io.StringIO()
    launcher = _PythonLauncher([_script(tmp_path, "stubborn", STUBBORN)], grace=0.5, output=out)
    codes = launcher.run(duration=120, until=lambda: "[stubborn] up" in out.getvalue())  # SIGINT once it ignores it
    assert codes["stubborn"] == -15  # SIGTERM after the SIGINT grace period
    assert "in hang_here" in out.getvalue()  # its stack, asked for before the SIGTERM, shows where it hung


def test_missing_executable_is_named():
    with pytest.raises(FileNotFoundError, match="no_such_node"):
        Launcher([NodeSpec(executable="no_such_node", name="x")]).run(duration=0.1)


def test_nodes_started_before_a_failed_start_are_shut_down(tmp_path):
    launcher = _PythonLauncher([_script(tmp_path, "first", SLEEPER), NodeSpec(executable="no_such_node", name="x")],
                               output=io.StringIO())
    launcher.command = lambda spec: (  # the second spec cannot be resolved
        Launcher.command(launcher, spec) if spec.name == "x" else [sys.executable, spec.executable])
    with pytest.raises(FileNotFoundError):
        launcher.run(duration=5)
    assert launcher.nodes[0].process.poll() is not None  # stopped, not orphaned
