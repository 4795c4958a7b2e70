"""An independent YOLO forward pass for the conformance test: OpenCV 4.x's Darknet importer.

Run with a Python that has ``opencv-python-headless`` 4.x (OpenCV 5 dropped ``readNetFromDarknet``;
``make test`` builds ``.venv-opencv4`` for it). It reads network inputs (``--inputs``: float32
(K, 3, S, S), RGB in [0, 1], as scissor's letterbox makes them), runs them through
``cv2.dnn.readNetFromDarknet(cfg, weights)`` and writes ``--output``: float32 (K, boxes, 5 + C) in
scissor's YoloLayer layout (cx, cy, w, h in input pixels, objectness, class probabilities), heads in cfg
order. OpenCV reports objectness x class probability, zeroed below its threshold; the probability is
recovered by dividing by the objectness.

    python tools/darknet_reference.py --cfg yolov3-tiny.cfg --weights yolov3-tiny.weights \
        --inputs inputs.npy --output opencv.npy
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cfg", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    net = cv2.dnn.readNetFromDarknet(args.cfg, args.weights)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    inputs = np.load(args.inputs).astype(np.float32)
    heads = net.getUnconnectedOutLayersNames()
    results = []
    for x in inputs:
        net.setInput(x[None])
        rows = np.concatenate(net.forward(heads), axis=0)  # cx, cy, w, h (fractions), objectness, scores
        size = np.array([x.shape[2], x.shape[1], x.shape[2], x.shape[1]], dtype=np.float32)
        objectness = rows[:, 4:5]
        probabilities = np.divide(rows[:, 5:], objectness, out=np.zeros_like(rows[:, 5:]), where=objectness > 0)
        results.append(np.concatenate([rows[:, :4] * size, objectness, probabilities], axis=1))
    np.save(args.output, np.stack(results))
    print(f"OpenCV {cv2.__version__}: {len(results)} inputs through {args.cfg} ({', '.join(heads)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
