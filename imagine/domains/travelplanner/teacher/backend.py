"""RulesBackend: the `rules` teacher assembled from its roles' mixins, its construction and the Reasoner.

The mixins come before ScriptedTeacher so that their `_judge` / `_reflect` override its stubs.
"""

from __future__ import annotations

import copy
import json

from imagine.domains.travelplanner.evaluate import Scorer, normalize_query
from imagine.domains.travelplanner.evaluate.index import SandboxIndex
from imagine.domains.travelplanner.prompts import plan_of
from imagine.domains.travelplanner.teacher.judge import Judge
from imagine.domains.travelplanner.teacher.mistakes import DEFAULT_MISTAKES, MISTAKES, Mistakes, _Beliefs
from imagine.domains.travelplanner.teacher.narration import Narration
from imagine.domains.travelplanner.teacher.reflector import Reflector
from imagine.llm.base import Sampling
from imagine.mas.scripted import ScriptedTeacher


class RulesBackend(Mistakes, Narration, Judge, Reflector, ScriptedTeacher):
    SHARED = ("sandbox",)
    known_mistakes = MISTAKES
    default_mistakes = DEFAULT_MISTAKES
    # 2: hotels fenced by " | " after the rejected option; meals name only requested cuisines.
    # 3: each day's meals and attractions on one line in the plan's field order, attractions joined
    #    by "; " as in the reference list (names hold commas), each meal numbered by its restaurant's
    #    place in the prompt's list.
    version = 3

    def __init__(self, model: str = "rules-teacher-v1", seed: int = 0, sandbox=None, mistakes: dict | None = None,
                 miss_rate: float = 0.3, false_alarm_rate: float = 0.1, format_error_rate: float = 0.03,
                 fix_failure_rate: float = 0.15, latency_ms: float = 0.0):
        if sandbox is None:
            raise ValueError("the rules backend needs the sandbox (build_backend(spec, sandbox=...))")
        super().__init__(model, seed, mistakes, miss_rate, false_alarm_rate, format_error_rate, fix_failure_rate,
                         latency_ms)
        # Given a Sandbox rather than its index, the teacher also solves a query that has no reference plan.
        self._solves = not isinstance(sandbox, SandboxIndex)
        self.index = sandbox if isinstance(sandbox, SandboxIndex) else SandboxIndex(sandbox)
        self.scorer = Scorer(self.index, "strict")
        self._solver = None

    # -- helpers --------------------------------------------------------------------------------
    def _target(self, context: dict, q: dict) -> list | None:
        """The certified plan for the query: the reference plan, else the solver's (needs a Sandbox)."""
        plan = plan_of(context.get("reference_plan"))
        if plan is None and self._solves:
            from imagine.domains.travelplanner.queries import SolverIndex, solve
            if self._solver is None:
                self._solver = SolverIndex(self.index)
            plan = solve(self._solver, q).plan
        return copy.deepcopy(plan) if plan else None

    # -- Reasoner -------------------------------------------------------------------------------
    def _reason(self, context: dict, sampling: Sampling) -> tuple[str, list[str]]:
        q = normalize_query(context["query"])
        q["query_id"] = context["query"].get("query_id")
        rng = self._rng(sampling, q, "reasoner")
        plan = self._target(context, q)
        if plan is None:
            text = ("<think>\nI could not build a plan: no combination of transport, hotels and restaurants in the "
                    "reference information satisfies the request.\n</think>\n[]")
            return text, []
        beliefs = _Beliefs()
        injected = []
        for kind in MISTAKES:
            if kind == "malformed_json":
                continue
            if rng.random() < self.mistakes[kind]:
                if getattr(self, f"_inject_{kind}")(q, plan, beliefs, rng):
                    injected.append(kind)
        body = json.dumps(plan, ensure_ascii=False)
        if rng.random() < self.mistakes["malformed_json"]:
            injected.append("malformed_json")
            body = body[: max(len(body) * 2 // 3, 1)]  # the answer stops mid-plan
        prompt = "\n".join(m["content"] for m in context.get("messages", ()) if m["role"] == "user")
        return f"<think>\n{self._narrate(q, plan, beliefs, prompt)}\n</think>\n{body}", injected
