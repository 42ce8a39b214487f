"""The real DVC pipeline in a throwaway git repo: it builds, and a params change reruns only what
depends on it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT


def _run(args, cwd, env):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _copy_project(root: Path) -> Path:
    """The tracked files of the project (no dvc.lock, no reports: nothing built yet) under `root`."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if name == "dvc.lock" or name.startswith("reports/"):
            continue
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, root / name)
    return root


def _small_repo(root: Path, params: dict, tiny_model, counts: dict) -> dict:
    """Write `params` made small but whole (few queries, the tiny test model as the local student, no
    download) as root's params.yaml, make root a git repo, and return the env to run DVC in."""
    params["queries"]["counts"] = counts
    params["base_model"]["local_path"] = str(tiny_model)
    # The tiny model's tokenizer counts many more tokens than the student's: keep every sample.
    params["filter"]["max_tokens"] = 100_000
    params["sft"].update(max_length=100_000, max_steps=2, save_steps=2, rl_init_step=2)
    params["grpo"].update(max_prompt_tokens=None, max_samples=4, max_completion_length=8)
    params["evaluate"].update(limit=3)
    params["evaluate"]["generation"].update(max_tokens=8, batch_size=4)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    _run(["git", "init", "-q"], root, env)
    _commit(root, env, "init")
    return env


@pytest.fixture(scope="module")
def repo(tmp_path_factory, tiny_model):
    """A copy of the tracked project (no data outputs), as its own git + DVC repo."""
    root = _copy_project(tmp_path_factory.mktemp("pipeline"))
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["queries"]["import"] = []
    env = _small_repo(root, params, tiny_model, {"train": 20, "val": 6, "test": 9})
    return root, env


def test_repro_builds_then_reruns_only_what_a_param_touches(repo):
    root, env = repo
    dvc = [sys.executable, "-m", "dvc"]
    stages = ("sandbox", "queries", "traces", "base_model", "filter", "sft", "grpo", "evaluate", "audit",
              "report", "plots_template")
    first = _run([*dvc, "repro"], root, env)
    for stage in stages:
        assert f"Running stage '{stage}'" in first
    for output in ("data/sandbox/manifest.json", "data/queries/test.parquet", "data/traces/traces.parquet",
                   "data/filtered/sft.parquet", "reports/audit.json", "data/eval/evals.parquet",
                   "reports/eval/teacher.json", "reports/eval/grpo.json", "data/eval/submissions/sft/test.jsonl",
                   "reports/report.html", "reports/report.md"):
        assert (root / output).is_file(), output

    _assert_filtered_data_passes_strict(root)

    noop = _run([*dvc, "repro"], root, env)
    assert "Running stage" not in noop and "Data and pipelines are up to date" in noop

    params = yaml.safe_load((root / "params.yaml").read_text())
    params["queries"]["seed"] += 1
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    again = _run([*dvc, "repro"], root, env)
    for stage in ("sandbox", "base_model"):
        assert f"Stage '{stage}' didn't change, skipping" in again
    for stage in ("queries", "traces", "filter", "sft", "grpo", "evaluate", "audit", "report"):
        assert f"Running stage '{stage}'" in again
    _commit(root, env, "queries seed + 1")

    params["grpo"]["seed"] += 1  # a GRPO param: only `grpo` and what reads its model rerun
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    last = _run([*dvc, "repro"], root, env)
    ran = [line.split("'")[1] for line in last.splitlines() if line.startswith("Running stage")]
    # audit reruns only when the evaluation rows changed (the tiny model's answers may not)
    assert ran[:2] == ["grpo", "evaluate"] and "report" in ran and set(ran) <= {"grpo", "evaluate", "audit", "report"}
    # base and SFT checkpoints did not change: their answers come from the evaluation cache
    assert "evaluate: base:" in last
    _commit(root, env, "grpo seed + 1")

    metrics = json.loads(_run([*dvc, "metrics", "diff", "HEAD~1", "--json"], root, env))
    assert "reports/grpo.json" in metrics and "reports/eval/grpo.json" in metrics
    assert all(key.startswith("reports/") for key in metrics)
    plots_dir = root / "plots_diff"
    _run([*dvc, "plots", "diff", "HEAD~1", "-o", str(plots_dir)], root, env)
    html = (plots_dir / "index.html").read_text()
    assert "cdn.jsdelivr" not in html and "vegaEmbed" in html  # renders offline: Vega is inlined
    assert "GRPO reward components" in html and "Final pass rate by model and level" in html


def _commit(root: Path, env: dict, message: str) -> None:
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], root, env)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], root, env)


def _assert_filtered_data_passes_strict(root: Path) -> None:
    """Every kept SFT sample's plan, read back from its completion text, passes the strict scorer;
    both filtered files pass their GX suites."""
    import polars as pl

    from imagine.answer import parse_output
    from imagine.checks.filtered import validate_grpo, validate_sft
    from imagine.domains.travelplanner.evaluate import Scorer
    from imagine.domains.travelplanner.sandbox import Sandbox
    from imagine.domain import get_domain

    query_record = get_domain("travelplanner").record

    sft = pl.read_parquet(root / "data/filtered/sft.parquet")
    queries = pl.concat([pl.read_parquet(p) for p in sorted((root / "data/queries").glob("*.parquet"))],
                        how="diagonal_relaxed")
    by_id = {(r["split"], r["query_id"]): r for r in queries.iter_rows(named=True)}
    scorer = Scorer(Sandbox.load(root / "data/sandbox"), "strict")
    failures = []
    for row in sft.iter_rows(named=True):
        parsed = parse_output(row["completion"][0]["content"])
        verdict = scorer.score(query_record(by_id[(row["split"], row["query_id"])]), parsed.plan)
        if not verdict.final_pass:
            failures.append((row["query_id"], verdict.reasons))
    assert sft.height and not failures, failures[:3]
    validate_sft(sft, source="sft.parquet")
    validate_grpo(pl.read_parquet(root / "data/filtered/grpo_prompts.parquet"), source="grpo_prompts.parquet",
                  domain=get_domain("travelplanner"))


def test_trip_domain_runs_end_to_end_and_audits(tmp_path_factory, tiny_model):
    """`domain: trip` (configs/trip/params.yaml, sized down): `dvc repro` writes every dataset, each
    validated by its GX suite on the way, no TravelPlanner module is imported, and the saved audit
    queries (generic + the trip domain's) run over the result."""
    root = _copy_project(tmp_path_factory.mktemp("trip_pipeline"))
    params = yaml.safe_load((root / "configs" / "trip" / "params.yaml").read_text())
    env = _small_repo(root, params, tiny_model, {"train": 16, "val": 4, "test": 6})
    out = _run([sys.executable, "-m", "dvc", "repro"], root, env)
    for output in ("data/sandbox/cities.parquet", "data/sandbox/connections.parquet", "data/queries/test.parquet",
                   "data/traces/traces.parquet", "data/filtered/sft.parquet", "data/filtered/grpo_prompts.parquet",
                   "data/eval/evals.parquet", "reports/eval/sft.json", "reports/eval/teacher.json",
                   "reports/audit.json", "reports/report.html"):
        assert (root / output).is_file(), output
    assert "travelplanner" not in (root / "dvc.lock").read_text().replace("data/external/travelplanner", "")
    audit = json.loads((root / "reports" / "audit.json").read_text())
    assert audit["most_failed_checks"]  # the trip domain's own saved query
    assert audit["judge_agreement"]["traces"] > 0  # a generic one
    teacher = json.loads((root / "reports" / "eval" / "teacher.json").read_text())
    assert teacher["sets"]["test"]["strict"]["count"] == 3
    assert "Running stage 'report'" in out
