"""Refuse any SQL that is not one read-only query, using DuckDB's own parser.

This is the first of two locks. The second is the connection itself (see `imagine.audit.connect`):
DuckDB runs with external access disabled and no allowed directory, so even a statement this
module missed cannot read or write a file.
"""

from __future__ import annotations

import functools
import json
import re

import duckdb

from .errors import AuditError

ALLOWED = "SELECT, WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN and PRAGMA table_info"

# Why a statement type is refused, in words a user understands.
_REFUSED = {
    "INSERT": "it writes data",
    "UPDATE": "it writes data",
    "DELETE": "it writes data",
    "MERGE_INTO": "it writes data",
    "CREATE": "it creates an object",
    "CREATE_FUNC": "it creates a function",
    "DROP": "it drops an object",
    "ALTER": "it alters an object",
    "COPY": "it reads or writes files",
    "COPY_DATABASE": "it copies a database",
    "EXPORT": "it writes files",
    "ATTACH": "it attaches a database",
    "DETACH": "it detaches a database",
    "LOAD": "it installs or loads an extension",
    "EXTENSION": "it manages extensions",
    "SET": "it changes a setting",
    "VARIABLE_SET": "it sets a variable",
    "TRANSACTION": "it controls transactions",
    "VACUUM": "it vacuums or analyses storage",
    "PREPARE": "it prepares a statement",
    "EXECUTE": "it executes a prepared statement",
    "MULTI": "it runs several statements; write SELECT ... PIVOT (...) instead",
    "CALL": "it calls a procedure (use SELECT * FROM f(...) instead)",
}

# PRAGMAs that only read (the rest change settings or state).
_READ_ONLY_PRAGMAS = frozenset(
    {
        "table_info",
        "show",
        "show_tables",
        "show_tables_expanded",
        "show_databases",
        "database_list",
        "database_size",
        "storage_info",
        "metadata_info",
        "functions",
        "collations",
        "version",
        "platform",
        "user_agent",
    }
)

# Table functions a read-only query may call: generators and catalog/metadata functions. Anything
# else (read_csv, read_parquet, read_text, read_blob, glob, sniff_csv, query, checkpoint,
# enable_logging, ...) is refused: the datasets are the views, nothing else is read.
_ALLOWED_TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "repeat",
        "repeat_row",
        "json_each",
        "json_tree",
        "summary",
        "histogram",
        "histogram_values",
        "icu_calendar_names",
        "pg_timezone_names",
        "pragma_table_info",
        "pragma_show",
        "pragma_version",
        "pragma_platform",
        "pragma_user_agent",
        "pragma_collations",
        "pragma_database_size",
        "pragma_storage_info",
        "pragma_metadata_info",
    }
)
_ALLOWED_TABLE_FUNCTION_PREFIXES = ("duckdb_",)
_REFUSED_DUCKDB_FUNCTIONS = frozenset({"duckdb_secrets", "duckdb_table_sample"})

# Scalar functions with side effects.
_REFUSED_SCALAR_FUNCTIONS = frozenset({"write_log"})

# A table name that is really a file path or URL (DuckDB's replacement scans: FROM 'x.csv').
_PATH_LIKE = re.compile(r"[/\\:*?]|\.[A-Za-z0-9]+$")

_LEADING_COMMENTS = re.compile(r"^(\s+|--[^\n]*(\n|$)|/\*.*?\*/)*", re.DOTALL)
_EXPLAIN_PREFIX = re.compile(r"^explain\b\s*(analy[sz]e\b\s*)?(\([^()]*\)\s*)?", re.IGNORECASE)
_PRAGMA_NAME = re.compile(r"^pragma\s+([A-Za-z_][A-Za-z0-9_]*)\s*(\(|;|$)", re.IGNORECASE)
_CALL_LIKE = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def check_read_only(sql: str) -> str:
    """Return the one statement in `sql` if it only reads; raise AuditError otherwise."""
    if not isinstance(sql, str) or not sql.strip():
        raise AuditError("empty query: give one SELECT statement")
    statement = _single_statement(sql)
    _check_statement(statement)
    return sql


def _single_statement(sql: str):
    try:
        statements = duckdb.extract_statements(sql)
    except Exception as exc:  # a parser error, or a statement type the client does not know
        raise AuditError(f"cannot parse SQL: {_first_line(exc)}") from None
    if not statements:
        raise AuditError("empty query: give one SELECT statement")
    if len(statements) > 1:
        raise AuditError(
            f"refused: {len(statements)} statements given; the audit runs exactly one statement"
        )
    return statements[0]


def _check_statement(statement, nested: bool = False) -> None:
    try:
        kind = statement.type.name
    except ValueError:  # a statement type newer than the Python client's enum
        kind = "UNKNOWN"
    text = statement.query
    if kind == "SELECT":  # also DESCRIBE, SHOW, SUMMARIZE, FROM-first, VALUES
        _check_select(text)
    elif kind == "EXPLAIN" and not nested:
        _check_explain(text)
    elif kind == "PRAGMA" and not nested:
        _check_pragma(text)
    else:
        why = _REFUSED.get(kind, "it is not a read-only query")
        verb = (_strip_comments(text).split() or [kind])[0].upper()
        raise AuditError(
            f"refused: {verb} statement ({why}); the audit is read-only: use {ALLOWED}"
        )


def _check_explain(text: str) -> None:
    body = _strip_comments(text)
    match = _EXPLAIN_PREFIX.match(body)
    inner = body[match.end() :] if match else ""
    try:
        statements = duckdb.extract_statements(inner) if inner.strip() else []
    except Exception:
        statements = []
    if len(statements) != 1:
        raise AuditError("refused: EXPLAIN must wrap exactly one SELECT statement")
    _check_statement(statements[0], nested=True)


def _check_pragma(text: str) -> None:
    match = _PRAGMA_NAME.match(_strip_comments(text))
    name = match.group(1).lower() if match else "?"
    if name not in _READ_ONLY_PRAGMAS:
        raise AuditError(
            f"refused: PRAGMA {name} (it may change a setting or state); allowed PRAGMAs: "
            + ", ".join(sorted(_READ_ONLY_PRAGMAS))
        )


def _check_select(text: str) -> None:
    tree = _serialize(text)
    if tree is None:
        # DuckDB cannot serialize some SELECT-like statements (e.g. the PIVOT statement):
        # fall back to a conservative scan of every `name(` in the text.
        for name in _CALL_LIKE.findall(text):
            if name.lower() in _all_table_functions():
                _check_table_function(name)
            _check_scalar_function(name)
        return
    for node in _walk(tree):
        node_type = node.get("type")
        if node_type == "TABLE_FUNCTION":
            function = node.get("function") or {}
            _check_table_function(str(function.get("function_name", "")))
        elif node_type in ("BASE_TABLE", "SHOW_REF"):
            name = str(node.get("table_name") or "")
            if _PATH_LIKE.search(name):
                raise AuditError(
                    f"refused: {name!r} reads a file directly; query the views instead "
                    "(list them with `imagine audit --list`)"
                )
        elif node_type == "FUNCTION" and "function_name" in node:
            _check_scalar_function(str(node["function_name"]))


def _check_table_function(name: str) -> None:
    lowered = name.lower()
    allowed = lowered in _ALLOWED_TABLE_FUNCTIONS or (
        lowered.startswith(_ALLOWED_TABLE_FUNCTION_PREFIXES)
        and lowered not in _REFUSED_DUCKDB_FUNCTIONS
    )
    if not allowed:
        raise AuditError(
            f"refused: table function {name}() is not allowed in the audit (it may read files or "
            "change state); query the views instead (list them with `imagine audit --list`)"
        )


def _check_scalar_function(name: str) -> None:
    if name.lower() in _REFUSED_SCALAR_FUNCTIONS:
        raise AuditError(f"refused: function {name}() has side effects")


def _serialize(text: str):
    try:
        raw = _parser().execute("SELECT json_serialize_sql(?::VARCHAR)", [text]).fetchone()[0]
        tree = json.loads(raw)
    except Exception:
        return None
    if not isinstance(tree, dict) or tree.get("error"):
        return None
    return tree


def _walk(value):
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


@functools.lru_cache(maxsize=1)
def _parser() -> duckdb.DuckDBPyConnection:
    """A connection used only to parse: no data, no file access."""
    con = duckdb.connect(":memory:", config=_locked_config())
    lock(con)
    return con


@functools.lru_cache(maxsize=1)
def _all_table_functions() -> frozenset[str]:
    rows = _parser().execute(
        "SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
        "WHERE function_type IN ('table', 'table_macro')"
    ).fetchall()
    return frozenset(row[0] for row in rows)


def _locked_config() -> dict:
    """DuckDB settings under which SQL cannot touch the file system or load code."""
    return {
        "enable_external_access": False,  # no file/URL reads or writes, no ATTACH, no LOAD
        "temp_directory": "",  # otherwise `.tmp/` would be an allowed directory
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "python_enable_replacements": False,  # no scanning of Python variables by name
    }


def lock(con: duckdb.DuckDBPyConnection) -> None:
    """Cut `con` off the local file system, check that it worked, and freeze its settings.

    `enable_external_access = false` alone still lets DuckDB write to the paths of its own database
    (for an in-memory database: a file literally named `:memory:` in the working directory), so the
    local file system is disabled outright; the views never need it (pyarrow reads the files).
    """
    con.execute("SET disabled_filesystems = 'LocalFileSystem'")
    for name, value in {
        "enable_external_access": False,
        "allowed_directories": [],
        "autoload_known_extensions": False,
        "autoinstall_known_extensions": False,
    }.items():
        actual = con.execute("SELECT current_setting(?)", [name]).fetchone()[0]
        if actual != value:
            raise RuntimeError(f"audit lock: DuckDB setting {name} is {actual!r}, not {value!r}")
    try:
        con.execute("SELECT * FROM glob('*')").fetchall()
    except duckdb.PermissionException:
        pass
    else:
        raise RuntimeError("audit lock: DuckDB can still list local files")
    con.execute("SET lock_configuration = true")


def _strip_comments(text: str) -> str:
    return _LEADING_COMMENTS.sub("", text, count=1)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
