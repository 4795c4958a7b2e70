"""ImageNet preprocessing and top-k post-processing for the classifiers."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def imagenet_preprocess(image_bgr: np.ndarray, size: int = 224) -> torch.Tensor:
    """torchvision's classic eval transform: resize short side, centre crop, normalise.

    Resizes the short side to ``size * 256 / 224`` (256 for 224), crops the
    centre ``size`` x ``size``, converts BGR uint8 to normalised RGB float32
    (1, 3, size, size).
    """
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 BGR image, got shape {image_bgr.shape}")
    h, w = image_bgr.shape[:2]
    short = round(size * 256 / 224)
    scale = short / min(h, w)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    resized = cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    crop = resized[top : top + size, left : left + size, ::-1].astype(np.float32) / 255.0
    crop = (crop - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None]


@dataclass(frozen=True)
class TopK:
    """The k best classes of one image: ids, softmax probabilities and raw logits."""

    class_ids: tuple[int, ...]
    scores: tuple[float, ...]
    logits: tuple[float, ...]


def topk(logits: torch.Tensor, k: int = 5) -> TopK:
    """Top-k classes of a (1, num_classes) logit tensor."""
    if logits.ndim != 2 or logits.shape[0] != 1:
        raise ValueError(f"expected logits of shape (1, C), got {tuple(logits.shape)}")
    k = min(k, logits.shape[1])
    values, ids = torch.topk(logits[0], k)
    probs = torch.softmax(logits[0].double(), dim=0)[ids]
    return TopK(tuple(ids.tolist()), tuple(probs.tolist()), tuple(values.tolist()))
