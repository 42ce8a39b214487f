"""`imagine eval`: score a TravelPlanner submission file against its query file.

Queries: TravelPlanner query JSONL (one query object a line). Plans: the submission JSONL
`{"idx", "query", "plan"}`, idx 1-based and matched to the idx-th query. A plan line may be
anything: a malformed plan is scored as failing. A malformed query or a line that is not JSON
stops with an error naming the file and line, since nothing sensible can be scored then.

A day's number may be under `days` (the official evaluation code) or `day` (the leaderboard's
submission format, TravelPlanner issue #20): both are read, and the summary's `day_keys` counts
the plans using each.
"""

from __future__ import annotations

import gc
import json
from contextlib import contextmanager
from pathlib import Path

import orjson
from tqdm import tqdm

from imagine.domains.travelplanner.evaluate.metrics import summarize
from imagine.domains.travelplanner.evaluate.scorer import QueryError, Scorer, normalize_query
from imagine.domains.travelplanner.plan import DAY_NUMBER_KEYS
from imagine.domains.travelplanner.sandbox import Sandbox
from imagine.io import atomic_path


class InputError(ValueError):
    """An input file that cannot be read; the message names the file, line and field."""


def read_jsonl(path: str | Path) -> list[tuple[int, object]]:
    """(line number, value) for each non-blank line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    rows = []
    # bytes.splitlines breaks lines where text mode's universal newlines would (\n, \r\n, \r).
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        try:
            rows.append((number, _loads(line)))
        except json.JSONDecodeError as exc:
            if line.strip():
                raise InputError(f"{path}: line {number}: not JSON ({exc.msg} at column {exc.colno})") from exc
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: line {number}: not UTF-8 (byte {exc.start + 1} of the line)") from exc
        except RecursionError as exc:
            raise InputError(f"{path}: line {number}: not JSON (nested too deep)") from exc
    return rows


def _loads(line: bytes):
    """orjson parses (twice as fast as the stdlib); a line it refuses goes to the stdlib, which also
    reads NaN, infinities and lone surrogates, and words the error message."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line.decode("utf-8"))


def _dumps(value) -> bytes:
    """One compact JSON line. orjson refuses a lone surrogate (in a reason quoting a plan the stdlib
    read); the stdlib writes it escaped."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value).encode()


def read_queries(path: str | Path) -> list[dict]:
    queries = []
    for number, value in read_jsonl(path):
        try:
            queries.append(normalize_query(value))
        except QueryError as exc:
            raise InputError(f"{path}: line {number}: {exc}") from exc
    return queries


def read_plans(path: str | Path, count: int) -> dict[int, object]:
    """idx -> plan. An idx outside 1..count, or given twice, is an input error."""
    plans: dict[int, object] = {}
    for number, value in read_jsonl(path):
        idx = value.get("idx") if isinstance(value, dict) else None
        if not isinstance(idx, int) or isinstance(idx, bool):
            raise InputError(f"{path}: line {number}: field 'idx' must be an integer, got {idx!r}")
        if not 1 <= idx <= count:
            raise InputError(f"{path}: line {number}: field 'idx' is {idx}, but there are {count} queries")
        if idx in plans:
            raise InputError(f"{path}: line {number}: idx {idx} given twice")
        plans[idx] = value.get("plan")
    return plans


def day_key(plan) -> str | None:
    """Which of DAY_NUMBER_KEYS the plan's days carry their number under (the first found), or None."""
    if isinstance(plan, list):
        for key in DAY_NUMBER_KEYS:
            if any(isinstance(day, dict) and key in day for day in plan):
                return key
    return None


@contextmanager
def _collector_paused():
    """Keep the cyclic garbage collector off: it would walk every plan read so far again and again
    (a third of the run), and scoring makes no reference cycles to collect."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def evaluate_files(queries_path, plans_path, sandbox_dir, mode: str = "strict", out=None,
                   progress: bool = True) -> dict:
    """Score every query's plan (a query without a plan line counts as not delivered); write one
    verdict line per query to `out` and return the metrics summary."""
    # The plans and verdicts are made and freed while the collector is off, so switching it back
    # on leaves it nothing to walk.
    with _collector_paused():
        return _evaluate(queries_path, plans_path, sandbox_dir, mode, out, progress)


def _evaluate(queries_path, plans_path, sandbox_dir, mode: str, out, progress: bool) -> dict:
    queries = read_queries(queries_path)
    plans = read_plans(plans_path, len(queries))
    scorer = Scorer(Sandbox.load(sandbox_dir), mode)
    pairs, lines = [], []
    day_keys = dict.fromkeys(DAY_NUMBER_KEYS, 0)
    for idx, query in enumerate(tqdm(queries, desc=f"scoring ({mode})", unit="plan", disable=not progress), 1):
        plan = plans.get(idx)
        if (key := day_key(plan)) is not None:
            day_keys[key] += 1
        verdict = scorer.score(query, plan)
        pairs.append((query, verdict))
        lines.append(_dumps({"idx": idx, "level": query.get("level"), **verdict.to_dict()}))
    if out is not None:
        with atomic_path(out) as tmp:
            tmp.write_bytes(b"\n".join(lines) + b"\n")
    return {"mode": mode, **summarize(pairs), "day_keys": day_keys}
