"""Frame sources of the camera node: the synthetic scene, an OpenCV capture, an image folder, a rosbag2,
a fetched video asset.

Each source yields BGR uint8 frames, one per :meth:`FrameSource.read`, and None
when it has no more (a video file's end without ``loop``, a lost device). Kept
free of ROS so the sources are tested without a ROS graph.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import logging

import cv2
import numpy as np

from scissor_core.assets import AssetError, AssetMissing, is_asset_reference, resolve_asset
from scissor_core.config import CameraConfig, ConfigError
from scissor_core.sources.bags import BagSource, parse_bag_spec
from scissor_core.sources.scene import TrafficScene

log = logging.getLogger(__name__)

BAG_PREFIX = "bag:"
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})


class FrameSource(Protocol):
    """Where frames come from."""

    description: str

    def read(self) -> np.ndarray | None:
        """The next BGR uint8 frame, or None when the source has ended."""

    def close(self) -> None:
        """Release the device or file."""


class SceneSource:
    """The synthetic traffic scene: the k-th read returns frame k of the seed."""

    def __init__(self, camera: CameraConfig) -> None:
        self.scene = TrafficScene(camera.width, camera.height, cars=camera.cars, seed=camera.seed)
        self.index = 0
        self.description = f"synthetic traffic scene {camera.width}x{camera.height}, seed {camera.seed}"

    def read(self) -> np.ndarray:
        frame = self.scene.frame(self.index)
        self.index += 1
        return frame

    def close(self) -> None:
        pass


class FolderSource:
    """The images of a folder in name order (unreadable files are skipped)."""

    def __init__(self, folder: Path, loop: bool) -> None:
        self.paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise ConfigError(f"camera.source: folder {folder} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        self.loop, self.index = loop, 0
        self.description = f"image folder {folder} ({len(self.paths)} images)"

    def read(self) -> np.ndarray | None:
        for _ in range(len(self.paths)):
            if self.index == len(self.paths):
                if not self.loop:
                    return None
                self.index = 0
            frame = cv2.imread(str(self.paths[self.index]), cv2.IMREAD_COLOR)
            self.index += 1
            if frame is not None:
                return frame
        return None

    def close(self) -> None:
        pass


class CaptureSource:
    """Any OpenCV capture: a video file (restarted at its end when looping), a V4L2 device, a URL."""

    def __init__(self, source: str, loop: bool) -> None:
        target: str | int = int(source) if source.isdigit() else source
        self.capture = cv2.VideoCapture(target)
        if not self.capture.isOpened():
            raise ConfigError(f"camera.source: OpenCV cannot open {source!r}")
        self.rewind = loop and Path(source).is_file()
        self.fps = self.capture.get(cv2.CAP_PROP_FPS) if Path(source).is_file() else 0.0
        """A video file's own frame rate (0: unknown, or not a file)."""
        self.description = f"OpenCV capture {source!r}"

    def read(self) -> np.ndarray | None:
        ok, frame = self.capture.read()
        if not ok and self.rewind:
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.capture.read()
        if not ok or frame is None:
            return None
        return frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)

    def close(self) -> None:
        self.capture.release()


def open_source(camera: CameraConfig) -> FrameSource:
    """The source ``camera.source`` names: ``scene``, ``asset:NAME``, ``bag:PATH[#TOPIC]``, a folder, or anything
    OpenCV opens.

    A bag raises :class:`~scissor_core.sources.bags.BagError` when it cannot be replayed.
    """
    if camera.source == "scene":
        return SceneSource(camera)
    if is_asset_reference(camera.source):
        try:
            path = resolve_asset(camera.source)
        except AssetMissing as exc:
            scene = SceneSource(camera)
            scene.description += f" FALLBACK, not the configured {camera.source}: {exc}"
            log.error("camera: %s", scene.description)
            return scene
        except AssetError as exc:
            raise ConfigError(f"camera.source: {exc}") from None
        source = CaptureSource(str(path), camera.loop)
        source.description = f"video {camera.source} ({path}{', looping' if camera.loop else ''})"
        return source
    if camera.source.startswith(BAG_PREFIX):
        return BagSource(*parse_bag_spec(camera.source.removeprefix(BAG_PREFIX)))
    path = Path(camera.source).expanduser()
    if path.is_dir():
        return FolderSource(path, camera.loop)
    return CaptureSource(camera.source, camera.loop)


def native_interval(source: FrameSource) -> float:
    """Seconds between frames at a video file's own frame rate (``camera.video_timing: native``)."""
    fps = getattr(source, "fps", 0.0)
    if not fps or fps <= 0:
        raise ConfigError(f"camera.video_timing: native needs a video file with a frame rate; "
                          f"{source.description} has none")
    return 1.0 / fps
