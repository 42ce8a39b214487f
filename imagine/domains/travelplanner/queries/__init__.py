"""New query generation: sampling, the feasibility solver, budgets, dedup, TravelPlanner import."""

from imagine.domains.travelplanner.queries.build import BuildConfig, Certifier, build_queries, travelplanner_records  # noqa: F401
from imagine.domains.travelplanner.queries.importer import QueryImportError, read_travelplanner  # noqa: F401
from imagine.domains.travelplanner.queries.sample import SampleConfig, Sampler  # noqa: F401
from imagine.domains.travelplanner.queries.schema import (  # noqa: F401
    COLUMNS, local_constraint, query_id, to_travelplanner, trip_hash,
)
from imagine.domains.travelplanner.queries.solver import SolverIndex, Solution, solve  # noqa: F401
