"""DVC stage `evaluate`: every model on the query splits, scored by the domain's one checker in each mode.

Reads `evaluate:` (plus `traces` for the prompts, `sft.rl_init_step` and `grpo.reward`) from params.yaml.
Each model of `evaluate.models` (a local checkpoint folder; `{rl_init_step}` in a path becomes
`sft.rl_init_step`) answers the first `limit` queries (of `days` length) of each split in `evaluate.splits` with the
Reasoner's prompt, through `evaluate.generation` and a call cache (evaluate.cache, a persist output:
an unchanged checkpoint is never asked twice). The MAS teacher's traces of those queries are scored
too. With `evaluate.official` set (the benchmark's own query file and world, e.g. TravelPlanner's
validation/test file and database), the students are evaluated on it as well.

Writes reports/eval/<model>.json (metrics per query set and mode, with 95% bootstrap intervals of the
mean reward and final pass rate), reports/eval/compare.json (for each pair [a, b] of `evaluate.compare`,
the paired bootstrap of a - b over the same queries: reward and final pass), reports/eval_plots/*.json (the
model comparison plots), data/eval/evals.parquet (one row per model, mode, query and sample; the
`evals` audit view), and, where the domain has a submission format (TravelPlanner's), the submission
files data/eval/submissions/<model>/<set>.jsonl with the matching query files
data/eval/submissions/<set>_queries.jsonl (`imagine eval` reads both). Each query split file is
validated with the domain's queries suite before it is used; on a bad input or
config: exit 1 with the reason (a failed expectation names the file, column and expectation), nothing
written.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from imagine.io import atomic_path, write_json
from imagine.domain import domain_of
from imagine.stage import Stage


def load_sets(config: dict, domain, weights, traces_params: dict):
    """The query sets: generated splits from evaluate.queries (each file validated with the domain's
    queries suite first), plus the benchmark's own files (evaluate.official)."""
    import polars as pl

    from imagine.evaluation import QuerySet
    from imagine.train.rewards import Reward

    def query_set(name, rows, world_dir):
        world = domain.load_world(world_dir)
        checkers = {mode: domain.checker(world, mode) for mode in domain.modes}
        return QuerySet(name, rows, domain, checkers, Reward(checkers["strict"], weights), world)

    sets = []
    limit, days = config.get("limit"), config.get("days")
    for split in config.get("splits", ["test"]):
        path = Path(config.get("queries", "data/queries")) / f"{split}.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"no {path} (evaluate.splits names {split!r}): run `dvc repro queries` first")
        frame = pl.read_parquet(path)
        domain.validate_queries(frame, source=str(path), splits=[split])  # before any filter, limit or work
        if "idx" not in frame.columns:  # a domain without its own numbering: the file's order, 1-based
            frame = frame.with_row_index("idx", offset=1).with_columns(pl.col("idx").cast(pl.Int64))
        frame = frame.sort("idx")
        if days:
            frame = frame.filter(pl.col("days").is_in(days))
        if limit:
            frame = frame.head(limit)
        sets.append(query_set(split, frame.to_dicts(), config.get("sandbox", "data/sandbox")))
    official = config.get("official")
    if official:
        rows = [r for r in domain.read_official_queries(official["queries"]) if not days or r["days"] in days][:limit]
        for position, row in enumerate(rows, 1):
            row.update(idx=position, split=official["name"])
        sets.append(query_set(official["name"], rows, official["sandbox"]))
    return sets


def checkpoints(models: dict, rl_init_step: int) -> dict[str, str]:
    """name -> checkpoint folder, each checked to exist (a clear error before any generation)."""
    out = {}
    for name, path in models.items():
        folder = str(path).replace("{rl_init_step}", str(rl_init_step))
        if not (Path(folder) / "config.json").is_file():
            raise FileNotFoundError(f"evaluate.models.{name}: no checkpoint at {folder!r} (no config.json); "
                                    "run `dvc repro` up to the stage that makes it")
        out[name] = folder
    return out


stage = Stage("evaluate", __doc__, sections=["evaluate", "traces"], domain=domain_of)
stage.arg("--out", default="data/eval", help="per-query data folder (default: %(default)s)")
stage.arg("--reports", default="reports/eval", help="metrics folder (default: %(default)s)")
stage.arg("--plots", default="reports/eval_plots", help="comparison plots' data (default: %(default)s)")


def run(args, params, domain) -> int:
    import polars as pl

    from imagine import evaluation as ev
    from imagine.answer import THINK_OPEN
    from imagine.checks.evals import validate_evals
    from imagine.llm.base import Sampling
    from imagine.llm.cache import CallCache
    from imagine.llm.registry import build_backend
    from imagine.mas.protocol import SAMPLING_KEYS
    from imagine.train.rewards import RewardWeights
    from imagine.train.sft import SFTParams

    started = time.perf_counter()
    config = params["evaluate"]
    generation = dict(config["generation"])
    samples = int(generation.pop("samples", 1))
    # must_start_with: an answer that cannot open with <think> cannot parse, so its generation may end there
    sampling = Sampling(seed=int(generation.pop("seed", 0)), must_start_with=THINK_OPEN, **{
        k: (tuple(v or ()) if k == "stop" else v) for k, v in generation.items() if k in SAMPLING_KEYS})
    spec = {k: v for k, v in generation.items() if k not in SAMPLING_KEYS}
    rl_init_step = SFTParams.from_params(params.get("sft")).rl_init_step
    models = checkpoints(config["models"], rl_init_step)
    named = set(models) | ({ev.TEACHER} if config.get("traces") else set())
    unknown = sorted({m for pair in config.get("compare") or [] for m in pair} - named)
    if unknown:
        raise ValueError(f"evaluate.compare names {unknown}, not among the evaluated models {sorted(named)}")
    weights = RewardWeights.from_params((params.get("grpo") or {}).get("reward"), domain.groups)
    sets = load_sets(config, domain, weights, params.get("traces") or {})
    reports: dict[str, dict] = {}
    rows: list[dict] = []
    submissions: dict[tuple[str, str], list[str]] = {}
    cache = CallCache(config.get("cache", "data/eval_cache/calls.sqlite"))
    for name, folder in models.items():
        model_started = time.perf_counter()
        backend = build_backend({**spec, "model": folder})
        report = {"model": name, "checkpoint": folder, "sets": {}}
        try:
            for qset in sets:
                prompts = domain.prompts(qset.world, params.get("traces") or {})
                answers = ev.generate_answers(backend, qset, prompts.reasoner, sampling, samples, cache)
                scored, metrics = ev.score_answers(name, qset, answers)
                rows += scored
                report["sets"][qset.name] = metrics
                submissions[(name, qset.name)] = domain.export(qset.rows, [a[0].text for a in answers])
        finally:
            backend.close()
        report["seconds"] = round(time.perf_counter() - model_started, 2)
        reports[name] = report
        print(f"evaluate: {name}: " + "; ".join(
            f"{s}: delivery {m['strict']['delivery_rate']:.3f}, final pass {m['strict']['final_pass_rate']:.3f}, "
            f"reward {m['mean_reward']:.3f}" for s, m in report["sets"].items()))
    cache.close()
    traces_path = config.get("traces")
    if traces_path:
        if not Path(traces_path).is_file():
            raise FileNotFoundError(f"no {traces_path} (evaluate.traces): run `dvc repro traces` first")
        traces = pl.read_parquet(traces_path)
        report = {"model": ev.TEACHER, "checkpoint": None, "sets": {}}
        for qset in sets:
            if qset.name not in set(traces["split"].unique()):
                continue  # the teacher never ran on this set (e.g. the benchmark's own files)
            answers, missing = ev.teacher_answers(traces, qset)
            scored, metrics = ev.score_answers(ev.TEACHER, qset, answers)
            rows += scored
            report["sets"][qset.name] = {**metrics, "missing_traces": missing}
            submissions[(ev.TEACHER, qset.name)] = domain.export(qset.rows, [a[0].text for a in answers])
        reports[ev.TEACHER] = report
    comparisons = {qset.name: ev.compare(rows, config.get("compare") or [], qset.name) for qset in sets}
    schema = ev.evals_schema(domain)
    evals = pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)
    validate_evals(evals, source=f"{args.out}/evals.parquet", reward_bounds=weights.bounds, domain=domain)

    with atomic_path(args.out) as tmp:
        tmp.mkdir()
        evals.write_parquet(tmp / "evals.parquet")
        for (model, set_name), lines in submissions.items():
            if lines:
                ev.write_text_lines(tmp / "submissions" / model / f"{set_name}.jsonl", lines)
        for qset in sets:
            if any(lines for (_, set_name), lines in submissions.items() if set_name == qset.name):
                ev.write_text_lines(tmp / "submissions" / f"{qset.name}_queries.jsonl", domain.query_lines(qset.rows))
    with atomic_path(args.reports) as tmp:
        tmp.mkdir()
        for name, report in reports.items():
            write_json(tmp / f"{name}.json", report)
        write_json(tmp / "compare.json", comparisons)
    by_level, by_check = ev.plot_rows(reports, sets[0].name, domain.levels) if sets else ([], [])
    with atomic_path(args.plots) as tmp:
        tmp.mkdir()
        write_json(tmp / "final_pass_by_level.json", by_level)
        write_json(tmp / "pass_rate_by_check.json", by_check)
    for set_name, pairs in comparisons.items():
        for pair, diff in pairs.items():
            print(f"evaluate: {set_name}: {pair} reward {diff['reward']['mean']:+.3f} "
                  f"(95% CI {diff['reward']['ci95']}), final pass {diff['final_pass']['mean']:+.3f} "
                  f"(95% CI {diff['final_pass']['ci95']})")
    print(f"evaluate: {len(reports)} models on {', '.join(s.name for s in sets)}; "
          f"{evals.height} rows; {time.perf_counter() - started:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    return stage.run(run, argv)


if __name__ == "__main__":
    sys.exit(main())
