"""Model answers, in any domain: `<think>reasoning REFLECTION(...): reflection closing-line</think>` + JSON.

`format_answer` writes the distilled assistant turn (the IMAGINE layout: the Reasoner's reasoning, the
REFLECTION block with the Reflector's correction or "No errors.", the closing line, then the final
answer as JSON, each text value after a space); `parse_output` reads a model's answer back into those
parts and keeps failures as data (`answer is None` + the reason), never raising.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

THINK_OPEN = "<think>"  # every answer opens with it: parse_output rejects text before it
THINK_CLOSE = "</think>"  # the plan follows it
REFLECTION_HEADER = "REFLECTION(Now, I need to reflect on whether there are any errors in my reasoning above):"
CLOSING_LINE = "The reflection is over, now IMMEDIATELY output the final answer!"


def format_answer(reasoning: str, reflection: str | None, plan: list) -> str:
    """The distilled assistant turn (DESIGN section 1): think block with the reasoning, the
    REFLECTION block (the reflector's correction, or "No errors."), the closing line, then the plan,
    its string values written after a space (`_spaced`)."""
    plan_json = json.dumps(_map_strings(plan, _spaced), ensure_ascii=False)
    return (f"{THINK_OPEN}\n{reasoning.strip()}\n{REFLECTION_HEADER}\n{(reflection or 'No errors.').strip()}\n"
            f"{CLOSING_LINE}\n{THINK_CLOSE}\n{plan_json}")


# An item of a ';'-separated list inside a value (TravelPlanner's "A, City;B, City;") that starts
# with a word: the list is written with a space after each ';', as the first item gets one.
_LIST_ITEM = re.compile(r";(?=[^\W_])")
_SPACED_ITEM = re.compile(r"; (?=[^\W_])")


def _spaced(text: str) -> str:
    """A string that starts with a word, with a space in front: `" Punjabi Chaap Corner, Lubbock"`,
    but `"-"` (no word to copy); likewise each later item of a ';'-separated list in it.

    Why: a byte-level BPE (SmolLM2's) cuts a word after a quote differently from the same word after
    a space (`"|P|un|j|abi` against ` Punj|abi`), and after a ';' too. Names in the prompt and the
    reasoning follow spaces, so a plan written this way repeats the tokens the model read instead of
    spelling them anew (a second attraction after a bare ';' came out misspelt: "Boonnet House"), and
    is shorter. `parse_output` removes the spaces again (`unspaced`)."""
    text = _LIST_ITEM.sub("; ", text)
    return " " + text if text[:1].isalnum() else text


def unspaced(value):
    """`_spaced` undone: leading spaces removed from every string of a parsed JSON value, and the one
    after each ';' of a list."""
    return _map_strings(value, lambda text: _SPACED_ITEM.sub(";", text.lstrip(" ")))


def _map_strings(value, fn):
    """A JSON value with `fn` applied to every string in it (list items and dict values, not keys)."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    return value


_THINK = re.compile(re.escape(THINK_OPEN) + "(.*?)" + re.escape(THINK_CLOSE), re.DOTALL)
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)
_REFLECTION = re.compile(r"REFLECTION\s*\(.*?\)\s*:?", re.DOTALL)


@dataclass
class ParsedOutput:
    """A model answer split into its parts. `plan is None` means a format failure; `error` says why."""

    raw: str
    reasoning: str | None = None
    reflection: str | None = None
    plan: list | None = None
    error: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.plan is not None


def _json_plan(text: str) -> tuple[list | None, str | None]:
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    if not text:
        return None, "no plan after </think>"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        # Tolerate prose around the JSON: take the outermost [...] span.
        start, end = text.find("["), text.rfind("]")
        if start == -1 or end <= start:
            return None, f"plan is not JSON ({exc.msg} at char {exc.pos})"
        try:
            value = json.loads(text[start:end + 1])
        except json.JSONDecodeError as inner:
            return None, f"plan is not JSON ({inner.msg} at char {start + inner.pos})"
    if isinstance(value, dict) and isinstance(value.get("plan"), list):
        value = value["plan"]
    if not isinstance(value, list):
        return None, f"plan must be a JSON list of days, got {type(value).__name__}"
    return unspaced(value), None


def parse_output(text) -> ParsedOutput:
    """Split `<think>reasoning [REFLECTION...] </think> plan-json` into parts; never raises."""
    if not isinstance(text, str):
        return ParsedOutput(raw=repr(text), error=f"output is {type(text).__name__}, not text")
    out = ParsedOutput(raw=text)
    think = _THINK.search(text)
    if think is None:
        out.error = "missing <think>...</think> block"
        return out
    if text[:think.start()].strip():
        out.error = "text before <think>"
        return out
    body = think.group(1)
    marker = _REFLECTION.search(body)
    if marker:
        out.reasoning = body[:marker.start()].strip()
        reflection = body[marker.end():]
        closing = reflection.find(CLOSING_LINE)
        out.reflection = (reflection[:closing] if closing != -1 else reflection).strip()
    else:
        out.reasoning = body.strip()
    out.plan, out.error = _json_plan(text[think.end():])
    return out
