"""Saved audit queries (imagine/audit/queries/*.sql), the `audit` stage and `imagine audit --saved`,
on a small hand-built data directory whose answers are known."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from imagine import cli
from imagine.audit import AuditError
from imagine.audit.registry import DATASETS
from imagine.domain import get_domain
from imagine.audit.saved import QUERIES_DIR, get, run_all, run_saved, saved_queries, to_metrics
from imagine.filtering import FilterConfig, filter_traces
from tests.test_filter import queries_frame, reflected, trace, traces_frame, turns_for

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = {"judge_agreement", "flag_rate_by_level", "reflector_fix_rate", "lazy_reflections",
            "most_failed_checks", "token_lengths"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Four traces: t1 easy clean; t2 easy lazy (judges missed a wrong-city error); t3 medium flagged by
    judge 1, fixed by the reflector; t4 hard false alarm by both judges, the reflector broke the budget."""
    rows = [
        trace("t1"),
        trace("t2", reasoner_pass=False, final_pass=False, lazy_reflection=True, injected_errors=["wrong_city"],
              cs_is_valid_information_in_current_city=False),
        reflected("t3", level="medium"),
        reflected("t4", level="hard", judge_2_verdict="errors", reasoner_pass=True, final_pass=False,
                  reflector_fixed=False, injected_errors=[], hard_valid_cost=False),
    ]
    root = tmp_path_factory.mktemp("audit") / "data"
    (root / "traces").mkdir(parents=True)
    (root / "filtered").mkdir()
    (root / "queries").mkdir()
    traces, turns = traces_frame(rows), turns_for(rows)
    queries = queries_frame([r["query_id"] for r in rows])
    traces.write_parquet(root / "traces" / "traces.parquet")
    turns.write_parquet(root / "traces" / "turns.parquet")
    queries.write_parquet(root / "queries" / "train.parquet")
    result = filter_traces(traces, turns, queries, FilterConfig(max_tokens=None), get_domain("travelplanner"))
    result.sft.write_parquet(root / "filtered" / "sft.parquet")
    result.grpo.write_parquet(root / "filtered" / "grpo_prompts.parquet")
    (root / "eval").mkdir()
    evals_frame([("base", "easy", False, -1.0), ("sft", "easy", True, 2.5), ("sft", "easy", False, 0.7)]).write_parquet(
        root / "eval" / "evals.parquet")
    return root


def evals_frame(answers) -> pl.DataFrame:
    """(model, level, final_pass, reward) answers as evals rows, strict mode."""
    from imagine.evaluation import evals_schema

    rows = [{"model": m, "mode": "strict", "split": "test", "query_id": f"q{i}", "idx": i + 1, "level": level,
             "days": 3, "sample": 0, "delivered": reward > -1, "final_pass": passed, "lazy_reflection": False,
             "reward": reward, "plan": "[]" if reward > -1 else None, "tokens_out": 1}
            for i, (m, level, passed, reward) in enumerate(answers)]
    return pl.DataFrame(rows, schema=evals_schema(get_domain("travelplanner")))


def test_registry_points_at_the_stage_outputs():
    paths = {d.name: d.paths for d in DATASETS}
    assert paths["turns"] == ("traces/turns.parquet",)
    assert paths["traces"] == ("traces/traces.parquet",)
    assert paths["sft"] == ("filtered/sft.parquet",)
    assert paths["grpo_prompts"] == ("filtered/grpo_prompts.parquet",)


def test_every_saved_query_has_a_header_and_one_read_only_statement():
    queries = saved_queries()
    assert REQUIRED <= {q.name for q in queries}
    for query in queries:
        assert query.description.endswith("?") or query.description, query.name
        from imagine.audit import check_read_only

        check_read_only(query.sql)


def test_saved_queries_give_the_expected_numbers(data_dir):
    metrics = run_all(data_dir)["metrics"]
    judges = metrics["judge_agreement"]
    assert judges["traces"] == 4 and judges["agreement"] == 0.75 and judges["kappa"] == 0.5
    assert judges["judge_1_precision"] == 0.5 and judges["judge_1_recall"] == 0.5
    assert judges["judge_2_precision"] == 0.0 and judges["either_recall"] == 0.5

    flags = metrics["flag_rate_by_level"]
    assert flags["easy"] == {"traces": 2, "flagged": 0, "flag_rate": 0.0, "reasoner_fail_rate": 0.5}
    assert flags["all"]["flagged"] == 2 and flags["all"]["flag_rate"] == 0.5

    fixes = metrics["reflector_fix_rate"]["all"]
    assert fixes == {"reflected": 2, "on_failing_plan": 1, "fixed": 1, "fix_rate": 1.0, "false_alarms": 1,
                     "broke_good_plan": 1, "parse_errors": 0}

    lazy = metrics["lazy_reflections"]
    assert lazy["all"] == {"lazy": 1, "failing_plans": 2, "miss_rate": 0.5, "lazy_rate": 0.25}
    assert lazy["easy"]["lazy"] == 1 and lazy["hard"]["lazy"] == 0

    checks = metrics["most_failed_checks"]
    assert checks["cs_is_valid_information_in_current_city"] == {"applicable": 4, "failed": 1, "fail_rate": 0.25}
    assert checks["hard_valid_cost"]["failed"] == 1
    assert checks["cs_is_not_absent"]["failed"] == 0
    assert "hard_valid_cuisine" not in checks  # applies to no trace

    tokens = metrics["token_lengths"]
    assert tokens["sft"]["rows"] == 2 and tokens["sft_reflected"]["rows"] == 1
    assert tokens["grpo_prompts"]["rows"] == 4

    assert metrics["filter_yield"]["all"] == {"traces": 4, "kept": 2, "kept_rate": 0.5, "kept_reflected": 1}
    caught = metrics["injected_errors_caught"]
    assert caught["wrong_city"] == {"traces": 1, "caught_rate": 0.0, "fixed_rate": 0.0, "missed_rate": 1.0}
    assert caught["min_nights"]["caught_rate"] == 1.0
    teacher = metrics["teacher_pass_rate_by_level"]["all"]
    assert teacher["reasoner_pass_rate"] == 0.5 and teacher["mas_pass_rate"] == 0.5
    assert metrics["calls_by_role"]["reasoner"]["calls"] == 4


def test_tables_keep_order_and_descriptions(data_dir):
    tables = run_all(data_dir)["tables"]
    checks = tables["most_failed_checks"]
    assert checks["columns"] == ["check_name", "applicable", "failed", "fail_rate"]
    assert checks["rows"][0][0] == "cs_is_valid_information_in_current_city"
    assert tables["flag_rate_by_level"]["rows"][-1][0] == "all"
    assert tables["judge_agreement"]["description"].startswith("How often do the two judges agree")
    json.dumps(tables)


def test_missing_views_fail_loudly_or_are_recorded(tmp_path, data_dir):
    (tmp_path / "queries").mkdir()
    queries_frame(["x"]).write_parquet(tmp_path / "queries" / "train.parquet")
    with pytest.raises(AuditError, match="saved query"):
        run_all(tmp_path)
    partial = run_all(tmp_path, strict=False)
    assert REQUIRED <= set(partial["errors"])
    with pytest.raises(AuditError, match="no saved query 'nope'"):
        get("nope")
    assert run_saved("lazy_reflections.sql", data_dir)[0][0] == "level"


def test_to_metrics_nesting():
    assert to_metrics(["a", "b"], [(1, 2.5)]) == {"a": 1, "b": 2.5}
    assert to_metrics(["k", "flag", "n"], [("x", True, 1), ("x", False, None)]) == {"x": {"true": {"n": 1}, "false": {}}}
    assert to_metrics(["n"], [(1,), (2,)]) == {"row_0": {"n": 1}, "row_1": {"n": 2}}
    assert to_metrics(["n"], []) == {}


def test_audit_stage_writes_metrics(tmp_path, data_dir):
    metrics, tables = tmp_path / "audit.json", tmp_path / "audit_tables.json"
    done = subprocess.run([sys.executable, str(ROOT / "stages" / "audit.py"), "--data", str(data_dir),
                           "--metrics", str(metrics), "--tables", str(tables)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    written = json.loads(metrics.read_text())
    assert written["judge_agreement"]["kappa"] == 0.5
    assert set(json.loads(tables.read_text())) == {q.name for q in saved_queries()}
    failed = subprocess.run([sys.executable, str(ROOT / "stages" / "audit.py"), "--data", str(tmp_path / "none"),
                             "--metrics", str(tmp_path / "m.json"), "--tables", str(tmp_path / "t.json")],
                            capture_output=True, text=True, cwd=ROOT)
    assert failed.returncode == 1 and "nothing written" in failed.stderr
    assert not (tmp_path / "m.json").exists()


def test_cli_lists_and_runs_saved_queries(data_dir, capsys):
    assert cli.main(["audit", "--saved"]) == 0
    listing = capsys.readouterr().out
    for name in REQUIRED:
        assert name in listing
    assert cli.main(["audit", "--saved", "flag_rate_by_level", "--data", str(data_dir), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[-1]["level"] == "all" and rows[-1]["traces"] == 4
    assert cli.main(["audit", "--saved", "nope", "--data", str(data_dir)]) == 2
    assert "no saved query" in capsys.readouterr().err
    assert cli.main(["audit", "--saved", "lazy_reflections", "SELECT 1"]) == 2
    assert QUERIES_DIR.is_dir()


def test_readme_example_audits_run(data_dir):
    """The SQL of every `imagine audit "..."` example in README's "Auditing the traces" section runs."""
    import re
    import shlex

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Auditing the traces", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r'^imagine audit (.+?)(?=^\s*$|^#|^imagine|^```)', section, re.MULTILINE | re.DOTALL)
    ran = 0
    for command in commands:
        args = shlex.split(command, comments=True)
        assert cli.main(["audit", *args, "--data", str(data_dir)]) == 0, command
        ran += 1
    assert ran >= 5
