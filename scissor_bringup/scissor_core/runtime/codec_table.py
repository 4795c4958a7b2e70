"""The codec bench's table: what each (split, codec) pair costs and how accurate it stays.

``scissor bench codec MODEL`` measures, at every candidate split, each codec's mean bytes per frame, encode and
decode time and its agreement with lossless transport (mAP@0.5 against the fp32 detections for a detector,
top-1 agreement for a classifier) and writes them to a CSV. The same CSV, shipped in ``config/codecs/``, is
the table the device and the simulator choose (split, codec) pairs from when ``codec.min_map`` is set
(:meth:`~scissor_core.runtime.costs.SplitCosts.from_codec_table`). Plain csv, no torch: the live device and the
simulator read it.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("split", "codec", "bytes", "encode_ms", "decode_ms", "max_output_error", "agreement")


@dataclass(frozen=True)
class CodecEffect:
    """Size, speed and output error of one codec at one split, over a set of frames."""

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
    """Classifier: top-1 agreement with the lossless output; detector: mAP@0.5 over all frames against the
    lossless (fp32) detections taken as ground truth."""


def read_codec_csv(path: Path) -> list[CodecEffect]:
    """The rows :func:`write_codec_csv` wrote; a missing file or a malformed row is a ValueError naming it."""
    try:
        with Path(path).open(newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not set(COLUMNS) <= set(reader.fieldnames):
                raise ValueError(f"codec table {path}: expected columns {', '.join(COLUMNS)}, got "
                                 f"{reader.fieldnames}")
            rows = []
            for line, r in enumerate(reader, start=2):
                try:
                    rows.append(CodecEffect(r["split"], r["codec"], *(float(r[c]) for c in COLUMNS[2:])))
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"codec table {path} line {line}: {exc}") from None
    except FileNotFoundError:
        raise ValueError(f"codec table {path} does not exist (write it with `scissor bench codec MODEL "
                         "--output DIR`)") from None
    return rows


def write_codec_csv(rows: list[CodecEffect], path: Path) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow([r.split, r.codec, f"{r.bytes:.1f}", f"{r.encode_ms:.3f}", f"{r.decode_ms:.3f}",
                             f"{r.max_output_error:.6g}", f"{r.agreement:.6f}"])
    return path
