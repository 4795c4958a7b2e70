"""Freeing the shared memory of dead Fast DDS participants: only files whose lock no process holds."""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

from scissor_ros.shm import clean_zombie_shm

SEGMENT = "fastdds_0123456789abcdef"
PORT = "fastrtps_port7411"


def make(directory: Path, name: str, size: int = 1000, age: float = 60.0) -> Path:
    path = directory / name
    path.write_bytes(b"x" * size)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_files_of_a_dead_participant_go_and_a_live_ones_stay(tmp_path):
    for stem in (SEGMENT, PORT, "fastdds_fedcba9876543210"):
        make(tmp_path, stem, 5000)
        make(tmp_path, f"{stem}_el")
    make(tmp_path, f"sem.{PORT}_mutex", 32)
    other = make(tmp_path, "postgres_shm", 7)  # not Fast DDS's
    live = (tmp_path / "fastdds_fedcba9876543210_el").open("ab")
    fcntl.flock(live, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held as a live participant holds it
    try:
        freed = clean_zombie_shm(tmp_path)
    finally:
        live.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fastdds_fedcba9876543210", "fastdds_fedcba9876543210_el",
                                                          other.name]
    assert freed == 2 * (5000 + 1000) + 32


def test_a_lock_held_by_another_process_keeps_its_files(tmp_path):
    make(tmp_path, SEGMENT)
    lock = make(tmp_path, f"{SEGMENT}_el")
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time\n"
                               f"f = open({str(lock)!r}, 'ab'); fcntl.flock(f, fcntl.LOCK_EX)\n"
                               "print('locked', flush=True); time.sleep(600)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert clean_zombie_shm(tmp_path) == 0 and (tmp_path / SEGMENT).exists()
    finally:
        holder.kill()
        holder.wait()
    assert clean_zombie_shm(tmp_path) > 0 and not (tmp_path / SEGMENT).exists()  # its owner is gone now


def test_a_young_unlocked_lock_is_not_judged_yet(tmp_path):
    make(tmp_path, SEGMENT)
    make(tmp_path, f"{SEGMENT}_el", age=0.0)  # created a moment ago: its owner may be about to lock it
    assert clean_zombie_shm(tmp_path) == 0
    assert clean_zombie_shm(tmp_path, min_age=0.0) > 0


def test_a_missing_directory_is_nothing_to_clean(tmp_path):
    assert clean_zombie_shm(tmp_path / "absent") == 0


def test_a_process_releases_the_segments_whose_lock_it_holds_and_no_others(tmp_path):
    from scissor_ros.shm import release_own_segments

    for stem in (SEGMENT, "fastdds_fedcba9876543210", PORT):
        make(tmp_path, stem, 4000)
        make(tmp_path, f"{stem}_el")
    with (tmp_path / f"{SEGMENT}_el").open("ab") as own, (tmp_path / f"{PORT}_el").open("ab") as port:
        fcntl.flock(own, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(port, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert release_own_segments(tmp_path) == 4000 + 1000
    assert not (tmp_path / SEGMENT).exists() and not (tmp_path / f"{SEGMENT}_el").exists()
    assert (tmp_path / "fastdds_fedcba9876543210").exists()  # another participant's
    assert (tmp_path / PORT).exists()  # ports are shared by every participant of the domain
