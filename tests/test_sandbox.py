"""Sandbox: official importer, repairs, flight completion, synthetic world, GX suite, and the stage."""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
import yaml

from imagine.checks import DataValidationError, expect_columns, flag, gx, validate
from imagine.domains.travelplanner.checks.sandbox import validate_sandbox
from imagine.domains.travelplanner.sandbox import CUISINES, ROOM_TYPES, SCHEMA, TABLES, read_official
from imagine.domains.travelplanner.sandbox.clean import dedupe_distances, drop_orphans
from imagine.domains.travelplanner.sandbox.flights import FlightsError, complete_flights, coverage, date_window
from imagine.domains.travelplanner.sandbox.synthetic import generate_world
from imagine.domains.travelplanner.sandbox.tables import CACHE_FOLDER, OFFICIAL_FILES

ROOT = Path(__file__).resolve().parents[1]
TRAVELPLANNER = ROOT / "data" / "external" / "travelplanner"
SMALL = dict(states=5, cities_per_state=(2, 5), multi_city_states=3, hotels_per_city=(5, 7),
             restaurants_per_city=(7, 9), attractions_per_city=(2, 3), flight_start="2022-03-01",
             flight_end="2022-03-05")


@pytest.fixture(scope="module")
def official():
    return read_official(TRAVELPLANNER)


@pytest.fixture(scope="module")
def cleaned(official):
    tables, _ = drop_orphans(official)
    return dedupe_distances(tables)[0]


@pytest.fixture(scope="module")
def world():
    return generate_world(7, **SMALL)


# --- official importer -------------------------------------------------------------------------

def test_importer_row_counts_and_schema(official):
    counts = {t: f.height for t, f in official.items()}
    assert counts == {"cities": 312, "flights": 313, "distances": 17602, "accommodations": 5047,
                      "restaurants": 9551, "attractions": 5302}
    for table in TABLES:
        assert dict(official[table].schema) == SCHEMA[table], table
    row = official["distances"].filter((pl.col("origin") == "Detroit") & (pl.col("dest") == "Norfolk")).row(0, named=True)
    assert row["distance_text"] == "1,144 km" and row["distance_km"] == 1144.0 and row["duration_min"] == 655
    assert not official["flights"]["synthetic"].any()


@pytest.mark.parametrize("table", ["accommodations", "restaurants", "attractions"])
def test_complete_flag_is_what_pandas_dropna_keeps(official, table):
    kept = len(pd.read_csv(TRAVELPLANNER / OFFICIAL_FILES[table]).dropna())
    assert int(official[table]["complete"].sum()) == kept


def test_official_data_needs_the_repairs_and_passes_after(official, cleaned):
    with pytest.raises(DataValidationError) as err:
        validate_sandbox(official, "official")
    text = str(err.value)
    assert "distances" in text and "expect_compound_columns_to_be_unique" in text
    assert "rule 'city_in_cities'" in text and "Springfield" in text
    _, orphans = drop_orphans(official)
    assert orphans["accommodations"]["rows"] == 553 and orphans["restaurants"]["cities"] == ["Bellingham", "Bishop", "Brunswick"]
    assert dedupe_distances(official)[1]["duplicate_rows_removed"] == 1446
    validate_sandbox(cleaned, "cleaned")  # no exception
    # Deduplication keeps a pair's first row that has a distance.
    assert cleaned["distances"].filter(pl.col("origin") == "Detroit", pl.col("dest") == "Norfolk")["distance_km"].to_list() == [1144.0]


# --- flights -----------------------------------------------------------------------------------

def test_coverage_reports_the_partial_flights_file(cleaned):
    report = coverage(cleaned, date_window("2022-03-01", "2022-03-31"))
    assert report["flights"] == 313 and report["synthetic_flights"] == 0 and report["routes_with_flights"] == 61
    assert report["dates"]["first"] == "2022-03-01" and report["window"]["days"] == 31
    assert report["drivable_pairs_without_flight"] > 14_000


def test_flight_completion_marks_synthetic_rows(cleaned):
    tables, summary = complete_flights(cleaned, start="2022-03-10", end="2022-03-12", route_fraction=0.2, seed=3)
    flights = tables["flights"]
    real, added = flights.filter(~pl.col("synthetic")), flights.filter(pl.col("synthetic"))
    assert real.sort("flight_number").equals(cleaned["flights"].sort("flight_number"))
    assert added.height == summary["synthetic_flights_added"] > 1000
    assert added["flight_number"].str.starts_with("F9").all() and added["flight_number"].str.len_chars().eq(9).all()
    assert flights["flight_number"].n_unique() == flights.height
    assert set(added["date"].unique()) == {"2022-03-10", "2022-03-11", "2022-03-12"}
    # Every real route is flown on every date of the window; no (route, date) with a real flight gets more.
    drivable = tables["distances"].filter(pl.col("distance_km").is_not_null())
    real_routes = real.select("origin", "dest").unique().join(drivable, on=["origin", "dest"], how="semi")
    window = flights.filter(pl.col("date").is_between(pl.lit("2022-03-10"), pl.lit("2022-03-12")))
    per_day = window.join(real_routes, on=["origin", "dest"], how="semi").select("origin", "dest", "date").unique()
    assert per_day.height == real_routes.height * 3
    mixed = added.join(real.select("origin", "dest", "date"), on=["origin", "dest", "date"], how="semi")
    assert mixed.height == 0
    # Plausible: times inside the day, price grows with distance.
    assert (added["arr_time"] > added["dep_time"]).all()
    assert added.select(pl.corr("distance", "price")).item() > 0.5
    again, _ = complete_flights(cleaned, start="2022-03-10", end="2022-03-12", route_fraction=0.2, seed=3)
    assert again["flights"].equals(flights)
    validate_sandbox(tables, "completed")
    with pytest.raises(FlightsError, match="max_rows"):
        complete_flights(cleaned, start="2022-03-01", end="2022-03-31", route_fraction=1.0, max_rows=150_000)


# --- synthetic world ---------------------------------------------------------------------------

def test_synthetic_world_is_deterministic_and_valid(world):
    again = generate_world(7, **SMALL)
    assert all(world[t].equals(again[t]) for t in TABLES)
    other = generate_world(8, **SMALL)
    assert not world["cities"].equals(other["cities"])
    for table in TABLES:
        assert dict(world[table].schema) == SCHEMA[table], table
    assert world["flights"]["synthetic"].all()
    validate_sandbox(world, "synthetic")


def test_synthetic_world_supports_every_query_level(world):
    cities = world["cities"]
    per_state = cities.group_by("state").len()
    assert per_state.filter(pl.col("len") >= 3).height >= 3  # 5- and 7-day queries have destinations
    for city in cities["city"]:
        hotels = world["accommodations"].filter(pl.col("city") == city)
        assert set(hotels["room_type"]) == set(ROOM_TYPES)
        assert (hotels["minimum_nights"] == 1).any() and hotels["house_rules"].is_null().any()
        assert hotels.filter(pl.col("complete") & (pl.col("minimum_nights") == 1)).height >= 1
        cuisines = ", ".join(world["restaurants"].filter(pl.col("city") == city)["cuisines"])
        assert all(c in cuisines for c in CUISINES)
        assert world["attractions"].filter(pl.col("city") == city).height >= 2
    d = world["distances"]
    assert d.select("origin", "dest").n_unique() == cities.height * (cities.height - 1)
    assert d["distance_km"].null_count() > 0  # some pairs are unreachable by road
    assert world["flights"]["date"].n_unique() == 5
    # Every city can be flown to or driven to from somewhere.
    reachable = set(world["flights"]["dest"]) | set(d.filter(pl.col("distance_km").is_not_null())["dest"])
    assert reachable == set(cities["city"])
    # Durations follow distances.
    driven = d.drop_nulls("distance_km")
    speed = driven["distance_km"] / driven["duration_min"] * 60
    assert speed.min() > 60 and speed.max() < 110


# --- GX core and failures ----------------------------------------------------------------------

def test_validate_reports_every_failure_readably():
    frame = pl.DataFrame({"city": ["A", None, "Z"], "price": [10, -5, 3]})
    with pytest.raises(DataValidationError) as err:
        validate(frame, [*expect_columns({"city": pl.String, "price": pl.Int64, "rating": pl.Float64}),
                         gx.expectations.ExpectColumnValuesToNotBeNull(column="city"),
                         gx.expectations.ExpectColumnValuesToBeBetween(column="price", min_value=0)],
                 dataset="toy", source="toy.csv", rules={"known_city": flag(pl.col("city") != "Z", pl.col("city"))})
    assert isinstance(err.value, ValueError)
    lines = str(err.value).splitlines()
    assert lines[0] == "toy.csv: toy: 4 expectation(s) failed"
    assert any("column 'rating'" in l and "expect_column_to_exist" in l for l in lines)
    assert any("column 'city'" in l and "expect_column_values_to_not_be_null" in l and "1 of 3 rows" in l for l in lines)
    assert any("column 'price'" in l and "min_value=0" in l and "e.g. -5" in l for l in lines)
    assert any("rule 'known_city'" in l and "'Z'" in l for l in lines)
    validate(frame.head(1), expect_columns({"city": pl.String}), dataset="toy", source="toy.csv")


@pytest.mark.parametrize("table, corrupt, expected", [
    ("accommodations", lambda f: f.with_columns(pl.when(pl.int_range(pl.len()) == 2).then(-50.0)
                                                .otherwise(pl.col("price")).alias("price")),
     ["accommodations", "column 'price'", "expect_column_values_to_be_between", "e.g. -50.0"]),
    ("restaurants", lambda f: f.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("Atlantis"))
                                             .otherwise(pl.col("city")).alias("city")),
     ["restaurants", "rule 'city_in_cities'", "'Atlantis'"]),
    ("attractions", lambda f: f.drop("latitude"),
     ["attractions", "column 'latitude'", "expect_column_to_exist", "column missing"]),
    ("flights", lambda f: f.with_columns(pl.col("price").cast(pl.String)),
     ["flights", "column 'price'", "expect_column_values_to_be_of_type", "type_='int64'", "observed 'str'"]),
    ("accommodations", lambda f: f.with_columns(pl.lit("Treehouse").alias("room_type")),
     ["accommodations", "column 'room_type'", "expect_column_values_to_be_in_set", "'Treehouse'"]),
    ("flights", lambda f: f.with_columns(pl.lit("25:00").alias("dep_time")),
     ["flights", "column 'dep_time'", "expect_column_values_to_match_regex"]),
    ("cities", lambda f: pl.concat([f, f.head(1)]),
     ["cities", "column 'city'", "expect_column_values_to_be_unique"]),
])
def test_corrupt_table_is_named_in_the_error(world, table, corrupt, expected):
    broken = {**world, table: corrupt(world[table])}
    with pytest.raises(DataValidationError) as err:
        validate_sandbox(broken, "data/x")
    failing = [l for l in str(err.value).splitlines()[1:] if f"data/x/{table}: {table}:" in l]
    assert failing, str(err.value)
    assert any(all(part in l for part in expected) for l in failing), str(err.value)


# --- the stage ---------------------------------------------------------------------------------

def _run_stage(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "stages" / "sandbox.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_stage_help():
    result = _run_stage(ROOT, "--help")
    assert result.returncode == 0 and "sandbox" in result.stdout


def test_stage_on_corrupt_source_fails_and_writes_nothing(tmp_path):
    source = tmp_path / "tp"
    shutil.copytree(TRAVELPLANNER, source, ignore=shutil.ignore_patterns("train.jsonl"))
    path = source / OFFICIAL_FILES["restaurants"]
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows[1][rows[0].index("Average Cost")] = "-12"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"sandbox": {"source": "travelplanner", "travelplanner_dir": "tp", "flights": {"complete": False}}}))
    result = _run_stage(tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "restaurants" in result.stderr and "average_cost" in result.stderr
    assert "expect_column_values_to_be_between" in result.stderr and "-12" in result.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "reports").exists()


def test_stage_builds_a_synthetic_sandbox(tmp_path):
    from imagine.domains.travelplanner.sandbox import Sandbox

    synthetic = {k: list(v) if isinstance(v, tuple) else v for k, v in SMALL.items() if not k.startswith("flight_")}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"sandbox": {
        "source": "synthetic", "flights": {"start": "2022-03-01", "end": "2022-03-03"},
        "synthetic": {"seed": 1, **synthetic}}}))
    result = _run_stage(tmp_path)
    assert result.returncode == 0, result.stderr
    sandbox = Sandbox.load(tmp_path / "data" / "sandbox")
    assert sandbox.manifest["source"] == "synthetic"
    assert sandbox.manifest["rows"] == {t: sandbox[t].height for t in TABLES}
    assert (tmp_path / "reports" / "sandbox.json").is_file()


# --- the official database at full size: Parquet cache, flight lookups, a stand-in of the big file ----

def _official_copy(tmp_path):
    folder = tmp_path / "tp"
    shutil.copytree(TRAVELPLANNER, folder, ignore=shutil.ignore_patterns("train.jsonl", CACHE_FOLDER))
    return folder


def test_official_folder_is_cached_as_parquet_and_reread_when_changed(tmp_path, monkeypatch):
    import imagine.domains.travelplanner.sandbox.tables as tables

    folder = _official_copy(tmp_path)
    fresh = read_official(folder)
    entries = list((folder / CACHE_FOLDER).iterdir())
    assert len(entries) == 1 and {p.name for p in entries[0].iterdir()} == {f"{t}.parquet" for t in TABLES}

    def no_csv(_):
        raise AssertionError("the CSV files were parsed again")

    with monkeypatch.context() as patch:
        patch.setattr(tables, "_normalise_official", no_csv)
        cached = read_official(folder)
    assert all(cached[t].equals(fresh[t]) and cached[t].schema == fresh[t].schema for t in TABLES)

    # A changed source file changes the key: read afresh, the old entry removed.
    path = folder / OFFICIAL_FILES["flights"]
    path.write_text(path.read_text() + "F7777777,99,08:00,09:00,1 hours 0 minutes,2022-03-02,Memphis,Minneapolis,700.0\n")
    assert read_official(folder)["flights"].height == fresh["flights"].height + 1
    assert [p.name for p in (folder / CACHE_FOLDER).iterdir()] != [entries[0].name]
    assert len(list((folder / CACHE_FOLDER).iterdir())) == 1

    # A damaged entry is rebuilt, not an error.
    entry = next((folder / CACHE_FOLDER).iterdir())
    (entry / "flights.parquet").write_bytes(b"not parquet")
    assert read_official(folder)["flights"].height == fresh["flights"].height + 1
    assert pl.read_parquet(entry / "flights.parquet").height == fresh["flights"].height + 1


def test_unwritable_cache_only_warns(tmp_path):
    folder = _official_copy(tmp_path)
    (folder / CACHE_FOLDER).write_text("a file where the cache folder would go")
    with pytest.warns(UserWarning, match="cannot cache the normalised tables"):
        tables = read_official(folder)
    assert tables["flights"].height == 313


def test_flight_table_finds_every_row_of_a_number_in_file_order():
    from imagine.domains.travelplanner.evaluate.index import FlightTable

    rows = [("F900000012", "A", "B", "2022-03-01", "08:00", "09:00", 100),
            ("F900000013", "A", "B", "2022-03-01", "10:00", "11:00", 200),  # same first 8 bytes as above
            ("F1", "C", "D", "2022-03-02", "08:00", "09:00", 300),
            ("F1", "A", "B", "2022-03-03", "08:00", "09:00", 400),
            ("Fé", "A", "B", "2022-03-01", "08:00", "09:00", 500),
            ("F2", "A", "B", "2022-03-01", "08:00", "09:00", None)]  # an empty cell: not bookable
    frame = pl.DataFrame(rows, schema={c: SCHEMA["flights"][c] for c in
                                       ("flight_number", "origin", "dest", "date", "dep_time", "arr_time", "price")},
                         orient="row")
    table = FlightTable(frame.with_columns(pl.lit(1.0).alias("distance")))
    assert len(table) == 5
    assert [f.price for f in table.numbered("F900000013")] == [200]
    assert [f.price for f in table.numbered("F1")] == [300, 400]
    assert table.find("F1", "A", "B").price == 400 and table.find("F1", "A", "B", "2022-03-02") is None
    assert table.find("Fé", "A", "B").price == 500
    assert table.numbered("F2") == () and table.numbered("F9") == ()
    assert sorted(f.number for f in table.resolved()) == ["F1", "F1", "F900000012", "F900000013", "Fé"]


def test_full_size_stand_in_has_the_official_format(tmp_path, train_queries):
    """benchmarks/make_full_database.py writes the official layout (here with 5,000 flights)."""
    from imagine.domains.travelplanner.evaluate import Scorer
    from imagine.domains.travelplanner.sandbox import Sandbox

    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_full_database.py"), str(tmp_path / "db"),
                           "--rows", "5000"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "db" / OFFICIAL_FILES["flights"], newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    with open(TRAVELPLANNER / OFFICIAL_FILES["flights"], newline="", encoding="utf-8") as handle:
        assert header == next(csv.reader(handle))
    sandbox = Sandbox.load(tmp_path / "db")
    flights = sandbox["flights"]
    assert flights.height == 5000 and flights["flight_number"].n_unique() == 5000
    validate_sandbox(dedupe_distances(drop_orphans(sandbox.tables)[0])[0], "stand-in")  # the stage's repairs
    scorer = Scorer(sandbox, "strict")  # the real flights are in it: every annotated plan still passes
    assert all(scorer.score(q, q["plan"]).final_pass for q in train_queries if q["idx"] != 42)
