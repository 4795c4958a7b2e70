"""Benchmarks that print measured figures (the project's timing harness).

Every benchmark warms up, repeats, reports medians, and states its result as a
ratio against a reference measured in the same run, interleaved round by round,
so that the noise of a shared 2-core machine affects both sides alike.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from scissor_core.analysis.timing import torch_threads
from scissor_core.models.registry import EDGE_ONLY, VisionModel
from scissor_core.runtime.codec_table import CodecEffect


@dataclass(frozen=True)
class SplitOverhead:
    """Split execution time over the unsplit forward, for one split."""

    split: str
    split_median: float
    """Median seconds of device part + edge part."""
    full_median: float
    """Median seconds of the unsplit forward (measured in the same rounds)."""
    ratio: float
    """Median over rounds of (device + edge) / full, each round measured back to back."""


@torch.inference_mode()
def bench_split(model: VisionModel, x: torch.Tensor, runs: int = 10, warmup: int = 2, threads: int = 1,
                splits: list[str] | None = None, progress: bool = True) -> list[SplitOverhead]:
    """(device part + edge part) time over the unsplit eager forward, for every split."""
    results = []
    with torch_threads(threads):
        for split in tqdm(splits or model.candidates, desc=f"bench split {model.name}", unit="split",
                          disable=not progress):
            device, edge = model.splitter.parts(split)

            def run_split(device=device, edge=edge) -> None:
                edge(*device(x))

            def run_full() -> None:
                model.module(x)

            for _ in range(warmup):
                run_split()
                run_full()
            split_t, full_t = [], []
            for r in range(runs):
                # Alternate which side goes first so that neither always runs on a warmer cache.
                order = (run_split, run_full) if r % 2 == 0 else (run_full, run_split)
                times = {}
                for fn in order:
                    start = time.perf_counter()
                    fn()
                    times[fn] = time.perf_counter() - start
                split_t.append(times[run_split])
                full_t.append(times[run_full])
            ratios = np.asarray(split_t) / np.asarray(full_t)
            results.append(SplitOverhead(split, float(np.median(split_t)), float(np.median(full_t)),
                                         float(np.median(ratios))))
    return results


def format_split_overhead(rows: list[SplitOverhead], goal: float) -> str:
    lines = ["| split | device+edge ms | unsplit ms | ratio |", "|---|---:|---:|---:|"]
    for r in rows:
        flag = "" if r.ratio <= goal else " (over goal)"
        lines.append(f"| {r.split} | {r.split_median * 1e3:.2f} | {r.full_median * 1e3:.2f} | {r.ratio:.4f}{flag} |")
    worst = max(rows, key=lambda r: r.ratio)
    lines.append(f"\nworst ratio {worst.ratio:.4f} at split {worst.split} (goal <= {goal}); "
                 f"median over splits {np.median([r.ratio for r in rows]):.4f}")
    return "\n".join(lines)


@torch.inference_mode()
def bench_codec(model: VisionModel, frames: list, splits: list[str], codecs: list[str],
                progress: bool = True) -> list[CodecEffect]:
    """Bytes, encode/decode time and output error of each codec against raw float32 transport.

    A byte compression (zstd, lz4) is lossless: when the tensors it decodes to equal those of the same
    encoding without it (checked on every frame), the edge's output is that encoding's, not run again."""
    from scissor_core.models.detection import dataset_average_precision_50
    from scissor_core.wire.codec import CodecSpec

    specs = [CodecSpec.from_label(c) for c in codecs]
    samples: dict[tuple[str, str], dict[str, list]] = {}
    jobs = [(s, spec) for s in splits for spec in specs
            if spec.encoding != "jpeg" or model.cut(s).is_edge_only]
    bar = tqdm(total=len(frames) * len(jobs), desc=f"bench codec {model.name}", unit="run", disable=not progress)
    for frame in frames:
        x, meta = model.preprocess(frame)
        reference = model.module(x)
        reference_pred = list(model.postprocess(reference, meta).detections or ())
        sent_by_split = {s: model.splitter.run_device(x, s) for s in splits}
        decoded_before: dict[tuple[str, str], tuple[dict, torch.Tensor]] = {}
        for split, spec in jobs:
            start = time.perf_counter()
            blob = model.encode_split(split, sent_by_split[split], spec)
            encoded = time.perf_counter()
            received = model.decode_split(split, blob)
            decoded = time.perf_counter()
            uncompressed = (split, spec.label.partition("+")[0])
            earlier = decoded_before.get(uncompressed)
            if earlier is not None and all(torch.equal(received[k], earlier[0][k]) for k in received):
                output = earlier[1]
            else:
                output = model.splitter.run_edge(received, split)
                decoded_before[uncompressed] = (received, output)
            s = samples.setdefault((split, spec.label), {"bytes": [], "enc": [], "dec": [], "err": [], "agr": []})
            if model.task == "classification":
                s["agr"].append(float(int(output.argmax()) == int(reference.argmax())))
            else:
                s["agr"].append((list(model.postprocess(output, meta).detections or ()), reference_pred))
            s["bytes"].append(len(blob))
            s["enc"].append(encoded - start)
            s["dec"].append(decoded - encoded)
            s["err"].append(float((output - reference).abs().max()))
            bar.update()
    bar.close()
    return [
        CodecEffect(split, label, float(np.mean(s["bytes"])), float(np.median(s["enc"])) * 1e3,
                    float(np.median(s["dec"])) * 1e3, float(np.max(s["err"])),
                    float(np.mean(s["agr"])) if model.task == "classification"
                    else dataset_average_precision_50(s["agr"]))
        for (split, label), s in samples.items()
    ]


def format_codec_effects(rows: list[CodecEffect], task: str) -> str:
    metric = "top-1 agreement" if task == "classification" else "mAP@0.5 vs lossless"
    lines = [f"| split | codec | bytes/frame | encode ms | decode ms | max output error | {metric} |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.split} | {r.codec} | {r.bytes:,.0f} | {r.encode_ms:.2f} | {r.decode_ms:.2f} | "
                     f"{r.max_output_error:.3g} | {r.agreement:.3f} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class FrontierPoint:
    """At one split: the fewest bytes a codec sends while keeping ``min_agreement``, against raw float32."""

    split: str
    raw_bytes: float
    codec: str
    """The cheapest codec that keeps the agreement ('' when none does)."""
    bytes: float
    agreement: float

    @property
    def reduction(self) -> float:
        """Raw float32 bytes of this split over the chosen codec's (0 when none keeps the agreement)."""
        return self.raw_bytes / self.bytes if self.codec else 0.0


def codec_frontier(rows: list[CodecEffect], min_agreement: float) -> list[FrontierPoint]:
    """Per split (in row order): the cheapest codec at or above ``min_agreement``. Split 0's raw bytes
    are the raw frame's; JPEG competes there."""
    points = []
    for split in dict.fromkeys(r.split for r in rows):
        here = [r for r in rows if r.split == split]
        raw = next((r.bytes for r in here if r.codec == "raw"), float("nan"))
        keeping = sorted((r for r in here if r.agreement >= min_agreement), key=lambda r: r.bytes)
        best = keeping[0] if keeping else None
        points.append(FrontierPoint(split, raw, best.codec if best else "", best.bytes if best else 0.0,
                                    best.agreement if best else 0.0))
    return points


def format_frontier(points: list[FrontierPoint], min_agreement: float, goal: float) -> str:
    """Markdown: the frontier per split, then whether some split reaches ``goal`` x fewer bytes than raw."""
    lines = [f"| split | raw float32 bytes | cheapest codec at agreement >= {min_agreement:g} | bytes | agreement "
             "| raw / codec |", "|---|---:|---|---:|---:|---:|"]
    for p in points:
        lines.append(f"| {p.split} | {p.raw_bytes:,.0f} | {p.codec or 'none'} | "
                     + (f"{p.bytes:,.0f} | {p.agreement:.3f} | {p.reduction:.1f}x |" if p.codec else "- | - | - |"))
    maps = [p for p in points if p.split != EDGE_ONLY]  # feature maps; split 0 sends the frame itself
    best = max(maps, key=lambda p: p.reduction, default=None)
    met = best is not None and best.reduction >= goal
    lines.append("")
    lines.append(f"goal (a feature-map codec at agreement >= {min_agreement:g} with >= {goal:g}x fewer bytes than raw "
                 f"float32 at some split): {'met' if met else 'NOT met'}"
                 + (f"; best {best.codec} at split {best.split}, {best.reduction:.1f}x" if best and best.codec else ""))
    frame = next((p for p in points if p.split == EDGE_ONLY and p.codec), None)
    if frame is not None:
        lines.append(f"the frame itself (split 0, edge-only): {frame.codec}, {frame.bytes:,.0f} bytes, "
                     f"{frame.reduction:.1f}x fewer than raw float32: the bar a split has to beat at equal accuracy")
    return "\n".join(lines)


def plot_codec_effects(rows: list[CodecEffect], path: Path, title: str, metric: str) -> Path:
    """Bytes per frame (log) against the agreement metric: one colour per split, one marker per encoding
    (its zstd/lz4 variants: the same marker, hollow), so every split's trade-off reads on one axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    splits = list(dict.fromkeys(r.split for r in rows))
    colours = plt.get_cmap("tab10")
    markers = {"raw": "o", "fp16": "s", "int8-per_tensor": "^", "int8-per_channel": "v", "int8": "^", "jpeg": "*"}
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for k, split in enumerate(splits):
        for r in (r for r in rows if r.split == split):
            base, _, compression = r.codec.partition("+")
            family = "jpeg" if base.startswith("jpeg") else base
            ax.scatter(r.bytes, r.agreement, marker=markers.get(family, "x"), s=36,
                       facecolors="none" if compression else colours(k % 10), edgecolors=colours(k % 10))
            if family == "jpeg":
                ax.annotate(r.codec, (r.bytes, r.agreement), fontsize=7, xytext=(4, -3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("bytes per frame (log)")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3, which="both")
    split_keys = [Line2D([], [], color=colours(k % 10), marker="o", linestyle="", label=f"split {s}")
                  for k, s in enumerate(splits)]
    codec_keys = [Line2D([], [], color="gray", marker=m, linestyle="", label=f) for f, m in markers.items()
                  if any((r.codec.partition("+")[0].startswith("jpeg") and f == "jpeg") or
                         r.codec.partition("+")[0] == f for r in rows)]
    codec_keys.append(Line2D([], [], color="gray", marker="o", markerfacecolor="none", linestyle="",
                             label="+zstd / +lz4 (hollow)"))
    ax.legend(handles=split_keys + codec_keys, fontsize=7, loc="lower right", ncol=2)
    ax.set_title(title, fontsize=8, wrap=True)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
