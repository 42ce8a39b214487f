"""Import TravelPlanner query files (official JSONL, or the CSV release) as rows of the queries table.

`date` and `local_constraint` may be Python values or their string repr (the CSV/HF release stores
`"['2022-03-16', '2022-03-17']"` and `"{'house rule': None, ...}"`); reprs are read with
`ast.literal_eval`, which evaluates literals only. A bad row raises `ImportError_` naming the file,
the row (1-based line for JSONL, 1-based data row + header for CSV) and the field.
"""

from __future__ import annotations

import ast
import csv
import datetime as dt
import json
from pathlib import Path

from imagine.domains.travelplanner.queries.schema import CONSTRAINT_KEYS, DAYS_CITIES, LEVELS, ROOM_TYPE_VALUES, TRANSPORTATION_VALUES
from imagine.domains.travelplanner.sandbox import CUISINES, HOUSE_RULES


class QueryImportError(ValueError):
    """A TravelPlanner query file with a bad row; the message names file, row and field."""


REQUIRED = ("org", "dest", "days", "visiting_city_number", "date", "people_number", "budget", "query", "level")


def _literal(value, kind):
    if isinstance(value, str):
        text = value.strip()
        if text in ("", "None", "null", "nan"):
            return None
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                raise ValueError(f"cannot read {kind} from {value!r} ({type(exc).__name__})") from None
    return value


def _int(value, name):
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").replace(".0", "", 1).isdigit():
        return int(float(value))
    if isinstance(value, int):
        return value
    raise ValueError(f"{name} must be an integer, got {value!r}")


def parse_row(raw: dict) -> dict:
    """One raw record -> a row with our columns; raises ValueError('field: problem')."""
    row: dict = {}
    for name in REQUIRED:
        if raw.get(name) in (None, ""):
            raise ValueError(f"{name}: missing")
    row["org"], row["dest"] = str(raw["org"]).strip(), str(raw["dest"]).strip()
    for name in ("days", "visiting_city_number", "people_number"):
        try:
            row[name] = _int(raw[name], name)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    if row["days"] not in DAYS_CITIES:
        raise ValueError(f"days: must be one of {sorted(DAYS_CITIES)}, got {row['days']}")
    if row["visiting_city_number"] != DAYS_CITIES[row["days"]]:
        raise ValueError(f"visiting_city_number: {row['visiting_city_number']} does not fit {row['days']} days")
    if not 1 <= row["people_number"] <= 8:
        raise ValueError(f"people_number: must be 1..8, got {row['people_number']}")
    try:
        budget = float(str(raw["budget"]).replace(",", "").replace("$", ""))
    except ValueError:
        raise ValueError(f"budget: not a number: {raw['budget']!r}") from None
    if budget <= 0 or not budget.is_integer():
        raise ValueError(f"budget: must be a positive whole number, got {raw['budget']!r}")
    row["budget"] = int(budget)
    try:
        dates = _literal(raw["date"], "a list of dates")
    except ValueError as exc:
        raise ValueError(f"date: {exc}") from None
    if not isinstance(dates, (list, tuple)) or not all(isinstance(d, str) for d in dates):
        raise ValueError(f"date: must be a list of ISO dates, got {raw['date']!r}")
    try:
        parsed = [dt.date.fromisoformat(d) for d in dates]
    except ValueError as exc:
        raise ValueError(f"date: {exc}") from None
    if len(dates) != row["days"] or any((b - a).days != 1 for a, b in zip(parsed, parsed[1:])):
        raise ValueError(f"date: must be {row['days']} consecutive days, got {list(dates)}")
    row["date"] = list(dates)
    try:
        constraint = _literal(raw.get("local_constraint"), "local_constraint") or {}
    except ValueError as exc:
        raise ValueError(f"local_constraint: {exc}") from None
    if not isinstance(constraint, dict):
        raise ValueError(f"local_constraint: must be a dict, got {raw.get('local_constraint')!r}")
    unknown = set(constraint) - set(CONSTRAINT_KEYS)
    if unknown:
        raise ValueError(f"local_constraint: unknown key(s) {sorted(unknown)}")
    allowed = {"house rule": HOUSE_RULES, "room type": ROOM_TYPE_VALUES, "transportation": TRANSPORTATION_VALUES}
    for key, column in CONSTRAINT_KEYS.items():
        value = constraint.get(key)
        if value is not None and key in allowed and value not in allowed[key]:
            raise ValueError(f"local_constraint.{key}: {value!r} is not one of {list(allowed[key])}")
        if key == "cuisine" and value is not None:
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not value or any(c not in CUISINES for c in value):
                raise ValueError(f"local_constraint.cuisine: must be a non-empty list from {list(CUISINES)}, got {value!r}")
        row[column] = value
    row["level"] = str(raw["level"]).strip()
    if row["level"] not in LEVELS:
        raise ValueError(f"level: must be one of {LEVELS}, got {raw['level']!r}")
    row["query"] = str(raw["query"]).strip()
    plan = raw.get("plan") if raw.get("plan") not in ("", None) else raw.get("annotated_plan")
    if isinstance(plan, str) and plan.strip():
        try:
            plan = _literal(plan, "plan")
        except ValueError as exc:
            raise ValueError(f"plan: {exc}") from None
    if plan not in (None, "") and not isinstance(plan, list):
        raise ValueError(f"plan: must be a list of day dicts, got {type(plan).__name__}")
    row["annotated_plan"] = json.dumps(plan, ensure_ascii=False) if plan else None
    return row


def read_travelplanner(path: str | Path) -> list[dict]:
    """Rows of a TravelPlanner query file (`.jsonl`/`.json` lines, or `.csv`), in file order."""
    path = Path(path)
    if not path.is_file():
        raise QueryImportError(f"{path}: no such file")
    records: list[tuple[int, dict]] = []
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8") as handle:
            for number, record in enumerate(csv.DictReader(handle), start=2):
                records.append((number, record))
    else:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise QueryImportError(f"{path}: row {number}: not JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise QueryImportError(f"{path}: row {number}: expected an object, got {type(record).__name__}")
            records.append((number, record))
    rows = []
    for number, record in records:
        try:
            rows.append(parse_row(record))
        except ValueError as exc:
            field, _, problem = str(exc).partition(": ")
            raise QueryImportError(f"{path}: row {number}: field {field!r}: {problem}") from None
    return rows
