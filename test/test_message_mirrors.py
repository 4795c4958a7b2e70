"""Every message <-> record conversion of scissor_ros.messages, generated from the message's own fields.

For each :data:`~scissor_ros.messages.MIRRORS` entry: the table covers every field of the message and
of the record (nothing is silently not converted), and a record built from values drawn per message
field type (uint64 0..2^64-1, float32-exact floats, any UTF-8 text, nested messages...) comes back
equal after record -> message -> record, for rclpy messages, after serializing them to CDR, and for
the FeatureMap's rosbags path.
"""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rclpy.serialization import deserialize_message, serialize_message

from scissor_ros.messages import (FEATURE_MAP, MIRRORS, NS, Mirror, feature_map_cdr, feature_payload_from_cdr,
                                  from_message, record_fields, to_message)

TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)
SCALARS = {
    "uint64": st.integers(0, 2**64 - 1), "uint32": st.integers(0, 2**32 - 1),
    "int32": st.integers(-(2**31), 2**31 - 1), "boolean": st.booleans(), "string": TEXT,
    "double": st.floats(allow_nan=False, allow_infinity=False),
    "float": st.floats(width=32, allow_nan=False, allow_infinity=False),
}
STAMP_NS = st.integers(0, (2**31 - 1) * NS)  # builtin_interfaces/Time: int32 seconds (kept after float rounding)


def field_strategy(kind: str, mirror: Mirror, message_field: str) -> st.SearchStrategy:
    """Values of one message field, from its ROS type name."""
    if kind in SCALARS:
        return SCALARS[kind]
    if kind == "sequence<uint8>":
        return st.binary(max_size=64)
    if kind.startswith("sequence<") and kind[9:-1] in SCALARS:
        return st.lists(SCALARS[kind[9:-1]], max_size=6).map(tuple)
    nested = {mirror.renamed.get(k, k): v for k, v in mirror.nested.items()}
    if message_field in nested:
        return st.lists(record_strategy(nested[message_field]), max_size=3).map(tuple)
    raise AssertionError(f"no strategy for {mirror.typename}.{message_field} of type {kind}")


def record_strategy(mirror: Mirror) -> st.SearchStrategy:
    """Records of ``mirror`` whose every travelling field holds a value its message field can carry."""
    types = mirror.message.get_fields_and_field_types()
    fields = {name: field_strategy(types[message_field], mirror, message_field) for name, message_field in mirror.pairs}
    if mirror.stamp is not None:
        fields[mirror.stamp] = STAMP_NS.map(lambda ns: ns / NS) if mirror.stamp_unit == "s" else STAMP_NS
    if mirror.frame_id is not None:
        fields[mirror.frame_id] = TEXT
    fields.update({name: st.floats(allow_nan=False, allow_infinity=False) for name in mirror.local})
    return st.fixed_dictionaries(fields).map(lambda values: mirror.record(**values))


def local_values(mirror: Mirror, record) -> dict:
    return {name: getattr(record, name) for name in mirror.local}


def assert_same(mirror: Mirror, back, record) -> None:
    for name in record_fields(mirror.record):
        expected, got = getattr(record, name), getattr(back, name)
        if name == mirror.stamp and mirror.stamp_unit == "s":
            assert got == pytest.approx(expected, abs=1e-9), name  # seconds through integer nanoseconds
        elif isinstance(expected, (bytes, bytearray)):
            assert bytes(got) == expected, name
        else:
            assert got == expected, name


@pytest.mark.parametrize("mirror", MIRRORS, ids=lambda m: m.typename)
def test_the_table_covers_every_field_of_the_message_and_the_record(mirror):
    message_fields = set(mirror.message.get_fields_and_field_types())
    carried = {message_field for _, message_field in mirror.pairs}
    header = {"header"} if mirror.stamp or mirror.frame_id or "header" in message_fields else set()
    assert carried | header | set(mirror.extra) == message_fields
    assert not carried & set(mirror.extra)
    covered = {name for name, _ in mirror.pairs} | {mirror.stamp, mirror.frame_id} | set(mirror.local)
    assert covered - {None} == set(record_fields(mirror.record))


@pytest.mark.parametrize("mirror", [m for m in MIRRORS if m is not FEATURE_MAP], ids=lambda m: m.typename)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_record_message_record_round_trip(mirror, data):
    record = data.draw(record_strategy(mirror))
    msg = to_message(mirror, record)
    assert_same(mirror, from_message(mirror, msg, **local_values(mirror, record)), record)
    wire = deserialize_message(serialize_message(msg), mirror.message)  # what DDS carries
    assert_same(mirror, from_message(mirror, wire, **local_values(mirror, record)), record)


@settings(max_examples=200, deadline=None)
@given(record=record_strategy(FEATURE_MAP))
def test_feature_map_round_trips_through_its_serialized_path_and_rclpy(record):
    raw = feature_map_cdr(record)
    assert_same(FEATURE_MAP, feature_payload_from_cdr(raw), record)
    typed = deserialize_message(raw, FEATURE_MAP.message)  # the same bytes are an rclpy FeatureMap
    assert_same(FEATURE_MAP, from_message(FEATURE_MAP, typed), record)


def test_the_header_can_be_given_by_the_sender_and_extra_fields_are_checked():
    from scissor_core.runtime.queues import ObservedState
    from scissor_ros.messages import QUEUE_STATE

    state = ObservedState(3, 1.5, 1, 2, 5e6, 0.4, 1e5, 0.2, 10.0, 20.0, 3, 1.25)
    msg = to_message(QUEUE_STATE, state, stamp_ns=7 * NS + 5, frame_id="camera#3", candidates=["0", "last"])
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id) == (7, 5, "camera#3")
    assert list(msg.candidates) == ["0", "last"]
    assert from_message(QUEUE_STATE, msg, now=1.5) == state
    with pytest.raises(TypeError, match="no extra field"):
        to_message(QUEUE_STATE, state, split="x")


def test_a_payload_is_not_copied_element_by_element():
    """The serialized FeatureMap's payload is a view of the received bytes (no per-element conversion)."""
    from scissor_core.runtime.records import FeaturePayload

    blob = bytes(range(256)) * 4096
    raw = feature_map_cdr(FeaturePayload(1, 2, "cam", "alexnet", "conv1", "raw", blob, len(blob)))
    payload = feature_payload_from_cdr(raw).payload
    assert payload.base is not None and bytes(payload) == blob  # a numpy view into ``raw``
    assert dataclasses.is_dataclass(FeaturePayload)
