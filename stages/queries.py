"""DVC stage `queries`: certified-solvable TravelPlanner-like queries for train / val / test.

Reads `queries:` from params.yaml; imports the listed TravelPlanner query files as splits; samples new
queries, solves each with the feasibility solver, sets its budget from the plan's cost and certifies
the plan with the strict scorer (unsolvable samples are dropped and counted by reason); validates
each split with the Great Expectations queries suite; writes data/queries/{split}.parquet and
{split}.jsonl (TravelPlanner query format, for `imagine eval --queries`) atomically, and metrics to
reports/queries.json. Invalid data: exit 1 with the failed expectations, nothing written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from imagine.io import atomic_path, read_params, write_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    parser.add_argument("--out", default="data/queries", help="queries folder to write (default: %(default)s)")
    parser.add_argument("--metrics", default="reports/queries.json", help="metrics JSON (default: %(default)s)")
    args = parser.parse_args(argv)

    from imagine.params import params_or_exit

    params_or_exit(args.params, ["queries"], "queries")  # before any work: one line naming a bad key

    import polars as pl
    from tqdm import tqdm

    from imagine.checks import DataValidationError, gx, validate
    from imagine.domains.travelplanner.checks.queries import validate_queries
    from imagine.domains.travelplanner.queries import BuildConfig, QueryImportError, build_queries, travelplanner_records
    from imagine.domains.travelplanner.sandbox import Sandbox, SandboxError

    started = time.perf_counter()
    try:
        params = read_params(args.params).get("queries", {}) or {}
        config = BuildConfig.from_params(params)
        sandbox = Sandbox.load(params.get("sandbox", "data/sandbox"))
        with tqdm(total=sum(config.counts.values()), desc="queries", unit="query", file=sys.stderr) as bar:
            frames, metrics = build_queries(sandbox, config, progress=bar)
        checked = time.perf_counter()
        for split, frame in frames.items():
            validate_queries(frame, source=f"{args.out}/{split}.parquet", splits=list(frames))
        validate(pl.concat(list(frames.values())), [gx.expectations.ExpectColumnValuesToBeUnique(column="query_id")],
                 dataset="queries", source=f"{args.out}/*.parquet (all splits)")
        validate_s = time.perf_counter() - checked
    except (DataValidationError, QueryImportError, SandboxError, ValueError, OSError) as exc:
        print(f"queries: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("queries: nothing written", file=sys.stderr)
        return 1

    with atomic_path(args.out) as tmp:
        tmp.mkdir()
        for split, frame in frames.items():
            frame.write_parquet(tmp / f"{split}.parquet")
            with open(tmp / f"{split}.jsonl", "w", encoding="utf-8") as handle:
                for record in travelplanner_records(frame):
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    metrics["seconds"]["validate"] = round(validate_s, 2)
    metrics["seconds"]["wall"] = round(time.perf_counter() - started, 2)
    metrics["sandbox"] = str(params.get("sandbox", "data/sandbox"))
    write_json(args.metrics, metrics)
    counts = ", ".join(f"{split} {f.height}" for split, f in frames.items())
    dropped = ", ".join(f"{k} {v}" for k, v in metrics["dropped_total"].items()) or "none"
    print(f"queries: wrote {args.out} ({counts}); dropped: {dropped}; "
          f"{metrics['queries_per_second']} certified queries/s; {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
