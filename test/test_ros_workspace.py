"""scissor as a ROS 2 user has it: the repository cloned into ``ws/src``, ``colcon build`` with no flags,
``source install/setup.bash``, ``ros2 launch``. The install under test is the workspace's (a copy, not
the venv's editable package): its nodes, its share folder, its messages.

Needs the launch stack (``launch_ros``, ``ros2cli``): ``make test`` builds it into the venv from
``../shared/ros2-src`` when that exists; a ROS user's distro provides it. Without it these tests skip.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import CAMERA_SEED, PATIENCE, wait_for
from repo_paths import PACKAGE_DIR, REPO
from ros_graph import ros_env, unique_domain_id

VENV_BIN = Path(sys.executable).parent
ROS2 = VENV_BIN / "ros2"
pytestmark = pytest.mark.skipif(
    not ROS2.exists() or importlib.util.find_spec("launch_ros") is None or shutil.which("git") is None,
    reason="no launch stack here (launch_ros, ros2cli: `make test` installs them from ../shared/ros2-src; a ROS "
           "distro provides them) or no git")

FRAMES = 10
"""Frames the camera of a launch test publishes."""


def venv_active(env: dict[str, str]) -> dict[str, str]:
    """``env`` as after ``source .venv/bin/activate`` with the wheels' prefix as the ROS underlay (what a
    distro user gets from ``source /opt/ros/DISTRO/setup.bash``)."""
    prefix = str(VENV_BIN.parent)
    return dict(env, VIRTUAL_ENV=prefix, PATH=f"{VENV_BIN}{os.pathsep}{env['PATH']}", AMENT_PREFIX_PATH=prefix,
                CMAKE_PREFIX_PATH=prefix)


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def install(self) -> Path:
        return self.root / "install"

    def shell(self, command: str, domain: int | None = None, cwd: Path | None = None,
              install: str = "install", **popen) -> subprocess.Popen:
        """``command`` in bash after ``source <install>/setup.bash``, with the venv active (as a user of the
        wheels would have it; a distro user sources /opt/ros/DISTRO instead)."""
        env = venv_active(ros_env(domain) if domain is not None else dict(os.environ))
        script = f"source {shlex.quote(str(self.root / install / 'setup.bash'))} && exec {command}"
        # Ctrl-C as in a terminal: a process started with SIGINT ignored (a background job, as CI may run
        # make) passes that on, and then `ros2 launch` ignores SIGINT too.
        return subprocess.Popen(["bash", "-c", script], cwd=cwd or self.root, env=env, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **popen)

    def run(self, command: str, timeout: float = 600, **kwargs) -> str:
        """Run ``command`` to its end; its output. Fails the test on a non-zero exit."""
        proc = self.shell(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)
        out, _ = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, f"{command}: exit {proc.returncode}\n{out[-4000:]}"
        return out


def colcon(root: Path, *args: str, timeout: float = 900) -> str:
    """colcon in the workspace ``root`` with the venv active; its output (fails the test on an error)."""
    done = subprocess.run([str(VENV_BIN / "colcon"), *args], cwd=root, env=venv_active(dict(os.environ)), text=True,
                          timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert done.returncode == 0, f"colcon {' '.join(args)}: exit {done.returncode}\n{done.stdout[-4000:]}"
    return done.stdout


def clone_into(src: Path) -> None:
    """The repository's files (tracked, and new ones not ignored) copied to ``src/scissor``: what
    ``git clone`` gives, with this checkout's uncommitted changes."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                           stdout=subprocess.PIPE).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            target = src / "scissor" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    """A workspace with the repository in src/, built by a plain ``colcon build`` (copied install)."""
    root = tmp_path_factory.mktemp("ws")
    clone_into(root / "src")
    listed = colcon(root, "list", "--names-only").split()
    assert sorted(listed) == ["scissor_bringup", "scissor_msgs"], listed
    colcon(root, "build")
    return Workspace(root)


def light_config(tmp_path: Path, **sections) -> Path:
    """A short AlexNet run: FRAMES frames, the camera waiting for the device, outcomes in tmp_path."""
    data = {"model": {"name": "alexnet"}, "queues": {"timeout": 30.0},
            # 320x240 (230 kB) frames: best effort, the camera topic's default, loses most images over ~0.5 MB
            # over shared memory on Jazzy's Fast DDS 2.14 (rmw_fastrtps#739)
            "camera": {"source": "scene", "interval": 0.2, "max_frames": FRAMES, "seed": CAMERA_SEED,
                       "wait_for_subscribers": 1, "width": 320, "height": 240},
            "device": {"outcome_log": str(tmp_path / "outcomes.csv")}}
    for section, body in sections.items():
        data.setdefault(section, {}).update(body)
    path = tmp_path / "light.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def outcome_rows(path: Path) -> int:
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


def start_launch(workspace: Workspace, arguments: str, domain: int, tmp_path: Path, name: str
                 ) -> tuple[subprocess.Popen, Path]:
    """``ros2 launch scissor_bringup <arguments>`` from the install, its output into ``<name>.log``."""
    log = tmp_path / f"{name}.log"
    with log.open("w") as out:
        proc = workspace.shell(f"ros2 launch scissor_bringup {arguments}", domain, cwd=tmp_path, stdout=out,
                               stderr=subprocess.STDOUT)
    return proc, log


def camera_finished(log: Path) -> bool:
    return "[camera_node-1]: process has finished cleanly" in log.read_text()


def interrupt(proc: subprocess.Popen, log: Path, timeout: float = PATIENCE) -> tuple[int, str]:
    """Ctrl-C a ``ros2 launch``: its exit code and output once every node has stopped."""
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=timeout)
    return proc.returncode, log.read_text()


LAUNCH_EVENT_LOOP_FAULT = "Task was destroyed but it is pending!"
"""What ``ros2 launch`` printed, from its own asyncio loop, the one time it then exited 1 although every
node it ran had finished cleanly (a pending ``LaunchService._process_one_event`` task collected when the
camera process ended; seen once in a fresh clone, in launch from ../shared/ros2-src)."""


def assert_launch_ended_cleanly(code: int, out: str) -> None:
    """``ros2 launch`` exited 0, or exited 1 from the fault of its own event loop above (its nodes are
    checked apart, by :func:`assert_every_node_finished_cleanly`)."""
    launch_fault = code == 1 and LAUNCH_EVENT_LOOP_FAULT in out and "_process_one_event" in out
    assert code == 0 or launch_fault, out[-3000:]


def assert_one_outcome_per_frame_read(out: str, outcomes: Path) -> None:
    """The device's closing line: every frame it read has its one outcome, in the log too. The camera topic
    is best effort (its default), so on a loaded machine the device may not read every frame published."""
    read = re.search(r"device_node: read (\d+) frames, recorded (\d+) outcomes", out)
    assert read and read[1] == read[2], out[-3000:]
    assert int(read[1]) >= FRAMES // 2 and outcome_rows(outcomes) == int(read[1]), (read[0], out[-3000:])


def assert_every_node_finished_cleanly(out: str, executables: list[str]) -> None:
    """launch reports each process's end: 'process has finished cleanly' is exit code 0."""
    for executable in executables:
        lines = [line for line in out.splitlines() if f"[{executable}-" in line and "process has" in line]
        assert lines and all("finished cleanly" in line for line in lines), (executable, lines, out[-3000:])


def test_the_install_holds_every_data_file_of_the_package(workspace):
    """Configs, profiles, policies, traces, model cfgs and launch files are in the share folder, copied."""
    share = workspace.install / "scissor_bringup" / "share" / "scissor_bringup"
    for folder in ("config", "launch"):
        wanted = sorted(p.relative_to(PACKAGE_DIR) for p in (PACKAGE_DIR / folder).rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts)
        assert wanted and all((share / p).is_file() and not (share / p).is_symlink() for p in wanted), folder
    found = workspace.run("ros2 pkg prefix scissor_bringup").strip()
    assert found == str(workspace.install / "scissor_bringup")
    where = workspace.run("python -c 'import scissor_core.config as c, scissor_msgs; "
                          "print(c.DEFAULT_CONFIG); print(c.__file__); print(scissor_msgs.__file__)'").split()
    assert all(str(workspace.install) in line for line in where), where


def test_ros2_launch_of_the_installed_testbed_with_launch_arguments(workspace, tmp_path):
    """The five nodes run from the install with ``model:=resnet18`` passed through; every frame read gets
    its outcome; Ctrl-C ends every node with exit code 0."""
    config = light_config(tmp_path)
    launch, log = start_launch(workspace, f"testbed.launch.py config_file:={config} model:=resnet18 namespace:=car1",
                               unique_domain_id(), tmp_path, "launch")
    try:
        assert wait_for(lambda: camera_finished(log), 4 * PATIENCE), log.read_text()[-3000:]
    finally:
        code, out = interrupt(launch, log)
    assert_launch_ended_cleanly(code, out)
    assert_every_node_finished_cleanly(out, ["camera_node", "device_node", "edge_node", "agent_node",
                                             "annotator_node"])
    assert_one_outcome_per_frame_read(out, tmp_path / "outcomes.csv")
    device_line = next(line for line in out.splitlines() if "device]:" in line and "profile" in line)
    assert "resnet18" in device_line
    assert str(workspace.install / "scissor_bringup" / "share" / "scissor_bringup" / "config" / "profiles") \
        in device_line


def test_robot_and_edge_launch_files_as_two_launches_with_a_remapped_image_topic(workspace, tmp_path):
    """robot.launch.py and edge.launch.py, started apart as on two hosts, make one testbed; the camera
    topic remapped by ``image_topic`` reaches the device."""
    config, domain = light_config(tmp_path), unique_domain_id()
    edge, edge_log = start_launch(workspace, f"edge.launch.py config_file:={config}", domain, tmp_path, "edge")
    robot, robot_log = start_launch(workspace, f"robot.launch.py config_file:={config} image_topic:=front/image_color",
                                    domain, tmp_path, "robot")
    try:
        assert wait_for(lambda: camera_finished(robot_log), 4 * PATIENCE), robot_log.read_text()[-3000:]
    finally:
        robot_code, robot_out = interrupt(robot, robot_log)
        edge_code, edge_out = interrupt(edge, edge_log)
    assert_launch_ended_cleanly(robot_code, robot_out)
    assert_launch_ended_cleanly(edge_code, edge_out)
    assert_every_node_finished_cleanly(robot_out, ["camera_node", "device_node", "agent_node", "annotator_node"])
    assert_every_node_finished_cleanly(edge_out, ["edge_node"])
    assert_one_outcome_per_frame_read(robot_out, tmp_path / "outcomes.csv")
    assert "reading /front/image_color" in robot_out
    started = [line for line in edge_out.splitlines() if "process started" in line]
    assert len(started) == 1 and "edge_node" in started[0], started  # the edge side starts the edge alone


def test_an_unknown_launch_argument_is_an_error_naming_the_known_ones(workspace, tmp_path):
    proc = workspace.shell("ros2 launch scissor_bringup testbed.launch.py modle:=resnet18", unique_domain_id(),
                           cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = proc.communicate(timeout=PATIENCE)
    assert proc.returncode != 0
    assert "unknown launch argument(s) modle" in out and "model, weights, policy" in out
    assert "process started" not in out


def test_a_bad_argument_value_stops_the_launch_before_any_node_starts(workspace, tmp_path):
    proc = workspace.shell("ros2 launch scissor_bringup testbed.launch.py model:=resnet19", unique_domain_id(),
                           cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = proc.communicate(timeout=PATIENCE)
    assert proc.returncode != 0 and "model.name" in out and "resnet19" in out
    assert "process started" not in out


def test_a_symlink_install_serves_the_source_files(workspace, tmp_path_factory):
    """``colcon build --symlink-install``: the share folder links to the workspace's sources, so an edited
    config or launch file is seen without a rebuild."""
    colcon(workspace.root, "build", "--symlink-install", "--packages-select", "scissor_bringup",
           "--build-base", "build-symlink", "--install-base", "install-symlink")
    shown = workspace.run("ros2 launch scissor_bringup testbed.launch.py --show-args", install="install-symlink")
    assert "'model':" in shown and "'image_topic':" in shown
    where = workspace.run("python -c 'import scissor_core.config as c; print(c.DEFAULT_CONFIG.resolve())'",
                          install="install-symlink").strip()
    assert where == str(workspace.root / "src" / "scissor" / "scissor_bringup" / "config" / "scissor.yaml")
