"""A checker's verdict on one answer, in any domain: named checks in named groups.

Every domain's checker returns one of these (TravelPlanner: the 8 commonsense and 5 hard checks; the
trip domain: its constraint kinds). A check is True (passed), False (failed) or None (does not apply
to this query, or was not scored; `reasons` says which). The generic metrics, reward and reports read
only this shape: per group micro (passed / scored) and macro (answers passing every scored check of
the group), and the final pass (delivered, and no check failed).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Verdict:
    groups: dict[str, dict[str, bool | None]]
    delivered: bool
    reasons: dict[str, str] = field(default_factory=dict)  # check -> why it failed or was not scored
    error: str | None = None  # the answer could not be read at all

    @property
    def final_pass(self) -> bool:
        return self.delivered and all(v is not False for checks in self.groups.values() for v in checks.values())

    def passed(self, group: str) -> int:
        return sum(v is True for v in self.groups[group].values())

    def scored(self, group: str) -> int:
        return sum(v is not None for v in self.groups[group].values())

    def to_dict(self) -> dict:
        out = {"groups": self.groups, "final_pass": self.final_pass, "delivered": self.delivered,
               "reasons": self.reasons}
        if self.error:
            out["error"] = self.error
        return out
