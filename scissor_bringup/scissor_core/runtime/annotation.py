"""An edge's result drawn on the camera frame it came from: what the robot side's ``annotator_node``
publishes on ``scissor/annotated``. It runs where the frames are; the edge needs only feature maps."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scissor_core.runtime.records import EdgeResult
from scissor_core.sources.imaging import Box, annotate

CANVAS_GRAY = 64
"""The canvas a result is drawn on when its frame is gone (older than the frames kept)."""


def result_lines(result: EdgeResult, class_names: Sequence[str] = ()) -> list[str]:
    """The text of a result: seq, split (or the edge's error), then its top-k classes with their scores."""
    lines = [f"seq {result.seq} split {result.split}" + (f" ERROR {result.error}" if result.error else "")]
    for class_id, score in zip(result.topk_classes, result.topk_scores, strict=False):
        name = class_names[class_id] if 0 <= class_id < len(class_names) else str(class_id)
        lines.append(f"{name} {score:.2f}")
    return lines


def draw_result(result: EdgeResult, frame: np.ndarray | None, frame_size: tuple[int, int] = (640, 480),
                class_names: Sequence[str] = ()) -> np.ndarray:
    """``frame`` (BGR) with the result's boxes and text drawn; without the frame, a gray canvas of
    ``frame_size`` (width, height). Top-k classes are named from ``class_names`` (by id; else the id)."""
    if frame is None:
        width, height = frame_size
        frame = np.full((height, width, 3), CANVAS_GRAY, np.uint8)
    boxes = [Box(d.x1, d.y1, d.x2, d.y2, f"{d.class_name or d.class_id} {d.score:.2f}", d.class_id)
             for d in result.detections]
    return annotate(frame, boxes, result_lines(result, class_names))
