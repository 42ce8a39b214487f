"""`stages/traces.py` killed with SIGKILL mid-round resumes with the same rows and no repeated call.

The stage runs as a subprocess on a small params file; the rules teacher is slowed down with its
`latency_ms` knob so the kill lands mid-run. Every finished call is a committed row of the call
cache, so the cache's row count after the kill is the killed run's finished calls: with the rerun's
`llm_calls` they must add up to an uninterrupted run's call count.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import polars as pl
import pytest
import yaml

from imagine.domains.travelplanner.queries import BuildConfig, build_queries
from tests.conftest import ROOT, TRAVELPLANNER

VOLATILE = ("latency_ms", "cached")


def _params(tmp, queries, cache, latency):
    rules = {"backend": "rules", "latency_ms": latency, "batch_size": 5}
    params = {"traces": {
        "splits": ["train"], "queries": str(queries), "sandbox": str(TRAVELPLANNER), "cache": str(cache), "seed": 0,
        "roles": {"reasoner": rules, "judge": rules, "reflector": rules},
    }}
    path = tmp / f"params-{cache.stem}.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _stage(params, out, metrics):
    return [sys.executable, str(ROOT / "stages" / "traces.py"), "--params", str(params), "--out", str(out),
            "--metrics", str(metrics), "--no-progress"]


def _cache_rows(path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return db.execute("SELECT count(*) FROM calls").fetchone()[0]
    except sqlite3.OperationalError:  # table not created yet
        return 0


@pytest.fixture(scope="module")
def queries(official_sandbox, tmp_path_factory):
    folder = tmp_path_factory.mktemp("queries")
    frames, _ = build_queries(official_sandbox, BuildConfig.from_params(
        {"seed": 5, "counts": {"train": 24}, "import": []}))
    frames["train"].write_parquet(folder / "train.parquet")
    return folder


def test_sigkill_mid_run_then_rerun_loses_and_repeats_nothing(queries, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # Uninterrupted reference run (no delay).
    ref_cache = tmp_path / "ref.sqlite"
    ref_out, ref_metrics = tmp_path / "ref" / "traces", tmp_path / "ref.json"
    done = subprocess.run(_stage(_params(tmp_path, queries, ref_cache, 0), ref_out, ref_metrics), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    total = json.loads(ref_metrics.read_text())["llm_calls"]
    assert total == _cache_rows(ref_cache) > 24

    # Killed run: 40 ms per call, SIGKILL once a third of the calls are committed.
    cache = tmp_path / "calls.sqlite"
    out, metrics = tmp_path / "run" / "traces", tmp_path / "run.json"
    params = _params(tmp_path, queries, cache, 40)
    process = subprocess.Popen(_stage(params, out, metrics), cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while _cache_rows(cache) < total // 3 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "the stage finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    finished = _cache_rows(cache)
    assert 0 < finished < total
    # Nothing half-written: no output folder, no parquet anywhere under the run folder, no metrics.
    assert not out.exists() and not metrics.exists()
    assert not list((tmp_path / "run").rglob("*.parquet")) if (tmp_path / "run").exists() else True

    # Rerun, same params: completes, makes exactly the calls the killed run had not finished.
    rerun = subprocess.run(_stage(params, out, metrics), cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(metrics.read_text())
    assert report["llm_calls"] == total - finished
    assert report["cache_hits"] == finished
    assert finished + report["llm_calls"] == total  # no call repeated, none lost
    assert _cache_rows(cache) == total

    # Same rows as the uninterrupted run.
    for name in ("traces", "turns"):
        ours = pl.read_parquet(out / f"{name}.parquet")
        ref = pl.read_parquet(ref_out / f"{name}.parquet")
        if name == "turns":
            # the model name carries the teacher's config digest: latency_ms is not part of it
            ours, ref = ours.drop(VOLATILE), ref.drop(VOLATILE)
        assert ours.equals(ref), name

    # A third run with nothing changed makes zero model calls.
    again = subprocess.run(_stage(_params(tmp_path, queries, cache, 0), out, metrics), cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(metrics.read_text())["llm_calls"] == 0
