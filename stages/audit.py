"""DVC stage `audit`: run every saved audit query (imagine/audit/queries/*.sql and the domain's) over the datasets.

Each query runs read-only through `imagine.audit.run_sql` (the same views as `imagine audit`).
Writes reports/audit.json (DVC metrics: each query's numbers nested by query name, e.g.
`judge_agreement.kappa`, `flag_rate_by_level.easy.flag_rate`) and reports/audit_tables.json (every
query's result table, with its description), plus a `probes` entry (the domain's reward-hacking probes
on a few certified queries, scored by the strict reward). A query that fails stops the stage: exit 1, nothing
written.
"""

from __future__ import annotations

import sys
import time

from imagine.domain import domain_of
from imagine.stage import Stage

stage = Stage("audit", __doc__, domain=domain_of)
stage.arg("--data", default="data", help="data directory (default: %(default)s)")
stage.arg("--metrics", default="reports/audit.json", help="metrics JSON (default: %(default)s)")
stage.arg("--tables", default="reports/audit_tables.json", help="result tables JSON (default: %(default)s)")


def run(args, params, domain) -> int:
    from imagine.audit.saved import query_dirs, run_all
    from imagine.io import write_json

    started = time.perf_counter()
    results = run_all(args.data, *query_dirs(domain))
    results["metrics"]["probes"] = domain.audit_probes(args.data)  # reward-hacking probes on certified queries
    write_json(args.tables, results["tables"])
    write_json(args.metrics, results["metrics"])
    print(f"audit: ran {len(results['tables'])} saved queries; wrote {args.metrics} and {args.tables}; "
          f"{time.perf_counter() - started:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    return stage.run(run, argv)


if __name__ == "__main__":
    sys.exit(main())
