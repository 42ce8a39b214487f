"""What the SFT and GRPO stages share: a resumable run folder, and a dvclive callback for TRL.

A run folder (`models/sft`, `models/grpo`) is a DVC `persist` output, so DVC leaves it in place when
a killed stage is run again. `RunDir.prepare(fingerprint)` decides what that leftover is worth:

- same fingerprint (same config and data) and the run never finished: resume from the newest
  `checkpoint-N` (the Trainer restores weights, optimizer, scheduler, RNG and step);
- different fingerprint, or the run finished: everything is wiped and training starts afresh, so a
  params change never continues from a stale checkpoint.

The fingerprint and the finished mark live in `run.json` inside the folder.

Under a multi-process launch (`accelerate launch`, torchrun: `WORLD_SIZE` > 1) only the main process
(global rank 0) wipes or creates the folder and writes `run.json` and `final/`; the other processes
wait for it, then read the same folder, so every process resumes from the same checkpoint. A plain
single process never touches torch.distributed or accelerate here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
from pathlib import Path

from imagine.io import atomic_path, write_json

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


def world_size() -> int:
    """How many training processes this launch started (1 for a plain `python stages/...`)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """The process that writes shared files: global rank 0 (or the only process)."""
    return int(os.environ.get("RANK", "0")) == 0


def _init_process_group() -> None:
    """Set up torch.distributed the way the Trainer will (through accelerate, with its 30-minute
    timeout and, without a GPU, the CPU backend): the Trainer then finds the group and keeps it."""
    from datetime import timedelta

    import torch
    from accelerate import PartialState

    PartialState(cpu=not torch.cuda.is_available(), timeout=timedelta(seconds=1800))


def wait_for_everyone() -> None:
    """A barrier across the launch's processes; nothing to wait for in a single process."""
    if world_size() > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            _init_process_group()
        dist.barrier()


@contextlib.contextmanager
def main_process_first():
    """Run the block on the main process first, then on the others (which wait at a barrier)."""
    if not is_main_process():
        wait_for_everyone()
    yield
    if is_main_process():
        wait_for_everyone()


def _state_step(checkpoint: Path) -> int | None:
    """The global step a checkpoint's trainer_state.json records; None if it is missing or torn."""
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state.get("global_step") if isinstance(state, dict) else None


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
        """`{step: folder}` of the complete checkpoints: a Trainer checkpoint ends with trainer_state.json,
        written in place (not atomically), so a kill can leave it torn; a torn one does not count."""
        found = {}
        if self.path.is_dir():
            for child in self.path.iterdir():
                match = _CHECKPOINT.match(child.name)
                if match and child.is_dir() and _state_step(child) == int(match.group(1)):
                    found[int(match.group(1))] = child
        return dict(sorted(found.items()))

    def checkpoint(self, step: int) -> Path:
        return self.path / f"checkpoint-{step}"

    def prepare(self, fingerprint: str) -> Path | None:
        """Make the folder ready; returns the checkpoint to resume from, or None for a fresh start.

        Every process of a launch calls it and gets the same answer: the main process decides (and
        wipes a stale folder) first; the others then find either the checkpoints it kept or none."""
        with main_process_first():
            if is_main_process():
                return self._prepare(fingerprint)
            return self._follow(fingerprint)

    def _resumable(self, fingerprint: str) -> Path | None:
        meta = self.meta()
        checkpoints = self.checkpoints()
        if meta.get("fingerprint") == fingerprint and not meta.get("finished") and checkpoints:
            return checkpoints[max(checkpoints)]
        return None

    def _prepare(self, fingerprint: str) -> Path | None:
        resume_from = self._resumable(fingerprint)
        if resume_from is not None:
            return resume_from
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        write_json(self.meta_path, {"fingerprint": fingerprint, "finished": False})
        return None

    def _follow(self, fingerprint: str) -> Path | None:
        """A non-main process, after the main one prepared the folder: read its decision."""
        if self.meta().get("fingerprint") != fingerprint:
            # Same config and data, so a different fingerprint means another folder (no shared filesystem).
            raise OSError(f"{self.meta_path} does not hold this run's fingerprint after the main process prepared "
                          "it: every training process must see the same run folder (one machine or a shared disk)")
        return self._resumable(fingerprint)

    def finish(self, **extra) -> None:
        if is_main_process():
            write_json(self.meta_path, {**self.meta(), **extra, "finished": True})
        wait_for_everyone()  # nobody reports the run finished before run.json says so


def make_live_callback(live_dir: str | Path, metrics: dict[str, str], *, resume: bool):
    """A transformers `TrainerCallback` that logs the Trainer's logged values to dvclive, per step.

    `metrics` maps a Trainer log key (e.g. `"rewards/reward_format/mean"`) to the dvclive metric name;
    keys missing from a log line are skipped. With `resume`, dvclive keeps the earlier rows up to the
    checkpoint's step; the rows a killed run logged after its last checkpoint are dropped, since the
    resumed run logs those steps again. Each metric becomes `<live_dir>/plots/metrics/<name>.tsv`.
    """
    from dvclive import Live
    from transformers import TrainerCallback

    class LiveCallback(TrainerCallback):
        def __init__(self):
            self.live = None
            self.logged: dict[str, float] = {}

        def on_train_begin(self, args, state, control, **kwargs):
            if self.live is None and state.is_world_process_zero:
                if resume:
                    _drop_rows_after(live_dir, state.global_step)
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


def _drop_rows_after(live_dir: str | Path, step: int) -> None:
    """In every dvclive metric file, keep the rows of steps <= `step` (a killed run may have logged
    steps past its last checkpoint, or torn its last line)."""
    for path in (Path(live_dir) / "plots" / "metrics").glob("*.tsv"):
        lines = path.read_text(encoding="utf-8").splitlines()
        if not lines or "step" not in lines[0].split("\t"):
            path.unlink()  # torn before its header: the resumed run writes it afresh
            continue
        columns = lines[0].split("\t")
        kept = [row for row in lines[1:] if len(fields := row.split("\t")) == len(columns)
                and fields[columns.index("step")].isdigit() and int(fields[columns.index("step")]) <= step]
        if len(kept) < len(lines) - 1:
            with atomic_path(path) as tmp:
                tmp.write_text("\n".join([lines[0], *kept]) + "\n", encoding="utf-8")


def save_final(trainer, path: str | Path) -> Path:
    """Save the trained weights (safetensors) + tokenizer into `path`, atomically.

    A plain single-process run saves the model directly. Under DeepSpeed, FSDP or several processes
    the weights may be sharded: every process must take part in `trainer.save_model`, which gathers
    them (ZeRO-3 needs `zero3_save_16bit_model: true` for a loadable file) and writes from the main
    process only. It writes into a staging folder every process can name; the main process then
    moves the complete folder into place in one rename."""
    path = Path(path)
    tokenizer = trainer.processing_class
    sharded = getattr(trainer, "is_deepspeed_enabled", False) or getattr(trainer, "is_fsdp_enabled", False)
    if world_size() <= 1 and not sharded:
        with atomic_path(path) as tmp:
            trainer.model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
        return path

    staging = path.with_name(f".{path.name}.saving")
    if is_main_process():
        shutil.rmtree(staging, ignore_errors=True)  # a killed earlier save
    wait_for_everyone()
    trainer.save_model(str(staging))
    if is_main_process():
        if not any(staging.glob("*.safetensors")):
            raise ValueError(f"no *.safetensors written to {staging}: under DeepSpeed ZeRO-3 set "
                             "zero3_save_16bit_model: true in the accelerate config, so the weights are gathered")
        tokenizer.save_pretrained(staging)
        with atomic_path(path) as tmp:
            os.replace(staging, tmp)
    wait_for_everyone()
    return path


def positive_int(name: str, value, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def positive_number(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        hint = " (YAML reads a number such as 5e-6 as text: write 5.0e-6)" if isinstance(value, str) else ""
        raise ValueError(f"{name} must be a number > 0, got {value!r}{hint}")


def precision_flags(precision: str) -> dict:
    """The Trainer flags for `precision` (fp32 | bf16 | fp16): mixed precision over fp32 master weights."""
    # Explicit both ways: TRL's configs default to bf16=True, which fails on a CPU without bf16 support.
    flags = {"fp32": {"bf16": False, "fp16": False}, "bf16": {"bf16": True, "fp16": False},
             "fp16": {"bf16": False, "fp16": True}}
    if precision not in flags:
        raise ValueError(f"precision must be one of {sorted(flags)}, got {precision!r}")
    return flags[precision]


def device_flags(precision: str) -> dict:
    """`use_cpu` where torch sees no CUDA GPU: the Trainer refuses bf16 without a GPU unless told it runs
    on the CPU, although torch runs bf16 matmuls there (AMX / AVX-512 BF16 where the CPU has them)."""
    import torch

    if torch.cuda.is_available():
        return {}
    if precision == "fp16":
        raise ValueError("precision fp16 needs a CUDA GPU; use bf16 or fp32 on a CPU")
    return {"use_cpu": True}
