"""The strict-skip mode CI runs in: a skip fails the run there, and stays a skip elsewhere."""
from __future__ import annotations

import os
import subprocess
import sys

from repo_paths import REPO

from strict_skips import STRICT_SKIPS


def run_pytest(tmp_path, strict: bool) -> subprocess.CompletedProcess:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_optional.py").write_text(
        "import pytest\n\n"
        "def test_needs_a_part():\n    pytest.skip('no such part here')\n\n"
        "@pytest.mark.xfail(reason='known', strict=True)\n"
        "def test_known_failure():\n    assert False\n\n"
        "def test_plain():\n    assert True\n")
    env = {**os.environ, "PYTHONPATH": str(REPO / "test"), STRICT_SKIPS: "1" if strict else "0"}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "strict_skips", "-p", "no:cacheprovider", "-q",
                           "-rA", str(tmp_path / "test_optional.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_skip_fails_under_strict_skips_with_its_reason(tmp_path):
    run = run_pytest(tmp_path, strict=True)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 1 passed, 1 xfailed" in run.stdout
    assert f"skipped under {STRICT_SKIPS}=1, where every optional part is installed" in run.stdout
    assert "no such part here" in run.stdout


def test_a_skip_stays_a_skip_without_it(tmp_path):
    run = run_pytest(tmp_path, strict=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed, 1 skipped, 1 xfailed" in run.stdout
