"""MAS round throughput: batched vs one-by-one `transformers` generation, rules-teacher traces/s,
and a cached rerun against the first run.

    python benchmarks/bench_mas.py [--model models/base] [--prompts 8] [--max-tokens 64] [--queries 200]

Needs `dvc repro base_model queries` first (the student checkpoint and the queries).
Targets: batched generation >= 3x one-by-one on 2 cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import polars as pl

from imagine.domains.travelplanner import prompts
from imagine.domains.travelplanner.evaluate.index import SandboxIndex
from imagine.domains.travelplanner.sandbox import Sandbox
from imagine.io import read_params
from imagine.llm import CallCache, Request, Sampling
from imagine.mas.protocol import Protocol, role_configs


def _rows(count: int) -> list[dict]:
    return pl.read_parquet("data/queries/train.parquet").head(count).to_dicts()


def bench_batching(model: str, rows: list[dict], index: SandboxIndex, caps, max_tokens: int, dtype: str) -> None:
    from imagine.llm.transformers_backend import TransformersBackend

    # A judge round: judges read the query, the reference information and a reasoning.
    requests = []
    for row in rows:
        query = prompts.as_query(row)
        reference = prompts.reference_info(row, index, caps)
        requests.append(Request(tuple(prompts.reasoner_messages(query, reference))))
    sampling = Sampling(max_tokens=max_tokens, temperature=0.0)
    timings = {}
    for batch_size in (1, len(requests)):
        backend = TransformersBackend(model, device="cpu", dtype=dtype, batch_size=batch_size)
        backend.generate(requests[:1], Sampling(max_tokens=2))  # warm-up
        start = time.perf_counter()
        outputs = backend.generate(requests, sampling)
        timings[batch_size] = (time.perf_counter() - start, sum(o.tokens_out for o in outputs),
                               sum(o.tokens_in for o in outputs))
        backend.close()
    (one, out1, inp), (batched, outb, _) = timings[1], timings[len(requests)]
    print(f"transformers round: {len(requests)} reasoner prompts ({inp / len(requests):.0f} prompt tokens each), "
          f"max {max_tokens} new tokens, {dtype}")
    print(f"  one-by-one {one:.1f} s ({out1 / one:.1f} new tok/s); batched {batched:.1f} s ({outb / batched:.1f} new tok/s)")
    print(f"  speed-up {one / batched:.2f}x (target >= 3x)")


def bench_rules(rows: list[dict], index: SandboxIndex, params: dict) -> None:
    roles = role_configs(params["roles"], seed=int(params.get("seed", 0)))
    for spec in roles.values():
        spec.spec["latency_ms"] = 0
    with tempfile.TemporaryDirectory() as tmp:
        cache = CallCache(Path(tmp) / "calls.sqlite")
        walls = []
        for _ in range(2):
            protocol = Protocol(roles, index, params.get("reference"), cache, progress=False)
            start = time.perf_counter()
            result = protocol.run(rows)
            walls.append(time.perf_counter() - start)
            protocol.close()
            calls = result.metrics["llm_calls"]
            hits = result.metrics["cache_hits"]
            print(f"  run {len(walls)}: {walls[-1]:.2f} s, {calls} model calls, {hits} cache hits")
        cache.close()
    print(f"rules teacher: {len(rows) / walls[0]:.1f} traces/s ({len(rows)} queries, first run)")
    print(f"cached rerun: {walls[1]:.2f} s vs first run {walls[0]:.2f} s ({walls[1] / walls[0]:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/base")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    params = read_params()["traces"]
    index = SandboxIndex(Sandbox.load(params.get("sandbox", "data/sandbox")))
    caps = prompts.Caps.from_params(params.get("reference"))
    bench_rules(_rows(args.queries), index, params)
    if Path(args.model, "config.json").is_file():
        bench_batching(args.model, _rows(args.prompts), index, caps, args.max_tokens, args.dtype)
    else:
        print(f"(no student checkpoint at {args.model}: run `dvc repro base_model` first)")


if __name__ == "__main__":
    main()
