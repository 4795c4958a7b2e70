"""YOLO pre/post-processing and the mAP@0.5 score used to judge lossy codecs.

``letterbox`` turns a BGR camera frame into the network input, ``postprocess`` turns the
``Darknet`` output back into detections in the frame's pixels (per-class NMS through
OpenCV, since torchvision is not available), and ``average_precision_50`` scores one
detection list against another taken as ground truth (e.g. lossy vs lossless split).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

__all__ = [
    "Detection",
    "LetterboxInfo",
    "average_precision_50",
    "iou",
    "letterbox",
    "load_class_names",
    "postprocess",
]

Box = tuple[float, float, float, float]
PAD_VALUE = 0.5  # Darknet letterbox gray, in [0, 1] input units
IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class LetterboxInfo:
    """How ``letterbox`` placed the original image: ``network = original * scale + pad``."""

    scale: float
    pad_x: int
    pad_y: int
    orig_w: int
    orig_h: int


@dataclass(frozen=True)
class Detection:
    """One detected object; ``box`` is (x1, y1, x2, y2) in original image pixels."""

    class_id: int
    score: float
    box: Box


def load_class_names(path: str | Path) -> list[str]:
    """Class names of a Darknet ``.names`` file (one per line, blank lines ignored)."""
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


def letterbox(image_bgr: np.ndarray, size: int) -> tuple[torch.Tensor, LetterboxInfo]:
    """Resize keeping the aspect ratio, center on a ``size`` x ``size`` gray canvas.

    Returns a contiguous float32 RGB tensor ``(1, 3, size, size)`` in [0, 1] and the
    ``LetterboxInfo`` that maps network coordinates back to the image.
    """
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 BGR image, got {image_bgr.dtype} {image_bgr.shape}")
    orig_h, orig_w = image_bgr.shape[:2]
    if orig_h == 0 or orig_w == 0 or size < 1:
        raise ValueError(f"cannot letterbox a {orig_w}x{orig_h} image to {size}")
    scale = min(size / orig_w, size / orig_h)
    new_w = min(size, max(1, round(orig_w * scale)))
    new_h = min(size, max(1, round(orig_h * scale)))
    resized = cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.float32)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized[..., ::-1] * np.float32(1.0 / 255.0)
    tensor = torch.from_numpy(canvas.transpose(2, 0, 1).copy()).unsqueeze(0)
    return tensor, LetterboxInfo(scale=scale, pad_x=pad_x, pad_y=pad_y, orig_w=orig_w, orig_h=orig_h)


def postprocess(
    output: torch.Tensor,
    info: LetterboxInfo | None,
    conf_threshold: float = 0.5,
    nms_threshold: float = 0.45,
) -> list[Detection]:
    """Detections from a ``Darknet`` output ``(1, N, 5 + C)`` (rows cx, cy, w, h, obj, classes).

    Score = objectness * best class probability; boxes scoring above ``conf_threshold``
    are mapped through ``info`` (if given) and clipped to the image, then suppressed
    per class with ``cv2.dnn.NMSBoxes``. Sorted by score, highest first.
    """
    if output.ndim != 3 or output.shape[0] != 1 or output.shape[2] < 6:
        raise ValueError(f"expected a (1, N, 5 + C) detection tensor, got {tuple(output.shape)}")
    rows = output[0].detach().to("cpu", torch.float32).numpy()
    class_ids = rows[:, 5:].argmax(axis=1)
    scores = rows[:, 4] * rows[np.arange(len(rows)), 5 + class_ids]
    keep = scores > conf_threshold
    rows, class_ids, scores = rows[keep], class_ids[keep], scores[keep]
    half = rows[:, 2:4] / 2
    boxes = np.concatenate((rows[:, :2] - half, rows[:, :2] + half), axis=1).astype(np.float64)
    if info is not None:
        boxes[:, [0, 2]] = ((boxes[:, [0, 2]] - info.pad_x) / info.scale).clip(0, info.orig_w)
        boxes[:, [1, 3]] = ((boxes[:, [1, 3]] - info.pad_y) / info.scale).clip(0, info.orig_h)
    valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, class_ids, scores = boxes[valid], class_ids[valid], scores[valid]
    detections: list[Detection] = []
    for class_id in np.unique(class_ids):
        (members,) = np.nonzero(class_ids == class_id)
        xywh = np.concatenate((boxes[members, :2], boxes[members, 2:] - boxes[members, :2]), axis=1)
        kept = cv2.dnn.NMSBoxes(xywh.tolist(), scores[members].tolist(), conf_threshold, nms_threshold)
        for k in np.asarray(kept, dtype=np.int64).reshape(-1):
            j = members[k]
            box = (float(boxes[j, 0]), float(boxes[j, 1]), float(boxes[j, 2]), float(boxes[j, 3]))
            detections.append(Detection(class_id=int(class_id), score=float(scores[j]), box=box))
    detections.sort(key=lambda d: (-d.score, d.class_id, d.box))
    return detections


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes; 0.0 when the union is empty."""
    inter_w = min(a[2], b[2]) - max(a[0], b[0])
    inter_h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(inter_w, 0.0) * max(inter_h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _matches(predictions: list[Detection], references: list[Detection]) -> list[tuple[float, bool]]:
    """(score, hit) of each prediction of one class on one frame: greedy matching by descending score,
    a hit when it overlaps a not yet matched reference by IoU >= 0.5."""
    matched = [False] * len(references)
    out: list[tuple[float, bool]] = []
    for prediction in sorted(predictions, key=lambda d: -d.score):
        overlaps = [iou(prediction.box, reference.box) for reference in references]
        best = int(np.argmax(overlaps)) if overlaps else -1
        hit = best >= 0 and overlaps[best] >= IOU_THRESHOLD and not matched[best]
        if hit:
            matched[best] = True
        out.append((prediction.score, hit))
    return out


def _voc_average_precision(scored_hits: list[tuple[float, bool]], references: int) -> float:
    """VOC all-point interpolated AP from every prediction's (score, hit) and the reference count."""
    hits = [hit for _, hit in sorted(scored_hits, key=lambda sh: -sh[0])]
    true_positives = np.cumsum(hits, dtype=np.float64)
    recall = true_positives / references
    precision = true_positives / np.arange(1, len(hits) + 1)
    recall = np.concatenate(([0.0], recall, [1.0]))
    precision = np.concatenate(([0.0], precision, [0.0]))
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # precision envelope
    steps = np.nonzero(recall[1:] != recall[:-1])[0]
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def dataset_average_precision_50(frames: Sequence[tuple[Sequence[Detection], Sequence[Detection]]]) -> float:
    """mAP at IoU >= 0.5 over a set of frames, each (predictions, references taken as ground truth): per
    class, every frame's predictions matched on their own frame and ranked together (as VOC/COCO do),
    then the mean over the classes present in the references (predictions of other classes do not
    count). 1.0 when there are neither references nor predictions; 0.0 when exactly one kind is absent."""
    references = [r for _, refs in frames for r in refs]
    if not references:
        return 0.0 if any(preds for preds, _ in frames) else 1.0
    precisions = []
    for c in sorted({r.class_id for r in references}):
        scored: list[tuple[float, bool]] = []
        for preds, refs in frames:
            scored += _matches([p for p in preds if p.class_id == c], [r for r in refs if r.class_id == c])
        precisions.append(_voc_average_precision(scored, sum(r.class_id == c for r in references)))
    return float(np.mean(precisions))


def average_precision_50(predictions: list[Detection], references: list[Detection]) -> float:
    """mAP at IoU >= 0.5 of one frame's ``predictions`` against its ``references`` (see
    :func:`dataset_average_precision_50`)."""
    return dataset_average_precision_50([(predictions, references)])
