"""The typed config refuses bad YAML with a message naming the key and the file."""
from __future__ import annotations

import dataclasses

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# ----------------------------------------------------------------------------- fuzz: config files come from users

_SECTIONS = {f.name: [g.name for g in dataclasses.fields(f.type if isinstance(f.type, type) else
                                                        getattr(ScissorConfig(), f.name).__class__)]
             for f in dataclasses.fields(ScissorConfig)}
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                     st.text(max_size=12), st.lists(st.integers(-3, 3), max_size=3))
_sections = st.sampled_from(sorted(_SECTIONS)).flatmap(
    lambda section: st.tuples(st.just(section), st.dictionaries(
        st.one_of(st.sampled_from(_SECTIONS[section]), st.text(max_size=8)), _scalars, max_size=4)))


@settings(max_examples=1000, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.one_of(st.lists(_sections, max_size=3).map(dict), _scalars,
                 st.dictionaries(st.text(max_size=8), _scalars, max_size=3)))
def test_fuzz_config_loads_or_raises_config_error(tmp_path, data):
    path = write(tmp_path, yaml.safe_dump(data))
    try:
        config = load_config(path)
    except ConfigError as exc:
        assert str(path) in str(exc) or "config" in str(exc)
        return
    assert isinstance(config, ScissorConfig)
