"""Shared fixtures: small, seeded models and frames so the unit tests stay fast."""
from __future__ import annotations

import pytest
import torch

from scissor_core.config import ScissorConfig
from scissor_core.scene import TrafficScene


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
