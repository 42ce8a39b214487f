"""The trip domain behind the generic `imagine.domain.Domain` seam.

World: seeded cities and a connected direct-flight graph (`world.py`). Queries: certified itineraries
(`queries.py`: sample a path, derive the constraints, solve, count solutions). Prompts: the query text
states every constraint, so the Reasoner's prompt has no reference information (`prompts.py`).
Checker: `strict` (groups `itinerary` and `constraints`, one check per constraint kind, trace columns
`check_<name>`) and `compat` (Natural Plan's exact match, `check_exact_match`). Teacher: the scripted
`rules` backend (`teacher.py`). Export: the answer in Natural Plan's free text, per query.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl

from imagine.domain import Built, Domain
from imagine.domains.trip.checker import COMPAT_GROUPS, GROUPS
from imagine.domains.trip.schema import LEVELS

RECORD_FIELDS = ("query_id", "level", "n_cities", "days", "cities", "stays", "events", "connections", "golden_plan")


class Prompts:
    def reasoner(self, row: dict) -> list[dict]:
        from imagine.domains.trip.prompts import reasoner_messages

        return reasoner_messages(row)

    def judge(self, row: dict, output: str) -> list[dict]:
        from imagine.domains.trip.prompts import judge_messages

        return judge_messages(row, output)

    def reflector(self, row: dict, output: str, verdicts: list[str]) -> list[dict]:
        from imagine.domains.trip.prompts import reflector_messages

        return reflector_messages(row, output, verdicts)


class Trip(Domain):
    name = "trip"
    levels = LEVELS
    groups = GROUPS
    check_columns = {f"check_{c}": (g, c) for g, checks in GROUPS.items() for c in checks}
    compat_columns = {f"check_{c}": (g, c) for g, checks in COMPAT_GROUPS.items() for c in checks}
    always_scored = ("itinerary",)
    teacher = "imagine.domains.trip.teacher:TripRulesBackend"
    audit_dir = Path(__file__).parent / "audit"
    query_columns = {dataset: {"n_cities": pl.Int64, "days": pl.Int64}
                     for dataset in ("traces", "evals", "grpo_prompts")}

    # -- world and queries ------------------------------------------------------------------------
    def build_world(self, params: dict) -> Built:
        from imagine.domains.trip.world import make_world, validate_world

        world = make_world(**params)
        checked = time.perf_counter()
        validate_world(world.cities, world.connections)
        report = {"rows": {"cities": world.cities.height, "connections": world.connections.height},
                  "density": round(world.density(), 4), "validate_seconds": round(time.perf_counter() - checked, 2)}
        return Built({"cities": world.cities, "connections": world.connections}, report, meta={"world": world})

    def save_world(self, built: Built, folder: Path) -> None:
        built.meta["world"].save(folder)

    def load_world(self, folder):
        from imagine.domains.trip.world import load_world

        if not Path(folder).is_dir():
            raise FileNotFoundError(f"no trip world at {str(folder)!r}: run `dvc repro sandbox` first")
        return load_world(folder)

    def build_queries(self, params: dict, progress=None) -> Built:
        from imagine.domains.trip.queries import QueryParams, generate_queries

        params = dict(params)
        world = self.load_world(params.pop("sandbox", "data/sandbox"))
        frames, report = generate_queries(world, QueryParams.from_params(params))
        if progress is not None:
            progress.update(sum(f.height for f in frames.values()))
        checked = time.perf_counter()
        for split, frame in frames.items():
            self.validate_queries(frame, source=f"{split}.parquet", splits=[split])
        report.setdefault("seconds", {})["validate"] = round(time.perf_counter() - checked, 2)
        return Built(frames, report)

    def query_count(self, params: dict) -> int:
        from imagine.domains.trip.queries import QueryParams

        return sum(QueryParams.from_params({k: v for k, v in params.items() if k != "sandbox"}).counts.values())

    def validate_queries(self, frame: pl.DataFrame, source: str, splits: list[str] | None = None) -> None:
        from imagine.domains.trip.schema import validate_queries

        validate_queries(frame, source)
        if splits is not None and "split" in frame.columns:
            stray = sorted(set(frame["split"].unique()) - set(splits))
            if stray:
                raise ValueError(f"trip queries: {source} column split: values {stray} outside {splits}")

    def record(self, row: dict) -> dict:
        return {field: row.get(field) for field in RECORD_FIELDS}

    def record_problem(self, record: dict, row: dict) -> str | None:
        from imagine.domains.trip.itinerary import TripQuery

        try:
            query = TripQuery.of(record)
        except ValueError as exc:
            return f"query_json is not a valid trip query: {exc}"
        for column in ("level", "n_cities", "days"):
            if record.get(column) != row[column]:
                return f"query_json {column}={record.get(column)!r} but column {column}={row[column]!r}"
        if len(query.cities) != row["n_cities"]:
            return f"query_json names {len(query.cities)} cities, column n_cities={row['n_cities']}"
        return None

    # -- the MAS, checking ----------------------------------------------------------------------------
    def prompts(self, world, params: dict | None = None) -> Prompts:
        return Prompts()

    def checker(self, world, mode: str = "strict"):
        from imagine.domains.trip.checker import Checker

        return Checker(mode)

    # -- export and probes ----------------------------------------------------------------------------
    def export(self, rows: list[dict], answers: list) -> list[str]:
        """Per query: its id, the request, and the answer in Natural Plan's free text (null: none read)."""
        from imagine.answer import parse_output
        from imagine.domains.trip.answer import read_stays, to_official_text

        lines = []
        for row, answer in zip(rows, answers):
            parsed = parse_output(answer or "")
            stays, _ = read_stays(parsed.plan) if parsed.ok else (None, None)
            text = to_official_text(stays, row["days"]) if stays else None
            lines.append(json.dumps({"query_id": row["query_id"], "query": row["query"], "response": text,
                                     "golden_plan": row.get("golden_text")}, ensure_ascii=False))
        return lines

    def audit_probes(self, data_dir: str = "data", limit: int = 6) -> dict:
        """The probes on the first `limit` queries of each split: per probe, whether strict caught it (hacks)
        or passed it (robustness probes), and whether compat passes it."""
        from imagine.domains.trip.probes import run_probes

        files = sorted((Path(data_dir) / "queries").glob("*.parquet"))
        if not files:
            return {"skipped": f"no built queries under {data_dir}"}
        per_probe: dict[str, dict] = {}
        queries = 0
        for file in files:
            for row in pl.read_parquet(file).head(limit).to_dicts():
                queries += 1
                for r in run_probes(row):
                    entry = per_probe.setdefault(r["name"], {"scored": 0, "expected": 0, "compat_pass": 0,
                                                             "hack": int(r["hack"])})
                    entry["scored"] += 1
                    entry["expected"] += int(r["expected"])
                    entry["compat_pass"] += int(r["compat_pass"])
        missed = sorted(name for name, e in per_probe.items() if e["hack"] and e["expected"] < e["scored"])
        return {"queries": queries, "hacks_not_caught": len(missed), "hacks_not_caught_names": missed,
                "by_probe": per_probe}

    def params_schema(self) -> dict:
        from imagine.domains.trip import params

        return {"sandbox": params.SANDBOX, "queries": params.QUERIES, "rules": params.RULES}
