"""DVC stage `report`: reports/report.html (one self-contained page, charts as inline SVG, opens
offline) and reports/report.md (the same tables for a terminal or a forge).

Reads the metrics every stage wrote under reports/, the dvclive training curves, the lazy
reflections in data/traces/traces.parquet, the answers in data/eval/evals.parquet (a few queries shown
side by side, student and teacher), params.yaml and the git revision (see imagine.report).
"""

from __future__ import annotations

import sys
import time

from imagine.io import atomic_path
from imagine.domain import domain_of
from imagine.stage import Stage

stage = Stage("report", __doc__, domain=domain_of)
stage.arg("--root", default=".", help="project folder to report on (default: %(default)s)")
stage.arg("--html", default="reports/report.html", help="HTML page to write (default: %(default)s)")
stage.arg("--markdown", default="reports/report.md", help="Markdown to write (default: %(default)s)")


def run(args, params, domain) -> int:
    from imagine.report import charts, collect, render_html, render_markdown
    from imagine.vega import to_svg

    started = time.perf_counter()
    data = collect(args.root, domain)
    svgs = {name: to_svg(spec) for name, spec in charts(data).items()}
    with atomic_path(args.html) as tmp:
        tmp.write_text(render_html(data, svgs), encoding="utf-8")
    with atomic_path(args.markdown) as tmp:
        tmp.write_text(render_markdown(data), encoding="utf-8")
    print(f"report: wrote {args.html} ({len(svgs)} charts) and {args.markdown}; {time.perf_counter() - started:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    return stage.run(run, argv)


if __name__ == "__main__":
    sys.exit(main())
