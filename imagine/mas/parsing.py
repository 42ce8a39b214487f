"""Reading the Judges' and the Reflector's answers, the same way for every backend.

- `parse_verdict(text)`: exactly `Errors exist.` / `No errors.` first; then leniently (case,
  punctuation, markdown, a leading <think> block, phrasings like "there are errors" or "the plan has
  no errors"); anything still unclear is `unparseable`, which the protocol counts as a flag.
- `parse_reflection(text)`: the error analysis is the text before `Corrected plan:`, the corrected
  answer is the JSON list after it (fenced or bare). Without the marker, the last JSON list in the text is taken;
  without any plan, `plan is None` and `error` says why (the protocol then keeps the reasoner plan).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

# The protocol's fixed phrases, the same in every domain: a Judge answers exactly one of the first two;
# the Reflector opens with the fourth when it finds nothing, and puts its corrected answer after the third.
JUDGE_ERRORS = "Errors exist."
JUDGE_OK = "No errors."
CORRECTED_PLAN = "Corrected plan:"
REFLECTOR_OK = "Errors found: none."


def reflector_format(error_detail: str, plan: str) -> str:
    """The Reflector's answer format that `parse_reflection` reads: the errors (each naming
    `error_detail`), the corrections, then the whole corrected `plan` as JSON after CORRECTED_PLAN."""
    return f"""Answer in this format:
Errors found:
1. <what is wrong, naming {error_detail}>
2. ...
Corrections:
- <the change that fixes each error>
{CORRECTED_PLAN}
```json
[ ...the whole corrected {plan}... ]
```
If you find no error, write "{REFLECTOR_OK}" and repeat the plan after "{CORRECTED_PLAN}"."""

ERRORS, NO_ERRORS, UNPARSEABLE = "errors", "no_errors", "unparseable"

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_NEGATIVE = re.compile(r"\b(no|zero|without|free of)\s+(\w+\s+)?errors?\b|\berror[- ]free\b|\bno\s+errors?\s+(exist|exists|found)\b"
                       r"|\bthere\s+are\s+no\s+errors?\b|\bcorrect\b\s*$")
_POSITIVE = re.compile(r"(?<!no )\berrors?\s+(exist|exists|found|present|detected)\b|\bthere\s+(are|is)\s+(an?\s+|some\s+)?errors?\b"
                       r"|\b(has|have|contains?)\s+(an?\s+|some\s+)?errors?\b|\bincorrect\b")
_MARKER = re.compile(r"corrected\s+plan\s*:?", re.IGNORECASE)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def parse_verdict(text: str | None) -> str:
    if not isinstance(text, str):
        return UNPARSEABLE
    stripped = text.strip()
    if stripped == JUDGE_ERRORS:
        return ERRORS
    if stripped == JUDGE_OK:
        return NO_ERRORS
    body = _THINK.sub(" ", stripped)
    if "</think>" in body:
        body = body.rsplit("</think>", 1)[1]
    plain = re.sub(r"[^a-z0-9\s'-]", " ", body.lower())
    plain = " ".join(plain.split())
    if not plain:
        return UNPARSEABLE
    negative, positive = bool(_NEGATIVE.search(plain)), bool(_POSITIVE.search(plain))
    if positive and not negative:
        return ERRORS
    if negative and not positive:
        return NO_ERRORS
    return UNPARSEABLE


@dataclass
class Reflection:
    analysis: str | None
    plan: list | None
    error: str | None = None


def _json_list(text: str) -> tuple[list | None, str | None]:
    candidates = [m.group(1) for m in _FENCE.finditer(text)] or [text]
    last_error = "no JSON plan"
    for candidate in candidates:
        candidate = candidate.strip()
        start, end = candidate.find("["), candidate.rfind("]")
        if start == -1 or end <= start:
            last_error = "no JSON list after the corrected-plan marker"
            continue
        try:
            value = json.loads(candidate[start:end + 1])
        except json.JSONDecodeError as exc:
            last_error = f"corrected plan is not JSON ({exc.msg})"
            continue
        if isinstance(value, dict) and isinstance(value.get("plan"), list):
            value = value["plan"]
        if isinstance(value, list) and value:
            return value, None
        last_error = "corrected plan is not a non-empty JSON list"
    return None, last_error


def parse_reflection(text: str | None) -> Reflection:
    if not isinstance(text, str) or not text.strip():
        return Reflection(None, None, "empty reflector output")
    body = _THINK.sub(" ", text).strip() if "</think>" in text else text.strip()
    markers = list(_MARKER.finditer(body))
    if markers:
        marker = markers[-1]
        analysis = body[:marker.start()].strip()
        plan, error = _json_list(body[marker.end():])
    else:
        fenced = list(_FENCE.finditer(body))
        start = fenced[-1].start() if fenced else body.find("[{")
        if start == -1:
            return Reflection(body, None, f"no '{CORRECTED_PLAN}' block and no JSON plan")
        analysis = body[:start].strip()
        plan, error = _json_list(body[start:])
    return Reflection(analysis or None, plan, error)
