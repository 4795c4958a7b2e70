"""YOLOv3-tiny with its COCO weights against an independent Darknet implementation: OpenCV 4.x's
``readNetFromDarknet`` (in the side venv ``.venv-opencv4``, as OpenCV 5 has no Darknet importer), on real
frames of the street clip. Same raw head outputs, same detections."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from scissor_core.assets import AssetMissing, resolve_asset
from scissor_core.config import ScissorConfig
from scissor_core.models.registry import load_model
from scissor_core.resources import resolve_data_path

from repo_paths import REPO

OPENCV4_PYTHON = Path(os.environ.get("SCISSOR_OPENCV4_PYTHON", REPO / ".venv-opencv4" / "bin" / "python"))
FRAMES = 25
"""Every 10th frame of the 250-frame clip."""


def fetched(reference: str) -> Path:
    try:
        return resolve_asset(reference)
    except AssetMissing as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def frames_and_model():
    if not OPENCV4_PYTHON.is_file():
        pytest.skip(f"no OpenCV 4.x side venv at {OPENCV4_PYTHON} (make test builds .venv-opencv4)")
    weights, video = fetched("asset:yolov3-tiny.weights"), fetched("asset:bikes.mp4")
    config = ScissorConfig()
    config.model.name, config.model.weights, config.model.conf_threshold = "yolov3-tiny", str(weights), 0.25
    capture, frames = cv2.VideoCapture(str(video)), []
    while (frame := capture.read()[1]) is not None:
        frames.append(frame)
    return frames[::10][:FRAMES], load_model(config), weights


def test_opencv_darknet_gives_the_same_heads_and_detections_on_real_frames(frames_and_model, tmp_path):
    frames, model, weights = frames_and_model
    assert len(frames) == FRAMES
    prepared = [model.preprocess(f) for f in frames]
    with torch.inference_mode():
        ours = torch.cat([model.module(x) for x, _ in prepared]).numpy()
    np.save(tmp_path / "inputs.npy", torch.cat([x for x, _ in prepared]).numpy())
    run = subprocess.run([str(OPENCV4_PYTHON), str(REPO / "tools" / "darknet_reference.py"),
                          "--cfg", str(resolve_data_path(model.config.darknet_cfg_file)), "--weights", str(weights),
                          "--inputs", str(tmp_path / "inputs.npy"), "--output", str(tmp_path / "opencv.npy")],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    theirs = np.load(tmp_path / "opencv.npy")
    assert theirs.shape == ours.shape == (FRAMES, 2535, 85)
    # boxes to a fraction of a pixel of the 416 input, objectness to 1e-4 (float32 through exp and sigmoid)
    assert np.abs(ours[..., :4] - theirs[..., :4]).max() < 0.1
    assert np.abs(ours[..., 4] - theirs[..., 4]).max() < 1e-4
    total = 0
    for k, (_, meta) in enumerate(prepared):
        mine = model.postprocess(torch.from_numpy(ours[k:k + 1]), meta).detections
        reference = model.postprocess(torch.from_numpy(theirs[k:k + 1]), meta).detections
        assert [d.class_id for d in mine] == [d.class_id for d in reference], f"frame {10 * k}"
        for a, b in zip(mine, reference, strict=True):
            assert abs(a.score - b.score) < 1e-3 and np.abs(np.subtract(a.box, b.box)).max() < 0.5
        total += len(mine)
    assert total >= FRAMES  # real weights on a street: cars, people, bikes (random weights find nothing)
