"""TravelPlanner metrics over scored plans, overall and per level (DESIGN section 2)."""

from __future__ import annotations

from imagine.evaluate.scorer import COMMONSENSE_CHECKS, LEVELS, Verdict, applicable_hard


def _rates(pairs: list[tuple[dict, Verdict]]) -> dict:
    n = len(pairs)
    if n == 0:
        return {"count": 0}
    hard_total = sum(len(applicable_hard(q)) for q, _ in pairs)
    hard_passed = sum(sum(1 for check in applicable_hard(q) if v.hard.get(check) is True) for q, v in pairs)
    commonsense_passed = sum(sum(1 for check in COMMONSENSE_CHECKS if v.commonsense[check] is True) for _, v in pairs)
    commonsense_all = sum(1 for _, v in pairs if v.delivered and all(x is not False for x in v.commonsense.values()))
    hard_all = sum(1 for q, v in pairs
                   if all(v.hard.get(check) is not None for check in applicable_hard(q))
                   and all(x is not False for x in v.hard.values()))
    return {
        "count": n,
        "delivery_rate": sum(v.delivered for _, v in pairs) / n,
        "commonsense_micro": commonsense_passed / (len(COMMONSENSE_CHECKS) * n),
        "commonsense_macro": commonsense_all / n,
        "hard_micro": hard_passed / hard_total,
        "hard_macro": hard_all / n,
        "final_pass_rate": sum(v.final_pass for _, v in pairs) / n,
    }


def summarize(pairs: list[tuple[dict, Verdict]]) -> dict:
    """Metrics for (normalised query, verdict) pairs: overall, and under `per_level`."""
    out = _rates(pairs)
    out["per_level"] = {level: _rates([p for p in pairs if p[0]["level"] == level]) for level in LEVELS}
    return out
