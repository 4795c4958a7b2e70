"""Wire codec for the tensors that cross a DNN cut.

A cut may produce several named tensors (YOLOv3 sends three), so one message
carries all of them. The format is versioned and self-describing: the edge
decodes a message without knowing the device's :class:`CodecSpec`.

Wire format (all integers little-endian)::

    message = magic b"SCSR" | version u8 (=1) | tensor count u32 (<= 4096) | tensor*
    tensor  = name length u16 | name utf-8 (<= 256 bytes)
              | dtype u8 | encoding u8 | compression u8 | ndim u8 (<= 8)
              | dims i64 * ndim
              | [int8 only] mode u8 | n u32 | scales f32 * n | zero points i32 * n
              | payload length u64 | payload

Codes are indices into the tuples below: dtype 0 = float32; encoding raw 0, fp16 1,
int8 2, jpeg 3; compression none 0, zstd 1 (one frame), lz4 2 (lz4.frame); int8 mode
per_tensor 0, per_channel 1. ``int8`` stores uint8 values ``q`` with
``x ~= (q - zero_point) * scale``; ``n`` is the channel count (axis 1) for
``per_channel`` and 1 for ``per_tensor``. ``jpeg`` payloads are JPEG files.

Decoding treats the blob as hostile: every problem raises :class:`CodecError`
naming what is wrong and where, and every allocation is bounded by
``max_bytes``/``max_elements`` before it happens (including decompression and
JPEG decoding). This module must not import ROS.
"""
from __future__ import annotations

import math
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import lz4.frame
import numpy as np
import torch
import zstandard

from scissor_core.config import CodecConfig

__all__ = ["CodecError", "CodecSpec", "decode", "describe", "encode", "encoded_size"]

ENCODINGS = ("raw", "fp16", "int8", "jpeg")
COMPRESSIONS = ("none", "zstd", "lz4")
INT8_MODES = ("per_tensor", "per_channel")
DTYPES = ("float32",)  # dtype of the original tensor; the wire code is the index

MAGIC = b"SCSR"
FORMAT_VERSION = 1
MAX_NAME_BYTES = 256
MAX_NDIM = 8
MAX_TENSORS = 4096  # a cut sends a handful; bounds the header loop of hostile blobs
DEFAULT_MAX_BYTES = 256 * 2**20
DEFAULT_MAX_ELEMENTS = 64 * 2**20

_COUNT = struct.Struct("<BI")  # format version, tensor count
_NAME_LEN = struct.Struct("<H")
_TENSOR_CODES = struct.Struct("<BBBB")  # dtype, encoding, compression, ndim
_QUANT_HEAD = struct.Struct("<BI")  # int8 mode, parameter count
_PAYLOAD_LEN = struct.Struct("<Q")

# Element storage of the non-JPEG encodings (int8 is stored as uint8 + zero point).
_STORAGE = {"raw": np.dtype("<f4"), "fp16": np.dtype("<f2"), "int8": np.dtype("u1")}
_Q_MAX = 255
# Scales below the smallest normal float32 (e.g. 0 for all-zero channels) are replaced
# by 1.0: the whole channel then maps to the zero point with error < 255 * tiny.
_MIN_SCALE = float(np.finfo(np.float32).tiny)
# zstd refuses window limits outside [1 KiB, 2 GiB].
_ZSTD_WINDOW_BOUNDS = (1 << 10, 1 << 31)
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG, DAC are not SOF
# Next JPEG marker after pos, skipping garbage, 0xFF fill, stuffed FF00 and the
# length-less markers TEM (01) and RSTn (D0-D7), as libjpeg's next_marker does.
_JPEG_MARKER = re.compile(rb"\xff+([^\x00\x01\xd0-\xd7\xff])")
_MAX_JPEG_SEGMENTS = 256  # real encoders write a handful (APPn, DQT) before the SOF


class CodecError(ValueError):
    """A tensor cannot be encoded, or a blob is not a valid message (says what and where)."""


@dataclass(frozen=True)
class CodecSpec:
    """How the device encodes a cut; validated on construction.

    ``jpeg_quality`` (1..100) only matters for ``jpeg``, ``int8_mode`` only for
    ``int8`` and ``zstd_level`` (1..22) only for ``zstd``; ``jpeg`` cannot be
    combined with compression.
    """

    encoding: str = "raw"
    compression: str = "none"
    jpeg_quality: int = 90
    int8_mode: str = "per_tensor"
    zstd_level: int = 3

    def __post_init__(self) -> None:
        _require_choice("encoding", self.encoding, ENCODINGS)
        _require_choice("compression", self.compression, COMPRESSIONS)
        _require_choice("int8_mode", self.int8_mode, INT8_MODES)
        _require_int_range("jpeg_quality", self.jpeg_quality, 1, 100)
        _require_int_range("zstd_level", self.zstd_level, 1, zstandard.MAX_COMPRESSION_LEVEL)
        if self.encoding == "jpeg" and self.compression != "none":
            raise ValueError(
                f"CodecSpec.compression must be 'none' for encoding 'jpeg' "
                f"(JPEG is already compressed), got {self.compression!r}"
            )

    @property
    def label(self) -> str:
        """Short name for logs and result tables, e.g. ``int8-per_channel+zstd``, ``jpeg-q90``."""
        if self.encoding == "jpeg":
            return f"jpeg-q{self.jpeg_quality}"
        base = f"int8-{self.int8_mode}" if self.encoding == "int8" else self.encoding
        return base if self.compression == "none" else f"{base}+{self.compression}"

    @classmethod
    def from_label(cls, label: str) -> CodecSpec:
        """Inverse of :attr:`label`: ``raw``, ``fp16+lz4``, ``int8`` (per tensor), ``int8-per_channel+zstd``,
        ``jpeg-q75``. Raises ValueError naming the label when it does not parse."""
        base, _, compression = label.partition("+")
        encoding, _, detail = base.partition("-")
        kwargs: dict[str, object] = {"encoding": encoding, "compression": compression or "none"}
        try:
            if encoding == "jpeg" and detail:
                if not detail.startswith("q"):
                    raise ValueError("jpeg quality must be written as -qN")
                kwargs["jpeg_quality"] = int(detail[1:])
            elif encoding == "int8" and detail:
                kwargs["int8_mode"] = detail
            elif detail:
                raise ValueError(f"{encoding!r} takes no '-{detail}' option")
            return cls(**kwargs)
        except ValueError as exc:
            raise ValueError(f"codec label {label!r}: {exc}") from None

    @classmethod
    def of(cls, config: CodecConfig) -> CodecSpec:
        """The tensor codec of a ``codec`` config section."""
        return cls(config.encoding, config.compression, config.jpeg_quality, config.int8_mode, config.zstd_level)

    @classmethod
    def frame_of(cls, config: CodecConfig) -> CodecSpec | None:
        """The codec split 0 sends the frame with when it differs from :meth:`of` (``codec.frame_encoding:
        jpeg``), else None."""
        if config.frame_encoding == "same" or config.encoding == "jpeg":
            return None
        return cls("jpeg", jpeg_quality=config.jpeg_quality)


def codec_labels(config: CodecConfig) -> tuple[str, str | None]:
    """(label of the tensor codec, label of the frame codec or None) of a ``codec`` config section: what
    cost tables, policies and result headers name the codecs by."""
    frame = CodecSpec.frame_of(config)
    return CodecSpec.of(config).label, None if frame is None else frame.label


def _require_choice(field: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"CodecSpec.{field} must be one of {allowed}, got {value!r}")


def _require_int_range(field: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"CodecSpec.{field} must be an integer in [{low}, {high}], got {value!r}")


@dataclass(frozen=True)
class _Quant:
    """Affine int8 parameters of one tensor: one scale/zero point per group."""

    mode: str
    scales: np.ndarray  # float32, shape (groups,)
    zero_points: np.ndarray  # int32, shape (groups,)


@dataclass(frozen=True)
class _Entry:
    """One parsed tensor header plus a zero-copy view of its payload."""

    index: int
    name: str
    shape: tuple[int, ...]
    encoding: str
    compression: str
    quant: _Quant | None
    payload: memoryview


_Chunk = bytes | memoryview  # pieces of a message, joined once by encode()


def _where(index: int, name: str | None = None) -> str:
    """Error-message location of a tensor in a message."""
    return f"tensor {index}" if name is None else f"tensor {index} ({name!r})"


# ----------------------------------------------------------------------------- encode


def encode(
    tensors: Mapping[str, torch.Tensor] | Sequence[tuple[str, torch.Tensor]], spec: CodecSpec
) -> bytes:
    """Encode the named float32 tensors of one cut into a single message (order preserved)."""
    items = list(tensors.items()) if isinstance(tensors, Mapping) else list(tensors)
    if len(items) > MAX_TENSORS:
        raise CodecError(f"tensor count {len(items)} exceeds max {MAX_TENSORS}")
    parts: list[_Chunk] = [MAGIC, _COUNT.pack(FORMAT_VERSION, len(items))]
    seen: set[str] = set()
    for index, (name, tensor) in enumerate(items):
        try:
            parts.extend(_encode_tensor(name, tensor, spec))
            if name in seen:
                raise CodecError("duplicate tensor name")
            seen.add(name)
        except CodecError as exc:
            raise CodecError(f"{_where(index, name)}: {exc}") from None
    return b"".join(parts)


def encoded_size(
    tensors: Mapping[str, torch.Tensor] | Sequence[tuple[str, torch.Tensor]], spec: CodecSpec
) -> int:
    """Size in bytes of the message :func:`encode` produces."""
    return len(encode(tensors, spec))


def _encode_tensor(name: str, tensor: torch.Tensor, spec: CodecSpec) -> list[_Chunk]:
    """Header fields and payload buffers of one tensor (payloads are not copied here)."""
    if not isinstance(name, str):
        raise CodecError(f"name must be str, got {type(name).__name__}")
    try:
        name_bytes = name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CodecError(f"name is not encodable as utf-8: {exc}") from None
    if len(name_bytes) > MAX_NAME_BYTES:
        raise CodecError(f"name is {len(name_bytes)} utf-8 bytes, max {MAX_NAME_BYTES}")
    if not isinstance(tensor, torch.Tensor):
        raise CodecError(f"expected a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dtype != torch.float32:
        raise CodecError(f"dtype {tensor.dtype} is not supported, only torch.float32")
    if tensor.dim() > MAX_NDIM:
        raise CodecError(f"ndim {tensor.dim()} exceeds max {MAX_NDIM}")
    array = tensor.detach().cpu().contiguous().numpy()

    quant = None
    if spec.encoding == "raw":
        payload = _byte_view(array.astype(_STORAGE["raw"], copy=False))
    elif spec.encoding == "fp16":
        with np.errstate(over="ignore"):  # a plain cast: |x| > 65504 saturates to inf
            payload = _byte_view(array.astype(_STORAGE["fp16"]))
    elif spec.encoding == "int8":
        quantised, quant = _quantise(array, spec.int8_mode)
        payload = _byte_view(quantised)
    else:
        payload = _byte_view(_encode_jpeg(array, spec.jpeg_quality))
    payload = _compress(payload, spec)

    parts: list[_Chunk] = [
        _NAME_LEN.pack(len(name_bytes)),
        name_bytes,
        _TENSOR_CODES.pack(
            DTYPES.index("float32"),
            ENCODINGS.index(spec.encoding),
            COMPRESSIONS.index(spec.compression),
            array.ndim,
        ),
        struct.pack(f"<{array.ndim}q", *array.shape),
    ]
    if quant is not None:
        parts += [
            _QUANT_HEAD.pack(INT8_MODES.index(quant.mode), quant.scales.size),
            _byte_view(quant.scales.astype("<f4", copy=False)),
            _byte_view(quant.zero_points.astype("<i4", copy=False)),
        ]
    parts += [_PAYLOAD_LEN.pack(memoryview(payload).nbytes), payload]
    return parts


def _byte_view(array: np.ndarray) -> memoryview:
    """Flat uint8 view of a contiguous array (works for 0-d and empty arrays too)."""
    return memoryview(array.reshape(-1).view(np.uint8))


def _compress(payload: memoryview, spec: CodecSpec) -> _Chunk:
    if spec.compression == "zstd":
        return zstandard.ZstdCompressor(level=spec.zstd_level).compress(payload)
    if spec.compression == "lz4":
        return lz4.frame.compress(payload)
    return payload


def _group_shape(shape: tuple[int, ...], mode: str) -> tuple[int, int, int]:
    """View of a tensor as (outer, groups, inner) so one reduction serves both int8 modes.

    per_channel groups by axis 1 of 2-D (N, C) and 4-D NCHW tensors; per_tensor is a
    single group.
    """
    if mode == "per_channel":
        return shape[0], shape[1], math.prod(shape[2:])
    return 1, 1, math.prod(shape)


def _int8_mode_for(shape: tuple[int, ...], requested: str) -> str:
    """per_channel only exists for 2-D and 4-D tensors with more than one value per channel
    (a (1, C) feature vector would carry a scale per value); others fall back to per_tensor."""
    if len(shape) not in (2, 4) or math.prod(shape) <= shape[1]:
        return "per_tensor"
    return requested


def _quantise(array: np.ndarray, requested_mode: str) -> tuple[np.ndarray, _Quant]:
    """Affine uint8 quantisation; the range always includes 0 so zeros (ReLU) are exact."""
    mode = _int8_mode_for(array.shape, requested_mode)
    groups = array.reshape(_group_shape(array.shape, mode))
    low = groups.min(axis=(0, 2), initial=0.0)
    high = groups.max(axis=(0, 2), initial=0.0)
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise CodecError("int8 encoding needs finite values (tensor contains inf or NaN)")
    scales = ((high.astype(np.float64) - low) / _Q_MAX).astype(np.float32)
    scales[scales < _MIN_SCALE] = 1.0
    zero_points = np.clip(np.rint(-low / scales), 0, _Q_MAX).astype(np.int32)
    scaled = groups / scales.reshape(1, -1, 1)
    scaled += zero_points.reshape(1, -1, 1)
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0, _Q_MAX, out=scaled)
    return scaled.astype(_STORAGE["int8"]), _Quant(mode, scales, zero_points)


def _encode_jpeg(array: np.ndarray, quality: int) -> np.ndarray:
    """(1, 3, H, W) RGB float in [0, 1] (values outside are clipped) -> JPEG bytes."""
    _require_image_shape(array.shape)
    if not np.isfinite(array).all():
        raise CodecError("jpeg encoding needs finite values (tensor contains inf or NaN)")
    pixels = np.rint(np.clip(array[0], 0.0, 1.0) * 255).astype(np.uint8)
    bgr = np.ascontiguousarray(pixels.transpose(1, 2, 0)[:, :, ::-1])
    try:
        ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    except cv2.error as exc:
        raise CodecError(f"OpenCV cannot encode shape {array.shape} as JPEG: {exc}") from None
    if not ok:
        raise CodecError(f"OpenCV cannot encode shape {array.shape} as JPEG")
    return encoded


def _require_image_shape(shape: tuple[int, ...]) -> None:
    if len(shape) != 4 or shape[0] != 1 or shape[1] != 3:
        raise CodecError(f"jpeg needs an image tensor of shape (1, 3, H, W), got {tuple(shape)}")


# ----------------------------------------------------------------------------- decode


def decode(
    blob: bytes | bytearray | memoryview,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> dict[str, torch.Tensor]:
    """Decode a message into writable, contiguous float32 CPU tensors (in message order).

    ``max_bytes`` bounds the blob size; ``max_elements`` bounds the total element count
    of the message and hence every allocation (decompressed and decoded data).
    Raises only :class:`CodecError`.
    """
    result: dict[str, torch.Tensor] = {}
    for entry in _parse(blob, max_bytes, max_elements):
        try:
            array = _decode_payload(entry)
        except CodecError as exc:
            raise CodecError(f"{_where(entry.index, entry.name)}: {exc}") from None
        result[entry.name] = torch.from_numpy(array)
    return result


def describe(
    blob: bytes | bytearray | memoryview,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> list[dict]:
    """Per-tensor header info (for logs) without decoding payloads; raises :class:`CodecError`."""
    return [
        {
            "name": entry.name,
            "dtype": "float32",
            "shape": entry.shape,
            "encoding": entry.encoding,
            "compression": entry.compression,
            "int8_mode": entry.quant.mode if entry.quant is not None else None,
            "payload_bytes": entry.payload.nbytes,
        }
        for entry in _parse(blob, max_bytes, max_elements)
    ]


class _Reader:
    """Bounds-checked cursor over the blob; reads name what they read so errors say where."""

    def __init__(self, view: memoryview) -> None:
        self.view = view
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.view) - self.pos

    def take(self, size: int, what: str) -> memoryview:
        if size > self.remaining:
            raise CodecError(
                f"truncated: {what} needs {size} bytes at offset {self.pos} "
                f"but only {self.remaining} remain"
            )
        chunk = self.view[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def unpack(self, layout: struct.Struct, what: str) -> tuple:
        return layout.unpack(self.take(layout.size, what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        return np.frombuffer(self.take(count * np.dtype(dtype).itemsize, what), dtype)


def _parse(blob: object, max_bytes: int, max_elements: int) -> list[_Entry]:
    """Validate the whole message structure and return its tensor headers and payload views."""
    try:
        view = memoryview(blob).cast("B")
    except (TypeError, ValueError) as exc:
        raise CodecError(f"blob must be a contiguous bytes-like object: {exc}") from None
    if len(view) > max_bytes:
        raise CodecError(f"blob is {len(view)} bytes, exceeds max_bytes {max_bytes}")
    reader = _Reader(view)
    magic = bytes(reader.take(len(MAGIC), "magic"))
    if magic != MAGIC:
        raise CodecError(f"bad magic {magic!r}, expected {MAGIC!r}")
    version, count = reader.unpack(_COUNT, "message header")
    if version != FORMAT_VERSION:
        raise CodecError(f"unsupported format version {version} (this codec reads {FORMAT_VERSION})")
    if count > MAX_TENSORS:
        raise CodecError(f"tensor count {count} exceeds max {MAX_TENSORS}")

    entries: list[_Entry] = []
    names: set[str] = set()
    element_budget = max_elements
    for index in range(count):
        where = _where(index)
        try:
            name = _read_name(reader)
            where = _where(index, name)
            if name in names:
                raise CodecError("duplicate tensor name")
            names.add(name)
            entry = _read_tensor(reader, index, name, element_budget)
        except CodecError as exc:
            raise CodecError(f"{where}: {exc}") from None
        element_budget -= math.prod(entry.shape)
        entries.append(entry)
    if reader.remaining:
        raise CodecError(f"trailing {reader.remaining} bytes after last tensor (tensor count {count})")
    return entries


def _read_name(reader: _Reader) -> str:
    (length,) = reader.unpack(_NAME_LEN, "name length")
    if length > MAX_NAME_BYTES:
        raise CodecError(f"name length {length} exceeds max {MAX_NAME_BYTES}")
    try:
        return str(reader.take(length, "name"), "utf-8")
    except UnicodeDecodeError as exc:
        raise CodecError(f"name is not valid utf-8: {exc}") from None


def _read_tensor(reader: _Reader, index: int, name: str, element_budget: int) -> _Entry:
    """Read one tensor header after its name; checks every field before trusting it."""
    dtype_code, encoding_code, compression_code, ndim = reader.unpack(_TENSOR_CODES, "tensor codes")
    if dtype_code >= len(DTYPES):
        raise CodecError(f"unknown dtype code {dtype_code}")
    if encoding_code >= len(ENCODINGS):
        raise CodecError(f"unknown encoding code {encoding_code}")
    if compression_code >= len(COMPRESSIONS):
        raise CodecError(f"unknown compression code {compression_code}")
    encoding, compression = ENCODINGS[encoding_code], COMPRESSIONS[compression_code]
    if ndim > MAX_NDIM:
        raise CodecError(f"ndim {ndim} exceeds max {MAX_NDIM}")
    shape = reader.unpack(struct.Struct(f"<{ndim}q"), "shape")
    if any(dim < 0 for dim in shape):
        raise CodecError(f"shape {shape} has a negative dimension")
    # Zero-size dims do not make e.g. (0, 2**40, 2**40) allocatable, so bound the extent too.
    if math.prod(max(dim, 1) for dim in shape) > element_budget:
        raise CodecError(f"shape {shape} exceeds the remaining max_elements budget {element_budget}")

    quant = None
    if encoding == "int8":
        quant = _read_quant(reader, shape)
    elif encoding == "jpeg":
        _require_image_shape(shape)
        if compression != "none":
            raise CodecError(f"jpeg payload cannot use compression {compression!r}")

    (length,) = reader.unpack(_PAYLOAD_LEN, "payload length")
    if encoding != "jpeg" and compression == "none":
        expected = math.prod(shape) * _STORAGE[encoding].itemsize
        if length != expected:
            raise CodecError(
                f"shape {shape} needs {expected} payload bytes as {encoding} but payload length is {length}"
            )
    payload = reader.take(length, "payload")
    return _Entry(index, name, shape, encoding, compression, quant, payload)


def _read_quant(reader: _Reader, shape: tuple[int, ...]) -> _Quant:
    mode_code, count = reader.unpack(_QUANT_HEAD, "int8 parameters")
    if mode_code >= len(INT8_MODES):
        raise CodecError(f"unknown int8 mode code {mode_code}")
    mode = INT8_MODES[mode_code]
    if mode == "per_channel" and len(shape) not in (2, 4):
        raise CodecError(f"int8 per_channel needs a 2-D or 4-D tensor, shape is {shape}")
    groups = _group_shape(shape, mode)[1]
    if count != groups:
        raise CodecError(f"scale count {count} does not match {groups} channels ({mode})")
    scales = reader.array("<f4", count, "int8 scales")
    zero_points = reader.array("<i4", count, "int8 zero points")
    if not (np.isfinite(scales) & (scales > 0)).all():
        raise CodecError("non-finite or non-positive int8 scale")
    if ((zero_points < 0) | (zero_points > _Q_MAX)).any():
        raise CodecError(f"int8 zero point outside [0, {_Q_MAX}]")
    return _Quant(mode, scales, zero_points)


def _decode_payload(entry: _Entry) -> np.ndarray:
    """Payload -> freshly allocated, writable, C-contiguous float32 array of entry.shape."""
    if entry.encoding == "jpeg":
        return _decode_jpeg(entry.payload, entry.shape)
    storage = _STORAGE[entry.encoding]
    data = _decompress(entry.payload, entry.compression, math.prod(entry.shape) * storage.itemsize)
    stored = np.frombuffer(data, storage)
    if entry.quant is None:
        return stored.astype(np.float32).reshape(entry.shape)  # a copy: never aliases the blob
    values = stored.reshape(_group_shape(entry.shape, entry.quant.mode)).astype(np.float32)
    values -= entry.quant.zero_points.astype(np.float32).reshape(1, -1, 1)
    values *= entry.quant.scales.reshape(1, -1, 1)
    return values.reshape(entry.shape)


def _decompress(payload: memoryview, compression: str, expected: int) -> _Chunk:
    """Decompress at most ``expected + 1`` bytes, so a decompression bomb is cut off early."""
    try:
        if compression == "zstd":
            window = min(max(expected, _ZSTD_WINDOW_BOUNDS[0]), _ZSTD_WINDOW_BOUNDS[1])
            reader = zstandard.ZstdDecompressor(max_window_size=window).stream_reader(payload)
            data = reader.read(expected + 1)
        elif compression == "lz4":
            data = lz4.frame.LZ4FrameDecompressor().decompress(payload, max_length=expected + 1)
        else:
            return payload
    except (zstandard.ZstdError, RuntimeError) as exc:
        raise CodecError(f"corrupt {compression} payload: {exc}") from None
    if len(data) != expected:
        relation = "more than" if len(data) > expected else f"{len(data)} bytes, not"
        raise CodecError(f"{compression} payload decompresses to {relation} the {expected} bytes the shape needs")
    return data


def _decode_jpeg(payload: memoryview, shape: tuple[int, ...]) -> np.ndarray:
    """JPEG -> (1, 3, H, W) RGB float32 in [0, 1]; the frame size is checked before decoding."""
    height, width = shape[2], shape[3]
    found = _jpeg_frame_size(payload)
    if found != (height, width):
        raise CodecError(f"jpeg frame is {found[0]}x{found[1]} but shape {shape} needs {height}x{width}")
    try:
        bgr = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error as exc:
        raise CodecError(f"corrupt jpeg payload: {exc}") from None
    if bgr is None or bgr.shape != (height, width, 3):
        raise CodecError("corrupt jpeg payload: OpenCV could not decode it to the header's size")
    image = np.ascontiguousarray(bgr[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32)
    image /= 255
    return image


def _jpeg_frame_size(data: memoryview) -> tuple[int, int]:
    """(height, width) of the first SOF segment, found the way libjpeg scans markers.

    Needed because OpenCV allocates the image from the JPEG's own header, which a
    hostile blob can set to 65535 x 65535 regardless of our shape field.
    """
    if bytes(data[:2]) != b"\xff\xd8":
        raise CodecError("jpeg payload does not start with an SOI marker")
    pos = 2
    for _ in range(_MAX_JPEG_SEGMENTS):
        match = _JPEG_MARKER.search(data, pos)
        if match is None:
            raise CodecError("truncated: jpeg payload ends before its frame header")
        marker, pos = data[match.start(1)], match.end()
        if marker in (0xD9, 0xDA):  # EOI or SOS before any SOF
            raise CodecError("jpeg payload has no frame header before its scan data")
        # Every remaining marker has a 2-byte length; an SOF continues with precision, H, W.
        needed = 7 if marker in _SOF_MARKERS else 2
        if pos + needed > len(data):
            raise CodecError(f"truncated: jpeg marker 0x{marker:02X} segment at offset {pos}")
        if marker in _SOF_MARKERS:
            return int.from_bytes(data[pos + 3 : pos + 5], "big"), int.from_bytes(data[pos + 5 : pos + 7], "big")
        pos += max(int.from_bytes(data[pos : pos + 2], "big"), 2)
    raise CodecError(f"jpeg payload has more than {_MAX_JPEG_SEGMENTS} segments before its frame header")
