"""The `imagine` command.

Each subcommand is one `add_<name>(subparsers)` function that builds its parser and sets
`func=<run function>`; all of them are registered in `COMMANDS`. A run function takes the parsed
arguments and returns an exit code; it raises `CLIError` for a user-facing failure, which `main`
prints as one line on stderr with exit code 2. Each subcommand imports what it needs when it runs
(the audit's DuckDB and pyarrow take half a second), so `imagine eval` starts without them.
"""

from __future__ import annotations

import argparse
import csv
import decimal
import json
import sys
from collections.abc import Callable, Sequence

EXIT_OK = 0
EXIT_ERROR = 2
MAX_CELL = 60  # characters per cell in the table format


class CLIError(Exception):
    """A user-facing failure: printed as one line, exit code 2."""


# --------------------------------------------------------------------------------------- audit


AUDIT_HELP = "Run one read-only SQL query over the pipeline's datasets (DuckDB)."
AUDIT_DESCRIPTION = """\
Run one read-only SQL query (DuckDB dialect) over views of every dataset the pipeline has
written under the data directory: the sandbox tables (cities, flights, distances,
accommodations, restaurants, attractions), queries (all splits, with a `split` column), and later
turns, traces, sft, grpo_prompts and evals. Views whose files do not exist yet are absent.

Only one SELECT / WITH / FROM / VALUES / DESCRIBE / SHOW / SUMMARIZE / EXPLAIN statement or a
read-only PRAGMA (e.g. PRAGMA table_info('cities')) is accepted. Anything that writes or changes
state (INSERT, CREATE, COPY, EXPORT, ATTACH, INSTALL, LOAD, SET, ...) and any direct file access
(read_csv, read_parquet, read_text, glob, 'file.parquet', ...) is refused: query the views."""
AUDIT_EPILOG = """\
examples:
  imagine audit --list
  imagine audit "SELECT split, count(*) AS n FROM queries GROUP BY split ORDER BY split"
  imagine audit "SELECT q.query_id, c.state FROM queries q JOIN cities c ON c.city = q.dest LIMIT 5"
  imagine audit --format csv "SELECT * FROM cities" > cities.csv
  echo "DESCRIBE flights" | imagine audit -
  imagine audit --saved                       # list the saved audit queries
  imagine audit --saved judge_agreement       # run one (imagine/audit/queries/judge_agreement.sql)

exit status: 0 on success, 2 on a refused statement, an SQL error, or missing data."""


def add_audit(subparsers) -> None:
    parser = subparsers.add_parser(
        "audit",
        help=AUDIT_HELP,
        description=AUDIT_DESCRIPTION,
        epilog=AUDIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "sql", nargs="?", help='the query, in quotes; "-" reads it from standard input'
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="list the available views with their row counts, files, and column types",
    )
    parser.add_argument(
        "--saved",
        nargs="?",
        const="",
        metavar="NAME",
        help="run the saved audit query NAME (imagine/audit/queries/NAME.sql); without NAME, list them",
    )
    parser.add_argument(
        "--data", default="data", metavar="DIR", help="the data directory (default: %(default)s)"
    )
    parser.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="output format (default: %(default)s); json is a list of row objects",
    )
    parser.set_defaults(func=run_audit)


def run_audit(args: argparse.Namespace) -> int:
    from imagine.audit import AuditError

    try:
        return _audit(args)
    except AuditError as exc:
        raise CLIError(str(exc)) from exc


def _audit(args: argparse.Namespace) -> int:
    from imagine.audit import list_views, run_sql

    if args.saved is not None:
        return run_saved_audit(args)
    if args.list:
        if args.sql is not None:
            raise CLIError("give either --list or a query, not both")
        print_views(list_views(args.data), args.format)
        return EXIT_OK
    if args.sql is None:
        raise CLIError('no query given: imagine audit "SELECT ..." (or --list to see the views)')
    sql = sys.stdin.read() if args.sql == "-" else args.sql
    columns, rows = run_sql(sql, args.data)
    print_rows(columns, rows, args.format)
    return EXIT_OK


def run_saved_audit(args: argparse.Namespace) -> int:
    from imagine.audit import run_sql
    from imagine.audit.saved import get, saved_queries

    if args.sql is not None or args.list:
        raise CLIError("give either --saved or a query / --list, not both")
    if not args.saved:
        queries = saved_queries()
        rows = [(query.name, query.description) for query in queries]
        if args.format == "table":
            width = max((len(name) for name, _ in rows), default=0)
            for name, description in rows:
                print(f"{name.ljust(width)}  {description}")
        else:
            print_rows(["name", "description"], rows, args.format)
        return EXIT_OK
    columns, rows = run_sql(get(args.saved).sql, args.data)
    print_rows(columns, rows, args.format)
    return EXIT_OK


# ---------------------------------------------------------------------------------------- eval


EVAL_DESCRIPTION = """\
Score a benchmark submission with a domain's checker (--domain; default travelplanner: TravelPlanner's
8 commonsense and 5 hard checks).

QUERIES is TravelPlanner's query JSONL (one query object a line); PLANS its submission JSONL
({"idx", "query", "plan"}, idx 1-based, matched to the idx-th query; a query without a plan line
counts as not delivered); a day's number may be under "days" (the official evaluation code) or
"day" (the leaderboard's format), and the output says which was found. SANDBOX is a sandbox built by
the `sandbox` stage or the official TravelPlanner database folder (its tables are then cached as
Parquet in a hidden .imagine_cache folder inside it, so later runs load in a fraction of the time).
Writes one verdict line per query to --out and prints the metrics (delivery rate, commonsense/hard
micro and macro, final pass rate; overall and per level).

--mode compat gives the official evaluator's verdicts, its known defects included, so numbers
compare with published ones; --mode strict (default) fixes them."""


def add_eval(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval", help="Score TravelPlanner plans (compat or strict mode).", description=EVAL_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  imagine eval --queries data/queries/test.jsonl --plans plans.jsonl "
               "--sandbox data/sandbox --mode compat --out verdicts.jsonl")
    parser.add_argument("--queries", required=True, metavar="Q.jsonl", help="TravelPlanner query JSONL")
    parser.add_argument("--plans", required=True, metavar="P.jsonl", help="submission JSONL")
    parser.add_argument("--sandbox", required=True, metavar="DIR", help="built sandbox or official database folder")
    parser.add_argument("--mode", choices=("compat", "strict"), default="strict", help="default: %(default)s")
    parser.add_argument("--out", required=True, metavar="V.jsonl", help="verdicts, one line per query")
    parser.add_argument("--summary", metavar="S.json", help="also write the metrics as JSON here")
    parser.add_argument("--domain", default="travelplanner", help="the domain whose files these are (default: %(default)s)")
    parser.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from imagine.domain import get_domain
    from imagine.io import write_json

    try:
        domain = get_domain(args.domain)
        summary, notes = domain.evaluate_files(args.queries, args.plans, args.sandbox, args.mode, args.out)
    except ValueError as exc:  # bad input files (named with line and field), an unknown domain
        raise CLIError(str(exc)) from exc
    if args.summary:
        write_json(args.summary, summary)
    rows = [("overall", summary)] + [(level, summary["per_level"][level]) for level in summary["per_level"]]
    keys = ("count", "delivery_rate", *(f"{g}_{k}" for g in domain.groups for k in ("micro", "macro")),
            "final_pass_rate")
    table = [tuple([name] + [round(stats[k], 4) if k != "count" and stats[k] is not None else stats[k] for k in keys])
             for name, stats in rows if stats["count"]]
    print(f"mode: {args.mode}; verdicts written to {args.out}")
    for note in notes:
        print(note)
    print_rows(["level", *keys], table, "table")
    return EXIT_OK


# ------------------------------------------------------------------------------------ registry

# One `add_<name>(subparsers)` per subcommand.
COMMANDS: list[Callable] = [
    add_audit,
    add_eval,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imagine",
        description="IMAGINE (TravelPlanner and other planning domains): tools around the DVC pipeline "
        "(run the pipeline itself with `dvc repro`).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CLIError as exc:
        message = " ".join(str(exc).split())  # always one line
        print(f"imagine {args.command}: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # e.g. `imagine audit ... | head`
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


# -------------------------------------------------------------------------------------- output


def print_rows(columns: list[str], rows: list[tuple], fmt: str, out=None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        from imagine.audit.values import jsonable

        records = [dict(zip(columns, row)) for row in rows]
        out.write(json.dumps(jsonable(records), indent=2, default=str, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_cell(value) for value in row])
    else:
        out.write(format_table(columns, rows))
        out.write(f"({len(rows)} row{'s' if len(rows) != 1 else ''})\n")


def print_views(views, fmt: str, out=None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        payload = [
            {
                "view": view.name,
                "rows": view.rows,
                "files": [str(file) for file in view.files],
                "columns": [{"name": name, "type": kind} for name, kind in view.columns],
            }
            for view in views
        ]
        out.write(json.dumps(payload, indent=2) + "\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["view", "rows", "column", "type"])
        for view in views:
            for name, kind in view.columns:
                writer.writerow([view.name, view.rows, name, kind])
    else:
        for index, view in enumerate(views):
            if index:
                out.write("\n")
            files = ", ".join(str(file) for file in view.files)
            out.write(f"{view.name}  ({view.rows:,} rows; {files})\n")
            width = max((len(name) for name, _ in view.columns), default=0)
            for name, kind in view.columns:
                out.write(f"  {name.ljust(width)}  {_truncate(kind, 100)}\n")


def format_table(columns: list[str], rows: list[tuple], max_cell: int = MAX_CELL) -> str:
    """Aligned text columns: numbers right-aligned, long cells cut with an ellipsis."""
    header = [_truncate(str(name), max_cell) for name in columns]
    body = [[_truncate(_table_cell(value), max_cell) for value in row] for row in rows]
    numeric = [
        bool(rows) and all(isinstance(row[i], (int, float, decimal.Decimal)) or row[i] is None
                           for row in rows)
        for i in range(len(columns))
    ]
    widths = [
        max([len(header[i])] + [len(line[i]) for line in body]) for i in range(len(columns))
    ]

    def render(cells: list[str]) -> str:
        parts = [
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(cells, widths, numeric)
        ]
        return "  ".join(parts).rstrip() + "\n"

    lines = [render(header), render(["-" * width for width in widths])]
    lines.extend(render(line) for line in body)
    return "".join(lines)


def _table_cell(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (dict, list)):
        from imagine.audit.values import jsonable

        text = json.dumps(jsonable(value), default=str, ensure_ascii=False)
    else:
        text = str(value)
    return text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        from imagine.audit.values import jsonable

        return json.dumps(jsonable(value), default=str, ensure_ascii=False)
    return value


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


if __name__ == "__main__":
    sys.exit(main())
