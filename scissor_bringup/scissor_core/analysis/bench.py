"""Benchmarks that print measured figures (the project's timing harness).

Every benchmark warms up, repeats, reports medians, and states its result as a
ratio against a reference measured in the same run, interleaved round by round,
so that the noise of a shared 2-core machine affects both sides alike.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from scissor_core.analysis.timing import torch_threads
from scissor_core.models.registry import VisionModel


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


@dataclass(frozen=True)
class CodecEffect:
    """Size, speed and output error of one codec at one split, averaged over frames."""

    split: str
    codec: str
    bytes: float
    """Mean encoded bytes per frame."""
    encode_ms: float
    """Median encode time (ms)."""
    decode_ms: float
    """Median decode time (ms)."""
    max_output_error: float
    """Largest |output - lossless output| over frames (logits or raw detections)."""
    agreement: float
    """Classifier: top-1 agreement with the lossless output; detector: mean mAP@0.5 against it."""


@torch.inference_mode()
def bench_codec(model: VisionModel, frames: list, splits: list[str], codecs: list[str],
                progress: bool = True) -> list[CodecEffect]:
    """Bytes, encode/decode time and output error of each codec against raw float32 transport."""
    from scissor_core.models.detection import average_precision_50
    from scissor_core.wire.codec import CodecSpec

    specs = [CodecSpec.from_label(c) for c in codecs]
    samples: dict[tuple[str, str], dict[str, list[float]]] = {}
    jobs = [(s, spec) for s in splits for spec in specs
            if spec.encoding != "jpeg" or model.cut(s).is_edge_only]
    bar = tqdm(total=len(frames) * len(jobs), desc=f"bench codec {model.name}", unit="run", disable=not progress)
    for frame in frames:
        x, meta = model.preprocess(frame)
        reference = model.module(x)
        reference_pred = model.postprocess(reference, meta)
        sent_by_split = {s: model.splitter.run_device(x, s) for s in splits}
        for split, spec in jobs:
            start = time.perf_counter()
            blob = model.encode_split(split, sent_by_split[split], spec)
            encoded = time.perf_counter()
            received = model.decode_split(split, blob)
            decoded = time.perf_counter()
            output = model.splitter.run_edge(received, split)
            if model.task == "classification":
                agreement = float(int(output.argmax()) == int(reference.argmax()))
            else:
                predicted = model.postprocess(output, meta).detections or ()
                agreement = average_precision_50(list(predicted), list(reference_pred.detections or ()))
            s = samples.setdefault((split, spec.label), {"bytes": [], "enc": [], "dec": [], "err": [], "agr": []})
            s["bytes"].append(len(blob))
            s["enc"].append(encoded - start)
            s["dec"].append(decoded - encoded)
            s["err"].append(float((output - reference).abs().max()))
            s["agr"].append(agreement)
            bar.update()
    bar.close()
    return [
        CodecEffect(split, label, float(np.mean(s["bytes"])), float(np.median(s["enc"])) * 1e3,
                    float(np.median(s["dec"])) * 1e3, float(np.max(s["err"])), float(np.mean(s["agr"])))
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
