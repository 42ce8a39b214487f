"""`rules`: the deterministic, seeded CPU teacher behind the same `generate()` as every LLM backend.

It reads each request's structured `context` (`role`: reasoner / judge / reflector, the TravelPlanner
`query`, the certified `reference_plan`, and for judges and the reflector the `reasoner_output`) and
writes TEXT in exactly the formats an LLM must produce:

- Reasoner: `<think>step-by-step reasoning</think>` + the JSON plan. The reasoning walks the route and
  transport choice with prices, each hotel against the house rule / room type / minimum nights (with
  a rejected cheaper option when there is one), the meals against the cuisines and repeats, the
  attractions, and a running cost tally. Starting from the certified reference plan it injects
  realistic mistakes, each kind with its own rate (`mistakes`), and the reasoning "believes" them
  (a misread price, a hotel whose rules it never checked, a restaurant it liked "again", ...).
- Judge: exactly `Errors exist.` or `No errors.`. The truth comes from the strict scorer; a judge
  misses a real error with `miss_rate`, raises a false alarm with `false_alarm_rate`, and answers
  off-format with `format_error_rate` (parsed leniently, or unparseable).
- Reflector: names each failing check with the scorer's reason, lists the corrections (field by
  field, against the reference plan) and gives the corrected plan after `Corrected plan:`. With
  `fix_failure_rate` it misses an error (one wrong day left unfixed, one error not named); with
  `format_error_rate` it forgets the plan block.

Randomness: every call draws from its own RNG seeded by sha256(seed, sampling seed, query id, role),
so outputs are deterministic per call and independent of batch order. The model name carries a
digest of the configuration (rates included), so the content-hash cache never serves an output of
a differently configured teacher. Tokens are counted as whitespace-separated words.

| module     | what it holds                                                                          |
|------------|----------------------------------------------------------------------------------------|
| backend    | RulesBackend: construction, the certified target plan, the Reasoner's role             |
| common     | helpers every role shares: money formatting, entity rows, the route and the stays      |
| mistakes   | the mistake kinds, their rates and checks, the reasoner's beliefs, the injectors       |
| narration  | the Reasoner's `<think>` text: route, transport, hotels, meals, attractions, total     |
| judge      | the judges: the strict truth and the noisy verdict                                     |
| reflector  | the Reflector: named failing checks, field-by-field corrections, the corrected plan    |
"""

from imagine.domains.travelplanner.teacher.backend import RulesBackend
from imagine.domains.travelplanner.teacher.mistakes import DEFAULT_MISTAKES, INTENDED_CHECK, MISTAKES
from imagine.mas.scripted import words

__all__ = ["DEFAULT_MISTAKES", "INTENDED_CHECK", "MISTAKES", "RulesBackend", "words"]
