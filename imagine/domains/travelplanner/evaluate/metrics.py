"""TravelPlanner's metrics over scored plans (DESIGN section 2): the generic ones (imagine.metrics) with its
two check groups, commonsense (all 8 always set) and hard (budget, and each local constraint a query has)."""

from __future__ import annotations

from imagine.domains.travelplanner.evaluate.scorer import LEVELS, Scorer, Verdict, applicable
from imagine.metrics import summarize as summarize_items


def summarize(pairs: list[tuple[dict, Verdict]]) -> dict:
    """Metrics for (normalised query, verdict) pairs: overall, and under `per_level`."""
    return summarize_items(((q["level"], applicable(q), v) for q, v in pairs), LEVELS, tuple(Scorer.groups))
