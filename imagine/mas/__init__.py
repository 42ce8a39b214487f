"""The multi-agent teacher: Reasoner / Judges / Reflector protocol (prompts and the `rules` teacher in the domain).

- `imagine.domains.travelplanner.prompts`: every prompt; `reasoner_messages` is also the student's
  prompt; `reference_info` (re-exported here with `Caps`).
- `imagine.domains.travelplanner.rules`: `RulesBackend`, the deterministic seeded CPU teacher (a
  `Backend` like any LLM).
- `parsing`: judge verdicts and reflector answers, read the same way for every backend.
- `protocol`: round-by-round batching through the call cache; turns, traces and metrics.
- `schema`: the columns of the `turns` and `traces` tables.
"""

from imagine.domains.travelplanner.prompts import Caps, reasoner_messages, reference_info  # noqa: F401
from imagine.mas.parsing import parse_reflection, parse_verdict  # noqa: F401
from imagine.mas.schema import TRACES, TURNS  # noqa: F401
