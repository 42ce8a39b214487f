"""Query generation: sampling, the feasibility solver, certification, dedup, import, GX suite, stage."""

from __future__ import annotations

import csv
import json
import random
import re
from collections import Counter

import polars as pl
import pytest
import yaml

from imagine.domains.travelplanner.queries import (
    BuildConfig, QueryImportError, SampleConfig, Sampler, SolverIndex, build_queries, read_travelplanner, solve,
    to_travelplanner, trip_hash,
)
from imagine.domains.travelplanner.queries.build import Certifier, generate_split
from imagine.domains.travelplanner.queries.schema import COLUMNS, constraint_count
from imagine.domains.travelplanner.queries.text import NUMBER_WORDS
from tests.conftest import ROOT, TRAVELPLANNER

TRAIN = TRAVELPLANNER / "train.jsonl"
COUNTS = {"train": 36, "val": 9, "test": 18}


def _config(seed=0, counts=COUNTS, **extra):
    return BuildConfig.from_params({"seed": seed, "counts": counts,
                                    "import": [{"path": str(TRAIN), "split": "train"}], **extra})


@pytest.fixture(scope="module")
def built(official_sandbox):
    return build_queries(official_sandbox, _config())


@pytest.fixture(scope="module")
def rows(built):
    frames, _ = built
    return [row for f in frames.values() for row in f.iter_rows(named=True)]


@pytest.fixture(scope="module")
def index(official_sandbox):
    return SolverIndex(official_sandbox)


def test_sampling_is_deterministic_for_a_seed(official_sandbox, built):
    frames, _ = built
    again, _ = build_queries(official_sandbox, _config())
    for split in frames:
        assert frames[split].equals(again[split]), split
    other, _ = build_queries(official_sandbox, _config(seed=1))
    assert set(other["test"]["query_id"]) != set(frames["test"]["query_id"])


def test_growing_train_leaves_test_unchanged(official_sandbox, built):
    frames, _ = built
    bigger, _ = build_queries(official_sandbox, _config(counts={**COUNTS, "train": 45}))
    assert bigger["test"].equals(frames["test"]) and bigger["val"].equals(frames["val"])


def test_table_schema_and_counts(built):
    frames, metrics = built
    for split, f in frames.items():
        assert f.schema == pl.Schema(COLUMNS), split
        assert f["idx"].to_list() == list(range(1, f.height + 1))
    assert frames["train"].filter(pl.col("source") == "travelplanner").height == 45
    for split, count in COUNTS.items():
        generated = frames[split].filter(pl.col("source") == "generated")
        assert generated.height == count
        # the (days, level) mix is exact: 3 x 3 cells with equal weights
        assert set(Counter(zip(generated["days"], generated["level"])).values()) == {count // 9}
    assert metrics["shortfall"] == {s: 0 for s in COUNTS}
    assert metrics["counts"]["train"]["source"] == {"generated": 36, "travelplanner": 45}


def test_levels_and_constraints(rows):
    for row in (r for r in rows if r["source"] == "generated"):
        n = constraint_count(row)
        assert row["visiting_city_number"] == {3: 1, 5: 2, 7: 3}[row["days"]]
        assert len(row["date"]) == row["days"]
        if row["level"] == "easy":
            assert n == 0 and row["people_number"] == 1
        elif row["level"] == "medium":
            assert n == 1 and row["transportation"] is None and 2 <= row["people_number"] <= 8
            assert row["cuisine"] is None or len(row["cuisine"]) == 2
        else:
            assert n == 3 and 2 <= row["people_number"] <= 8
            assert row["cuisine"] is None or len(row["cuisine"]) == 4
        assert row["budget"] % 100 == 0 and row["budget"] >= row["min_cost"] * 1.1


KEYWORDS = {
    "house_rule": {"parties": ["parties"], "smoking": ["smoking"], "children under 10": ["children under 10"],
                   "visitors": ["visitors"], "pets": ["pets"]},
    "room_type": {"entire room": ["entire"], "private room": ["private room"], "shared room": ["shared room"],
                  "not shared room": ["not", "shared room"]},
    "transportation": {"no flight": ["flight"], "no self-driving": ["self-driving"]},
}


def _mentions(text: str, words) -> bool:
    return any(re.search(rf"(?<![\w-]){re.escape(str(w))}(?!\w)", text, re.IGNORECASE) for w in words)


def test_query_text_states_every_constraint(rows):
    months = {f"{m:02d}": name for m, name in enumerate(
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
         "November", "December"], 1)}
    texts = set()
    for row in (r for r in rows if r["source"] == "generated"):
        text = row["query"]
        texts.add(text.split(" ")[0])
        assert row["org"] in text and row["dest"] in text
        assert f"${row['budget']:,}" in text
        days = row["days"]
        assert _mentions(text, [days, NUMBER_WORDS[days]] + (["week-long"] if days == 7 else [])), text
        people = row["people_number"]
        assert _mentions(text, [people, NUMBER_WORDS[people]] + (["solo", "single"] if people == 1 else [])), text
        if row["visiting_city_number"] > 1:
            assert _mentions(text, [row["visiting_city_number"], NUMBER_WORDS[row["visiting_city_number"]]]), text
        for date in (row["date"][0], row["date"][-1]):
            year, month, day = date.split("-")
            assert date in text or (months[month] in text and _mentions(text, [int(day), f"{int(day)}th",
                                    f"{int(day)}st", f"{int(day)}nd", f"{int(day)}rd"])), (date, text)
        for column, table in KEYWORDS.items():
            if row[column]:
                assert all(w in text for w in table[row[column]]), (row[column], text)
        for cuisine in row["cuisine"] or []:
            assert cuisine in text, text
    assert len(texts) >= 5  # varied openings


def test_splits_are_disjoint(built, rows):
    frames, _ = built
    ids = {split: set(f["query_id"]) for split, f in frames.items()}
    assert sum(len(v) for v in ids.values()) == len(rows)  # unique overall
    trips = Counter(trip_hash(r) for r in rows)
    assert max(trips.values()) == 1  # generated never duplicates an imported query either


def test_reference_plans_pass_strict_and_compat(scorers, rows):
    assert all(r["feasible"] for r in rows)
    for row in rows:
        query, plan = to_travelplanner(row), json.loads(row["reference_plan"])
        strict = scorers["strict"].score(query, plan)
        assert strict.final_pass, (row["query_id"], strict.reasons)
        assert strict.cost == pytest.approx(row["min_cost"]) and row["min_cost"] <= row["budget"]
        if row["source"] == "generated":
            compat = scorers["compat"].score(query, plan)
            assert compat.final_pass and row["compat_pass"], (row["query_id"], compat.reasons)
            assert compat.cost == pytest.approx(strict.cost)


def test_plans_respect_rules_the_scorer_checks_loosely(rows):
    """Meals/attractions never repeat; travel days carry transport; no flight mixed with driving."""
    for row in (r for r in rows if r["source"] == "generated"):
        plan = json.loads(row["reference_plan"])
        meals = [d[m] for d in plan for m in ("breakfast", "lunch", "dinner") if d[m] != "-"]
        assert len(meals) == len(set(meals))
        sights = [a for d in plan for a in d["attraction"].split(";") if a and a != "-"]
        assert len(sights) == len(set(sights))
        modes = {d["transportation"].split(",")[0].split(":")[0] for d in plan if d["transportation"] != "-"}
        assert not ("Self-driving" in modes and modes & {"Flight Number", "Taxi"})
        if row["transportation"] == "no flight":
            assert "Flight Number" not in modes
        if row["transportation"] == "no self-driving":
            assert "Self-driving" not in modes
        for i, day in enumerate(plan):
            assert (day["transportation"] != "-") == day["current_city"].startswith("from ")


def _impossible_query(index):
    """A 3-day query to a usable city where no hotel meets the house rule + room type."""
    for city in sorted(index.hotels):
        origin = next((o for (o, d) in index.routes if d == city and (city, o) in index.routes), None)
        if not index.usable(city) or origin is None:
            continue
        for rule in ("pets", "parties", "smoking", "visitors", "children under 10"):
            if all(rule in h.forbidden or h.room_type != "Shared room" for h in index.hotels[city]):
                return {"org": origin, "dest": city, "days": 3, "visiting_city_number": 1,
                        "date": ["2022-03-10", "2022-03-11", "2022-03-12"], "people_number": 2, "level": "medium",
                        "house_rule": rule, "cuisine": None, "room_type": "shared room", "transportation": None}
    raise AssertionError("no city without a matching hotel")


class _Fixed:
    """A sampler that always proposes the same query."""

    def __init__(self, query):
        self.query = query

    def quotas(self, count):
        return {(3, "medium"): count}

    def sample(self, rng, days=None, level=None):
        return dict(self.query)


def test_infeasible_queries_are_dropped_and_counted(official_sandbox, index):
    query = _impossible_query(index)
    assert solve(index, query).reason == "no_hotel"
    certifier = Certifier(official_sandbox, BuildConfig(max_attempts=3))
    dropped = Counter()
    emitted = generate_split(certifier, _Fixed(query), "test", 2, set(), dropped)
    assert emitted == [] and dropped == {"no_hotel": 6}
    # without the impossible room type the same trip is solvable and certified
    ok = generate_split(certifier, _Fixed({**query, "room_type": None}), "test", 1, set(), dropped)
    assert len(ok) == 1 and ok[0]["feasible"]


def test_unknown_destination_and_missing_cities(index):
    base = {"org": "Houston", "days": 5, "visiting_city_number": 2, "people_number": 1,
            "date": [f"2022-03-1{i}" for i in range(5)]}
    assert solve(index, {**base, "dest": "Atlantis"}).reason == "unknown_city"
    single = next(s for s, cities in index.state_cities.items() if len(cities) == 1)
    assert solve(index, {**base, "dest": single}).reason == "too_few_cities"


def test_import_round_trips_through_to_travelplanner():
    originals = [json.loads(line) for line in TRAIN.read_text().splitlines()]
    imported = read_travelplanner(TRAIN)
    assert len(imported) == len(originals) == 45
    for original, row in zip(originals, imported):
        back = to_travelplanner(row)
        for key in ("org", "dest", "days", "visiting_city_number", "date", "people_number", "local_constraint",
                    "budget", "query", "level"):
            assert back[key] == original[key], key
        assert json.loads(row["annotated_plan"]) == original["plan"]


def test_import_csv_with_python_reprs(tmp_path):
    originals = [json.loads(line) for line in TRAIN.read_text().splitlines()][:5]
    path = tmp_path / "val.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["org", "dest", "days", "visiting_city_number", "date",
                                                    "people_number", "local_constraint", "budget", "query", "level"])
        writer.writeheader()
        for q in originals:
            writer.writerow({**{k: q[k] for k in writer.fieldnames}, "date": repr(q["date"]),
                             "local_constraint": repr(q["local_constraint"])})
    rows = read_travelplanner(path)
    assert [to_travelplanner(r)["local_constraint"] for r in rows] == [q["local_constraint"] for q in originals]
    assert [r["date"] for r in rows] == [q["date"] for q in originals]


@pytest.mark.parametrize("field, value, message", [
    ("date", "['2022-03-16', '2022-03-18', '2022-03-19']", "consecutive"),
    ("date", "__import__('os')", "cannot read"),
    ("local_constraint", "{'house rule': 'dancing'}", "not one of"),
    ("people_number", "many", "integer"),
    ("level", "extreme", "level"),
])
def test_import_errors_name_file_row_and_field(tmp_path, field, value, message):
    rows = [json.loads(line) for line in TRAIN.read_text().splitlines()][:3]
    rows[1][field] = value
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(QueryImportError) as err:
        read_travelplanner(path)
    text = str(err.value)
    assert str(path) in text and "row 2" in text and f"field '{field}" in text and message in text


def test_duplicate_query_across_imported_splits_is_refused(official_sandbox, tmp_path):
    config = BuildConfig.from_params({"counts": {}, "import": [{"path": str(TRAIN), "split": "train"},
                                                                {"path": str(TRAIN), "split": "test"}]})
    with pytest.raises(ValueError, match="splits must not share queries"):
        build_queries(official_sandbox, config)


def test_gx_suite_rejects_corrupted_queries(built, tmp_path):
    from imagine.checks import DataValidationError
    from imagine.domains.travelplanner.checks.queries import validate_queries

    frames, _ = built
    good = frames["test"]
    validate_queries(good, source="test.parquet", splits=["train", "val", "test"])
    bad = good.with_columns(
        pl.when(pl.col("idx") == 2).then(pl.col("date").list.head(1)).otherwise(pl.col("date")).alias("date"),
        pl.when(pl.col("idx") == 3).then(pl.lit(0)).otherwise(pl.col("budget")).alias("budget"))
    path = tmp_path / "test.parquet"
    bad.write_parquet(path)
    with pytest.raises(DataValidationError) as err:
        validate_queries(pl.read_parquet(path), source=str(path), splits=["train", "val", "test"])
    text = str(err.value)
    assert str(path) in text
    assert "rule 'date_length_equals_days' failed" in text
    assert "column 'budget': expect_column_values_to_be_between" in text
    wrong_level = good.with_columns(pl.lit("easy").alias("level"), pl.lit("holdout").alias("split"))
    with pytest.raises(DataValidationError, match="level_matches_constraints"):
        validate_queries(wrong_level, source=str(path), splits=["train", "val", "test"])


def test_sampler_respects_window_and_people(index):
    sampler = Sampler(index, SampleConfig(date_window=["2022-03-05", "2022-03-12"]))
    rng = random.Random(3)
    for _ in range(200):
        q = sampler.sample(rng)
        assert "2022-03-05" <= q["date"][0] and q["date"][-1] <= "2022-03-12"
        assert q["org"] != q["dest"]
        if q["visiting_city_number"] > 1:
            assert q["dest"] in index.state_cities


def test_stage_writes_parquet_jsonl_and_metrics(tmp_path):
    from stages.queries import main

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["queries"].update(sandbox=str(TRAVELPLANNER), counts={"train": 9, "val": 9, "test": 9},
                             **{"import": [{"path": str(TRAIN), "split": "train"}]})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out, metrics = tmp_path / "queries", tmp_path / "queries.json"
    assert main(["--params", str(tmp_path / "params.yaml"), "--out", str(out), "--metrics", str(metrics)]) == 0
    for split, n in {"train": 54, "val": 9, "test": 9}.items():
        assert pl.read_parquet(out / f"{split}.parquet").height == n
        records = [json.loads(line) for line in (out / f"{split}.jsonl").read_text().splitlines()]
        assert len(records) == n and records[0]["idx"] == 1 and "house rule" in records[0]["local_constraint"]
    report = json.loads(metrics.read_text())
    assert report["counts"]["train"]["total"] == 54 and report["compat_pass_rate"] == 1.0
    assert "dropped_total" in report and report["queries_per_second"] > 0
