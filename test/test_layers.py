"""The layers only point down: no module imports from a layer above its own, lazy imports included.

Bottom to top: the ROS-free core (itself layered: config and plots, the wire, the models, frame
sources, the runtime, policies, simulation, analysis) -> what the nodes import from ROS
(``scissor_ros``) -> the nodes -> orchestration (``scissor_bringup``, the launch files) -> the
command line (``scissor_cli``). Modules within one layer may import each other. The check reads
every import statement of every module with ``ast``, so an import inside a function counts as
much as one at the top.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from repo_paths import PACKAGE_DIR

LAYERS: tuple[tuple[str, ...], ...] = (
    ("scissor_core.config", "scissor_core.plots", "scissor_core"),
    ("scissor_core.wire",),
    ("scissor_core.models",),
    ("scissor_core.sources",),
    ("scissor_core.runtime",),
    ("scissor_core.policies",),
    ("scissor_core.simulation",),
    ("scissor_core.analysis",),
    ("scissor_ros",),
    ("scissor_device", "scissor_edge", "scissor_agent"),
    ("scissor_bringup", "launch"),
    ("scissor_cli",),
)
"""Module prefixes per layer, bottom first (the longest matching prefix decides a module's layer)."""

ROS_MODULES = ("rclpy", "rcl_interfaces", "rosidl", "ament_index_python", "launch", "launch_ros", "builtin_interfaces",
               "std_msgs", "sensor_msgs", "diagnostic_msgs", "scissor_msgs", "vision_msgs")
"""Top-level modules of ROS itself: the core imports none of them."""

PACKAGES = ("scissor_core", "scissor_ros", "scissor_device", "scissor_edge", "scissor_agent", "scissor_bringup",
            "scissor_cli")


def layer_of(module: str) -> int | None:
    """The layer index of a scissor module (None for anything else: the standard library, torch, rclpy...)."""
    best, best_len = None, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    return best


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR).with_suffix("").parts
    if parts[0] == "launch":
        return "launch." + path.name.removesuffix(".py").replace(".", "_")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, relative imports resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path).rpartition(".")[0] if path.name != "__init__.py" else module_name(path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names
                      if layer_of(f"{base}.{alias.name}") is not None and layer_of(base) is not None]
    return found


def project_files() -> list[Path]:
    files = [p for package in PACKAGES for p in (PACKAGE_DIR / package).rglob("*.py")]
    return sorted(files + list((PACKAGE_DIR / "launch").glob("*.launch.py")))


def test_every_package_module_has_a_layer():
    assert project_files(), "no modules found"
    for path in project_files():
        assert layer_of(module_name(path)) is not None, path


@pytest.mark.parametrize("path", project_files(), ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_no_import_from_a_layer_above(path):
    own = layer_of(module_name(path))
    upward = [f"line {line}: {module} ({'/'.join(LAYERS[layer_of(module)])})"
              for line, module in imported_modules(path)
              if layer_of(module) is not None and layer_of(module) > own]
    assert not upward, f"{module_name(path)} (layer {'/'.join(LAYERS[own])}) imports from above: {upward}"


@pytest.mark.parametrize("path", [p for p in project_files() if module_name(p).startswith("scissor_core")],
                         ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_the_core_imports_no_ros(path):
    ros = [f"line {line}: {module}" for line, module in imported_modules(path)
           if module.split(".")[0] in ROS_MODULES]
    assert not ros, f"{module_name(path)} imports ROS: {ros}"


def test_the_checker_sees_lazy_and_relative_imports(tmp_path, monkeypatch):
    """A function-level import and a relative import are found (the test would pass vacuously otherwise)."""
    package = tmp_path / "scissor_core" / "runtime"
    package.mkdir(parents=True)
    (package / "probe.py").write_text(
        "def f():\n    from scissor_cli.main import main\n\nfrom ..analysis import metrics\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE_DIR", tmp_path)
    found = [module for _, module in imported_modules(package / "probe.py")]
    assert "scissor_cli.main" in found and "scissor_core.analysis.metrics" in found
    assert layer_of("scissor_cli.main") > layer_of("scissor_core.runtime.probe") < layer_of("scissor_core.analysis")
