"""The paper's GRPO reward, generalised to any domain's check groups, computed by the shared strict checker.

    reward = format_penalty                           if the output is not <think>...</think> + a JSON answer
           = sum over check groups g of  w_g * passed_g / set_g
             + (reflection_bonus if the think block holds a non-empty reflection else reflection_penalty)

where set_g are the checks of group g the query sets (`checker.applicable`; a group the query sets none of
adds 0) and passed_g those of them the answer passes: a set check the checker did not score counts as
failed. For TravelPlanner the groups are commonsense (all 8 checks) and hard (the constraints the query
has), which is the paper's reward exactly; with the default weights (1, 1, +0.5, -0.5, -1) it lies in
[-1, 2.5]. It is split into components, one TRL reward function each (signature
`f(prompts, completions, **columns)`): format, one per group, reflection; TRL logs every component and
their sum is the reward. An empty reflection gets the penalty: writing the REFLECTION line alone must not pay.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from imagine.answer import parse_output

FIXED = ("reflection_bonus", "reflection_penalty", "format_penalty")


@dataclass(frozen=True)
class RewardWeights:
    groups: dict[str, float] = field(default_factory=dict)  # check group -> weight
    reflection_bonus: float = 0.5
    reflection_penalty: float = -0.5
    format_penalty: float = -1.0

    def __post_init__(self):
        if any(w < 0 for w in self.groups.values()):
            raise ValueError(f"check-group weights must be >= 0, got {self.groups}")
        if self.format_penalty > min(self.reflection_bonus, self.reflection_penalty):
            raise ValueError("format_penalty must not exceed the lowest reward of a well-formed output")

    @classmethod
    def from_params(cls, params: dict | None, groups: Iterable[str]) -> RewardWeights:
        """`grpo.reward`: the three fixed keys, plus one weight per check group of the domain (default 1)."""
        params, groups = dict(params or {}), list(groups)
        unknown = sorted(set(params) - set(FIXED) - set(groups))
        if unknown:
            raise ValueError(f"grpo.reward: unknown key(s) {unknown}; known: {[*groups, *FIXED]} "
                             "(one weight per check group of the domain, and the three fixed terms)")
        return cls({g: float(params.pop(g, 1.0)) for g in groups}, **{k: float(v) for k, v in params.items()})

    @property
    def bounds(self) -> tuple[float, float]:
        """The documented range: a format failure at the bottom, a passing reflected answer at the top."""
        return self.format_penalty, sum(self.groups.values()) + max(self.reflection_bonus, self.reflection_penalty)


@dataclass(frozen=True)
class RewardParts:
    format: float
    groups: dict[str, float]
    reflection: float

    def __getattr__(self, name: str) -> float:  # parts.commonsense: a group's component
        groups = self.__dict__.get("groups", {})
        if name in groups:
            return groups[name]
        raise AttributeError(name)

    @property
    def total(self) -> float:
        return self.format + sum(self.groups.values()) + self.reflection


def _text(completion) -> str:
    """A completion as TRL passes it: plain text, or a conversational list of messages."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return completion if isinstance(completion, str) else ""


class Reward:
    """Scores completions once and serves the components from a small memo. `checker` is a domain's
    strict checker (`score(record, answer)`, `applicable(record)`, `groups`, `mode`)."""

    def __init__(self, checker, weights: RewardWeights | None = None, memo_size: int = 4096):
        if checker.mode != "strict":
            raise ValueError("the reward must use the strict scorer, or the policy learns the official exploits")
        self.checker = checker
        self.weights = weights or RewardWeights.from_params(None, checker.groups)
        missing = set(checker.groups) - set(self.weights.groups)
        if missing:
            raise ValueError(f"reward weights lack the check group(s) {sorted(missing)}")
        self.components = ("format", *checker.groups, "reflection")
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
            parts = RewardParts(w.format_penalty, dict.fromkeys(self.checker.groups, 0.0), 0.0)
        else:
            record = json.loads(query_json)
            verdict = self.checker.score(record, parsed.plan)
            groups = {}
            for group, checks in self.checker.applicable(record).items():
                values = verdict.groups[group]
                passed = sum(values.get(c) is True for c in checks) / len(checks) if checks else 0.0
                groups[group] = w.groups[group] * passed
            reflected = bool(parsed.reflection and parsed.reflection.strip())
            parts = RewardParts(0.0, groups, w.reflection_bonus if reflected else w.reflection_penalty)
        self._memo[key] = parts
        if len(self._memo) > self._memo_size:
            self._memo.popitem(last=False)
        return parts

    def __call__(self, prompts, completions, query_json, **columns) -> list[float]:
        """The whole reward (TRL signature)."""
        return [self.parts(q, c).total for q, c in zip(query_json, completions)]

    def component(self, parts: RewardParts, name: str) -> float:
        return parts.groups[name] if name in parts.groups else getattr(parts, name)

    def functions(self) -> list:
        """One TRL reward function per component, named `reward_<component>`; they sum to the reward."""
        def make(name):
            def reward(prompts, completions, query_json, **columns) -> list[float]:
                return [self.component(self.parts(q, c), name) for q, c in zip(query_json, completions)]
            reward.__name__ = f"reward_{name}"
            return reward
        return [make(name) for name in self.components]
