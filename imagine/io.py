"""Atomic outputs and params: a killed stage never leaves a half-written file, and every stage reads
params the same way."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
from pathlib import Path

import yaml


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary sibling path (file or folder); on success it replaces `path` in one rename.

    On an exception the temporary is removed and `path` is left as it was. Temporaries a killed
    writer left behind are removed first (one writer per path at a time: a DVC stage owns its outputs).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    target = tmp / path.name
    try:
        yield target
        if path.is_dir() and not path.is_symlink():
            # A folder cannot be replaced in one rename when it exists: move it aside first.
            old = tmp / ".old"
            os.replace(path, old)
        os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: str | Path, value) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_params(path: str | Path = "params.yaml") -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}
