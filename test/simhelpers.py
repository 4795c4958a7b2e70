"""Hand-made profiles for the simulator and policy tests (no model runs)."""
from __future__ import annotations

from scissor_core.runtime.costs import CutProfile, ModelProfile, TimingStats

# split: (device s, edge s, raw bytes); "0" also has jpeg bytes, "last" the result size.
TOY = {
    "0": (0.0, 0.3, 1_000_000),
    "a": (0.1, 0.2, 2_000_000),
    "b": (0.3, 0.05, 100_000),
    "c": (0.35, 0.02, 50_000),
    "d": (0.4, 0.01, 10_000),
    "last": (0.5, 0.0, 44),
}


def toy_profile(model: str = "alexnet", table: dict[str, tuple[float, float, int]] | None = None) -> ModelProfile:
    """A profile with the given per-split (device time, edge time, raw bytes); jpeg-q90 for split 0."""
    zero = TimingStats(0.0, 0.0, 0.0, 0.0, 1)
    cuts = []
    for split, (device, edge, size) in (table or TOY).items():
        sizes = {"raw": size}
        if split in ("0", "last"):
            sizes["jpeg-q90"] = size // 10 if split == "0" else size
        cuts.append(CutProfile(split, [], [], zero, zero, device, edge, sizes))
    return ModelProfile(model=model, weights="hand-made", input_size=224, settings={}, machine={},
                        created="test", full_forward=zero, cuts=cuts)
