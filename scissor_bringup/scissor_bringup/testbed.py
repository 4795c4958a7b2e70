"""The one description of the testbed: which nodes run, with which parameters and namespace.

Both ``launch/testbed.launch.py`` (for users with a ROS 2 distro:
``ros2 launch scissor_bringup testbed.launch.py``) and ``scissor testbed`` (the
project's own launcher, which needs only rclpy) start exactly the nodes listed
here, so the two cannot drift apart. Placement lives here, not in node code:
the same executables run on the device or the edge.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from scissor_core.config import DEFAULT_CONFIG, load_config
from scissor_core.resources import PACKAGE

IMAGE_TOPIC = "camera/image_raw"
"""The topic the camera publishes and the device and the annotator read (relative: under the namespace)."""


@dataclass(frozen=True)
class NodeSpec:
    """One node to start: executable (entry point) name, node name, namespace, parameters, environment."""

    executable: str
    name: str
    namespace: str = ""
    parameters: dict[str, str | int | float | bool] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    package: str = PACKAGE
    remappings: tuple[tuple[str, str], ...] = ()

    def ros_args(self) -> list[str]:
        """``--ros-args`` for a process start: node name, namespace, ``-r from:=to`` per remapping and
        ``-p name:=value`` per parameter."""
        args = ["--ros-args", "-r", f"__node:={self.name}"]
        if self.namespace:
            args += ["-r", f"__ns:=/{self.namespace.strip('/')}"]
        for source, target in self.remappings:
            args += ["-r", f"{source}:={target}"]
        for key, value in self.parameters.items():
            args += ["-p", f"{key}:={_param_literal(value)}"]
        return args


def _param_literal(value: str | int | float | bool) -> str:
    """A parameter value as rcl parses it on the command line (YAML scalars)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'" if value == "" or value.lower() in ("true", "false", "null") else value
    return repr(value)


TESTBED_NODES = ("camera_node", "device_node", "edge_node", "agent_node", "annotator_node")
"""Entry points of a full testbed, in start order (consumers before producers would also work: QoS is reliable).
``annotator_node`` runs only with ``device.annotate`` (:func:`describe_testbed` leaves it out otherwise)."""
ROBOT_NODES = ("camera_node", "device_node", "agent_node", "annotator_node")
"""The robot side of a two-host deployment: where the frames are, the device, its agent and the annotator."""
EDGE_NODES = ("edge_node",)
"""The edge server's side: the edge alone, which needs nothing but the feature maps."""
SIDES: dict[str, tuple[str, ...]] = {"both": TESTBED_NODES, "robot": ROBOT_NODES, "edge": EDGE_NODES}
"""Which nodes run where: ``both`` on one machine, or ``robot`` and ``edge`` on two hosts."""


def describe_testbed(config_file: str | Path = DEFAULT_CONFIG, namespace: str = "",
                     nodes: tuple[str, ...] = TESTBED_NODES,
                     overrides: dict[str, dict[str, str | int | float | bool]] | None = None,
                     env: dict[str, str] | None = None,
                     remappings: Mapping[str, str] | None = None) -> list[NodeSpec]:
    """The testbed's nodes. Every node reads its defaults from ``config_file`` (parameter
    ``config_file``); ``overrides`` maps a node to extra ``-p`` parameters; ``env`` is
    added to every node's environment (e.g. the DDS transport settings) and ``remappings`` (topic ->
    topic) to every node's. ``annotator_node`` is left out when the config's ``device.annotate`` is false."""
    overrides = overrides or {}
    if not load_config(config_file).device.annotate:
        nodes = tuple(n for n in nodes if n != "annotator_node")
        overrides = {n: v for n, v in overrides.items() if n != "annotator_node"}
    unknown = set(overrides) - set(nodes)
    if unknown:
        raise ValueError(f"overrides for node(s) not in the testbed: {sorted(unknown)}; nodes are {list(nodes)}")
    return [
        NodeSpec(
            executable=node,
            name=node.removesuffix("_node"),
            namespace=namespace,
            parameters={"config_file": str(Path(config_file).resolve()), **overrides.get(node, {})},
            env=dict(env or {}),
            remappings=tuple((remappings or {}).items()),
        )
        for node in nodes
    ]


@dataclass(frozen=True)
class LaunchArgument:
    """A launch argument of the testbed's launch files; ``parameter`` is the config field it sets on every
    node (an empty value keeps the config file's)."""

    name: str
    description: str
    default: str = ""
    parameter: str | None = None


LAUNCH_ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument("config_file", "scissor YAML configuration: the defaults of every node parameter",
                   str(DEFAULT_CONFIG)),
    LaunchArgument("namespace", "namespace of every testbed node and topic (several testbeds on one network)"),
    LaunchArgument("model", "DNN to split: alexnet, resnet18 or yolov3 (empty: the config's model.name)",
                   parameter="model.name"),
    LaunchArgument("weights", "weight file of the model (empty: the config's model.weights)",
                   parameter="model.weights"),
    LaunchArgument("policy", "what the agent serves: a2c or a baseline name (empty: the config's agent.policy)",
                   parameter="agent.policy"),
    LaunchArgument("trace", "bandwidth trace of the device's link shaper, e.g. const:2MB or a Mahimahi file "
                   "(empty: the config's link.trace)", parameter="link.trace"),
    LaunchArgument("camera_source", "what scissor's camera node reads: scene, bag:PATH, a video, a folder, "
                   "/dev/video0 (empty: the config's camera.source)", parameter="camera.source"),
    LaunchArgument("image_topic", f"image topic the device and the annotator read (remaps {IMAGE_TOPIC}, and "
                   f"{IMAGE_TOPIC}/compressed to its /compressed)", IMAGE_TOPIC),
    LaunchArgument("image_transport", "raw (sensor_msgs/Image) or compressed (CompressedImage on "
                   "IMAGE_TOPIC/compressed) (empty: the config's device.image_transport)",
                   parameter="device.image_transport"),
    LaunchArgument("camera", "start scissor's camera node (false: frames come from your own driver on "
                   "image_topic)", "true"),
)
"""The launch arguments of ``testbed.launch.py``, ``robot.launch.py`` and ``edge.launch.py``."""


def unknown_arguments(names: list[str]) -> str | None:
    """An error naming the known launch arguments when ``names`` has one that is not, else None."""
    known = [a.name for a in LAUNCH_ARGUMENTS]
    unknown = [n for n in names if n not in known]
    if not unknown:
        return None
    return f"unknown launch argument(s) {', '.join(unknown)}; the known ones are {', '.join(known)}"


def nodes_from_launch_arguments(values: Mapping[str, str], nodes: tuple[str, ...] = TESTBED_NODES) -> list[NodeSpec]:
    """The nodes of ``nodes`` as the launch arguments ``values`` (name -> text; missing = default) ask.

    Raises ValueError naming the known arguments for an unknown one, ConfigError for a value the config
    refuses (an unknown model, a missing weight file...), before any node starts."""
    error = unknown_arguments(list(values))
    if error:
        raise ValueError(error)
    given = {a.name: values.get(a.name, a.default) for a in LAUNCH_ARGUMENTS}
    parameters = {a.parameter: given[a.name] for a in LAUNCH_ARGUMENTS if a.parameter and given[a.name]}
    config_file = given["config_file"] or str(DEFAULT_CONFIG)
    load_config(config_file, parameters)  # refuse a bad value here, once, rather than in every node
    camera = given["camera"].lower()
    if camera not in ("true", "false"):
        raise ValueError(f"launch argument camera: {given['camera']!r} is not true or false")
    if camera == "false":
        nodes = tuple(n for n in nodes if n != "camera_node")
    topic = given["image_topic"]
    remappings = ({IMAGE_TOPIC: topic, f"{IMAGE_TOPIC}/compressed": f"{topic}/compressed"}
                  if topic and topic != IMAGE_TOPIC else None)
    return describe_testbed(config_file, given["namespace"], nodes=nodes,
                            overrides={node: dict(parameters) for node in nodes}, remappings=remappings)


def reliable_camera(namespace: str = "", into: dict[str, dict] | None = None) -> dict[str, dict]:
    """Per-node QoS overrides (added to ``into``) that make camera/image_raw reliable from camera to device,
    so every frame the camera publishes reaches the device: for replays and evaluations, which count every
    frame, and links without shared memory. Best effort, the sensor-data default, can lose a frame while a
    match completes, or a fragment on UDP."""
    topic = f"qos_overrides.{'/' + namespace.strip('/') if namespace else ''}/{IMAGE_TOPIC}"
    into = into if into is not None else {}
    into.setdefault("camera_node", {})[f"{topic}.publisher.reliability"] = "reliable"
    into.setdefault("device_node", {})[f"{topic}.subscription.reliability"] = "reliable"
    return into
