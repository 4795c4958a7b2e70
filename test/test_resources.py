"""Where installed data is found: the ament index of the prefixes on AMENT_PREFIX_PATH, never the source tree."""
from __future__ import annotations

from pathlib import Path

import pytest

from scissor_core.config import CONFIG_DIR, DEFAULT_CONFIG, ConfigError, load_config
from scissor_core.resources import INDEX_MARKER, PACKAGE, installed_prefixes, resolve_data_path, share_dir


def make_prefix(root: Path, registered: bool = True) -> Path:
    (root / "share" / PACKAGE / "config").mkdir(parents=True)
    if registered:
        (root / INDEX_MARKER).parent.mkdir(parents=True)
        (root / INDEX_MARKER).touch()
    return root


def test_the_first_registered_prefix_on_the_path_wins_and_unregistered_ones_are_skipped(tmp_path):
    overlay, underlay, bare = (make_prefix(tmp_path / "ws"), make_prefix(tmp_path / "venv"),
                               make_prefix(tmp_path / "bare", registered=False))
    path = ":".join(map(str, (bare, overlay, underlay)))
    assert installed_prefixes({"AMENT_PREFIX_PATH": path}, fallback=str(tmp_path / "none")) == [overlay, underlay]
    # no AMENT_PREFIX_PATH: a plain pip install's sys.prefix
    assert installed_prefixes({}, fallback=str(underlay)) == [underlay]
    assert installed_prefixes({}, fallback=str(bare)) == []


def test_this_run_finds_the_installed_share_and_not_the_source_tree():
    """make install registers the package in the venv's index: the default config is the installed one."""
    assert installed_prefixes(), "scissor_bringup is in no ament index (run make install)"
    assert share_dir() == installed_prefixes()[0] / "share" / PACKAGE
    assert DEFAULT_CONFIG == share_dir() / "config" / "scissor.yaml" and CONFIG_DIR == share_dir() / "config"
    assert load_config(DEFAULT_CONFIG).resolve_path("config/models/yolov3.cfg") == CONFIG_DIR / "models" / "yolov3.cfg"


def test_a_relative_path_names_the_current_directorys_file_first_then_the_installed_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    installed = resolve_data_path("config/models/yolov3.cfg")
    assert installed == share_dir() / "config" / "models" / "yolov3.cfg" and installed.is_file()
    own = tmp_path / "config" / "models" / "yolov3.cfg"
    own.parent.mkdir(parents=True)
    own.write_text("[net]\n")
    assert resolve_data_path("config/models/yolov3.cfg") == own
    # an output (in neither place) goes to the current directory; an absolute path stays as it is
    assert resolve_data_path("results/run/outcomes.csv") == tmp_path / "results" / "run" / "outcomes.csv"
    assert resolve_data_path("/x/y.csv") == Path("/x/y.csv")


def test_a_missing_config_file_is_named(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=f"config file {missing} does not exist"):
        load_config(missing)
