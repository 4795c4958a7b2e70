"""Shared fixtures and helpers: small seeded models and frames, an injected clock, an in-process edge."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import torch
import yaml

from scissor_core.config import ScissorConfig
from scissor_core.runtime.clock import Clock
from scissor_core.runtime.edge import EdgeRuntime, Served
from scissor_core.runtime.records import FeaturePayload
from scissor_core.sources.scene import TrafficScene
from scissor_ros.shm import clean_zombie_shm

pytest_plugins = ["strict_skips"]

CAMERA_SEED = 5
"""Seed of the synthetic scene the testbed tests' camera shows."""
PATIENCE = 120.0
"""Seconds a test waits for work running in threads or processes: a bound that only a hung test reaches,
however loaded the machine (every timing a test asserts runs on an injected clock instead)."""


def pytest_sessionfinish(session, exitstatus):
    """The tests' node processes exit without destroying their DDS participants (:mod:`scissor_ros.shm`): free
    the shared memory the last of them left, as the next node start would."""
    clean_zombie_shm()


@pytest.fixture(autouse=True)
def _single_thread_torch():
    """Deterministic, 2-core friendly: every test runs torch on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def traffic_frame():
    return TrafficScene(seed=3).frame(5)


def small_config(name: str, input_size: int | None = None) -> ScissorConfig:
    """A default config for ``name``; yolov3 at a small input so tests stay fast."""
    config = ScissorConfig()
    config.model.name = name
    config.model.input_size = input_size or (128 if name == "yolov3" else None)
    return config


@pytest.fixture
def domain(monkeypatch):
    """A ROS domain of the test's own, set in the environment of the test and the nodes it starts."""
    from ros_graph import ros_env, unique_domain_id

    domain_id = unique_domain_id()
    for key, value in ros_env(domain_id).items():
        monkeypatch.setenv(key, value)
    return domain_id


def write_config(tmp_path, **sections) -> str:
    """A testbed config for AlexNet: a fast camera on the synthetic scene of a known seed, the outcome log
    in tmp_path, and a queue timeout T of 30 s, so that a loaded machine delays frames but does not drop
    them (``sections`` override)."""
    data = {"model": {"name": "alexnet"}, "camera": {"source": "scene", "interval": 0.12, "seed": CAMERA_SEED},
            "queues": {"timeout": 30.0}, "device": {"outcome_log": str(tmp_path / "outcomes.csv")}}
    for section, body in sections.items():
        data.setdefault(section, {}).update(body)
    path = tmp_path / "testbed.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def wait_for(predicate: Callable[[], object], timeout: float = PATIENCE) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` real seconds pass; its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and not predicate():
        time.sleep(0.01)
    return bool(predicate())


class ManualClock(Clock):
    """Time that stands still until the test advances it; a runtime's own waits (link pacing, the device
    slowdown) advance it by exactly their length at once. Timing logic tested on it does not depend on
    how fast the machine is."""

    def __init__(self, start: float = 1000.0) -> None:
        super().__init__()
        self._t = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._t

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._t += seconds

    def sleep(self, seconds: float, interrupt: threading.Event) -> bool:
        if interrupt.is_set():
            return True
        self.advance(seconds)
        return False

    def wall_ns(self, t: float) -> int:
        return round(t * 1e9)


class InProcessEdge:
    """A real :class:`EdgeRuntime` wired to a device runtime in this process: the device's ``send`` hands it
    the payload and its receipt and results go back to the device. ``lose(seq)`` loses a payload on the
    way (no receipt, no result), ``lose_result(seq)`` only its result."""

    def __init__(self, model, lose: Callable[[int], bool] = lambda seq: False,
                 lose_result: Callable[[int], bool] = lambda seq: False, **runtime_options) -> None:
        self.lose, self.lose_result = lose, lose_result
        self.received: list[FeaturePayload] = []
        self.served: dict[int, Served] = {}
        self.device = None
        """The device runtime receipts and results go to (set by whoever builds it)."""
        self.runtime = EdgeRuntime(model, emit=self._emit, **runtime_options)
        self.runtime.start()

    def send(self, payload: FeaturePayload) -> None:
        self.received.append(payload)
        if not self.lose(payload.seq):
            self.device.on_receipt(self.runtime.accept(payload))

    def _emit(self, served: Served) -> None:
        self.served[served.result.seq] = served
        if not self.lose_result(served.result.seq):
            self.device.on_result(served.result)

    def stop(self) -> None:
        self.runtime.stop()
