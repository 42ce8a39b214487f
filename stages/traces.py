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

import argparse
import sys
import time
from pathlib import Path

from imagine.io import atomic_path, read_params, write_json

KNOWN = {"splits", "queries", "sandbox", "cache", "seed", "limit", "reference", "roles"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    parser.add_argument("--out", default="data/traces", help="traces folder to write (default: %(default)s)")
    parser.add_argument("--metrics", default="reports/traces.json", help="metrics JSON (default: %(default)s)")
    parser.add_argument("--cache", default=None, help="call cache file (default: params traces.cache)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    from imagine.params import params_or_exit

    params_or_exit(args.params, ["traces"], "traces")  # before any work: one line naming a bad key

    import polars as pl

    from imagine.checks import DataValidationError
    from imagine.checks.traces import validate_traces, validate_turns
    from imagine.domains.travelplanner.checks.queries import validate_queries
    from imagine.domains.travelplanner.evaluate.index import SandboxIndex
    from imagine.domains.travelplanner.prompts import Caps
    from imagine.domains.travelplanner.sandbox import Sandbox, SandboxError
    from imagine.llm import CallCache
    from imagine.mas.protocol import Protocol, role_configs
    from imagine.mas.schema import TRACES, TURNS, frame

    started = time.perf_counter()
    cache = protocol = None
    try:
        params = read_params(args.params).get("traces", {}) or {}
        unknown = set(params) - KNOWN
        if unknown:
            raise ValueError(f"traces: unknown key(s) {sorted(unknown)}; known: {sorted(KNOWN)}")
        splits = list(params.get("splits") or ["train", "val"])
        limit = params.get("limit")
        queries_dir = Path(params.get("queries", "data/queries"))
        rows = []
        for split in splits:
            path = queries_dir / f"{split}.parquet"
            if not path.is_file():
                raise ValueError(f"traces.splits: no queries file {path}")
            split_frame = pl.read_parquet(path)
            validate_queries(split_frame, source=str(path), splits=[split])  # a bad input stops here
            if limit is not None:
                split_frame = split_frame.head(int(limit))
            rows += split_frame.to_dicts()
        caps = Caps.from_params(params.get("reference"))
        roles = role_configs(params.get("roles"), seed=int(params.get("seed", 0)))
        index = SandboxIndex(Sandbox.load(params.get("sandbox", "data/sandbox")))
        cache = CallCache(args.cache or params.get("cache", "data/cache/calls.sqlite"))
        protocol = Protocol(roles, index, caps, cache, progress=not args.no_progress)
        result = protocol.run(rows)
        checked = time.perf_counter()
        turns, traces = frame(result.turns, TURNS), frame(result.traces, TRACES)
        validate_turns(turns, source=f"{args.out}/turns.parquet")
        validate_traces(traces, source=f"{args.out}/traces.parquet", turns=turns)
        validate_s = time.perf_counter() - checked
    except (DataValidationError, SandboxError, ValueError, OSError) as exc:
        print(f"traces: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("traces: nothing written", file=sys.stderr)
        return 1
    finally:
        if protocol is not None:
            protocol.close()
        if cache is not None:
            cache.close()

    with atomic_path(args.out) as tmp:
        tmp.mkdir()
        turns.write_parquet(tmp / "turns.parquet")
        traces.write_parquet(tmp / "traces.parquet")
    metrics = result.metrics
    metrics["seconds"]["validate"] = round(validate_s, 2)
    metrics["seconds"]["wall"] = round(time.perf_counter() - started, 2)
    metrics["backends"] = {role: {"backend": protocol.backends[role].name, "model": protocol.backends[role].model}
                           for role in roles}
    write_json(args.metrics, metrics)
    print(f"traces: wrote {args.out} ({traces.height} queries, {turns.height} turns); "
          f"{metrics['llm_calls']} model calls, {metrics['cache_hits']} cache hits; raw pass "
          f"{metrics['teacher_raw_pass_rate']['all']}, final pass {metrics['teacher_final_pass_rate']['all']}; "
          f"{time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
