"""The one typed configuration of scissor, loaded from YAML and validated.

Every section is a dataclass whose fields carry their defaults; the same objects
feed the CLI, the simulator and (as ROS parameters) the nodes. Loading refuses
an unknown or misspelled key, a value of the wrong type or a missing file with
a :class:`ConfigError` that names the key and the file.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from scissor_core.assets import ASSET_PREFIX, ASSETS, is_asset_reference
from scissor_core.resources import not_installed_hint, resolve_data_path, share_dir

CONFIG_DIR = share_dir() / "config"
"""The installed ``config`` folder of scissor_bringup (see :mod:`scissor_core.resources`)."""
DEFAULT_CONFIG = CONFIG_DIR / "scissor.yaml"

ModelName = Literal["alexnet", "resnet18", "yolov3", "yolov3-tiny"]
DARKNET_MODELS = ("yolov3", "yolov3-tiny")
"""The models built from a Darknet cfg (detectors); the others are torchvision-style classifiers."""
DEFAULT_WEIGHTS: dict[str, str] = {"yolov3-tiny": "asset:yolov3-tiny.weights"}
"""The weights a model gets when ``model.weights`` is none: its pretrained file where scissor fetches one
(``scissor assets``), else none (a seeded random init)."""
RANDOM_WEIGHTS = "random"
"""``model.weights: random``: a seeded random initialisation, even for a model that has default weights."""


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message names key and file."""


@dataclass
class ModelConfig:
    """Which DNN to run and how to build it."""

    name: ModelName = "yolov3-tiny"
    """Model to split: alexnet, resnet18, yolov3 or yolov3-tiny."""
    weights: str | None = None
    """Weight file: a state_dict (.pt/.pth) or, for the Darknet models, a Darknet .weights; asset:NAME is a fetched asset (scissor assets); random = a seeded random init; none = the model's default (yolov3-tiny: its COCO weights, asset:yolov3-tiny.weights; the others: random)."""
    seed: int = 0
    """Seed of the random initialisation used when no weights are given."""
    input_size: int | None = None
    """Network input side in pixels; none = the model's default (224, or 416 for the Darknet models)."""
    darknet_cfg: str | None = None
    """Darknet network description of a Darknet model; none = config/models/<name>.cfg (a relative path: the current directory's file, else the installed one)."""
    class_names: str | None = None
    """Text file with one class name per line; none = coco.names for the Darknet models, class_<i> otherwise."""
    candidates: list[str] | None = None
    """Restrict the candidate splits to these names (in this order); none = the model's paper set."""
    extra_candidates: dict[str, list[str]] = field(default_factory=dict)
    """Additional named splits, each given as the list of graph tensors that cross it."""
    conf_threshold: float = 0.5
    """Detection confidence threshold (objectness x class probability)."""
    nms_threshold: float = 0.45
    """IoU threshold of non-maximum suppression."""
    topk: int = 5
    """How many classes a classifier reports."""

    @property
    def weights_file(self) -> str | None:
        """The weight file this config loads (none: a seeded random init), after the model's default."""
        if self.weights == RANDOM_WEIGHTS:
            return None
        return self.weights or DEFAULT_WEIGHTS.get(self.name)

    @property
    def darknet_cfg_file(self) -> str:
        """The Darknet cfg of this model: ``darknet_cfg`` or the shipped ``config/models/<name>.cfg``."""
        return self.darknet_cfg or f"config/models/{self.name}.cfg"


@dataclass
class CodecConfig:
    """How crossing tensors are encoded for transport."""

    encoding: Literal["raw", "fp16", "int8", "jpeg"] = "raw"
    """raw (lossless float32), fp16, int8 (affine), or jpeg (split 0 only)."""
    compression: Literal["none", "zstd", "lz4"] = "none"
    """Byte compression applied after encoding (not for jpeg)."""
    jpeg_quality: int = 90
    """JPEG quality 1..100 for the jpeg encoding."""
    int8_mode: Literal["per_tensor", "per_channel"] = "per_tensor"
    """Granularity of the int8 scale / zero point."""
    zstd_level: int = 3
    """zstd compression level."""
    frame_encoding: Literal["same", "jpeg"] = "same"
    """How split 0 sends the camera frame: same = like every split (the encoding above), jpeg = JPEG at
    jpeg_quality, so that every policy chooses between a JPEG frame and the other splits' feature maps."""
    min_map: float | None = None
    """None: every frame is sent with the codec above. A value in (0, 1]: the codec is chosen with the split,
    per frame, among the (split, codec) pairs of ``table`` whose measured agreement with lossless transport
    (mAP@0.5 against the fp32 detections; top-1 agreement for a classifier) is at least this; the encoding
    settings above are then unused."""
    table: str | None = None
    """The codec bench's CSV (``scissor bench codec MODEL --output DIR``) read with ``min_map``; none =
    config/codecs/MODEL.csv."""


@dataclass
class ProfileConfig:
    """How compute times are measured and how a weak device is emulated."""

    runs: int = 10
    """Timed runs per cut and side (median and p95 are reported)."""
    warmup: int = 2
    """Untimed runs before timing."""
    device_threads: int = 1
    """torch threads of the device side (a Pi-class device: few cores)."""
    edge_threads: int = 1
    """torch threads of the edge side."""
    device_slowdown: float = 1.0
    """Factor applied to measured device times to emulate a slower device."""
    edge_slowdown: float = 1.0
    """Factor applied to measured edge times (below 1 emulates a GPU edge)."""
    codecs: list[str] = field(
        default_factory=lambda: ["raw", "raw+lz4", "raw+zstd", "fp16", "int8", "int8+zstd", "jpeg-q90"]
    )
    """Codec labels whose bytes per cut are recorded (jpeg only applies to split 0)."""

PAPER_INTERVAL: dict[str, float] = {"yolov3": 1.0, "resnet18": 0.15, "alexnet": 0.15, "yolov3-tiny": 0.5}
"""The paper's frame interval per model (s): 1000 ms for YOLOv3, 150 ms otherwise. YOLOv3-tiny is not in
the paper: 500 ms, what a 2-core machine sustains with the device and the edge on it at 416."""
PAPER_TIMEOUT: dict[str, float] = {"yolov3": 2.0, "resnet18": 0.5, "alexnet": 0.5, "yolov3-tiny": 2.0}
"""The paper's queue timeout T per model (s) (YOLOv3-tiny, not in the paper: YOLOv3's)."""


@dataclass
class QueueConfig:
    """The device's local and offloading queues and their drop rules (simulator and live device)."""

    timeout: float | None = None
    """T: a frame waiting longer than this in either queue is dropped (s); none = the paper's T per model."""
    local_max: int = 30
    """Local queue length threshold: a frame arriving when this many wait is dropped (the paper gives no value)."""
    offload_max: int = 30
    """Offloading queue length threshold: feature maps arriving when this many wait are dropped."""

    def timeout_for(self, model: str) -> float:
        return self.timeout if self.timeout is not None else PAPER_TIMEOUT[model]


@dataclass
class RewardConfig:
    """DNN-Scissor's reward: -(w*o + tau) on success (o in MB, tau in s), -F on a drop."""

    w: float = 1.0
    """Weight of the transmitted data (per MB) against the delay (per s)."""
    drop_penalty: float = 10.0
    """F: the cost of a dropped frame."""


@dataclass
class LinkConfig:
    """The device-to-edge link: bandwidth trace and bandwidth estimation."""

    trace: str = "const:5MB"
    """Trace spec: const:RATE, steps:DURxRATE,..., walk:mean=RATE,..., mahimahi:FILE[,scale=K] or a file path."""
    initial_bandwidth: float = 5e6
    """Bandwidth estimate before the first transmission (bytes/s)."""
    estimator_window: int = 5
    """The estimate is total bytes over total time of the last this-many transmissions."""
    estimator_step: int = 2
    """A rate step: when this many newest transmissions all ran >1.3x faster (or slower) than the rest of the window, the rest is dropped (0 = off; less than estimator_window)."""
    shaper: Literal["app", "none"] = "app"
    """app = the device holds each transmission for its bytes over link.trace's rate before sending (a link emulated on one machine); none = it sends at once (a real network, or a tc-shaped one). Either way a transmission ends when the edge's receipt says it holds the whole payload."""
    key_file: str | None = None
    """AES-256-GCM key (64 hex digits, mode 0600; make one with scissor keygen PATH) that seals the feature payload device -> edge; none = sent in clear."""


@dataclass
class SimConfig:
    """The discrete-event simulator's workload."""

    interval: float | None = None
    """Frame interval (s); none = the paper's interval per model."""
    jitter: float = 0.0
    """Each interval is scaled by a uniform factor in [1 - jitter, 1 + jitter]."""
    burst_every: int = 0
    """Every this-many frames a burst arrives (0 = no bursts)."""
    burst_size: int = 0
    """Extra frames in each burst, arriving back to back with the regular frame."""
    frames: int = 1000
    """Frames per run."""
    seed: int = 0
    """Seed of the arrival jitter and of random-walk traces."""
    transport_overhead: float = 0.0
    """Seconds each transmission takes beyond bytes / rate in the simulator: the middleware's per-message cost and the receipt's trip back (scissor calibrate --from-run fits it from a live run)."""
    result_latency: float = 0.0
    """Seconds from the edge's end of service to the result at the device in the simulator: publishing and the trip back (fitted like transport_overhead)."""
    compute_spread: float = 0.0
    """Spread of compute times in the simulator: each frame's device and edge time is the profile's times a lognormal factor of mean 1 and this sigma (0 = the profile's exactly; fitted like transport_overhead)."""
    devices: int = 1
    """Devices sharing the one edge in the simulator (scissor evaluate, experiment): each its own camera (offset by interval/devices), queues, uplink (the trace, seeded per device) and policy."""

    def interval_for(self, model: str) -> float:
        return self.interval if self.interval is not None else PAPER_INTERVAL[model]


@dataclass
class CameraConfig:
    """The camera node: where frames come from and how they are published on camera/image_raw."""

    source: str = "asset:bikes.mp4"
    """scene (the synthetic traffic scene), asset:NAME (a fetched video: asset:bikes.mp4; the scene, loudly, when not fetched), bag:PATH or bag:PATH#TOPIC (a rosbag2's image topic), an image folder, a video file, a V4L2 device (/dev/video0 or 0) or a URL."""
    interval: float | None = None
    """Seconds between frames; none = the paper's interval for model.name."""
    width: int = 640
    """Width of the synthetic scene (pixels); other sources keep their own size."""
    height: int = 480
    """Height of the synthetic scene (pixels)."""
    cars: int = 8
    """Cars in the synthetic scene."""
    seed: int = 0
    """Seed of the synthetic scene: frame k of a seed is always the same image."""
    loop: bool = True
    """Start a video file or image folder again at its end (otherwise the camera stops)."""
    max_frames: int = 0
    """Stop after publishing this many frames (0 = no limit)."""
    burst_every: int = 0
    """Every this many frames, publish a burst (fault injection: more frames than the device admits; 0 = never)."""
    burst_size: int = 0
    """Extra frames published back to back in each burst."""
    wait_for_subscribers: int = 0
    """Start reading and publishing once this many subscribers match camera/image_raw (0 = at once; an annotator's does not count)."""
    frame_id: str = "camera"
    """header.frame_id of the published images (before the #seq suffix)."""
    seq_in_frame_id: bool = True
    """Append #<seq> to header.frame_id (sensor_msgs/Image has no sequence number field)."""
    encoding: Literal["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "yuv422"] = "bgr8"
    """Pixel encoding of the published images."""
    bag_timing: Literal["recorded", "interval"] = "recorded"
    """A bag source: replay at the recorded timestamps (scaled by bag_rate) or one frame per interval."""
    bag_rate: float = 1.0
    """A bag source at recorded timing: replay speed (2 = twice as fast as recorded)."""
    video_timing: Literal["interval", "native"] = "interval"
    """A video file: one frame per interval, or at the file's own frame rate (native)."""

    def interval_for(self, model: str) -> float:
        return self.interval if self.interval is not None else PAPER_INTERVAL[model]


@dataclass
class EdgeConfig:
    """The edge node: where the tail of the model runs and what it publishes."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    """torch device of the tail: auto = cuda when available, else cpu."""
    capacity: int = 1
    """Frames the edge serves at once; more wait in its FIFO queue. 1 = one at a time (a CPU, or a GPU
    running one stream); a GPU edge that serves several frames in parallel is a larger capacity."""


@dataclass
class RosConfig:
    """ROS 2 / DDS settings shared by every node."""

    fastdds_profile: str | None = "config/fastdds_profile.xml"
    """Fast DDS XML profile every node loads (FASTDDS_DEFAULT_PROFILES_FILE) unless the environment sets one; none = Fast DDS defaults."""
    diagnostics_period: float = 1.0
    """Seconds between two diagnostics messages of a node."""
    malloc_reuse_bytes: int = 64 * 2**20
    """glibc: allocations below this many bytes reuse freed heap memory instead of fresh mmap pages (a 20 MB message twice as fast; RSS stays at its peak); 0 = glibc's default."""


@dataclass
class AgentConfig:
    """The A2C agent and its training.

    Defaults: the paper's network, discount and learning rate, with the learner options that let it find a
    state-dependent policy (on-policy batches, entropy bonus, advantage normalisation, extended state, longer
    patience); :data:`PAPER_AGENT` (``--paper``) restores the paper's settings exactly.
    """

    hidden: int = 16
    """Units per hidden layer of the actor and of the critic."""
    layers: int = 2
    """Hidden layers per network."""
    gamma: float = 0.95
    """Discount factor."""
    lr: float = 1e-3
    """Adam learning rate."""
    batch: int = 20
    """Transitions per update, sampled from the replay buffer (paper: 5)."""
    update_every: int = 20
    """Completed transitions between two updates (paper: 5)."""
    buffer_size: int = 20
    """Replay buffer capacity (transitions; paper: 10,000). Equal to batch and update_every: every update
    learns from the last batch of transitions exactly once (on-policy, as A2C assumes)."""
    entropy_coef: float = 0.1
    """Entropy bonus (beyond the paper; 0 = off)."""
    normalize_advantage: bool = True
    """Standardise TD errors per batch (beyond the paper)."""
    state: Literal["paper", "extended", "edge"] = "extended"
    """The agent's input: paper = [l, c, b_hat, tau, o]; extended adds the device backlog and the bytes left of
    the transmission in progress (beyond the paper: the paper's state cannot tell a busy device from an idle one);
    edge adds the frames on the link or at the edge without a result and their edge work (not the default: the
    A2C did no better with them, and worse with bursts; README, *Scenarios where splitting matters*)."""
    episodes: int = 500
    """Maximum training episodes."""
    episode_frames: int = 1000
    """Frames per episode (queues reset between episodes, weights kept)."""
    convergence_window: int = 50
    """Moving-average window of the episode reward."""
    patience: int = 300
    """Stop when the moving average has not improved for this many episodes (paper: 50, our reading of
    "stops improving" over its 50-episode window)."""
    seeds: int = 5
    """Training runs with different seeds; the median run is kept."""
    policy_file: str | None = None
    """Trained A2C policy file; none = config/policies/MODEL.pt."""
    policy: str = "a2c"
    """Policy the agent node serves: a2c (the policy file) or a baseline name (greedy, dads, ...)."""
    learn_online: bool = False
    """The agent keeps learning from scissor/frame_outcome while it serves (a2c only)."""
    checkpoint_every: int = 0
    """With online learning, save the policy every this-many outcomes (0 = only at shutdown)."""
    checkpoint_file: str = "results/agent/policy-online.pt"
    """Where online learning saves the policy."""

    def describe(self) -> str:
        """The learner settings in one line for logs and result headers."""
        paper = all(getattr(self, k) == v for k, v in PAPER_AGENT.items())
        return (f"{'paper' if paper else 'scissor'} learner settings: batch {self.batch} every {self.update_every} "
                f"from a buffer of {self.buffer_size}, entropy {self.entropy_coef:g}, advantage normalisation "
                f"{'on' if self.normalize_advantage else 'off'}, {self.state} state, patience {self.patience}")


PAPER_AGENT: dict[str, Any] = {"batch": 5, "update_every": 5, "buffer_size": 10_000, "entropy_coef": 0.0,
                               "normalize_advantage": False, "state": "paper", "patience": 50}
"""The paper's A2C settings where :class:`AgentConfig`'s defaults differ (``scissor train|experiment|bench
train --paper``)."""


def use_paper_agent(agent: AgentConfig) -> AgentConfig:
    """Set ``agent`` to the paper's learner settings (:data:`PAPER_AGENT`), in place; returns it."""
    for key, value in PAPER_AGENT.items():
        setattr(agent, key, value)
    return agent


@dataclass
class DeviceConfig:
    """The device node: its cost estimates, how it decides, and what it logs."""

    profile: str | None = None
    """Profile JSON (scissor profile) giving the queues' time and size estimates; none = config/profiles/MODEL.json."""
    use_agent: bool = True
    """Ask the agent for every frame's split; false = the fallback policy decides every frame."""
    decision_deadline: float = 0.1
    """Seconds to wait for the agent's decision before the fallback policy decides."""
    fallback_policy: str = "greedy"
    """Policy the device decides with when the agent is silent (a baseline name, as in scissor simulate)."""
    annotate: bool = True
    """Start annotator_node on the robot side: scissor/annotated, each result drawn on its camera frame."""
    annotate_dir: str | None = None
    """A folder annotator_node also writes each annotated frame to (<seq>.jpg) with results.jsonl, a line per result; none = publish only (scissor testbed sets OUTPUT/annotated)."""
    image_transport: Literal["raw", "compressed"] = "raw"
    """How the device and the annotator read the camera: raw (sensor_msgs/Image on camera/image_raw) or compressed (sensor_msgs/CompressedImage on camera/image_raw/compressed, image_transport's topic)."""
    edge_timeout: float = 5.0
    """A frame sent to the edge with no result after this many seconds is dropped as edge_lost."""
    edge_silence_limit: int = 3
    """This many frames in a row lost without a result: the edge is away (frames run device-only)."""
    edge_retry: float = 10.0
    """Seconds an edge that went silent stays away before frames are offloaded to it again."""
    poll_period: float = 0.01
    """Seconds between two checks of decision deadlines, queue timeouts and lost results."""
    link_state_period: float = 0.5
    """Seconds between two scissor/link_state messages."""
    outcome_log: str = "results/testbed/outcomes.csv"
    """CSV of every FrameOutcome, appended as they happen (flushed per line)."""


@dataclass
class ScissorConfig:
    """Top-level configuration: one YAML file, one section per part."""

    model: ModelConfig = field(default_factory=ModelConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    queues: QueueConfig = field(default_factory=QueueConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    link: LinkConfig = field(default_factory=LinkConfig)
    sim: SimConfig = field(default_factory=SimConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    edge: EdgeConfig = field(default_factory=EdgeConfig)
    ros: RosConfig = field(default_factory=RosConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    device: DeviceConfig = field(default_factory=DeviceConfig)

    def resolve_path(self, path: str) -> Path:
        """A relative path of the config names a file of the current directory, else one of the installed
        data (``config/models/yolov3.cfg``): :func:`scissor_core.resources.resolve_data_path`."""
        return resolve_data_path(path)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (dataclasses built)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping (section), got {type(value).__name__}")
        return _build(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return _convert(value, option, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} matches none of {_type_name(tp)}")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not one of {list(allowed)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        (item,) = typing.get_args(tp)
        return [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        key_tp, val_tp = typing.get_args(tp)
        return {_convert(k, key_tp, f"{where} key"): _convert(v, val_tp, f"{where}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {type(value).__name__} {value!r}")
        return float(value)
    if tp in (int, str, bool):
        if type(value) is not tp:
            raise ConfigError(f"{where}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported annotation {_type_name(tp)}")  # a bug in a dataclass, not the file


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}; known keys: {', '.join(names)}")
        kwargs[key] = _convert(value, hints[key], f"{where}.{key}")
    return cls(**kwargs)


def from_dict(data: dict[str, Any], source: str = "<dict>") -> ScissorConfig:
    """Build and validate a config from a plain mapping (missing keys take defaults)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(data).__name__}")
    config = _build(ScissorConfig, data, source)
    validate(config, source)
    return config


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> ScissorConfig:
    """Load ``path`` (default ``config/scissor.yaml``), apply dotted ``overrides``, validate."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    if not path.is_file():
        hint = not_installed_hint() if path == DEFAULT_CONFIG else ""
        raise ConfigError(f"config file {path} does not exist{hint}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    data = data or {}
    for dotted, value in (overrides or {}).items():
        section = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            section = section.setdefault(p, {})
            if not isinstance(section, dict):
                raise ConfigError(f"{path}: cannot override {dotted!r}: {p!r} is not a section")
        section[leaf] = value
    return from_dict(data, str(path))


def validate(config: ScissorConfig, source: str) -> None:
    """Range and file checks that types alone cannot express."""
    m, c, p = config.model, config.codec, config.profile
    checks = [
        (m.input_size is None or (m.input_size >= 32 and m.input_size % 32 == 0), "model.input_size",
         "must be a multiple of 32, at least 32"),
        (0.0 <= m.conf_threshold <= 1.0, "model.conf_threshold", "must be in [0, 1]"),
        (0.0 <= m.nms_threshold <= 1.0, "model.nms_threshold", "must be in [0, 1]"),
        (m.topk >= 1, "model.topk", "must be at least 1"),
        (1 <= c.jpeg_quality <= 100, "codec.jpeg_quality", "must be in 1..100"),
        (1 <= c.zstd_level <= 22, "codec.zstd_level", "must be in 1..22"),
        (c.min_map is None or 0.0 < c.min_map <= 1.0, "codec.min_map", "must be in (0, 1]"),
        (p.runs >= 1, "profile.runs", "must be at least 1"),
        (p.warmup >= 0, "profile.warmup", "must be non-negative"),
        (p.device_threads >= 1, "profile.device_threads", "must be at least 1"),
        (p.edge_threads >= 1, "profile.edge_threads", "must be at least 1"),
        (p.device_slowdown > 0, "profile.device_slowdown", "must be positive"),
        (p.edge_slowdown > 0, "profile.edge_slowdown", "must be positive"),
    ]
    q, r, ln, sim = config.queues, config.reward, config.link, config.sim
    checks += [
        (q.timeout is None or q.timeout > 0, "queues.timeout", "must be positive"),
        (q.local_max >= 1, "queues.local_max", "must be at least 1"),
        (q.offload_max >= 1, "queues.offload_max", "must be at least 1"),
        (r.w >= 0, "reward.w", "must be non-negative"),
        (r.drop_penalty >= 0, "reward.drop_penalty", "must be non-negative"),
        (ln.initial_bandwidth > 0, "link.initial_bandwidth", "must be positive"),
        (ln.estimator_window >= 1, "link.estimator_window", "must be at least 1"),
        (0 <= ln.estimator_step < ln.estimator_window, "link.estimator_step", "must be in [0, estimator_window)"),
        (sim.interval is None or sim.interval > 0, "sim.interval", "must be positive"),
        (0.0 <= sim.jitter < 1.0, "sim.jitter", "must be in [0, 1)"),
        (sim.burst_every >= 0 and sim.burst_size >= 0, "sim.burst_every/burst_size", "must be non-negative"),
        (sim.frames >= 1, "sim.frames", "must be at least 1"),
        (sim.devices >= 1, "sim.devices", "must be at least 1"),
        (min(sim.transport_overhead, sim.result_latency, sim.compute_spread) >= 0,
         "sim.transport_overhead/result_latency/compute_spread", "must be non-negative"),
    ]
    cam = config.camera
    checks += [
        (cam.interval is None or cam.interval > 0, "camera.interval", "must be positive"),
        (cam.width >= 64 and cam.height >= 64, "camera.width/height", "must be at least 64"),
        (cam.cars >= 0, "camera.cars", "must be non-negative"),
        (cam.max_frames >= 0, "camera.max_frames", "must be non-negative"),
        (cam.burst_every >= 0 and cam.burst_size >= 0, "camera.burst_every/burst_size", "must be non-negative"),
        (cam.bag_rate > 0, "camera.bag_rate", "must be positive"),
        (cam.wait_for_subscribers >= 0, "camera.wait_for_subscribers", "must be non-negative"),
        (cam.encoding != "yuv422" or cam.width % 2 == 0, "camera.width", "must be even for yuv422"),
        (config.ros.diagnostics_period > 0, "ros.diagnostics_period", "must be positive"),
        (config.ros.malloc_reuse_bytes >= 0, "ros.malloc_reuse_bytes", "must be non-negative"),
    ]
    dev = config.device
    checks += [
        (dev.decision_deadline > 0, "device.decision_deadline", "must be positive"),
        (dev.edge_timeout > 0, "device.edge_timeout", "must be positive"),
        (dev.edge_silence_limit >= 1, "device.edge_silence_limit", "must be at least 1"),
        (dev.edge_retry > 0, "device.edge_retry", "must be positive"),
        (config.edge.capacity >= 1, "edge.capacity", "must be at least 1"),
    ]
    for ok, key, message in checks:
        if not ok:
            raise ConfigError(f"{source}: {key} {message}")
    for key, path in (("model.weights", m.weights_file), ("model.darknet_cfg", m.darknet_cfg),
                      ("model.class_names", m.class_names), ("ros.fastdds_profile", config.ros.fastdds_profile),
                      ("link.key_file", ln.key_file), ("codec.table", c.table)):
        if path is not None and is_asset_reference(path):
            if path.removeprefix(ASSET_PREFIX) not in ASSETS:  # fetched or not is the loader's to say
                raise ConfigError(f"{source}: {key}: unknown asset {path!r}; known: {', '.join(ASSETS)}")
        elif path is not None and not config.resolve_path(path).is_file():
            raise ConfigError(f"{source}: {key}: file {config.resolve_path(path)} does not exist")
    camera_source = config.camera.source
    if is_asset_reference(camera_source) and camera_source.removeprefix(ASSET_PREFIX) not in ASSETS:
        raise ConfigError(f"{source}: camera.source: unknown asset {camera_source!r}; known: {', '.join(ASSETS)}")


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a config dataclass (for ROS parameter descriptors and help texts)."""
    import ast
    import inspect
    import textwrap

    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    docs = {}
    for stmt, after in zip(body, body[1:]):
        if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
            docs[stmt.target.id] = after.value.value.strip()
    return docs
