"""Matplotlib for files only (no display here): the headless backend and one way to save a figure."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 -- after choosing the headless backend

__all__ = ["plt", "save"]


def save(fig, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` as a PNG (creating the folder) and free it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
