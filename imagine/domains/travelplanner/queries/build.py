"""Build the queries table: import TravelPlanner splits, sample + solve + certify new queries, dedup.

Every emitted generated query is certified: the solver's plan passes `Scorer(mode="strict")` with
the budget set from its cost (`budget = ceil(cost x (1 + slack) / round) x round`, the cost being
the larger of the strict and compat prices, which agree for solver plans). Whether the plan also
passes the official (`compat`) rules is kept in `compat_pass`. Samples the solver cannot satisfy are
dropped and counted by reason; none is emitted.

Splits are generated in a fixed order (imports first, then test, val, train, then any other) from
one RNG per split seeded with `"{seed}:{split}"`, and each sample is deduplicated (by `trip_hash`,
budget excluded) against everything accepted before it, so no two splits share a query and growing
`train` never changes `test`.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from imagine.domains.travelplanner.evaluate import Scorer
from imagine.domains.travelplanner.evaluate.index import SandboxIndex
from imagine.domains.travelplanner.queries import text
from imagine.domains.travelplanner.queries.importer import read_travelplanner
from imagine.domains.travelplanner.queries.sample import SampleConfig, Sampler
from imagine.domains.travelplanner.queries.schema import frame, local_constraint, query_id, to_travelplanner, trip_hash
from imagine.domains.travelplanner.queries.solver import SolverIndex, solve
from imagine.domains.travelplanner.sandbox import Sandbox

SPLIT_ORDER = ("test", "val", "train")


@dataclass
class BuildConfig:
    seed: int = 0
    counts: dict = field(default_factory=lambda: {"train": 400, "val": 60, "test": 90})
    sample: SampleConfig = field(default_factory=SampleConfig)
    budget_slack: list = field(default_factory=lambda: [0.1, 0.5])
    budget_round: int = 100
    templates: list = field(default_factory=lambda: list(text.STYLES))
    attractions_per_day: int = 2
    candidate_cities: int = 6
    max_attempts: int = 20  # per wanted query: a split stops after counts[split] * max_attempts samples
    imports: list = field(default_factory=list)  # [{"path": ..., "split": ...}]

    @classmethod
    def from_params(cls, params: dict) -> "BuildConfig":
        slack = params.get("budget_slack", [0.1, 0.5])
        slack = [float(slack), float(slack)] if isinstance(slack, (int, float)) else [float(s) for s in slack]
        if len(slack) != 2 or not 0 <= slack[0] <= slack[1]:
            raise ValueError(f"queries.budget_slack: a number >= 0 or [low, high], got {params.get('budget_slack')!r}")
        templates = params.get("templates") or list(text.STYLES)
        bad = set(templates) - set(text.STYLES)
        if bad:
            raise ValueError(f"queries.templates: unknown style(s) {sorted(bad)}; choose from {text.STYLES}")
        counts = {str(k): int(v) for k, v in (params.get("counts") or {}).items()}
        return cls(
            seed=int(params.get("seed", 0)), counts=counts, sample=SampleConfig.from_params(params),
            budget_slack=slack, budget_round=int(params.get("budget_round", 100)), templates=list(templates),
            attractions_per_day=int(params.get("attractions_per_day", 2)),
            candidate_cities=int(params.get("candidate_cities", 6)),
            max_attempts=int(params.get("max_attempts", 20)), imports=list(params.get("import") or []),
        )


class Certifier:
    """Solver + both scorers over one sandbox, built once."""

    def __init__(self, sandbox: Sandbox, config: BuildConfig):
        self.config = config
        shared = SandboxIndex(sandbox)  # one index: the solver's view and both scorers read it
        self.index = SolverIndex(shared)
        self.strict = Scorer(shared, "strict")
        self.compat = Scorer(shared, "compat")
        self.solver_seconds = 0.0
        self.certify_seconds = 0.0

    def solve(self, row: dict):
        start = time.perf_counter()
        solution = solve(self.index, row, self.config.attractions_per_day, self.config.candidate_cities)
        self.solver_seconds += time.perf_counter() - start
        return solution

    def verdicts(self, row: dict, plan: list):
        start = time.perf_counter()
        query = to_travelplanner(row)
        strict, compat = self.strict.score(query, plan), self.compat.score(query, plan)
        self.certify_seconds += time.perf_counter() - start
        return strict, compat

    def compat_cost(self, row: dict, plan: list) -> float | None:
        start = time.perf_counter()
        cost = self.compat.cost({**to_travelplanner({**row, "budget": 0, "query": ""}), "budget": None}, plan)
        self.certify_seconds += time.perf_counter() - start
        return cost


def _budget(cost: float, slack: float, step: int) -> int:
    return max(step, int(math.ceil(cost * (1 + slack) / step)) * step)


def generate_split(certifier: Certifier, sampler: Sampler, split: str, count: int, seen: set,
                   dropped: Counter, progress=None) -> list[dict]:
    """`count` certified queries for `split` (fewer if max_attempts runs out); updates seen/dropped."""
    import json

    config = certifier.config
    rng = random.Random(f"{config.seed}:{split}")
    rows: list[dict] = []
    attempts = 0
    quotas = sampler.quotas(count)
    while len(rows) < count and attempts < count * config.max_attempts:
        attempts += 1
        cells = [cell for cell, left in quotas.items() if left > 0]
        cell = rng.choices(cells, weights=[quotas[c] for c in cells])[0]
        row = sampler.sample(rng, *cell)
        key = trip_hash(row)
        if key in seen:
            dropped["duplicate"] += 1
            continue
        solution = certifier.solve(row)
        if solution.plan is None:
            dropped[solution.reason] += 1
            continue
        compat_cost = certifier.compat_cost(row, solution.plan)
        basis = max(solution.cost, compat_cost if compat_cost is not None else 0.0)
        row["budget"] = _budget(basis, rng.uniform(*config.budget_slack), config.budget_round)
        row["query"] = text.render(row, rng, config.templates)
        strict, compat = certifier.verdicts(row, solution.plan)
        if not strict.final_pass:
            dropped["certification_failed"] += 1
            continue
        seen.add(key)
        quotas[cell] -= 1
        row.update(query_id=query_id(row), split=split, source="generated", feasible=True,
                   reference_plan=json.dumps(solution.plan, ensure_ascii=False), min_cost=float(strict.cost),
                   compat_pass=bool(compat.final_pass))
        rows.append(row)
        if progress is not None:
            progress.update(1)
    return rows


def import_split(certifier: Certifier, path: str, split: str) -> list[dict]:
    """Rows of a TravelPlanner file as `split`: reference plan = the solver's (within the query's own
    budget) or else the annotated plan when it passes strict scoring; `feasible` says whether either did."""
    import json

    rows = []
    for row in read_travelplanner(path):
        row.update(query_id=query_id(row), split=split, source="travelplanner", feasible=False)
        solution = certifier.solve(row)
        candidates = [solution.plan] if solution.plan is not None else []
        if row.get("annotated_plan"):
            candidates.append(json.loads(row["annotated_plan"]))
        for plan in candidates:
            strict, compat = certifier.verdicts(row, plan)
            if strict.final_pass:
                row.update(feasible=True, reference_plan=json.dumps(plan, ensure_ascii=False),
                           min_cost=float(strict.cost), compat_pass=bool(compat.final_pass))
                break
        rows.append(row)
    return rows


def build_queries(sandbox: Sandbox, config: BuildConfig, progress=None) -> tuple[dict[str, pl.DataFrame], dict]:
    """All splits as frames (schema.COLUMNS) plus the metrics dict."""
    start = time.perf_counter()
    certifier = Certifier(sandbox, config)
    sampler = Sampler(certifier.index, config.sample)
    setup_seconds = time.perf_counter() - start

    splits: dict[str, list[dict]] = {}
    owner: dict[str, str] = {}  # trip hash -> split, across imports
    seen: set = set()
    for item in config.imports:
        path, split = str(item["path"]), str(item["split"])
        for row in import_split(certifier, path, split):
            key = trip_hash(row)
            if key in owner and owner[key] != split:
                raise ValueError(f"{path}: query {row['query_id']} ({row['org']} -> {row['dest']}, "
                                 f"{row['date'][0]}) is also in split {owner[key]!r}: splits must not share queries")
            owner[key] = split
            seen.add(key)
            splits.setdefault(split, []).append(row)
    imported = {split: len(rows) for split, rows in splits.items()}

    generated_start = time.perf_counter()
    solver_before = certifier.solver_seconds
    certify_before = certifier.certify_seconds
    dropped: dict[str, Counter] = {}
    order = [s for s in SPLIT_ORDER if s in config.counts] + sorted(set(config.counts) - set(SPLIT_ORDER))
    for split in order:
        dropped[split] = Counter()
        rows = generate_split(certifier, sampler, split, config.counts[split], seen, dropped[split], progress)
        splits.setdefault(split, []).extend(rows)
    generate_seconds = time.perf_counter() - generated_start
    generated = sum(len([r for r in rows if r["source"] == "generated"]) for rows in splits.values())

    frames = {}
    for split, rows in splits.items():
        for i, row in enumerate(rows, 1):
            row["idx"] = i
        frames[split] = frame(rows)

    total_dropped = Counter()
    for counter in dropped.values():
        total_dropped.update(counter)
    all_rows = pl.concat(list(frames.values())) if frames else frame([])
    with_plan = all_rows.filter(pl.col("reference_plan").is_not_null())
    metrics = {
        "counts": {split: _counts(f) for split, f in frames.items()},
        "total": all_rows.height,
        "generated": generated,
        "imported": imported,
        "dropped": {split: dict(sorted(c.items())) for split, c in dropped.items()},
        "dropped_total": dict(sorted(total_dropped.items())),
        "attempts": generated + sum(total_dropped.values()),
        "shortfall": {s: config.counts[s] - sum(1 for r in splits.get(s, []) if r["source"] == "generated")
                      for s in config.counts},
        "imported_feasible": {split: int(f.filter((pl.col("source") == "travelplanner") & pl.col("feasible")).height)
                              for split, f in frames.items() if imported.get(split)},
        "compat_pass_rate": (float(with_plan["compat_pass"].mean()) if with_plan.height else None),
        "min_cost_mean": {str(d): float(with_plan.filter(pl.col("days") == d)["min_cost"].mean())
                          for d in sorted(set(with_plan["days"].to_list()))},
        "seconds": {"setup": round(setup_seconds, 3), "generate": round(generate_seconds, 3),
                    "solver": round(certifier.solver_seconds - solver_before, 3),
                    "certify": round(certifier.certify_seconds - certify_before, 3)},
        "queries_per_second": round(generated / generate_seconds, 1) if generate_seconds > 0 else None,
    }
    return frames, metrics


def _counts(f: pl.DataFrame) -> dict:
    def tally(column):
        return {str(k): int(v) for k, v in sorted(Counter(f[column].to_list()).items(), key=lambda kv: str(kv[0]))}

    return {"total": f.height, "source": tally("source"), "level": tally("level"), "days": tally("days"),
            "feasible": int(f["feasible"].sum())}


def travelplanner_records(f: pl.DataFrame) -> list[dict]:
    """A split's rows in TravelPlanner's query format (for `*.jsonl`)."""
    return [to_travelplanner(row) for row in f.iter_rows(named=True)]


__all__ = ["BuildConfig", "Certifier", "build_queries", "generate_split", "import_split", "local_constraint",
           "travelplanner_records"]
