"""Profile a model's candidate splits: compute time on each side and bytes per codec.

The profile (:class:`~scissor_core.runtime.costs.ModelProfile`) is what the
simulator, the policies and the live device read. Device-side
and edge-side times are measured for real on this machine (warm-up, then the
median and p95 of N runs at a fixed torch thread count) and then multiplied by
the configured slowdown factors, which emulate a Pi-class device (factor > 1)
or a GPU edge (factor < 1). Bytes are the real encoded size of the crossing
tensors for each codec; for ``last`` they are the size of the serialised result.
"""
from __future__ import annotations

import datetime as dt
import os
import platform
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from scissor_core.analysis.timing import time_call, torch_threads
from scissor_core.config import ProfileConfig
from scissor_core.models.registry import DEVICE_ONLY, VisionModel
from scissor_core.runtime.costs import CutProfile, ModelProfile, TimingStats
from scissor_core.wire.codec import CodecSpec


def _machine() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
    }


def codec_bytes(model: VisionModel, split: str, tensors: dict[str, torch.Tensor], result_bytes: int,
                labels: list[str]) -> dict[str, int]:
    """Encoded size of the split's tensors for each codec label that applies to it."""
    if split == DEVICE_ONLY:
        return {label: result_bytes for label in labels}
    sizes = {}
    for label in labels:
        spec = CodecSpec.from_label(label)
        if spec.encoding == "jpeg" and not model.cut(split).is_edge_only:
            continue
        sizes[label] = len(model.encode_split(split, tensors, spec))
    return sizes


@torch.inference_mode()
def profile_model(model: VisionModel, frame_bgr: np.ndarray, settings: ProfileConfig,
                  progress: bool = True) -> ModelProfile:
    """Measure every candidate split of ``model`` on one frame."""
    x, meta = model.preprocess(frame_bgr)
    with torch_threads(settings.device_threads):
        full = TimingStats.of(time_call(lambda: model.module(x), settings.runs, settings.warmup))
        result_bytes = len(model.postprocess(model.module(x), meta).to_bytes())
    profile = ModelProfile(
        model=model.name,
        weights=model.weights_label,
        input_size=model.input_size,
        settings=asdict(settings),
        machine=_machine(),
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        full_forward=full,
    )
    splitter = model.splitter
    for split in tqdm(model.candidates, desc=f"profile {model.name}", unit="split", disable=not progress):
        device, edge = splitter.parts(split)
        with torch_threads(settings.device_threads):
            device_samples = time_call(lambda device=device: device(x), settings.runs, settings.warmup)
            sent = splitter.run_device(x, split)
        with torch_threads(settings.edge_threads):
            edge_inputs = [sent[t] for t in model.cut(split).crossing]
            edge_samples = time_call(lambda edge=edge, inputs=edge_inputs: edge(*inputs), settings.runs,
                                     settings.warmup)
        device_stats, edge_stats = TimingStats.of(device_samples), TimingStats.of(edge_samples)
        profile.cuts.append(CutProfile(
            split=split,
            crossing=list(sent),
            shapes=[list(t.shape) for t in sent.values()],
            device_measured=device_stats,
            edge_measured=edge_stats,
            device_time=device_stats.median * settings.device_slowdown,
            edge_time=edge_stats.median * settings.edge_slowdown,
            bytes=codec_bytes(model, split, sent, result_bytes, settings.codecs),
        ))
    return profile


def format_profile(profile: ModelProfile) -> str:
    """Markdown table: per split, device/edge times (median, p95; both times the slowdown factors) and bytes
    per codec."""
    labels = list(dict.fromkeys(label for c in profile.cuts for label in c.bytes))
    device_x, edge_x = (float(profile.settings.get(k, 1.0)) for k in ("device_slowdown", "edge_slowdown"))
    head = "| split | tensors | device ms (p95) | edge ms (p95) | " + " | ".join(f"{b} bytes" for b in labels) + " |"
    lines = [head, "|---|---:|---:|---:|" + "---:|" * len(labels)]
    for c in profile.cuts:
        sizes = " | ".join(f"{c.bytes[b]:,}" if b in c.bytes else "-" for b in labels)
        device_p95, edge_p95 = c.device_measured.p95 * device_x, c.edge_measured.p95 * edge_x
        lines.append(
            f"| {c.split} | {len(c.crossing)} | {c.device_time * 1e3:.1f} ({device_p95 * 1e3:.1f}) | "
            f"{c.edge_time * 1e3:.1f} ({edge_p95 * 1e3:.1f}) | {sizes} |"
        )
    return "\n".join(lines)


def plot_profile(profile: ModelProfile, path: str | Path, codec: str = "raw") -> Path:
    """The paper's Figure 1: bytes sent (bars) and device/edge time (lines) per split."""
    from scissor_core.plots import plt, save

    splits = [c.split for c in profile.cuts]
    sizes = [c.bytes.get(codec, 0) / 1e6 for c in profile.cuts]
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(splits)), 4))
    ax.bar(splits, sizes, color="#8fb3d9", label=f"data sent ({codec}), MB")
    ax.set_xlabel("split")
    ax.set_ylabel("data sent per frame (MB)")
    ax2 = ax.twinx()
    ax2.plot(splits, [c.device_time for c in profile.cuts], "o-", color="#c0392b", label="device compute (s)")
    ax2.plot(splits, [c.edge_time for c in profile.cuts], "s-", color="#27ae60", label="edge compute (s)")
    ax2.set_ylabel("compute time per frame (s)")
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper center", fontsize=8)
    slow = profile.settings
    ax.set_title(f"{profile.model} ({profile.weights}); device x{slow['device_slowdown']:g}, "
                 f"edge x{slow['edge_slowdown']:g}", fontsize=9)
    fig.tight_layout()
    return save(fig, path, dpi=120)
