"""Write a TravelPlanner database folder whose flights file has the official size (~3.8M rows).

    python benchmarks/make_full_database.py OUT_DIR [--rows 3800000] [--seed 0]

The official flights file is distributed outside the repository; this makes a stand-in of its size
and format so loading the full database can be measured: the vendored folder's other files are
copied as they are, and the flights CSV holds the vendored 313 real flights followed by seeded
ones (same header and cell formats: `F` + 7-digit numbers, integer prices, `HH:MM` times,
`H hours M minutes`, ISO dates in March-April 2022, city names from the city list, miles as
`700.0`). The output is a few hundred MB: write it outside the repository and never commit it.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import polars as pl

from imagine.domains.travelplanner.sandbox.tables import OFFICIAL_FILES

VENDORED = Path(__file__).resolve().parents[1] / "data" / "external" / "travelplanner"
FIRST_DATE, DAYS = np.datetime64("2022-03-01"), 61


def _hhmm(minutes: pl.Expr) -> pl.Expr:
    return pl.format("{}:{}", (minutes // 60).cast(pl.String).str.zfill(2), (minutes % 60).cast(pl.String).str.zfill(2))


def synthetic_flights(rows: int, cities: list[str], taken: set[str], seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    origin = rng.integers(0, len(cities), rows)
    dest = (origin + rng.integers(1, len(cities), rows)) % len(cities)  # never the origin
    miles = np.round(rng.uniform(80, 2800, rows))
    elapsed = np.round(30 + miles / 8 + rng.normal(0, 8, rows)).clip(25, 16 * 60).astype(np.int64)
    dep = rng.integers(5 * 60, 24 * 60 - elapsed)
    numbers = rng.choice(10**7, size=rows + len(taken), replace=False)  # in no order, as real ones are
    labels = pl.Series(numbers).cast(pl.String).str.zfill(7)
    labels = ("F" + labels).filter(~("F" + labels).is_in(list(taken))).head(rows)
    names = pl.Series(cities)
    return pl.DataFrame({
        "Flight Number": labels,
        "Price": np.maximum(20, np.round((40 + 0.28 * miles) * rng.lognormal(0, 0.3, rows))).astype(np.int64),
        "dep": dep, "elapsed": elapsed,
        "FlightDate": (FIRST_DATE + rng.integers(0, DAYS, rows)).astype(str),
        "OriginCityName": names.gather(origin), "DestCityName": names.gather(dest),
        "Distance": miles,
    }).select(
        "Flight Number", pl.col("Price").cast(pl.String),
        _hhmm(pl.col("dep")).alias("DepTime"), _hhmm(pl.col("dep") + pl.col("elapsed")).alias("ArrTime"),
        pl.format("{} hours {} minutes", pl.col("elapsed") // 60, pl.col("elapsed") % 60).alias("ActualElapsedTime"),
        "FlightDate", "OriginCityName", "DestCityName",
        pl.format("{}.0", pl.col("Distance").cast(pl.Int64)).alias("Distance"),
    )


def make(out: Path, rows: int, seed: int) -> Path:
    for table, relative in OFFICIAL_FILES.items():
        if table != "flights":
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(VENDORED / relative, out / relative)
    real = pl.read_csv(VENDORED / OFFICIAL_FILES["flights"], infer_schema=False)
    cities = [line.split("\t")[0] for line in (VENDORED / OFFICIAL_FILES["cities"]).read_text().splitlines() if line]
    added = synthetic_flights(rows - real.height, cities, set(real["Flight Number"]), seed)
    path = out / OFFICIAL_FILES["flights"]
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.concat([real, added]).write_csv(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder to write (outside the repository)")
    parser.add_argument("--rows", type=int, default=3_800_000, help="flights in total (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    path = make(args.out, args.rows, args.seed)
    print(f"wrote {path} ({args.rows:,} flights, {path.stat().st_size / 2**20:,.0f} MiB) "
          f"in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
