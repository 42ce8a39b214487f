"""Evaluation of every model on query splits, with the one shared scorer, in both modes.

The students (checkpoint folders: base, SFT at `sft.rl_init_step`, GRPO final, any other) get the
Reasoner's prompt for each query (the domain's prompts, built as for the traces) and generate through
the `generate()` interface and the call cache; the MAS teacher's answers are read back from its
traces. Every answer is parsed (`imagine.answer.parse_output`), scored by the domain's checker in each
of its modes, and given the GRPO reward (strict), so the numbers here mean exactly what they mean in
the filter and the reward.

Per (model, query set): the benchmark metrics per mode (`imagine.metrics.summarize`: delivery rate,
micro/macro per check group, final pass rate, per level; per-check pass rates), plus
- format_failure_rate: answers without `<think>...</think>` + a JSON plan (generation errors included);
- reflection_rate: answers whose think block holds a non-empty reflection (teacher: the Reflector ran);
- lazy_reflection_rate: the reflection says "No errors." (or "Errors found: none.") yet the plan fails strict
  (teacher: both judges said "No errors." yet the plan fails);
- mean_reward: the GRPO reward (strict scorer, params weights), with `reward_ci95`, and per mode
  `final_pass_ci95`: 95% bootstrap intervals over queries (`imagine.stats`);
- diversity: distinct word 4-grams over all answers (falls as a model collapses onto one answer),
  and with `samples` > 1 the mean pairwise 4-gram distance between a query's sampled answers.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from imagine.answer import format_answer, parse_output
from imagine.mas.parsing import REFLECTOR_OK
from imagine.metrics import per_check, summarize
from imagine.stats import mean_ci, paired_difference
from imagine.train.rewards import Reward

TEACHER = "teacher"
# A reflection that found nothing: "No errors." or the Reflector's "Errors found: none. ..."
# (any whitespace between the phrase's words, as before the phrase had one definition)
_NO_ERRORS = re.compile(r"^\W*(no\s+errors?|" + r"\s+".join(map(re.escape, REFLECTOR_OK.rstrip(".").split())) + r")\b",
                        re.IGNORECASE)



def evals_schema(domain) -> dict[str, pl.DataType]:
    """The evals columns, in order: one row per (model, mode, split, query, sample)."""
    return {
        "model": pl.String, "mode": pl.String, "split": pl.String, "query_id": pl.String, "idx": pl.Int64,
        "level": pl.String, **domain.query_columns.get("evals", {}), "sample": pl.Int64, "output": pl.String,
        "parse_error": pl.String, "generation_error": pl.String, "plan": pl.String, "delivered": pl.Boolean,
        "reflected": pl.Boolean, "lazy_reflection": pl.Boolean, "reward": pl.Float64,
        **{column: pl.Boolean for column in (*domain.check_columns, *domain.compat_columns)},
        "final_pass": pl.Boolean, "tokens_out": pl.Int64,
    }


@dataclass
class QuerySet:
    """The queries one model is evaluated on, with the checkers (one per mode) of their world."""

    name: str
    rows: list[dict]  # queries-table rows (flat columns), in idx order
    domain: object  # imagine.domain.Domain
    checkers: dict[str, object]  # mode -> the domain's checker
    reward: Reward
    world: object  # the domain's world, for the prompts


@dataclass
class Answer:
    """One answer to one query: the text and what the generator said of it."""

    text: str | None
    sample: int = 0
    tokens_out: int = 0
    error: str | None = None  # the generation failed
    cached: bool = False  # served from the call cache
    reflected: bool | None = None  # teacher: set from its trace
    judged_ok: bool | None = None  # teacher: both judges said "No errors."


def score_answers(model: str, qset: QuerySet, answers: list[list[Answer]]) -> tuple[list[dict], dict]:
    """answers[i] are the answers to qset.rows[i]; returns the evals rows and the metrics."""
    domain = qset.domain
    columns = {**domain.check_columns, **domain.compat_columns}
    rows: list[dict] = []
    items: dict[str, list] = {mode: [] for mode in qset.checkers}
    texts: list[str] = []
    by_query: list[list[str]] = []
    counts = {"answers": 0, "format_failures": 0, "reflected": 0, "lazy": 0, "generation_errors": 0,
              "tokens_out": 0, "cache_hits": 0}
    rewards: list[float] = []
    for row, row_answers in zip(qset.rows, answers):
        record = domain.record(row)
        query_json = json.dumps(record, ensure_ascii=False, sort_keys=True)
        applicable = {mode: checker.applicable(record) for mode, checker in qset.checkers.items()}
        by_query.append([a.text or "" for a in row_answers])
        for answer in row_answers:
            parsed = parse_output(answer.text if answer.text is not None else "")
            reward = qset.reward.parts(query_json, answer.text or "").total
            reflection = (parsed.reflection or "").strip()
            reflected = answer.reflected if answer.reflected is not None else bool(reflection)
            says_ok = answer.judged_ok if answer.judged_ok is not None else \
                bool(reflection and _NO_ERRORS.match(reflection))
            counts["answers"] += 1
            counts["format_failures"] += not parsed.ok
            counts["reflected"] += reflected
            counts["generation_errors"] += answer.error is not None
            counts["tokens_out"] += answer.tokens_out
            counts["cache_hits"] += answer.cached
            rewards.append(reward)
            texts.append(answer.text or "")
            for mode, checker in qset.checkers.items():
                verdict = checker.score(record, parsed.plan)
                lazy = bool(parsed.ok and says_ok and not verdict.final_pass)
                if mode == "strict":
                    counts["lazy"] += lazy
                items[mode].append((row["level"], applicable[mode], verdict))
                rows.append({
                    "model": model, "mode": mode, "split": qset.name, "query_id": row["query_id"],
                    "idx": row["idx"], "level": row["level"], **domain.columns(row, "evals"), "sample": answer.sample,
                    "output": answer.text, "parse_error": parsed.error, "generation_error": answer.error,
                    "plan": json.dumps(parsed.plan, ensure_ascii=False) if parsed.ok else None,
                    "delivered": verdict.delivered, "reflected": reflected, "lazy_reflection": lazy,
                    "reward": reward,
                    **{col: verdict.groups.get(group, {}).get(check) for col, (group, check) in columns.items()},
                    "final_pass": verdict.final_pass, "tokens_out": answer.tokens_out,
                })
    n = max(counts["answers"], 1)
    metrics = {
        "queries": len(qset.rows), "answers": counts["answers"],
        **{mode: {**summarize(items[mode], domain.levels, tuple(checker.groups)),
                  "per_check": per_check(items[mode], checker.groups),
                  "final_pass_ci95": mean_ci(list(per_query(rows, "final_pass", mode).values()))["ci95"]}
           for mode, checker in qset.checkers.items()},
        "format_failure_rate": counts["format_failures"] / n,
        "reflection_rate": counts["reflected"] / n,
        "lazy_reflection_rate": counts["lazy"] / n,
        "mean_reward": sum(rewards) / n,
        "reward_ci95": mean_ci(list(per_query(rows, "reward").values()))["ci95"],
        "generation_errors": counts["generation_errors"],
        "cache_hits": counts["cache_hits"],
        "tokens_out_mean": counts["tokens_out"] / n,
        "diversity": diversity(texts, by_query),
    }
    return rows, metrics


def per_query(rows: list[dict], column: str, mode: str = "strict") -> dict[str, float]:
    """query_id -> the mean of `column` (reward, final_pass) over that query's samples, in one mode."""
    sums: dict[str, list[float]] = {}
    for row in rows:
        if row["mode"] == mode:
            sums.setdefault(row["query_id"], []).append(float(row[column] or 0))
    return {q: sum(v) / len(v) for q, v in sums.items()}


def compare(rows: list[dict], pairs: list[list[str]], set_name: str) -> dict:
    """Paired bootstrap of each [a, b] in `pairs` over the queries of `set_name` both answered:
    reward and final pass (strict), a - b, e.g. {"grpo-sft": {"reward": {...}, "final_pass": {...}}}."""
    out = {}
    for a, b in pairs:
        of = {m: [r for r in rows if r["model"] == m and r["split"] == set_name] for m in (a, b)}
        if not of[a] or not of[b]:
            continue
        out[f"{a}-{b}"] = {column: paired_difference(per_query(of[a], column), per_query(of[b], column))
                           for column in ("reward", "final_pass")}
    return out


def _ngrams(text: str, n: int = 4) -> list[tuple[str, ...]]:
    words = text.split()
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def diversity(texts: list[str], by_query: list[list[str]]) -> dict:
    """distinct_4gram: unique / total word 4-grams over all answers; within_query: mean pairwise
    Jaccard distance of 4-gram sets between the sampled answers of one query (None with one sample)."""
    grams = [g for text in texts for g in _ngrams(text)]
    distances = []
    for answers in by_query:
        sets = [set(_ngrams(a)) for a in answers]
        for a, b in itertools.combinations(sets, 2):
            union = a | b
            distances.append(1 - len(a & b) / len(union) if union else 0.0)
    return {"distinct_4gram": len(set(grams)) / len(grams) if grams else None,
            "within_query": sum(distances) / len(distances) if distances else None}


def generate_answers(backend, qset: QuerySet, build_prompt, sampling, samples: int, cache=None,
                     progress: bool = True) -> list[list[Answer]]:
    """`samples` answers per query from a student behind `generate()`; answer k uses seed + k, so
    every sample is its own cached call. A failed call is an answer with `error` (scored as a format
    failure), never an exception."""
    from dataclasses import replace

    from tqdm import tqdm

    from imagine.llm.base import Request
    from imagine.llm.cache import cached_generate

    requests = [Request(tuple(build_prompt(row))) for row in qset.rows]
    answers: list[list[Answer]] = [[] for _ in qset.rows]
    bar = tqdm(total=len(requests) * samples, desc=f"{backend.model.split('@')[0]} on {qset.name}", unit="answer",
               disable=not progress)
    tokens = {"hits": 0, "out": 0}

    def done(i, output):
        tokens["hits"] += output.cached
        tokens["out"] += output.tokens_out
        bar.set_postfix(cached=tokens["hits"], tokens_out=tokens["out"])
        bar.update(1)

    for k in range(samples):
        outputs = cached_generate(backend, requests, replace(sampling, seed=sampling.seed + k), cache, on_output=done)
        for i, output in enumerate(outputs):
            answers[i].append(Answer(output.text, sample=k, tokens_out=output.tokens_out, error=output.error,
                                     cached=output.cached))
    bar.close()
    return answers


def teacher_answers(traces: pl.DataFrame, qset: QuerySet) -> tuple[list[list[Answer]], int]:
    """The MAS teacher's answer per query, as the distilled assistant turn (think block, REFLECTION,
    final plan); a query without a trace is an empty answer. Returns the answers and that count."""
    by_id = {(r["split"], r["query_id"]): r for r in traces.iter_rows(named=True)}
    answers, missing = [], 0
    for row in qset.rows:
        trace = by_id.get((row["split"], row["query_id"]))
        if trace is None:
            missing += 1
            answers.append([Answer(None, error="no teacher trace for this query")])
            continue
        if trace["final_plan"] is not None:
            text = format_answer(trace["reasoning"] or "", trace["reflection"] if trace["reflected"] else None,
                                 json.loads(trace["final_plan"]))
        else:
            text = trace["reasoner_output"]
        judged_ok = trace["judge_1_verdict"] == "no_errors" and trace["judge_2_verdict"] == "no_errors"
        answers.append([Answer(text, tokens_out=trace["tokens_out"] or 0, reflected=bool(trace["reflected"]),
                               judged_ok=judged_ok)])
    return answers, missing


def plot_rows(metrics: dict[str, dict], set_name: str, levels: tuple[str, ...]) -> tuple[list[dict], list[dict]]:
    """Rows of the comparison plots (strict mode): final pass rate per model and level, and the
    pass rate of every check per model. `metrics` maps model -> its report."""
    by_level, by_check = [], []
    for model, report in metrics.items():
        if set_name not in report["sets"]:
            continue
        strict = report["sets"][set_name]["strict"]
        for level in ("all", *levels):
            rates = strict if level == "all" else strict["per_level"][level]
            if rates.get("count"):
                by_level.append({"model_level": f"{model} / {level}", "model": model, "level": level,
                                 "final_pass_rate": rates["final_pass_rate"],
                                 "delivery_rate": rates["delivery_rate"]})
        for check, rate in strict["per_check"].items():
            if rate is not None:
                by_check.append({"model_check": f"{model} / {check}", "model": model, "check": check,
                                 "pass_rate": rate})
    return by_level, by_check


def write_text_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
