"""Reading weight files from outside: no pickled code runs, and every bad file gets a clear error."""
from __future__ import annotations

from pathlib import Path

import torch


def read_state_dict(path: Path) -> dict:
    """``torch.load(path, weights_only=True)`` of a state_dict (also one wrapped as ``{"state_dict": ...}``).

    A missing, truncated or corrupt file, or one holding pickled objects that ``weights_only`` refuses,
    raises ``ValueError`` naming the file: torch itself raises half a dozen exception types for these.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such weight file") from None
    except Exception as exc:  # noqa: BLE001 -- UnpicklingError, RuntimeError, OSError, EOFError, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if "Weights only load failed" in first:  # torch's text goes on to suggest weights_only=False: no
            first = "it holds more than tensors and plain containers"
        raise ValueError(f"{path}: not a readable torch state_dict (truncated, corrupt, or pickled objects "
                         f"that weights_only=True refuses): {first}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state_dict (mapping of names to tensors), got {type(state).__name__}")
    return state
