"""Building the TravelPlanner sandbox from the `sandbox:` params: the official folder (orphans dropped,
distance pairs deduplicated, the partial flights file completed with seeded synthetic flights) or a
synthetic world."""

from __future__ import annotations


def build_sandbox(params: dict) -> tuple[dict, dict]:
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
