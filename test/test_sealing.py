"""Payload sealing (scissor_core/wire/sealing.py): round trip, every kind of rejection, metadata binding,
the replay window, key files, the device hook, and a fuzz test that only SealError ever escapes."""
from __future__ import annotations

import dataclasses
import os
import stat

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scissor_core.config import ConfigError, from_dict
from scissor_core.wire import sealing
from scissor_core.wire.sealing import (OVERHEAD, KeyFileError, Opener, Sealer, SealError, is_sealed, key_from_config,
                                       load_key, write_key)

KEY = bytes(range(32))
META = {"seq": 7, "model": "alexnet", "split": "conv2", "codec": "raw"}


def sealed(payload: bytes = b"feature maps", sealer: Sealer | None = None, **meta) -> bytearray:
    return (sealer or Sealer(KEY)).seal(payload, **{**META, **meta})


def rejection(opener: Opener, blob, **meta) -> SealError:
    with pytest.raises(SealError) as info:
        opener.open(blob, **{**META, **meta})
    assert str(info.value).startswith(info.value.kind + ": ")
    return info.value


def test_round_trip_of_bytes_like_payloads():
    sealer, opener = Sealer(KEY), Opener(KEY)
    for i, payload in enumerate([b"", b"x", os.urandom(100_000), bytearray(b"abc"), memoryview(b"view")]):
        blob = sealer.seal(payload, **{**META, "seq": i})
        assert len(blob) == len(bytes(payload)) + OVERHEAD and is_sealed(blob)
        assert bytes(payload) not in bytes(blob) or len(payload) < 2
        assert opener.open(memoryview(blob), **{**META, "seq": i}) == bytes(payload)


def test_numpy_views_round_trip():
    blob = sealed(np.arange(1000, dtype=np.float32))
    assert opener_open(np.frombuffer(bytes(blob), np.uint8)) == np.arange(1000, dtype=np.float32).tobytes()


def opener_open(blob):
    return Opener(KEY).open(blob, **META)


def test_every_bit_of_the_payload_is_authenticated():
    blob = sealed(b"0123456789" * 3)
    for i in range(len(sealing.PREFIX), len(blob)):  # nonce, ciphertext and tag
        mutated = bytearray(blob)
        mutated[i] ^= 0x01
        assert rejection(Opener(KEY), mutated).kind in ("tampered", "replayed")
    assert rejection(Opener(KEY), blob[:-1]).kind == "tampered"


@pytest.mark.parametrize("field, value", [("seq", 8), ("model", "resnet18"), ("split", "conv5"),
                                          ("codec", "int8+zstd")])
def test_metadata_is_bound(field, value):
    opener = Opener(KEY)
    error = rejection(opener, sealed(), **{field: value})
    assert error.kind == "tampered" and "seq/model/split/codec" in str(error)
    assert opener.open(sealed(), **META) == b"feature maps"  # the same metadata opens it


def test_another_key_is_tampered():
    assert rejection(Opener(bytes(32)), sealed()).kind == "tampered"


def test_replays_are_rejected_and_do_not_disturb_the_session():
    sealer, opener = Sealer(KEY), Opener(KEY)
    first, second = sealed(b"a", sealer), sealed(b"b", sealer)
    assert opener.open(first, **META) == b"a"
    error = rejection(opener, first)
    assert error.kind == "replayed" and "already accepted" in str(error) and sealer.session.hex() in str(error)
    assert opener.open(second, **META) == b"b"
    assert rejection(opener, second).kind == "replayed"
    assert rejection(opener, first).kind == "replayed"


def test_sessions_are_independent():
    a, b, opener = Sealer(KEY), Sealer(KEY), Opener(KEY)
    assert a.session != b.session
    assert opener.open(sealed(b"1", a), **META) == b"1"
    assert opener.open(sealed(b"2", b), **META) == b"2"  # counter 0 again, in another session


def test_out_of_order_within_the_window_and_older_than_it():
    sealer, opener = Sealer(KEY), Opener(KEY, window=8)
    blobs = [sealed(bytes([i]), sealer) for i in range(20)]
    for i in (3, 1, 2, 0, 10):  # out of order, all within 8 of the highest
        assert opener.open(blobs[i], **META) == bytes([i])
    assert "older than the replay window" in str(rejection(opener, blobs[2]))  # 10 - 2 >= 8
    for i in (4, 9, 5):  # never seen, within the window
        assert opener.open(blobs[i], **META) == bytes([i])
    for i in (4, 9, 10):
        assert "already accepted" in str(rejection(opener, blobs[i]))
    assert opener.open(blobs[19], **META) == bytes([19])  # a jump forward slides the window
    assert "older than" in str(rejection(opener, blobs[11]))
    assert opener.open(blobs[12], **META) == bytes([12])


def test_forged_counters_do_not_move_the_window():
    sealer, opener = Sealer(KEY), Opener(KEY, window=4)
    blob = sealed(b"x", sealer)
    forged = bytearray(blob)
    forged[len(sealing.PREFIX) + 4:len(sealing.PREFIX) + 12] = (2**40).to_bytes(8, "big")
    assert rejection(opener, forged).kind == "tampered"
    assert opener.open(blob, **META) == b"x"  # counter 0 is still new


@pytest.mark.parametrize("blob, kind, words", [
    (b"SCSR\x01\x01rest of a wire-codec blob", "unsealed", "plain wire-codec blob"),
    (b"hello", "unsealed", "not sealed"),
    (b"", "malformed", "empty"),
    (b"SCS", "unsealed", "not sealed"),
    (b"SCSL", "malformed", "truncated"),
    (b"SCSL\x02" + bytes(40), "malformed", "version 2"),
    (b"SCSL\x01" + bytes(27), "malformed", "truncated"),
    (None, "malformed", "byte buffer"),
    ("SCSL text", "malformed", "byte buffer"),
])
def test_unsealed_and_malformed(blob, kind, words):
    error = rejection(Opener(KEY), blob)
    assert error.kind == kind and words in str(error), str(error)


def test_bad_metadata_is_malformed():
    assert rejection(Opener(KEY), sealed(), seq=-1).kind == "malformed"
    assert rejection(Opener(KEY), sealed(), model=None).kind == "malformed"
    with pytest.raises(SealError):
        Sealer(KEY).seal(b"x", **{**META, "seq": 2**64})


def test_keys_must_be_32_bytes():
    for bad in (b"", bytes(16), bytes(33)):
        with pytest.raises(ValueError):
            Sealer(bad)
        with pytest.raises(ValueError):
            Opener(bad)


# ----------------------------------------------------------------------------- key files


def test_write_and_load_a_key_file(tmp_path):
    old_umask = os.umask(0)  # a permissive umask must not leak into the file's mode
    try:
        path = write_key(tmp_path / "keys" / "scissor.key")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert len(text) == 65 and text.endswith("\n")
    key = load_key(path)
    assert len(key) == 32 and key.hex() == text.strip()
    assert load_key(write_key(tmp_path / "other.key")) != key
    with pytest.raises(KeyFileError, match="already exists"):
        write_key(path)
    assert load_key(path) == key


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o610, 0o601])
def test_group_or_other_access_is_refused(tmp_path, mode):
    path = write_key(tmp_path / "k")
    path.chmod(mode)
    with pytest.raises(KeyFileError) as info:
        load_key(path)
    assert str(path) in str(info.value) and f"{mode:04o}" in str(info.value) and "chmod 600" in str(info.value)


def test_owner_only_modes_are_accepted(tmp_path):
    path = write_key(tmp_path / "k")
    path.chmod(0o400)
    assert len(load_key(path)) == 32


def test_missing_and_wrong_length_key_files(tmp_path):
    with pytest.raises(KeyFileError, match=f"{tmp_path / 'nope'} does not exist.*scissor keygen"):
        load_key(tmp_path / "nope")
    with pytest.raises(KeyFileError, match="not a regular file"):
        load_key(tmp_path)
    for content, got in [(b"ab" * 16, "32 hex digits"), (b"ab" * 33, "66 hex digits"), (os.urandom(32), None),
                         (b"zz" * 32, "other characters"), (b"", "0 hex digits")]:
        path = tmp_path / "short.key"
        path.write_bytes(content)
        path.chmod(0o600)
        with pytest.raises(KeyFileError, match="must hold 32 bytes as 64 hexadecimal digits") as info:
            load_key(path)
        assert str(path) in str(info.value)
        if got:
            assert got in str(info.value)


def test_config_key_file(tmp_path):
    assert key_from_config(from_dict({})) is None
    path = write_key(tmp_path / "k")
    assert key_from_config(from_dict({"link": {"key_file": str(path)}})) == load_key(path)
    with pytest.raises(ConfigError, match="link.key_file: file .*missing.key does not exist"):
        from_dict({"link": {"key_file": str(tmp_path / "missing.key")}})
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="link.key_file: key file .* has mode 0644"):
        key_from_config(from_dict({"link": {"key_file": str(path)}}))
    with pytest.raises(ConfigError, match="link: unknown key 'keyfile' \\(did you mean 'key_file'\\?\\)"):
        from_dict({"link": {"keyfile": str(path)}})


def test_relative_key_file_resolves_from_the_current_directory(tmp_path, monkeypatch):
    path = write_key(tmp_path / "keys" / "k")
    monkeypatch.chdir(tmp_path)
    assert key_from_config(from_dict({"link": {"key_file": "keys/k"}})) == load_key(path)


def test_keygen_command(tmp_path, capsys):
    from scissor_cli.main import main

    path = tmp_path / "scissor.key"
    assert main(["keygen", str(path)]) == 0
    assert "link.key_file" in capsys.readouterr().out and len(load_key(path)) == 32
    assert main(["keygen", str(path)]) == 2
    assert "already exists" in capsys.readouterr().err


# ----------------------------------------------------------------------------- fuzz


_OPENER = Opener(KEY, window=4096)
_SEALER = Sealer(KEY)
_VALID = [bytes(_SEALER.seal(os.urandom(n), **META)) for n in (0, 1, 17, 300)]


@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.binary(max_size=200),
    st.binary(max_size=200).map(lambda b: b"SCSL" + b),
    st.binary(max_size=200).map(lambda b: b"SCSL\x01" + b),
    st.tuples(st.sampled_from(_VALID), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)),
                                                min_size=1, max_size=4)),
    st.tuples(st.sampled_from(_VALID), st.integers(0, 400)),
))
def test_fuzz_only_seal_errors_escape(case):
    if isinstance(case, bytes):
        blob = case
    elif isinstance(case[1], int):  # truncated or extended
        base, n = case
        blob = base[:n] if n < len(base) else base + bytes(n - len(base))
    else:  # bytes changed in place
        base, changes = case
        mutated = bytearray(base)
        for pos, value in changes:
            mutated[pos % len(mutated)] = value
        blob = bytes(mutated)
    try:
        payload = _OPENER.open(blob, **META)
    except SealError as exc:
        assert exc.kind in sealing.KINDS and str(exc).startswith(exc.kind)
    else:  # only an unchanged valid blob may open, once
        assert blob in _VALID and len(payload) == len(blob) - OVERHEAD


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.integers(0, 2**64 - 1), st.text(max_size=8), st.text(max_size=8),
       st.text(max_size=8))
def test_fuzz_metadata_round_trip(payload, seq, model, split, codec):
    meta = {"seq": seq, "model": model, "split": split, "codec": codec}
    assert Opener(KEY).open(Sealer(KEY).seal(payload, **meta), **meta) == payload


# ----------------------------------------------------------------------------- the device hook


def test_device_seals_after_encoding_and_the_real_edge_opens_or_rejects():
    """DeviceRuntime(sealer=...): the payload handed to send is sealed, and job.nbytes, bytes_sent and the
    outcome count the sealed size; the real EdgeRuntime with the key opens it, and a replayed payload gets
    an error result, which the device records as a decode_error drop."""
    from scissor_core.models.registry import load_model
    from scissor_core.policies.baselines import FixedSplit
    from scissor_core.runtime.costs import SplitCosts
    from scissor_core.runtime.device import DeviceRuntime
    from scissor_core.runtime.outcome import Reward
    from scissor_core.runtime.traces import parse_trace
    from scissor_core.sources.scene import TrafficScene
    from scissor_core.wire.codec import CodecSpec

    from conftest import InProcessEdge, ManualClock, small_config, wait_for

    model = load_model(small_config("alexnet"))
    n = len(model.candidates)
    costs = SplitCosts(model.name, "raw", tuple(model.candidates), (0.01,) * n, (0.01,) * n, (10_000,) * n)
    edge = InProcessEdge(model, opener=Opener(KEY))
    sent, outcomes = [], []

    def send(payload):
        sent.append(payload)
        edge.send(payload if payload.seq == 0 else dataclasses.replace(payload, payload=sent[0].payload))

    runtime = DeviceRuntime(model, costs, FixedSplit(costs, "conv5"), codec=CodecSpec(),
                            trace=parse_trace("const:50MB"), timeout=5.0, local_max=30, offload_max=30,
                            reward=Reward(), decision_deadline=0.05, edge_timeout=5.0, emit=outcomes.append,
                            send=send, sealer=Sealer(KEY), clock=ManualClock())
    edge.device = runtime
    runtime.start()
    frames = [TrafficScene(seed=4).frame(i) for i in range(2)]
    try:
        for seq, frame in enumerate(frames):
            runtime.on_frame(seq, frame)
            runtime.decide_with_fallback(seq)
        assert wait_for(lambda: len(outcomes) == 2)
    finally:
        runtime.stop()
        edge.stop()
    opener = Opener(KEY)
    for payload in sent:
        assert is_sealed(payload.payload) and payload.payload_bytes == len(payload.payload)
        opened = opener.open(payload.payload, seq=payload.seq, model=model.name, split=payload.split,
                             codec=payload.codec)
        x, _ = model.preprocess(frames[payload.seq])
        assert bytes(opened) == bytes(model.encode_split("conv5", model.splitter.run_device(x, "conv5"),
                                                         CodecSpec()))
    assert runtime.stats.bytes_sent == sum(p.payload_bytes for p in sent)
    by_seq = {o.seq: o for o in outcomes}
    assert by_seq[0].completed and by_seq[0].bytes_sent == sent[0].payload_bytes
    assert by_seq[1].drop_reason == "decode_error" and by_seq[1].drop_place == "edge"
    assert edge.served[1].rejection in ("tampered", "replayed")  # frame 0's sealed bytes under frame 1's seq


def test_bench_sealing_cost_table():
    from scissor_bringup.bench_transport import Measurement, format_sealing, measure_sealing

    costs = measure_sealing([1000, 200_000], repeats=2)
    assert [c.size for c in costs] == [1000, 200_000] and all(c.seal_s > 0 and c.open_s > 0 for c in costs)
    table = format_sealing(costs, [Measurement("tcp", 200_000, costs[1].total_s * 4),
                                   Measurement("DEFAULT/message", 200_000, costs[1].total_s * 2),
                                   Measurement("profile/raw-sub", 200_000, costs[1].total_s)])
    assert "| 0.001 |" in table and "| – | – |" in table  # no transfer measured at that size
    assert "| +25% | +100% (profile/raw-sub) |" in table
