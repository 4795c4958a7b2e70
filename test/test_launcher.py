"""The shared testbed description and the rclpy-only launcher (process handling, clean shutdown)."""
from __future__ import annotations

import ast
import io
import sys
import textwrap
from pathlib import Path

import pytest

from scissor_bringup.launcher import Launcher
from scissor_bringup.testbed import SIDES, TESTBED_NODES, NodeSpec, describe_testbed

REPO = Path(__file__).resolve().parents[1]


def test_description_lists_every_node_with_the_config_file():
    specs = describe_testbed(REPO / "config" / "scissor.yaml", namespace="car1",
                             overrides={"device_node": {"policy": "greedy", "fallback": True, "rate": 2.5}})
    assert [s.executable for s in specs] == list(TESTBED_NODES)
    device = specs[1]
    assert device.ros_args() == [
        "--ros-args", "-r", "__node:=device", "-r", "__ns:=/car1",
        "-p", f"config_file:={REPO / 'config' / 'scissor.yaml'}",
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


@pytest.mark.parametrize(("name", "side"), [("testbed", "both"), ("robot", "robot"), ("edge", "edge")])
def test_launch_files_consume_the_shared_description(name, side):
    """launch_ros is not in this venv (see the README), so check the launch files' structure: each returns
    the shared launch description of its side, which builds its nodes from describe_testbed."""
    tree = ast.parse((REPO / "launch" / f"{name}.launch.py").read_text())
    assert "generate_launch_description" in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "launch_description"]
    assert [c.args[0].value for c in calls] == [side]
    builder = ast.parse((REPO / "scissor_bringup" / "launch_description.py").read_text())
    imported = {a.name for node in ast.walk(builder) if isinstance(node, ast.ImportFrom) for a in node.names}
    assert {"describe_testbed", "SIDES", "Node", "LaunchDescription"} <= imported


def test_the_two_sides_are_the_whole_testbed():
    assert sorted(SIDES["robot"] + SIDES["edge"]) == sorted(SIDES["both"]) == sorted(TESTBED_NODES)
    assert [s.executable for s in describe_testbed(nodes=SIDES["edge"])] == ["edge_node"]


def test_run_testbed_refuses_what_a_side_cannot_do(tmp_path):
    from scissor_bringup.testbed_run import run_testbed

    for kwargs, match in (({"side": "gpu"}, "choose one of both, robot, edge"),
                          ({"side": "edge", "netns": True}, "--netns runs both sides"),
                          ({"side": "edge", "record": tmp_path / "bag"}, "--record needs the robot side")):
        with pytest.raises(ValueError, match=match):
            run_testbed(REPO / "config" / "scissor.yaml", 1.0, tmp_path / "out", **kwargs)


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


def test_a_node_ignoring_sigint_is_terminated(tmp_path):
    stubborn = _script(tmp_path, "stubborn", "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                             "print('up', flush=True)\nwhile True: time.sleep(0.05)\n")
    out = io.StringIO()
    launcher = _PythonLauncher([stubborn], grace=0.5, output=out)
    codes = launcher.run(duration=120, until=lambda: "[stubborn] up" in out.getvalue())  # SIGINT once it ignores it
    assert codes["stubborn"] == -15  # SIGTERM after the SIGINT grace period


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
