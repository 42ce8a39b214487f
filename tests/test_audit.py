"""The audit: DuckDB views over the datasets, read-only by parser check and by connection lock."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from imagine import cli
from imagine.audit import AuditError, check_read_only, connect, list_views, run_sql
from imagine.audit.registry import Dataset


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "sandbox").mkdir(parents=True)
    (root / "queries").mkdir()
    pl.DataFrame(
        {
            "city": ["Austin", "Boston", "Denver"],
            "state": ["Texas", "Massachusetts", "Colorado"],
        }
    ).write_parquet(root / "sandbox" / "cities.parquet")
    pl.DataFrame(
        {
            "query_id": ["q1", "q2"],
            "org": ["Austin", "Boston"],
            "dest": ["Boston", "Denver"],
            "days": [3, 5],
            "budget": [1500.0, 2800.0],
            "split": ["train", "train"],
            "reference_plan": [{"cost": 1200, "days": [1, 2, 3]}, None],
        }
    ).write_parquet(root / "queries" / "train.parquet")
    pl.DataFrame(
        {
            "query_id": ["q3"],
            "org": ["Denver"],
            "dest": ["Austin"],
            "days": [7],
            "budget": [4000.0],
            "split": ["val"],
        }
    ).write_parquet(root / "queries" / "val.parquet")
    # A half-written output of imagine.io.atomic_path must not show up in the views.
    hidden = root / "sandbox" / ".flights.parquet.abc.tmp"
    hidden.mkdir()
    pl.DataFrame({"x": [1]}).write_parquet(hidden / "flights.parquet")
    return root


# ----------------------------------------------------------------------------------- views


def test_views_listed_with_columns_and_rows(data_dir):
    views = {view.name: view for view in list_views(data_dir)}
    assert set(views) == {"cities", "queries"}  # datasets without files are skipped
    assert views["cities"].rows == 3
    assert views["cities"].columns == [("city", "VARCHAR"), ("state", "VARCHAR")]
    queries = views["queries"]
    assert queries.rows == 3  # train + val
    assert [file.name for file in queries.files] == ["train.parquet", "val.parquet"]
    columns = dict(queries.columns)
    assert columns["query_id"] == "VARCHAR"
    assert columns["days"] == "BIGINT"
    assert columns["reference_plan"].startswith("STRUCT")


def test_queries_is_the_union_of_split_files(data_dir):
    sql = "SELECT split, count(*) FROM queries GROUP BY split ORDER BY split"
    columns, rows = run_sql(sql, data_dir)
    assert columns == ["split", "count_star()"]
    assert rows == [("train", 2), ("val", 1)]
    # A column missing from one split file reads as NULL.
    _, rows = run_sql("SELECT reference_plan IS NULL FROM queries WHERE query_id = 'q3'", data_dir)
    assert rows == [(True,)]


def test_queries_falls_back_to_a_single_file(tmp_path):
    root = tmp_path / "data"
    (root / "queries").mkdir(parents=True)
    pl.DataFrame({"query_id": ["a", "b"], "split": ["train", "test"]}).write_parquet(
        root / "queries" / "queries.parquet"
    )
    assert run_sql("SELECT count(*) FROM queries", root)[1] == [(2,)]


def test_select_with_join(data_dir):
    sql = """
        WITH trips AS (SELECT query_id, dest FROM queries)
        SELECT t.query_id, c.state
        FROM trips t JOIN cities c ON c.city = t.dest
        ORDER BY t.query_id
    """
    columns, rows = run_sql(sql, data_dir)
    assert columns == ["query_id", "state"]
    assert rows == [("q1", "Massachusetts"), ("q2", "Colorado"), ("q3", "Texas")]


@pytest.mark.parametrize(
    "sql",
    [
        "DESCRIBE cities",
        "SHOW TABLES",
        "SUMMARIZE queries",
        "EXPLAIN SELECT * FROM cities",
        "PRAGMA table_info('queries')",
        "FROM cities WHERE state = 'Texas'",
        "SELECT * FROM range(3)",
        "SELECT count(*) FROM duckdb_columns()",
        "-- a comment\nSELECT 1;",
    ],
)
def test_read_only_statements_are_accepted(data_dir, sql):
    columns, _ = run_sql(sql, data_dir)
    assert columns


def test_adding_a_dataset_is_one_registry_entry(data_dir, monkeypatch):
    import imagine.audit as audit

    extra = Dataset("more_cities", ("sandbox/cities.parquet",))
    monkeypatch.setattr(audit, "DATASETS", audit.DATASETS + (extra,))
    assert run_sql("SELECT count(*) FROM more_cities", data_dir)[1] == [(3,)]


# -------------------------------------------------------------------------------- refusals


REFUSED = [
    ("INSERT INTO cities VALUES ('Paris', 'France')", "INSERT"),
    ("UPDATE cities SET state = 'x'", "UPDATE"),
    ("DELETE FROM cities", "DELETE"),
    ("CREATE TABLE t AS SELECT 1", "CREATE"),
    ("CREATE TEMP VIEW v AS SELECT 1", "CREATE"),
    ("DROP VIEW cities", "DROP"),
    ("ALTER VIEW cities RENAME TO towns", "ALTER"),
    ("COPY cities TO 'out.csv'", "COPY"),
    ("COPY (SELECT 1) TO 'data/x.parquet' (FORMAT parquet)", "COPY"),
    ("EXPORT DATABASE 'dump'", "EXPORT"),
    ("ATTACH 'other.duckdb' AS other", "ATTACH"),
    ("DETACH memory", "DETACH"),
    ("INSTALL httpfs", "INSTALL"),
    ("LOAD httpfs", "LOAD"),
    ("SET enable_external_access = true", "SET"),
    ("RESET threads", "RESET"),
    ("PRAGMA memory_limit = '1GB'", "PRAGMA"),
    ("PRAGMA enable_profiling", "PRAGMA enable_profiling"),
    ("CALL pragma_table_info('cities')", "CALL"),
    ("BEGIN TRANSACTION", "BEGIN"),
    ("EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1", "CREATE"),
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv()"),
    ("SELECT * FROM read_text('/etc/passwd')", "read_text()"),
    ("SELECT * FROM read_blob('/etc/passwd')", "read_blob()"),
    ("SELECT * FROM read_parquet('data/sandbox/cities.parquet')", "read_parquet()"),
    ("SELECT * FROM read_json('/etc/x.json')", "read_json()"),
    ("SELECT * FROM glob('/etc/*')", "glob()"),
    ("SELECT * FROM sniff_csv('/etc/passwd')", "sniff_csv()"),
    ("SELECT * FROM query('SELECT 1')", "query()"),
    ("SELECT * FROM checkpoint()", "checkpoint()"),
    ("WITH x AS (SELECT * FROM read_text('/etc/passwd')) SELECT * FROM x", "read_text()"),
    ("SELECT (SELECT count(*) FROM read_csv('/etc/passwd')) AS n", "read_csv()"),
    ("SELECT * FROM cities, LATERAL (SELECT * FROM read_text('/etc/hosts'))", "read_text()"),
    ("SUMMARIZE SELECT * FROM read_text('/etc/passwd')", "read_text()"),
    ("SELECT * FROM '/etc/passwd'", "reads a file directly"),
    ("SELECT * FROM 'data/sandbox/cities.parquet'", "reads a file directly"),
    ("SELECT 1; SELECT 2", "2 statements"),
    ("SELECT * FROM cities; DROP VIEW cities", "2 statements"),
    ("", "empty query"),
    ("SELEC 1", "cannot parse SQL"),
]


@pytest.mark.parametrize("sql, fragment", REFUSED)
def test_refused_with_a_clear_message(data_dir, sql, fragment):
    with pytest.raises(AuditError) as caught:
        run_sql(sql, data_dir)
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message


def test_refusal_does_not_need_data(tmp_path):
    with pytest.raises(AuditError, match="refused: INSERT"):
        check_read_only("INSERT INTO t VALUES (1)")
    assert check_read_only("SELECT 1") == "SELECT 1"


def test_sql_errors_are_audit_errors(data_dir):
    with pytest.raises(AuditError, match="SQL error: .*nope"):
        run_sql("SELECT * FROM nope", data_dir)


def test_no_data_yet(tmp_path):
    with pytest.raises(AuditError, match="no data directory"):
        run_sql("SELECT 1", tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AuditError, match="no datasets"):
        list_views(tmp_path / "empty")


# ---------------------------------------------------------------------- the connection lock


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_parquet('{data}/sandbox/cities.parquet')",
        "SELECT * FROM glob('{data}/*')",
        "COPY (SELECT 1) TO '{tmp}/out.csv'",
        "COPY cities TO '{data}/sandbox/cities.parquet' (FORMAT parquet)",
        "COPY (SELECT 1) TO ':memory:'",
        "EXPORT DATABASE '{tmp}/dump'",
        "ATTACH '{tmp}/other.duckdb'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET disabled_filesystems = ''",
        "SET lock_configuration = false",
        "SET allowed_directories = ['/']",
    ],
)
def test_connection_itself_cannot_touch_files(data_dir, tmp_path, monkeypatch, sql):
    """Bypass the parser check: the locked connection must still refuse."""
    monkeypatch.chdir(tmp_path)
    before = sorted(str(path) for path in tmp_path.rglob("*"))
    con = connect(data_dir)
    try:
        with pytest.raises(duckdb.Error):
            con.execute(sql.format(data=data_dir, tmp=tmp_path)).fetchall()
        assert con.execute("SELECT count(*) FROM cities").fetchone() == (3,)  # still usable
    finally:
        con.close()
    assert sorted(str(path) for path in tmp_path.rglob("*")) == before  # nothing written


# ------------------------------------------------------------------------------------- CLI


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_json_output_parses(data_dir, capsys):
    code, out, err = run_cli(
        capsys, "audit", "--data", str(data_dir), "--format", "json",
        "SELECT query_id, budget, reference_plan FROM queries ORDER BY query_id",
    )
    assert code == 0 and err == ""
    records = json.loads(out)
    assert [record["query_id"] for record in records] == ["q1", "q2", "q3"]
    assert records[0]["budget"] == 1500.0
    assert records[0]["reference_plan"] == {"cost": 1200, "days": [1, 2, 3]}


def test_cli_csv_output_parses(data_dir, capsys):
    code, out, _ = run_cli(
        capsys, "audit", "--data", str(data_dir), "--format", "csv",
        "SELECT city, state FROM cities ORDER BY city",
    )
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["city", "state"]
    assert rows[1:] == [["Austin", "Texas"], ["Boston", "Massachusetts"], ["Denver", "Colorado"]]


def test_cli_table_output_is_aligned(data_dir, capsys):
    code, out, _ = run_cli(
        capsys, "audit", "--data", str(data_dir),
        "SELECT city, repeat('x', 500) AS long FROM cities ORDER BY city",
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["city", "long"]
    assert lines[-1] == "(3 rows)"
    assert lines[2].startswith("Austin ")
    assert max(len(line) for line in lines) < 100  # the long cell is truncated
    assert "…" in lines[2]


def test_cli_list(data_dir, capsys):
    code, out, _ = run_cli(capsys, "audit", "--list", "--data", str(data_dir))
    assert code == 0
    assert "cities  (3 rows" in out and "queries  (3 rows" in out
    assert "reference_plan" in out
    code, out, _ = run_cli(capsys, "audit", "--list", "--format", "json", "--data", str(data_dir))
    views = {view["view"]: view for view in json.loads(out)}
    assert views["cities"]["columns"] == [
        {"name": "city", "type": "VARCHAR"},
        {"name": "state", "type": "VARCHAR"},
    ]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["audit", "DROP VIEW cities"], "refused: DROP"),
        (["audit", "SELECT * FROM nope"], "SQL error"),
        (["audit"], "no query given"),
        (["audit", "--list", "SELECT 1"], "not both"),
    ],
)
def test_cli_errors_are_one_line_exit_2(data_dir, capsys, argv, fragment):
    code, out, err = run_cli(capsys, *argv, "--data", str(data_dir))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and fragment in err


def test_cli_subprocess_refused_statement(data_dir, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "imagine.cli", "audit", "--data", str(data_dir),
         "SELECT * FROM read_csv('/etc/passwd')"],
        capture_output=True, text=True, cwd=tmp_path, stdin=subprocess.DEVNULL, timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("imagine audit: error: refused: table function read_csv()")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_cli_subprocess_missing_data_and_help(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "imagine.cli", "audit", "--list"],
        capture_output=True, text=True, cwd=tmp_path, stdin=subprocess.DEVNULL, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "imagine audit: error: no data directory 'data': run `dvc repro` (or `dvc pull`) first, "
        "or pass --data"
    )
    result = subprocess.run(
        [sys.executable, "-m", "imagine.cli", "audit", "--help"],
        capture_output=True, text=True, cwd=tmp_path, stdin=subprocess.DEVNULL, timeout=120,
    )
    assert result.returncode == 0 and "read-only" in result.stdout
