"""Time and peak memory of every DVC stage: `dvc repro --single-item` stage by stage, in pipeline order.

Each stage runs as its own `dvc repro` child; its wall time and peak resident memory (the largest of
dvc and the stage's process, from the kernel's rusage of the finished child) are printed as a table
and written as JSON. Stages that are up to date take a second (DVC skips them); `--force` reruns
every stage. Run it in a checkout (e.g. a fresh clone, see benchmarks/newcomer.sh):

    python benchmarks/bench_pipeline.py [--repo DIR] [--force] [--out reports/bench_pipeline.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def stage_order(repo: Path) -> list[str]:
    """Stage names in the order `dvc repro` would run them."""
    listed = subprocess.run([sys.executable, "-m", "dvc", "stage", "list", "--name-only"], cwd=repo,
                            capture_output=True, text=True, check=True).stdout.split()
    import yaml

    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    deps = {name: {str(d) for d in spec.get("deps", [])} for name, spec in stages.items()}
    outs = {name: {next(iter(o)) if isinstance(o, dict) else str(o) for o in spec.get("outs", [])}
            for name, spec in stages.items()}
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for other in listed:
            if other != name and any(d == o or d.startswith(o.rstrip("/") + "/") for d in deps[name]
                                     for o in outs[other]):
                visit(other)
        order.append(name)

    for name in listed:
        visit(name)
    return order


def run_stage(repo: Path, stage: str, force: bool) -> dict:
    args = [sys.executable, "-m", "dvc", "repro", "--single-item", stage] + (["--force"] if force else [])
    started = time.perf_counter()
    process = subprocess.Popen(args, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(output[-4000:], file=sys.stderr)
    return {"stage": stage, "seconds": round(seconds, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024),
            "ran": f"Running stage '{stage}'" in output, "exit": code}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", default=".", help="project checkout (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="rerun every stage, even when up to date")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    repo = Path(args.repo).resolve()
    results = []
    print(f"{'stage':<16}{'seconds':>9}{'peak MiB':>10}  ran")
    for stage in stage_order(repo):
        result = run_stage(repo, stage, args.force)
        results.append(result)
        print(f"{stage:<16}{result['seconds']:>9.1f}{result['peak_rss_mib']:>10}  {result['ran']}", flush=True)
        if result["exit"] != 0:
            print(f"stage {stage} failed (exit {result['exit']})", file=sys.stderr)
            return 1
    total = sum(r["seconds"] for r in results)
    print(f"{'total':<16}{total:>9.1f}{max(r['peak_rss_mib'] for r in results):>10}")
    if args.out:
        Path(args.out).write_text(json.dumps({"stages": results, "total_seconds": round(total, 1)}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
