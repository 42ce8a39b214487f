"""Trip audit SQL: every saved query runs in DuckDB over `queries` and `traces` views with the columns
its header comment lists, here built from a small scripted MAS run (reasoner, two judges, reflector)."""

from pathlib import Path

import duckdb
import polars as pl
import pytest

from imagine.domains.trip.answer import parse_answer
from imagine.domains.trip.checker import Checker, check_columns
from imagine.domains.trip.prompts import JUDGE_OK, judge_messages, reasoner_messages, reflector_messages
from imagine.domains.trip.queries import generate_queries
from imagine.domains.trip.reflector import parse_reflection
from imagine.domains.trip.teacher import TripRulesBackend
from imagine.domains.trip.world import make_world
from imagine.llm.base import Request, Sampling

AUDIT = Path(__file__).resolve().parents[1] / "imagine" / "domains" / "trip" / "audit"
SAMPLING = Sampling(max_tokens=4096)


def _traces(rows: list[dict]) -> list[dict]:
    teacher, strict = TripRulesBackend(), Checker("strict")
    requests = [Request(tuple(reasoner_messages(r)), {"role": "reasoner", "query": r}) for r in rows]
    texts = [o.text for o in teacher.generate(requests, SAMPLING)]
    traces = []
    for row, request, text in zip(rows, requests, texts):
        said = [teacher.generate([Request(tuple(judge_messages(row, text)), {"role": "judge", "judge": k, "query": row,
                                                                             "reasoner_output": text})], SAMPLING)[0].text
                for k in (1, 2)]
        parsed = parse_answer(text)
        reasoner_pass = parsed.ok and strict.score(row, [s.to_dict() for s in parsed.stays]).final_pass
        final = [s.to_dict() for s in parsed.stays] if parsed.ok else None
        flagged = any(v != JUDGE_OK for v in said)
        if flagged:
            out = teacher.generate([Request(tuple(reflector_messages(row, text, said)),
                                            {"role": "reflector", "query": row, "reasoner_output": text})], SAMPLING)[0]
            reflection = parse_reflection(out.text)
            if reflection.stays is not None:
                final = [s.to_dict() for s in reflection.stays]
        verdict = strict.score(row, final)
        traces.append({"query_id": row["query_id"], "split": row["split"], "level": row["level"],
                       "injected_errors": teacher.injected_errors(request, SAMPLING), "final_pass": verdict.final_pass,
                       "reflected": flagged, "lazy_reflection": not flagged and not reasoner_pass,
                       **check_columns(verdict)})
    return traces


@pytest.fixture(scope="module")
def con():
    frames, _ = generate_queries(make_world(48, 0.15, seed=0), {"seed": 4, "counts": {"train": 150, "val": 0, "test": 30}})
    queries = pl.concat([frames["train"], frames["test"]])
    traces = pl.DataFrame(_traces(frames["train"].to_dicts()), schema_overrides={"check_events": pl.Boolean})
    db = duckdb.connect()
    db.register("queries", queries.to_arrow())
    db.register("traces", traces.to_arrow())
    return db


def test_traces_have_the_assumed_columns(con):
    columns = {row[0] for row in con.execute("DESCRIBE traces").fetchall()}
    assert {"query_id", "level", "injected_errors", "final_pass", "reflected", "lazy_reflection",
            "check_total_days", "check_contiguous_stays", "check_each_city_once", "check_stay_lengths",
            "check_direct_flights", "check_events"} <= columns


@pytest.mark.parametrize("path", sorted(AUDIT.glob("*.sql")), ids=lambda p: p.stem)
def test_saved_query_runs(con, path):
    sql = path.read_text(encoding="utf-8")
    assert sql.startswith("-- ") and "Assumes:" in sql
    result = con.execute(sql)
    names = [d[0] for d in result.description]
    rows = result.fetchall()
    assert rows, path.stem
    print(f"\n{path.stem}: {names}\n" + "\n".join(map(str, rows[:6])))


def test_saved_queries_agree_with_the_data(con):
    failed = {name: n for name, _, n, _ in con.execute((AUDIT / "most_failed_checks.sql").read_text()).fetchall()}
    direct = con.execute("SELECT count(*) FILTER (WHERE NOT check_direct_flights) FROM traces").fetchone()[0]
    assert failed["direct_flights"] == direct
    levels = con.execute((AUDIT / "pass_rate_by_level_and_cities.sql").read_text()).fetchall()
    overall = next(r for r in levels if r[0] == "all")
    assert overall[2] == 150 and overall[1] is None
