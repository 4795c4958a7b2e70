"""Removing the shared-memory files of Fast DDS participants whose process is gone.

Each participant with the SHM transport has a segment in ``/dev/shm`` (64 MB with scissor's profile,
``config/fastdds_profile.xml``) and listens on ports there; tmpfs pages are RAM. A process that exits without
destroying its participant -- every scissor node does, through ``os._exit`` (:func:`scissor_ros.process.run_and_exit`),
and any process killed by a signal -- leaves its files behind, and nothing removes them: a day of test runs
filled the 24 GB ``/dev/shm`` of the machine this was written on until the OOM killer took nodes. Fast DDS
marks the files of a live participant with an ``flock`` held on a lock file beside them (``NAME_el`` or
``NAME_sl``) for as long as the process lives; its own ``fastdds shm clean`` removes the files whose lock it can
take. :func:`clean_zombie_shm` applies that rule to both name prefixes (Kilted's Fast DDS 3 writes ``fastdds_``,
Jazzy's Fast DDS 2 ``fastrtps_``). Scissor runs it when a node process starts and after the launcher's nodes
have exited. A node process also removes its own segment just before it exits
(:func:`release_own_segments`), so a clean exit leaves nothing; a killed one leaves its files to the next clean.

(The segment outlives the process because :func:`scissor_ros.process.leave` does not destroy the node, to stay
clear of a hang in rclpy, so the context's shutdown keeps the participant; ``os._exit`` then skips its
destruction.)
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
from pathlib import Path

SHM_DIR = Path("/dev/shm")
LOCK_NAME = re.compile(r"^(?P<stem>fast(?:dds|rtps)_(?:[0-9a-z]{16}|port\d{1,5}))_(?:el|sl)$")
"""A participant's segment (16 hex digits) or port lock file; the files it guards share its stem."""
MIN_AGE = 1.0
"""Seconds a lock file must exist before its files are judged: a participant creates it and locks it in the
next system call, so a young unlocked one may be half-way through that, not dead. (The launcher cleans right
after its nodes exit, so this must stay shorter than a short run.)"""


def _locked(path: Path) -> bool:
    """True when a live process holds the lock (the file could not be locked here without waiting)."""
    try:
        with path.open("ab") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    return False


def _remove(*paths: Path) -> int:
    """Unlink each path that exists; the bytes they held."""
    freed = 0
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            freed += path.stat().st_size
            path.unlink()
    return freed


SEGMENT_LOCK = re.compile(r"^fast(?:dds|rtps)_[0-9a-z]{16}_(?:el|sl)$")
"""A participant's segment lock file (not a port's: ports are opened by every participant of the domain)."""


def release_own_segments(directory: Path = SHM_DIR) -> int:
    """Unlink the segments this process's participants own (their lock file is open here), for a process about
    to exit without destroying them; the number of bytes freed. Peers that mapped a segment keep their
    mapping; no new one can open it, and none needs to: its owner is leaving."""
    freed = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = Path(os.readlink(f"/proc/self/fd/{fd}"))
            if target.parent != directory or not SEGMENT_LOCK.match(target.name):
                continue
            freed += _remove(directory / target.name[:-3], target)
    return freed


def clean_zombie_shm(directory: Path = SHM_DIR, min_age: float = MIN_AGE) -> int:
    """Remove every Fast DDS segment and port in ``directory`` whose owner is gone; the number of bytes freed.
    Files of live participants, and other programs' files, are left alone; a file another process removes at
    the same moment is skipped."""
    try:
        names = os.listdir(directory)
    except OSError:  # no /dev/shm (another OS) or not readable: nothing of ours to clean
        return 0
    now, freed = time.time(), 0
    for name in names:
        match = LOCK_NAME.match(name)
        if match is None:
            continue
        lock = directory / name
        with contextlib.suppress(OSError):
            if now - lock.stat().st_mtime < min_age or _locked(lock):
                continue
            stem = match["stem"]
            freed += _remove(directory / stem, directory / f"sem.{stem}_mutex", lock)
    return freed
