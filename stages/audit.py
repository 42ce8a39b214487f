"""DVC stage `audit`: run every saved audit query (imagine/audit/queries/*.sql) over the datasets.

Each query runs read-only through `imagine.audit.run_sql` (the same views as `imagine audit`).
Writes reports/audit.json (DVC metrics: each query's numbers nested by query name, e.g.
`judge_agreement.kappa`, `flag_rate_by_level.easy.flag_rate`) and reports/audit_tables.json (every
query's result table, with its description), plus a `probes` entry (imagine.domains.travelplanner.probes.audit_probes: reward-hacking
probes on a few reference plans, scored by the strict reward). A query that fails stops the stage: exit 1, nothing
written.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data", help="data directory (default: %(default)s)")
    parser.add_argument("--metrics", default="reports/audit.json", help="metrics JSON (default: %(default)s)")
    parser.add_argument("--tables", default="reports/audit_tables.json",
                        help="result tables JSON (default: %(default)s)")
    args = parser.parse_args(argv)

    from imagine.audit import AuditError
    from imagine.audit.saved import run_all
    from imagine.io import write_json

    started = time.perf_counter()
    try:
        results = run_all(args.data)
        from imagine.domains.travelplanner.probes import audit_probes  # reward-hacking probes on a few reference plans
        results["metrics"]["probes"] = audit_probes(args.data)
    except (AuditError, OSError, ValueError) as exc:
        print(f"audit: {exc}", file=sys.stderr)
        print("audit: nothing written", file=sys.stderr)
        return 1
    write_json(args.tables, results["tables"])
    write_json(args.metrics, results["metrics"])
    print(f"audit: ran {len(results['tables'])} saved queries; wrote {args.metrics} and {args.tables}; "
          f"{time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
