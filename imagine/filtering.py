"""The `filter` stage's logic: MAS traces -> TRL-ready SFT samples and GRPO prompts.

Pure functions over polars frames. `filter_traces(traces, turns, queries, config, tokenizer)` keeps
the traces whose final plan passes every strict check (plus the optional conditions of
`FilterConfig`) and lays each kept trace out as one conversational prompt-completion sample:

- prompt: the system + user messages the Reasoner got (taken verbatim from the reasoner turn's
  `prompt` column in turns.parquet, so the student sees exactly the teacher's input);
- completion: one assistant message, `imagine.answer.format_answer(reasoning, reflection, plan)`
  (DESIGN section 1): the reasoner's reasoning, the REFLECTION header line, the reflector's analysis
  (or "No errors." when the judges did not flag the trace), the closing line, then the final plan.

Every trace is either kept or counted under exactly one drop reason (`DROP_REASONS`, checked in
that order), so `kept + sum(dropped) == len(traces)`. GRPO prompts come from the queries table
(`grpo_source: train_queries`) or from the kept traces (`kept_traces`), with the same student prompt
and the query the reward's checker reads (`query_json`, the domain's record).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import polars as pl

from imagine.answer import CLOSING_LINE, REFLECTION_HEADER, format_answer, parse_output

NO_ERRORS = "No errors."

# Drop reasons, in the order they are tested: a trace is counted under the first that applies.
DROP_REASONS = (
    "no_prompt",              # no reasoner turn with a system+user prompt for this query
    "parse_error",            # no reasoning text, or no final answer that parses as a JSON list
    "reflector_parse_error",  # reflected, but the reflection is empty or the reflector's output did not parse
    "lazy_reflection",        # drop_lazy and lazy_reflection: both judges said "No errors." yet the plan fails
    "not_final_pass",         # the final plan fails some strict check
    "no_reflection",          # require_reflection and the trace was not reflected
    "format_error",           # the laid-out completion does not read back to the same reasoning and plan
    "too_long",               # prompt + completion under the student's chat template > max_tokens
    "duplicate",              # dedupe: same (split, query_id) or same prompt + completion as a kept sample
)
GRPO_DROP_REASONS = ("no_prompt", "bad_query", "too_long", "duplicate")
GRPO_SOURCES = ("train_queries", "kept_traces")

MESSAGE = pl.Struct({"role": pl.String, "content": pl.String})
SFT_COLUMNS: dict[str, pl.DataType] = {
    "query_id": pl.String, "split": pl.String, "level": pl.String, "prompt": pl.List(MESSAGE),
    "completion": pl.List(MESSAGE), "tokens": pl.Int64, "reflected": pl.Boolean,
}


def grpo_schema(domain) -> dict[str, pl.DataType]:
    """grpo_prompts columns: ids, the student's prompt, the query as JSON for the reward's checker, the
    domain's flat query columns, the prompt's token count."""
    return {
        "query_id": pl.String, "split": pl.String, "level": pl.String, "prompt": pl.List(MESSAGE),
        "query_json": pl.String, **domain.query_columns.get("grpo_prompts", {}), "prompt_tokens": pl.Int64,
    }


Tokenizer = object  # a transformers tokenizer with a chat template, or None (approximate count)
PromptBuilder = Callable[[dict], list]  # a queries row -> the Reasoner's system + user messages


class FilterError(ValueError):
    """Input frames or params the filter cannot work with (a missing column, a bad param)."""


@dataclass(frozen=True)
class FilterConfig:
    require_reflection: bool = False
    drop_lazy: bool = True
    max_tokens: int | None = 2048
    dedupe: bool = True
    splits: tuple[str, ...] | None = None          # trace splits turned into SFT rows (None: all)
    grpo_source: str = "train_queries"
    grpo_splits: tuple[str, ...] = ("train",)      # query splits GRPO prompts are drawn from
    grpo_max_prompt_tokens: int | None = None      # drop longer GRPO prompts (None: no limit)

    def __post_init__(self):
        if self.grpo_source not in GRPO_SOURCES:
            raise FilterError(f"filter.grpo.source must be one of {GRPO_SOURCES}, got {self.grpo_source!r}")
        for name in ("max_tokens", "grpo_max_prompt_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise FilterError(f"filter {name} must be a positive integer or null, got {value!r}")

    @classmethod
    def from_params(cls, params: dict) -> FilterConfig:
        params = dict(params or {})
        grpo = dict(params.pop("grpo", None) or {})
        known = {"require_reflection", "drop_lazy", "max_tokens", "dedupe", "splits", "tokenizer", "sandbox"}
        unknown = set(params) - known
        if unknown:
            raise FilterError(f"unknown filter params: {sorted(unknown)} (known: {sorted(known | {'grpo'})})")
        unknown = set(grpo) - {"source", "splits", "max_prompt_tokens"}
        if unknown:
            raise FilterError(f"unknown filter.grpo params: {sorted(unknown)}")
        splits = params.get("splits")
        return cls(
            require_reflection=bool(params.get("require_reflection", False)),
            drop_lazy=bool(params.get("drop_lazy", True)),
            max_tokens=params.get("max_tokens", 2048),
            dedupe=bool(params.get("dedupe", True)),
            splits=tuple(splits) if splits is not None else None,
            grpo_source=grpo.get("source", "train_queries"),
            grpo_splits=tuple(grpo.get("splits", ("train",))),
            grpo_max_prompt_tokens=grpo.get("max_prompt_tokens"),
        )


@dataclass
class FilterResult:
    sft: pl.DataFrame
    grpo: pl.DataFrame
    dropped: dict[str, int]                 # every DROP_REASONS key, 0 included
    grpo_dropped: dict[str, int]            # every GRPO_DROP_REASONS key
    grpo_built: int = 0                     # GRPO prompts made by the prompt builder (query without a reasoner turn)
    examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> a few dropped query_ids
    levels: tuple[str, ...] = ("easy", "medium", "hard")  # the domain's

    def metrics(self) -> dict:
        """The JSON the stage writes to reports/filter.json."""
        total = self.sft.height + sum(self.dropped.values())
        tokens = self.sft["tokens"]
        by_level = {}
        for level in self.levels:
            rows = self.sft.filter(pl.col("level") == level)
            by_level[level] = {"kept": rows.height, "reflected": int(rows["reflected"].sum())}
        return {
            "traces": total,
            "kept": self.sft.height,
            "kept_rate": round(self.sft.height / total, 4) if total else 0.0,
            "dropped": dict(self.dropped),
            "dropped_total": sum(self.dropped.values()),
            "sft": {
                "rows": self.sft.height,
                "reflected": int(self.sft["reflected"].sum()),
                "per_split": {s: int(n) for s, n in self.sft["split"].value_counts().iter_rows()},
                "per_level": by_level,
                "tokens": _stats(tokens),
            },
            "grpo": {
                "rows": self.grpo.height,
                "dropped": dict(self.grpo_dropped),
                "per_split": {s: int(n) for s, n in self.grpo["split"].value_counts().iter_rows()},
                "per_level": {lv: int(self.grpo.filter(pl.col("level") == lv).height)
                              for lv in self.levels},
                "built_prompts": self.grpo_built,
                "prompt_tokens": _stats(self.grpo["prompt_tokens"]),
            },
            "examples": {k: v for k, v in self.examples.items() if v},
        }


def _stats(values: pl.Series) -> dict:
    if values.len() == 0:
        return {"min": 0, "mean": 0.0, "p50": 0, "p90": 0, "max": 0}
    return {"min": int(values.min()), "mean": round(float(values.mean()), 1),
            "p50": int(values.quantile(0.5, "nearest")), "p90": int(values.quantile(0.9, "nearest")),
            "max": int(values.max())}


# ----------------------------------------------------------------------------------- prompts


def parse_messages(value) -> list[dict] | None:
    """A prompt as stored in turns.parquet (messages JSON, or a list) -> [{role, content}, ...];
    None unless it is exactly one system message followed by one user message."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        value = value["messages"]
    if not isinstance(value, list):
        return None
    try:
        messages = [{"role": m["role"], "content": m["content"]} for m in value]
    except (TypeError, KeyError):
        return None
    if [m["role"] for m in messages] != ["system", "user"]:
        return None
    if not all(isinstance(m["content"], str) and m["content"].strip() for m in messages):
        return None
    return messages


def reasoner_prompts(turns: pl.DataFrame | None, traces: pl.DataFrame | None = None) -> dict[tuple, list]:
    """(split, query_id) -> the student prompt: the messages of that query's reasoner turn.

    When a query has several reasoner turns, the one whose output is the trace's `reasoner_output`
    wins, else the one of the latest round."""
    if turns is None or turns.height == 0:
        return {}
    _require(turns, ("query_id", "role", "prompt"), "turns")
    rows = turns.filter(pl.col("role") == "reasoner")
    if "round" in rows.columns:
        rows = rows.sort("round", nulls_last=False)
    outputs = {}
    if traces is not None and "reasoner_output" in traces.columns:
        for row in traces.select(_key_cols(traces) + ["reasoner_output"]).iter_rows(named=True):
            outputs[_key(row)] = row["reasoner_output"]
    found: dict[tuple, list] = {}
    matched: set[tuple] = set()
    for row in rows.iter_rows(named=True):
        key = _key(row)
        messages = parse_messages(row["prompt"])
        if messages is None or key in matched:
            continue
        found[key] = messages
        if key in outputs and row.get("output") is not None and row.get("output") == outputs[key]:
            matched.add(key)
    return found


def _key_cols(frame: pl.DataFrame) -> list[str]:
    return ["split", "query_id"] if "split" in frame.columns else ["query_id"]


def _key(row: dict) -> tuple:
    return (row.get("split"), row["query_id"])


def _lookup(prompts: dict[tuple, list], row: dict) -> list | None:
    """A prompt by (split, query_id), else by query_id alone (turns without a split column)."""
    found = prompts.get(_key(row))
    if found is None:
        found = prompts.get((None, row["query_id"]))
    return found


# ------------------------------------------------------------------------------------ tokens


_APPROX = re.compile(r"\w+|[^\w\s]")


def count_tokens(tokenizer, conversations: Sequence[list[dict]], *, add_generation_prompt: bool = False) -> list[int]:
    """Token count of each conversation rendered with the tokenizer's chat template (what TRL trains
    on). Without a tokenizer, an approximation: words and punctuation marks of the rendered text."""
    if tokenizer is None:
        return [sum(len(_APPROX.findall(m["content"])) + 4 for m in conv) for conv in conversations]
    if not conversations:
        return []
    texts = [tokenizer.apply_chat_template(list(conv), tokenize=False, add_generation_prompt=add_generation_prompt)
             for conv in conversations]
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [len(ids) for ids in encoded]


# --------------------------------------------------------------------------------------- SFT


def _plan(value) -> list | None:
    if isinstance(value, list):
        return value or None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        plan = json.loads(value)
    except json.JSONDecodeError:
        return None
    if isinstance(plan, dict) and isinstance(plan.get("plan"), list):
        plan = plan["plan"]
    return plan if isinstance(plan, list) and plan and all(isinstance(d, dict) for d in plan) else None


def _blank(value) -> bool:
    return not isinstance(value, str) or not value.strip()


def completion_text(row: dict) -> tuple[str | None, str | None]:
    """(assistant turn, None) for a trace row, or (None, drop reason) when it cannot be laid out."""
    plan = _plan(row.get("final_plan"))
    if _blank(row.get("reasoning")) or plan is None:
        return None, "parse_error"
    reflection = None
    if row.get("reflected"):
        if _blank(row.get("reflection")) or row.get("reflector_parse_error"):
            return None, "reflector_parse_error"
        reflection = row["reflection"]
    return format_answer(row["reasoning"], reflection, plan), None


def _reads_back(text: str, row: dict) -> bool:
    """The completion parses back (imagine.answer.parse_output) to the trace's reasoning, reflection
    and plan: no stray <think>/REFLECTION marker inside the reasoning broke the layout."""
    parsed = parse_output(text)
    if not parsed.ok or parsed.plan != _plan(row.get("final_plan")):
        return False
    if parsed.reasoning != row["reasoning"].strip():
        return False
    expected = row["reflection"].strip() if row.get("reflected") else NO_ERRORS
    if parsed.reflection != expected:
        return False
    return text.count(REFLECTION_HEADER) == 1 and text.count(CLOSING_LINE) == 1 and text.count("</think>") == 1


def build_sft(traces: pl.DataFrame, turns: pl.DataFrame | None, config: FilterConfig,
              tokenizer=None) -> tuple[pl.DataFrame, dict[str, int], dict[str, list[str]]]:
    """(sft frame, dropped counts by reason, a few dropped query_ids per reason)."""
    _require(traces, ("query_id", "level", "reasoning", "final_plan", "final_pass", "reflected"), "traces")
    if config.drop_lazy:
        _require(traces, ("lazy_reflection",), "traces")
    if config.splits is not None and "split" in traces.columns:
        traces = traces.filter(pl.col("split").is_in(list(config.splits)))
    prompts = reasoner_prompts(turns, traces)
    dropped: Counter = Counter({reason: 0 for reason in DROP_REASONS})
    examples: dict[str, list[str]] = {reason: [] for reason in DROP_REASONS}

    def drop(row, reason):
        dropped[reason] += 1
        if len(examples[reason]) < 5:
            examples[reason].append(row["query_id"])

    candidates = []
    for row in traces.iter_rows(named=True):
        prompt = _lookup(prompts, row)
        if prompt is None:
            drop(row, "no_prompt")
            continue
        text, reason = completion_text(row)
        if reason:
            drop(row, reason)
        elif config.drop_lazy and row.get("lazy_reflection"):
            drop(row, "lazy_reflection")
        elif not row.get("final_pass"):
            drop(row, "not_final_pass")
        elif config.require_reflection and not row.get("reflected"):
            drop(row, "no_reflection")
        elif not _reads_back(text, row):
            drop(row, "format_error")
        else:
            candidates.append((row, prompt, [{"role": "assistant", "content": text}]))

    tokens = count_tokens(tokenizer, [prompt + completion for _, prompt, completion in candidates])
    kept_rows = []
    seen_ids: set[tuple] = set()
    seen_content: set[str] = set()
    for (row, prompt, completion), n in zip(candidates, tokens):
        if config.max_tokens is not None and n > config.max_tokens:
            drop(row, "too_long")
            continue
        if config.dedupe:
            digest = hashlib.sha256(json.dumps([prompt, completion], sort_keys=True).encode()).hexdigest()
            if _key(row) in seen_ids or digest in seen_content:
                drop(row, "duplicate")
                continue
            seen_ids.add(_key(row))
            seen_content.add(digest)
        kept_rows.append({"query_id": row["query_id"], "split": row.get("split") or "train",
                          "level": row["level"], "prompt": prompt, "completion": completion,
                          "tokens": n, "reflected": bool(row["reflected"])})
    sft = pl.DataFrame(kept_rows, schema=SFT_COLUMNS)
    return sft, dict(dropped), examples


# -------------------------------------------------------------------------------------- GRPO


def build_grpo(queries: pl.DataFrame, prompts: dict[tuple, list], config: FilterConfig, domain, tokenizer=None, *,
               kept: pl.DataFrame | None = None,
               prompt_builder: PromptBuilder | None = None) -> tuple[pl.DataFrame, dict[str, int], int]:
    """GRPO prompts: one row per query of `config.grpo_splits` (train_queries) or per kept SFT sample
    (kept_traces). The prompt is the reasoner turn's prompt when the query has one, else
    `prompt_builder(query row)` (the domain's Reasoner prompt, the one the teacher's prompt came from).
    The reward's checker reads `query_json`, the domain's record of the query."""
    _require(queries, ("query_id", "split", "level", *domain.query_columns.get("grpo_prompts", {})), "queries")
    if config.grpo_source == "kept_traces":
        wanted = kept.select("split", "query_id") if kept is not None else pl.DataFrame(
            schema={"split": pl.String, "query_id": pl.String})
        rows = queries.join(wanted, on=["split", "query_id"], how="semi")
    else:
        rows = queries.filter(pl.col("split").is_in(list(config.grpo_splits)))
    dropped: Counter = Counter({reason: 0 for reason in GRPO_DROP_REASONS})
    candidates = []
    built = 0
    seen: set[tuple] = set()
    for row in rows.iter_rows(named=True):
        if _key(row) in seen:
            dropped["duplicate"] += 1
            continue
        seen.add(_key(row))
        prompt = _lookup(prompts, row)
        if prompt is None and prompt_builder is not None:
            prompt = parse_messages(prompt_builder(row))
            built += prompt is not None
        if prompt is None:
            dropped["no_prompt"] += 1
            continue
        try:
            record = domain.record(row)
            bad = domain.record_problem(record, row)
        except (ValueError, TypeError, KeyError):
            bad = True
        if bad:
            dropped["bad_query"] += 1
            continue
        candidates.append((row, prompt, record))
    tokens = count_tokens(tokenizer, [prompt for _, prompt, _ in candidates], add_generation_prompt=True)
    out = []
    for (row, prompt, record), n in zip(candidates, tokens):
        if config.grpo_max_prompt_tokens is not None and n > config.grpo_max_prompt_tokens:
            dropped["too_long"] += 1
            continue
        out.append({"query_id": row["query_id"], "split": row["split"], "level": row["level"], "prompt": prompt,
                    "query_json": json.dumps(record, ensure_ascii=False, sort_keys=True),
                    **domain.columns(row, "grpo_prompts"), "prompt_tokens": n})
    return pl.DataFrame(out, schema=grpo_schema(domain)), dict(dropped), built


# ------------------------------------------------------------------------------------- whole


def filter_traces(traces: pl.DataFrame, turns: pl.DataFrame | None, queries: pl.DataFrame,
                  config: FilterConfig, domain, tokenizer=None, *,
                  prompt_builder: PromptBuilder | None = None) -> FilterResult:
    """Traces (+ turns for the prompts, + queries for GRPO) -> the SFT and GRPO frames and the counts."""
    sft, dropped, examples = build_sft(traces, turns, config, tokenizer)
    prompts = reasoner_prompts(turns, traces)
    grpo, grpo_dropped, built = build_grpo(queries, prompts, config, domain, tokenizer, kept=sft,
                                           prompt_builder=prompt_builder)
    return FilterResult(sft, grpo, dropped, grpo_dropped, built, examples, tuple(domain.levels))


def prompt_drift(prompts: dict[tuple, list], queries: pl.DataFrame, prompt_builder: PromptBuilder,
                 limit: int = 20) -> dict:
    """Rebuild the prompts of up to `limit` queries that have a reasoner turn and compare: a GRPO prompt
    made by the builder must be the very prompt the Reasoner (and so the SFT data) got."""
    checked, mismatched, examples = 0, 0, []
    for row in queries.iter_rows(named=True):
        if checked >= limit:
            break
        stored = _lookup(prompts, row)
        if stored is None:
            continue
        checked += 1
        if parse_messages(prompt_builder(row)) != stored:
            mismatched += 1
            examples.append(row["query_id"])
    return {"checked": checked, "mismatched": mismatched, "examples": examples[:5]}


def _require(frame: pl.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise FilterError(f"{name} frame lacks column(s) {missing} (has {frame.columns})")


__all__ = ["DROP_REASONS", "FilterConfig", "FilterError", "FilterResult", "GRPO_DROP_REASONS", "GRPO_SOURCES",
           "NO_ERRORS", "build_grpo", "build_sft", "completion_text", "count_tokens", "filter_traces",
           "grpo_schema", "parse_messages", "prompt_drift", "reasoner_prompts"]
