"""Saved audit queries: one `.sql` file per question, in `imagine/audit/queries/` (the questions of every
domain) and in the domain's own folder (`Domain.audit_dir`, e.g. which checks fail most, by check
column); a domain's query of the same name replaces the generic one.

Each file holds one read-only statement and starts with `--` comment lines saying what it answers
(the first line is its one-line description). `run_saved` runs one through the same locked-down
`run_sql` as `imagine audit`; `run_all` runs every one and returns JSON-able results: the full
tables, and `metrics`, the numbers nested by query name for `dvc metrics`:

- the text/boolean columns of a row are its key path (`flag_rate_by_level.easy.flag_rate`);
- a query with one row and no key columns gives its numbers directly (`judge_agreement.kappa`).
"""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass
from pathlib import Path

from . import run_sql
from .values import jsonable
from .errors import AuditError

QUERIES_DIR = Path(__file__).with_name("queries")
MAX_TABLE_ROWS = 50  # rows of each table kept in the JSON results


@dataclass(frozen=True)
class SavedQuery:
    name: str
    path: Path
    sql: str

    @property
    def header(self) -> list[str]:
        """The leading comment lines, without `--`."""
        lines = []
        for line in self.sql.splitlines():
            stripped = line.strip()
            if not stripped.startswith("--"):
                break
            lines.append(stripped[2:].strip())
        return lines

    @property
    def description(self) -> str:
        return self.header[0] if self.header else ""


def saved_queries(*directories: str | Path) -> list[SavedQuery]:
    """Every saved query of `directories` (default: `query_dirs()`), sorted by name; a later folder's
    query replaces an earlier one of the same name."""
    found: dict[str, SavedQuery] = {}
    for directory in directories or query_dirs():
        for path in sorted(Path(directory).glob("*.sql")):
            found[path.stem] = SavedQuery(path.stem, path, path.read_text(encoding="utf-8"))
    return [found[name] for name in sorted(found)]


def query_dirs(domain=None) -> tuple[Path, ...]:
    """The generic folder, then the domain's (default: the default domain)."""
    from imagine.domain import get_domain

    return QUERIES_DIR, Path((domain or get_domain()).audit_dir)


def get(name: str, *directories: str | Path) -> SavedQuery:
    found = {query.name: query for query in saved_queries(*directories)}
    if name.endswith(".sql"):
        name = name[:-4]
    if name not in found:
        raise AuditError(f"no saved query {name!r}; saved queries: {', '.join(found) or 'none'} "
                         "(list them with `imagine audit --saved`)")
    return found[name]


def run_saved(name: str, data_dir: str | Path = "data", *directories: str | Path) -> tuple[list[str], list[tuple]]:
    """(columns, rows) of one saved query."""
    return run_sql(get(name, *directories).sql, data_dir)


def run_all(data_dir: str | Path = "data", *directories: str | Path, strict: bool = True) -> dict:
    """Run every saved query: {"metrics": {name: nested numbers}, "tables": {name: {columns, rows}}}.

    With strict=False a failing query is recorded under "errors" instead of raising AuditError."""
    metrics, tables, errors = {}, {}, {}
    for query in saved_queries(*directories):
        try:
            columns, rows = run_sql(query.sql, data_dir)
        except AuditError as exc:
            if strict:
                raise AuditError(f"saved query {query.name} ({query.path.name}): {exc}") from None
            errors[query.name] = str(exc)
            continue
        metrics[query.name] = to_metrics(columns, rows)
        tables[query.name] = {
            "description": query.description,
            "columns": columns,
            "rows": [[jsonable(v) for v in row] for row in rows[:MAX_TABLE_ROWS]],
            "row_count": len(rows),
        }
    out = {"metrics": metrics, "tables": tables}
    if errors:
        out["errors"] = errors
    return out


def _number(value):
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    return value if isinstance(value, int) else None


def _is_key(value) -> bool:
    return isinstance(value, (str, bool)) or value is None


def to_metrics(columns: list[str], rows: list[tuple]) -> dict:
    """Numbers nested by the text/boolean columns of each row (see module doc); nulls are left out."""
    if not rows:
        return {}
    key_columns = [i for i, _ in enumerate(columns) if all(_is_key(row[i]) for row in rows)
                   and any(row[i] is not None for row in rows)]
    out: dict = {}
    for index, row in enumerate(rows):
        node = out
        path = [_key_text(row[i]) for i in key_columns]
        if not path and len(rows) > 1:
            path = [f"row_{index}"]
        for part in path:
            node = node.setdefault(part, {})
        for i, column in enumerate(columns):
            if i in key_columns:
                continue
            number = _number(row[i])
            if number is not None:
                node[column] = number
    return out


def _key_text(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


__all__ = ["MAX_TABLE_ROWS", "QUERIES_DIR", "SavedQuery", "get", "query_dirs", "run_all", "run_saved", "saved_queries",
           "to_metrics"]
