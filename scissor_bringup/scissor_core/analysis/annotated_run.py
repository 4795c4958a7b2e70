"""What a run detected, from the annotator's files (:class:`~scissor_core.runtime.annotation.AnnotatedLog`):
detections per frame and the classes seen (for the testbed summary), a contact sheet of sampled annotated
frames (PNG) and the annotated video (MP4)."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from scissor_core.runtime.annotation import RESULTS_FILE


@dataclass(frozen=True)
class AnnotatedRun:
    """The results an annotator drew, by seq (the last line of a seq wins), and where its images are."""

    folder: Path
    records: dict[int, dict]

    @classmethod
    def read(cls, folder: Path) -> AnnotatedRun:
        """The annotator's folder; a line cut off by a stop mid-write is skipped."""
        records: dict[int, dict] = {}
        path = folder / RESULTS_FILE
        for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
            try:
                record = json.loads(line)
                records[int(record["seq"])] = record
            except (ValueError, KeyError, TypeError):
                continue
        return cls(folder, dict(sorted(records.items())))

    def image(self, seq: int) -> Path:
        return self.folder / f"{seq:06d}.jpg"

    def drawn(self) -> list[int]:
        """The seqs whose annotated image is on disk, in order."""
        return [s for s in self.records if self.image(s).is_file()]

    def camera_fps(self) -> float | None:
        """The camera's frame rate, from the stamps of the drawn frames: 1 / the median of (stamp step / seq
        step) between consecutive ones; None with fewer than two or no increasing stamps. Measured, so the
        video plays at the rate the camera published (``camera.interval``, or a video's native rate)."""
        seqs = self.drawn()
        steps = [(self.records[b]["stamp_ns"] - self.records[a]["stamp_ns"]) / (b - a)
                 for a, b in zip(seqs, seqs[1:]) if self.records[b]["stamp_ns"] > self.records[a]["stamp_ns"]]
        return 1e9 / float(np.median(steps)) if steps else None

    def summary(self) -> str:
        """Markdown lines: results drawn, detections per frame, classes seen (or top-1 classes)."""
        ran = [r for r in self.records.values() if not r.get("error")]
        if not self.records:
            return "annotated results: none (no result reached the annotator)"
        counts = [len(r["detections"]) for r in ran]
        classes = Counter(d["class"] or str(d["class_id"]) for r in ran for d in r["detections"])
        splits = Counter(r["split"] for r in ran)
        lines = [f"annotated results: {len(self.records)} ({sum(r['on_frame'] for r in self.records.values())} "
                 f"drawn on their own frame; {len(self.records) - len(ran)} edge errors); by split: "
                 + ", ".join(f"{s} {n}" for s, n in sorted(splits.items()))]
        if any(r["topk"] for r in ran):
            top1 = Counter(r["topk"][0][0] for r in ran if r["topk"])
            lines.append("top-1 classes: " + ", ".join(f"{c} x{n}" for c, n in top1.most_common(10)))
        else:
            mean = float(np.mean(counts)) if counts else 0.0
            lines.append(f"detections per frame: mean {mean:.2f}, max {max(counts, default=0)}, frames with at "
                         f"least one {sum(c > 0 for c in counts)} of {len(counts)}")
            lines.append("classes seen: " + (", ".join(f"{c} x{n}" for c, n in classes.most_common()) or "none"))
        return "\n\n".join(lines)

    def contact_sheet(self, output: Path, count: int = 12, columns: int = 4, width: int = 320) -> Path | None:
        """A grid of ``count`` annotated frames sampled evenly over the run, each ``width`` px wide (PNG);
        None when there are no images."""
        seqs = self.drawn()
        if not seqs:
            return None
        picked = [seqs[round(i * (len(seqs) - 1) / max(1, count - 1))] for i in range(min(count, len(seqs)))]
        tiles = [_fit(cv2.imread(str(self.image(s))), width) for s in dict.fromkeys(picked)]
        height = max(t.shape[0] for t in tiles)
        tiles = [cv2.copyMakeBorder(t, 0, height - t.shape[0], 0, 0, cv2.BORDER_CONSTANT, value=0) for t in tiles]
        tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
        rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
        cv2.imwrite(str(output), np.vstack(rows))
        return output

    def video(self, output: Path, fps: float) -> Path | None:
        """Every annotated frame in seq order as an MP4 (mp4v) at ``fps``; None when there are no images."""
        seqs = self.drawn()
        if not seqs:
            return None
        first = cv2.imread(str(self.image(seqs[0])))
        size = (first.shape[1], first.shape[0])
        writer = cv2.VideoWriter(str(output), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        try:
            for seq in seqs:
                image = cv2.imread(str(self.image(seq)))
                writer.write(image if (image.shape[1], image.shape[0]) == size else cv2.resize(image, size))
        finally:
            writer.release()
        return output


def _fit(image: np.ndarray, width: int) -> np.ndarray:
    return cv2.resize(image, (width, max(1, round(image.shape[0] * width / image.shape[1]))))
