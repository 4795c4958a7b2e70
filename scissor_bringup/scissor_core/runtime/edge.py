"""The live edge, without ROS: each frame's feature payload opened, decoded, checked and finished.

``EdgeRuntime`` is what ``edge_node`` adapts to topics (and what the device's tests answer with).
For every :class:`~scissor_core.runtime.records.FeaturePayload` it produces exactly one
:class:`~scissor_core.runtime.records.EdgeResult`: the post-processed prediction, or an ``error``
``<field>: <problem>`` naming the payload field at fault (:class:`EdgeError`), never an exception.
The pipeline per payload: the model and ``payload_bytes`` checked, the sealed payload opened
(``link.key_file``), the wire-codec blob decoded for the split, NaN/Inf refused, the tail run on
``edge.device``, the output post-processed (boxes mapped to the camera frame's pixels).

Serving model (:class:`EdgeQueue`): payloads wait in one FIFO queue and at most ``capacity`` are in
service at once -- 1 by default: a CPU, or a GPU running one stream, serves one frame at a time,
and a frame that arrives meanwhile waits (its wait is the result's ``edge_wait``). A GPU edge that
serves several frames in parallel is a configured capacity (``edge.capacity``), not the default.
The queue's length is observable (:attr:`EdgeRuntime.queue_length`). The same class is the model a
simulator's edge should follow.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from scissor_core.config import ScissorConfig
from scissor_core.models.detection import LetterboxInfo, letterbox
from scissor_core.models.graph import CutError
from scissor_core.models.registry import Prediction, VisionModel, load_model
from scissor_core.runtime.clock import SYSTEM_CLOCK, Clock
from scissor_core.runtime.queues import EdgeQueue
from scissor_core.runtime.records import EdgeResult, FeaturePayload, Receipt, with_prediction
from scissor_core.runtime.workers import STOP_TIMEOUT, Workers, held
from scissor_core.wire.codec import CodecError
from scissor_core.wire.sealing import Opener, SealError, is_sealed, key_from_config

log = logging.getLogger(__name__)


class EdgeError(ValueError):
    """A feature payload the edge cannot process; ``field`` names the offending FeatureMap field."""

    def __init__(self, field: str, problem: object, kind: str = "") -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.kind = kind
        """For ``sealing``: why the payload was rejected (a SealError kind, or ``no_key``)."""


@lru_cache(maxsize=8)
def letterbox_info(width: int, height: int, size: int) -> LetterboxInfo:
    """How the device letterboxed a ``width`` x ``height`` frame (the same code, on a blank frame)."""
    return letterbox(np.zeros((height, width, 3), np.uint8), size)[1]


def pick_device(choice: str) -> torch.device:
    """``auto``: the GPU when torch sees one, else the CPU."""
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


@dataclass(slots=True)
class Served:
    """What the edge hands back for one payload: its result, the prediction (None on an error) and, for a
    rejected sealed payload, why (an :class:`EdgeError` kind)."""

    result: EdgeResult
    prediction: Prediction | None
    rejection: str = ""


class EdgeRuntime:
    """The edge's pipeline over a serving queue (thread-safe; ``start`` the servers, ``stop`` them)."""

    def __init__(self, model: VisionModel, *, emit: Callable[[Served], None], device: torch.device | None = None,
                 opener: Opener | None = None, capacity: int = 1, clock: Clock = SYSTEM_CLOCK) -> None:
        """``emit`` receives every :class:`Served`, from a server thread."""
        self.model, self.emit, self.opener, self.clock = model, emit, opener, clock
        self.device = device or torch.device("cpu")
        self.queue = EdgeQueue(capacity)
        self._cv = threading.Condition()
        self._servers = Workers(self._cv, {f"edge-server-{i}": self._serve for i in range(capacity)})
        self._stop = self._servers.stopping

    @classmethod
    def from_config(cls, config: ScissorConfig, emit: Callable[[Served], None],
                    clock: Clock = SYSTEM_CLOCK) -> EdgeRuntime:
        """The config's model on ``edge.device`` with ``edge.capacity`` servers and ``link.key_file``'s
        key; every candidate split's tail is built now, not on its first frame."""
        key = key_from_config(config)
        model = load_model(config)
        device = pick_device(config.edge.device)
        model.module.to(device)
        for split in model.candidates:
            model.splitter.parts(split)
        return cls(model, emit=emit, device=device, opener=Opener(key) if key is not None else None,
                   capacity=config.edge.capacity, clock=clock)

    # ---------------------------------------------------------------- serving
    def start(self) -> None:
        self._servers.start()

    def stop(self, join_timeout: float = STOP_TIMEOUT) -> int:
        """Stop serving (bounded like the device's); returns how many payloads were still waiting (they
        get no result)."""
        self._servers.stop(join_timeout)
        with held(self._cv, 1.0, "clearing the queue"):
            left = self.queue.length
            self.queue.waiting.clear()
        return left

    def accept(self, payload: FeaturePayload) -> Receipt:
        """Queue a payload for service and return its receipt: the edge holds the whole payload now, which
        ends the frame's transmission for the device (its ``edge_wait`` counts from here)."""
        with self._cv:
            ahead = self.queue.length
            self.queue.arrive(payload, self.clock.now())
            self._cv.notify()
        return Receipt(payload.seq, payload.stamp_ns, payload.frame_id, payload.model,
                       len(memoryview(payload.payload).cast("B")), ahead)

    @property
    def queue_length(self) -> int:
        """Payloads waiting for a server."""
        with self._cv:
            return self.queue.length

    def _serve(self) -> None:
        self.model.warm_up()  # in this thread: the first torch call of a thread differs in the lowest bits
        while True:
            with self._cv:
                while not self._stop.is_set() and (started := self.queue.start(self.clock.now())) is None:
                    self._cv.wait(0.1)
                if self._stop.is_set():
                    return
            payload, queued = started
            try:
                self.emit(self.process(payload, queued))
            except Exception:  # noqa: BLE001 -- a failing consumer must not stop the edge
                log.exception("frame %d: handing back its result failed", payload.seq)
            finally:
                with self._cv:
                    self.queue.finish()
                    self._cv.notify()

    # ---------------------------------------------------------------- pipeline
    def process(self, payload: FeaturePayload, edge_wait: float = 0.0) -> Served:
        """One payload through the pipeline: always a result, with ``error`` set when it was rejected."""
        result = EdgeResult(payload.seq, payload.stamp_ns, payload.frame_id, payload.model, payload.split,
                            edge_wait=edge_wait)
        try:
            prediction, result.decode_time, result.edge_compute = self.infer(payload)
        except EdgeError as exc:
            result.error = str(exc)
            return Served(result, None, exc.kind)
        return Served(with_prediction(result, prediction, self.model.class_names), prediction)

    def infer(self, payload: FeaturePayload) -> tuple[Prediction, float, float]:
        """Open, decode, run the tail, post-process: (prediction, decode s, compute s); raises EdgeError."""
        if payload.model != self.model.name:
            raise EdgeError("model", f"{payload.model!r}, but this edge runs {self.model.name!r}")
        view = memoryview(payload.payload).cast("B")
        if payload.payload_bytes != len(view):
            raise EdgeError("payload_bytes", f"says {payload.payload_bytes}, payload has {len(view)} bytes")
        if self.model.task == "detection" and min(payload.frame_width, payload.frame_height) < 1:
            raise EdgeError("frame_width", f"{payload.frame_width}x{payload.frame_height}: a detector maps its boxes "
                                           "to the camera frame, whose size the FeatureMap must carry")
        start = time.perf_counter()
        if self.opener is not None:
            try:
                view = self.opener.open(view, seq=payload.seq, model=payload.model, split=payload.split,
                                        codec=payload.codec)
            except SealError as exc:
                raise EdgeError("sealing", exc, exc.kind) from None
        elif is_sealed(view):
            raise EdgeError("sealing", "sealed payload but this edge has no key (set link.key_file to the "
                                       "device's key file)", "no_key")
        try:
            tensors = self.model.decode_split(payload.split, view)
        except CutError as exc:
            raise EdgeError("split", exc) from None
        except CodecError as exc:
            raise EdgeError("payload", exc) from None
        for name, tensor in tensors.items():  # would only turn into NaN scores or boxes downstream
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise EdgeError("payload", f"tensor {name!r} contains NaN or Inf")
        decoded = time.perf_counter()
        try:
            output = self.model.splitter.run_edge({k: t.to(self.device) for k, t in tensors.items()}, payload.split)
        except (RuntimeError, CutError) as exc:
            raise EdgeError("payload", f"tensors do not fit split {payload.split!r}: {exc}") from None
        output = output.cpu()
        computed = time.perf_counter()
        meta = None
        if self.model.task == "detection":  # boxes in the pixels of the camera frame the device read
            meta = letterbox_info(payload.frame_width, payload.frame_height, self.model.input_size)
        return self.model.postprocess(output, meta), decoded - start, computed - decoded
