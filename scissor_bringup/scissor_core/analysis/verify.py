"""Check that splitting is lossless: the paper's Table 3 for any model.

For every candidate split, the device part runs on a frame, its tensors go
through the wire codec (raw float32) and back, the edge part finishes, and the
output is compared bit for bit (``torch.equal``) with the unsplit forward.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from scissor_core.models.registry import VisionModel
from scissor_core.wire.codec import CodecSpec


@dataclass(frozen=True)
class VerifyRow:
    """One line of Table 3."""

    split: str
    tensors: int
    payload_bytes: int
    summary: str
    top_value: float
    max_abs_diff: float
    identical: bool


def _top_value(output: torch.Tensor, task: str) -> float:
    """Top-1 logit for a classifier; best objectness x class score for a detector."""
    if task == "classification":
        return float(output.max())
    scores = output[0, :, 4:5] * output[0, :, 5:]
    return float(scores.max()) if scores.numel() else 0.0


@torch.inference_mode()
def verify_model(model: VisionModel, frame_bgr, splits: list[str] | None = None,
                 spec: CodecSpec | None = None) -> list[VerifyRow]:
    """Run every split (default: all candidates) on ``frame_bgr`` against the unsplit forward."""
    spec = spec or CodecSpec()
    x, meta = model.preprocess(frame_bgr)
    reference = model.module(x)
    rows = []
    for name in splits or model.candidates:
        sent = model.splitter.run_device(x, name)
        blob = model.encode_split(name, sent, spec)
        output = model.splitter.run_edge(model.decode_split(name, blob), name)
        diff = float((output - reference).abs().max()) if output.numel() else 0.0
        rows.append(VerifyRow(
            split=name,
            tensors=len(sent),
            payload_bytes=len(blob),
            summary=model.postprocess(output, meta).summary(),
            top_value=_top_value(output, model.task),
            max_abs_diff=diff,
            identical=torch.equal(output, reference),
        ))
    return rows


def format_table(rows: list[VerifyRow]) -> str:
    """Markdown table of the verification rows."""
    lines = [
        "| split | tensors | payload bytes | result | top-1 value | max abs diff | identical |",
        "|---|---:|---:|---|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.split} | {r.tensors} | {r.payload_bytes:,} | {r.summary} | {r.top_value:.6f} | "
            f"{r.max_abs_diff:.3g} | {'yes' if r.identical else 'NO'} |"
        )
    return "\n".join(lines)
