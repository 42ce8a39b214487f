"""DVC stage `queries`: certified-solvable queries for train / val / test, from the domain's generator.

Reads `queries:` from params.yaml. TravelPlanner imports the listed TravelPlanner query files as splits,
samples new queries, solves each with the feasibility solver, sets its budget from the plan's cost and
certifies the plan with the strict scorer; the trip domain samples an itinerary first and derives the
constraints from it. Unsolvable samples are dropped and counted by reason. Each split is validated with
the domain's queries suite and query ids are unique across splits; writes data/queries/{split}.parquet
(and the domain's files, e.g. TravelPlanner's {split}.jsonl for `imagine eval --queries`) atomically, and
metrics to reports/queries.json. Invalid data: exit 1 with the failed expectations, nothing written.
"""

from __future__ import annotations

import sys
import time

from imagine.io import atomic_path, write_json
from imagine.domain import domain_of
from imagine.stage import Stage

stage = Stage("queries", __doc__, sections=["queries"], domain=domain_of)
stage.arg("--out", default="data/queries", help="queries folder to write (default: %(default)s)")
stage.arg("--metrics", default="reports/queries.json", help="metrics JSON (default: %(default)s)")


def run(args, params, domain) -> int:
    import polars as pl
    from tqdm import tqdm

    from imagine.checks import gx, validate

    started = time.perf_counter()
    params = params.get("queries", {}) or {}
    with tqdm(total=domain.query_count(params), desc="queries", unit="query", file=sys.stderr) as bar:
        built = domain.build_queries(params, progress=bar)
    checked = time.perf_counter()
    validate(pl.concat(list(built.tables.values()), how="diagonal_relaxed"),
             [gx.expectations.ExpectColumnValuesToBeUnique(column="query_id")],
             dataset="queries", source=f"{args.out}/*.parquet (all splits)")
    with atomic_path(args.out) as tmp:
        tmp.mkdir()
        for split, frame in built.tables.items():
            frame.write_parquet(tmp / f"{split}.parquet")
        for name, lines in built.files.items():
            (tmp / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    metrics = built.report
    metrics.setdefault("seconds", {})["validate_unique"] = round(time.perf_counter() - checked, 2)
    metrics["seconds"]["wall"] = round(time.perf_counter() - started, 2)
    write_json(args.metrics, metrics)
    counts = ", ".join(f"{split} {f.height}" for split, f in built.tables.items())
    print(f"queries: wrote {args.out} ({counts}); {time.perf_counter() - started:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    return stage.run(run, argv)


if __name__ == "__main__":
    sys.exit(main())
