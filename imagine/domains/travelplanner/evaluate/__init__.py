"""The 8 commonsense and 5 hard TravelPlanner checks, in `compat` and `strict` modes, and the metrics."""

from imagine.domains.travelplanner.evaluate.metrics import summarize  # noqa: F401
from imagine.domains.travelplanner.evaluate.scorer import (  # noqa: F401
    COMMONSENSE_CHECKS, HARD_CHECKS, LEVELS, MODES, QueryError, Scorer, Verdict, applicable_hard,
    normalize_query,
)
