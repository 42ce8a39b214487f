"""The declared schema of the trip domain's own params: `sandbox` (the world generator), `queries` and the
`rules` teacher's keys (traces.roles.*), checked by `imagine.params` like every other section."""

from __future__ import annotations

from imagine.domains.trip.mistakes import MISTAKES
from imagine.domains.trip.schema import LEVELS, SPLITS
from imagine.params import PATH, RATE, SEED, Int, Map, Num, Range, Section, Str

SANDBOX = Section({"n_cities": Int(3), "density": Num(0, 1), "seed": SEED})

QUERIES = Section({
    "seed": SEED,
    "sandbox": PATH,
    "counts": Map(Str(SPLITS), Int(0)),
    "levels": Map(Str(LEVELS), Section({"weight": Num(0), "cities": Range(Int(3, 10)), "events": Range(Int(0))})),
    "stay": Range(Int(1)),
    "solution_cap": Int(1),
    "max_attempts": Int(1),
})

RULES = {"seed": SEED, "mistakes": Map(Str(MISTAKES), RATE), "miss_rate": RATE, "false_alarm_rate": RATE,
         "format_error_rate": RATE, "fix_failure_rate": RATE, "latency_ms": Num(0)}
