"""Trip queries: certified (golden passes strict, the solver agrees, counts checked by brute force),
disjoint splits, levels by weight, deterministic, validated, fast (throughput printed)."""

import itertools
import json
import time

import polars as pl
import pytest

from imagine.domains.trip.checker import Checker
from imagine.domains.trip.itinerary import TripQuery, lay_out
from imagine.domains.trip.queries import QueryParams, allocate, generate_queries
from imagine.domains.trip.schema import QUERY_SCHEMA, to_natural_plan, validate_queries
from imagine.domains.trip.solver import solutions, solve
from imagine.domains.trip.world import make_world

COUNTS = {"train": 240, "val": 60, "test": 120}


@pytest.fixture(scope="module")
def world():
    return make_world(48, 0.15, seed=0)


@pytest.fixture(scope="module")
def generated(world):
    return generate_queries(world, {"seed": 7, "counts": COUNTS})


def _all_rows(frames):
    return [row for split in ("train", "val", "test") for row in frames[split].iter_rows(named=True)]


def test_counts_schema_and_report(generated):
    frames, report = generated
    for split, n in COUNTS.items():
        assert frames[split].height == n
        assert frames[split].schema == pl.Schema(QUERY_SCHEMA)
        assert set(frames[split]["split"]) == {split}
    assert report["queries"] == sum(COUNTS.values())
    assert report["attempts"] == report["queries"] + sum(report["rejections"].values())
    assert report["rejections"]["unsolvable"] == 0
    print(f"\ntrip queries: {report['queries_per_s']} queries/s, rejections {report['rejections']}, "
          f"n_solutions {report['n_solutions']}")


def test_golden_passes_strict_and_solver_agrees(generated):
    strict = Checker("strict")
    rows = _all_rows(generated[0])
    assert len(rows) >= 300
    for row in rows:
        golden = json.loads(row["golden_plan"])
        assert strict.score(row, golden).final_pass, row["query_id"]
        solution = solve(row, cap=20)
        assert solution.n_solutions == row["n_solutions"] >= 1
        assert solution.capped == row["solutions_capped"]
        assert strict.score(row, [s.to_dict() for s in solution.stays]).final_pass
        assert row["days"] == golden[-1]["last_day"] and golden[0]["first_day"] == 1


def _brute_force(q: TripQuery) -> int:
    count = 0
    for order in itertools.permutations(q.cities):
        if not all(q.connected(a, b) for a, b in itertools.pairwise(order)):
            continue
        stays = {s.city: s for s in lay_out(order, q.stays)}
        if all(e.covered_by(stays[e.city]) for e in q.events):
            count += 1
    return count


def test_solution_counts_match_brute_force(generated):
    rows = [r for r in _all_rows(generated[0]) if r["n_cities"] <= 6][:80]
    strict = Checker("strict")
    for row in rows:
        q = TripQuery.of(row)
        truth = _brute_force(q)
        assert solve(q, cap=1000).n_solutions == truth, row["query_id"]
        assert solve(q, cap=20).n_solutions == min(truth, 20)
        found = solutions(q, limit=1000)
        assert len(found) == truth and len({tuple(s.city for s in p) for p in found}) == truth
        assert all(strict.score(q, [s.to_dict() for s in p]).final_pass for p in found)


def test_unsolvable_queries_are_recognised(generated):
    row = generated[0]["test"].row(0, named=True)
    assert solve({**row, "connections": []}).stays is None  # no flights at all
    assert solve({**row, "days": row["days"] + 1}).n_solutions == 0  # stays do not add up
    first = json.loads(row["golden_plan"])[0]
    clash = [{"city": first["city"], "kind": "wedding", "first_day": 1, "last_day": 1},
             {"city": first["city"], "kind": "show", "first_day": row["days"], "last_day": row["days"]}]
    assert solve({**row, "events": clash}).n_solutions == 0  # one stay cannot cover both days


def test_splits_share_no_query(generated):
    frames, _ = generated
    ids = [set(frames[s]["query_id"]) for s in ("train", "val", "test")]
    assert sum(map(len, ids)) == sum(COUNTS.values())  # unique within each split
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])


def test_levels_follow_weights(generated):
    frames, report = generated
    params = QueryParams.from_params({"counts": COUNTS})
    weights = {name: level.weight for name, level in params.levels.items()}
    for split, n in COUNTS.items():
        counts = frames[split]["level"].value_counts()
        got = dict(zip(counts["level"], counts["count"]))
        assert got == allocate(n, params.levels) == report["counts"][split]
        for name, weight in weights.items():
            assert abs(got[name] - n * weight / sum(weights.values())) <= 1
    for row in _all_rows(frames):
        level = params.levels[row["level"]]
        assert level.cities[0] <= row["n_cities"] <= level.cities[1]
        assert level.events[0] <= row["n_events"] <= min(level.events[1], row["n_cities"])
        assert all(2 <= s <= 7 for s in row["stays"])


def test_deterministic_and_test_split_stable(world, generated):
    again, _ = generate_queries(world, {"seed": 7, "counts": COUNTS})
    for split in COUNTS:
        assert again[split].equals(generated[0][split])
    more_train, _ = generate_queries(world, {"seed": 7, "counts": {**COUNTS, "train": 300}})
    assert more_train["test"].equals(generated[0]["test"])
    other, _ = generate_queries(world, {"seed": 8, "counts": COUNTS})
    assert not other["test"].equals(generated[0]["test"])


def test_query_text_states_every_constraint(generated):
    for row in _all_rows(generated[0])[:100]:
        text = row["query"]
        assert f"visit {row['n_cities']} European cities for {row['days']} days" in text
        for city, days in zip(row["cities"], row["stays"]):
            assert f"{city} for {days} days" in text or f"{days} days in {city}" in text
        for e in row["events"]:
            when = (f"on day {e['first_day']}" if e["first_day"] == e["last_day"]
                    else f"between day {e['first_day']} and day {e['last_day']}")
            assert f"{e['city']} {when}" in text
        for c in row["connections"]:
            assert f"{c['city_a']} and {c['city_b']}" in text or f"{c['city_b']} and {c['city_a']}" in text
        assert text.count(" and ") >= row["n_connections"]


def test_validate_queries_accepts_and_names_problems(generated):
    frames, _ = generated
    for split, frame in frames.items():
        validate_queries(frame, f"{split}.parquet")
    frame = frames["test"]
    bad_days = frame.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(pl.col("days") + 1)
                                  .otherwise(pl.col("days")).alias("days"))
    with pytest.raises(ValueError, match=r"test.parquet row 3 column days: .* cover"):
        validate_queries(bad_days, "test.parquet")
    golden = frame["golden_plan"].to_list()
    golden[5] = json.dumps(json.loads(golden[5])[::-1])
    with pytest.raises(ValueError, match=r"test.parquet row 5 column golden_plan: the golden plan fails"):
        validate_queries(frame.with_columns(pl.Series("golden_plan", golden)), "test.parquet")
    ids = frame["query_id"].to_list()
    ids[2] = ids[1]
    with pytest.raises(ValueError, match=r"test.parquet: trip queries: column 'query_id': expect_column_values_to_be_unique"):
        validate_queries(frame.with_columns(pl.Series("query_id", ids)), "test.parquet")
    ids[2] = "0" * 16
    with pytest.raises(ValueError, match=r"row 2 column query_id: .* not the hash"):
        validate_queries(frame.with_columns(pl.Series("query_id", ids)), "test.parquet")
    with pytest.raises(ValueError, match=r"column 'level': expect_column_to_exist"):
        validate_queries(frame.drop("level"), "test.parquet")
    with pytest.raises(ValueError, match=r"column 'n_solutions': expect_column_values_to_be_of_type"):
        validate_queries(frame.with_columns(pl.col("n_solutions").cast(pl.Float64)), "test.parquet")


def test_parquet_round_trip_and_natural_plan_export(generated, tmp_path):
    frame = generated[0]["val"]
    frame.write_parquet(tmp_path / "val.parquet")
    back = pl.read_parquet(tmp_path / "val.parquet")
    assert back.equals(frame)
    validate_queries(back, "val.parquet")
    record = to_natural_plan(back.row(0, named=True))
    assert set(record) == {"cities", "durations", "golden_plan", "prompt_0shot"}
    golden = json.loads(back["golden_plan"][0])
    assert record["cities"] == "**".join(s["city"] for s in golden)


def test_params_are_checked():
    with pytest.raises(ValueError, match="unknown key"):
        QueryParams.from_params({"count": {}})
    with pytest.raises(ValueError, match="unknown level"):
        QueryParams.from_params({"levels": {"expert": {"weight": 1}}})
    with pytest.raises(ValueError, match="cities"):
        QueryParams.from_params({"levels": {"hard": {"cities": [7, 12]}}})
    with pytest.raises(ValueError, match="could not|made 0"):
        generate_queries(make_world(5, 0.0, seed=1), {"counts": {"train": 3, "val": 0, "test": 0},
                                                       "levels": {"hard": {"weight": 1, "cities": [8, 10]}},
                                                       "max_attempts": 5})


def test_throughput(world):
    started = time.perf_counter()
    _frames, report = generate_queries(world, {"seed": 11, "counts": {"train": 1500, "val": 0, "test": 0}})
    seconds = time.perf_counter() - started
    print(f"\ntrip queries: 1500 in {seconds:.2f}s = {1500 / seconds:.0f} queries/s (report {report['queries_per_s']})")
