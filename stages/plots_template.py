"""DVC stage `plots_template`: the offline HTML template for `dvc plots show` and `dvc plots diff`.

Writes reports/plots_template.html: DVC's plot page with Vega, Vega-Lite and Vega-Embed inlined
(from vl-convert-python), so the plots render with no network. `.dvc/config` names it as
`plots.html_template`, so plain `dvc plots show` uses it.
"""

from __future__ import annotations

import sys

from imagine.io import atomic_path
from imagine.stage import Stage

stage = Stage("plots_template", __doc__)
stage.arg("--out", default="reports/plots_template.html", help="template to write (default: %(default)s)")


def run(args, params, domain) -> int:
    from imagine.vega import plots_template

    html = plots_template()
    with atomic_path(args.out) as tmp:
        tmp.write_text(html, encoding="utf-8")
    print(f"plots_template: wrote {args.out} ({len(html) / 1e6:.1f} MB, Vega inlined)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return stage.run(run, argv)


if __name__ == "__main__":
    sys.exit(main())
