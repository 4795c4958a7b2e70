"""The typed config refuses bad YAML with a message naming the key and the file."""
from __future__ import annotations

import pytest

from scissor_core.config import DEFAULT_CONFIG, ConfigError, ScissorConfig, from_dict, load_config


def write(tmp_path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_shipped_config_loads_and_equals_defaults():
    assert load_config(DEFAULT_CONFIG) == ScissorConfig()


def test_misspelled_key_is_named_with_suggestion_and_file(tmp_path):
    path = write(tmp_path, "model:\n  nmae: alexnet\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and "'nmae'" in str(err.value) and "did you mean 'name'" in str(err.value)


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'modle'"):
        load_config(write(tmp_path, "modle: {}\n"))


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("profile:\n  runs: ten\n", "profile.runs: expected int"),
        ("profile:\n  runs: true\n", "profile.runs: expected int"),
        ("profile:\n  device_slowdown: fast\n", "profile.device_slowdown: expected a number"),
        ("model:\n  name: vgg\n", "model.name: 'vgg' is not one of"),
        ("codec:\n  encoding: png\n", "codec.encoding"),
        ("model:\n  candidates: 5\n", "model.candidates"),
        ("model:\n  extra_candidates: {a: [1]}\n", "model.extra_candidates.a[0]: expected str"),
        ("model: 3\n", "model: expected a mapping"),
        ("- 1\n", "top level must be a mapping"),
        ("profile:\n  runs: 0\n", "profile.runs must be at least 1"),
        ("model:\n  input_size: 100\n", "model.input_size must be a multiple of 32"),
        ("codec:\n  jpeg_quality: 101\n", "codec.jpeg_quality"),
    ],
)
def test_wrong_types_and_ranges_are_refused(tmp_path, text, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert fragment in str(err.value) and str(path) in str(err.value)


def test_missing_files_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match=r"model.weights: file .*nothing.pt does not exist"):
        load_config(write(tmp_path, "model:\n  weights: /nothing.pt\n"))


def test_invalid_yaml_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "model: [\n"))


def test_overrides_and_types(tmp_path):
    config = load_config(write(tmp_path, "model:\n  name: alexnet\n"),
                         {"profile.runs": 3, "profile.device_slowdown": 4})
    assert config.model.name == "alexnet"
    assert config.profile.runs == 3
    assert config.profile.device_slowdown == 4.0 and isinstance(config.profile.device_slowdown, float)


def test_empty_file_gives_defaults(tmp_path):
    assert load_config(write(tmp_path, "")) == ScissorConfig()
    assert from_dict({}) == ScissorConfig()
