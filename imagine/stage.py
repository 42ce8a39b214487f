"""The one skeleton every DVC stage script shares.

    stage = Stage("filter", __doc__, sections=["filter", "traces"], domain=domain_of)
    stage.arg("--out", default="data/filtered", help="...")

    def run(args, params, domain): ...   # the work

    def main(argv=None):
        return stage.run(run, argv)

`run` parses the command line (`--help` prints the script's docstring), loads params.yaml (`--params`)
and checks the named sections (and the `configs` dataclasses' sections) before any work (one line
naming a bad key), picks the domain it names
(`domain=imagine.domain.domain_of`; a stage without one gets None and loads no domain code), and calls
the body. A user-facing failure (bad input, bad config, a failed expectation: ValueError,
TypeError, OSError and `imagine.errors.UserError`) prints `<stage>: <Type>: <reason>` and `<stage>: nothing
written` and exits 1, so no traceback and no half-written output: bodies write through
`imagine.io.atomic_path` only after everything succeeded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from imagine.errors import UserError

# The failures a stage reports in one line (anything else is a bug and keeps its traceback).
USER_ERRORS = (ValueError, TypeError, OSError, UserError)


class Stage:
    def __init__(self, name: str, doc: str | None, sections: list[str] = (), *, domain=None,
                 configs: dict | None = None):
        self.name = name
        self.sections = list(sections)
        self.configs = dict(configs or {})  # section -> its config dataclass (SFTParams, ...), checked up front
        self.domain_of = domain  # imagine.domain.domain_of, or None: the body gets None (no domain code loaded)
        self.parser = argparse.ArgumentParser(prog=f"stages/{name}.py", description=doc,
                                              formatter_class=argparse.RawDescriptionHelpFormatter)
        self.parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")

    def arg(self, *names, **options) -> None:
        self.parser.add_argument(*names, **options)

    def fail(self, exc: BaseException) -> int:
        print(f"{self.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        print(f"{self.name}: nothing written", file=sys.stderr)
        return 1

    def run(self, body: Callable, argv: list[str] | None = None) -> int:
        args = self.parser.parse_args(argv)
        from imagine.params import params_or_exit

        params = params_or_exit(args.params, self.sections, self.name, self.domain_of)
        from imagine.params import ParamsError, from_section

        try:
            for section, cls in self.configs.items():
                from_section(cls, params.get(section), section, args.params)
        except ParamsError as exc:
            return self.fail(exc)
        try:
            return body(args, params, self.domain_of(params) if self.domain_of else None) or 0
        except USER_ERRORS as exc:
            return self.fail(exc)
