"""TravelPlanner behind the generic `imagine.domain.Domain` seam.

World: the sandbox (official database or a synthetic world; `sandbox/`), read back as a SandboxIndex.
Queries: certified TravelPlanner-style queries (`queries/`), records in TravelPlanner's query format.
Prompts: the Reasoner's prompt with compact reference information (`prompts.py`, caps from
`traces.reference`). Checker: the 8 commonsense and 5 hard checks in `strict` and `compat` mode
(`evaluate/`); groups `commonsense` and `hard`, trace columns `cs_<check>` and `hard_<check>`.
Teacher: the scripted `rules` backend. Export: TravelPlanner's submission JSONL.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl

from imagine.domain import Built, Domain
from imagine.domains.travelplanner.evaluate.scorer import COMMONSENSE_CHECKS, HARD_CHECKS, LEVELS

CS_COLUMNS = {f"cs_{check}": check for check in COMMONSENSE_CHECKS}
HARD_COLUMNS = {f"hard_{check}": check for check in HARD_CHECKS}


class Prompts:
    """The three roles' chats for queries-table rows, the reference information built once per query."""

    def __init__(self, index, caps):
        from imagine.domains.travelplanner.prompts import Caps

        self.index = index
        self.caps = caps if isinstance(caps, Caps) else Caps.from_params(caps)
        self._reference: dict[str, str] = {}

    def reference(self, row: dict) -> str:
        from imagine.domains.travelplanner.prompts import reference_info

        key = row.get("query_id") or json.dumps(row, sort_keys=True, default=str)
        if key not in self._reference:
            self._reference[key] = reference_info(row, self.index, self.caps)
        return self._reference[key]

    def reasoner(self, row: dict) -> list[dict]:
        from imagine.domains.travelplanner.prompts import as_query, reasoner_messages

        return reasoner_messages(as_query(row), self.reference(row))

    def judge(self, row: dict, output: str) -> list[dict]:
        from imagine.domains.travelplanner.prompts import as_query, judge_messages

        return judge_messages(as_query(row), self.reference(row), output)

    def reflector(self, row: dict, output: str, verdicts: list[str]) -> list[dict]:
        from imagine.domains.travelplanner.prompts import as_query, reflector_messages

        return reflector_messages(as_query(row), self.reference(row), output, verdicts)


class TravelPlanner(Domain):
    name = "travelplanner"
    levels = LEVELS
    groups = {"commonsense": COMMONSENSE_CHECKS, "hard": HARD_CHECKS}
    check_columns = {**{c: ("commonsense", k) for c, k in CS_COLUMNS.items()},
                     **{c: ("hard", k) for c, k in HARD_COLUMNS.items()}}
    teacher = "imagine.domains.travelplanner.teacher:RulesBackend"
    compat_columns: dict = {}  # compat scores the same checks
    audit_dir = Path(__file__).parent / "audit"
    query_columns = {
        "traces": {"days": pl.Int64, "people_number": pl.Int64},
        "evals": {"days": pl.Int64},
        "grpo_prompts": {"org": pl.String, "dest": pl.String, "days": pl.Int64, "visiting_city_number": pl.Int64,
                         "people_number": pl.Int64, "budget": pl.Int64},
    }
    trace_extra_columns = {"final_cost": pl.Float64}

    # -- world and queries ------------------------------------------------------------------------
    def build_world(self, params: dict) -> Built:
        from imagine.domains.travelplanner.checks.sandbox import validate_sandbox
        from imagine.domains.travelplanner.sandbox.build import build_sandbox

        tables, manifest = build_sandbox(params)
        checked = time.perf_counter()
        validate_sandbox(tables, manifest.get("path", params.get("source", "sandbox")),
                         orphans_ok=manifest["source"] == "travelplanner" and not params.get("drop_orphans", True))
        flights = manifest["flights"]
        report = {"source": manifest["source"], "rows": manifest["rows"],
                  "synthetic_flights": flights["synthetic_flights"],
                  "drivable_pairs_without_flight": flights["drivable_pairs_without_flight"],
                  "cities_without_flight": flights["cities_without_flight"],
                  "validate_seconds": round(time.perf_counter() - checked, 2)}
        return Built(tables, report, meta={"manifest": manifest})

    def save_world(self, built: Built, folder: Path) -> None:
        from imagine.domains.travelplanner.sandbox import Sandbox

        Sandbox(built.tables, built.meta["manifest"]).save(folder)

    def load_world(self, folder):
        from imagine.domains.travelplanner.evaluate.index import SandboxIndex
        from imagine.domains.travelplanner.sandbox import Sandbox

        if not Path(folder).is_dir():
            raise FileNotFoundError(f"no sandbox at {str(folder)!r}: run `dvc repro sandbox` first")
        return SandboxIndex(Sandbox.load(folder))

    def build_queries(self, params: dict, progress=None) -> Built:
        from imagine.domains.travelplanner.queries import BuildConfig, build_queries, travelplanner_records
        from imagine.domains.travelplanner.sandbox import Sandbox

        config = BuildConfig.from_params(params)
        frames, metrics = build_queries(Sandbox.load(params.get("sandbox", "data/sandbox")), config,
                                        progress=progress)
        checked = time.perf_counter()
        for split, frame in frames.items():
            self.validate_queries(frame, source=f"{split}.parquet", splits=list(frames))
        metrics["seconds"]["validate"] = round(time.perf_counter() - checked, 2)
        metrics["sandbox"] = str(params.get("sandbox", "data/sandbox"))
        files = {f"{split}.jsonl": [json.dumps(r, ensure_ascii=False) for r in travelplanner_records(frame)]
                 for split, frame in frames.items()}
        return Built(frames, metrics, files)

    def query_count(self, params: dict) -> int:
        from imagine.domains.travelplanner.queries import BuildConfig

        return sum(BuildConfig.from_params(params).counts.values())

    def read_official_queries(self, path) -> list[dict]:
        """TravelPlanner's own query file (JSONL or CSV) as queries-table rows, with their query ids."""
        from imagine.domains.travelplanner.queries.importer import read_travelplanner
        from imagine.domains.travelplanner.queries.schema import query_id

        rows = read_travelplanner(path)
        for row in rows:
            row["query_id"] = query_id(row)
        return rows

    def validate_queries(self, frame: pl.DataFrame, source: str, splits: list[str] | None = None) -> None:
        from imagine.domains.travelplanner.checks.queries import validate_queries

        validate_queries(frame, source=source, splits=splits)

    def record(self, row: dict) -> dict:
        from imagine.domains.travelplanner.queries.schema import local_constraint

        return {
            "org": row["org"], "dest": row["dest"], "days": int(row["days"]),
            "visiting_city_number": int(row["visiting_city_number"]), "date": list(row["date"]),
            "people_number": int(row["people_number"]), "budget": int(row["budget"]), "level": row["level"],
            "local_constraint": local_constraint(row),
        }

    def record_problem(self, record: dict, row: dict) -> str | None:
        """Why a GRPO prompt's query_json is not a valid query agreeing with its flat columns, or None."""
        import datetime as dt
        import re

        from imagine.domains.travelplanner.evaluate import QueryError, normalize_query

        try:
            normalize_query(record)
        except QueryError as exc:
            return f"query_json is not a valid query: {exc}"
        for column in ("org", "dest", "days", "visiting_city_number", "people_number", "budget", "level"):
            if record.get(column) != row[column]:
                return f"query_json {column}={record.get(column)!r} but column {column}={row[column]!r}"
        if len(record["date"]) != record["days"]:
            return f"{len(record['date'])} dates for {record['days']} days"
        for date in record["date"]:
            try:
                if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
                    raise ValueError
                dt.date.fromisoformat(date)
            except ValueError:
                return f"query_json date {date!r} is not an ISO calendar date"
        return None

    def grpo_expectations(self) -> list:
        from imagine.checks import gx

        E = gx.expectations
        return [E.ExpectColumnValuesToBeInSet(column="days", value_set=[3, 5, 7]),
                E.ExpectColumnValuesToBeBetween(column="people_number", min_value=1, max_value=8),
                E.ExpectColumnValuesToBeBetween(column="budget", min_value=0, strict_min=True)]

    # -- the MAS ------------------------------------------------------------------------------------
    def prompts(self, world, params: dict | None = None) -> Prompts:
        return Prompts(world, (params or {}).get("reference"))

    def teacher_query(self, row: dict) -> dict:
        from imagine.domains.travelplanner.prompts import as_query

        return as_query(row)

    def teacher_shared(self, world) -> dict:
        return {"sandbox": world}

    # -- checking -------------------------------------------------------------------------------------
    def checker(self, world, mode: str = "strict"):
        from imagine.domains.travelplanner.evaluate import Scorer

        return Scorer(world, mode)

    def trace_extras(self, verdict) -> dict:
        return {"final_cost": verdict.cost}

    # -- export and probes ----------------------------------------------------------------------------
    def export(self, rows: list[dict], answers: list) -> list[str]:
        """TravelPlanner submission JSONL: {"idx", "query", "plan"}, idx 1-based in `rows` order."""
        from imagine.answer import parse_output

        return [json.dumps({"idx": i, "query": row["query"], "plan": parse_output(answer or "").plan},
                           ensure_ascii=False) for i, (row, answer) in enumerate(zip(rows, answers), 1)]

    def query_lines(self, rows: list[dict]) -> list[str]:
        from imagine.domains.travelplanner.queries.schema import to_travelplanner

        return [json.dumps(to_travelplanner(row), ensure_ascii=False) for row in rows]

    def evaluate_files(self, queries, answers, world_dir, mode: str, out) -> tuple[dict, list[str]]:
        """`imagine eval`: a TravelPlanner submission scored against its query file; (summary, notes)."""
        from imagine.domains.travelplanner.evaluate.files import evaluate_files

        summary = evaluate_files(queries, answers, world_dir, mode, out)
        found = [f"{key!r} in {count} plans" for key, count in summary["day_keys"].items() if count]
        return summary, [f"day numbers read from {' and '.join(found) if found else 'no plan'}"]

    def params_schema(self) -> dict:
        from imagine.domains.travelplanner import params

        return {"sandbox": params.SANDBOX, "queries": params.QUERIES, "rules": params.RULES, "traces": params.TRACES}

    def audit_probes(self, data_dir: str = "data") -> dict:
        from imagine.domains.travelplanner.probes import audit_probes

        return audit_probes(data_dir)
