"""scissor bench link's plan: which cases run, at which camera interval, and the report's goal lines."""
from __future__ import annotations

import pytest

from scissor_bringup.bench_link import COMPUTE_HEADROOM, MIN_FRAMES, LinkRow, format_report, plan
from scissor_core.analysis.link_fidelity import DelayError

from conftest import write_config


def test_the_plan_covers_split_0_a_middle_and_the_last_offloaded_split_at_each_link_use(tmp_path):
    config_file = write_config(tmp_path)
    cases = plan(config_file, ["alexnet", "resnet18"], None, ["const:1MB", "const:5MB"], [0.5, 0.8], seconds=30)
    tc = [c for c in cases if c.shaper == "tc"]
    assert len(tc) == 2 * 3 * 2 * 2
    assert {(c.model, c.split) for c in tc} == {("alexnet", "0"), ("alexnet", "conv4"), ("alexnet", "fc2"),
                                                ("resnet18", "0"), ("resnet18", "layer2.1"), ("resnet18", "pool")}
    app = [c for c in cases if c.shaper == "app"]  # per link one twin: the first model's middle split, first use
    assert [(c.model, c.split, c.link, c.use) for c in app] == [("alexnet", "conv4", "const:1MB", 0.5),
                                                                 ("alexnet", "conv4", "const:5MB", 0.5)]
    raw = next(c for c in tc if (c.model, c.split, c.link, c.use) == ("alexnet", "0", "const:1MB", 0.8))
    assert raw.interval == pytest.approx(602_168 / 0.8e6) and raw.reached_use == pytest.approx(0.8)
    assert raw.frames == round(30 / raw.interval)
    tiny = next(c for c in tc if (c.model, c.split, c.link) == ("resnet18", "pool", "const:5MB"))
    assert tiny.interval >= COMPUTE_HEADROOM * 0.09 and tiny.reached_use < 0.01  # compute-bound, says so
    assert all(c.frames >= MIN_FRAMES for c in cases)
    assert not [c for c in plan(config_file, ["alexnet"], ["conv2"], ["const:1MB"], [0.5], 30, loss=0.05)
                if c.shaper == "app"]  # the app shaper loses nothing: no twin under loss
    with pytest.raises(ValueError, match="sends nothing over the link"):
        plan(config_file, ["alexnet"], ["last"], ["const:1MB"], [0.5], 30)


def test_a_run_without_outcomes_counts_against_every_frame_has_an_outcome(tmp_path):
    (case,) = plan(write_config(tmp_path), ["alexnet"], ["conv2"], ["const:1MB"], [0.5], 10, loss=0.01)
    text = format_report([LinkRow(case, [], DelayError(0, float("nan"), float("nan")), float("nan"), [], [])])
    assert "every frame has an outcome: 0 of 1 runs" in text and "| 1% |" in text
