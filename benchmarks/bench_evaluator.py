"""`imagine eval` end to end, both modes, and the GRPO reward's latency, on one core.

    python benchmarks/bench_evaluator.py [--plans 5000] [--sandbox DIR] [--repeat 3] [--profile]

Plans: TravelPlanner's 45 annotated train plans and the solver's reference plans of 500 new
queries on the sandbox (seeded), cycled to `--plans`, every second one perturbed (a meal swapped for
another city's restaurant, an entity renamed, a day dropped, the budget cut) so failing paths are
timed too.

The CLI runs as a child process pinned to one core (POLARS_MAX_THREADS=1), on the plans written x1
and x5, so the marginal rate (4x the plans over the extra time) leaves start-up out, and start-up
(imports, reading the sandbox, building its index) is the x1 time less the x1 plans at that rate.
Each timing is the fastest of `--repeat` runs, in wall time and in CPU time (user + system, which
leaves out the time other processes held the core). The reward's latency is timed in process, on
completions it has not seen.
Targets: >= 10,000 plans/s marginal in both modes (aim 20,000), start-up <= 1 s, reward p50 < 1 ms.
`--profile` also prints the top cProfile entries of one in-process x1 run per mode.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import json
import os
import pstats
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPLICAS = (1, 5)


def _pairs(sandbox, certified: int) -> list[tuple[dict, list]]:
    """TravelPlanner's annotated train plans, and the solver's reference plans of `certified` new
    queries on this sandbox (seeded, so every run times the same plans)."""
    from imagine.domains.travelplanner.queries import BuildConfig, build_queries, to_travelplanner

    path = ROOT / "data" / "external" / "travelplanner" / "train.jsonl"
    pairs = [({k: v for k, v in row.items() if k != "plan"}, row["plan"])
             for row in map(json.loads, path.read_text().splitlines())]
    frames, _ = build_queries(sandbox, BuildConfig.from_params(
        {"seed": 11, "counts": {"train": 0, "val": 0, "test": certified}, "import": []}))
    return pairs + [(to_travelplanner(row), json.loads(row["reference_plan"])) for row in frames["test"].iter_rows(named=True)]


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


def workload(sandbox, count: int, certified: int) -> list[tuple[dict, list]]:
    pairs = _pairs(sandbox, certified)
    rng = random.Random(0)
    restaurants = sandbox["restaurants"].head(2000)
    names = [f"{name}, {city}" for name, city in zip(restaurants["name"], restaurants["city"])]
    print(f"{len(pairs)} distinct (query, plan) pairs, cycled to {count}, every second one perturbed")
    return [_perturb(rng, *pairs[i % len(pairs)], names) if i % 2 else pairs[i % len(pairs)]
            for i in range(count)]


def write_files(folder: Path, work: list, replicas: int) -> tuple[Path, Path]:
    queries, plans = folder / f"queries_x{replicas}.jsonl", folder / f"plans_x{replicas}.jsonl"
    with queries.open("w") as q_out, plans.open("w") as p_out:
        for idx, (query, plan) in enumerate(work * replicas, 1):
            q_out.write(json.dumps(query) + "\n")
            p_out.write(json.dumps({"idx": idx, "query": query.get("query", ""), "plan": plan}) + "\n")
    return queries, plans


def time_cli(queries: Path, plans: Path, sandbox: Path, mode: str, out: Path, repeat: int) -> tuple[float, float]:
    """(wall, CPU) seconds, each the least of `repeat` runs: other work on the machine only ever slows a
    run, and CPU time (user + system) leaves out the time another process held the core."""
    env = {**os.environ, "POLARS_MAX_THREADS": "1"}
    command = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    command += [sys.executable, "-m", "imagine.cli", "eval", "--queries", str(queries), "--plans", str(plans),
                "--sandbox", str(sandbox), "--mode", mode, "--out", str(out)]
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        if done.returncode != 0:
            sys.exit(f"imagine eval failed:\n{done.stderr[-2000:]}")
    return min(walls), min(cpus)


def bench_cli(sandbox_dir: Path, work: list, folder: Path, repeat: int) -> None:
    files = {r: write_files(folder, work, r) for r in REPLICAS}
    n, extra = len(work), (REPLICAS[1] - REPLICAS[0]) * len(work)
    for mode in ("compat", "strict"):
        times = {r: time_cli(*files[r], sandbox_dir, mode, folder / f"verdicts_{mode}.jsonl", repeat) for r in REPLICAS}
        for clock, k in (("wall", 0), ("CPU", 1)):
            x1, x5 = times[REPLICAS[0]][k], times[REPLICAS[1]][k]
            marginal = extra / (x5 - x1)
            print(f"  imagine eval --mode {mode} ({clock}): x1 {n} plans {x1:.2f} s, x5 {5 * n} plans {x5:.2f} s; "
                  f"marginal {marginal:,.0f} plans/s, start-up {x1 - n / marginal:.2f} s")


def bench_reward(index, work: list) -> None:
    """Latency of one reward call on a completion it has not seen (so its memo never answers)."""
    from imagine.answer import format_answer
    from imagine.domains.travelplanner.evaluate import Scorer
    from imagine.train.rewards import Reward

    reward = Reward(Scorer(index, "strict"))
    latencies = []
    for i, (query, plan) in enumerate(work):
        completion = format_answer(f"Plan {i}: I check every leg.", "No errors." if i % 3 else None, plan)
        query_json = json.dumps(query)
        started = time.perf_counter()
        reward.parts(query_json, completion)
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    print(f"  reward (imagine.train.rewards): p50 {p50 * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms "
          f"per completion (target p50 < 1 ms)")


def profile(sandbox_dir: Path, folder: Path, work: list, top: int = 15) -> None:
    from imagine.domains.travelplanner.evaluate.files import evaluate_files

    queries, plans = write_files(folder, work, 1)
    for mode in ("compat", "strict"):
        profiler = cProfile.Profile()
        profiler.runcall(evaluate_files, queries, plans, sandbox_dir, mode, folder / "profiled.jsonl", progress=False)
        print(f"\n  cProfile, evaluate_files --mode {mode}, {len(work)} plans (top {top} by own time):")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plans", type=int, default=5_000, help="distinct plans per x1 file")
    parser.add_argument("--certified", type=int, default=500, help="solver queries added to the 45 train plans")
    parser.add_argument("--sandbox", type=Path, help="default: data/sandbox if built, else the vendored database")
    parser.add_argument("--repeat", type=int, default=3, help="runs per CLI timing; the fastest counts")
    parser.add_argument("--profile", action="store_true", help="also print cProfile's top entries")
    args = parser.parse_args()
    os.environ["POLARS_MAX_THREADS"] = "1"  # before polars is imported: one core, like the CLI runs
    from imagine.domains.travelplanner.evaluate.index import SandboxIndex
    from imagine.domains.travelplanner.sandbox import Sandbox

    built = ROOT / "data" / "sandbox"
    sandbox_dir = args.sandbox or (built if (built / "manifest.json").is_file() else ROOT / "data" / "external" / "travelplanner")
    started = time.perf_counter()
    sandbox = Sandbox.load(sandbox_dir)
    loaded = time.perf_counter()
    index = SandboxIndex(sandbox)
    print(f"sandbox {sandbox_dir}: load {loaded - started:.2f} s + index {time.perf_counter() - loaded:.2f} s "
          f"(in process)")
    work = workload(sandbox, args.plans, args.certified)
    with tempfile.TemporaryDirectory() as tmp:
        bench_cli(sandbox_dir, work, Path(tmp), args.repeat)
        bench_reward(index, work)
        if args.profile:
            profile(sandbox_dir, Path(tmp), work)


if __name__ == "__main__":
    main()
