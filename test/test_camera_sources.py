"""scissor_core.sources.camera: the frame sources behind camera_node, without ROS."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from scissor_core.config import CameraConfig, ConfigError
from scissor_core.sources.camera import CaptureSource, FolderSource, SceneSource, open_source
from scissor_core.sources.scene import TrafficScene


def test_scene_source_is_the_seeded_scene():
    source = open_source(CameraConfig(source="scene", width=128, height=96, cars=3, seed=5))
    assert isinstance(source, SceneSource)
    scene = TrafficScene(128, 96, cars=3, seed=5)
    for k in range(3):
        np.testing.assert_array_equal(source.read(), scene.frame(k))


def _images(folder, count):
    frames = [np.full((16, 24, 3), 40 * i, np.uint8) for i in range(count)]
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:03d}.png"), f)
    return frames


@pytest.mark.parametrize("loop", [True, False])
def test_folder_source_in_name_order_skipping_unreadable(tmp_path, loop):
    frames = _images(tmp_path, 3)
    (tmp_path / "001b.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("ignored")
    source = open_source(CameraConfig(source=str(tmp_path), loop=loop))
    assert isinstance(source, FolderSource)
    got = [source.read() for _ in range(4)]
    for a, b in zip(got[:3], frames):
        np.testing.assert_array_equal(a, b)
    if loop:
        np.testing.assert_array_equal(got[3], frames[0])
    else:
        assert got[3] is None


def test_capture_source_reads_a_video_file_and_loops(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    assert writer.isOpened()
    for i in range(3):
        writer.write(np.full((48, 64, 3), 60 * i, np.uint8))
    writer.release()
    source = open_source(CameraConfig(source=str(path), loop=True))
    assert isinstance(source, CaptureSource)
    means = [float(source.read().mean()) for _ in range(5)]
    assert means[3] == pytest.approx(means[0], abs=2) and means[1] > means[0] + 30
    source.close()
    once = open_source(CameraConfig(source=str(path), loop=False))
    assert [once.read() is None for _ in range(4)] == [False, False, False, True]


def test_unopenable_sources_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="camera.source: OpenCV cannot open"):
        open_source(CameraConfig(source=str(tmp_path / "missing.mp4")))
    with pytest.raises(ConfigError, match="has no images"):
        open_source(CameraConfig(source=str(tmp_path)))


def test_the_street_clip_asset_is_a_looping_video_at_its_own_rate():
    from scissor_core.assets import AssetMissing, resolve_asset
    from scissor_core.sources.camera import native_interval

    try:
        resolve_asset("asset:bikes.mp4")
    except AssetMissing as exc:
        pytest.skip(str(exc))
    source = open_source(CameraConfig(source="asset:bikes.mp4"))
    assert isinstance(source, CaptureSource) and source.description.startswith("video asset:bikes.mp4")
    first = source.read()
    assert first.shape == (272, 640, 3)
    for _ in range(249):
        assert source.read() is not None
    np.testing.assert_array_equal(source.read(), first)  # frame 250 is frame 0 again
    assert native_interval(source) == pytest.approx(1 / 25)


def test_an_unfetched_video_asset_falls_back_to_the_scene_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("SCISSOR_ASSET_DIR", str(tmp_path))
    source = open_source(CameraConfig(source="asset:bikes.mp4", width=96, height=64))
    assert isinstance(source, SceneSource) and source.read().shape == (64, 96, 3)
    assert "FALLBACK, not the configured asset:bikes.mp4" in source.description


def test_native_timing_needs_a_frame_rate():
    from scissor_core.sources.camera import native_interval

    with pytest.raises(ConfigError, match="camera.video_timing: native needs a video file with a frame rate"):
        native_interval(SceneSource(CameraConfig(width=64, height=64)))
