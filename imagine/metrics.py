"""Benchmark metrics over scored answers, in any domain: overall and per level.

For each check group g of the domain (TravelPlanner: commonsense, hard):
- `{g}_micro`: checks passed / checks the queries set (a set check that was not scored counts as failed);
- `{g}_macro`: the share of answers passing every check of g their query sets;
plus `delivery_rate` (an answer was read) and `final_pass_rate` (delivered, no check failed). An item is
(level, applicable: {group: checks the query sets}, verdict with `groups`, `delivered`, `final_pass`).
"""

from __future__ import annotations


def summarize(items, levels: tuple[str, ...], groups: tuple[str, ...]) -> dict:
    """Metrics of `items` overall, and under `per_level` for each of `levels`."""
    width = 3 + 3 * len(groups)  # answers, delivered, final pass; per group: passed, set, all passed
    totals = {level: [0] * width for level in levels}
    for level, applicable, verdict in items:
        tally = totals[level]
        tally[0] += 1
        tally[1] += verdict.delivered
        tally[2] += verdict.final_pass
        for g, group in enumerate(groups):
            checks, values = applicable[group], verdict.groups[group]
            passed = sum(values.get(check) is True for check in checks)
            tally[3 + 3 * g] += passed
            tally[4 + 3 * g] += len(checks)
            tally[5 + 3 * g] += passed == len(checks)
    overall = [sum(column) for column in zip(*totals.values())]
    return {**_rates(overall, groups), "per_level": {level: _rates(t, groups) for level, t in totals.items()}}


def _rates(tally: list[int], groups: tuple[str, ...]) -> dict:
    n = tally[0]
    if n == 0:
        return {"count": 0}
    out = {"count": n, "delivery_rate": tally[1] / n}
    for g, group in enumerate(groups):
        passed, scored, all_passed = tally[3 + 3 * g: 6 + 3 * g]
        out[f"{group}_micro"] = passed / scored if scored else None
        out[f"{group}_macro"] = all_passed / n
    out["final_pass_rate"] = tally[2] / n
    return out


def per_check(items, groups: dict[str, tuple[str, ...]]) -> dict[str, float | None]:
    """Share of answers passing each check, over the answers whose query sets it (None: none does)."""
    passed = {check: 0 for checks in groups.values() for check in checks}
    applies = dict(passed)
    for _, applicable, verdict in items:
        for group, checks in applicable.items():
            values = verdict.groups[group]
            for check in checks:
                applies[check] += 1
                passed[check] += values.get(check) is True
    return {check: passed[check] / applies[check] if applies[check] else None for check in passed}
