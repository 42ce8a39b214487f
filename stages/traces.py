"""DVC stage `traces`: run the MAS protocol (Reasoner -> two Judges -> Reflector) over the queries.

Reads `traces:` from params.yaml; loads the chosen splits of data/queries (each file validated with
the queries GX suite before any work) and the sandbox; runs the protocol round by round with each
role's backend (the `rules` teacher on CPU by default), every call
through the content-hash cache (data/cache/calls.sqlite, committed per call: a killed run resumes
with no repeated call, and a rerun with nothing changed makes zero model calls); validates both
tables with their GX suites; writes data/traces/turns.parquet and traces.parquet atomically (a killed
run never leaves a half-written file) and metrics to reports/traces.json. Invalid data: exit 1
with the failed expectations, nothing written.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from imagine.io import atomic_path, write_json
from imagine.domain import domain_of
from imagine.stage import Stage

stage = Stage("traces", __doc__, sections=["traces"], domain=domain_of)
stage.arg("--out", default="data/traces", help="traces folder to write (default: %(default)s)")
stage.arg("--metrics", default="reports/traces.json", help="metrics JSON (default: %(default)s)")
stage.arg("--cache", default=None, help="call cache file (default: params traces.cache)")
stage.arg("--no-progress", action="store_true", help="no progress bars")


def run(args, params, domain) -> int:
    import polars as pl

    from imagine.checks.traces import validate_traces, validate_turns
    from imagine.llm import CallCache
    from imagine.mas.protocol import Protocol, role_configs
    from imagine.mas.schema import TURNS, frame, traces_schema

    started = time.perf_counter()
    params = params.get("traces", {}) or {}
    splits = list(params.get("splits") or ["train", "val"])
    limit = params.get("limit")
    queries_dir = Path(params.get("queries", "data/queries"))
    rows = []
    for split in splits:
        path = queries_dir / f"{split}.parquet"
        if not path.is_file():
            raise ValueError(f"traces.splits: no queries file {path}")
        split_frame = pl.read_parquet(path)
        domain.validate_queries(split_frame, source=str(path), splits=[split])  # a bad input stops here
        if limit is not None:
            split_frame = split_frame.head(int(limit))
        rows += split_frame.to_dicts()
    roles = role_configs(params.get("roles"), seed=int(params.get("seed", 0)))
    world = domain.load_world(params.get("sandbox", "data/sandbox"))
    cache = CallCache(args.cache or params.get("cache", "data/cache/calls.sqlite"))
    protocol = None
    try:
        protocol = Protocol(roles, domain, world, params, cache, progress=not args.no_progress)
        result = protocol.run(rows)
        backends = {role: {"backend": protocol.backends[role].name, "model": protocol.backends[role].model}
                    for role in roles}
    finally:
        if protocol is not None:
            protocol.close()
        cache.close()
    checked = time.perf_counter()
    turns, traces = frame(result.turns, TURNS), frame(result.traces, traces_schema(domain))
    validate_turns(turns, source=f"{args.out}/turns.parquet")
    validate_traces(traces, source=f"{args.out}/traces.parquet", turns=turns, domain=domain)
    validate_s = time.perf_counter() - checked
    with atomic_path(args.out) as tmp:
        tmp.mkdir()
        turns.write_parquet(tmp / "turns.parquet")
        traces.write_parquet(tmp / "traces.parquet")
    metrics = result.metrics
    metrics["seconds"]["validate"] = round(validate_s, 2)
    metrics["seconds"]["wall"] = round(time.perf_counter() - started, 2)
    metrics["backends"] = backends
    write_json(args.metrics, metrics)
    print(f"traces: wrote {args.out} ({traces.height} queries, {turns.height} turns); "
          f"{metrics['llm_calls']} model calls, {metrics['cache_hits']} cache hits; raw pass "
          f"{metrics['teacher_raw_pass_rate']['all']}, final pass {metrics['teacher_final_pass_rate']['all']}; "
          f"{time.perf_counter() - started:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    return stage.run(run, argv)


if __name__ == "__main__":
    sys.exit(main())
