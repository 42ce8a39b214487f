"""The sandbox: six normalised tables, read from the official TravelPlanner folder or a built sandbox.

Every other module sees the travel world only through `Sandbox`. The official CSV quirks (unnamed
index columns, `"1,144 km"` strings, empty cells, `"1 day 3 hours"` durations) are normalised here,
once. Rows the official evaluator would drop (its loaders call `dropna()`) are kept but flagged with
`complete = False`, so `compat` scoring can reproduce the official view and `strict` can use them all.

The official database's flights file has ~3.8M rows (seconds to parse), so `read_official` caches
the normalised tables as Parquet in a hidden folder beside the data (see `CACHE_FOLDER`).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import polars as pl

TABLES = ("cities", "flights", "distances", "accommodations", "restaurants", "attractions")

# Column name -> polars dtype for each normalised table. The GX suites and the synthetic generator
# both follow this, so it is the one statement of the sandbox schema.
SCHEMA: dict[str, dict[str, pl.DataType]] = {
    "cities": {"city": pl.String, "state": pl.String},
    "flights": {
        "flight_number": pl.String, "price": pl.Int64, "dep_time": pl.String, "arr_time": pl.String,
        "elapsed": pl.String, "date": pl.String, "origin": pl.String, "dest": pl.String,
        "distance": pl.Float64, "synthetic": pl.Boolean,
    },
    "distances": {
        "origin": pl.String, "dest": pl.String, "duration": pl.String, "duration_min": pl.Int64,
        "distance_text": pl.String, "distance_km": pl.Float64,
    },
    "accommodations": {
        "name": pl.String, "room_type": pl.String, "price": pl.Float64, "minimum_nights": pl.Int64,
        "review_rate": pl.Float64, "house_rules": pl.String, "max_occupancy": pl.Int64,
        "city": pl.String, "complete": pl.Boolean,
    },
    "restaurants": {
        "name": pl.String, "city": pl.String, "cuisines": pl.String, "average_cost": pl.Int64,
        "rating": pl.Float64, "complete": pl.Boolean,
    },
    "attractions": {
        "name": pl.String, "latitude": pl.Float64, "longitude": pl.Float64, "address": pl.String,
        "phone": pl.String, "website": pl.String, "city": pl.String, "complete": pl.Boolean,
    },
}

ROOM_TYPES = ("Entire home/apt", "Private room", "Shared room")
# A query's `room type` constraint -> does a hotel's room type satisfy it (None: no constraint).
ROOM_TYPE_OK = {
    None: lambda room: True,
    "entire room": lambda room: room == "Entire home/apt",
    "private room": lambda room: room == "Private room",
    "shared room": lambda room: room == "Shared room",
    "not shared room": lambda room: room != "Shared room",
}
HOUSE_RULES = ("parties", "smoking", "children under 10", "visitors", "pets")
CUISINES = ("Chinese", "American", "Italian", "Mexican", "Indian", "Mediterranean", "French")

# Official folder layout, relative to the database folder.
OFFICIAL_FILES = {
    "cities": "background/citySet_with_states.txt",
    "flights": "flights/clean_Flights_2022.csv",
    "distances": "googleDistanceMatrix/distance.csv",
    "accommodations": "accommodations/clean_accommodations_2022.csv",
    "restaurants": "restaurants/clean_restaurant_2022.csv",
    "attractions": "attractions/attractions.csv",
}


# `<database folder>/.imagine_cache/<key>/<table>.parquet`: the normalised tables of an official
# folder. The key hashes each source file's path, size and modification time and this module's own
# source, so an edited file or a changed normaliser is read afresh; one key is kept per folder. Git
# and DVC ignore the folder (.gitignore, .dvcignore); a folder we cannot write to stays uncached.
CACHE_FOLDER = ".imagine_cache"


class SandboxError(ValueError):
    """A sandbox folder that cannot be read; the message names the file and what is wrong."""


def _duration_minutes(text: str | None) -> int | None:
    """'1 day 3 hours' / '10 hours 55 mins' / '45 mins' -> minutes; None when unreadable."""
    if not text:
        return None
    units = {"day": 1440, "hour": 60, "min": 1}
    total, found = 0, False
    for amount, unit in re.findall(r"(\d+)\s*(day|hour|min)", text):
        total += int(amount) * units[unit]
        found = True
    return total if found else None


def _km(text: str | None) -> float | None:
    """'1,144 km' -> 1144.0; None for empty cells."""
    if not text:
        return None
    match = re.fullmatch(r"\s*([\d,]+(?:\.\d+)?)\s*km\s*", text)
    return float(match.group(1).replace(",", "")) if match else None


def inside(folder: Path, path: Path) -> Path:
    """`path` if it resolves inside `folder` (itself resolved first, so the folder may be a link);
    a SandboxError for a file (or a sub-folder) that is a symlink leading out of the folder."""
    root = Path(folder).resolve()
    target = Path(path).resolve()
    if target != root and root not in target.parents:
        raise SandboxError(f"{path}: refused, it resolves to {target}, outside the sandbox folder {root}")
    return path


def _source(folder: Path, table: str) -> Path:
    """The official file of `table` in `folder`: inside it, and there."""
    path = inside(folder, folder / OFFICIAL_FILES[table])
    if not path.is_file():
        raise SandboxError(f"{path}: missing (expected the official TravelPlanner layout)")
    return path


def _read_csv(folder: Path, table: str) -> pl.DataFrame:
    path = _source(folder, table)
    try:
        frame = pl.read_csv(path, infer_schema=False)  # all strings: we cast explicitly below
    except Exception as exc:  # polars raises several types for malformed CSV
        raise SandboxError(f"{path}: cannot be parsed as CSV ({exc})") from exc
    return frame


def _require(frame: pl.DataFrame, path: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SandboxError(f"{path}: missing column(s) {missing}; found {frame.columns}")


def _cast(frame: pl.DataFrame, path: str, table: str) -> pl.DataFrame:
    """Cast string columns to the schema, naming the first bad row/field on failure."""
    schema = SCHEMA[table]
    for column, dtype in schema.items():
        if frame[column].dtype == dtype:
            continue
        casted = frame[column].cast(dtype, strict=False)
        bad = frame[column].is_not_null() & casted.is_null()
        if bad.any():
            row = int(bad.arg_true()[0])
            raise SandboxError(
                f"{path}: row {row + 2}, field {column!r}: {frame[column][row]!r} is not {dtype}"
            )
        frame = frame.with_columns(casted.alias(column))
    return frame.select(list(schema))


# Cells pandas reads as missing by default: the official loaders' `dropna()` drops rows holding any.
_PANDAS_NA = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
              "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]


def _complete(frame: pl.DataFrame, raw_columns: list[str]) -> pl.Expr:
    """True where the official loader would keep the row (no cell pandas reads as NaN)."""
    return pl.all_horizontal([pl.col(c).is_not_null() & ~pl.col(c).is_in(_PANDAS_NA) for c in raw_columns])


def _cache_key(folder: Path) -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for table in TABLES:
        stat = _source(folder, table).stat()
        digest.update(f"{OFFICIAL_FILES[table]}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _read_cache(entry: Path) -> dict[str, pl.DataFrame] | None:
    if not entry.is_dir():
        return None
    try:
        return {table: pl.read_parquet(entry / f"{table}.parquet") for table in TABLES}
    except Exception:  # noqa: BLE001 - an unreadable cache entry is rebuilt, never an error
        shutil.rmtree(entry, ignore_errors=True)
        return None


def _write_cache(entry: Path, tables: dict[str, pl.DataFrame]) -> None:
    """Write the entry whole (a temporary folder renamed into place), then drop the other keys."""
    try:
        entry.parent.mkdir(exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=entry.parent))
        tmp.chmod(entry.parent.stat().st_mode & 0o777)  # mkdtemp's 0700 would hide it from other users
        for table, frame in tables.items():
            frame.write_parquet(tmp / f"{table}.parquet")
        try:
            tmp.rename(entry)
        except OSError:
            if not entry.is_dir():  # else another process wrote the same entry first: keep theirs
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        warnings.warn(f"{entry.parent}: cannot cache the normalised tables ({exc}); loading stays uncached",
                      stacklevel=3)
        return
    for stale in entry.parent.iterdir():
        if stale != entry and not stale.name.startswith(".tmp-"):
            shutil.rmtree(stale, ignore_errors=True)


def read_official(folder: str | Path) -> dict[str, pl.DataFrame]:
    """Read a TravelPlanner database folder as published and return the six normalised tables
    (from the Parquet cache beside it when its files have not changed since)."""
    folder = Path(folder)
    entry = inside(folder, folder / CACHE_FOLDER / _cache_key(folder))
    tables = _read_cache(entry)
    if tables is None:
        tables = _normalise_official(folder)
        _write_cache(entry, tables)
    return tables


def _normalise_official(folder: Path) -> dict[str, pl.DataFrame]:
    tables: dict[str, pl.DataFrame] = {}

    cities_path = _source(folder, "cities")
    rows = []
    for number, line in enumerate(cities_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise SandboxError(f"{cities_path}: line {number}: expected 'City<TAB>State', got {line!r}")
        rows.append({"city": parts[0].strip(), "state": parts[1].strip()})
    tables["cities"] = pl.DataFrame(rows, schema=SCHEMA["cities"])

    raw = _read_csv(folder, "flights")
    path = str(folder / OFFICIAL_FILES["flights"])
    _require(raw, path, ["Flight Number", "Price", "DepTime", "ArrTime", "ActualElapsedTime",
                         "FlightDate", "OriginCityName", "DestCityName", "Distance"])
    raw = raw.select(
        pl.col("Flight Number").alias("flight_number"),
        pl.col("Price").str.strip_chars().str.replace(r"\.0+$", "").alias("price"),
        pl.col("DepTime").alias("dep_time"), pl.col("ArrTime").alias("arr_time"),
        pl.col("ActualElapsedTime").alias("elapsed"), pl.col("FlightDate").alias("date"),
        pl.col("OriginCityName").alias("origin"), pl.col("DestCityName").alias("dest"),
        pl.col("Distance").alias("distance"), pl.lit(False).alias("synthetic"),
    )
    tables["flights"] = _cast(raw, path, "flights")

    raw = _read_csv(folder, "distances")
    path = str(folder / OFFICIAL_FILES["distances"])
    _require(raw, path, ["origin", "destination", "duration", "distance"])
    tables["distances"] = _cast(
        raw.select(
            pl.col("origin"), pl.col("destination").alias("dest"), pl.col("duration"),
            pl.col("duration").map_elements(_duration_minutes, return_dtype=pl.Int64).alias("duration_min"),
            pl.col("distance").alias("distance_text"),
            pl.col("distance").map_elements(_km, return_dtype=pl.Float64).alias("distance_km"),
        ),
        path, "distances",
    )

    raw = _read_csv(folder, "accommodations")
    path = str(folder / OFFICIAL_FILES["accommodations"])
    columns = ["NAME", "room type", "price", "minimum nights", "review rate number", "house_rules",
               "maximum occupancy", "city"]
    _require(raw, path, columns)
    tables["accommodations"] = _cast(
        raw.select(
            pl.col("NAME").alias("name"), pl.col("room type").alias("room_type"), pl.col("price"),
            pl.col("minimum nights").str.replace(r"\.0+$", "").alias("minimum_nights"),
            pl.col("review rate number").alias("review_rate"), pl.col("house_rules"),
            pl.col("maximum occupancy").str.replace(r"\.0+$", "").alias("max_occupancy"),
            pl.col("city"), _complete(raw, raw.columns).alias("complete"),
        ),
        path, "accommodations",
    )

    raw = _read_csv(folder, "restaurants")
    path = str(folder / OFFICIAL_FILES["restaurants"])
    _require(raw, path, ["Name", "City", "Cuisines", "Average Cost", "Aggregate Rating"])
    tables["restaurants"] = _cast(
        raw.select(
            pl.col("Name").alias("name"), pl.col("City").alias("city"), pl.col("Cuisines").alias("cuisines"),
            pl.col("Average Cost").str.replace(r"\.0+$", "").alias("average_cost"),
            pl.col("Aggregate Rating").alias("rating"), _complete(raw, raw.columns).alias("complete"),
        ),
        path, "restaurants",
    )

    raw = _read_csv(folder, "attractions")
    path = str(folder / OFFICIAL_FILES["attractions"])
    _require(raw, path, ["Name", "Latitude", "Longitude", "Address", "Phone", "Website", "City"])
    tables["attractions"] = _cast(
        raw.select(
            pl.col("Name").alias("name"), pl.col("Latitude").alias("latitude"),
            pl.col("Longitude").alias("longitude"), pl.col("Address").alias("address"),
            pl.col("Phone").alias("phone"), pl.col("Website").alias("website"), pl.col("City").alias("city"),
            _complete(raw, raw.columns).alias("complete"),
        ),
        path, "attractions",
    )
    return tables


@dataclass
class Sandbox:
    """The six tables of one travel world, plus where they came from."""

    tables: dict[str, pl.DataFrame]
    manifest: dict

    def __getitem__(self, table: str) -> pl.DataFrame:
        return self.tables[table]

    @classmethod
    def load(cls, path: str | Path) -> "Sandbox":
        """Load a sandbox built by the `sandbox` stage, or an official TravelPlanner database folder."""
        path = Path(path)
        if not path.is_dir():
            raise SandboxError(f"{path}: not a folder")
        if (path / "manifest.json").is_file():
            tables = {}
            for table in TABLES:
                file = inside(path, path / f"{table}.parquet")
                if not file.is_file():
                    raise SandboxError(f"{file}: missing from the built sandbox")
                frame = pl.read_parquet(file)
                missing = [c for c in SCHEMA[table] if c not in frame.columns]
                if missing:
                    raise SandboxError(f"{file}: missing column(s) {missing}")
                tables[table] = frame
            return cls(tables, json.loads(inside(path, path / "manifest.json").read_text()))
        if (path / OFFICIAL_FILES["cities"]).is_file():
            return cls(read_official(path), {"source": "travelplanner", "path": str(path)})
        raise SandboxError(
            f"{path}: neither a built sandbox (no manifest.json) nor a TravelPlanner database folder "
            f"(no {OFFICIAL_FILES['cities']})"
        )

    def save(self, folder: str | Path) -> None:
        """Write all tables and the manifest; the caller is responsible for atomic placement."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for table in TABLES:
            self.tables[table].write_parquet(folder / f"{table}.parquet")
        (folder / "manifest.json").write_text(json.dumps(self.manifest, indent=2, sort_keys=True) + "\n")
