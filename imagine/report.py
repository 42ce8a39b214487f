"""The run report: one self-contained HTML page (charts as inline SVG) and a Markdown twin.

`collect(root)` gathers what the stages wrote (metrics JSON under reports/, the training curves
dvclive logged, the lazy reflections in the traces, params.yaml, the git revision); `render_html`
and `render_markdown` lay it out: the data funnel, the teacher's quality, the students beside the
teacher, the training curves, the audit tables, and what the run was built from. A part whose inputs
are missing says so instead of failing, so a partial pipeline still gets a report.
"""

from __future__ import annotations

import csv
import html
import json
import subprocess
from pathlib import Path

MODEL_ORDER = ("base", "sft", "grpo", "teacher")
PIPELINE_WRITES = ("dvc.lock", "reports")  # tracked files `dvc repro` rewrites (metrics with cache: false)


def student_metrics(groups) -> tuple[str, ...]:
    """The strict metrics shown per model and level: delivery, each check group's micro/macro, final pass."""
    return ("delivery_rate", *(f"{g}_{kind}" for g in groups for kind in ("micro", "macro")), "final_pass_rate")


def curves(groups) -> dict[str, tuple[str, ...]]:
    """The dvclive curves shown per training stage (GRPO: the reward and each of its components)."""
    return {"sft": ("loss", "mean_token_accuracy", "learning_rate"),
            "grpo": ("reward", "reward_format", *(f"reward_{g}" for g in groups), "reward_reflection",
                     "reward_std", "frac_reward_zero_std", "kl", "completion_length")}


def _json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _curve(path: Path) -> list[dict]:
    try:
        with path.open(encoding="utf-8") as handle:
            rows = csv.DictReader(handle, delimiter="\t")
            return [{"step": int(r["step"]), "value": float(r[path.stem])} for r in rows]
    except (OSError, KeyError, ValueError):
        return []


def git_revision(root: Path) -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        # The pipeline itself rewrites its committed metrics and dvc.lock while it runs: only changes to
        # anything else (code, params, configs) make the revision dirty.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                *(f":(exclude){path}" for path in PIPELINE_WRITES)],
                               cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        return rev + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def lazy_examples(traces_path: Path, check_columns: dict, count: int = 3) -> list[dict]:
    """Lazy reflections: both judges said "No errors." yet the final plan fails strict checks."""
    import polars as pl

    if not traces_path.is_file():
        return []
    traces = pl.read_parquet(traces_path).filter(pl.col("lazy_reflection")).head(count)
    checks = {c: check for c, (_, check) in check_columns.items() if c in traces.columns}
    return [{"query_id": r["query_id"], "level": r["level"], "query": r["query"],
             "injected_errors": list(r["injected_errors"] or []),
             "failed_checks": [check for c, check in checks.items() if r[c] is False]}
            for r in traces.iter_rows(named=True)]


def collect(root: str | Path = ".", domain=None) -> dict:
    """Everything the report shows, from the files under `root`; `domain` gives the levels and check
    groups (default: the default domain)."""
    from imagine.domain import get_domain

    domain = domain or get_domain()
    root = Path(root)
    reports = root / "reports"
    evals = {}
    for path in sorted((reports / "eval").glob("*.json")):
        report = _json(path)
        if isinstance(report, dict) and "sets" in report:
            evals[path.stem] = report
    ordered = sorted(evals, key=lambda m: (MODEL_ORDER.index(m) if m in MODEL_ORDER else len(MODEL_ORDER), m))
    return {
        "domain": domain.name, "levels": tuple(domain.levels), "groups": tuple(domain.groups),
        "revision": git_revision(root),
        "params": (root / "params.yaml").read_text(encoding="utf-8") if (root / "params.yaml").is_file() else "",
        **{name: _json(reports / f"{name}.json") for name in ("queries", "traces", "filter", "sft", "grpo", "audit")},
        "audit_tables": _json(reports / "audit_tables.json") or {},
        "evals": {m: evals[m] for m in ordered},
        "curves": {stage: {name: _curve(reports / f"{stage}_live" / "plots" / "metrics" / f"{name}.tsv")
                           for name in names} for stage, names in curves(domain.groups).items()},
        "lazy_examples": lazy_examples(root / "data" / "traces" / "traces.parquet", domain.check_columns),
        "compare": _json(reports / "eval" / "compare.json") or {},
        "side_by_side": side_by_side(root / "data" / "eval" / "evals.parquet"),
    }


def side_by_side(evals_path: Path, count: int = 3) -> list[dict]:
    """The first `count` queries of the first evaluated set: each model's answer (strict verdict),
    the teacher's among them, so a reader sees what the student writes next to what it learnt from."""
    import polars as pl

    if not evals_path.is_file():
        return []
    evals = pl.read_parquet(evals_path).filter((pl.col("mode") == "strict") & (pl.col("sample") == 0))
    if evals.is_empty():
        return []
    first = evals["split"][0]
    evals = evals.filter(pl.col("split") == first)
    queries = evals.select("query_id", "idx").unique().sort("idx").head(count)["query_id"].to_list()
    out = []
    for query_id in queries:
        rows = evals.filter(pl.col("query_id") == query_id)
        answers = {r["model"]: {"output": r["output"] or "", "final_pass": r["final_pass"],
                                "delivered": r["delivered"], "reward": r["reward"]}
                   for r in rows.iter_rows(named=True)}
        ordered = sorted(answers, key=lambda m: MODEL_ORDER.index(m) if m in MODEL_ORDER else len(MODEL_ORDER))
        out.append({"set": first, "query_id": query_id, "level": rows["level"][0],
                    "answers": {m: answers[m] for m in ordered}})
    return out


# -- the numbers each section shows ----------------------------------------------------------------


def funnel(data: dict) -> list[dict]:
    """sampled -> certified -> traced -> flagged -> reflected -> kept (SFT samples)."""
    q, t, f = data.get("queries") or {}, data.get("traces") or {}, data.get("filter") or {}
    steps = []
    if q:
        # Every domain's queries report counts its sampling `attempts`; imported queries come on top.
        sampled = q.get("attempts", 0) + sum((q.get("imported") or {}).values())
        steps += [("sampled", sampled), ("certified", q.get("total"))]
    if t:
        steps += [("traced", t.get("queries")), ("flagged", round(t.get("flag_rate", 0) * t.get("queries", 0))),
                  ("reflected", t.get("reflected"))]
    if f:
        steps.append(("kept for SFT", f.get("kept")))
    return [{"step": name, "count": count} for name, count in steps if count is not None]


def first_set(report: dict) -> str | None:
    return next(iter(report.get("sets") or {}), None)


def student_rows(data: dict) -> list[dict]:
    """One row per model and level (plus `all`): the strict metrics of its first query set."""
    rows = []
    for model, report in data["evals"].items():
        name = first_set(report)
        if name is None:
            continue
        metrics = report["sets"][name]
        strict = metrics["strict"]
        for level in ("all", *data["levels"]):
            rates = strict if level == "all" else strict["per_level"].get(level, {})
            if rates.get("count"):
                rows.append({"model": model, "set": name, "level": level, "count": rates["count"],
                             **{k: rates.get(k) for k in student_metrics(data["groups"])},
                             **({"mean_reward": metrics["mean_reward"],
                                 "format_failure_rate": metrics["format_failure_rate"],
                                 "reflection_rate": metrics["reflection_rate"],
                                 "lazy_reflection_rate": metrics["lazy_reflection_rate"],
                                 "compat_final_pass_rate": metrics["compat"]["final_pass_rate"]}
                                if level == "all" else {})})
    return rows


def lift_rows(data: dict) -> list[dict]:
    """base -> SFT -> GRPO (and the teacher): mean reward with its bootstrap interval, final pass (strict)."""
    rows = []
    for model, report in data["evals"].items():
        name = first_set(report)
        if name is not None:
            metrics = report["sets"][name]
            low, high = metrics.get("reward_ci95") or (None, None)
            rows.append({"model": model, "set": name, "mean_reward": metrics["mean_reward"], "low": low,
                         "high": high, "final_pass_rate": metrics["strict"]["final_pass_rate"],
                         "final_pass_ci95": metrics["strict"].get("final_pass_ci95")})
    return rows


def check_rows(data: dict) -> list[dict]:
    rows = []
    for model, report in data["evals"].items():
        name = first_set(report)
        if name is not None:
            for check, rate in report["sets"][name]["strict"]["per_check"].items():
                if rate is not None:
                    rows.append({"model": model, "check": check, "pass_rate": rate})
    return rows


# -- charts (Vega-Lite specs, rendered to SVG) ------------------------------------------------------


def charts(data: dict) -> dict[str, dict]:
    specs: dict[str, dict] = {}
    steps = funnel(data)
    if steps:
        specs["funnel"] = {"title": "Data funnel", "data": {"values": steps}, "mark": "bar", "width": 420,
                           "encoding": {"y": {"field": "step", "type": "nominal", "sort": None, "title": None},
                                        "x": {"field": "count", "type": "quantitative"}}}
    traces = data.get("traces") or {}
    if traces.get("teacher_final_pass_rate"):
        values = [{"level": level, "stage": stage, "pass_rate": traces[key].get(level)}
                  for level in ("all", *data["levels"])
                  for stage, key in (("reasoner alone", "teacher_raw_pass_rate"),
                                     ("after judges + reflector", "teacher_final_pass_rate"))]
        specs["teacher"] = _grouped("Teacher pass rate (strict) by level", values, "level", "pass_rate", "stage",
                                    data["levels"])
    students = [r for r in student_rows(data)]
    if students:
        specs["students"] = _grouped(f"Final pass rate (strict) on {students[0]['set']}",
                                     students, "level", "final_pass_rate", "model", data["levels"])
        specs["delivery"] = _grouped(f"Delivery rate on {students[0]['set']}", students, "level", "delivery_rate",
                                     "model", data["levels"])
    lift = lift_rows(data)
    if lift:
        base = {"data": {"values": lift}, "encoding": {
            "x": {"field": "model", "type": "nominal", "sort": None, "title": None}}}
        specs["lift"] = {
            "title": f"Mean reward (95% bootstrap CI) on {lift[0]['set']}", "width": 300, **base,
            "layer": [{"mark": {"type": "bar", "opacity": 0.7},
                       "encoding": {"y": {"field": "mean_reward", "type": "quantitative", "title": "mean reward"}}},
                      {"mark": {"type": "rule", "strokeWidth": 2},
                       "encoding": {"y": {"field": "low", "type": "quantitative"}, "y2": {"field": "high"}}}]}
    checks = check_rows(data)
    if checks:
        specs["checks"] = {"title": "Pass rate by check (strict)", "data": {"values": checks}, "mark": "rect",
                           "encoding": {"y": {"field": "check", "type": "nominal", "title": None},
                                        "x": {"field": "model", "type": "nominal", "sort": list(MODEL_ORDER)},
                                        "color": {"field": "pass_rate", "type": "quantitative",
                                                  "scale": {"domain": [0, 1]}}}}
    for stage, curves in data["curves"].items():
        values = [{"metric": name, **point} for name, points in curves.items() for point in points]
        if values:
            specs[f"{stage}_curves"] = {
                "title": f"{stage.upper()} training curves", "data": {"values": values},
                "mark": {"type": "line", "point": True}, "width": 180, "height": 120,
                "encoding": {"x": {"field": "step", "type": "quantitative"},
                             "y": {"field": "value", "type": "quantitative", "title": None},
                             "facet": {"field": "metric", "type": "nominal", "columns": 4, "title": None}},
                "resolve": {"scale": {"y": "independent"}}}
    return specs


def _grouped(title: str, values: list[dict], x: str, y: str, color: str, levels) -> dict:
    return {"title": title, "data": {"values": values}, "mark": "bar", "width": 360,
            "encoding": {"x": {"field": x, "type": "nominal", "sort": ["all", *levels], "title": None},
                         "xOffset": {"field": color},
                         "y": {"field": y, "type": "quantitative", "scale": {"domain": [0, 1]}},
                         "color": {"field": color, "type": "nominal", "sort": None}}}


# -- layout ------------------------------------------------------------------------------------------


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else str(value)


def _interval(bounds) -> str:
    return f"[{bounds[0]:.3f}, {bounds[1]:.3f}]" if bounds and None not in bounds else ""


def _table(columns: list[str], rows: list[list]) -> tuple[str, str]:
    """(HTML, Markdown) of one table."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows)
    markdown = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n" + "".join(
        "| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |\n" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>", markdown


def sections(data: dict) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(title, chart key or '', [(html, markdown) blocks]) in page order."""
    out = []
    steps = funnel(data)
    out.append(("Data funnel", "funnel", [_table(["step", "count"], [[s["step"], s["count"]] for s in steps])]
                if steps else [("<p>No query/trace/filter metrics yet.</p>", "No query/trace/filter metrics yet.\n")]))
    traces = data.get("traces") or {}
    teacher_blocks = []
    if traces:
        teacher_blocks.append(_table(["measure", "value"], [
            ["queries", traces.get("queries")], ["flag rate", traces.get("flag_rate")],
            ["judge agreement", traces.get("judge_agreement")],
            ["reflector fix rate", traces.get("reflector_fix_rate")],
            ["lazy reflection rate", traces.get("lazy_reflection_rate")],
            ["raw pass rate", (traces.get("teacher_raw_pass_rate") or {}).get("all")],
            ["final pass rate", (traces.get("teacher_final_pass_rate") or {}).get("all")]]))
    examples = data.get("lazy_examples") or []
    if examples:
        teacher_blocks.append(("<h3>Lazy reflections (judges said “No errors.”, the plan fails)</h3>",
                               "### Lazy reflections (judges said \"No errors.\", the plan fails)\n"))
        teacher_blocks.append(_table(["query", "level", "injected errors", "failed checks"], [
            [e["query"], e["level"], ", ".join(e["injected_errors"]) or "-", ", ".join(e["failed_checks"])]
            for e in examples]))
    out.append(("Teacher quality", "teacher", teacher_blocks or [("<p>No traces yet.</p>", "No traces yet.\n")]))
    rows = student_rows(data)
    columns = ["model", "level", "count", *student_metrics(data["groups"]), "mean_reward", "format_failure_rate", "reflection_rate",
               "lazy_reflection_rate", "compat_final_pass_rate"]
    out.append(("Students and teacher", "students",
                [_table(columns, [[r.get(c) for c in columns] for r in rows])] if rows
                else [("<p>No evaluation yet.</p>", "No evaluation yet.\n")]))
    lift = lift_rows(data)
    lift_blocks = [_table(["model", "mean reward", "95% CI", "final pass (strict)", "95% CI"], [
        [r["model"], r["mean_reward"], _interval([r["low"], r["high"]]), r["final_pass_rate"],
         _interval(r["final_pass_ci95"])] for r in lift])] if lift else []
    for set_name, pairs in (data.get("compare") or {}).items():
        if pairs:
            lift_blocks.append((f"<h3>Paired differences on {html.escape(set_name)} (same queries)</h3>",
                                f"### Paired differences on {set_name} (same queries)\n"))
            lift_blocks.append(_table(["pair", "reward diff", "95% CI", "P(not better)", "final pass diff", "95% CI"], [
                [pair, d["reward"]["mean"], _interval(d["reward"]["ci95"]), d["reward"].get("p_not_better"),
                 d["final_pass"]["mean"], _interval(d["final_pass"]["ci95"])] for pair, d in pairs.items()]))
    out.append(("Lift: base, SFT, GRPO", "lift", lift_blocks))
    out.append(("Delivery", "delivery", []))
    out.append(("Pass rate by check", "checks", []))
    examples = []
    for example in data.get("side_by_side") or []:
        examples.append((f"<h3>{html.escape(example['set'])} query {html.escape(example['query_id'])} "
                         f"({html.escape(example['level'])})</h3>",
                         f"### {example['set']} query {example['query_id']} ({example['level']})\n"))
        for model, answer in example["answers"].items():
            verdict = "passes every check" if answer["final_pass"] else (
                "delivered, fails a check" if answer["delivered"] else "no plan delivered")
            head = f"{model}: {verdict}, reward {_fmt(answer['reward'])}"
            examples.append((f"<details><summary>{html.escape(head)}</summary><pre>{html.escape(answer['output'])}"
                             "</pre></details>", f"<details><summary>{head}</summary>\n\n```\n{answer['output']}\n"
                             "```\n</details>\n"))
    out.append(("Student answers next to the teacher's", "", examples))
    training = []
    for stage in ("sft", "grpo"):
        metrics = data.get(stage) or {}
        if metrics:
            training.append(_table(["stage", "steps", "seconds per step", "train loss"], [
                [stage, metrics.get("steps"), (metrics.get("seconds") or {}).get("per_step"),
                 metrics.get("train_loss")]]))
    out.append(("Training", "sft_curves", training))
    out.append(("GRPO", "grpo_curves", []))
    audit = []
    for name, table in (data.get("audit_tables") or {}).items():
        audit.append((f"<h3>{html.escape(name)}</h3><p>{html.escape(table.get('description', ''))}</p>",
                      f"### {name}\n\n{table.get('description', '')}\n"))
        audit.append(_table(table["columns"], table["rows"][:12]))
    out.append(("Audit", "", audit or [("<p>No audit yet.</p>", "No audit yet.\n")]))
    return out


STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f3f3f3}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:12px}.chart{margin:.8em 0}"""


def render_html(data: dict, svgs: dict[str, str]) -> str:
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>imagine report</title><style>{STYLE}</style>"
             f"</head><body><h1>imagine: run report ({html.escape(data['domain'])})</h1>"
             f"<p>Built from git revision <code>{html.escape(data['revision'])}</code>.</p>"]
    for title, chart, blocks in sections(data):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if chart and chart in svgs:
            parts.append(f"<div class='chart'>{svgs[chart]}</div>")
        parts += [block_html for block_html, _ in blocks]
    parts.append(f"<h2>Params</h2><pre>{html.escape(data['params'])}</pre></body></html>")
    return "\n".join(parts)


def render_markdown(data: dict) -> str:
    parts = [f"# imagine: run report ({data['domain']})\n", f"Built from git revision `{data['revision']}`.\n"]
    for title, _, blocks in sections(data):
        if blocks:
            parts.append(f"## {title}\n")
            parts += [block_md for _, block_md in blocks]
    parts.append("## Params\n\n```yaml\n" + data["params"].rstrip() + "\n```\n")
    return "\n".join(parts)
