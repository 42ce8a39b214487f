"""What the SFT and GRPO stages share: a resumable run folder, and a dvclive callback for TRL.

A run folder (`models/sft`, `models/grpo`) is a DVC `persist` output, so DVC leaves it in place when
a killed stage is run again. `RunDir.prepare(fingerprint)` decides what that leftover is worth:

- same fingerprint (same config and data) and the run never finished: resume from the newest
  `checkpoint-N` (the Trainer restores weights, optimizer, scheduler, RNG and step);
- different fingerprint, or the run finished: everything is wiped and training starts afresh, so a
  params change never continues from a stale checkpoint.

The fingerprint and the finished mark live in `run.json` inside the folder.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from pathlib import Path

from imagine.io import write_json

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def fingerprint(*parts) -> str:
    """A content hash of JSON-able config parts and data files (Paths are hashed by content)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            with open(part, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


class RunDir:
    """A training output folder with `checkpoint-N/` subfolders, `final/` and `run.json`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def meta_path(self) -> Path:
        return self.path / "run.json"

    def meta(self) -> dict:
        try:
            return json.loads(self.meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def checkpoints(self) -> dict[int, Path]:
        """`{step: folder}` of the complete checkpoints (a Trainer checkpoint ends with trainer_state.json)."""
        found = {}
        if self.path.is_dir():
            for child in self.path.iterdir():
                match = _CHECKPOINT.match(child.name)
                if match and child.is_dir() and (child / "trainer_state.json").is_file():
                    found[int(match.group(1))] = child
        return dict(sorted(found.items()))

    def checkpoint(self, step: int) -> Path:
        return self.path / f"checkpoint-{step}"

    def prepare(self, fingerprint: str) -> Path | None:
        """Make the folder ready; returns the checkpoint to resume from, or None for a fresh start."""
        meta = self.meta()
        checkpoints = self.checkpoints()
        if meta.get("fingerprint") == fingerprint and not meta.get("finished") and checkpoints:
            return checkpoints[max(checkpoints)]
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        write_json(self.meta_path, {"fingerprint": fingerprint, "finished": False})
        return None

    def finish(self, **extra) -> None:
        write_json(self.meta_path, {**self.meta(), **extra, "finished": True})


def make_live_callback(live_dir: str | Path, metrics: dict[str, str], *, resume: bool):
    """A transformers `TrainerCallback` that logs the Trainer's logged values to dvclive, per step.

    `metrics` maps a Trainer log key (e.g. `"rewards/reward_format/mean"`) to the dvclive metric name;
    keys missing from a log line are skipped. With `resume`, dvclive keeps the earlier rows. Each
    metric becomes `<live_dir>/plots/metrics/<name>.tsv` (columns timestamp, step, value).
    """
    from dvclive import Live
    from transformers import TrainerCallback

    class LiveCallback(TrainerCallback):
        def __init__(self):
            self.live = None
            self.logged: dict[str, float] = {}

        def on_train_begin(self, args, state, control, **kwargs):
            if self.live is None and state.is_world_process_zero:
                self.live = Live(dir=str(live_dir), resume=resume, dvcyaml=None, save_dvc_exp=False, report=None)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.live is None or not logs:
                return
            values = {name: float(logs[key]) for key, name in metrics.items()
                      if isinstance(logs.get(key), (int, float)) and math.isfinite(float(logs[key]))}
            if not values:
                return
            self.live.step = state.global_step
            for name, value in values.items():
                self.live.log_metric(name, value)
            self.logged.update(values)
            self.live.make_summary()

        def on_train_end(self, args, state, control, **kwargs):
            if self.live is not None:
                self.live.end()

    return LiveCallback()


def save_final(model, tokenizer, path: str | Path) -> Path:
    """Save weights (safetensors) + tokenizer into `path`, atomically."""
    from imagine.io import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    return path


def positive_int(name: str, value, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def precision_flags(precision: str) -> dict:
    # Explicit both ways: TRL's configs default to bf16=True, which fails on a CPU without bf16 support.
    flags = {"fp32": {"bf16": False, "fp16": False}, "bf16": {"bf16": True, "fp16": False},
             "fp16": {"bf16": False, "fp16": True}}
    if precision not in flags:
        raise ValueError(f"precision must be one of {sorted(flags)}, got {precision!r}")
    return flags[precision]
