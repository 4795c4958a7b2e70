"""Camera frames from a rosbag2 folder (sqlite3 or MCAP), read with the pure-Python ``rosbags`` library.

:class:`BagSource` is a frame source like those of :mod:`scissor_core.sources.camera`: one
topic of ``sensor_msgs/msg/Image`` (every encoding of :mod:`scissor_core.sources.imaging`)
or ``sensor_msgs/msg/CompressedImage`` (jpeg, png), named or, when not given, the
bag's only image topic. Its :attr:`BagSource.stamps` are the recorded receive
times, so a camera can replay the frames at the recorded timing.

The bag comes from outside: every problem (missing path, not a rosbag2 folder,
truncated or corrupt storage, no or a wrong topic, an undecodable message) raises
:class:`BagError` naming it; nothing else escapes. No ROS imports here.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from scissor_core.sources.imaging import ImageError, ImageFields, compressed_to_bgr, to_bgr

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE, COMPRESSED)
_TYPESTORE = get_typestore(Stores.ROS2_KILTED)
T = TypeVar("T")


class BagError(ValueError):
    """A bag cannot be replayed; the message names the bag and the problem."""


def parse_bag_spec(spec: str) -> tuple[Path, str | None]:
    """``PATH`` or ``PATH#TOPIC`` (the part of ``camera.source`` after ``bag:``) -> (path, topic or None)."""
    path, _, topic = spec.partition("#")
    return Path(path).expanduser(), topic or None


def _topic_list(connections: list[Connection]) -> str:
    return ", ".join(f"{c.topic} ({c.msgtype}, {c.msgcount} msgs)" for c in connections) or "none"


class BagSource:
    """The image messages of one topic of a rosbag2 folder, as BGR uint8 frames in recorded order."""

    def __init__(self, path: Path, topic: str | None = None) -> None:
        """Open the bag, choose the topic and read every message's timestamp (catching a truncated file now)."""
        self.path = path
        if not path.exists():
            raise BagError(f"bag {path}: no such file or folder")
        self.reader = self._call(lambda: Reader(path), "is not a readable rosbag2 folder")
        self._call(self.reader.open, "cannot be opened (truncated or corrupt?)")
        try:
            self.connection = self._choose(topic)
            self.stamps: list[int] = self._call(
                lambda: [stamp for _, stamp, _ in self.reader.messages(connections=[self.connection])],
                f"topic {self.connection.topic}: storage is truncated or corrupt")
            """Recorded timestamps (ns) of every message of the topic, in replay order."""
            if not self.stamps:
                raise BagError(f"bag {path}: topic {self.connection.topic} has no messages")
        except BagError:
            self.reader.close()
            raise
        self.index = 0
        self._messages: Iterator[tuple[Connection, int, bytes]] | None = None
        self.description = (f"rosbag2 {path} topic {self.connection.topic} "
                            f"({self.connection.msgtype.rsplit('/', 1)[-1]}, {len(self.stamps)} frames)")

    def _call(self, action: Callable[[], T], problem: str) -> T:
        """Run a rosbags call; any exception it raises (its parsers have many) becomes a BagError."""
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - corrupt input makes rosbags raise anything; none may escape
            raise BagError(f"bag {self.path}: {problem}: {type(exc).__name__}: {exc}") from exc

    def _choose(self, topic: str | None) -> Connection:
        connections = list(self.reader.connections)
        found = f"topics found: {_topic_list(connections)}"
        if topic is not None:
            named = [c for c in connections if c.topic == topic]
            if not named:
                raise BagError(f"bag {self.path}: no topic {topic}; {found}")
            if named[0].msgtype not in IMAGE_TYPES:
                raise BagError(f"bag {self.path}: topic {topic} is {named[0].msgtype}, not {' or '.join(IMAGE_TYPES)}")
            return named[0]
        images = [c for c in connections if c.msgtype in IMAGE_TYPES]
        if not images:
            raise BagError(f"bag {self.path}: no image topic ({' or '.join(IMAGE_TYPES)}); {found}")
        if len(images) > 1:
            raise BagError(f"bag {self.path}: several image topics, choose one with #TOPIC / --topic: "
                           f"{_topic_list(images)}")
        return images[0]

    def offsets(self, rate: float = 1.0) -> list[float]:
        """Seconds from the first frame to each frame at ``rate`` x the recorded speed."""
        return [(stamp - self.stamps[0]) / 1e9 / rate for stamp in self.stamps]

    def read(self) -> np.ndarray | None:
        """The next frame, or None after the last one; an undecodable message raises BagError with its index."""
        if self._messages is None:
            self._messages = self.reader.messages(connections=[self.connection])
        entry = self._call(lambda: next(self._messages, None), f"topic {self.connection.topic}: storage is corrupt")
        if entry is None:
            return None
        _, _, raw = entry
        msg = self._call(lambda: _TYPESTORE.deserialize_cdr(raw, self.connection.msgtype),
                         f"topic {self.connection.topic} message {self.index} is not a valid {self.connection.msgtype}")
        try:
            if self.connection.msgtype == COMPRESSED:
                frame = compressed_to_bgr(msg.format, msg.data)
            else:
                frame = to_bgr(ImageFields(msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step, msg.data))
        except ImageError as exc:
            raise BagError(f"bag {self.path}: topic {self.connection.topic} message {self.index}: {exc}") from exc
        self.index += 1
        return frame

    def close(self) -> None:
        self.reader.close()
