"""SIGKILL at any point, then a rerun: `queries`, `sft` and `grpo` end exactly as an uninterrupted run.

Each stage runs as a subprocess (`python stages/X.py --params ... --out ...`) on a small params file,
writing only into tmp folders. The test polls for a kill point (a progress line on stderr, a file
appearing), sends SIGKILL, checks that nothing half-written is left where the next stage would read
it, and reruns the stage with the same params; its outputs must equal those of an uninterrupted run
into another folder. The training stages run the tiny test model (tests/tiny_model.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import yaml

from tests.conftest import ROOT, TRAVELPLANNER
from tests.test_train import _grpo_rows, _sft_rows

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _stage(name: str, params: Path, **paths) -> list[str]:
    cmd = [sys.executable, str(ROOT / "stages" / f"{name}.py"), "--params", str(params)]
    for flag, path in paths.items():
        cmd += [f"--{flag}", str(path)]
    return cmd


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, check=False, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]


def _kill_when(cmd: list[str], ready, log: Path, timeout: float = 300) -> None:
    """Start the stage (stderr to `log`) and SIGKILL it as soon as `ready()` holds; it must still run then."""
    with open(log, "wb") as err:
        process = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + timeout
    try:
        while not ready() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        assert process.poll() is None, f"the stage ended before its kill point:\n{log.read_text()[-3000:]}"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def _write_params(path: Path, params: dict) -> Path:
    path.write_text(yaml.safe_dump(params))
    return path


# --- queries -------------------------------------------------------------------------------------

COUNTS = {"train": 240, "val": 30, "test": 30}  # ~1 s of sampling: a kill can land mid-sampling
VOLATILE_METRICS = ("seconds", "queries_per_second")


def _queries_params(tmp: Path) -> Path:
    return _write_params(tmp / "queries.yaml", {"queries": {
        "seed": 0, "sandbox": str(TRAVELPLANNER), "counts": COUNTS, "import": []}})


def _snapshot(folder: Path) -> dict | None:
    """Every file of a queries folder (parquet read by polars: it must be readable), or None if absent."""
    if not folder.exists():
        return None
    files = {}
    for path in sorted(folder.iterdir()):
        files[path.name] = pl.read_parquet(path) if path.suffix == ".parquet" else path.read_text()
    return files


def _same(a: dict | None, b: dict | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.keys() == b.keys() and all(
        a[k].equals(b[k]) if isinstance(a[k], pl.DataFrame) else a[k] == b[k] for k in a)


def _stable(metrics: Path) -> dict:
    return {k: v for k, v in json.loads(metrics.read_text()).items() if k not in VOLATILE_METRICS}


def _progress(log: Path) -> tuple[int, int] | None:
    found = re.findall(r"queries:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)", log.read_text(errors="replace"))
    return (int(found[-1][0]), int(found[-1][1])) if found else None


def test_queries_killed_at_any_point_leaves_no_partial_output_and_reruns_to_the_same_rows(tmp_path):
    ref_out, ref_metrics = tmp_path / "ref" / "queries", tmp_path / "ref" / "queries.json"
    params = _queries_params(tmp_path)
    _run(_stage("queries", params, out=ref_out, metrics=ref_metrics))
    ref = _snapshot(ref_out)
    assert {f"{s}.parquet" for s in COUNTS} <= ref.keys()

    # A previous complete version sits where the killed runs write (as after an earlier `dvc repro`).
    out, metrics = tmp_path / "data" / "queries", tmp_path / "reports" / "queries.json"
    out.mkdir(parents=True)
    ref["train.parquet"].head(3).write_parquet(out / "train.parquet")
    metrics.parent.mkdir()
    metrics.write_text(json.dumps({"previous": True}))
    previous, previous_metrics = _snapshot(out), _stable(metrics)

    log = tmp_path / "stderr.log"

    def sampling():  # the progress bar is up (sandbox loaded, sampling under way)
        return _progress(log) is not None and _progress(log)[0] > 0

    def validating():  # every query certified: the Great Expectations suite runs
        progress = _progress(log)
        return progress is not None and progress[0] == progress[1]

    def writing():  # the atomic writer's temporary sibling of the output folder exists
        return any(p.name.startswith(".queries.") and p.name.endswith(".tmp") for p in out.parent.iterdir())

    kill_points = {"starting": lambda: log.stat().st_size > 0, "sampling": sampling,
                   "validating": validating, "writing": writing}
    before, before_metrics = previous, previous_metrics
    for name, ready in kill_points.items():
        _kill_when(_stage("queries", params, out=out, metrics=metrics), ready, log)
        now = _snapshot(out)  # reads every parquet present: none may be half-written
        # The folder is the previous version, or absent (killed between the two renames that swap it),
        # or already the new complete one (killed after the swap, before the metrics or the exit).
        assert now is None or _same(now, before) or _same(now, ref), name
        if metrics.exists():  # complete JSON, the previous run's or this one's
            assert _stable(metrics) in (before_metrics, _stable(ref_metrics)), name
        before = now if now is not None else before
        before_metrics = _stable(metrics) if metrics.exists() else before_metrics

    _run(_stage("queries", params, out=out, metrics=metrics))
    assert _same(_snapshot(out), ref)
    assert _stable(metrics) == _stable(ref_metrics)


# --- sft and grpo --------------------------------------------------------------------------------

SFT = {"max_steps": 6, "save_steps": 2, "rl_init_step": 2, "max_length": 256, "learning_rate": 1e-3,
       "per_device_train_batch_size": 2, "warmup_steps": 1, "seed": 0}
GRPO = {"max_steps": 4, "save_steps": 2, "num_generations": 2, "per_device_train_batch_size": 2,
        "max_completion_length": 8, "beta": 0.04, "seed": 0}


def _live_rows(live: Path) -> dict[str, list[tuple[int, float]]]:
    """Every dvclive metric as its (step, value) rows."""
    rows = {}
    for path in sorted((live / "plots" / "metrics").glob("*.tsv")):
        lines = path.read_text().splitlines()
        assert lines[0] == f"step\t{path.stem}", path
        rows[path.stem] = [(int(s), float(v)) for s, v in (line.split("\t") for line in lines[1:])]
    return rows


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


def _assert_same_weights(a: Path, b: Path) -> None:
    import torch

    ours, ref = _weights(a), _weights(b)
    assert ours.keys() == ref.keys()
    for name in ref:
        assert torch.equal(ours[name], ref[name]), name


def _assert_same_run(out: Path, live: Path, metrics: Path, ref, steps: int) -> dict:
    """The rerun finished, resumed from a checkpoint, and ended where the uninterrupted run did."""
    report = json.loads(metrics.read_text())
    assert report["steps"] == steps and report["resumed_from_step"] >= 2
    rows = _live_rows(live)
    assert rows["loss"] and rows.keys() == _live_rows(ref.live).keys()
    for name, values in rows.items():
        assert [s for s, _ in values] == list(range(1, steps + 1)), (name, values)  # each step once
    assert rows == _live_rows(ref.live)  # same curves, value for value
    _assert_same_weights(out / "final", ref.out / "final")
    assert json.loads((out / "run.json").read_text())["finished"]
    return report


def _saved(checkpoint: Path) -> bool:
    """The Trainer wrote the checkpoint's last file, trainer_state.json, whole (it is written in place)."""
    try:
        return isinstance(json.loads((checkpoint / "trainer_state.json").read_text()), dict)
    except (OSError, ValueError):
        return False


class Run:
    def __init__(self, folder: Path, params: Path):
        self.params, self.out, self.live, self.metrics = params, folder / "out", folder / "live", folder / "report.json"


@pytest.fixture(scope="module")
def train_params(tiny_model, tmp_path_factory):
    """A params file with tiny `sft` and `grpo` sections over small data files."""
    folder = tmp_path_factory.mktemp("train_data")
    sft_data = folder / "sft.parquet"
    pl.DataFrame(_sft_rows()).write_parquet(sft_data)
    with open(TRAVELPLANNER / "train.jsonl", encoding="utf-8") as handle:
        queries = [json.loads(line) for _, line in zip(range(2), handle)]
    grpo_data = folder / "grpo_prompts.parquet"
    pl.DataFrame(_grpo_rows(queries)).write_parquet(grpo_data)
    return _write_params(folder / "params.yaml", {
        "sft": {**SFT, "model": str(tiny_model), "data": str(sft_data)},
        "grpo": {**GRPO, "data": str(grpo_data), "sandbox": str(TRAVELPLANNER)}})


@pytest.fixture(scope="module")
def sft_reference(train_params, tmp_path_factory):
    """An uninterrupted SFT run (GRPO starts from its checkpoint-2)."""
    ref = Run(tmp_path_factory.mktemp("sft_ref"), train_params)
    _run(_stage("sft", train_params, out=ref.out, live=ref.live, metrics=ref.metrics))
    assert json.loads(ref.metrics.read_text())["resumed_from_step"] == 0
    return ref


def test_sft_killed_after_a_checkpoint_and_mid_save_resumes_to_the_uninterrupted_weights(sft_reference, tmp_path):
    run = Run(tmp_path, sft_reference.params)
    cmd = _stage("sft", run.params, out=run.out, live=run.live, metrics=run.metrics)
    # Killed once checkpoint-2 is saved (step 3 under way) ...
    _kill_when(cmd, lambda: _saved(run.out / "checkpoint-2"), tmp_path / "kill-1.log")
    assert not run.metrics.exists() and not (run.out / "final").exists()
    # ... then, resumed, killed again as soon as the checkpoint-4 folder appears (mid-save, or just after).
    _kill_when(cmd, lambda: (run.out / "checkpoint-4").is_dir(), tmp_path / "kill-2.log")
    assert not run.metrics.exists() and not (run.out / "final").exists()
    newest = 4 if _saved(run.out / "checkpoint-4") else 2
    _run(cmd)
    report = _assert_same_run(run.out, run.live, run.metrics, sft_reference, SFT["max_steps"])
    assert report["resumed_from_step"] == newest
    assert report["checkpoints"] == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    _assert_same_weights(run.out / "checkpoint-2", sft_reference.out / "checkpoint-2")


def test_grpo_killed_after_a_checkpoint_resumes_to_the_uninterrupted_run(sft_reference, tmp_path):
    # The tiny random policy never writes a well-formed answer: every completion gets the format
    # penalty, groups have zero reward spread and the weights do not move. The sampled completions
    # still differ with the RNG and the prompt order, so the per-step entropy curve is what shows the
    # resume is exact. Two prompts, one per step: checkpoint-2 ends epoch 1, the rerun starts in epoch 2.
    ref = Run(tmp_path / "ref", sft_reference.params)
    _run(_stage("grpo", ref.params, sft=sft_reference.out, out=ref.out, live=ref.live, metrics=ref.metrics))
    assert json.loads(ref.metrics.read_text())["init_checkpoint"] == str(sft_reference.out / "checkpoint-2")

    run = Run(tmp_path / "run", sft_reference.params)
    cmd = _stage("grpo", run.params, sft=sft_reference.out, out=run.out, live=run.live, metrics=run.metrics)
    _kill_when(cmd, lambda: _saved(run.out / "checkpoint-2"), tmp_path / "kill.log")
    assert not run.metrics.exists() and not (run.out / "final").exists()
    _run(cmd)
    _assert_same_run(run.out, run.live, run.metrics, ref, GRPO["max_steps"])


def test_a_checkpoint_torn_by_a_kill_is_not_resumed_from(tmp_path):
    """The Trainer writes trainer_state.json last but in place: a kill mid-write leaves it torn."""
    from imagine.train.runs import RunDir

    run = RunDir(tmp_path / "out")
    assert run.prepare("fp") is None
    for step, state in ((2, json.dumps({"global_step": 2})), (4, ""), (6, '{"global_st')):
        (run.checkpoint(step)).mkdir()
        (run.checkpoint(step) / "trainer_state.json").write_text(state)
    assert list(run.checkpoints()) == [2]
    assert run.prepare("fp") == run.checkpoint(2)
