"""DVC stage `sandbox`: build the world every later stage plans in (the domain's; TravelPlanner: the travel
database).

Reads `sandbox:` from params.yaml. TravelPlanner imports the official folder (dropping rows of cities
missing from the city list, deduplicating distance pairs, completing the partial flights file with
seeded synthetic flights) or generates a synthetic world; the trip domain generates cities and a flight
graph. The tables are validated (Great Expectations) and written to data/sandbox/ atomically, metrics to
reports/sandbox.json. Invalid data: exit 1 with the failed expectations, nothing written.
"""

from __future__ import annotations

import sys
import time

from imagine.io import atomic_path, write_json
from imagine.domain import domain_of
from imagine.stage import Stage

stage = Stage("sandbox", __doc__, sections=["sandbox"], domain=domain_of)
stage.arg("--out", default="data/sandbox", help="sandbox folder to write (default: %(default)s)")
stage.arg("--metrics", default="reports/sandbox.json", help="metrics JSON (default: %(default)s)")


def run(args, params, domain) -> int:
    started = time.perf_counter()
    built = domain.build_world(params.get("sandbox", {}) or {})
    with atomic_path(args.out) as tmp:
        domain.save_world(built, tmp)
    write_json(args.metrics, {**built.report, "wall_seconds": round(time.perf_counter() - started, 2)})
    rows = ", ".join(f"{t} {f.height}" for t, f in built.tables.items())
    print(f"sandbox: wrote {args.out} ({rows}) in {time.perf_counter() - started:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    return stage.run(run, argv)


if __name__ == "__main__":
    sys.exit(main())
