"""The multi-agent teacher's protocol, the same for every domain (each domain supplies its prompts and its
scripted `rules` teacher: `imagine.domain.Domain.prompts` / `.teacher`).

- `parsing`: judge verdicts and reflector answers, read the same way for every backend.
- `protocol`: round-by-round batching through the call cache; turns, traces and metrics.
- `schema`: the columns of the `turns` and `traces` tables.
"""

from imagine.mas.parsing import parse_reflection, parse_verdict  # noqa: F401
from imagine.mas.schema import TURNS, traces_schema  # noqa: F401
