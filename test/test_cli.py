"""The ``scissor`` command line: each subcommand runs end to end and reports failures by exit code."""
from __future__ import annotations

import torch

from scissor_cli.main import main
from scissor_core.models.graph import Splitter
from scissor_core.runtime.costs import ModelProfile


def test_splits_lists_candidates_and_counts_cuts(capsys):
    assert main(["splits", "alexnet", "--all", "--all-limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "| conv1 | 3 | features_2[1, 64, 27, 27] | 186,624 |" in out
    assert "23 valid cuts in all" in out


def test_verify_passes_and_fails_by_exit_code(capsys, monkeypatch):
    assert main(["verify", "alexnet"]) == 0
    assert "OK: all 9 splits bit-identical" in capsys.readouterr().out
    original = Splitter.run_edge

    def perturbed(self, tensors, name):
        out = original(self, tensors, name)
        return out + 1e-6 if name == "conv3" else out

    monkeypatch.setattr(Splitter, "run_edge", perturbed)
    assert main(["verify", "alexnet"]) == 1
    assert "| conv3 |" in capsys.readouterr().out


def test_profile_writes_a_loadable_profile_and_plot(tmp_path, capsys):
    out = tmp_path / "alexnet.json"
    assert main(["profile", "alexnet", "--runs", "1", "--warmup", "0", "--device-slowdown", "4",
                 "--output", str(out), "--no-progress"]) == 0
    profile = ModelProfile.load(out)
    assert [c.split for c in profile.cuts][0] == "0" and profile.cuts[-1].split == "last"
    conv1 = profile.cut("conv1")
    assert conv1.device_time == conv1.device_measured.median * 4
    assert conv1.bytes["raw"] > conv1.bytes["int8"] and "jpeg-q90" not in conv1.bytes
    assert "jpeg-q90" in profile.cut("0").bytes
    assert out.with_suffix(".png").stat().st_size > 10_000


def test_bench_commands_print_measured_tables(capsys):
    assert main(["bench", "split", "alexnet", "--runs", "1", "--warmup", "0", "--no-progress"]) == 0
    assert "worst ratio" in capsys.readouterr().out
    assert main(["bench", "codec", "alexnet", "--frames", "1", "--splits", "0,conv5",
                 "--codecs", "raw,int8,jpeg-q90", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "| 0 | jpeg-q90 |" in out and "| conv5 | raw |" in out and "| conv5 | jpeg" not in out


def test_bench_codec_on_a_detector_writes_the_table_frontier_and_plot(tmp_path, capsys):
    """Two frames of the synthetic scene through YOLOv3-tiny (seeded random weights: no asset needed)."""
    assert main(["bench", "codec", "yolov3-tiny", "--set", "model.weights=random", "--set", "model.input_size=128",
                 "--source", "scene", "--frames", "2", "--splits", "0,4", "--codecs", "raw,raw+zstd,int8,jpeg-q90",
                 "--output", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 frames of synthetic traffic scene" in out and "mAP@0.5 vs fp32" in out
    assert "| 4 | raw+zstd |" in out and "cheapest codec at agreement >= 0.99" in out and "goal (a feature-map" in out
    rows = (tmp_path / "codec-yolov3-tiny.csv").read_text().splitlines()
    assert rows[0].startswith("split,codec,bytes") and len(rows) == 1 + 4 + 3  # split 0: + jpeg; 4: no jpeg
    assert (tmp_path / "codec-yolov3-tiny.png").stat().st_size > 10_000


def test_bad_config_exits_2_with_a_message(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  wieghts: x\n")
    assert main(["verify", "alexnet", "--config", str(bad)]) == 2
    assert "unknown key 'wieghts'" in capsys.readouterr().err
    assert main(["verify", "alexnet", "--weights", str(tmp_path / "missing.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_torch_threads_are_restored():
    before = torch.get_num_threads()
    main(["bench", "split", "alexnet", "--runs", "1", "--warmup", "0", "--threads", "2", "--no-progress"])
    assert torch.get_num_threads() == before
