"""Read-only SQL over every dataset the pipeline writes.

`connect(data_dir)` returns an in-memory DuckDB connection with one view per dataset found under
`data_dir` (see `registry.DATASETS`); `run_sql(sql, data_dir)` runs one read-only statement.

Two locks keep the audit read-only:

1. `guard.check_read_only` parses the SQL with DuckDB's own parser and accepts exactly one
   SELECT-like statement (SELECT/WITH/FROM/VALUES/DESCRIBE/SHOW/SUMMARIZE, EXPLAIN of one, or a
   read-only PRAGMA); table functions outside a small allowlist (read_csv, read_parquet, read_text,
   read_blob, glob, query, ...) and file paths used as tables are refused.
2. The connection itself cannot touch the file system: the views are pyarrow datasets opened by
   Python and registered with DuckDB, so DuckDB runs with `enable_external_access = false`, no
   allowed directory or path, no temp directory, no extension auto-install/auto-load, no Python
   replacement scans, and then `lock_configuration = true` so no statement can undo any of it.
   Even a statement the guard missed can neither read a file (in or outside data/) nor write one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from .errors import AuditError
from .guard import _locked_config, check_read_only, lock
from .registry import DATASETS, Dataset, world_datasets

__all__ = [
    "AuditError",
    "DATASETS",
    "Dataset",
    "ViewInfo",
    "check_read_only",
    "connect",
    "list_views",
    "run_sql",
]


@dataclass
class ViewInfo:
    name: str
    files: list[Path]
    rows: int
    columns: list[tuple[str, str]] = field(default_factory=list)  # (name, DuckDB type)


def connect(data_dir: str | Path = "data") -> duckdb.DuckDBPyConnection:
    """An in-memory, locked-down DuckDB connection with one view per existing dataset."""
    con, _ = _open(data_dir)
    return con


def run_sql(sql: str, data_dir: str | Path = "data") -> tuple[list[str], list[tuple]]:
    """Run one read-only statement over the views; return (column names, rows)."""
    check_read_only(sql)
    con = connect(data_dir)
    try:
        cursor = con.execute(sql)
        if cursor.description is None:
            return [], []
        columns = [item[0] for item in cursor.description]
        return columns, cursor.fetchall()
    except duckdb.PermissionException:
        raise AuditError(
            "refused: the query tried to access a file; the audit reads only its views "
            "(list them with `imagine audit --list`)"
        ) from None
    except duckdb.Error as exc:
        raise AuditError(f"SQL error: {error_message(exc)}") from None
    finally:
        con.close()


def list_views(data_dir: str | Path = "data") -> list[ViewInfo]:
    """Every available view with its files, row count, and columns."""
    con, datasets = _open(data_dir)
    try:
        infos = []
        for name, (files, dataset) in datasets.items():
            columns = [(row[0], row[1]) for row in con.execute(f'DESCRIBE "{name}"').fetchall()]
            infos.append(ViewInfo(name, files, dataset.count_rows(), columns))
        return infos
    finally:
        con.close()


def error_message(exc: BaseException) -> str:
    """DuckDB's message on one line, without the `LINE 1: ...` caret block."""
    lines = []
    for line in str(exc).splitlines():
        if line.startswith("LINE "):
            break
        if line.strip():
            lines.append(line.strip())
    return " ".join(lines) or type(exc).__name__


def _open(data_dir: str | Path):
    root = Path(data_dir)
    if not root.is_dir():
        raise AuditError(
            f"no data directory {str(root)!r}: "
            "run `dvc repro` (or `dvc pull`) first, or pass --data"
        )
    datasets = {}
    for dataset in (*DATASETS, *world_datasets(root)):
        files = dataset.files(root)
        if files:
            datasets[dataset.name] = (files, _arrow_dataset(dataset.name, files))
    if not datasets:
        raise AuditError(
            f"no datasets under {str(root)!r} yet: run `dvc repro` (or `dvc pull`) first"
        )
    con = duckdb.connect(":memory:", config=_locked_config())
    try:
        for name, (_, dataset) in datasets.items():
            con.register(name, dataset)
        lock(con)
    except Exception:
        con.close()
        raise
    return con, datasets


def _arrow_dataset(name: str, files: list[Path]) -> pads.Dataset:
    """One dataset over all files; columns are matched by name, types promoted where needed."""
    try:
        schemas = [pq.read_schema(file) for file in files]
        schema = pa.unify_schemas(schemas, promote_options="permissive")
        return pads.dataset([str(file) for file in files], schema=schema, format="parquet")
    except (OSError, pa.ArrowException) as exc:
        listed = ", ".join(str(file) for file in files)
        raise AuditError(f"cannot read view {name} ({listed}): {error_message(exc)}") from None
