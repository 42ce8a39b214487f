"""The report renders from whatever the stages wrote, and opens offline (inline SVG, no scripts)."""

import json
import subprocess

from imagine.report import charts, collect, funnel, git_revision, render_html, render_markdown
from imagine.vega import to_svg


def _write(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def test_empty_project_gets_a_report_that_says_what_is_missing(tmp_path):
    data = collect(tmp_path)
    page = render_html(data, {})
    assert "No evaluation yet." in page and "No traces yet." in page
    assert "No evaluation yet." in render_markdown(data)


def test_report_shows_funnel_students_and_curves_as_inline_svg(tmp_path):
    level = {"count": 2, "delivery_rate": 1.0, "commonsense_micro": 0.5, "commonsense_macro": 0.0,
             "hard_micro": 0.5, "hard_macro": 0.5, "final_pass_rate": 0.5}
    strict = {**level, "per_level": {"easy": level, "medium": {"count": 0}, "hard": {"count": 0}},
              "per_check": {"is_not_absent": 1.0, "valid_cost": 0.5}}
    for model, reward in (("base", -1.0), ("sft", 0.8), ("teacher", 2.1)):
        _write(tmp_path / "reports" / "eval" / f"{model}.json", {"model": model, "sets": {"test": {
            "strict": strict, "compat": strict, "mean_reward": reward, "format_failure_rate": 0.0,
            "reflection_rate": 1.0, "lazy_reflection_rate": 0.0}}})
    _write(tmp_path / "reports" / "queries.json", {"generated": 10, "total": 12, "dropped_total": {"no_hotel": 1},
                                                   "attempts": 11, "imported": {"train": 3}})
    _write(tmp_path / "reports" / "traces.json", {"queries": 9, "flag_rate": 0.5, "reflected": 4,
                                                  "teacher_raw_pass_rate": {"all": 0.5, "easy": 0.5},
                                                  "teacher_final_pass_rate": {"all": 0.9, "easy": 0.9}})
    _write(tmp_path / "reports" / "filter.json", {"kept": 7})
    live = tmp_path / "reports" / "sft_live" / "plots" / "metrics" / "loss.tsv"
    live.parent.mkdir(parents=True)
    live.write_text("timestamp\tstep\tloss\n1\t1\t2.5\n2\t2\t1.5\n")
    (tmp_path / "params.yaml").write_text("sft:\n  max_steps: 2\n")

    data = collect(tmp_path)
    assert [(s["step"], s["count"]) for s in funnel(data)] == [
        ("sampled", 14), ("certified", 12), ("traced", 9), ("flagged", 4), ("reflected", 4), ("kept for SFT", 7)]
    specs = charts(data)
    assert {"funnel", "teacher", "students", "checks", "sft_curves"} <= set(specs)
    svgs = {name: to_svg(spec) for name, spec in specs.items()}
    page = render_html(data, svgs)
    assert page.count("<svg") == len(svgs) and "<script" not in page and "http://" not in page.replace(
        "http://www.w3.org", "")
    assert "max_steps: 2" in page and "teacher" in page
    markdown = render_markdown(data)
    assert "| base | all | 2 |" in markdown


def test_revision_is_dirty_only_for_changes_the_pipeline_did_not_write(tmp_path):
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    git("init", "-q")
    for name, text in (("dvc.lock", "a"), ("reports/sft.json", "{}"), ("params.yaml", "sft: {}")):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    git("add", "-A")
    git("commit", "-qm", "init")
    (tmp_path / "dvc.lock").write_text("b")  # what `dvc repro` rewrites while it runs
    (tmp_path / "reports/sft.json").write_text('{"loss": 1}')
    assert not git_revision(tmp_path).endswith("(with uncommitted changes)")
    (tmp_path / "params.yaml").write_text("sft: {max_steps: 3}")
    assert git_revision(tmp_path).endswith("(with uncommitted changes)")
