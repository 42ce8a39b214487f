"""Throughput of query generation: sample + solve + certify (strict and compat scoring).

    python benchmarks/bench_queries.py [--count 10000] [--sandbox data/sandbox] [--seed 0]

Prints certified queries/s, solver time and scoring time. Target: 10,000 certified queries in under
60 s on one core. The sandbox defaults to data/sandbox, else the official TravelPlanner folder.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from imagine.domains.travelplanner.queries import BuildConfig, build_queries
from imagine.domains.travelplanner.sandbox import Sandbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sandbox", default=None)
    args = parser.parse_args()
    path = args.sandbox or ("data/sandbox" if Path("data/sandbox/manifest.json").is_file()
                            else "data/external/travelplanner")
    start = time.perf_counter()
    sandbox = Sandbox.load(path)
    load = time.perf_counter() - start
    config = BuildConfig(seed=args.seed, counts={"bench": args.count})
    start = time.perf_counter()
    frames, metrics = build_queries(sandbox, config)
    wall = time.perf_counter() - start
    made = frames["bench"].height if "bench" in frames else 0
    seconds = metrics["seconds"]
    print(f"sandbox {path}: loaded in {load:.2f} s; index + scorers built in {seconds['setup']:.2f} s")
    print(f"certified queries: {made} of {args.count} wanted, {metrics['attempts']} sampled")
    print(f"wall {wall:.2f} s (generation {seconds['generate']:.2f} s): {made / seconds['generate']:.0f} certified queries/s")
    print(f"solver {seconds['solver']:.2f} s ({1000 * seconds['solver'] / max(metrics['attempts'], 1):.2f} ms/sample); "
          f"scoring strict+compat {seconds['certify']:.2f} s")
    print(f"compat pass of reference plans: {metrics['compat_pass_rate']}")
    print("dropped:", json.dumps(metrics["dropped_total"]))


if __name__ == "__main__":
    main()
