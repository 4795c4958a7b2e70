"""With ``SCISSOR_STRICT_SKIPS=1`` (set by ``.ci/run``) a skipped test is a failure.

A test skips when an optional part is absent: registry assets (``make assets`` fetches them best-effort),
the OpenCV 4 side venv, the launch stack, vision_msgs, root and tc for netns links. On a user's machine that
is right. CI builds every one of them, so there a skip means a part silently failed to install and the test
it guards did not run."""
from __future__ import annotations

import os

import pytest

STRICT_SKIPS = "SCISSOR_STRICT_SKIPS"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.skipped and not hasattr(report, "wasxfail") and os.environ.get(STRICT_SKIPS) == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under {STRICT_SKIPS}=1, where every optional part is installed: {reason}"
