"""The trip domain: multi-city trip planning with direct flights (Natural Plan's Trip Planning task).

Visit N cities (3-10) in D days; each city has a required stay; fly only along the listed direct
connections; some cities carry a fixed-day event; a flight day counts in both cities, so
D = sum(stays) - (N - 1). An answer is a JSON list of stays after the think block.

| module      | what it holds                                                                  |
|-------------|--------------------------------------------------------------------------------|
| world       | seeded cities + connected flight graph; Parquet save / load / validate          |
| itinerary   | Stay, Event, TripQuery (one query's constraints), lay_out, query_id             |
| solver      | solve(query, cap): one valid itinerary + the number of them (capped)            |
| text        | the query's natural-language text, Natural Plan style                           |
| queries     | certified query generation: QueryParams, generate_queries                       |
| schema      | QUERY_SCHEMA, validate_queries, to_natural_plan                                 |
| answer      | read_stays, parse_answer, to_official_text, from_official_text                  |
| official    | our reading of Natural Plan's official scorer (parse, exact match)              |
| checker     | Checker("strict" or "compat").score(query, answer) -> Verdict                   |
| prompts     | the Reasoner's (student's), Judges' and Reflector's chats                        |
| mistakes    | the Reasoner's mistake kinds and their injectors                                 |
| narration   | the Reasoner's step-by-step reasoning                                            |
| reflector   | the Reflector's text; parse_reflection                                           |
| teacher     | TripRulesBackend: the seeded CPU teacher behind the LLM Backend interface        |
| probes      | reward-hacking probes and their runner                                           |
| audit/*.sql | saved DuckDB queries over the `queries` and `traces` views                       |

Nothing here imports TravelPlanner code; only imagine.answer, imagine.verdict, imagine.llm.base and
imagine.io are shared.
"""

from imagine.domains.trip.answer import from_official_text, parse_answer, read_stays, to_official_text
from imagine.domains.trip.checker import CHECKS, COMPAT_GROUPS, GROUPS, Checker, check_columns
from imagine.domains.trip.itinerary import Event, Stay, TripQuery
from imagine.domains.trip.queries import QueryParams, generate_queries
from imagine.domains.trip.schema import QUERY_SCHEMA, validate_queries
from imagine.domains.trip.solver import Solution, solutions, solve
from imagine.domains.trip.world import World, load_world, make_world, validate_world

__all__ = [
    "CHECKS", "COMPAT_GROUPS", "GROUPS", "QUERY_SCHEMA", "Checker", "Event", "QueryParams", "Solution",
    "Stay", "TripQuery", "World", "check_columns", "from_official_text", "generate_queries", "load_world", "make_world",
    "parse_answer", "read_stays", "solutions", "solve", "to_official_text", "validate_queries", "validate_world",
]
