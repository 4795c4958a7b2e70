"""Authenticated encryption of the feature payload between device and edge (AES-256-GCM).

The Fast DDS of the pip ROS 2 wheels has no DDS-Security, so feature maps and frames
(which show what the camera sees) would cross the network in clear. With a shared key
(``link.key_file``) the device *seals* each wire-codec blob and the edge *opens* it:

    sealed blob = b"SCSL" + version (1 byte) + nonce (12 bytes) + ciphertext + GCM tag (16 bytes)
    nonce       = session id (4 random bytes per Sealer) + counter (8 bytes, big endian, from 0)

The metadata the edge trusts (``seq``, ``model``, ``split``, ``codec``) travels in clear in
the FeatureMap but is bound as associated data: changing it, like changing one bit of the
payload, makes opening fail. The :class:`Opener` keeps per session id the highest counter
and a sliding window (default 64) of the counters below it, so a payload sent again, or
one older than the window, is rejected. Sessions are only recorded after a payload
authenticated, so nobody without the key can fill the table or move a window.

:meth:`Opener.open` raises only :class:`SealError`, whose ``kind`` is ``tampered``,
``replayed``, ``unsealed`` or ``malformed``. Key files hold the 32-byte key as 64
hexadecimal digits (one line); :func:`load_key` refuses a missing file, a file that
group or other may access (``mode & 0o077``) and a wrong length. :func:`write_key`
makes a new one with mode 0600 (``scissor keygen PATH``).

Limits: a random 4-byte session id means two Sealers of one key share an id (and so
reuse nonces if their counters overlap) with probability about n^2 / 2^33 after n device
starts: make a new key long before tens of thousands of restarts.
"""
from __future__ import annotations

import os
import re
import secrets
import stat
import struct
import threading
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"SCSL"
VERSION = 1
PREFIX = MAGIC + bytes([VERSION])
KEY_BYTES = 32
SESSION_BYTES = 4
NONCE_BYTES = 12
TAG_BYTES = 16
OVERHEAD = len(PREFIX) + NONCE_BYTES + TAG_BYTES
"""Bytes a sealed blob has more than the payload (33)."""
DEFAULT_WINDOW = 64
KINDS = ("tampered", "replayed", "unsealed", "malformed")
_COUNTER = struct.Struct(">Q")
_SEQ = struct.Struct(">Q")
_LEN = struct.Struct(">I")
_CODEC_MAGIC = b"SCSR"  # scissor_core.wire.codec.MAGIC (not imported: the codec pulls in numpy/OpenCV)
_HEX_KEY = re.compile(rb"[0-9a-fA-F]{64}")


class SealError(ValueError):
    """A payload that cannot be opened; ``kind`` is one of :data:`KINDS`, the message starts with it."""

    def __init__(self, kind: str, problem: str) -> None:
        super().__init__(f"{kind}: {problem}")
        self.kind = kind


class KeyFileError(ValueError):
    """A key file that is missing, readable by group/other, or not 32 bytes in hex; the message names it."""


# ----------------------------------------------------------------------------- key files


def load_key(path: str | os.PathLike[str]) -> bytes:
    """The 32-byte key in ``path`` (64 hex digits); raises :class:`KeyFileError` naming path and mode."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} does not exist (make one with `scissor keygen {path}`)") from None
    except OSError as exc:
        raise KeyFileError(f"key file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"key file {path} is not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise KeyFileError(f"key file {path} has mode {mode:04o}: group/other may access it "
                           f"(mode & 0o077 must be 0); run chmod 600 {path}")
    try:
        with path.open("rb") as f:
            text = f.read(4096).strip()
    except OSError as exc:
        raise KeyFileError(f"key file {path}: {exc.strerror}") from None
    if not _HEX_KEY.fullmatch(text):
        got = f"{len(text)} hex digits" if re.fullmatch(rb"[0-9a-fA-F]*", text) else "other characters"
        raise KeyFileError(f"key file {path} must hold {KEY_BYTES} bytes as {2 * KEY_BYTES} hexadecimal digits "
                           f"on one line (got {got})")
    return bytes.fromhex(text.decode("ascii"))


def write_key(path: str | os.PathLike[str]) -> Path:
    """Write a new random key to ``path`` (mode 0600, 64 hex digits and a newline); never overwrites."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        raise KeyFileError(f"key file {path} already exists: not overwritten (remove it first)") from None
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, secrets.token_bytes(KEY_BYTES).hex().encode("ascii") + b"\n")
    finally:
        os.close(fd)
    return path


def key_from_config(config: Any) -> bytes | None:
    """The key of ``link.key_file`` of a :class:`~scissor_core.config.ScissorConfig` (None when unset);
    a bad key file raises :class:`~scissor_core.config.ConfigError` naming the key."""
    from scissor_core.config import ConfigError

    if config.link.key_file is None:
        return None
    try:
        return load_key(config.resolve_path(config.link.key_file))
    except KeyFileError as exc:
        raise ConfigError(f"link.key_file: {exc}") from None


# ----------------------------------------------------------------------------- sealing


def associated_data(seq: int, model: str, split: str, codec: str) -> bytes:
    """The bytes that bind a blob to its FeatureMap's metadata (and to the sealing version)."""
    if not isinstance(seq, int) or not 0 <= seq < 2**64:
        raise SealError("malformed", f"seq {seq!r} is not a uint64")
    parts = [PREFIX, _SEQ.pack(seq)]
    for name, value in (("model", model), ("split", split), ("codec", codec)):
        if not isinstance(value, str):
            raise SealError("malformed", f"{name} {value!r} is not a string")
        data = value.encode("utf-8", "surrogatepass")
        parts += [_LEN.pack(len(data)), data]
    return b"".join(parts)


def is_sealed(payload: Any) -> bool:
    """Whether ``payload`` (bytes-like) starts like a sealed blob."""
    try:
        return bytes(memoryview(payload).cast("B")[:len(MAGIC)]) == MAGIC
    except (TypeError, ValueError):
        return False


def _check_key(key: bytes) -> AESGCM:
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_BYTES:
        raise ValueError(f"the key must be {KEY_BYTES} bytes")
    return AESGCM(bytes(key))


class Sealer:
    """The device side: seals payloads under one random session id with an increasing counter (thread-safe)."""

    def __init__(self, key: bytes, session: bytes | None = None) -> None:
        self._aead = _check_key(key)
        self.session = os.urandom(SESSION_BYTES) if session is None else bytes(session)
        if len(self.session) != SESSION_BYTES:
            raise ValueError(f"a session id is {SESSION_BYTES} bytes")
        self._counter = 0
        self._lock = threading.Lock()

    def seal(self, payload: Any, *, seq: int, model: str, split: str, codec: str) -> bytearray:
        """``payload`` (bytes-like) sealed and bound to the FeatureMap's seq, model, split and codec."""
        aad = associated_data(seq, model, split, codec)
        with self._lock:
            counter = self._counter
            if counter >= 2**64:
                raise OverflowError("this Sealer's 2^64 counters are used up: make a new Sealer")
            self._counter += 1
        nonce = self.session + _COUNTER.pack(counter)
        data = memoryview(payload).cast("B")
        out = bytearray(len(PREFIX) + NONCE_BYTES + len(data) + TAG_BYTES)
        out[:len(PREFIX)] = PREFIX
        out[len(PREFIX):len(PREFIX) + NONCE_BYTES] = nonce
        self._aead.encrypt_into(nonce, data, aad, memoryview(out)[len(PREFIX) + NONCE_BYTES:])
        return out


class _Window:
    """Anti-replay window of one session: the highest accepted counter and a bitmap of the ones below it."""

    __slots__ = ("top", "mask")

    def __init__(self) -> None:
        self.top, self.mask = -1, 0  # bit i of mask: counter top - i was accepted

    def problem(self, counter: int, size: int) -> str | None:
        if counter > self.top:
            return None
        behind = self.top - counter
        if behind >= size:
            return f"counter {counter} is older than the replay window ({size} below the highest, {self.top})"
        if self.mask >> behind & 1:
            return f"counter {counter} was already accepted"
        return None

    def accept(self, counter: int, size: int) -> None:
        if counter > self.top:
            self.mask = ((self.mask << (counter - self.top)) | 1) & ((1 << size) - 1)
            self.top = counter
        else:
            self.mask |= 1 << (self.top - counter)


class Opener:
    """The edge side: authenticates, decrypts and rejects replays (thread-safe). Raises only SealError."""

    def __init__(self, key: bytes, window: int = DEFAULT_WINDOW) -> None:
        self._aead = _check_key(key)
        if window < 1:
            raise ValueError("the replay window must be at least 1")
        self.window = window
        self._sessions: dict[bytes, _Window] = {}
        self._lock = threading.Lock()

    def open(self, blob: Any, *, seq: int, model: str, split: str, codec: str) -> bytearray:
        """The payload of a sealed ``blob`` (bytes-like) whose FeatureMap carries this metadata."""
        try:
            view = memoryview(blob).cast("B")
        except (TypeError, ValueError) as exc:
            raise SealError("malformed", f"payload is not a contiguous byte buffer ({exc})") from None
        if len(view) == 0:
            raise SealError("malformed", "empty payload")
        head = bytes(view[:len(PREFIX)])
        if not head.startswith(MAGIC):
            what = ("a plain wire-codec blob" if head.startswith(_CODEC_MAGIC)
                    else f"it starts with {head[:len(MAGIC)]!r}")
            raise SealError("unsealed", f"payload is not sealed ({what}, not {MAGIC!r}): "
                                        "was it sent without link.key_file?")
        if len(head) == len(PREFIX) and head[len(MAGIC)] != VERSION:
            raise SealError("malformed", f"unsupported sealing version {head[len(MAGIC)]}, this edge reads {VERSION}")
        if len(view) < OVERHEAD:
            raise SealError("malformed", f"truncated: {len(view)} bytes, a sealed payload has at least {OVERHEAD}")
        aad = associated_data(seq, model, split, codec)
        nonce = bytes(view[len(PREFIX):len(PREFIX) + NONCE_BYTES])
        session, (counter,) = nonce[:SESSION_BYTES], _COUNTER.unpack(nonce[SESSION_BYTES:])
        self._check_replay(session, counter)  # cheap, before spending AES on a replay
        body = view[len(PREFIX) + NONCE_BYTES:]
        out = bytearray(len(body) - TAG_BYTES)
        try:
            self._aead.decrypt_into(nonce, body, aad, out)
        except InvalidTag:
            raise SealError("tampered", "authentication failed: the payload or its seq/model/split/codec "
                                        "changed on the way, or it was sealed with another key") from None
        with self._lock:
            self._check_replay(session, counter)  # again: another thread may have accepted it meanwhile
            self._sessions.setdefault(session, _Window()).accept(counter, self.window)
        return out

    def _check_replay(self, session: bytes, counter: int) -> None:
        window = self._sessions.get(session)
        problem = window.problem(counter, self.window) if window is not None else None
        if problem is not None:
            raise SealError("replayed", f"session {session.hex()}: {problem}")
