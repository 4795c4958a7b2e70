"""The typed config as read-only ROS parameters: one parameter per field, described by its docstring."""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.node import Node
from rclpy.parameter import Parameter

from scissor_core.config import DEFAULT_CONFIG, ScissorConfig, field_docs, from_dict, load_config

_PARAM_TYPES: dict[Any, int] = {
    bool: ParameterType.PARAMETER_BOOL,
    int: ParameterType.PARAMETER_INTEGER,
    float: ParameterType.PARAMETER_DOUBLE,
    str: ParameterType.PARAMETER_STRING,
}
_NONE_AS: dict[int, Any] = {ParameterType.PARAMETER_INTEGER: 0, ParameterType.PARAMETER_DOUBLE: 0.0,
                            ParameterType.PARAMETER_STRING: ""}


def _parameter_type(annotation: Any) -> tuple[int | None, bool, tuple[str, ...]]:
    """(ROS parameter type or None when not representable, whether None is allowed, Literal choices)."""
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(options) < len(typing.get_args(annotation))
        if len(options) != 1:
            return None, optional, ()
        annotation = options[0]
    if typing.get_origin(annotation) is Literal:
        return ParameterType.PARAMETER_STRING, optional, tuple(typing.get_args(annotation))
    if typing.get_origin(annotation) is list and typing.get_args(annotation) == (str,):
        return ParameterType.PARAMETER_STRING_ARRAY, optional, ()
    return _PARAM_TYPES.get(annotation), optional, ()


def declare_config(node: Node, fields: Mapping[str, Sequence[str] | None]) -> ScissorConfig:
    """Declare the node's config as read-only ROS parameters and return the validated config they give.

    ``config_file`` names the YAML (default ``config/scissor.yaml``); then every ``section.field`` in
    ``fields`` (None = the whole section) becomes a parameter defaulting from that file, described by the
    field's docstring. A None value is given as 0 / 0.0 / "" / unset; mappings stay YAML-only.
    Raises :class:`ConfigError` naming the parameter when a value is invalid.
    """
    read_only = {"read_only": True}
    path = node.declare_parameter(
        "config_file", str(DEFAULT_CONFIG),
        ParameterDescriptor(description="scissor YAML configuration the other parameters default from",
                            **read_only)).value
    config = load_config(path)
    data = dataclasses.asdict(config)
    for section, names in fields.items():
        cls = type(getattr(config, section))
        hints, docs = typing.get_type_hints(cls), field_docs(cls)
        for f in dataclasses.fields(cls):
            if names is not None and f.name not in names:
                continue
            kind, optional, choices = _parameter_type(hints[f.name])
            if kind is None:
                continue
            description = docs.get(f.name, "")
            if optional:
                description += " (0, empty or unset = none)"
            constraints = f"one of {', '.join(choices)}" if choices else ""
            descriptor = ParameterDescriptor(description=description, type=kind,
                                             additional_constraints=constraints, **read_only)
            value = data[section][f.name]
            if value is None or value == []:
                value = _NONE_AS.get(kind, Parameter.Type.STRING_ARRAY)
            got = node.declare_parameter(f"{section}.{f.name}", value, descriptor).value
            if got is None or (optional and got == _NONE_AS.get(kind)):
                got = None if optional else []
            data[section][f.name] = got
    return from_dict(data, f"{path} with the ROS parameters of {node.get_fully_qualified_name()}")
