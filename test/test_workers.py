"""A runtime's threads stop within one bound, and a lock held by a stuck thread does not block shutdown."""
from __future__ import annotations

import threading

from scissor_core.runtime.workers import Workers, held


def test_stop_names_and_logs_the_threads_that_outlive_its_bound(caplog):
    condition, release = threading.Condition(), threading.Event()

    def stuck_in_a_call():
        release.wait()

    def polite():
        with condition:
            while not workers.stopping.is_set():
                condition.wait()

    workers = Workers(condition, {"stuck": stuck_in_a_call, "polite": polite})
    workers.start()
    try:
        with caplog.at_level("WARNING", logger="scissor_core.runtime.workers"):
            assert workers.stop(join_timeout=0.3) == ["stuck"]
        assert "thread stuck still running" in caplog.text and "in stuck_in_a_call" in caplog.text
    finally:
        release.set()


def test_held_runs_the_block_without_a_lock_a_stuck_thread_keeps(caplog):
    condition, taken, release = threading.Condition(), threading.Event(), threading.Event()

    def holder():
        with condition:
            taken.set()
            release.wait()

    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    assert taken.wait(30)
    try:
        with caplog.at_level("ERROR", logger="scissor_core.runtime.workers"):
            with held(condition, 0.2, "draining") as locked:
                assert not locked
        assert "draining without the runtime's lock" in caplog.text
    finally:
        release.set()
        thread.join(30)
    with held(condition, 5.0, "draining") as locked:  # free again: taken as usual
        assert locked
