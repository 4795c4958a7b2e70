"""The synthetic traffic scene is deterministic by seed and shows the cars it reports."""
from __future__ import annotations

import numpy as np
import pytest

from scissor_core.sources.scene import TrafficScene


def test_frames_are_deterministic_by_seed_and_move():
    a, b, c = TrafficScene(seed=4), TrafficScene(seed=4), TrafficScene(seed=5)
    assert np.array_equal(a.frame(17), b.frame(17))
    assert not np.array_equal(a.frame(17), c.frame(17))
    assert not np.array_equal(a.frame(0), a.frame(1))
    assert a.frame(3).shape == (480, 640, 3) and a.frame(3).dtype == np.uint8


def test_reported_boxes_are_on_screen_and_painted():
    scene = TrafficScene(width=320, height=240, cars=6, seed=2)
    for index in range(0, 50, 7):
        frame = scene.frame(index)
        for x1, y1, x2, y2 in scene.car_boxes(index):
            assert x2 > 0 and x1 < 320 and 0 <= y1 < y2 <= 240
            body = frame[y1 + 2 : y2 - 2, max(x1, 0) + 2 : min(x2, 320) - 2].reshape(-1, 3)
            # The road is grey (B = G = R); a car body is a saturated colour or dark wheels.
            assert body.size == 0 or (np.ptp(body.astype(int), axis=1) > 0).any() or body.max() < 60


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="at least 64x64"):
        TrafficScene(width=10, height=10)
    with pytest.raises(ValueError, match="lane"):
        TrafficScene(lanes=0)
