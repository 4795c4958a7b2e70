"""Tests for scissor_core.wire.codec: round trips, error bounds, wire-format validation and fuzzing."""
from __future__ import annotations

import contextlib
import re
import struct
import tracemalloc

import lz4.frame
import numpy as np
import pytest
import torch
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from scissor_core.wire.codec import CodecError, CodecSpec, decode, describe, encode, encoded_size

COMPRESSIONS = ("none", "zstd", "lz4")
TENSOR_SPECS = [
    CodecSpec(encoding, compression, int8_mode=mode)
    for encoding, mode in [("raw", "per_tensor"), ("fp16", "per_tensor"),
                           ("int8", "per_tensor"), ("int8", "per_channel")]
    for compression in COMPRESSIONS
]
ALL_SPECS = [*TENSOR_SPECS, CodecSpec("jpeg", jpeg_quality=80)]
FUZZ = settings(max_examples=1000, deadline=None, database=None)

# Wire codes, as documented in the codec module docstring.
ENC = {"raw": 0, "fp16": 1, "int8": 2, "jpeg": 3}
COMP = {"none": 0, "zstd": 1, "lz4": 2}


def relu_like(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """A ReLU feature map: about half zeros, hence compressible."""
    return torch.relu(torch.randn(shape, generator=torch.Generator().manual_seed(seed)))


def smooth_image(height: int = 48, width: int = 64) -> torch.Tensor:
    """(1, 3, H, W) RGB gradients in [0, 1]: what JPEG handles well."""
    ys = torch.linspace(0, 1, height).view(height, 1)
    xs = torch.linspace(0, 1, width).view(1, width)
    channels = [ys * xs, 0.5 + 0.4 * torch.sin(3 * xs + 2 * ys), (1 - ys) * 0.8 + 0.1 * xs]
    return torch.stack([c.expand(height, width) for c in channels])[None].contiguous()


def bits(tensor: torch.Tensor) -> np.ndarray:
    return tensor.numpy().view(np.uint32)


def assert_well_formed(decoded: dict[str, torch.Tensor]) -> None:
    for tensor in decoded.values():
        assert tensor.dtype == torch.float32 and tensor.device.type == "cpu"
        assert tensor.is_contiguous()
        assert tensor.numpy().flags.writeable


def tensor_record(
    name: str,
    shape: tuple[int, ...],
    payload: bytes,
    *,
    encoding: str = "raw",
    compression: str = "none",
    dtype_code: int = 0,
    quant: tuple[int, list[float], list[int]] | None = None,
    payload_len: int | None = None,
) -> bytes:
    """Hand-built tensor record following the documented layout (for hostile headers)."""
    name_bytes = name.encode()
    out = struct.pack("<H", len(name_bytes)) + name_bytes
    out += struct.pack(f"<BBBB{len(shape)}q", dtype_code, ENC[encoding], COMP[compression], len(shape), *shape)
    if quant is not None:
        mode, scales, zero_points = quant
        out += struct.pack(f"<BI{len(scales)}f{len(zero_points)}i", mode, len(scales), *scales, *zero_points)
    return out + struct.pack("<Q", len(payload) if payload_len is None else payload_len) + payload


def message(*records: bytes, count: int | None = None, magic: bytes = b"SCSR", version: int = 1) -> bytes:
    return magic + struct.pack("<BI", version, len(records) if count is None else count) + b"".join(records)


def length_fields(blob: bytes) -> list[tuple[int, int]]:
    """(offset, width) of every count/length/size field of a valid blob, for targeted mutation."""
    fields, pos = [(5, 4)], 9
    for _ in range(struct.unpack_from("<I", blob, 5)[0]):
        (name_len,) = struct.unpack_from("<H", blob, pos)
        fields.append((pos, 2))
        pos += 2 + name_len
        encoding, ndim = blob[pos + 1], blob[pos + 3]
        fields.append((pos + 3, 1))
        pos += 4
        fields += [(pos + 8 * i, 8) for i in range(ndim)]
        pos += 8 * ndim
        if encoding == ENC["int8"]:
            (count,) = struct.unpack_from("<I", blob, pos + 1)
            fields.append((pos + 1, 4))
            pos += 5 + 8 * count
        (payload_len,) = struct.unpack_from("<Q", blob, pos)
        fields.append((pos, 8))
        pos += 8 + payload_len
    assert pos == len(blob)
    return fields


# ----------------------------------------------------------------------------- raw


@pytest.mark.parametrize(
    "shape", [(), (0,), (7,), (3, 4), (2, 0, 5), (1, 16, 5, 7), (1, 0, 4, 4), (1, 1, 1, 1, 1, 1, 2, 3)]
)
def test_raw_round_trip_is_bit_identical(shape: tuple[int, ...]) -> None:
    tensor = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    decoded = decode(encode({"t": tensor}, CodecSpec()))
    assert list(decoded) == ["t"]
    assert decoded["t"].shape == tensor.shape
    assert torch.equal(decoded["t"], tensor)
    assert_well_formed(decoded)


def test_raw_preserves_special_values_bitwise() -> None:
    tensor = torch.tensor([np.inf, -np.inf, -0.0, 0.0, 3.4028235e38, -1.4e-45, 1e-40, 1.0])
    decoded = decode(encode({"s": tensor}, CodecSpec()))["s"]
    assert torch.equal(decoded, tensor)
    np.testing.assert_array_equal(bits(decoded), bits(tensor))  # -0.0 keeps its sign bit


def test_multi_tensor_message_preserves_order_names_and_values() -> None:
    tensors = [("layers.81", relu_like((1, 8, 13, 13))), ("layers.93", relu_like((1, 4, 26, 26), 1)),
               ("ünï/çødé", torch.zeros(0)), ("layers.36", relu_like((1, 2, 52, 52), 2))]
    decoded = decode(encode(tensors, CodecSpec()))
    assert list(decoded) == [name for name, _ in tensors]
    for name, tensor in tensors:
        assert torch.equal(decoded[name], tensor)


def test_decoded_tensors_are_writable_and_do_not_alias_the_blob() -> None:
    blob = bytearray(encode({"t": torch.ones(4, 4)}, CodecSpec()))
    before = bytes(blob)
    decoded = decode(memoryview(blob))["t"]
    decoded += 1
    assert bytes(blob) == before


def test_non_contiguous_and_grad_tensors_are_encoded() -> None:
    base = torch.randn(4, 6, requires_grad=True)
    view = base.t()
    assert torch.equal(decode(encode({"v": view}, CodecSpec()))["v"], view.detach())


def test_encoded_size_and_describe_match_the_message() -> None:
    tensors = {"a": relu_like((1, 4, 8, 8)), "b": torch.ones(2, 3)}
    spec = CodecSpec("int8", "zstd", int8_mode="per_channel")
    blob = encode(tensors, spec)
    assert encoded_size(tensors, spec) == len(blob)
    info = describe(blob)
    assert [d["name"] for d in info] == ["a", "b"]
    assert info[0]["shape"] == (1, 4, 8, 8) and info[1]["shape"] == (2, 3)
    assert all(d["encoding"] == "int8" and d["compression"] == "zstd" for d in info)
    assert all(d["int8_mode"] == "per_channel" and d["dtype"] == "float32" for d in info)
    assert all(d["payload_bytes"] > 0 for d in info)


def test_hand_built_record_matches_encoder() -> None:
    """Pins the wire layout: the test helpers (and hence the fuzzers) speak the real format."""
    tensor = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    assert encode({"t": tensor}, CodecSpec()) == message(tensor_record("t", (2, 3), tensor.numpy().tobytes()))


# ----------------------------------------------------------------------------- lossy encodings


def test_fp16_error_is_bounded_in_fp16_range() -> None:
    generator = torch.Generator().manual_seed(2)
    tensor = torch.cat([torch.empty(5000).uniform_(-60000, 60000, generator=generator),
                        torch.randn(5000, generator=generator) * 1e-3, torch.tensor([0.0, 1e-7, 65504.0])])
    decoded = decode(encode({"t": tensor}, CodecSpec("fp16")))["t"]
    # Half an fp16 ulp: 2**-11 relative for normals, 2**-25 absolute in the subnormal range.
    bound = torch.maximum(tensor.abs() * 2**-11, torch.tensor(2.0**-25))
    assert bool(((decoded - tensor).abs() <= bound).all())


def expected_scales(tensor: torch.Tensor, per_channel: bool) -> torch.Tensor:
    """Independent model of the int8 step: the range [min(x, 0), max(x, 0)] over 255 steps."""
    groups = tensor.transpose(0, 1).reshape(tensor.shape[1], -1) if per_channel else tensor.reshape(1, -1)
    low = groups.amin(dim=1).clamp(max=0).double()
    high = groups.amax(dim=1).clamp(min=0).double()
    return (high - low) / 255


def int8_channel_errors(tensor: torch.Tensor, mode: str) -> torch.Tensor:
    decoded = decode(encode({"t": tensor}, CodecSpec("int8", int8_mode=mode)))["t"]
    return (decoded - tensor).abs().transpose(0, 1).reshape(tensor.shape[1], -1).amax(dim=1).double()


@pytest.mark.parametrize("mode", ["per_tensor", "per_channel"])
@pytest.mark.parametrize("shape", [(1, 8, 9, 7), (16, 5)])
def test_int8_error_is_at_most_half_a_step(mode: str, shape: tuple[int, ...]) -> None:
    generator = torch.Generator().manual_seed(3)
    ranges = torch.logspace(-2, 2, shape[1]).view(1, -1, *[1] * (len(shape) - 2))
    tensor = torch.randn(shape, generator=generator) * ranges
    errors = int8_channel_errors(tensor, mode)
    scales = expected_scales(tensor, mode == "per_channel")
    assert bool((errors <= scales * 0.5 * (1 + 1e-3)).all())


def test_int8_per_channel_beats_per_tensor_on_uneven_channels() -> None:
    generator = torch.Generator().manual_seed(4)
    ranges = torch.tensor([0.01, 1.0, 100.0, 0.1]).view(1, 4, 1, 1)
    tensor = torch.randn(2, 4, 10, 10, generator=generator) * ranges
    per_tensor = int8_channel_errors(tensor, "per_tensor")
    per_channel = int8_channel_errors(tensor, "per_channel")
    assert bool((per_channel <= per_tensor + 1e-12).all())
    assert per_channel[0] < per_tensor[0] / 100  # the small channel gains most


@pytest.mark.parametrize("mode", ["per_tensor", "per_channel"])
@pytest.mark.parametrize("value", [0.0, 5.0, -3.0])
def test_int8_constant_tensors_decode_without_nan(mode: str, value: float) -> None:
    tensor = torch.full((1, 3, 4, 4), value)
    decoded = decode(encode({"t": tensor}, CodecSpec("int8", int8_mode=mode)))["t"]
    assert bool(torch.isfinite(decoded).all())
    torch.testing.assert_close(decoded, tensor, rtol=0, atol=abs(value) / 255 * 0.51)


def test_int8_keeps_relu_zeros_exact_and_handles_empty_tensors() -> None:
    tensor = relu_like((1, 6, 8, 8))
    for mode in ("per_tensor", "per_channel"):
        decoded = decode(encode({"t": tensor, "e": torch.zeros(1, 3, 0, 2)}, CodecSpec("int8", int8_mode=mode)))
        assert bool((decoded["t"][tensor == 0] == 0).all())
        assert decoded["e"].shape == (1, 3, 0, 2)


def test_int8_per_channel_falls_back_to_per_tensor_for_other_ranks() -> None:
    blob = encode({"t": torch.randn(2, 3, 4)}, CodecSpec("int8", int8_mode="per_channel"))
    assert describe(blob)[0]["int8_mode"] == "per_tensor"


def test_int8_rejects_non_finite_values() -> None:
    with pytest.raises(CodecError, match="finite"):
        encode({"t": torch.tensor([1.0, float("inf")])}, CodecSpec("int8"))


# ----------------------------------------------------------------------------- compression


@pytest.mark.parametrize("spec", TENSOR_SPECS, ids=lambda s: s.label)
def test_compressed_round_trip_equals_uncompressed_decode(spec: CodecSpec) -> None:
    tensors = {"a": relu_like((1, 32, 20, 20)), "b": relu_like((1, 8, 10, 10), 5)}
    plain = CodecSpec(spec.encoding, "none", int8_mode=spec.int8_mode)
    expected = decode(encode(tensors, plain))
    decoded = decode(encode(tensors, spec))
    for name in tensors:
        assert torch.equal(decoded[name], expected[name])


@pytest.mark.parametrize("compression", ["zstd", "lz4"])
def test_compression_shrinks_relu_output(compression: str) -> None:
    tensors = {"t": relu_like((1, 64, 26, 26))}
    assert encoded_size(tensors, CodecSpec("raw", compression)) < 0.8 * encoded_size(tensors, CodecSpec())


# ----------------------------------------------------------------------------- jpeg


def test_jpeg_round_trip_of_smooth_image_is_close() -> None:
    image = smooth_image()
    decoded = decode(encode({"frame": image}, CodecSpec("jpeg", jpeg_quality=95)))["frame"]
    assert decoded.shape == image.shape
    assert_well_formed({"frame": decoded})
    assert float(decoded.min()) >= 0.0 and float(decoded.max()) <= 1.0
    assert float((decoded - image).abs().mean()) < 0.01


def test_jpeg_keeps_rgb_channel_order() -> None:
    image = torch.zeros(1, 3, 16, 16)
    image[:, 0] = 1.0  # pure red
    decoded = decode(encode({"frame": image}, CodecSpec("jpeg", jpeg_quality=95)))["frame"]
    assert decoded[0, 0].mean() > 0.9 and decoded[0, 2].mean() < 0.1


@pytest.mark.parametrize("shape", [(3, 16, 16), (1, 1, 16, 16), (2, 3, 16, 16), (1, 4, 16, 16), (1, 16, 16, 3)])
def test_jpeg_rejects_non_image_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(CodecError, match=r"\(1, 3, H, W\)"):
        encode({"frame": torch.rand(shape)}, CodecSpec("jpeg"))


def test_jpeg_quality_affects_size() -> None:
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(6)) * 0.5 + smooth_image(64, 64) * 0.5
    sizes = [encoded_size({"frame": image}, CodecSpec("jpeg", jpeg_quality=q)) for q in (10, 50, 95)]
    assert sizes[0] < sizes[1] < sizes[2]


# ----------------------------------------------------------------------------- spec and encode errors


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"encoding": "png"}, "encoding"),
        ({"compression": "gzip"}, "compression"),
        ({"int8_mode": "per_row"}, "int8_mode"),
        ({"jpeg_quality": 0}, "jpeg_quality"),
        ({"jpeg_quality": 101}, "jpeg_quality"),
        ({"jpeg_quality": 90.0}, "jpeg_quality"),
        ({"zstd_level": 0}, "zstd_level"),
        ({"zstd_level": 23}, "zstd_level"),
        ({"encoding": "jpeg", "compression": "zstd"}, "compression"),
    ],
)
def test_codec_spec_validation_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        CodecSpec(**kwargs)


def test_codec_spec_error_lists_allowed_values() -> None:
    with pytest.raises(ValueError, match=r"'raw', 'fp16', 'int8', 'jpeg'"):
        CodecSpec(encoding="bf16")


@pytest.mark.parametrize(
    ("spec", "label"),
    [
        (CodecSpec(), "raw"),
        (CodecSpec("fp16", "lz4"), "fp16+lz4"),
        (CodecSpec("int8", "zstd", int8_mode="per_channel"), "int8-per_channel+zstd"),
        (CodecSpec("int8"), "int8-per_tensor"),
        (CodecSpec("jpeg"), "jpeg-q90"),
    ],
)
def test_codec_spec_label(spec: CodecSpec, label: str) -> None:
    assert spec.label == label


@pytest.mark.parametrize(
    ("tensors", "match"),
    [
        ({"t": torch.ones(3, dtype=torch.float64)}, "torch.float64"),
        ({"t": torch.ones(3, dtype=torch.int32)}, "torch.int32"),
        ({"x" * 257: torch.ones(3)}, "257 utf-8 bytes"),
        ({"t": torch.ones([1] * 9)}, "ndim 9"),
        ({"t": np.ones(3, np.float32)}, "torch.Tensor"),
        ([("t", torch.ones(1)), ("t", torch.ones(1))], "tensor 1 \\('t'\\): duplicate"),
    ],
)
def test_encode_rejects_unsupported_input(tensors: object, match: str) -> None:
    with pytest.raises(CodecError, match=match):
        encode(tensors, CodecSpec())  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- decode errors


RAW_T = tensor_record("t", (2,), struct.pack("<2f", 1.0, 2.0))


@pytest.mark.parametrize(
    ("blob", "match"),
    [
        (message(RAW_T, magic=b"XXXX"), "bad magic b'XXXX'"),
        (message(RAW_T, version=7), "unsupported format version 7"),
        (message(tensor_record("t", (2,), b"\0" * 8, dtype_code=5)), "unknown dtype code 5"),
        (message(RAW_T) + b"12345", "trailing 5 bytes after last tensor"),
        (message(RAW_T, count=2), r"tensor 1: truncated: name length"),
        (message(RAW_T, count=2**32 - 1), "tensor count 4294967295 exceeds max 4096"),
        (message(RAW_T, RAW_T), r"tensor 1 \('t'\): duplicate tensor name"),
        (message(tensor_record("t", (3, 4), b"\0" * 40)),
         r"shape \(3, 4\) needs 48 payload bytes as raw but payload length is 40"),
        (message(tensor_record("layers.61", (300,), b"\0" * 800, payload_len=1200)),
         r"tensor 0 \('layers.61'\): truncated: payload needs 1200 bytes at offset \d+ but only 800 remain"),
        (message(tensor_record("t", (2,) * 9, b"")), "ndim 9 exceeds max 8"),
        (message(tensor_record("t", (2, -3), b"")), "negative dimension"),
        (message(tensor_record("t", (1, 4, 1, 1), b"\0" * 4, encoding="int8", quant=(1, [1.0] * 3, [0] * 3))),
         "scale count 3 does not match 4 channels"),
        (message(tensor_record("t", (2,), b"\0\0", encoding="int8", quant=(0, [float("nan")], [0]))), "non-finite"),
        (message(tensor_record("t", (2,), b"\0\0", encoding="int8", quant=(0, [1.0], [256]))), "zero point"),
        (message(tensor_record("t", (2, 2, 2), b"\0" * 8, encoding="int8", quant=(1, [1.0] * 2, [0] * 2))),
         "per_channel needs"),
        (message(tensor_record("t", (2,), b"not a compressed frame", compression="zstd")), "corrupt zstd payload"),
        (message(tensor_record("t", (2,), b"not a compressed frame", compression="lz4")), "corrupt lz4 payload"),
        (message(tensor_record("t", (1, 3, 4, 4), b"\xff\xd8junk", encoding="jpeg")), "jpeg"),
        (message(tensor_record("t", (1, 3, 4, 4), b"", encoding="jpeg", compression="zstd")), "cannot use compression"),
        (message(tensor_record("t\xff", (1,), b"")).replace(b"t\xc3\xbf", b"t\xff\xff"), "utf-8"),
    ],
)
def test_decode_errors_say_what_and_where(blob: bytes, match: str) -> None:
    with pytest.raises(CodecError, match=match):
        decode(blob)


def test_unknown_encoding_code_is_reported() -> None:
    blob = bytearray(message(RAW_T))
    blob[9 + 2 + 1 + 1] = 9  # encoding byte of the first tensor: after count, name length, name, dtype
    with pytest.raises(CodecError, match="unknown encoding code 9"):
        decode(bytes(blob))


def test_decode_rejects_non_bytes_and_oversized_blobs() -> None:
    with pytest.raises(CodecError, match="bytes-like"):
        decode("SCSR")  # type: ignore[arg-type]
    blob = encode({"t": torch.ones(100)}, CodecSpec())
    with pytest.raises(CodecError, match="max_bytes"):
        decode(blob, max_bytes=100)
    with pytest.raises(CodecError, match="max_elements"):
        decode(blob, max_elements=99)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_huge_claimed_shape_fails_fast_without_allocating(compression: str) -> None:
    blob = message(tensor_record("t", (2**20, 2**20), b"\0" * 16, compression=compression))  # 2**40 elements
    zero_dim = message(tensor_record("t", (0, 2**40, 2**40), b"", compression=compression))
    tracemalloc.start()
    for hostile in (blob, zero_dim):
        with pytest.raises(CodecError, match="max_elements"):
            decode(hostile)
        with pytest.raises(CodecError, match="max_elements"):
            describe(hostile)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20  # refused from the header, before any buffer of the claimed size


def test_total_elements_across_tensors_are_bounded() -> None:
    blob = encode({"a": torch.ones(60), "b": torch.ones(60)}, CodecSpec())
    assert len(decode(blob, max_elements=120)) == 2
    with pytest.raises(CodecError, match=r"tensor 1 \('b'\).*max_elements"):
        decode(blob, max_elements=100)


@pytest.mark.parametrize(
    ("compression", "bomb"),
    [
        ("zstd", zstandard.ZstdCompressor(level=3).compress(bytes(16 << 20))),
        ("zstd", zstandard.ZstdCompressor(level=3, write_content_size=False).compress(bytes(4096))),
        ("lz4", lz4.frame.compress(bytes(16 << 20))),
    ],
)
def test_decompression_bombs_are_cut_off(compression: str, bomb: bytes) -> None:
    blob = message(tensor_record("t", (4,), bomb, compression=compression))
    tracemalloc.start()
    with pytest.raises(CodecError, match=compression):
        decode(blob)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20


def test_jpeg_frame_size_must_match_header_before_decoding() -> None:
    payload = bytearray(encode({"f": smooth_image(16, 16)}, CodecSpec("jpeg")))
    sof = payload.index(b"\xff\xc0")
    payload[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)  # claims a 12 GB image
    with pytest.raises(CodecError, match="jpeg frame is 65000x65000"):
        decode(bytes(payload))


# ----------------------------------------------------------------------------- property tests and fuzzing


@settings(max_examples=200, deadline=None, database=None)
@given(
    array=hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
                     elements=st.floats(width=32)),
    compression=st.sampled_from(COMPRESSIONS),
    name=st.text(max_size=20),
)
def test_property_raw_round_trip_is_exact(array: np.ndarray, compression: str, name: str) -> None:
    tensor = torch.from_numpy(array)
    decoded = decode(encode([(name, tensor)], CodecSpec("raw", compression)))
    assert list(decoded) == [name] and decoded[name].shape == tensor.shape
    np.testing.assert_array_equal(bits(decoded[name]), bits(tensor))  # bitwise, NaN included


@settings(max_examples=200, deadline=None, database=None)
@given(
    array=hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6),
                     elements=st.floats(-(2.0**100), 2.0**100, width=32)),
    mode=st.sampled_from(["per_tensor", "per_channel"]),
)
def test_property_int8_error_is_at_most_half_a_step(array: np.ndarray, mode: str) -> None:
    tensor = torch.from_numpy(array)
    # per_channel applies to 2-D/4-D tensors with more than one value per channel (else per_tensor).
    per_channel = mode == "per_channel" and tensor.dim() in (2, 4) and tensor.numel() > tensor.shape[1]
    scale = expected_scales(tensor if tensor.dim() >= 2 else tensor.view(1, -1), per_channel).max()
    decoded = decode(encode({"t": tensor}, CodecSpec("int8", int8_mode=mode)))["t"]
    # Per channel, the largest step bounds every channel's error; 1e-30 covers sub-normal ranges.
    assert float((decoded.double() - tensor.double()).abs().max()) <= float(scale) * 0.5 * (1 + 1e-3) + 1e-30


@FUZZ
@given(st.one_of(st.binary(max_size=300), st.binary(max_size=300).map(lambda rest: b"SCSR\x01" + rest)))
def test_fuzz_arbitrary_bytes_only_raise_codec_error(blob: bytes) -> None:
    with contextlib.suppress(CodecError):
        assert_well_formed(decode(blob))


def _valid_blobs() -> list[tuple[str, bytes]]:
    tensors = {"a": relu_like((1, 3, 4, 4)), "b": relu_like((2, 5), 1)}
    blobs = [(spec.label, encode(tensors, spec)) for spec in TENSOR_SPECS]
    return [*blobs, ("jpeg", encode({"frame": smooth_image(16, 16)}, CodecSpec("jpeg", jpeg_quality=60)))]


VALID_BLOBS = _valid_blobs()
HUGE_VALUES = [2**8 - 1, 2**16 - 1, 2**31, 2**32 - 1, 2**40, 2**63 - 1, 2**64 - 1]

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 16)),
    st.tuples(st.just("length"), st.integers(0, 10**6), st.sampled_from(HUGE_VALUES) | st.integers(0, 2**64 - 1)),
)


def mutate(blob: bytes, mutations: list[tuple[str, int, object]]) -> bytes:
    """Apply mutations; "length" overwrites a real count/size field of the original blob."""
    fields = length_fields(blob)
    out = bytearray(blob)
    for kind, where, value in mutations:
        pos = where % (len(out) + 1)
        if kind == "flip" and pos < len(out):
            out[pos] ^= value  # type: ignore[operator]
        elif kind == "truncate":
            del out[pos:]
        elif kind == "insert":
            out[pos:pos] = value  # type: ignore[assignment]
        elif kind == "delete":
            del out[pos : pos + value]  # type: ignore[operator]
        elif kind == "length":
            offset, width = fields[where % len(fields)]
            out[offset : offset + width] = (value % 2 ** (8 * width)).to_bytes(width, "little")  # type: ignore[operator]
    return bytes(out)


@FUZZ
@given(
    target=st.sampled_from(VALID_BLOBS),
    mutations=st.lists(mutation, min_size=1, max_size=4),
)
def test_fuzz_mutated_valid_blobs_decode_or_raise_codec_error(
    target: tuple[str, bytes], mutations: list[tuple[str, int, object]]
) -> None:
    try:
        decoded = decode(mutate(target[1], mutations), max_elements=1 << 16)
    except CodecError:
        return
    assert_well_formed(decoded)
    assert sum(t.numel() for t in decoded.values()) <= 1 << 16


@pytest.mark.parametrize(("label", "blob"), VALID_BLOBS, ids=[label for label, _ in VALID_BLOBS])
def test_truncation_at_every_position_is_reported(label: str, blob: bytes) -> None:
    assert decode(blob)  # the untruncated blob is valid
    for cut in range(len(blob)):
        with pytest.raises(CodecError, match="truncated"):
            decode(blob[:cut])


@pytest.mark.parametrize(
    "label",
    ["raw", "raw+zstd", "fp16+lz4", "int8-per_tensor", "int8-per_channel+zstd", "jpeg-q75"],
)
def test_label_round_trips_through_from_label(label):
    assert CodecSpec.from_label(label).label == label


def test_from_label_short_forms_and_errors():
    assert CodecSpec.from_label("int8") == CodecSpec(encoding="int8")
    for bad in ("png", "raw+gzip", "jpeg-90", "raw-x", "jpeg-q0"):
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            CodecSpec.from_label(bad)
