"""DVC stage `filter`: MAS traces -> SFT samples and GRPO prompts, ready for TRL.

Reads `filter:` from params.yaml, data/traces/{traces,turns}.parquet, data/queries/*.parquet and the
student's tokenizer (`filter.tokenizer`, the `base_model` stage's folder); every input table is
validated with its GX suite (turns, traces with their turns, each queries split) before any work.
Keeps the traces whose final plan passes every strict check (and the optional conditions: a
reflection, no lazy reflection, at most `max_tokens` under the student's chat template, no
duplicates); counts every dropped trace by reason. Validates both outputs with their Great
Expectations suites and writes data/filtered/sft.parquet and grpo_prompts.parquet atomically, metrics
to reports/filter.json.
Invalid data or inputs: exit 1 with the reason, nothing written.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from imagine.io import atomic_path, write_json
from imagine.domain import domain_of
from imagine.stage import Stage


def load_tokenizer(path: str | None):
    """The student's tokenizer (with its chat template) from a checkpoint folder; None when `path` is null."""
    if path is None:
        return None
    folder = Path(path)
    if not (folder / "tokenizer_config.json").exists():
        raise FileNotFoundError(
            f"no tokenizer in {str(folder)!r} (filter.tokenizer): run `dvc repro base_model` first, "
            "or set filter.tokenizer to a checkpoint folder (null = approximate token counts)")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"the tokenizer in {str(folder)!r} has no chat template")
    return tokenizer


stage = Stage("filter", __doc__, sections=["filter", "traces"], domain=domain_of)
stage.arg("--traces", default="data/traces", help="traces folder (default: %(default)s)")
stage.arg("--queries", default="data/queries", help="queries folder (default: %(default)s)")
stage.arg("--out", default="data/filtered", help="folder to write (default: %(default)s)")
stage.arg("--metrics", default="reports/filter.json", help="metrics JSON (default: %(default)s)")


def run(args, all_params, domain) -> int:
    import polars as pl

    from imagine.checks.filtered import validate_grpo, validate_sft
    from imagine.checks.traces import validate_traces, validate_turns
    from imagine.filtering import FilterConfig, filter_traces, prompt_drift, reasoner_prompts

    started = time.perf_counter()
    params = all_params.get("filter", {}) or {}
    config = FilterConfig.from_params(params)
    traces_dir = Path(args.traces)
    for name in ("traces.parquet", "turns.parquet"):
        if not (traces_dir / name).exists():
            raise FileNotFoundError(f"no {traces_dir / name}: run `dvc repro traces` first")
    traces = pl.read_parquet(traces_dir / "traces.parquet")
    turns = pl.read_parquet(traces_dir / "turns.parquet")
    validate_turns(turns, source=str(traces_dir / "turns.parquet"))  # inputs first: a bad one stops here
    validate_traces(traces, source=str(traces_dir / "traces.parquet"), turns=turns, domain=domain)
    turns = turns.select("query_id", "split", "round", "role", "prompt", "output")
    files = sorted(Path(args.queries).glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no query files in {args.queries}: run `dvc repro queries` first")
    query_frames = [pl.read_parquet(f) for f in files]
    for path, split_frame in zip(files, query_frames):
        domain.validate_queries(split_frame, source=str(path), splits=[path.stem])
    queries = pl.concat(query_frames, how="diagonal_relaxed")
    tokenizer = load_tokenizer(params.get("tokenizer", "models/base"))
    loaded = time.perf_counter()
    prompts = domain.prompts(domain.load_world(params.get("sandbox", "data/sandbox")), all_params.get("traces") or {})
    result = filter_traces(traces, turns, queries, config, domain, tokenizer, prompt_builder=prompts.reasoner)
    drift = None
    if result.grpo_built:  # some GRPO prompts were rebuilt: they must equal the Reasoner's prompts
        drift = prompt_drift(reasoner_prompts(turns, traces), queries, prompts.reasoner)
        if drift["mismatched"]:
            raise ValueError(f"rebuilt prompts differ from the reasoner turns' prompts for {drift['mismatched']} "
                             f"of {drift['checked']} queries (e.g. {drift['examples']}): the traces were made "
                             "with other prompts or traces params (e.g. reference caps); rerun `dvc repro traces`")
    filtered = time.perf_counter()
    validate_sft(result.sft, source=f"{args.out}/sft.parquet", max_tokens=config.max_tokens, levels=domain.levels)
    validate_grpo(result.grpo, source=f"{args.out}/grpo_prompts.parquet",
                  max_prompt_tokens=config.grpo_max_prompt_tokens, domain=domain)
    validated = time.perf_counter()

    with atomic_path(args.out) as tmp:
        tmp.mkdir()
        result.sft.write_parquet(tmp / "sft.parquet")
        result.grpo.write_parquet(tmp / "grpo_prompts.parquet")
    metrics = result.metrics()
    metrics["params"] = {"require_reflection": config.require_reflection, "drop_lazy": config.drop_lazy,
                         "max_tokens": config.max_tokens, "dedupe": config.dedupe,
                         "grpo_source": config.grpo_source, "tokenizer": params.get("tokenizer", "models/base")}
    metrics["grpo"]["prompt_drift"] = drift
    metrics["seconds"] = {"load": round(loaded - started, 2), "filter": round(filtered - loaded, 2),
                          "validate": round(validated - filtered, 2),
                          "wall": round(time.perf_counter() - started, 2)}
    write_json(args.metrics, metrics)
    dropped = ", ".join(f"{k} {v}" for k, v in result.dropped.items() if v) or "none"
    print(f"filter: kept {result.sft.height} of {metrics['traces']} traces (dropped: {dropped}); "
          f"{result.grpo.height} GRPO prompts; tokens p50 {metrics['sft']['tokens']['p50']} "
          f"max {metrics['sft']['tokens']['max']}; {time.perf_counter() - started:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    return stage.run(run, argv)


if __name__ == "__main__":
    sys.exit(main())
