"""Bandwidth traces (capacity integration, Mahimahi parsing and errors) and the estimator."""
from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scissor_core.config import CONFIG_DIR
from scissor_core.runtime.traces import (BandwidthEstimator, ConstantTrace, MahimahiTrace, PiecewiseTrace,
                                         TraceError, parse_rate, parse_trace)


def test_constant_rate_finish_is_start_plus_bytes_over_rate():
    trace = ConstantTrace(2e6)
    for start, n in ((0.0, 1), (3.25, 2_000_000), (1e4, 123_456)):
        assert trace.transmit_finish_time(start, n) == start + n / 2e6
    assert trace.rate_at(7.0) == 2e6
    with pytest.raises(TraceError):
        ConstantTrace(0)


def test_steps_integrate_capacity_across_outages_and_periods():
    trace = PiecewiseTrace([1.0, 1.0], [1000.0, 0.0])  # 1 s at 1000 B/s, 1 s outage, repeat
    assert trace.transmit_finish_time(0.5, 1500) == pytest.approx(3.0)  # 500 B, outage, 1000 B
    assert trace.transmit_finish_time(1.2, 500) == pytest.approx(2.5)  # waits out the outage
    assert trace.transmit_finish_time(10.0, 500) == pytest.approx(10.5)
    assert trace.transmit_finish_time(0.0, 1000) == pytest.approx(1.0)
    assert trace.rate_at(1.5) == 0.0 and trace.rate_at(4.2) == 1000.0
    assert trace.mean_rate() == 500.0
    rng = random.Random(1)
    walk = parse_trace("walk:mean=1MB,sigma=0.5,duration=20", seed=3)
    for _ in range(200):  # the bytes carried between start and finish are exactly nbytes
        start, n = rng.uniform(0, 100), rng.randint(1, 5_000_000)
        for t in (trace, walk):
            end = t.transmit_finish_time(start, n)
            assert t._capacity(end) - t._capacity(start) == pytest.approx(n, rel=1e-9)


def test_mahimahi_opportunities_and_repetition(tmp_path):
    path = tmp_path / "t.up"
    path.write_text("0\n0\n5\n10\n")  # period 10 ms; 4 x 1500 B per period
    trace = MahimahiTrace.from_file(path)
    assert trace.period == 0.01 and trace.mean_rate() == pytest.approx(600_000)
    assert trace.transmit_finish_time(0.0, 3000) == 0.0  # two packets at 0 ms
    assert trace.transmit_finish_time(0.0, 3001) == 0.005  # a partial packet takes a whole opportunity
    assert trace.transmit_finish_time(0.001, 1) == 0.005
    assert trace.transmit_finish_time(0.001, 5 * 1500) == pytest.approx(0.015)  # 5, 10 | 10, 10, 15 ms
    assert trace.transmit_finish_time(0.001, 6 * 1500) == pytest.approx(0.020)
    assert trace.transmit_finish_time(1.0, 1500) == pytest.approx(1.0)  # cycle 100 starts at 1.0 s
    scaled = MahimahiTrace.from_file(path, scale=2.0)
    assert scaled.transmit_finish_time(0.0, 6000) == 0.0 and scaled.mean_rate() == pytest.approx(1_200_000)


@pytest.mark.parametrize(("text", "message"), [
    ("0\n5\nabc\n7\n", r"t\.up:3: 'abc' is not"),
    ("0\n-5\n", r"t\.up:2: '-5' is not"),
    ("0\n5\n3\n", r"t\.up:3: timestamp 3 is before the previous one"),
    ("", "empty trace"),
    ("\n\n", "empty trace"),
    ("0\n0\n", "last timestamp must be positive"),
])
def test_mahimahi_errors_name_the_line(tmp_path, text, message):
    path = tmp_path / "t.up"
    path.write_text(text)
    with pytest.raises(TraceError, match=message):
        MahimahiTrace.from_file(path)


def test_shipped_traces_parse_with_their_documented_mean_rates():
    expected = {"Verizon-LTE-short.up": 5.95, "ATT-LTE-driving-2016.up": 1.91, "TMobile-LTE-short.up": 13.32}
    for name, mbit in expected.items():
        trace = parse_trace(f"mahimahi:config/traces/{name}")
        assert trace.mean_rate() * 8 / 1e6 == pytest.approx(mbit, abs=0.01)
    assert (CONFIG_DIR / "traces/SOURCES.md").is_file()


def test_specs_and_rates():
    assert parse_rate("5MB") == 5e6 and parse_rate("5MB/s") == 5e6 and parse_rate("40Mbit") == 5e6
    assert parse_rate("500kB") == 5e5 and parse_rate("1234") == 1234.0
    assert parse_trace("const:2MB").mean_rate() == 2e6
    steps = parse_trace("steps:10x5MB,10x1MB")
    assert steps.rate_at(5) == 5e6 and steps.rate_at(15) == 1e6 and steps.rate_at(25) == 5e6
    a, b = parse_trace("walk:mean=5MB", seed=1), parse_trace("walk:mean=5MB", seed=1)
    assert a.rates == b.rates and a.rates != parse_trace("walk:mean=5MB,seed=2").rates
    assert min(a.rates) >= 5e5 and max(a.rates) <= 5e7
    for bad, message in (("const:fast", "bad rate"), ("steps:10-5MB", "DURATIONxRATE"), ("walk:sigma=1", "mean"),
                         ("walk:mean=5MB,colour=red", "bad option"), ("warp:1", "unknown trace kind"),
                         ("mahimahi:/nonexistent/x.up", "does not exist")):
        with pytest.raises(TraceError, match=message):
            parse_trace(bad)


def test_bandwidth_estimator_is_bytes_over_time_of_the_last_window():
    est = BandwidthEstimator(initial=1e6, window=2, step=0)
    assert est.estimate == 1e6
    assert est.add(1000, 0.001) == pytest.approx(1e6 * 1.0)
    assert est.add(3000, 0.001) == pytest.approx(4000 / 0.002)
    assert est.add(0, 0.5) == pytest.approx(2e6)  # no information: ignored
    assert est.add(1000, 0.004) == pytest.approx(4000 / 0.005)  # the first transmission left the window
    est.reset()
    assert est.estimate == 1e6
    with pytest.raises(ValueError):
        BandwidthEstimator(0.0)
    with pytest.raises(ValueError):
        BandwidthEstimator(1e6, window=2, step=2)


@pytest.mark.parametrize("before, after", [(1e6, 5e6), (5e6, 1e6), (2e6, 3e6)])
def test_bandwidth_estimator_follows_a_rate_step_within_step_transmissions(before, after):
    est = BandwidthEstimator(initial=4e6, window=5, step=2)
    for _ in range(6):
        est.add(100_000, 100_000 / before)
    assert est.estimate == pytest.approx(before)
    est.add(100_000, 100_000 / after)
    assert est.estimate != pytest.approx(after, rel=0.1)  # one transmission is not a step
    est.add(100_000, 100_000 / after)
    assert est.estimate == pytest.approx(after) and est.steps == 1


def test_bandwidth_estimator_keeps_its_window_through_one_outlier_and_without_step_detection():
    est = BandwidthEstimator(initial=1e6, window=5, step=2)
    for duration in (0.1, 0.1, 0.1, 0.01, 0.1):  # one fast outlier between steady ones
        est.add(100_000, duration)
    assert est.estimate == pytest.approx(500_000 / 0.41) and est.steps == 0
    plain = BandwidthEstimator(initial=1e6, window=5, step=0)
    for duration in (0.1, 0.1, 0.1, 0.02, 0.02):
        plain.add(100_000, duration)
    assert plain.estimate == pytest.approx(500_000 / 0.34) and plain.steps == 0


# ----------------------------------------------------------------------------- fuzz: traces come from outside

TRACE_FUZZ = settings(max_examples=1000, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture])


@TRACE_FUZZ
@given(st.one_of(st.text(max_size=60),
                 st.builds(lambda kind, rest: f"{kind}:{rest}",
                           st.sampled_from(["const", "steps", "walk", "mahimahi", "file", "xyz"]),
                           st.text(alphabet="0123456789.x,=kMGBbitmeansigmaseedstephighlow-: ", max_size=40))))
def test_fuzz_trace_specs_parse_or_raise_trace_error(spec):
    try:
        trace = parse_trace(spec)
    except TraceError as exc:
        assert str(exc)
        return
    assert trace.transmit_finish_time(0.0, 1000) > 0


@TRACE_FUZZ
@given(st.lists(st.one_of(st.integers(-5, 10_000).map(str), st.text(max_size=12)), max_size=30))
def test_fuzz_mahimahi_files_load_or_raise_trace_error_naming_the_file(tmp_path, lines):
    path = tmp_path / "fuzz.up"
    path.write_text("\n".join(lines) + "\n")
    try:
        trace = parse_trace(f"mahimahi:{path}")
    except TraceError as exc:
        assert path.name in str(exc)
        return
    assert trace.transmit_finish_time(0.0, 1500) >= 0
