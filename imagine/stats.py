"""Bootstrap intervals for per-query scores: a model's mean, and the paired difference of two models.

Resampling is over queries (the unit a benchmark samples), with a seeded generator so a rerun gives
the same interval. The paired version resamples the same queries for both models, so a lift is judged
against the spread of per-query differences, not of each model's scores (far narrower when the two
models find the same queries hard).
"""

from __future__ import annotations

import random

RESAMPLES = 2000
LEVEL = 0.95


def _resampled_means(values: list[float], resamples: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    n = len(values)
    return [sum(rng.choices(values, k=n)) / n for _ in range(resamples)]


def _interval(means: list[float], level: float) -> list[float]:
    ordered = sorted(means)
    tail = (1 - level) / 2
    at = lambda q: ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]  # noqa: E731
    return [round(at(tail), 4), round(at(1 - tail), 4)]


def mean_ci(values: list[float], *, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 0) -> dict:
    """{"mean", "ci95": [low, high], "n"} of the mean of `values` (no interval for fewer than 2)."""
    n = len(values)
    if n < 2:
        return {"mean": sum(values) / n if n else None, "ci95": None, "n": n}
    return {"mean": round(sum(values) / n, 4), "ci95": _interval(_resampled_means(values, resamples, seed), level),
            "n": n}


def paired_difference(a: dict[str, float], b: dict[str, float], *, resamples: int = RESAMPLES,
                      level: float = LEVEL, seed: int = 0) -> dict:
    """Mean of a - b over the keys (queries) both score, its bootstrap interval, and the share of
    resamples where the difference is <= 0 (a one-sided bootstrap p-value for "a beats b")."""
    diffs = [a[k] - b[k] for k in sorted(set(a) & set(b))]
    if len(diffs) < 2:
        return {**mean_ci(diffs), "p_not_better": None}
    means = _resampled_means(diffs, resamples, seed)
    return {"mean": round(sum(diffs) / len(diffs), 4), "ci95": _interval(means, level), "n": len(diffs),
            "p_not_better": round(sum(m <= 0 for m in means) / resamples, 4)}
