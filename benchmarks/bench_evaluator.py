"""Strict-mode scoring throughput on one core, and sandbox load times.

    python benchmarks/bench_evaluator.py [--plans 10000] [--sandbox data/sandbox]
        [--travelplanner data/external/travelplanner]

Plans: the queries stage's reference plans when `data/queries` exists (run `dvc repro` first),
else TravelPlanner's annotated train plans; half of them perturbed (a meal swapped for another city's restaurant, an
entity renamed, a day dropped, the budget cut) so failing paths are timed too.
Targets: >= 5,000 plans/s (aim 10,000), sandbox load < 2 s.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import time
from pathlib import Path

from imagine.evaluate import Scorer
from imagine.sandbox import Sandbox


def _pairs(root: Path) -> list[tuple[dict, list]]:
    splits = sorted((root / "data" / "queries").glob("*.parquet"))
    if splits:
        import polars as pl

        from imagine.queries import to_travelplanner

        rows = pl.concat([pl.read_parquet(path) for path in splits], how="diagonal").iter_rows(named=True)
        return [(to_travelplanner(row), json.loads(row["reference_plan"])) for row in rows]
    path = root / "data" / "external" / "travelplanner" / "train.jsonl"
    return [(row, row["plan"]) for row in map(json.loads, path.read_text().splitlines())]


def _perturb(rng: random.Random, query: dict, plan: list, names: list[str]) -> tuple[dict, list]:
    query, plan = copy.deepcopy(query), copy.deepcopy(plan)
    kind = rng.randrange(4)
    day = plan[rng.randrange(len(plan))]
    if kind == 0:
        day["dinner"] = rng.choice(names)
    elif kind == 1:
        day["accommodation"] = "Imaginary Hotel, " + day["current_city"].split(" to ")[-1]
    elif kind == 2:
        plan.pop()
    else:
        query["budget"] = 1
    return query, plan


def bench(sandbox_dir: Path, pairs, count: int, label: str) -> None:
    start = time.perf_counter()
    sandbox = Sandbox.load(sandbox_dir)
    loaded = time.perf_counter()
    scorer = Scorer(sandbox, "strict")
    indexed = time.perf_counter()
    rng = random.Random(0)
    names = [f"{r['name']}, {r['city']}" for r in list(scorer.index.rows("restaurants"))[:2000]]
    work = []
    for i in range(count):
        query, plan = pairs[i % len(pairs)]
        work.append(_perturb(rng, query, plan, names) if i % 2 else (query, plan))
    t0 = time.perf_counter()
    passed = sum(scorer.score(query, plan).final_pass for query, plan in work)
    elapsed = time.perf_counter() - t0
    print(f"[{label}] {sandbox_dir}")
    print(f"  load {loaded - start:.2f} s + index {indexed - loaded:.2f} s = {indexed - start:.2f} s (target < 2 s)")
    print(f"  strict scoring: {count} plans in {elapsed:.2f} s = {count / elapsed:,.0f} plans/s "
          f"({count / elapsed / 5000:.2f}x the 5,000/s target); {passed} passed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plans", type=int, default=10_000)
    parser.add_argument("--sandbox", type=Path, default=Path("data/sandbox"))
    parser.add_argument("--travelplanner", type=Path, default=Path("data/external/travelplanner"))
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    pairs = _pairs(root)
    print(f"{len(pairs)} distinct (query, plan) pairs, cycled to {args.plans}")
    if (args.sandbox / "manifest.json").is_file():
        bench(args.sandbox, pairs, args.plans, "built sandbox")
    else:
        print(f"(no built sandbox at {args.sandbox}: run `dvc repro sandbox` first)")
    if args.travelplanner.is_dir():
        bench(args.travelplanner, pairs, args.plans, "official-format folder")


if __name__ == "__main__":
    main()
