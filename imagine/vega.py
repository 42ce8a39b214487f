"""Vega offline: charts that render with no network.

`dvc plots show` / `dvc plots diff` write HTML whose `{scripts}` placeholder pulls Vega, Vega-Lite and
Vega-Embed from a CDN, so the page stays blank offline. `plots_template()` is a DVC HTML template
with those libraries inlined (the bundle comes from `vl-convert-python`, which ships them) and no
`{scripts}` placeholder, so nothing is fetched; `.dvc/config` points `plots.html_template` at it.
`to_svg(spec)` renders one Vega-Lite spec to SVG text, for pages that embed charts as images.
"""

from __future__ import annotations

TEMPLATE = """<!DOCTYPE html>
<html>
<head>
{refresh_tag}
<meta charset="utf-8">
<title>imagine: DVC plots</title>
<script>
BUNDLE
</script>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; }
table { border-spacing: 15px; }
</style>
</head>
<body>
{plot_divs}
</body>
</html>
"""


def plots_template() -> str:
    """The HTML template for DVC with Vega, Vega-Lite and Vega-Embed inlined (about 1 MB)."""
    import vl_convert

    bundle = vl_convert.javascript_bundle()  # defines window.vegaEmbed, vegaLite and vega
    if "{plot_divs}" in bundle or "{scripts}" in bundle:
        raise ValueError("the Vega bundle contains a DVC placeholder; DVC would substitute into it")
    return TEMPLATE.replace("BUNDLE", bundle.replace("</script", "<\\/script"))


def to_svg(spec: dict) -> str:
    """One Vega-Lite spec as SVG text (rendered in-process, no network)."""
    import vl_convert

    return vl_convert.vegalite_to_svg(spec)
