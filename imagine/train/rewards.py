"""The paper's GRPO reward, computed by the shared strict scorer, as TRL reward functions.

    reward = format_penalty                          if the output is not <think>...</think> + a JSON plan
           = w_c * commonsense_passed / 8
             + w_h * hard_passed / hard_applicable
             + (reflection_bonus if the think block holds a non-empty reflection else reflection_penalty)

With the default weights (1, 1, +0.5, -0.5, -1) the reward lies in [-1, 2.5]. It is split into
four components, one TRL reward function each (signature `f(prompts, completions, **columns)`), so
TRL logs every component separately; their sum is the reward. A hard check the scorer does not
score (the plan is incomplete or leaves the sandbox) counts as failed. An empty reflection gets
the penalty, not the bonus: writing the REFLECTION line alone must not pay.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass

from imagine.answer import parse_output
from imagine.domains.travelplanner.evaluate import COMMONSENSE_CHECKS, Scorer, applicable_hard, normalize_query


@dataclass(frozen=True)
class RewardWeights:
    commonsense: float = 1.0
    hard: float = 1.0
    reflection_bonus: float = 0.5
    reflection_penalty: float = -0.5
    format_penalty: float = -1.0

    def __post_init__(self):
        if self.commonsense < 0 or self.hard < 0:
            raise ValueError("commonsense and hard weights must be >= 0")
        if self.format_penalty > min(self.reflection_bonus, self.reflection_penalty):
            raise ValueError("format_penalty must not exceed the lowest reward of a well-formed output")

    @property
    def bounds(self) -> tuple[float, float]:
        """The documented range: a format failure at the bottom, a passing reflected plan at the top."""
        return self.format_penalty, self.commonsense + self.hard + max(self.reflection_bonus, self.reflection_penalty)


@dataclass(frozen=True)
class RewardParts:
    format: float
    commonsense: float
    hard: float
    reflection: float

    @property
    def total(self) -> float:
        return self.format + self.commonsense + self.hard + self.reflection


def _text(completion) -> str:
    """A completion as TRL passes it: plain text, or a conversational list of messages."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return completion if isinstance(completion, str) else ""


class Reward:
    """Scores completions once and serves the four components from a small memo."""

    COMPONENTS = ("format", "commonsense", "hard", "reflection")

    def __init__(self, scorer: Scorer, weights: RewardWeights = RewardWeights(), memo_size: int = 4096):
        if scorer.mode != "strict":
            raise ValueError("the reward must use the strict scorer, or the policy learns the official exploits")
        self.scorer = scorer
        self.weights = weights
        self._memo: OrderedDict[tuple[str, str], RewardParts] = OrderedDict()
        self._memo_size = memo_size

    def parts(self, query_json: str, completion) -> RewardParts:
        text = _text(completion)
        key = (query_json, text)
        if key in self._memo:
            return self._memo[key]
        w = self.weights
        parsed = parse_output(text)
        if not parsed.ok:
            parts = RewardParts(w.format_penalty, 0.0, 0.0, 0.0)
        else:
            query = normalize_query(json.loads(query_json))
            verdict = self.scorer.score(query, parsed.plan)
            commonsense = sum(verdict.commonsense[c] is True for c in COMMONSENSE_CHECKS) / len(COMMONSENSE_CHECKS)
            applicable = applicable_hard(query)
            hard = sum(verdict.hard.get(c) is True for c in applicable) / len(applicable) if applicable else 0.0
            reflected = bool(parsed.reflection and parsed.reflection.strip())
            parts = RewardParts(0.0, w.commonsense * commonsense, w.hard * hard,
                                w.reflection_bonus if reflected else w.reflection_penalty)
        self._memo[key] = parts
        if len(self._memo) > self._memo_size:
            self._memo.popitem(last=False)
        return parts

    def __call__(self, prompts, completions, query_json, **columns) -> list[float]:
        """The whole reward (TRL signature)."""
        return [self.parts(q, c).total for q, c in zip(query_json, completions)]

    def functions(self) -> list:
        """One TRL reward function per component, named `reward_<component>`; they sum to the reward."""
        def component(name):
            def reward(prompts, completions, query_json, **columns) -> list[float]:
                return [getattr(self.parts(q, c), name) for q, c in zip(query_json, completions)]
            reward.__name__ = f"reward_{name}"
            return reward
        return [component(name) for name in self.COMPONENTS]
