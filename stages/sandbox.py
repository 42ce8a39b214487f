"""DVC stage `sandbox`: build the travel world every later stage plans in.

Reads `sandbox:` from params.yaml; imports the official TravelPlanner folder (dropping rows of cities
missing from the city list, deduplicating distance pairs, completing the partial flights file with
seeded synthetic flights) or generates a synthetic world; validates all six tables with the Great
Expectations sandbox suite; writes data/sandbox/ (six Parquet tables + manifest.json) atomically and
metrics to reports/sandbox.json. Invalid data: exit 1 with the failed expectations, nothing written.
"""

from __future__ import annotations

import argparse
import sys
import time

from imagine.io import atomic_path, read_params, write_json


def build(params: dict) -> tuple[dict, dict]:
    """params (the `sandbox:` section) -> (tables, manifest)."""
    from imagine.domains.travelplanner.sandbox.flights import complete_flights, coverage, date_window
    from imagine.domains.travelplanner.sandbox.tables import read_official

    source = params.get("source", "travelplanner")
    flights = params.get("flights", {}) or {}
    window = date_window(flights.get("start", "2022-03-01"), flights.get("end", "2022-03-31"))
    manifest: dict = {"source": source, "params": params}
    if source == "travelplanner":
        from imagine.domains.travelplanner.sandbox.clean import dedupe_distances, drop_orphans

        folder = params.get("travelplanner_dir", "data/external/travelplanner")
        manifest["path"] = str(folder)
        tables = read_official(folder)
        manifest["official_rows"] = {t: f.height for t, f in tables.items()}
        if params.get("drop_orphans", True):
            tables, manifest["orphans_dropped"] = drop_orphans(tables)
        tables, manifest["distances_deduplicated"] = dedupe_distances(tables)
        manifest["flights_before_completion"] = coverage(tables, window)
        if flights.get("complete", True):
            tables, manifest["flight_completion"] = complete_flights(
                tables, start=window[0], end=window[-1], min_km=flights.get("min_km", 300),
                route_fraction=flights.get("route_fraction", 0.3), per_day=flights.get("per_day", 1),
                seed=flights.get("seed", 0), max_rows=flights.get("max_rows", 150_000))
    elif source == "synthetic":
        from imagine.domains.travelplanner.sandbox.synthetic import generate_world

        world = dict(params.get("synthetic", {}) or {})
        route_fraction = world.pop("route_fraction", 0.35)
        tables = generate_world(
            world.pop("seed", 0), **world, flight_start=window[0], flight_end=window[-1],
            flight_route_fraction=route_fraction, flights_per_day=flights.get("per_day", 1),
            min_flight_km=flights.get("min_km", 300))
    else:
        raise ValueError(f"params.yaml: sandbox.source must be 'travelplanner' or 'synthetic', got {source!r}")
    manifest["flights"] = coverage(tables, window)
    manifest["rows"] = {t: f.height for t, f in tables.items()}
    return tables, manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    parser.add_argument("--out", default="data/sandbox", help="sandbox folder to write (default: %(default)s)")
    parser.add_argument("--metrics", default="reports/sandbox.json", help="metrics JSON (default: %(default)s)")
    args = parser.parse_args(argv)

    from imagine.params import params_or_exit

    params_or_exit(args.params, ["sandbox"], "sandbox")  # before any work: one line naming a bad key

    from imagine.checks import DataValidationError
    from imagine.domains.travelplanner.checks.sandbox import validate_sandbox
    from imagine.domains.travelplanner.sandbox.flights import FlightsError
    from imagine.domains.travelplanner.sandbox.tables import Sandbox, SandboxError

    started = time.perf_counter()
    try:
        params = read_params(args.params).get("sandbox", {}) or {}
        tables, manifest = build(params)
        label = manifest.get("path", params.get("source", "sandbox"))
        checked = time.perf_counter()
        validate_sandbox(tables, label, orphans_ok=manifest["source"] == "travelplanner"
                         and not params.get("drop_orphans", True))
        validate_s = time.perf_counter() - checked
    except (DataValidationError, SandboxError, FlightsError, ValueError, OSError) as exc:
        print(f"sandbox: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("sandbox: nothing written", file=sys.stderr)
        return 1

    with atomic_path(args.out) as tmp:
        Sandbox(tables, manifest).save(tmp)
    flights = manifest["flights"]
    write_json(args.metrics, {
        "source": manifest["source"], "rows": manifest["rows"],
        "synthetic_flights": flights["synthetic_flights"],
        "drivable_pairs_without_flight": flights["drivable_pairs_without_flight"],
        "cities_without_flight": flights["cities_without_flight"],
        "validate_seconds": round(validate_s, 2), "wall_seconds": round(time.perf_counter() - started, 2),
    })
    rows = ", ".join(f"{t} {n}" for t, n in manifest["rows"].items())
    print(f"sandbox: wrote {args.out} ({rows}) in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
