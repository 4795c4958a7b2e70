"""The codec chosen with the split (``codec.min_map``): the bench's table read back, the (split, codec) options
it yields, every policy choosing among them, and the simulator and the device running the chosen codec."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scissor_core.analysis.metrics import per_split
from scissor_core.config import ConfigError, load_config
from scissor_core.policies import make_policy
from scissor_core.runtime.codec_table import CodecEffect, read_codec_csv, write_codec_csv
from scissor_core.runtime.costs import SplitCosts, option_name, pareto_codecs
from scissor_core.runtime.queues import ObservedState
from scissor_core.simulation.simulator import Simulator
from scissor_core.runtime.traces import parse_trace

from conftest import small_config
from simhelpers import toy_profile

# split, codec, bytes, encode ms, decode ms, agreement (max output error unused)
ROWS = [CodecEffect(*row[:5], 0.0, row[5]) for row in [
    ("0", "raw", 1_000_000, 0.5, 0.5, 1.0),
    ("0", "jpeg-q90", 30_000, 4.0, 2.0, 0.95),   # below a 0.98 floor
    ("0", "jpeg-q100", 60_000, 4.0, 2.0, 0.99),
    ("b", "raw", 100_000, 0.1, 0.1, 1.0),
    ("b", "fp16", 50_000, 1.0, 1.0, 1.0),
    ("b", "fp16+lz4", 60_000, 3.0, 3.0, 1.0),     # more bytes and slower than fp16: never better
    ("b", "int8-per_tensor+zstd", 10_000, 2.0, 1.0, 0.985),
    ("c", "int8-per_tensor", 12_000, 0.5, 0.5, 0.90),  # c has nothing at the floor: not a candidate
    ("zz", "raw", 1, 0.0, 0.0, 1.0),  # a split the profile does not have: ignored
]]
PROFILE = dataclasses.replace(toy_profile(), settings={"device_slowdown": 2.0, "edge_slowdown": 0.5})


def costs(floor: float = 0.98) -> SplitCosts:
    return SplitCosts.from_codec_table(PROFILE, ROWS, floor)


def test_options_keep_the_floor_and_leave_out_dominated_pairs():
    table = costs()
    assert table.splits == ("0@jpeg-q100", "0@raw", "b@int8-per_tensor+zstd", "b@fp16", "b@raw", "last")
    assert table.cuts == ("0", "0", "b", "b", "b", "last") and table.chooses_codec
    assert table.codecs == ("jpeg-q100", "raw", "int8-per_tensor+zstd", "fp16", "raw", "")
    assert table.nbytes == (60_000, 1_000_000, 10_000, 50_000, 100_000, 0)
    i = table.index("b@int8-per_tensor+zstd")  # profile b: device 0.3 s, edge 0.05 s; slowdowns 2 and 0.5
    assert table.local[i] == pytest.approx(0.3 + 0.002 * 2.0) and table.edge[i] == pytest.approx(0.05 + 0.001 * 0.5)
    j = table.index("0@jpeg-q100")  # split 0 computes nothing on the device: its encode joins the edge's part
    assert table.local[j] == 0.0 and table.edge[j] == pytest.approx(0.3 + 0.004 * 2.0 + 0.002 * 0.5)
    assert table.cut_of("b@fp16") == "b" and table.codec_of("b@fp16") == "fp16"
    assert table.candidate("b", "fp16") == "b@fp16" and table.candidate("last", "") == "last"
    assert costs(0.5).index("c@int8-per_tensor") >= 0  # a lower floor admits it
    with pytest.raises(ValueError, match="no \\(split, codec\\) pair of alexnet reaches agreement 1.5"):
        SplitCosts.from_codec_table(PROFILE, ROWS, 1.5)


def test_pareto_keeps_a_row_only_when_nothing_smaller_is_also_faster():
    kept = pareto_codecs([r for r in ROWS if r.split == "b"])
    assert [r.codec for r in kept] == ["int8-per_tensor+zstd", "fp16", "raw"]


def test_one_per_cut_takes_each_splits_fewest_bytes():
    chain = costs().one_per_cut()
    assert chain.splits == ("0@jpeg-q100", "b@int8-per_tensor+zstd", "last")
    plain = SplitCosts.from_profile(PROFILE)
    assert plain.one_per_cut() is plain and not plain.chooses_codec and plain.candidate("b", "raw") == "b"


def test_every_policy_chooses_among_the_options():
    table = costs()
    s = ObservedState(0, 0.0, 0, 0, 1e6, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0.0)
    jpeg = make_policy("edge-only-jpeg", PROFILE, costs=table)
    assert jpeg.decide(s) == "0@jpeg-q100"  # the smallest JPEG at the floor (q90 is below it)
    assert make_policy("edge-only", PROFILE, costs=table).decide(s) == "0@raw"
    assert make_policy("fixed:b@fp16", PROFILE, costs=table).decide(s) == "b@fp16"
    with pytest.raises(ValueError, match="not a candidate"):
        make_policy("fixed:b", PROFILE, costs=table)
    # greedy prices each option's bytes: at 1 MB/s b's 10 kB int8 beats its 100 kB raw
    assert make_policy("greedy", PROFILE, costs=table).decide(s) == "b@int8-per_tensor+zstd"
    dads = make_policy("dads", PROFILE, costs=table)  # plans over a chain: one option per split
    assert dads.costs == table.one_per_cut() and dads.decide(s) in table.splits
    with pytest.raises(ValueError, match="semi-fixed: alexnet has 3 candidates, needs 5"):  # 0, b, last
        make_policy("semi-fixed", PROFILE, costs=table)
    no_jpeg = SplitCosts.from_codec_table(PROFILE, [r for r in ROWS if "jpeg" not in r.codec], 0.98)
    with pytest.raises(ValueError, match="no candidate at split '0' with a jpeg codec"):
        make_policy("edge-only-jpeg", PROFILE, costs=no_jpeg)


def test_the_simulator_records_each_frames_split_and_codec():
    table = costs()
    config = small_config("alexnet")
    outcomes = Simulator.from_config(config, make_policy("round-robin", PROFILE, costs=table),
                                     parse_trace("const:5MB")).run(12)
    assert [(o.split, o.codec) for o in outcomes[:6]] == [
        ("0", "jpeg-q100"), ("0", "raw"), ("b", "int8-per_tensor+zstd"), ("b", "fp16"), ("b", "raw"), ("last", "")]
    assert [o.bytes_sent for o in outcomes[:6] if o.completed] == list(table.nbytes)
    assert list(per_split(outcomes)) == list(table.splits)  # a split sent with several codecs: a row per pair


def test_the_table_round_trips_and_bad_tables_are_clear_errors(tmp_path):
    path = write_codec_csv(ROWS, tmp_path / "t.csv")
    assert read_codec_csv(path) == ROWS
    with pytest.raises(ValueError, match="does not exist"):
        read_codec_csv(tmp_path / "missing.csv")
    (tmp_path / "cols.csv").write_text("split,codec\n0,raw\n")
    with pytest.raises(ValueError, match="expected columns"):
        read_codec_csv(tmp_path / "cols.csv")
    (tmp_path / "bad.csv").write_text(path.read_text().replace("0.985", "high"))
    with pytest.raises(ValueError, match="line 8"):
        read_codec_csv(tmp_path / "bad.csv")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_reads_as_rows_or_a_value_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "t.csv"
    path.write_text(text)
    try:
        rows = read_codec_csv(path)
    except ValueError:
        return
    assert all(isinstance(r, CodecEffect) for r in rows)


def test_config_keys(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("codec: {min_map: 0}\n")
    with pytest.raises(ConfigError, match="codec.min_map must be in"):
        load_config(config)
    config.write_text("codec: {min_map: 0.98, table: nowhere.csv}\n")
    with pytest.raises(ConfigError, match="codec.table: file .*nowhere.csv does not exist"):
        load_config(config)
    write_codec_csv(ROWS, tmp_path / "t.csv")
    config.write_text(f"codec: {{min_map: 0.98, table: {tmp_path / 't.csv'}}}\n")
    loaded = load_config(config)
    assert SplitCosts.for_config(PROFILE, loaded.codec) == costs()


def test_the_shipped_yolov3_tiny_table_reads_at_the_floor():
    from scissor_core.config import CONFIG_DIR
    from scissor_core.runtime.costs import ModelProfile

    profile = ModelProfile.load(CONFIG_DIR / "profiles" / "yolov3-tiny.json")
    config = load_config(None)
    config.codec.min_map = 0.98
    table = SplitCosts.for_config(profile, config.codec)
    assert set(table.cuts) == {c.split for c in profile.cuts}  # every split has a pair at 0.98
    assert option_name("4", "int8-per_tensor+zstd") in table.splits
    assert Path(CONFIG_DIR / "codecs" / "README.md").is_file()  # the table's source note


def test_the_shipped_codec_policy_serves_the_shipped_table_and_refuses_another_floor():
    from scissor_core.config import CONFIG_DIR
    from scissor_core.policies.serving import default_policy_path, serve_policy
    from scissor_core.runtime.costs import ModelProfile

    profile = ModelProfile.load(CONFIG_DIR / "profiles" / "yolov3-tiny.json")
    config = load_config(None)
    config.codec.min_map = 0.98
    assert default_policy_path(config, "yolov3-tiny").name == "yolov3-tiny-codec.pt"
    policy = serve_policy(config, profile, "a2c")
    assert policy.costs == SplitCosts.for_config(profile, config.codec)
    s = ObservedState(0, 0.0, 0, 0, 5e6, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0.0)
    assert policy.decide(s) in policy.costs.splits
    config.codec.min_map = 0.5  # other options: the file is refused, naming the difference
    with pytest.raises(ValueError, match="policy is for model 'yolov3-tiny', codec 'chosen at agreement >= 0.98'"):
        serve_policy(config, profile, "a2c")
