"""An edge's result drawn on the camera frame it came from: what the robot side's ``annotator_node``
publishes on ``scissor/annotated``. It runs where the frames are; the edge needs only feature maps."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
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


RESULTS_FILE = "results.jsonl"
"""The annotator's record of every result it drew, one JSON object per line, beside the images."""


def result_record(result: EdgeResult, on_frame: bool) -> dict:
    """One line of :data:`RESULTS_FILE`: what a result said, and whether it was drawn on its own frame."""
    return {"seq": result.seq, "stamp_ns": result.stamp_ns, "split": result.split, "error": result.error,
            "on_frame": on_frame,
            "detections": [{"class_id": d.class_id, "class": d.class_name, "score": round(d.score, 4),
                            "box": [round(v, 1) for v in (d.x1, d.y1, d.x2, d.y2)]} for d in result.detections],
            "topk": [[c, round(s, 4)] for c, s in zip(result.topk_classes, result.topk_scores, strict=False)]}


class AnnotatedLog:
    """The annotator's files (``device.annotate_dir``): each annotated image as ``<seq>.jpg`` and a line
    of :data:`RESULTS_FILE` per result, flushed as written (a run stopped at any moment keeps what it had)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._results = (folder / RESULTS_FILE).open("a", encoding="utf-8")

    def add(self, result: EdgeResult, image: np.ndarray, on_frame: bool) -> None:
        cv2.imwrite(str(self.folder / f"{result.seq:06d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        self._results.write(json.dumps(result_record(result, on_frame)) + "\n")
        self._results.flush()

    def close(self) -> None:
        self._results.close()
