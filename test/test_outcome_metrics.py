"""FrameOutcome (CSV, mirror of the ROS message) and the metric formulas on hand-made outcomes."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

from scissor_core.analysis.metrics import RunMetrics, format_table, per_split, percentile
from repo_paths import MSGS_DIR
from scissor_core.runtime.outcome import OUTCOME_FIELDS, FrameOutcome, OutcomeTail, Reward, read_csv, write_csv

R = Reward(w=1.0, drop_penalty=10.0)


def outcome(seq: int, split: str, delay: float, nbytes: int = 0, completed: bool = True, reason: str = "",
            capture: float | None = None) -> FrameOutcome:
    reward = R.success(nbytes, delay) if completed else R.drop
    return FrameOutcome(seq, seq * 1.0 if capture is None else capture, "toy", split, "raw", "test", completed,
                        reason, "local" if reason else "", False, nbytes, 0.1, 0.2, 0.05, 0.15, 0.0, delay - 0.5,
                        delay, reward)


def test_fields_mirror_the_ros_message():
    text = (MSGS_DIR / "msg/FrameOutcome.msg").read_text()
    msg_fields = [m.group(1) for m in re.finditer(r"^\s*[\w/\[\]]+\s+(\w+)", text, re.M) if m.group(1) != "header"]
    assert set(msg_fields) == set(OUTCOME_FIELDS) - {"capture"}  # capture is the header stamp


def test_csv_round_trip_and_errors(tmp_path):
    rows = [outcome(0, "a", 1.25, 1_000_000), outcome(1, "b", 0.7, completed=False, reason="local_timeout")]
    path = write_csv(rows, tmp_path / "o.csv")
    assert read_csv(path) == rows
    lines = path.read_text().splitlines()
    (tmp_path / "bad.csv").write_text("\n".join([lines[0], lines[1].replace("1000000", "lots")]) + "\n")
    with pytest.raises(ValueError, match=r"bad\.csv:2"):
        read_csv(tmp_path / "bad.csv")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a FrameOutcome CSV"):
        read_csv(tmp_path / "other.csv")


def test_outcome_tail_returns_only_complete_new_lines(tmp_path):
    rows = [outcome(i, "a", 1.0 + i, 1000 * i) for i in range(3)]
    text = write_csv(rows, tmp_path / "full.csv").read_text()
    lines = text.splitlines(keepends=True)
    path = tmp_path / "live.csv"
    tail = OutcomeTail(path)
    assert tail.read() == []  # not created yet
    path.write_text(lines[0] + lines[1] + lines[2][:7])  # the device is half-way through a line
    assert tail.read() == rows[:1]
    path.write_text("".join(lines))
    assert tail.read() == rows[1:] and tail.read() == [] and tail.outcomes == rows
    (tmp_path / "other.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="not a FrameOutcome CSV"):
        OutcomeTail(tmp_path / "other.csv").read()


def test_metric_formulas_on_hand_made_outcomes():
    rows = [
        outcome(0, "a", 1.0, 1_000_000),
        outcome(1, "b", 2.0, 0),
        outcome(2, "a", 3.0, 2_000_000),
        outcome(3, "b", 0.5, completed=False, reason="local_timeout"),
    ]
    m = RunMetrics.of(rows)
    assert (m.frames, m.completed) == (4, 3)
    assert m.mean_bytes == 750_000
    assert m.mean_delay == 2.0 and m.p50_delay == 2.0
    assert m.p95_delay == pytest.approx(2.9) and m.p99_delay == pytest.approx(2.98)
    assert m.mean_local_delay == pytest.approx(0.3) and m.mean_transmit_delay == pytest.approx(0.2)
    assert m.mean_edge_delay == pytest.approx(1.5)
    assert m.drop_rate == 0.25 and m.drops_by_reason == {"local_timeout": 1}
    assert m.system_cost == pytest.approx(((1 + 1) + (0 + 2) + (2 + 3) + 10) / 4)
    assert m.frames_per_s == pytest.approx(3 / (2.0 + 3.0 - 0.0))  # last completion at capture 2 + 3 s
    splits = per_split(rows)
    assert list(splits) == ["a", "b"] and splits["a"].mean_bytes == 1_500_000 and splits["b"].drop_rate == 0.5
    table = format_table({"p": m})
    assert "| p | 4 | 750,000 | 2.000 |" in table and "25.0" in table and "local_timeout 1" in table
    empty = RunMetrics.of([outcome(0, "a", 1.0, completed=False, reason="edge_lost")])
    assert math.isnan(empty.mean_delay) and empty.drop_rate == 1.0 and empty.system_cost == 10.0
    assert "| - |" in format_table({"x": empty})


def test_percentile_matches_numpy_linear():
    values = sorted([0.3, 5.0, 1.0, 2.5, 2.5, 9.0, 0.0])
    for q in (0, 10, 50, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert math.isnan(percentile([], 50))
