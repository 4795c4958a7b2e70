"""Camera images as numpy arrays <-> the fields of sensor_msgs/Image and CompressedImage.

The models take BGR uint8 frames (OpenCV's order); cameras and bags deliver any
of the common ROS encodings. :func:`to_bgr` turns the fields of a
sensor_msgs/Image (mirrored by :class:`ImageFields`, so no ROS is needed here)
into a BGR frame, :func:`from_bgr` does the reverse for publishing, and
:func:`compressed_to_bgr` decodes a CompressedImage (JPEG or PNG).

The fields come from outside (any publisher, any bag), so every check raises
:class:`ImageError` naming the offending field, and the pixel count is bounded
before anything is allocated. Also here: drawing a result on a frame (:func:`annotate`) and the
camera's convention for carrying the frame sequence number in ``header.frame_id``
(:func:`frame_id_with_seq`).
This module must not import ROS.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from scissor_core.wire.codec import CodecError, _jpeg_frame_size

__all__ = [
    "Box",
    "ENCODINGS",
    "ImageError",
    "ImageFields",
    "annotate",
    "compressed_to_bgr",
    "frame_id_with_seq",
    "from_bgr",
    "parse_frame_id",
    "to_bgr",
]

# ROS encoding name -> (bytes per pixel, channels); yuv422 is packed UYVY (2 bytes per pixel).
_LAYOUT = {
    "rgb8": (3, 3),
    "bgr8": (3, 3),
    "rgba8": (4, 4),
    "bgra8": (4, 4),
    "mono8": (1, 1),
    "mono16": (2, 1),
    "yuv422": (2, 2),
}
ENCODINGS = tuple(_LAYOUT)
_TO_BGR = {
    "rgb8": cv2.COLOR_RGB2BGR,
    "rgba8": cv2.COLOR_RGBA2BGR,
    "bgra8": cv2.COLOR_BGRA2BGR,
    "mono8": cv2.COLOR_GRAY2BGR,
    "yuv422": cv2.COLOR_YUV2BGR_UYVY,
}
_FROM_BGR = {"rgb8": cv2.COLOR_BGR2RGB, "rgba8": cv2.COLOR_BGR2RGBA, "bgra8": cv2.COLOR_BGR2BGRA,
             "mono8": cv2.COLOR_BGR2GRAY}
DEFAULT_MAX_PIXELS = 64 * 2**20  # 8K x 8K; bounds every allocation made for outside input
_UINT32_MAX = 2**32 - 1
SEQ_SEPARATOR = "#"


class ImageError(ValueError):
    """Image fields are inconsistent or unsupported; the message names the field."""


@dataclass(frozen=True)
class ImageFields:
    """The fields of a sensor_msgs/Image (header aside), as the core sees them."""

    height: int
    """Rows (pixels)."""
    width: int
    """Columns (pixels)."""
    encoding: str
    """Pixel layout: one of :data:`ENCODINGS`."""
    is_bigendian: int
    """1 when multi-byte pixels (mono16) are big-endian."""
    step: int
    """Bytes per row, padding included."""
    data: Any
    """``step * height`` bytes: any buffer (bytes, array.array, a 1-D uint8 numpy array)."""


def _require_int(field: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ImageError(f"{field}: expected an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise ImageError(f"{field}: {value} is outside [{low}, {high}]")
    return int(value)


def _byte_buffer(data: object) -> np.ndarray:
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise ImageError(f"data: expected a byte buffer, got {type(data).__name__}") from None
    if not view.c_contiguous:
        raise ImageError("data: buffer is not contiguous")
    return np.frombuffer(view.cast("B") if view.ndim != 1 or view.format != "B" else view, np.uint8)


def to_bgr(fields: ImageFields, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Image fields -> contiguous (H, W, 3) BGR uint8 frame; raises only :class:`ImageError`.

    bgr8 without row padding is returned as a view of ``data`` (read-only when
    ``data`` is); mono16 keeps its 8 most significant bits.
    """
    if not isinstance(fields.encoding, str) or fields.encoding not in _LAYOUT:
        raise ImageError(f"encoding: unsupported {fields.encoding!r}; supported: {', '.join(ENCODINGS)}")
    height = _require_int("height", fields.height, 1, _UINT32_MAX)
    width = _require_int("width", fields.width, 1, _UINT32_MAX)
    big_endian = _require_int("is_bigendian", fields.is_bigendian, 0, 1)
    step = _require_int("step", fields.step, 0, _UINT32_MAX)
    if height * width > max_pixels:
        raise ImageError(f"height x width: {height}x{width} exceeds the limit of {max_pixels} pixels")
    bytes_per_pixel, channels = _LAYOUT[fields.encoding]
    if fields.encoding == "yuv422" and width % 2:
        raise ImageError(f"width: yuv422 needs an even width, got {width}")
    if step < width * bytes_per_pixel:
        raise ImageError(f"step: {step} bytes is less than width x {bytes_per_pixel} = {width * bytes_per_pixel} "
                         f"for {fields.encoding}")
    buf = _byte_buffer(fields.data)
    if buf.size != step * height:
        raise ImageError(f"data: {buf.size} bytes, but step x height = {step * height}")
    rows = buf.reshape(height, step)[:, : width * bytes_per_pixel]
    if fields.encoding == "mono16":
        gray = np.ascontiguousarray(rows).view(">u2" if big_endian else "<u2")
        return cv2.cvtColor((gray >> 8).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    pixels = np.ascontiguousarray(rows).reshape(height, width, channels)
    if fields.encoding == "bgr8":
        return pixels
    return cv2.cvtColor(pixels, _TO_BGR[fields.encoding])


def from_bgr(image: np.ndarray, encoding: str = "bgr8") -> ImageFields:
    """BGR uint8 (H, W, 3) frame -> image fields in ``encoding``, without row padding.

    ``data`` is a contiguous 1-D uint8 array (assign it to a uint8[] field with no
    per-element conversion). mono16 is little-endian, the gray value times 257.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ImageError(f"image: expected a (H, W, 3) uint8 BGR array, got "
                         f"{getattr(image, 'shape', None)} {getattr(image, 'dtype', type(image).__name__)}")
    if encoding not in _LAYOUT:
        raise ImageError(f"encoding: unsupported {encoding!r}; supported: {', '.join(ENCODINGS)}")
    height, width = image.shape[:2]
    if encoding == "bgr8":
        pixels = np.ascontiguousarray(image)
    elif encoding == "mono16":
        pixels = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype("<u2") * np.uint16(257)
    elif encoding == "yuv422":
        pixels = _bgr_to_uyvy(image)
    else:
        pixels = cv2.cvtColor(image, _FROM_BGR[encoding])
    data = pixels.reshape(-1).view(np.uint8)
    return ImageFields(height, width, encoding, 0, data.size // height, data)


def _bgr_to_uyvy(image: np.ndarray) -> np.ndarray:
    """BT.601 limited range, chroma averaged over horizontal pixel pairs: the inverse
    of OpenCV's ``COLOR_YUV2BGR_UYVY`` up to rounding and the chroma subsampling."""
    if image.shape[1] % 2:
        raise ImageError(f"width: yuv422 needs an even width, got {image.shape[1]}")
    b, g, r = (image[:, :, i].astype(np.int32) for i in range(3))
    y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
    u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128
    v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128
    u = (u[:, 0::2] + u[:, 1::2] + 1) >> 1
    v = (v[:, 0::2] + v[:, 1::2] + 1) >> 1
    out = np.empty((image.shape[0], image.shape[1] // 2, 4), np.uint8)
    out[..., 0], out[..., 1], out[..., 2], out[..., 3] = u, y[:, 0::2], v, y[:, 1::2]
    return out


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_IHDR = struct.Struct(">4sII")  # chunk type, width, height (after the 4-byte chunk length)


def compressed_to_bgr(format: str, data: object, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """sensor_msgs/CompressedImage fields -> (H, W, 3) BGR uint8; raises only :class:`ImageError`.

    ``format`` is image_transport's (``jpeg``, ``png``, ``bgr8; jpeg compressed bgr8``);
    the data's own signature decides, and must agree with ``format`` when it names one.
    The pixel count is read from the file header and bounded before decoding.
    """
    if not isinstance(format, str):
        raise ImageError(f"format: expected a string, got {type(format).__name__}")
    buf = _byte_buffer(data)
    named = {kind for kind in ("jpeg", "png") if kind in format.lower()}
    if buf[:2].tobytes() == b"\xff\xd8":
        kind = "jpeg"
        try:
            height, width = _jpeg_frame_size(memoryview(buf))
        except CodecError as exc:
            raise ImageError(f"data: {exc}") from None
    elif buf[:8].tobytes() == _PNG_MAGIC and buf.size >= 24:
        kind = "png"
        chunk, width, height = _PNG_IHDR.unpack(buf[12:24].tobytes())
        if chunk != b"IHDR":
            raise ImageError("data: png does not start with an IHDR chunk")
    else:
        raise ImageError("data: neither a JPEG nor a PNG file (unknown signature)")
    if named and kind not in named:
        raise ImageError(f"format: {format!r} does not match the data, which is {kind}")
    if not (0 < height and 0 < width and height * width <= max_pixels):
        raise ImageError(f"data: {kind} header claims {width}x{height} pixels (limit {max_pixels})")
    try:
        image = cv2.imdecode(buf, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error as exc:
        raise ImageError(f"data: corrupt {kind}: {exc}") from None
    if image is None or image.shape[:2] != (height, width):
        raise ImageError(f"data: corrupt {kind}: OpenCV could not decode it")
    return image


def frame_id_with_seq(frame_id: str, seq: int) -> str:
    """The camera's ``header.frame_id``: ``<frame_id>#<seq>`` (sensor_msgs/Image has no seq field)."""
    return f"{frame_id}{SEQ_SEPARATOR}{seq}"


def parse_frame_id(frame_id: str) -> tuple[str, int | None]:
    """Inverse of :func:`frame_id_with_seq`: (frame, seq), seq None when the id carries none."""
    frame, sep, seq = frame_id.rpartition(SEQ_SEPARATOR)
    if sep and seq.isdigit() and seq.isascii():
        return frame, int(seq)
    return frame_id, None


def _label_color(class_id: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour per class."""
    hue = (class_id * 47) % 180
    return tuple(int(c) for c in cv2.cvtColor(np.uint8([[[hue, 200, 255]]]), cv2.COLOR_HSV2BGR)[0, 0])


@dataclass(frozen=True)
class Box:
    """One box to draw: (x1, y1, x2, y2) in the frame's pixels, its label, and its class (for the colour)."""

    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    class_id: int = 0


def annotate(frame: np.ndarray, boxes: Sequence[Box] = (), lines: Sequence[str] = ()) -> np.ndarray:
    """A copy of ``frame`` (BGR) with ``boxes`` and their labels drawn on it, and ``lines`` of text top left."""
    out = frame.copy()
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.5

    def text(line: str, org: tuple[int, int], color: tuple[int, int, int]) -> None:
        cv2.putText(out, line, org, font, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, line, org, font, scale, color, 1, cv2.LINE_AA)

    for box in boxes:
        x1, y1, x2, y2 = (int(round(v)) for v in (box.x1, box.y1, box.x2, box.y2))
        color = _label_color(box.class_id)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, 2)
        text(box.label, (x1, max(12, y1 - 4)), color)
    for i, line in enumerate(lines):
        text(line, (8, 20 + 18 * i), (255, 255, 255))
    return out
