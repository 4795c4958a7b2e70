"""Check scissor's AlexNet/ResNet18 against real torchvision, and record its state_dict layout.

Run where torchvision imports (not beside the CPU torch of .venv; e.g. a side
virtualenv with ``pip install torch==2.14.1 torchvision==0.29.1``):

    python tools/torchvision_compat.py test/data/torchvision_state_dicts.json

For each model it builds torchvision's version with seeded random weights, loads
that state_dict into scissor's module with ``strict=True``, checks the outputs
are equal on random inputs, and writes the key names and shapes that
``test/test_torchvision_compat.py`` then checks on every CI run.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scissor_bringup"))
from scissor_core.models.alexnet import AlexNet  # noqa: E402
from scissor_core.models.resnet import ResNet18  # noqa: E402


def main(out: str) -> None:
    record = {"torch": torch.__version__, "torchvision": torchvision.__version__, "models": {}}
    for name, ours_cls, theirs_fn in (("alexnet", AlexNet, torchvision.models.alexnet),
                                      ("resnet18", ResNet18, torchvision.models.resnet18)):
        torch.manual_seed(0)
        theirs = theirs_fn(weights=None).eval()
        ours = ours_cls().eval()
        ours.load_state_dict(theirs.state_dict(), strict=True)
        x = torch.randn(2, 3, 224, 224)
        with torch.inference_mode():
            max_diff = float((ours(x) - theirs(x)).abs().max())
            equal = torch.equal(ours(x), theirs(x))
        print(f"{name}: strict load ok, outputs equal: {equal} (max |diff| {max_diff:.3g})")
        if not equal:
            raise SystemExit(f"{name}: outputs differ from torchvision")
        record["models"][name] = [[k, list(v.shape)] for k, v in theirs.state_dict().items()]
    Path(out).write_text(json.dumps(record, indent=0) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "test/data/torchvision_state_dicts.json")
