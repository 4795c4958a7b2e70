"""scissor_core.sources.imaging: ROS image fields <-> BGR frames, checked against OpenCV's own conversions,
and fuzzed: arbitrary (outside) field values never raise anything but ImageError."""
from __future__ import annotations

import array

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scissor_core.sources.imaging import (ENCODINGS, Box, ImageError, ImageFields, annotate, compressed_to_bgr,
                                          frame_id_with_seq, from_bgr, parse_frame_id, to_bgr)


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    from scissor_core.sources.scene import TrafficScene

    return TrafficScene(width=96, height=64, seed=2).frame(4)


@pytest.mark.parametrize("encoding, code", [("rgb8", cv2.COLOR_BGR2RGB), ("rgba8", cv2.COLOR_BGR2RGBA),
                                            ("bgra8", cv2.COLOR_BGR2BGRA), ("bgr8", None)])
def test_colour_encodings_match_opencv_and_round_trip_exactly(frame, encoding, code):
    fields = from_bgr(frame, encoding)
    expected = frame if code is None else cv2.cvtColor(frame, code)
    assert fields.step == frame.shape[1] * expected.shape[2] and fields.is_bigendian == 0
    np.testing.assert_array_equal(fields.data, expected.reshape(-1))
    np.testing.assert_array_equal(to_bgr(fields), frame)


def test_mono_encodings_match_opencv(frame):
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    as_bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    mono8 = from_bgr(frame, "mono8")
    np.testing.assert_array_equal(mono8.data, gray.reshape(-1))
    np.testing.assert_array_equal(to_bgr(mono8), as_bgr)
    mono16 = from_bgr(frame, "mono16")
    np.testing.assert_array_equal(mono16.data.view("<u2"), gray.reshape(-1).astype(np.uint16) * 257)
    np.testing.assert_array_equal(to_bgr(mono16), as_bgr)
    big = ImageFields(*gray.shape, "mono16", 1, gray.shape[1] * 2, (gray.astype(">u2") * 257).tobytes())
    np.testing.assert_array_equal(to_bgr(big), as_bgr)


def test_yuv422_decodes_like_opencv_and_encodes_close(frame):
    uyvy = np.random.default_rng(0).integers(0, 256, (64, 96, 2), dtype=np.uint8)
    fields = ImageFields(64, 96, "yuv422", 0, 96 * 2, uyvy.tobytes())
    np.testing.assert_array_equal(to_bgr(fields), cv2.cvtColor(uyvy, cv2.COLOR_YUV2BGR_UYVY))
    flat = np.zeros((8, 16, 3), np.uint8)
    flat[:, :8], flat[:, 8:] = (30, 160, 220), (200, 40, 90)
    assert np.abs(to_bgr(from_bgr(flat, "yuv422")).astype(int) - flat).max() <= 3
    error = np.abs(to_bgr(from_bgr(frame, "yuv422")).astype(int) - frame)
    assert error.mean() < 3  # chroma is subsampled: edges blur, flat areas stay


def test_row_padding_and_buffer_types(frame):
    h, w = frame.shape[:2]
    padded = np.zeros((h, w * 3 + 5), np.uint8)
    padded[:, : w * 3] = frame.reshape(h, -1)
    for data in (padded.tobytes(), bytearray(padded.tobytes()), array.array("B", padded.tobytes()),
                 padded.reshape(-1), memoryview(padded)):
        np.testing.assert_array_equal(to_bgr(ImageFields(h, w, "bgr8", 0, w * 3 + 5, data)), frame)


@pytest.mark.parametrize("fields, field", [
    (ImageFields(2, 2, "bgr8", 0, 6, b"\0" * 11), "data"),
    (ImageFields(2, 2, "bgr8", 0, 5, b"\0" * 10), "step"),
    (ImageFields(2, 2, "16UC1", 0, 4, b"\0" * 8), "encoding"),
    (ImageFields(0, 2, "bgr8", 0, 6, b""), "height"),
    (ImageFields(2, -1, "bgr8", 0, 6, b"\0" * 12), "width"),
    (ImageFields(2, 3, "yuv422", 0, 6, b"\0" * 12), "width"),
    (ImageFields(2, 2, "mono16", 2, 4, b"\0" * 8), "is_bigendian"),
    (ImageFields(2, 2, "mono8", 0, 2, [0, 0, 0, 0]), "data"),
    (ImageFields(2**20, 2**20, "mono8", 0, 2**20, b""), "height x width"),
])
def test_invalid_fields_name_the_field(fields, field):
    with pytest.raises(ImageError, match=rf"^{field}:"):
        to_bgr(fields)


def test_from_bgr_rejects_non_bgr_input():
    with pytest.raises(ImageError, match="image"):
        from_bgr(np.zeros((4, 4), np.uint8))
    with pytest.raises(ImageError, match="encoding"):
        from_bgr(np.zeros((4, 4, 3), np.uint8), "bayer_rggb8")


_small = st.integers(-3, 40)
_huge = st.integers(-(2**40), 2**40)
_encodings = st.one_of(st.sampled_from(ENCODINGS + ("", "RGB8", "16UC1", "jpeg")), st.text(max_size=8), st.none())


@st.composite
def image_fields(draw: st.DrawFn) -> ImageFields:
    """Mostly near-consistent fields (so decoding often gets far), perturbed anywhere."""
    height, width = draw(st.one_of(_small, _huge)), draw(st.one_of(_small, _huge))
    encoding = draw(_encodings)
    step = draw(st.one_of(st.just(abs(width) * draw(st.integers(0, 5)) + draw(st.integers(0, 3))), _small, _huge))
    size = draw(st.one_of(st.just(max(0, step * height)), st.integers(0, 3000)))
    size = min(size, 50_000)
    data = draw(st.one_of(st.binary(min_size=size, max_size=size), st.binary(max_size=64), st.none(),
                          st.lists(st.integers(0, 255), max_size=8), st.text(max_size=4)))
    bigendian = draw(st.one_of(st.integers(-1, 2), st.booleans(), st.floats(allow_nan=True)))
    return ImageFields(height, width, encoding, bigendian, step, data)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image_fields())
def test_fuzz_to_bgr_raises_only_image_error(fields):
    try:
        out = to_bgr(fields)
    except ImageError:
        return
    assert out.dtype == np.uint8 and out.shape == (fields.height, fields.width, 3)


@pytest.fixture(scope="module")
def encoded(frame) -> dict[str, bytes]:
    return {kind: cv2.imencode(f".{kind}", frame)[1].tobytes() for kind in ("png", "jpg")}


def test_compressed_decode(frame, encoded):
    np.testing.assert_array_equal(compressed_to_bgr("png", encoded["png"]), frame)
    np.testing.assert_array_equal(compressed_to_bgr("bgr8; png compressed bgr8", encoded["png"]), frame)
    jpeg = compressed_to_bgr("rgb8; jpeg compressed bgr8", encoded["jpg"])
    assert jpeg.shape == frame.shape and np.abs(jpeg.astype(int) - frame).mean() < 8
    with pytest.raises(ImageError, match="^format:"):
        compressed_to_bgr("jpeg", encoded["png"])
    with pytest.raises(ImageError, match="^data: neither"):
        compressed_to_bgr("png", b"GIF89a")
    bomb = bytearray(encoded["png"])
    bomb[16:24] = (100_000).to_bytes(4, "big") * 2  # IHDR claims 100000 x 100000
    with pytest.raises(ImageError, match="claims 100000x100000"):
        compressed_to_bgr("png", bytes(bomb))


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_compressed_raises_only_image_error(encoded, data):
    kind = data.draw(st.sampled_from(["png", "jpg", "random"]))
    if kind == "random":
        blob = bytearray(data.draw(st.binary(max_size=400)))
    else:
        blob = bytearray(encoded[kind])
        for _ in range(data.draw(st.integers(1, 6))):
            blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
        blob = blob[: data.draw(st.integers(0, len(blob)))]
    fmt = data.draw(st.one_of(st.sampled_from(["jpeg", "png", "", "rgb8; jpeg compressed bgr8"]), st.text(max_size=8)))
    try:
        out = compressed_to_bgr(fmt, bytes(blob))
    except ImageError:
        return
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3


def test_frame_id_carries_seq():
    assert frame_id_with_seq("camera", 17) == "camera#17"
    assert parse_frame_id("camera#17") == ("camera", 17)
    assert parse_frame_id("cam#era#3") == ("cam#era", 3)
    assert parse_frame_id("camera") == ("camera", None)
    assert parse_frame_id("camera#x") == ("camera#x", None)
    assert parse_frame_id("camera#-1") == ("camera#-1", None)


def test_annotate_draws_boxes_and_lines(frame):
    before = frame.copy()
    for boxes, lines in (((), ("seq 1", "car 0.50")), ((Box(10.0, 10.0, 40.0, 30.0, "car 0.90", 2),), ())):
        out = annotate(frame, boxes, lines)
        assert out.shape == frame.shape and out.dtype == np.uint8 and not np.array_equal(out, frame)
    np.testing.assert_array_equal(frame, before)  # the input is left alone
