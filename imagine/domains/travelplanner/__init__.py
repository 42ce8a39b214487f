"""The TravelPlanner domain: the travel sandbox, certified queries, the 8 + 5 checks, the rules teacher.

| module    | what it holds                                                                        |
|-----------|--------------------------------------------------------------------------------------|
| sandbox/  | the travel world's six tables: the official reader, cleaning, flights, synthetic worlds |
| queries/  | certified query generation: sampling, the feasibility solver, TravelPlanner import    |
| evaluate/ | the 8 commonsense and 5 hard checks (strict / compat), metrics, `imagine eval`, and the  |
|           | one SandboxIndex that the scorers, the solver, the prompts and the teacher all read      |
| plan      | TravelPlanner plan strings: how plans are written                                     |
| prompts   | every prompt of the MAS protocol (the Reasoner's is the student's), reference info    |
| teacher/  | RulesBackend: the deterministic seeded CPU teacher (the `rules` LLM backend)          |
| probes    | reward-hacking probes and the audit stage's probe run                                 |
| checks/   | the Great Expectations suites of the `sandbox` and `queries` datasets                 |
"""
