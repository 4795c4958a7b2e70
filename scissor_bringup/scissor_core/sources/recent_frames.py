"""Recent camera frames by capture stamp: how the edge finds the frame a feature map came from."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

_NS = 1_000_000_000


class RecentFrames:
    """Frames keyed by their capture stamp (ns), forgotten once ``horizon`` seconds older than the newest."""

    def __init__(self, horizon: float) -> None:
        self.horizon_ns = int(horizon * _NS)
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()

    def add(self, stamp_ns: int, frame: np.ndarray) -> None:
        self._frames[stamp_ns] = frame
        while self._frames and next(iter(self._frames)) < stamp_ns - self.horizon_ns:
            self._frames.popitem(last=False)

    def get(self, stamp_ns: int) -> np.ndarray | None:
        """The frame captured at ``stamp_ns``, if it is still kept."""
        return self._frames.get(stamp_ns)

    def __len__(self) -> int:
        return len(self._frames)
