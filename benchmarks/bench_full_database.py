"""Loading the official database at full size (~3.8M flights): time and peak memory, first and cached.

    python benchmarks/bench_full_database.py [--db /tmp/travelplanner_full] [--rows 3800000]

Writes the stand-in with benchmarks/make_full_database.py when DB has no flights file yet (never
inside the repository), then times, each in a fresh process on 2 threads: loading it into a
`SandboxIndex` with no cache (CSV parsed, normalised, Parquet cache written), the same load again
(from the cache), and `imagine eval --sandbox DB` on TravelPlanner's 45 annotated train plans in
both modes (cached). Peak memory is the child's maximum resident set size.
Targets: first load <= 10 s, cached load <= 2 s, <= 2 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOAD = ("from imagine.domains.travelplanner.evaluate.index import SandboxIndex; from imagine.domains.travelplanner.sandbox import Sandbox; "
        "import sys; SandboxIndex(Sandbox.load(sys.argv[1]))")


def measure(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak resident MiB) of one child process."""
    env = {**os.environ, "POLARS_MAX_THREADS": "2"}
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(command)} failed:\n{child.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "travelplanner_full")
    parser.add_argument("--rows", type=int, default=3_800_000)
    args = parser.parse_args()
    from imagine.domains.travelplanner.sandbox.tables import CACHE_FOLDER, OFFICIAL_FILES

    flights = args.db / OFFICIAL_FILES["flights"]
    if not flights.is_file():
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_full_database.py"), str(args.db),
                        "--rows", str(args.rows)], check=True)
    print(f"{args.db}: flights file {flights.stat().st_size / 2**20:,.0f} MiB")
    shutil.rmtree(args.db / CACHE_FOLDER, ignore_errors=True)
    for label in ("first load (CSV, cache written)", "cached load (Parquet)"):
        seconds, mib = measure([sys.executable, "-c", LOAD, str(args.db)])
        print(f"  {label}: {seconds:.2f} s, peak {mib:,.0f} MiB (Sandbox.load + SandboxIndex, interpreter start included)")

    train = ROOT / "data" / "external" / "travelplanner" / "train.jsonl"
    with tempfile.TemporaryDirectory() as tmp:
        queries, plans = Path(tmp) / "q.jsonl", Path(tmp) / "p.jsonl"
        rows = [json.loads(line) for line in train.read_text().splitlines()]
        queries.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "plan"}) + "\n" for r in rows))
        plans.write_text("".join(json.dumps({"idx": r["idx"], "query": r["query"], "plan": r["plan"]}) + "\n"
                                 for r in rows))
        for mode in ("compat", "strict"):
            seconds, mib = measure([sys.executable, "-m", "imagine.cli", "eval", "--queries", str(queries),
                                    "--plans", str(plans), "--sandbox", str(args.db), "--mode", mode,
                                    "--out", str(Path(tmp) / "v.jsonl")])
            print(f"  imagine eval --mode {mode} --sandbox {args.db} ({len(rows)} plans, cached): "
                  f"{seconds:.2f} s, peak {mib:,.0f} MiB")


if __name__ == "__main__":
    main()
